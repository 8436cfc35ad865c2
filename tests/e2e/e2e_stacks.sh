#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end (issue 22): the shapes real TCP stacks produce, made by real
# Linux sockets in namespaces (sysctls are per network namespace), through
# the live daemon (strict midstream, rules/default.rules: the client's
# network is "inside"). Each case asserts that the connection completes
# with the right bytes, that the audit log holds no INVALID or dropped
# packet of it, and where the shape has a mark of its own, that mark.
#
#  tfo        TCP Fast Open (net.ipv4.tcp_fastopen=3 both sides): cookie
#             request, then data in the SYN accepted; a listener without
#             TCP_FASTOPEN ignores the SYN's data, the client sends it again
#  syncookies tcp_syncookies=2 (always), listen backlog 4: ten parallel
#             uploads; again without timestamps, where the cookie cannot
#             carry the window scale and the server's SYN/ACK has none
#  pmtu       the gateway's server-side link is narrower (1400 IPv4, 1280
#             IPv6) than the client's and the server's: the gateway's own
#             frag-needed / packet-too-big goes through ctguard (queued
#             from its OUTPUT chain here), RELATED, reaches the client and
#             the upload completes
#  rstdata    RSTs carrying data (crafted, scapy): judged by the RST rules
#             like any RST (RFC 9293 3.5.3, RFC 1122 4.2.2.12)
#  urgent     urgent data both ways (MSG_OOB): passes
#  reorder    a real iperf3 transfer captured, cut into wire segments and
#             replayed (ctguardd -r) with reordering, duplicates and losses
#             before and after the gateway: no INVALID, and the summary is
#             the unmangled replay's (state, counts, history) plus the
#             retransmission and gap letters
#  onesided   asymmetric routing, the server's replies bypass the gateway:
#             strict refuses the pick-up (documented below), loose tracks
#             the one-sided flow and keeps it out of the protected class
#
# Environment: srcdir, builddir as for the other e2e tests; STACKS_ONLY
# (comma-separated case names) runs only those; STACKS_KEEP=DIR keeps the
# reorder case's captures there when it fails. Exit 0 pass,
# 1 fail, 77 skip (not root, a tool missing; CI=true fails instead).

set -u

here=$(cd "$(dirname "$0")" && pwd)
top=${srcdir:-$here/../..}
top=$(cd "$top" && pwd)
bld=${builddir:-$PWD}
bld=$(cd "$bld" && pwd)
# shellcheck source=../kit/netns.sh disable=SC1091
. "$top/tests/kit/netns.sh"

ctg_require_root
ctg_require_tools ip iptables ip6tables python3 timeout sqlite3 nstat iperf3

ctg_programs "$top" "$bld"
ctg_scapy_python
PYSCAPY=$CTG_PY

ctg_tmpdir
T=$CTG_TMPDIR
DB=$T/audit.db
SOCK=$T/ctl.sock
RULES=$top/rules/default.rules
S=$top/tests/e2e/stacks/stacks.py
C=$top/tests/e2e/stacks/craft.py
TFOPORT=7100            # listener with TCP_FASTOPEN
PORT=7101               # listener without
IPERFPORT=5201
EV=$T/server-events.log
BEGIN=$SECONDS

# --- helpers -------------------------------------------------------------------
q() {
	sqlite3 -batch -noheader -cmd '.timeout 3000' "$DB" "$1" 2>/dev/null
}

qge() {
	local v
	v=$(q "$1")
	[ -n "$v" ] && [ "$v" -ge "$2" ]
}

ctl() {
	timeout 20 "$CTGUARD" -s "$SOCK" "$@"
}

cli() { timeout "${PYT:-30}" ip netns exec "$CTG_NS_CLI" python3 "$S" "$@"; }
say() { echo "# $*"; }

# nstat counter NAME in namespace NS (absolute value)
counter() {
	ip netns exec "$1" nstat -az "$2" 2>/dev/null | awk -v n="$2" '$1 == n { print $2 }'
}

# clean LO HI: every TCP packet of the connections from client ports LO..HI
# was accepted and none was INVALID; prints what was not
clean() {
	local w="proto = 6 AND ((sport BETWEEN $1 AND $2) OR (dport BETWEEN $1 AND $2))"
	local bad
	bad=$(q "SELECT count(*) FROM verdicts WHERE $w AND (verdict <> 'accept' OR ctstate = 'invalid')")
	if [ "${bad:-x}" != 0 ]; then
		say "refused packets of ports $1-$2:"
		q "SELECT sport, dport, tcp_flags, ctstate, verdict, reason FROM verdicts
		    WHERE $w AND (verdict <> 'accept' OR ctstate = 'invalid') LIMIT 8" |
		    sed 's/^/#   /'
		# the whole story of the first such connection (policy "all")
		local p
		p=$(q "SELECT CASE WHEN sport BETWEEN $1 AND $2 THEN sport ELSE dport END FROM verdicts
		    WHERE $w AND (verdict <> 'accept' OR ctstate = 'invalid') LIMIT 1")
		say "every packet of client port $p (ms, direction, flags, length, endpoints before -> after, verdict, reason):"
		q "SELECT (time_us - (SELECT min(time_us) FROM verdicts WHERE sport = $p OR dport = $p)) / 1000.0,
		    direction, tcp_flags, length, orig_before || '/' || resp_before || ' -> ' ||
		    orig_after || '/' || resp_after, verdict, reason FROM verdicts
		    WHERE proto = 6 AND (sport = $p OR dport = $p) ORDER BY time_us LIMIT 60" |
		    sed 's/^/#   /'
		return 1
	fi
	[ "$(q "SELECT count(*) FROM verdicts WHERE $w")" -gt 0 ] || {
		say "no verdicts logged for ports $1-$2"
		return 1
	}
}

# summarised PORTLO PORTHI N: N connection summaries logged (the connections
# closed and their entries ended), within 12 s
summarised() {
	ctg_wait_for 12 qge "SELECT count(*) FROM connections WHERE proto = 6
	    AND sport BETWEEN $1 AND $2" "$3"
}

write_config() {
	# write_config FILE MIDSTREAM
	cat >"$1" <<EOF
queue = { first = 0; count = 1; };
tracker = {
	midstream = "$2";
	timeouts = { tcp_time_wait = 1; tcp_close = 1; tcp_fin_wait = 3;
	    tcp_last_ack = 5; tcp_close_wait = 10; };
};
log = { database = "$DB"; policy = "all"; };
daemon = {
	user = "";
	pidfile = "$T/ctguardd.pid";
	control_socket = "$SOCK";
	control_mode = "0600";
};
rules = { files = [ "$RULES" ]; reload = "recheck"; };
EOF
}

DPID=
NSTART=0
start_daemon() {
	NSTART=$((NSTART + 1))
	ctg_bg "$CTG_NS_GW" "$T/ctguardd.$NSTART.log" "$CTGUARDD" -f -c "$1" -R "$RULES"
	DPID=$CTG_BG_PID
	ctg_wait_for 15 ctg_in "$CTG_NS_GW" awk '$1 == 0 { f = 1 } END { exit !f }' \
	    /proc/net/netfilter/nfnetlink_queue || return 1
	ctg_wait_for 10 ctl status
}

stop_daemon() {
	kill -TERM "$DPID" 2>/dev/null
	ctg_wait_for 10 eval '! kill -0 "$DPID" 2>/dev/null'
	kill -KILL "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	return 0
}

sysctl_ns() {
	ctg_in "$1" sysctl -q -w "$2" >/dev/null
}

# --- cases ---------------------------------------------------------------------

# TCP Fast Open (RFC 7413). The first connection asks for a cookie (the
# SYN carries an empty TFO option, the data follows the handshake); the
# second sends its first 1004 bytes in the SYN with the cookie and the
# server's SYN/ACK acknowledges them; a listener without TCP_FASTOPEN in
# the same namespace ignores SYN data (the SYN/ACK acknowledges only the
# SYN) and the client sends the data again after the handshake.
case_tfo() {
	local rc=0 a0 a1 p0 p1
	sysctl_ns "$CTG_NS_CLI" net.ipv4.tcp_fastopen=3 &&
	    sysctl_ns "$CTG_NS_SRV" net.ipv4.tcp_fastopen=3 || return 1
	a0=$(counter "$CTG_NS_CLI" TcpExtTCPFastOpenActive)
	p0=$(counter "$CTG_NS_SRV" TcpExtTCPFastOpenPassive)
	cli tfo "$CTG_SRV4" "$TFOPORT" 20000 42001 no-syn-data || { say "cookie request failed"; rc=1; }
	cli tfo "$CTG_SRV4" "$TFOPORT" 20000 42002 syn-data || { say "data in SYN failed"; rc=1; }
	cli tfo "$CTG_SRV6" "$TFOPORT" 20000 42003 no-syn-data || { say "IPv6 cookie request failed"; rc=1; }
	cli tfo "$CTG_SRV6" "$TFOPORT" 20000 42004 syn-data || { say "IPv6 data in SYN failed"; rc=1; }
	cli tfo "$CTG_SRV4" "$PORT" 20000 42005 no-syn-data || { say "SYN data ignored: failed"; rc=1; }
	a1=$(counter "$CTG_NS_CLI" TcpExtTCPFastOpenActive)
	p1=$(counter "$CTG_NS_SRV" TcpExtTCPFastOpenPassive)
	say "TCPFastOpenActive +$((a1 - a0)) (client), TCPFastOpenPassive +$((p1 - p0)) (server)"
	[ $((p1 - p0)) -eq 2 ] || { say "want 2 SYNs with data accepted by the server"; rc=1; }
	summarised 42001 42005 5 || { say "not every connection summarised"; rc=1; }
	clean 42001 42005 || rc=1
	# the SYNs that carried 1004 bytes: 42002, 42004 (accepted), 42005 (ignored)
	local n
	n=$(q "SELECT count(DISTINCT sport) FROM verdicts WHERE tcp_flags = 'S'
	    AND sport IN (42002, 42004, 42005) AND length > 1000 AND verdict = 'accept'")
	[ "$n" = 3 ] || { say "SYNs with data accepted: $n of 3"; rc=1; }
	n=$(q "SELECT count(*) FROM verdicts WHERE tcp_flags = 'S'
	    AND sport IN (42001, 42003) AND length > 1000")
	[ "$n" = 0 ] || { say "a cookie request carried data"; rc=1; }
	q "SELECT sport, conn_state, history FROM connections WHERE sport BETWEEN 42001 AND 42005
	    ORDER BY sport" | sed 's/^/#   /'
	# closed by both FINs: SF, or (as in e2e_gateway) an RST after both
	# FINs when a retransmitted FIN met an endpoint already gone
	local st
	st=$(q "SELECT group_concat(sport || ' ' || conn_state || ' ' || history) FROM connections
	    WHERE sport BETWEEN 42001 AND 42005 AND NOT (conn_state = 'SF' OR
	    (conn_state IN ('RSTO', 'RSTR') AND instr(history, 'F') > 0 AND instr(history, 'f') > 0
	    AND max(instr(history, 'R'), instr(history, 'r')) >
	        max(instr(history, 'F'), instr(history, 'f'))))")
	[ -z "$st" ] || { say "not closed by both FINs: $st"; rc=1; }
	# the marks: data in the SYN is noted (tcp_syn_data, history "SD"),
	# and where the server ignored it, the client's repeat is a
	# retransmission (T)
	n=$(q "SELECT count(*) FROM verdicts WHERE tcp_flags = 'S' AND sport IN (42002, 42004, 42005)
	    AND reason = 'tcp_syn_data'")
	[ "$n" = 3 ] || { say "SYNs with data noted tcp_syn_data: $n of 3"; rc=1; }
	n=$(q "SELECT count(*) FROM connections WHERE sport IN (42002, 42004, 42005)
	    AND history LIKE 'SD%'")
	[ "$n" = 3 ] || { say "histories starting SD: $n of 3"; rc=1; }
	n=$(q "SELECT count(*) FROM connections WHERE sport = 42005 AND instr(history, 'T') > 0")
	[ "$n" = 1 ] || { say "the ignored SYN data's repeat is no retransmission (T)"; rc=1; }
	return $rc
}

# SYN cookies (tcp_syncookies=2: every SYN is answered with a cookie). With
# timestamps the cookie encodes the window scale and SACK in TSval; without
# (client tcp_timestamps=0) Linux clears every option but the MSS
# (tcp_conn_request: "if (want_cookie && !tmp_opt.saw_tstamp)
# tcp_clear_options"), so the SYN/ACK has no window scale although the SYN
# offered one, and neither side scales (RFC 7323 2.2): the tracker must not
# scale the windows either.
case_syncookies() {
	local rc=0 c0 c1
	sysctl_ns "$CTG_NS_SRV" net.ipv4.tcp_syncookies=2 || return 1
	c0=$(counter "$CTG_NS_SRV" TcpExtSyncookiesRecv)
	cli many "$CTG_SRV4" "$PORT" 10 42100 30000 wscale || { say "uploads with timestamps failed"; rc=1; }
	PYT=40 cli many "$CTG_SRV6" "$PORT" 4 42110 200000 wscale || { say "IPv6 uploads failed"; rc=1; }
	sysctl_ns "$CTG_NS_CLI" net.ipv4.tcp_timestamps=0
	PYT=40 cli many "$CTG_SRV4" "$PORT" 6 42120 300000 nowscale ||
	    { say "uploads without timestamps (no window scale) failed"; rc=1; }
	sysctl_ns "$CTG_NS_CLI" net.ipv4.tcp_timestamps=1
	sysctl_ns "$CTG_NS_SRV" net.ipv4.tcp_syncookies=1
	c1=$(counter "$CTG_NS_SRV" TcpExtSyncookiesRecv)
	say "SyncookiesRecv +$((c1 - c0)) (IPv4; IPv6 counts there too)"
	[ $((c1 - c0)) -ge 16 ] || { say "want 16 or more handshakes completed by cookie"; rc=1; }
	summarised 42100 42125 20 || { say "not every connection summarised"; rc=1; }
	clean 42100 42125 || rc=1
	return $rc
}

# PMTU discovery: RFC 1191 (IPv4, DF set by Linux), RFC 8201 (IPv6). The
# gateway itself answers with the ICMP error, so its OUTPUT chain queues
# those errors to ctguard here: ctguard must find them RELATED to the flow,
# or the client never learns the path MTU and the transfer stalls.
case_pmtu() {
	local rc=0
	ip -n "$CTG_NS_GW" link set srv0 mtu 1400 || return 1
	cli put "$CTG_SRV4" "$PORT" 300000 42200 || { say "IPv4 upload failed"; rc=1; }
	ip -n "$CTG_NS_GW" link set srv0 mtu 1280
	cli put "$CTG_SRV6" "$PORT" 300000 42201 || { say "IPv6 upload failed"; rc=1; }
	ip -n "$CTG_NS_GW" link set srv0 mtu 1500
	local r4 r6
	r4=$(ip -n "$CTG_NS_CLI" route get "$CTG_SRV4" | tr '\n' ' ')
	r6=$(ip -n "$CTG_NS_CLI" -6 route get "$CTG_SRV6" | tr '\n' ' ')
	say "client's routes: $r4 / $r6"
	case $r4 in *"mtu 1400"*) ;; *) say "client did not learn the IPv4 path MTU"; rc=1 ;; esac
	case $r6 in *"mtu 1280"*) ;; *) say "client did not learn the IPv6 path MTU"; rc=1 ;; esac
	ctg_wait_for 5 qge "SELECT count(*) FROM verdicts WHERE proto = 1 AND ctstate = 'related'
	    AND verdict = 'accept' AND src = '$CTG_GWC4' AND dst = '$CTG_CLI4'" 1 ||
	    { say "no RELATED frag-needed accepted"; rc=1; }
	ctg_wait_for 5 qge "SELECT count(*) FROM verdicts WHERE proto = 58 AND ctstate = 'related'
	    AND verdict = 'accept' AND src = '$CTG_GWC6' AND dst = '$CTG_CLI6'" 1 ||
	    { say "no RELATED packet-too-big accepted"; rc=1; }
	local bad
	bad=$(q "SELECT count(*) FROM verdicts WHERE proto IN (1, 58) AND verdict <> 'accept'")
	[ "$bad" = 0 ] || { say "$bad ICMP errors refused"; rc=1; }
	summarised 42200 42201 2 || { say "not summarised"; rc=1; }
	clean 42200 42201 || rc=1
	return $rc
}

# RST with data. RFC 9293 3.5.3 / RFC 1122 4.2.2.12: a RST may carry data
# (diagnostic text) and is processed as a RST: the data changes nothing.
# So an in-window inexact RST with data is ignored by the server (RFC 5961
# 3.2: challenge ACK) and the connection lives; the exact one resets the
# server's end and is accepted.
case_rstdata() {
	local rc=0 out
	out=$(timeout 30 ip netns exec "$CTG_NS_CLI" "$PYSCAPY" "$C" rstdata \
	    "$CTG_CLI4" "$CTG_SRV4" "$PORT" 42300 2>&1) || rc=1
	echo "$out" | sed 's/^/#   /'
	grep -q '^inexact alive' <<<"$out" || { say "connection broken by the inexact RST"; rc=1; }
	ctg_wait_for 5 grep -q "^reset 42300 " "$EV" ||
	    { say "the server did not see the exact RST with data"; rc=1; }
	# both RSTs passed, as RSTs (the data changes nothing): the inexact
	# one is noted, its fate is the endpoint's (challenge ACK)
	[ "$(q "SELECT reason FROM verdicts WHERE sport = 42300 AND tcp_flags = 'R'")" = \
	    tcp_rst_inexact ] || { say "the inexact RST is not noted tcp_rst_inexact"; rc=1; }
	ctg_wait_for 5 qge "SELECT count(*) FROM verdicts WHERE sport = 42300 AND
	    instr(tcp_flags, 'R') > 0 AND verdict = 'accept' AND length > 90" 2 ||
	    { say "RSTs with data not accepted:"; q "SELECT tcp_flags, ctstate, verdict, reason, length
	        FROM verdicts WHERE sport = 42300 AND instr(tcp_flags, 'R') > 0" | sed 's/^/#   /'; rc=1; }
	summarised 42300 42300 1 || rc=1
	q "SELECT conn_state, history, end_reason FROM connections WHERE sport = 42300" |
	    sed 's/^/#   summary: /'
	[ "$(q "SELECT conn_state FROM connections WHERE sport = 42300")" = RSTO ] ||
	    { say "want RSTO (the originator reset)"; rc=1; }
	clean 42300 42300 || rc=1
	return $rc
}

# Urgent data (RFC 9293 3.8.5; SO_OOBINLINE keeps the byte in the stream):
# the client sends "!" urgent between "abc" and "def", the server "?"
# between "xyz" and "uvw".
case_urgent() {
	local rc=0
	cli urg "$CTG_SRV4" "$PORT" 42400 || rc=1
	cli urg "$CTG_SRV6" "$PORT" 42401 || rc=1
	summarised 42400 42401 2 || rc=1
	local n
	n=$(q "SELECT count(DISTINCT direction) FROM verdicts WHERE (sport IN (42400, 42401)
	    OR dport IN (42400, 42401)) AND instr(tcp_flags, 'U') > 0 AND verdict = 'accept'")
	[ "$n" = 2 ] || { say "URG segments accepted in $n of 2 directions"; rc=1; }
	clean 42400 42401 || rc=1
	return $rc
}

# Reordering and loss without netem: a real iperf3 upload captured on the
# client's link, cut into wire segments and mangled (craft.py mangle) with
# reordering, duplicates, a loss after the gateway (dup ACKs with SACK at
# the hole, then the retransmission) and one before it (the gateway sees
# only the retransmission). Both replayed under strict midstream: no frame
# is INVALID, and the mangled upload ends as the unmangled one does.
case_reorder() {
	local rc=0 cap=$T/iperf.pcap mg=$T/iperf-mangled.pcap conf=$T/replay.conf
	ctg_bg "$CTG_NS_SRV" "$T/iperf3-s.log" timeout 30 iperf3 -s -1 -p "$IPERFPORT"
	# listening (not a connect: that would be the one client -1 serves)
	ctg_wait_for 5 eval "ip netns exec '$CTG_NS_SRV' ss -Hltn 'sport = :$IPERFPORT' | grep -q ."
	timeout 40 ip netns exec "$CTG_NS_CLI" "$PYSCAPY" "$C" capture eth0 "$cap" 25 -- \
	    iperf3 -c "$CTG_SRV4" -p "$IPERFPORT" -n 1M -b 20M -l 16K >"$T/capture.out" 2>&1 ||
	    { say "capture failed"; sed 's/^/#   /' "$T/capture.out" | tail -5; return 1; }
	timeout 60 "$PYSCAPY" "$C" mangle "$cap" "$mg" "$IPERFPORT" >"$T/mangle.out" 2>&1 ||
	    { say "mangle failed"; sed 's/^/#   /' "$T/mangle.out" | tail -5; return 1; }
	grep -h '^# ' "$T/capture.out" "$T/mangle.out"
	cat >"$conf" <<EOF
tracker = { midstream = "strict"; };
rules = { files = [ "$RULES" ]; };
EOF
	local f sum0 sum1 added
	for f in "$mg.plain" "$mg"; do
		timeout 60 "$CTGUARDD" -c "$conf" -R "$RULES" -r "$f" --no-log \
		    --inside 198.51.100.0/24 --verdicts --connections >"$f.out" 2>"$f.err" ||
		    { say "replay of $(basename "$f") failed"; tail -3 "$f.err"; rc=1; }
		local bad
		bad=$(awk -F'\t' '$1 ~ /^[0-9]+$/ && ($2 != "accept" || $3 == "invalid")' "$f.out" | wc -l)
		[ "$bad" = 0 ] || {
			say "$(basename "$f"): $bad frames not accepted:"
			awk -F'\t' '$1 ~ /^[0-9]+$/ && ($2 != "accept" || $3 == "invalid")' "$f.out" |
			    head -5 | sed 's/^/#   /'
			rc=1
		}
	done
	# the upload: the connection to the iperf3 port with most originator
	# packets; fields conn_state history orig_pkts resp_pkts
	sum0=$(awk -F'\t' '$1 == "conn" && $7 == 5201 { print $13, $8, $9, $14 }' "$mg.plain.out" |
	    sort -n | tail -1)
	sum1=$(awk -F'\t' '$1 == "conn" && $7 == 5201 { print $13, $8, $9, $14 }' "$mg.out" |
	    sort -n | tail -1)
	added=$(sed -n 's/^added //p' "$T/mangle.out")
	say "upload unmangled: $sum0 (originator packets, state, history, responder packets)"
	say "upload mangled:   $sum1 ($added frames added)"
	local p0 s0 h0 q0 p1 s1 h1 q1
	read -r p0 s0 h0 q0 <<<"$sum0"
	read -r p1 s1 h1 q1 <<<"$sum1"
	# the same end (iperf3's server resets the data connection: RSTR in
	# both), every added frame counted once, the same responder frames,
	# and the same history but for the retransmission (T) and gap (G)
	# letters the repeats and the hole add
	[ -n "$s0" ] && [ "$s1" = "$s0" ] || { say "conn_state differs"; rc=1; }
	[ "${p1:-0}" -eq $((${p0:-0} + ${added:-99})) ] || { say "originator packets differ"; rc=1; }
	[ "${q1:-0}" = "${q0:-x}" ] || { say "responder packets differ"; rc=1; }
	[ "${h1//[TG]/}" = "${h0//[TG]/}" ] || { say "history differs"; rc=1; }
	case $h1 in *T*) ;; *) say "the repeats are not seen as retransmissions (T)"; rc=1 ;; esac
	if [ "$rc" != 0 ] && [ -n "${STACKS_KEEP:-}" ]; then
		mkdir -p "$STACKS_KEEP" && cp "$cap" "$mg" "$mg.plain" "$mg.out" "$STACKS_KEEP"/ &&
		    say "captures kept in $STACKS_KEEP"
	fi
	return $rc
}

# One-sided traffic: the server reaches the client's second address
# (198.51.100.3) over a direct link, so the gateway sees only the client's
# half. Strict midstream: the client's ACK of a SYN/ACK the gateway never
# saw is no connection ctguard knows how to judge, so it is INVALID and the
# connection cannot start (nf_conntrack without be_liberal/loose does the
# same: an ACK in SYN_SENT is INVALID) -- a strict gateway must be on every
# path. Loose: the flow is tracked from the client's side alone; it stays
# answered by nobody, so it is never in the protected class (an unanswered
# entry may be ended to make room).
case_onesided() {
	local rc=0 out
	ip -n "$CTG_NS_CLI" link add eth1 type veth peer name eth1 netns "$CTG_NS_SRV" || return 1
	ctg_link_fifo "$CTG_NS_CLI" eth1 && ctg_link_fifo "$CTG_NS_SRV" eth1 || return 1
	ip -n "$CTG_NS_CLI" link set eth1 up && ip -n "$CTG_NS_SRV" link set eth1 up &&
	    ip -n "$CTG_NS_CLI" addr add 198.51.100.3/24 dev eth0 &&
	    ip -n "$CTG_NS_SRV" route add 198.51.100.3/32 dev eth1 src "$CTG_SRV4" || return 1
	sysctl_ns "$CTG_NS_CLI" net.ipv4.conf.all.rp_filter=0
	sysctl_ns "$CTG_NS_CLI" net.ipv4.conf.eth1.rp_filter=0
	sysctl_ns "$CTG_NS_CLI" net.ipv4.conf.eth0.rp_filter=0
	# strict (the daemon as started)
	if PYT=4 cli put "$CTG_SRV4" "$PORT" 20000 42500 198.51.100.3 >/dev/null 2>&1; then
		say "strict: the one-sided connection completed"
		rc=1
	fi
	ctg_wait_for 5 qge "SELECT count(*) FROM verdicts WHERE sport = 42500 AND
	    ctstate = 'invalid' AND verdict = 'drop'" 1 || { say "strict: nothing dropped"; rc=1; }
	say "strict: $(q "SELECT group_concat(DISTINCT reason) FROM verdicts WHERE sport = 42500
	    AND verdict = 'drop'")"
	# loose
	stop_daemon
	write_config "$T/loose.conf" loose
	start_daemon "$T/loose.conf" || { say "daemon (loose) did not start"; return 1; }
	# a paced upload, so that the entry can be looked at while it lives
	PYT=30 cli put "$CTG_SRV4" "$PORT" 400000 42501 198.51.100.3 &
	local pid=$!
	sleep 1
	out=$(ctl connections --port 42501 --json 2>&1)
	say "live: $out"
	# nothing from the responder: the entry is unanswered, on the list
	# that is ended first to make room (tracker_tcp_set_tclass), never
	# protected (test_one_sided_after_syn shows the eviction)
	case $out in
	*'"resp_pkts":0,'*'"orig_pkts":'[1-9]*|*'"orig_pkts":'[1-9]*'"resp_pkts":0,'*) ;;
	*) say "loose: the live entry is not one-sided and unanswered"; rc=1 ;;
	esac
	wait "$pid" || { say "loose: the one-sided upload failed"; rc=1; }
	summarised 42501 42501 1 || rc=1
	clean 42501 42501 || rc=1
	local h
	h=$(q "SELECT history FROM connections WHERE sport = 42501")
	say "loose: history $h"
	case $h in *[a-z]*) say "history shows the server's side"; rc=1 ;; "") rc=1 ;; esac
	[ "$(q "SELECT count(*) FROM verdicts WHERE dport = 42501")" = 0 ] ||
	    { say "the gateway saw the server's replies"; rc=1; }
	# the client's first segment after its SYN is the pick-up: its ACK of
	# the SYN/ACK, or its first data when Linux let that carry the ack
	# (history SDAF instead of SADF, now and then)
	[ "$(q "SELECT reason FROM verdicts WHERE sport = 42501 AND tcp_flags NOT LIKE '%S%'
	    ORDER BY id LIMIT 1")" = tcp_midstream ] ||
	    { say "loose: the first segment after the SYN is not the pick-up (tcp_midstream)"; rc=1; }
	return $rc
}

# --- topology, servers, daemon ------------------------------------------------
if ! ctg_topology; then
	echo "not ok - cannot build the namespace topology"
	exit 1
fi
: >"$EV"
ctg_bg "$CTG_NS_SRV" "$T/serve-tfo.log" timeout 300 python3 "$S" serve "$TFOPORT" tfo "$EV"
ctg_bg "$CTG_NS_SRV" "$T/serve.log" timeout 300 python3 "$S" serve "$PORT" plain "$EV"
ctg_wait_for 10 ctg_tcp_connect "$CTG_NS_SRV" 127.0.0.1 "$TFOPORT" 1
ctg_wait_for 10 ctg_tcp_connect "$CTG_NS_SRV" 127.0.0.1 "$PORT" 1

write_config "$T/strict.conf" strict
if ! ctg_quiet "$SETUP" install --netns "$CTG_NS_GW" --queues 0:1; then
	echo "not ok - ctguard-setup install failed"
	exit 1
fi
# the gateway's own PMTU errors (case pmtu); nothing else of its OUTPUT
ctg_in "$CTG_NS_GW" iptables -A OUTPUT -p icmp --icmp-type fragmentation-needed \
    -j NFQUEUE --queue-num 0 &&
    ctg_in "$CTG_NS_GW" ip6tables -A OUTPUT -p icmpv6 --icmpv6-type packet-too-big \
    -j NFQUEUE --queue-num 0 || { echo "not ok - OUTPUT queue rules"; exit 1; }
if ! start_daemon "$T/strict.conf"; then
	echo "not ok - ctguardd started"
	tail -n 20 "$T"/ctguardd.*.log | sed 's/^/#   /'
	exit 1
fi
ctg_ok "ctguardd started (strict midstream, rules/default.rules)"

CASES=${STACKS_ONLY:-tfo,syncookies,pmtu,rstdata,urgent,reorder,onesided}
for c in ${CASES//,/ }; do
	t0=$SECONDS
	if "case_$c"; then
		ctg_ok "$c ($((SECONDS - t0)) s)"
	else
		ctg_not_ok "$c ($((SECONDS - t0)) s)"
	fi
done
stop_daemon
if grep -l -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$T"/ctguardd.*.log; then
	ctg_not_ok "sanitizer reports in the daemon's log"
fi
say "total $((SECONDS - BEGIN)) s"
ctg_finish
