#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck disable=SC2016
# End to end: an active/active gateway pair under asymmetric routing
# (issue 16). Built by tests/kit/ha.sh (ha_topology 2, no VRRP): the
# client's routes to the server go through gw1, the server's routes to the
# client through gw2, so every connection's SYN crosses gw1 and its SYN/ACK
# gw2; corosync (two members) on the sync LAN. Both gateways run
# ctguard-setup and ctguardd with midstream = "strict" and
# sync = { mode = "active-active"; defer_timeout_ms = ...; }.
#
#  1. Control, defer_timeout_ms = 0: the SYN/ACK reaches gw2 before gw2
#     knows the connection; gw2 drops it (its audit log says why) and new
#     connections do not complete in time. The proof the test can fail.
#  2. Defer on: 20 short TCP connections over IPv4 and 20 over IPv6 open,
#     most without a retransmission and none after more than one (see
#     there), 20 MB each way over IPv4 and IPv6 arrive
#     intact, an idle connection echoes after 5 s, UDP requests (via gw1)
#     get their replies (via gw2); no RST reaches or leaves either end.
#  3. Out-of-window RSTs (IPv4, IPv6) injected from the server's side
#     (they cross gw2) are dropped by gw2 with reason tcp_rst_out_of_window,
#     never reach the client, and the connections echo afterwards.
#  4. "ctguard ha status --json" on both: mode active-active, deferred > 0,
#     defer_timeouts at most 25% of deferred (see there), no overflow;
#     defer wait p50/p99, merged, relearned printed.
#  5. Connection rate (time-bounded loop) through the asymmetric pair, the
#     same pair with symmetric routing, and active-backup (symmetric), one
#     run, interleaved rounds.
#
# Environment: srcdir, builddir as for the other e2e tests; ASYM_DEFER_MS
# (default 20, the documented default), ASYM_RATE_SECS (default 3) and
# ASYM_RATE_ROUNDS (default 3) for 5.
# Exit 0 pass, 1 fail, 77 skip (not root, or a tool missing; CI=true fails).

set -u

here=$(cd "$(dirname "$0")" && pwd)
top=${srcdir:-$here/../..}
top=$(cd "$top" && pwd)
bld=${builddir:-$PWD}
bld=$(cd "$bld" && pwd)
# shellcheck source=../kit/ha.sh disable=SC1091
. "$top/tests/kit/ha.sh"

ctg_require_root
ctg_require_tools ip iptables ip6tables python3 timeout unshare nsenter \
    sqlite3 corosync corosync-cmapctl ethtool
ctg_programs "$top" "$bld"
ctg_scapy_python
PYSCAPY=$CTG_PY

DEFER_MS=${ASYM_DEFER_MS:-20}
RATE_SECS=${ASYM_RATE_SECS:-3}
RATE_ROUNDS=${ASYM_RATE_ROUNDS:-3}
ctg_tmpdir
T=$CTG_TMPDIR
# the traffic tool: servers and clients run in the namespaces
H=$top/tests/kit/traffic.py
RULES=$T/gateway.rules
cp "$top/rules/default.rules" "$RULES"
SRVPORT=7000    # the checked traffic (RSTs counted on it)
UDPPORT=7001
CTLPORT=7002    # the control connections: their late SYN/ACKs stay apart
RATEPORT=7003   # the rate loops
A=1             # the gateway the client sends through
B=2             # the gateway the server answers through

# --- helpers ----------------------------------------------------------------------
py_cli() { timeout "${PYT:-30}" ip netns exec "$HA_NS_CLI" python3 "$H" "$@"; }
ctl() { local n=$1; shift; timeout 10 "$CTGUARD" -s "$T/gw$n.sock" "$@"; }

# hs N KEY: one value of gwN's "ctguard ha status --json" (a list prints
# its length, a boolean true/false); empty if there is none.
hs() {
	ctl "$1" ha status --json 2>/dev/null | python3 -c '
import json, sys
v = json.load(sys.stdin).get(sys.argv[1])
if isinstance(v, list):
    v = len(v)
elif isinstance(v, bool):
    v = str(v).lower()
print("" if v is None else v)' "$2" 2>/dev/null
}
hs_eq() { [ "$(hs "$1" "$2")" = "$3" ]; }
num_gt() { [ -n "$1" ] && python3 -c 'import sys; sys.exit(not float(sys.argv[1]) > float(sys.argv[2]))' "$1" "$2"; }

q() { sqlite3 -batch -noheader -cmd '.timeout 3000' "$T/gw$1.db" "$2" 2>/dev/null; }
qge() { local v; v=$(q "$1" "$2"); [ -n "$v" ] && [ "$v" -ge "$3" ]; }

# write_config N MODE DEFER_MS: gwN's ctguard.conf. MODE "" leaves out the
# keys of active/active (a daemon without them: see AA below).
write_config() {
	local n=$1 mode=$2 defer=$3 extra=
	[ -n "$mode" ] && extra="mode = \"$mode\"; defer_timeout_ms = $defer;"
	cat >"$T/gw$n.conf" <<EOF
queue = { first = 0; count = 1; };
tracker = { midstream = "strict"; };
log = { database = "$T/gw$n.db"; policy = "decisions"; };
daemon = {
	user = "";
	pidfile = "$T/gw$n.pid";
	control_socket = "$T/gw$n.sock";
	control_mode = "0600";
	state_file = "$T/gw$n.snap";   # removed before each start (restart_pair)
	checkpoint_interval = 0;
};
rules = { files = [ "$RULES" ]; };
sync = { enabled = true; group = "ctguard"; interval_ms = 100;
	max_updates = 128; node_name = "gw$n"; $extra };
EOF
}

declare -a DPID=()
NSTART=0
# start_daemon N: ctguardd in gwN's corosync mount and network namespace.
start_daemon() {
	local n=$1
	NSTART=$((NSTART + 1))
	nsenter -t "${HA_CS_PID[n]}" -m -n -- "$CTGUARDD" -f -c "$T/gw$n.conf" \
	    -R "$RULES" >"$T/ctguardd.gw$n.$NSTART.log" 2>&1 &
	DPID[n]=$!
	CTG_PIDS+=("$!")
	ctg_wait_for 15 ctl "$n" status
}

# restart_pair MODE DEFER_MS: both daemons stopped, reconfigured, started,
# and back in one group of two.
restart_pair() {
	local n
	for n in 1 2; do
		[ -n "${DPID[n]:-}" ] && ctg_stop "${DPID[n]}"
		# every start begins with an empty table, then the bulk transfer
		rm -f "$T/gw$n.snap"*
		write_config "$n" "$1" "$2"
	done
	start_daemon 1 && start_daemon 2 &&
	    ctg_wait_for 15 eval 'hs_eq 1 members 2 && hs_eq 2 members 2 &&
	        hs_eq 1 connected true && hs_eq 2 connected true'
}

dump() {
	local f
	for f in "$T"/ctguardd.*.log "$T"/corosync*.log "$T"/*.out "$T"/idle*.log; do
		[ -f "$f" ] || continue
		echo "# --- $f (tail)"
		case $f in
		*/ctguardd.*) tail -n 5 "$f" ;;
		*) tail -n 12 "$f" ;;
		esac | sed 's/^/#   /'
	done
}

die() {
	ctg_not_ok "$*"
	dump
	[ -n "${HA_KEEP:-}" ] && cp -a "$T" "$HA_KEEP" && echo "# kept in $HA_KEEP"
	ctg_finish
}

# drops N PORT: gwN's drops of packets to or from PORT, "count (reasons)"
drops() {
	q "$1" "SELECT count(*) || ' (' || coalesce(group_concat(DISTINCT coalesce(tcp_flags, '') || ':' || reason), '-') || ')'
	    FROM verdicts WHERE verdict = 'drop' AND (sport = $2 OR dport = $2)"
}

# --- topology, corosync, daemons ----------------------------------------------------
ha_topology 2 || die "cannot build the namespace topology"
ha_routes "$A" "$B" || die "cannot set the asymmetric routes"
ctg_ok "topology: client -> gw$A -> server, server -> gw$B -> client, sync LAN ($HA_PREFIX*)"
for n in 1 2; do
	ctg_quiet "$SETUP" install --netns "$(ha_ns "$n")" --queues 0:1 ||
	    die "ctguard-setup install in gw$n"
done
for ns in "$HA_NS_CLI" "$HA_NS_SRV"; do
	ha_rst_count_add "$ns" "$SRVPORT" || die "RST counting rules in $ns"
done
# and the RSTs themselves at the client, for the failure message (IPv4,
# IPv6 without extension headers: TCP flags at byte 53)
if command -v tcpdump >/dev/null; then
	ctg_bg "$HA_NS_CLI" "$T/rst-cap.out" timeout 400 tcpdump -i eth0 -n -U -s 128 \
	    -w "$T/rst.pcap" "tcp port $SRVPORT and (tcp[13] & 4 != 0 or (ip6 and ip6[53] & 4 != 0))"
fi

# AA=1: the daemon knows sync.mode and defer_timeout_ms. Without them the
# test goes on (as active/backup, which has no defer) to show what fails.
AA=1
write_config 1 active-active 0
if ctg_quiet "$CTGUARDD" -t -c "$T/gw1.conf" -R "$RULES" 2>"$T/conftest.out"; then
	ctg_ok "ctguardd -t accepts sync.mode = \"active-active\" and defer_timeout_ms"
else
	ctg_not_ok "ctguardd -t accepts sync.mode and defer_timeout_ms ($(head -c 200 "$T/conftest.out"))"
	AA=0
fi
aa() { [ "$AA" = 1 ] && echo active-active; }

ha_corosync_conf "$T/corosync.conf" 2 5
ha_corosync_start 1 "$T/corosync.conf" "$T/corosync1.log"
ha_corosync_start 2 "$T/corosync.conf" "$T/corosync2.log"
if ctg_wait_for 20 ha_cs_members_eq 1 2 && ctg_wait_for 5 ha_cs_members_eq 2 2; then
	ctg_ok "corosync: gw1 and gw2 joined"
else
	die "corosync: gw1 and gw2 form a membership"
fi

ctg_bg "$HA_NS_SRV" "$T/serve.out" timeout 400 python3 "$H" serve \
    "$SRVPORT" "$CTLPORT" "$RATEPORT" --backlog 1024 --timeout 300
ctg_bg "$HA_NS_SRV" "$T/udpecho.out" timeout 400 python3 "$H" udpecho "$UDPPORT"
ctg_wait_for 10 ip netns exec "$HA_NS_SRV" python3 "$H" connects 127.0.0.1 "$SRVPORT" ||
    die "server listens"

# --- 1. control: no defer ---------------------------------------------------------------
restart_pair "$(aa)" 0 || die "ctguardd on gw1 and gw2, one group of two (defer_timeout_ms = 0)"
ctg_ok "ctguardd runs on gw1 and gw2: $(hs 1 mode) (defer_timeout_ms $(hs 1 defer_timeout_ms)), strict midstream"
NCTL=8
read -r c4ok c4fail _ < <(PYT=40 py_cli opens "$HA_SRV4" "$CTLPORT" "$NCTL" 0.7)
read -r c6ok c6fail _ < <(PYT=40 py_cli opens "$HA_SRV6" "$CTLPORT" "$NCTL" 0.7)
sleep 0.5
CTLDROPS=$(drops "$B" "$CTLPORT")
SYNACK_DROPS=$(q "$B" "SELECT count(*) FROM verdicts WHERE verdict = 'drop'
    AND sport = $CTLPORT AND tcp_flags = 'SA'")
echo "# control: opened within 0.7 s: IPv4 ${c4ok:-?}/$NCTL, IPv6 ${c6ok:-?}/$NCTL; gw$B drops: ${CTLDROPS:-?}"
ctg_check "1: without defer, most connections fail to open in 0.7 s (failed: IPv4 ${c4fail:-?}, IPv6 ${c6fail:-?} of $NCTL each)" \
    test "$((${c4fail:-0} + ${c6fail:-0}))" -ge "$NCTL"
ctg_check "1: without defer, gw$B dropped the SYN/ACKs it did not know ($SYNACK_DROPS SYN/ACK drops; reasons ${CTLDROPS:-?})" \
    test "${SYNACK_DROPS:-0}" -ge "$NCTL"

# --- 2. defer on -------------------------------------------------------------------------
restart_pair "$(aa)" "$DEFER_MS" || die "ctguardd on gw1 and gw2 restarted with defer_timeout_ms = $DEFER_MS"
ctg_check "2: both gateways run $(aa || echo '(mode unknown)') with defer_timeout_ms $DEFER_MS" \
    eval 'hs_eq 1 mode active-active && hs_eq 2 mode active-active &&
        hs_eq 1 defer_timeout_ms "$DEFER_MS" && hs_eq 2 defer_timeout_ms "$DEFER_MS"'
ctg_bg "$HA_NS_CLI" "$T/idle4.out" timeout 200 python3 "$H" idle "$HA_SRV4" "$SRVPORT" \
    41001 "$T/trig4" 180 "$T/idle4.log"
IDLE4=$CTG_BG_PID
ctg_bg "$HA_NS_CLI" "$T/idle6.out" timeout 200 python3 "$H" idle "$HA_SRV6" "$SRVPORT" \
    41002 "$T/trig6" 180 "$T/idle6.log"
IDLE6=$CTG_BG_PID
ctg_check "2: idle connections (IPv4, IPv6) open" \
    ctg_wait_for 15 eval 'grep -q "^ok 0" "$T/idle4.log" && grep -q "^ok 0" "$T/idle6.log"'
IDLE_T0=$SECONDS

# the short and the bulk connections' headers at both ends, for the
# failure message
CAPS=()
if command -v tcpdump >/dev/null; then
	for ns in cli srv; do
		[ "$ns" = cli ] && nsn=$HA_NS_CLI || nsn=$HA_NS_SRV
		ctg_bg "$nsn" "$T/opens-$ns.out" timeout 200 tcpdump -i eth0 -n -U -s 96 \
		    -w "$T/opens-$ns.pcap" "tcp port $SRVPORT"
		CAPS+=("$CTG_BG_PID")
	done
	sleep 0.5
fi
read -r o4 _ p4 m4 < <(PYT=60 py_cli opens "$HA_SRV4" "$SRVPORT" 20 3)
# p50 under 900 ms: most open with no SYN or SYN/ACK retransmission (the
# control's fail); max under 2.5 s: at most one, which is what a held
# packet's timeout costs when the ring is slow for a while (4 counts them;
# seen in 2 of 30 runs on this 2-vCPU VM, with the sync lag p50 at 15-20 ms
# for the whole run instead of 3-5)
opens_ok() {
	[ "${1:-0}" = 20 ] && python3 -c "import sys; sys.exit(not (float(sys.argv[1]) < 900 and float(sys.argv[2]) < 2500))" "${2:-9999}" "${3:-9999}"
}
ctg_check "2: 20 short TCP connections over IPv4 open (${o4:-0} opened, p50 ${p4:-?} ms < 900, max ${m4:-?} ms < 2500)" \
    opens_ok "${o4:-0}" "${p4:-}" "${m4:-}"
read -r o6 _ p6 m6 < <(PYT=60 py_cli opens "$HA_SRV6" "$SRVPORT" 20 3)
ctg_check "2: 20 short TCP connections over IPv6 open (${o6:-0} opened, p50 ${p6:-?} ms < 900, max ${m6:-?} ms < 2500)" \
    opens_ok "${o6:-0}" "${p6:-}" "${m6:-}"

NB=$((20 * 1024 * 1024))
for fam in 4 6; do
	if [ "$fam" = 4 ]; then dst=$HA_SRV4; else dst=$HA_SRV6; fi
	t0=$(date +%s%N)
	PYT=150 py_cli put "$dst" "$SRVPORT" "$NB" --seed "$fam" --timeout 20 >"$T/put$fam.out" 2>&1 &
	pput=$!
	PYT=150 py_cli get "$dst" "$SRVPORT" "$NB" $((fam + 10)) --timeout 20 >"$T/get$fam.out" 2>&1 &
	pget=$!
	wait "$pput"; rput=$?
	wait "$pget"; rget=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	BULKMS="${BULKMS:-}${BULKMS:+, }IPv$fam $ms ms"
	ctg_check "2: IPv$fam bulk, 20 MB each way at once, arrives intact (upload exit $rput, download exit $rget; 3 = RST; $ms ms)" \
	    test "$rput" = 0 -a "$rget" = 0
done
sleep 0.3
for pid in "${CAPS[@]}"; do ctg_stop "$pid" 2; done

# the idle connections have been idle since they opened, at least 5 s
while [ $((SECONDS - IDLE_T0)) -lt 6 ]; do sleep 0.5; done
echo echo >"$T/trig4.1"
echo echo >"$T/trig6.1"
ctg_check "2: the idle connections echo after $((SECONDS - IDLE_T0)) s (IPv4, IPv6)" \
    ctg_wait_for 10 eval 'grep -q "^ok 1" "$T/idle4.log" && grep -q "^ok 1" "$T/idle6.log"'

UDPOK=0
for i in 1 2 3 4 5; do
	py_cli udpflow "$HA_SRV4" "$UDPPORT" $((42000 + i)) >>"$T/udp.out" 2>&1 && UDPOK=$((UDPOK + 1))
	py_cli udpflow "$HA_SRV6" "$UDPPORT" $((42100 + i)) >>"$T/udp.out" 2>&1 && UDPOK=$((UDPOK + 1))
done
UDPFIRST=$(grep -c "no reply" "$T/udp.out")
ctg_check "2: UDP flows (requests via gw$A, replies via gw$B) get their replies ($UDPOK of 10 flows; first requests unanswered: $UDPFIRST)" \
    test "$UDPOK" = 10 -a "$UDPFIRST" = 0

sleep 0.5
R_CLI=$(ha_rst_count "$HA_NS_CLI") R_SRV=$(ha_rst_count "$HA_NS_SRV")
ctg_check "2: no RST reached or left either end on the checked connections (client $R_CLI, server $R_SRV)" \
    test "$R_CLI" = 0 -a "$R_SRV" = 0
if [ "$R_CLI" != 0 ] || [ "$R_SRV" != 0 ]; then
	# which connections: the gateways' summaries of those a RST ended
	# (history: upper case the originator's packets, lower case the
	# responder's; r = a RST the gateway passed)
	for n in 1 2; do
		q "$n" "SELECT 'gw$n reset: ' || src || ' ' || sport || ' > ' || dst || ' ' || dport ||
		    ' history ' || history || ' orig ' || orig_pkts || '/' || orig_bytes ||
		    ' resp ' || resp_pkts || '/' || resp_bytes || ' lasted ' ||
		    ((last_us - first_us) / 1000) || ' ms'
		    FROM connections WHERE proto = 6 AND end_reason = 'reset'
		    AND (sport = $SRVPORT OR dport = $SRVPORT)" | sed 's/^/# /'
		# a RST ends a connection only after its grace: the live
		# entries that saw one, and every packet dropped meanwhile
		ctl "$n" connections --port "$SRVPORT" --json 2>&1 | grep -E '"history":"[^"]*[rR]' |
		    sed "s/^/# gw$n live: /"
		q "$n" "SELECT 'gw$n drop: ' || time_us || ' ' || src || ' ' || sport || ' > ' || dst || ' ' ||
		    dport || ' ' || coalesce(tcp_flags, '') || ' ' || reason FROM verdicts
		    WHERE verdict != 'accept' AND (sport = $SRVPORT OR dport = $SRVPORT)" | sed 's/^/# /'
	done
	[ -s "$T/rst.pcap" ] && timeout 10 tcpdump -r "$T/rst.pcap" -n -tt -S 2>/dev/null |
	    sed 's/^/# at the client: /'
	# a RST'd connection: its last packets as each end saw them
	for p in $(timeout 10 tcpdump -r "$T/rst.pcap" -n 2>/dev/null |
	    sed -n 's/.* IP6\{0,1\} [^ ]*\.\([0-9]*\) > [^ ]*\.\([0-9]*\): Flags \[R.*/\1 \2/p' |
	    tr ' ' '\n' | grep -vx "$SRVPORT" | sort -u); do
		for ns in cli srv; do
			[ -s "$T/opens-$ns.pcap" ] && timeout 10 tcpdump -r "$T/opens-$ns.pcap" -n -tt -S \
			    "port $p" 2>/dev/null | tail -n 30 | sed "s/^/# port $p at the $ns: /"
		done
	done
fi
ctg_check "2: no end saw a reset (server log)" eval '! grep -q "reset" "$T/serve.out"'

# --- 3. an out-of-window RST crossing gw2 -----------------------------------------------------
for fam in 4 6; do
	if [ "$fam" = 4 ]; then cli=$HA_CLI4 cport=41001; else cli=$HA_CLI6 cport=41002; fi
	timeout 30 ip netns exec "$HA_NS_SRV" "$PYSCAPY" "$H" rstinject "$cli" "$cport" "$SRVPORT" \
	    "$T/trig$fam.2" "$T/idle$fam.log" >"$T/inject$fam.out" 2>&1
	rc=$?
	ctg_check "3: RST injected from the server's side into the idle IPv$fam connection (exit $rc)" \
	    test "$rc" = 0
	echo echo >"$T/trig$fam.3"
	ctg_check "3: the IPv$fam connection echoes after the injected RST" \
	    ctg_wait_for 10 grep -q "^ok 3" "$T/idle$fam.log"
	ctg_check "3: gw$B dropped the IPv$fam RST: tcp_rst_out_of_window in its audit log (verdicts)" \
	    ctg_wait_for 5 qge "$B" "SELECT count(*) FROM verdicts WHERE sport = $SRVPORT AND dport = $cport
	        AND family = $fam AND tcp_flags = 'R' AND verdict = 'drop' AND reason = 'tcp_rst_out_of_window'" 1
done
# the server's OUTPUT counted the injected RSTs; the client's INPUT must not
R_CLI2=$(ha_rst_count "$HA_NS_CLI") R_SRV2=$(ha_rst_count "$HA_NS_SRV")
ctg_check "3: the two RSTs left the server ($((R_SRV2 - R_SRV)) counted) and none reached the client ($((R_CLI2 - R_CLI)))" \
    test "$((R_SRV2 - R_SRV))" = 2 -a "$R_CLI2" = "$R_CLI"

for n in 1 2; do
	echo "# gw$n drops on port $SRVPORT: $(drops "$n" "$SRVPORT"), on $UDPPORT: $(drops "$n" "$UDPPORT")"
	# with defer, a SYN/ACK the gateway did not know is a SYN held too
	# briefly (defer_timeouts) or a gap worth a look
	q "$n" "SELECT 'gw$n dropped a SYN/ACK: ' || time_us || ' ' || src || ' ' || sport || ' > ' ||
	    dst || ' ' || dport || ' ' || reason FROM verdicts WHERE verdict = 'drop'
	    AND tcp_flags = 'SA' AND sport = $SRVPORT" | sed 's/^/# /'
done

# --- 4. ha status -----------------------------------------------------------------------------
for n in 1 2; do
	echo "# gw$n ha status: mode $(hs $n mode) deferred $(hs $n deferred) defer_held $(hs $n defer_held)" \
	    "defer_timeouts $(hs $n defer_timeouts) defer_overflows $(hs $n defer_overflows)" \
	    "defer_wait p50 $(hs $n defer_wait_p50_us) us p99 $(hs $n defer_wait_p99_us) us" \
	    "merged $(hs $n merged) relearned $(hs $n relearned) lag p50 $(hs $n lag_p50_ms) ms p99 $(hs $n lag_p99_ms) ms"
	# the bound on timeouts: a held packet waits for a corosync round trip,
	# which on a loaded machine (and under the sanitizers) now and then
	# exceeds 20 ms, for a whole run (2 of 30 runs here: 18 and 24 of
	# about 160); a timeout releases the packet, and the worst it costs is
	# a retransmission, which the checks of 2 (open times, transfers, RSTs,
	# first UDP replies) would show. What is asserted is that the group's
	# acks, not the timeout, let most packets go: a speed figure belongs
	# to make bench, and the timeouts are printed above
	ctg_check "4: gw$n: mode active-active, deferred > 0 ($(hs $n deferred)), defer_timeouts <= 25% of them ($(hs $n defer_timeouts)), defer_overflows 0 ($(hs $n defer_overflows)), none held now" \
	    eval 'hs_eq $n mode active-active && num_gt "$(hs $n deferred)" 0 &&
	        to=$(hs $n defer_timeouts) && [ -n "$to" ] && [ "$((to * 4))" -le "$(hs $n deferred)" ] &&
	        hs_eq $n defer_overflows 0 && hs_eq $n defer_held 0'
done
W50_1=$(hs 1 defer_wait_p50_us) W99_1=$(hs 1 defer_wait_p99_us)
W50_2=$(hs 2 defer_wait_p50_us) W99_2=$(hs 2 defer_wait_p99_us)

touch "$T/trig4.stop" "$T/trig6.stop"
wait "$IDLE4"; r4=$?
wait "$IDLE6"; r6=$?
ctg_check "2: the idle connections close cleanly (exit $r4, $r6)" test "$r4" = 0 -a "$r6" = 0

# --- 5. connection rate: asymmetric, symmetric, active-backup ---------------------------------
# rate_round TAG: one time-bounded loop (4 threads) over IPv4; appends
# "TAG rate" to $T/rates
rate_round() {
	local ok err r
	read -r ok err r < <(PYT=$((RATE_SECS + 30)) py_cli rate "$HA_SRV4" "$RATEPORT" "$RATE_SECS" 4)
	echo "$1 ${r:-0} ${ok:-0} ${err:-?}" >>"$T/rates"
	echo "#   $1: ${r:-?} connections/s (${ok:-?} opened, ${err:-?} failed)"
}
echo "# connection rate, $RATE_ROUNDS rounds of $RATE_SECS s, 4 threads, load: $(cut -d' ' -f1-3 /proc/loadavg)"
# each round: active-active (asymmetric, then symmetric routes), then the
# daemons restarted as active-backup (symmetric); interleaved so that the
# machine's load changes alike for the three
AB=$([ "$AA" = 1 ] && echo active-backup)
for ((round = 1; round <= RATE_ROUNDS; round++)); do
	if [ "$round" -gt 1 ] && ! restart_pair "$(aa)" "$DEFER_MS"; then
		ctg_not_ok "5: ctguardd restarted as active-active (round $round)"
		break
	fi
	ha_routes "$A" "$B"; rate_round asym-aa
	ha_routes "$A" "$A"; rate_round sym-aa
	if ! restart_pair "$AB" 0; then
		ctg_not_ok "5: ctguardd restarted as active-backup (round $round)"
		break
	fi
	rate_round sym-ab
done
RATES=$(python3 - "$T/rates" <<'PY'
import sys, collections
r, bad = collections.defaultdict(list), 0
for line in open(sys.argv[1]):
    tag, rate, ok, err = line.split()
    r[tag].append(float(rate))
    bad += err != '0'
m = {k: sorted(v)[len(v) // 2] for k, v in r.items()}
ab = m.get('sym-ab') or float('nan')
# the ratio within each round too: the machine's load moves all three
per = ','.join('%.2f' % (a / b) if b else '-'
               for a, b in zip(r.get('asym-aa', []), r.get('sym-ab', [])))
print('%.0f %.0f %.0f %.2f %.2f %d %s' % (m.get('asym-aa', 0), m.get('sym-aa', 0), m.get('sym-ab', 0),
      m.get('asym-aa', 0) / ab, m.get('sym-aa', 0) / ab, bad, per or '-'))
PY
)
read -r RA RS RB QA QS RBAD QPER <<<"$RATES"
ctg_check "5: every rate round opened connections without failures (rounds with failures: ${RBAD:-?})" \
    eval '[ "${RBAD:-1}" = 0 ] && num_gt "${RA:-0}" 0 && num_gt "${RS:-0}" 0'

ctg_check "no sanitizer or crash report in any ctguardd log" \
    eval '! grep -l -E "AddressSanitizer|LeakSanitizer|runtime error:|SUMMARY: " "$T"/ctguardd.*.log'

echo "# --- measured in one run ($CTGUARDD, $SECONDS s) ---"
echo "# control (defer_timeout_ms 0): opened within 0.7 s IPv4 ${c4ok:-?}/$NCTL IPv6 ${c6ok:-?}/$NCTL; gw$B dropped ${SYNACK_DROPS:-?} SYN/ACKs"
echo "# defer_timeout_ms $DEFER_MS: short connections open p50 ${p4:-?}/${p6:-?} ms, max ${m4:-?}/${m6:-?} ms (IPv4/IPv6)"
echo "# bulk, 20 MB each way at once through the asymmetric pair: ${BULKMS:-?}"
echo "# defer wait per held packet: gw1 p50 ${W50_1:-?} us p99 ${W99_1:-?} us; gw2 p50 ${W50_2:-?} us p99 ${W99_2:-?} us"
echo "# connection rate (IPv4, 4 threads, median of $RATE_ROUNDS interleaved rounds of $RATE_SECS s): asymmetric active-active ${RA:-?}/s," \
    "symmetric active-active ${RS:-?}/s, symmetric active-backup ${RB:-?}/s (ratios to active-backup ${QA:-?}, ${QS:-?};" \
    "asymmetric to active-backup in each round: ${QPER:-?})"

if [ "$CTG_FAILS" -ne 0 ]; then
	dump
	[ -n "${HA_KEEP:-}" ] && cp -a "$T" "$HA_KEEP" && echo "# kept in $HA_KEEP"
fi
ctg_finish
