#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end: a shipper resumes the audit streams (verdicts, connections,
# events) by id alone across a log rotation while running and a rotation
# while the daemon is stopped. Shipper A reads every stream to its end
# and stops; the database is moved away and reopened (reopen-log), then
# moved away again while ctguardd is stopped and restarted on a fresh
# file. Followers started at A's cursors run through the first rotation;
# shipper B, started after everything, reads the three files in turn with
# A's cursors. Between them they must hold every row of the three files,
# each once, in order; and each file's ids must lie above the previous
# file's (the writer continues them; across the restart through the ids
# state file beside state_file).
#
# Environment: srcdir, builddir (where ctguardd and ctguard are).
# Exit 0 pass, 1 fail, 77 skip (not root, or a tool missing; CI=true fails).

set -u

here=$(cd "$(dirname "$0")" && pwd)
top=${srcdir:-$here/../..}
top=$(cd "$top" && pwd)
bld=${builddir:-$PWD}
bld=$(cd "$bld" && pwd)
# shellcheck source=../kit/netns.sh disable=SC1091
. "$top/tests/kit/netns.sh"

ctg_require_root
ctg_require_tools ip iptables ip6tables python3 timeout sqlite3

ctg_programs "$top" "$bld"

ctg_tmpdir
T=$CTG_TMPDIR
DB=$T/audit.db
SOCK=$T/ctl.sock
RULES=$T/stream.rules
CONF=$T/ctguard.conf
PORT=8080

ctl() { timeout 40 "$CTGUARD" -s "$SOCK" "$@"; }
queue_bound() {
	# shellcheck disable=SC2016
	ctg_in "$CTG_NS_GW" awk '$1 == 0 { f = 1 } END { exit !f }' \
	    /proc/net/netfilter/nfnetlink_queue
}
# N HTTP requests from the client, each its own connection
traffic() {
	timeout 60 ip netns exec "$CTG_NS_CLI" python3 -c "
import sys, urllib.request
for i in range(int(sys.argv[2])):
    urllib.request.urlopen(sys.argv[1], timeout=5).read()" \
	    "http://$CTG_SRV4:$PORT/" "$1" 2>/dev/null
}
# the cursor field of each JSON line: id, or seq for connections
ids() { sed -n 's/^{"id":\([0-9]*\),.*/\1/p' "$@"; }
seqs() { sed -n 's/.*,"seq":\([0-9]*\)}$/\1/p' "$@"; }
# every cursor of one stream in a file, by SQL (the reference)
col() {
	case $1 in
	log) echo "id FROM verdicts" ;;
	history) echo "seq FROM connections WHERE seq IS NOT NULL" ;;
	events) echo "id FROM events" ;;
	esac
}
file_ids() { sqlite3 -batch -noheader -cmd '.timeout 3000' "$2" "SELECT $(col "$1") ORDER BY 1"; }
after_flag() { if [ "$1" = history ]; then echo --after-seq; else echo --after-id; fi; }
cursor_of() { local s=$1; shift; if [ "$s" = history ]; then seqs "$@"; else ids "$@"; fi; }

cat >"$RULES" <<'EOF'
rules = (
	{ name = "web"; action = "accept"; proto = "tcp"; dst_port = [ 8080 ]; },
	{ name = "rest"; action = "accept"; }
);
default_policy = "drop";
EOF
# short TCP close timeouts: connections end (and are written) within seconds
cat >"$CONF" <<EOF
queue = { first = 0; count = 1; };
tracker = { timeouts = { tcp_fin_wait = 1; tcp_close_wait = 1; tcp_last_ack = 1;
	tcp_time_wait = 1; tcp_close = 1; }; };
log = { database = "$DB"; policy = "all"; export = "syslog"; export_socket = "$T/sink.sock"; };
daemon = {
	user = "";
	pidfile = "$T/ctguardd.pid";
	control_socket = "$SOCK";
	control_mode = "0600";
	state_file = "$T/conntable.snap";
	checkpoint_interval = 0;
};
rules = { files = [ "$RULES" ]; };
EOF

DPID=
NSTART=0
start_daemon() {
	NSTART=$((NSTART + 1))
	ctg_bg "$CTG_NS_GW" "$T/ctguardd.$NSTART.log" "$CTGUARDD" -f -c "$CONF"
	DPID=$CTG_BG_PID
	ctg_wait_for 15 queue_bound && ctg_wait_for 10 ctl status
}
stop_daemon() {
	local i
	kill -TERM "$DPID" 2>/dev/null || return 1
	for ((i = 0; i < 150; i++)); do
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$DPID" 2>/dev/null; then
		kill -KILL "$DPID"
		wait "$DPID" 2>/dev/null
		return 1
	fi
	wait "$DPID"
}
# connection rows of the current file: written once the connections end
conns_written() { [ "$(file_ids history "$DB" | wc -l)" -ge "$1" ]; }

if ! ctg_topology; then
	echo "not ok - cannot build the namespace topology"
	exit 1
fi
www=$T/www
mkdir -p "$www"
echo hello >"$www/index.html"
if ! ctg_http_server "$CTG_NS_SRV" "$www" "$PORT"; then
	echo "not ok - HTTP server did not start"
	exit 1
fi
# a syslog stand-in for log.export: takes the datagrams, nothing more
ctg_bg "$CTG_NS_GW" "$T/sink.log" timeout 300 python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    s.recv(9000)" "$T/sink.sock"
ctg_wait_for 5 test -S "$T/sink.sock"
if ! ctg_quiet "$SETUP" install --netns "$CTG_NS_GW" --queues 0:1 ||
    ! start_daemon; then
	echo "not ok - daemon did not start"
	tail -n 20 "$T"/ctguardd.*.log
	exit 1
fi
ctg_ok "ctguardd started"

# --- shipper A reads every stream to its end, and stops
ctg_check "traffic (10 connections)" traffic 10
ctg_check "their connection rows are written" ctg_wait_for 15 conns_written 10
declare -A CUR
for s in log history events; do
	"$CTGUARD" "$s" -d "$DB" --format json >"$T/A.$s.json"
	CUR[$s]=$(cursor_of "$s" "$T/A.$s.json" | tail -n 1)
	ctg_check "shipper A: $s read to ${CUR[$s]:-nothing}" test -n "${CUR[$s]}"
done

# --- more rows into the same file, then followers from A's cursors
ctg_check "traffic after A stopped" traffic 5
for s in log history events; do
	"$CTGUARD" "$s" -d "$DB" --format json --follow "$(after_flag "$s")" "${CUR[$s]}" \
	    --follow-for-ms 10000 >"$T/F.$s.json" 2>"$T/F.$s.err" &
	CTG_PIDS+=("$!")
	eval "FPID_$s=$!"
done
sleep 1

# --- rotation 1, while running: mv + reopen-log
mv "$DB" "$DB.1"
ctg_check "reopen-log after moving the database away" ctg_quiet ctl reopen-log
ctg_check "a new database file" ctg_wait_for 5 test -f "$DB"
ctg_check "traffic into the new file" traffic 5
ctg_check "its connection rows are written" ctg_wait_for 15 conns_written 5
# shellcheck disable=SC2154
wait "$FPID_log" "$FPID_history" "$FPID_events"

# --- rotation 2, while stopped: the fresh file at restart
ctg_check "clean stop" stop_daemon
mv "$DB" "$DB.2"
rm -f "$DB-wal" "$DB-shm"
ctg_check "the ids state file is there" test -s "$T/conntable.snap.logids"
if start_daemon; then
	ctg_ok "restarted on a fresh file"
else
	ctg_not_ok "restarted on a fresh file"
fi
ctg_check "traffic after the restart" traffic 5
ctg_check "its connection rows are written" ctg_wait_for 15 conns_written 5
# log.export's counters in ctguard stats and the Prometheus text: since
# this start, every verdict row of this file was sent, none dropped
nrows=$(file_ids log "$DB" | wc -l)
exported() { ctl stats | grep -qx "log exported $nrows export_dropped 0"; }
ctg_check "ctguard stats: log exported $nrows export_dropped 0" ctg_wait_for 10 exported
ctg_check "Prometheus: ctguard_log_exported_total $nrows, ctguard_log_export_dropped_total 0" \
    eval "ctl stats --prometheus | grep -qx 'ctguard_log_exported_total $nrows' &&
        ctl stats --prometheus | grep -qx 'ctguard_log_export_dropped_total 0'"
ctg_check "clean stop" stop_daemon

# --- the checks, stream by stream
for s in log history events; do
	for f in "$DB.1" "$DB.2" "$DB"; do
		file_ids "$s" "$f" >"$f.$s.ids"
	done
	cat "$DB.1.$s.ids" "$DB.2.$s.ids" "$DB.$s.ids" >"$T/all.$s.ids"
	echo "# $s: ids of the three files $(head -n 1 "$DB.1.$s.ids")..$(tail -n 1 "$DB.1.$s.ids")" \
	    "$(head -n 1 "$DB.2.$s.ids")..$(tail -n 1 "$DB.2.$s.ids")" \
	    "$(head -n 1 "$DB.$s.ids")..$(tail -n 1 "$DB.$s.ids"); A read to ${CUR[$s]}"
	ctg_check "$s: every file has rows" \
	    test -s "$DB.1.$s.ids" -a -s "$DB.2.$s.ids" -a -s "$DB.$s.ids"
	ctg_check "$s: each file's ids lie above the previous file's (increasing, unique)" \
	    eval "sort -n -c -u '$T/all.$s.ids'"

	# shipper B, started later: A's cursor, then file after file
	c=${CUR[$s]}
	: >"$T/B.$s.json"
	for f in "$DB.1" "$DB.2" "$DB"; do
		"$CTGUARD" "$s" -d "$f" --format json "$(after_flag "$s")" "$c" >"$T/B.part.json" 2>>"$T/B.err"
		cat "$T/B.part.json" >>"$T/B.$s.json"
		n=$(cursor_of "$s" "$T/B.part.json" | tail -n 1)
		[ -n "$n" ] && c=$n
	done
	cursor_of "$s" "$T/A.$s.json" "$T/B.$s.json" >"$T/AB.$s.ids"
	[ -s "$T/B.err" ] && sed "s/^/# B: /" "$T/B.err"
	ctg_check "$s: shipper A then B hold every row of the three files once, in order ($(wc -l <"$T/AB.$s.ids") rows)" \
	    cmp -s "$T/AB.$s.ids" "$T/all.$s.ids"
	ctg_check "$s: --after-id/--after-seq ${CUR[$s]} on the newest file (all above it) starts at its start" \
	    eval "\"$CTGUARD\" $s -d '$DB' --format json $(after_flag "$s") ${CUR[$s]} | cursor_of $s /dev/stdin | cmp -s - '$DB.$s.ids'"

	# the follower through rotation 1: from A's cursor to where it stopped
	ctg_check "$s: the follower ran without error" test ! -s "$T/F.$s.err"
	[ -s "$T/F.$s.err" ] && head -n 5 "$T/F.$s.err" | sed 's/^/# /'
	cursor_of "$s" "$T/F.$s.json" >"$T/F.$s.ids"
	last=$(tail -n 1 "$T/F.$s.ids")
	awk -v a="${CUR[$s]}" -v b="${last:-0}" '$1 > a && $1 <= b' "$T/all.$s.ids" >"$T/F.$s.want"
	ctg_check "$s: the follower reached the file reopen-log made (last ${last:-none})" \
	    grep -qx "${last:-x}" "$DB.2.$s.ids"
	ctg_check "$s: the follower's rows: the old file's tail, then the new file, no gap or duplicate" \
	    cmp -s "$T/F.$s.ids" "$T/F.$s.want"
done
ctg_check "every line shipped is a JSON object" python3 -c "
import json, sys
for f in sys.argv[1:]:
    for line in open(f):
        json.loads(line)" "$T"/A.*.json "$T"/B.*.json "$T"/F.*.json
ctg_check "no sanitizer reports" eval "! grep -l -E 'AddressSanitizer|LeakSanitizer|runtime error:' $T/ctguardd.*.log"
ctg_quiet "$SETUP" remove --netns "$CTG_NS_GW"
ctg_finish
