-- SPDX-License-Identifier: GPL-2.0-or-later
-- ctguard audit log (its version is PRAGMA user_version; migrations in daemon/auditlog-db.c).
-- Times are Unix microseconds (UTC). Addresses are kept twice: as text for
-- people, and as 16 bytes (IPv4 as ::ffff:a.b.c.d) so that one BETWEEN on
-- one index answers CIDR queries of either family.

CREATE TABLE verdicts (
	id INTEGER PRIMARY KEY,
	time_us INTEGER NOT NULL,
	conn_id INTEGER,
	packet_no INTEGER,
	direction TEXT,
	proto INTEGER,
	family INTEGER,
	src TEXT,
	src_bin BLOB,
	sport INTEGER,
	dst TEXT,
	dst_bin BLOB,
	dport INTEGER,
	tcp_flags TEXT,
	ctstate TEXT,
	orig_before TEXT,
	resp_before TEXT,
	orig_after TEXT,
	resp_after TEXT,
	verdict TEXT,
	reason TEXT,
	rule TEXT,
	queue INTEGER,
	length INTEGER
);

CREATE TABLE connections (
	id INTEGER PRIMARY KEY,
	first_us INTEGER,
	last_us INTEGER,
	proto INTEGER,
	family INTEGER,
	src TEXT,
	src_bin BLOB,
	sport INTEGER,
	dst TEXT,
	dst_bin BLOB,
	dport INTEGER,
	conn_state TEXT,
	history TEXT,
	orig_pkts INTEGER,
	orig_bytes INTEGER,
	resp_pkts INTEGER,
	resp_bytes INTEGER,
	orig_state TEXT,
	resp_state TEXT,
	end_reason TEXT,
	rule TEXT
);

CREATE TABLE events (
	id INTEGER PRIMARY KEY,
	time_us INTEGER NOT NULL,
	kind TEXT,
	count INTEGER,
	detail TEXT
);

CREATE INDEX verdicts_time ON verdicts(time_us);
CREATE INDEX verdicts_src ON verdicts(src_bin);
CREATE INDEX verdicts_dst ON verdicts(dst_bin);
CREATE INDEX verdicts_verdict_reason ON verdicts(verdict, reason)
	WHERE verdict <> 'accept';
CREATE INDEX verdicts_conn ON verdicts(conn_id);
CREATE INDEX connections_first ON connections(first_us);
CREATE INDEX connections_src ON connections(src_bin);
CREATE INDEX events_time ON events(time_us);

CREATE VIEW verdicts_iso AS
	SELECT id, strftime('%Y-%m-%dT%H:%M:%f', time_us / 1e6, 'unixepoch') AS time,
	    conn_id, packet_no, direction, proto, src, sport, dst, dport,
	    tcp_flags, ctstate, orig_before, resp_before, orig_after, resp_after,
	    verdict, reason, rule, queue, length
	FROM verdicts;

CREATE VIEW connections_iso AS
	SELECT id,
	    strftime('%Y-%m-%dT%H:%M:%f', first_us / 1e6, 'unixepoch') AS first,
	    strftime('%Y-%m-%dT%H:%M:%f', last_us / 1e6, 'unixepoch') AS last,
	    (last_us - first_us) / 1e6 AS duration_s,
	    proto, src, sport, dst, dport, conn_state, history,
	    orig_pkts, orig_bytes, resp_pkts, resp_bytes,
	    orig_state, resp_state, end_reason, rule
	FROM connections;

CREATE VIEW events_iso AS
	SELECT id, strftime('%Y-%m-%dT%H:%M:%f', time_us / 1e6, 'unixepoch') AS time,
	    kind, count, detail
	FROM events;
