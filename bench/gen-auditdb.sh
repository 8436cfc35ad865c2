#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Make a synthetic audit database of N verdict rows (default 10 million),
# N/10 connections and a few hundred events over one week, with the
# schema and indexes of daemon/schema.sql, for timing `ctguard report`
# (bench/run-bench.sh, the "report" micro-benchmark).
#
# usage: gen-auditdb.sh DB [ROWS]
# environment: srcdir (default this script's ..)
#
# The rows are shaped like a gateway's log: mostly accepted packets of
# established connections, drops for a handful of reasons from a few
# hundred hosts, the TCP state changes of opens and closes. Everything is
# generated inside sqlite3 (one INSERT ... SELECT over a recursive CTE);
# the indexes are built after the rows, as a bulk load would. Pages of
# 16 KiB, as the daemon makes new databases.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
srcdir=${srcdir:-$(cd "$here/.." && pwd)}
db=${1:?usage: gen-auditdb.sh DB [ROWS]}
rows=${2:-10000000}
case $rows in ''|*[!0-9]*) echo "gen-auditdb.sh: ROWS must be a number" >&2; exit 2 ;; esac
command -v sqlite3 >/dev/null || { echo "gen-auditdb.sh: sqlite3 not installed" >&2; exit 1; }

rm -f "$db" "$db-wal" "$db-shm"
tmp=$(mktemp -d /tmp/ctg-gendb.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# 512 hosts: text and 16-byte forms (IPv4 as ::ffff:a.b.c.d), the way
# the daemon writes them; sqlite3 3.40 has no unhex(), so as literals.
{
	echo "CREATE TEMP TABLE hosts(i INTEGER PRIMARY KEY, txt TEXT, bin BLOB);"
	echo "BEGIN;"
	for i in $(seq 0 511); do
		a=$((i < 256 ? 198 : 203)); b=$((i < 256 ? 51 : 0)); c=$((i < 256 ? 100 : 113)); d=$((i % 256))
		printf "INSERT INTO hosts VALUES(%d,'%d.%d.%d.%d',X'00000000000000000000ffff%02x%02x%02x%02x');\n" \
		    "$i" "$a" "$b" "$c" "$d" "$a" "$b" "$c" "$d"
	done
	echo "COMMIT;"
} >"$tmp/hosts.sql"

t0=$(( ($(date -u +%s) - 7 * 86400) * 1000000 ))
span=$((7 * 86400 * 1000000))

sqlite3 "$db" >/dev/null <<EOF
PRAGMA page_size = 16384;
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -262144;
.read $srcdir/daemon/schema.sql
PRAGMA user_version = 1;
DROP INDEX verdicts_time; DROP INDEX verdicts_src; DROP INDEX verdicts_dst;
DROP INDEX verdicts_verdict_reason; DROP INDEX verdicts_conn;
DROP INDEX connections_first; DROP INDEX connections_src; DROP INDEX events_time;
.read $tmp/hosts.sql
-- (orig_before, resp_before, orig_after, resp_after, ctstate, weight):
-- what a packet of each step of a connection's life logs.
CREATE TEMP TABLE steps(k INTEGER PRIMARY KEY, ob, rb, oa, ra, cs);
INSERT INTO steps(ob, rb, oa, ra, cs) VALUES
 ('-','-','SYN_SENT','LISTEN','new'),
 ('SYN_SENT','LISTEN','SYN_SENT','SYN_RCVD','established'),
 ('SYN_SENT','SYN_RCVD','ESTABLISHED','ESTABLISHED','established'),
 ('ESTABLISHED','ESTABLISHED','FIN_WAIT_1','ESTABLISHED','established'),
 ('FIN_WAIT_1','ESTABLISHED','FIN_WAIT_2','LAST_ACK','established'),
 ('FIN_WAIT_2','LAST_ACK','TIME_WAIT','CLOSED','established'),
 ('ESTABLISHED','ESTABLISHED','CLOSED','CLOSED','established'),
 ('SYN_SENT','LISTEN','CLOSED','CLOSED','established'),
 ('ESTABLISHED','ESTABLISHED','ESTABLISHED','CLOSE_WAIT','established'),
 ('FIN_WAIT_1','FIN_WAIT_1','CLOSING','FIN_WAIT_2','established');
CREATE TEMP TABLE reasons(k INTEGER PRIMARY KEY, r);
INSERT INTO reasons(r) VALUES ('tcp_flags_null'),('tcp_new_not_syn'),
 ('tcp_seq_above_window'),('tcp_rst_out_of_window'),('tcp_ack_before_synack'),
 ('tcp_no_connection'),('tcp_flags_xmas'),('icmp_error_no_connection'),
 ('tcp_bad_checksum'),('rate_limited'),('conn_limited'),('tcp_syn_on_established');
CREATE TEMP TABLE rules(k INTEGER PRIMARY KEY, r);
INSERT INTO rules(r) VALUES ('allow-web'),('allow-dns'),('allow-ssh-admin'),
 ('allow-out'),('drop-invalid'),('ssh-ratelimit'),('allow-icmp'),
 ('allow-ntp'),('allow-mail'),('drop-smb');

BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $rows - 1),
 r AS MATERIALIZED (SELECT i AS n_i, abs(random()) % 1000 AS v, abs(random()) AS x, abs(random()) AS y FROM n)
INSERT INTO verdicts(time_us, conn_id, packet_no, direction, proto, family,
    src, src_bin, sport, dst, dst_bin, dport, tcp_flags, ctstate,
    orig_before, resp_before, orig_after, resp_after, verdict, reason, rule,
    queue, length)
SELECT $t0 + n_i * ($span / $rows) + x % ($span / $rows),
    CASE WHEN v < 880 THEN 1 + n_i / 12 END, n_i,
    CASE WHEN x % 2 = 0 THEN 'original' ELSE 'reply' END,
    CASE WHEN v % 20 = 0 THEN 17 WHEN v % 97 = 0 THEN 1 ELSE 6 END, 4,
    s.txt, s.bin, 1024 + y % 60000, d.txt, d.bin,
    CASE y % 7 WHEN 0 THEN 22 WHEN 1 THEN 53 WHEN 2 THEN 25 ELSE 443 END,
    CASE WHEN v < 880 THEN 'A' ELSE 'S' END,
    CASE WHEN v >= 880 THEN 'invalid' WHEN st.cs IS NOT NULL THEN st.cs ELSE 'established' END,
    CASE WHEN v < 880 THEN coalesce(st.ob, 'ESTABLISHED') ELSE 'ESTABLISHED' END,
    CASE WHEN v < 880 THEN coalesce(st.rb, 'ESTABLISHED') ELSE 'ESTABLISHED' END,
    CASE WHEN v < 880 THEN coalesce(st.oa, 'ESTABLISHED') ELSE 'ESTABLISHED' END,
    CASE WHEN v < 880 THEN coalesce(st.ra, 'ESTABLISHED') ELSE 'ESTABLISHED' END,
    CASE WHEN v < 850 THEN 'accept' WHEN v < 880 THEN 'reject' ELSE 'drop' END,
    CASE WHEN v < 850 THEN CASE WHEN x % 50 = 0 THEN 'tcp_retransmit' ELSE 'none' END
         WHEN v < 880 THEN 'default_policy' ELSE re.r END,
    CASE WHEN v < 880 THEN ru.r ELSE 'drop-invalid' END,
    x % 4, 40 + y % 1460
FROM r
JOIN hosts s ON s.i = (CASE WHEN v >= 880 THEN 256 + (x / 7) % (8 + (x / 13) % 250) ELSE x % 256 END)
JOIN hosts d ON d.i = (CASE WHEN v >= 880 THEN (y / 3) % 40 ELSE 256 + (y / 3) % 256 END)
JOIN reasons re ON re.k = 1 + min((x / 11) % 12, (x / 23) % 12)
JOIN rules ru ON ru.k = 1 + (y / 5) % 10
LEFT JOIN steps st ON st.k = 1 + (y / 17) % 100;

WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $rows / 10 - 1),
 r AS MATERIALIZED (SELECT i AS n_i, abs(random()) AS x, abs(random()) AS y FROM n)
INSERT INTO connections(first_us, last_us, proto, family, src, src_bin, sport,
    dst, dst_bin, dport, conn_state, history, orig_pkts, orig_bytes,
    resp_pkts, resp_bytes, orig_state, resp_state, end_reason, rule)
SELECT $t0 + n_i * ($span * 10 / $rows), $t0 + n_i * ($span * 10 / $rows) + (x % 1000) * (x % 1000) * (x % 997),
    CASE WHEN y % 10 = 0 THEN 17 ELSE 6 END, 4, s.txt, s.bin, 1024 + y % 60000,
    d.txt, d.bin, 443,
    CASE x % 13 WHEN 0 THEN 'S0' WHEN 1 THEN 'REJ' WHEN 2 THEN 'RSTO' WHEN 3 THEN 'RSTR'
         WHEN 4 THEN 'S1' WHEN 5 THEN 'OTH' WHEN 6 THEN 'SH' ELSE 'SF' END,
    'ShADadFf', 1 + y % 400, (1 + y % 400) * (40 + x % 1400),
    y % 300, (y % 300) * (40 + y % 1400), 'TIME_WAIT', 'CLOSED',
    CASE x % 5 WHEN 0 THEN 'timeout' WHEN 1 THEN 'reset' ELSE 'closed' END, ru.r
FROM r JOIN hosts s ON s.i = x % 256 JOIN hosts d ON d.i = 256 + y % 256
JOIN rules ru ON ru.k = 1 + (y / 5) % 10;

WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 299)
INSERT INTO events(time_us, kind, count, detail)
SELECT $t0 + i * ($span / 300),
    CASE i % 10 WHEN 0 THEN 'rules_load' WHEN 5 THEN 'log_gap' ELSE 'counters' END,
    CASE i % 10 WHEN 5 THEN 1000 + i ELSE i END, 'generated'
FROM n;
COMMIT;
EOF
# the index definitions, straight from the schema
sed -n '/^CREATE INDEX/,/;$/p' "$srcdir/daemon/schema.sql" >"$tmp/idx.sql"
sqlite3 "$db" >/dev/null <<EOF
PRAGMA cache_size = -262144;
.read $tmp/idx.sql
PRAGMA wal_checkpoint(TRUNCATE);
EOF
