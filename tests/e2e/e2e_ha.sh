#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck disable=SC2016
# End to end: a ctguard gateway pair (issue 16). client -- gw1, gw2 (VRRP
# addresses on both LANs, keepalived with packaging/ha/ctguard-ha-notify;
# corosync over a sync LAN; ctguardd with midstream = "strict" and sync
# on) -- server. Built by tests/kit/ha.sh; e2e_ha_plumbing.sh checks the
# corosync and keepalived part alone.
#
#  A. gw1 primary, gw2 backup: paced bulk TCP over IPv4 (upload) and IPv6
#     (download), long-lived idle TCP connections (IPv4, IPv6), UDP flows
#     and a 1 ms UDP probe cross gw1; then kill -9 gw1's ctguardd and
#     keepalived. The addresses move to gw2; every transfer completes
#     intact, no end sees a RST, the idle connections echo, the UDP flows
#     answer (also answers the server sends first, from outside, after
#     the failover), gw2's audit log has no reject for them; gw2 drops an
#     out-of-window RST injected into a surviving connection with its
#     reason code.
#  B. gw1 comes back: its ctguardd rejoins the group and receives the bulk
#     transfer (last_bulk_entries, ha_bulk_received), keepalived makes it
#     backup (nopreempt). Then gw2's links go down (not a kill): gw1 takes
#     over again and the same checks hold with new transfers and the idle
#     connections of A, now on their third gateway crossing.
#  C. a third gateway's corosync and ctguardd join: three members, and the
#     newcomer receives the bulk transfer.
#  D. measured and printed: failover gap (largest interval without a
#     forwarded probe datagram), VRRP failover time, sync lag p50/p99 (from
#     "ctguard ha status"), sync bytes per 1,000 new connections.
#
# Environment: srcdir, builddir as for the other e2e tests.
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
ctg_require_tools ip iptables ip6tables python3 timeout unshare nsenter pgrep \
    sqlite3 corosync corosync-cmapctl keepalived ethtool
ctg_programs "$top" "$bld"
ctg_scapy_python
PYSCAPY=$CTG_PY
NOTIFY=$top/packaging/ha/ctguard-ha-notify

ctg_tmpdir
T=$CTG_TMPDIR
# the traffic tool: servers and clients run in the namespaces
H=$top/tests/kit/traffic.py
PROBE=$T/probe.py
ha_probe_py "$PROBE"
RULES=$T/gateway.rules
cp "$top/rules/default.rules" "$RULES"
SRVPORT=7000
UDPPORT=7001
PROBEPORT=7100

# --- helpers ----------------------------------------------------------------------
py_cli() { timeout "${PYT:-30}" ip netns exec "$HA_NS_CLI" python3 "$H" "$@"; }
py_srv() { timeout "${PYT:-30}" ip netns exec "$HA_NS_SRV" python3 "$H" "$@"; }
# udp_flows: the same two UDP flows (IPv4, IPv6) answer, each within 5 tries
udp_flows() {
	py_cli udpflow "$HA_SRV4" "$UDPPORT" 42001 --tries 5 &&
	    py_cli udpflow "$HA_SRV6" "$UDPPORT" 42002 --tries 5
}
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
hs_gt() { local v; v=$(hs "$1" "$2"); [ -n "$v" ] && python3 -c 'import sys; sys.exit(not float(sys.argv[1]) > float(sys.argv[2]))' "$v" "$3"; }

q() { sqlite3 -batch -noheader -cmd '.timeout 3000' "$T/gw$1.db" "$2" 2>/dev/null; }
qge() { local v; v=$(q "$1" "$2"); [ -n "$v" ] && [ "$v" -ge "$3" ]; }

# conns_on N SPORT...: gwN's table holds TCP connections from each SPORT
# that have carried data both ways
conns_on() {
	local n=$1
	shift
	ctl "$n" connections --json 2>/dev/null | python3 -c '
import json, sys
want = set(int(p) for p in sys.argv[1:])
for line in sys.stdin:
    c = json.loads(line)
    if c["proto"] == 6 and c["sport"] in want and c["resp_bytes"] > 0 and c["orig_bytes"] > 0:
        want.discard(c["sport"])
sys.exit(1 if want else 0)' "$@"
}

SYNC_OK=1
write_config() {
	# write_config N: gwN's ctguard.conf
	cat >"$T/gw$1.conf" <<EOF
queue = { first = 0; count = 1; };
tracker = { midstream = "strict"; };
log = { database = "$T/gw$1.db"; policy = "all"; };
daemon = {
	user = "";
	pidfile = "$T/gw$1.pid";
	control_socket = "$T/gw$1.sock";
	control_mode = "0600";
};
rules = { files = [ "$RULES" ]; };
EOF
	[ "$SYNC_OK" = 1 ] && cat >>"$T/gw$1.conf" <<EOF
sync = { enabled = true; group = "ctguard"; interval_ms = 100;
	max_updates = 128; node_name = "gw$1"; };
EOF
	return 0
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

# start_keepalived N PRIORITY
start_keepalived() {
	ha_keepalived_conf "$T/keepalived$1.conf" "$1" "$2" \
	    "$NOTIFY -s $T/gw$1.sock --ctguard $CTGUARD --log $T/notify$1.log"
	ha_keepalived_start "$1" "$T/keepalived$1.conf" "$T/keepalived$1.log"
}

dump() {
	local f
	for f in "$T"/ctguardd.*.log "$T"/notify*.log "$T"/corosync*.log \
	    "$T"/keepalived*.log "$T"/*.out "$T"/idle*.log; do
		[ -f "$f" ] || continue
		echo "# --- $f (tail)"
		tail -n 12 "$f" | sed 's/^/#   /'
	done
}

# die: report, show the logs, stop here (the trap cleans up)
die() {
	ctg_not_ok "$*"
	dump
	[ -n "${HA_KEEP:-}" ] && cp -a "$T" "$HA_KEEP" && echo "# kept in $HA_KEEP"
	ctg_finish
}

# flows_clean N PORTS...: gwN's audit log has no reject for the test's
# flows; prints its drops of them (TCP repeats a dropped segment).
flows_clean() {
	local n=$1 list
	shift
	list=$(IFS=,; echo "$*")
	local drops
	drops=$(q "$n" "SELECT count(*) || ' (' || coalesce(group_concat(DISTINCT reason), '-') || ')'
	    FROM verdicts WHERE verdict = 'drop' AND (sport IN ($list) OR dport IN ($list))
	    AND coalesce(reason, '') <> 'tcp_rst_out_of_window'")
	echo "# gw$n drops of the test flows: ${drops:-none}"
	qge "$n" "SELECT count(*) = 0 FROM verdicts WHERE verdict = 'reject'
	    AND (sport IN ($list) OR dport IN ($list))" 1
}

# probe_start SECONDS TAG: 1 ms UDP probe client -> server, sink writes $T/gap.TAG
probe_start() {
	rm -f "$T/gap.$2"
	ctg_bg "$HA_NS_SRV" "$T/sink.$2.out" timeout $(($1 + 15)) \
	    python3 "$PROBE" sink "$PROBEPORT" $(($1 + 10)) "$T/gap.$2"
	sleep 0.3
	ctg_bg "$HA_NS_CLI" "$T/send.$2.out" timeout $(($1 + 5)) \
	    python3 "$PROBE" send "$HA_SRV4" "$PROBEPORT" "$1"
	PROBE_PID=$CTG_BG_PID
}

# probe_gap TAG: waits for the probe; sets GAP_N, GAP_MS
probe_gap() {
	wait "$PROBE_PID" 2>/dev/null
	ctg_wait_for 5 test -s "$T/gap.$1"
	GAP_N=0 GAP_MS=
	read -r GAP_N GAP_MS _ <"$T/gap.$1" 2>/dev/null
}

# --- topology, corosync, daemons, keepalived ----------------------------------------
ha_topology 3 || die "cannot build the namespace topology"
ctg_ok "topology: client, server, switch, gw1..gw3 ($HA_PREFIX*)"
for n in 1 2 3; do
	ctg_quiet "$SETUP" install --netns "$(ha_ns "$n")" --queues 0:1 ||
	    die "ctguard-setup install in gw$n"
done

write_config 1
if ctg_quiet "$CTGUARDD" -t -c "$T/gw1.conf" -R "$RULES" 2>"$T/conftest.out"; then
	ctg_ok "ctguardd -t accepts the sync section"
else
	# go on without it: the steps below show what fails without sync
	ctg_not_ok "ctguardd -t accepts the sync section ($(head -c 200 "$T/conftest.out"))"
	SYNC_OK=0
	write_config 1
fi
for n in 2 3; do write_config "$n"; done

ha_corosync_conf "$T/corosync.conf" 3
ha_corosync_start 1 "$T/corosync.conf" "$T/corosync1.log"
ha_corosync_start 2 "$T/corosync.conf" "$T/corosync2.log"
if ctg_wait_for 20 ha_cs_members_eq 1 2 && ctg_wait_for 5 ha_cs_members_eq 2 2; then
	ctg_ok "corosync: gw1 and gw2 joined"
else
	die "corosync: gw1 and gw2 form a membership"
fi

start_daemon 1 || die "ctguardd on gw1 answers"
start_daemon 2 || die "ctguardd on gw2 answers"
ctg_ok "ctguardd runs on gw1 and gw2 (strict midstream)"
ctg_check "ha status: gw1 and gw2 connected, both see 2 members of group ctguard" \
    ctg_wait_for 10 eval 'hs_eq 1 members 2 && hs_eq 2 members 2 && hs_eq 1 group ctguard &&
        hs_eq 1 connected true && hs_eq 2 connected true'

start_keepalived 1 150
ha_wait_vip 1 10 >/dev/null || die "gw1 takes the virtual addresses"
start_keepalived 2 100
ctg_check "keepalived: gw1 holds the addresses, the hook made it primary (ha status role)" \
    ctg_wait_for 10 hs_eq 1 role primary
ctg_check "keepalived: gw2 is backup (hook: BACKUP -> ctguard ha backup)" \
    ctg_wait_for 10 eval 'hs_eq 2 role backup && grep -q "BACKUP: ctguard ha backup: ok" "$T/notify2.log"'
ctg_check "the role change is in gw1's audit log (ha_role event)" \
    ctg_wait_for 5 qge 1 "SELECT count(*) FROM events WHERE kind = 'ha_role'" 1

ctg_bg "$HA_NS_SRV" "$T/serve.out" timeout 300 python3 "$H" serve "$SRVPORT" \
    --backlog 512 --timeout 120
ctg_bg "$HA_NS_SRV" "$T/udpecho.out" timeout 300 python3 "$H" udpecho "$UDPPORT"
ctg_wait_for 10 ip netns exec "$HA_NS_SRV" python3 "$H" connects 127.0.0.1 "$SRVPORT" ||
    die "server listens"

# --- A. kill -9 the primary ------------------------------------------------------------
# idle connections, open across every failover of the test
ctg_bg "$HA_NS_CLI" "$T/idle4.out" timeout 200 "$PYSCAPY" "$H" idle "$HA_SRV4" "$SRVPORT" \
    41001 "$T/trig4" 180 "$T/idle4.log"
IDLE4=$CTG_BG_PID
ctg_bg "$HA_NS_CLI" "$T/idle6.out" timeout 200 "$PYSCAPY" "$H" idle "$HA_SRV6" "$SRVPORT" \
    41002 "$T/trig6" 180 "$T/idle6.log"
IDLE6=$CTG_BG_PID
ctg_check "idle connections (IPv4, IPv6) established through gw1" \
    ctg_wait_for 10 eval 'grep -q "^ok 0" "$T/idle4.log" && grep -q "^ok 0" "$T/idle6.log"'
ctg_check "UDP flows answer through gw1 (IPv4, IPv6)" \
    udp_flows

NB=3145728      # bytes per paced transfer: 192 chunks of 16 KB, 0.04 s apart (~8 s)
probe_start 10 a
PYT=60 py_cli put "$HA_SRV4" "$SRVPORT" "$NB" --sport 41011 --chunk 16384 \
    --delay 0.04 --timeout 15 >"$T/putA.out" 2>&1 &
PUTA=$!
PYT=60 py_cli sget "$HA_SRV6" "$SRVPORT" "$NB" 5 41012 16384 0.04 >"$T/sgetA.out" 2>&1 &
SGETA=$!
# answered from outside 4 s later, through gw2
PYT=30 py_cli udplater "$HA_SRV4" "$UDPPORT" 42011 4 "$T/readyA4" >"$T/laterA4.out" 2>&1 &
LATERA4=$!
PYT=30 py_cli udplater "$HA_SRV6" "$UDPPORT" 42012 4 "$T/readyA6" >"$T/laterA6.out" 2>&1 &
LATERA6=$!
# everything under way (python starts slowly on a loaded machine) and in
# gw2's table before the crash
ctg_check "A: the transfers are under way through gw1" \
    ctg_wait_for 15 conns_on 1 41011 41012
ctg_check "A: gw2's table holds them too (applied from gw1's updates)" \
    ctg_wait_for 5 conns_on 2 41011 41012 41001 41002
ctg_wait_for 10 test -e "$T/readyA4" -a -e "$T/readyA6"
sleep 0.5
ctg_check "gw2 applied gw1's updates before the crash (updates_applied > 0)" \
    hs_gt 2 updates_applied 0
echo "# before the crash, gw2: lag p50 $(hs 2 lag_p50_ms) ms, p99 $(hs 2 lag_p99_ms) ms, $(hs 2 msgs_received) msgs, $(hs 2 bytes_received) bytes received"

ctg_check "A: both transfers still run when gw1 is killed" \
    eval 'kill -0 "$PUTA" && kill -0 "$SGETA"'
# the crash: both of gw1's daemons killed with -9 (its queue, without a
# reader, drops everything it would forward: it fails closed). keepalived
# killed with -9 leaves the addresses on gw1's interfaces, where its
# kernel would go on answering ARP and neighbour solicitations for them
# and win hosts back to a gateway that drops everything; a gateway that
# really crashed answers nothing, so they are taken off too.
kill -KILL "${DPID[1]}"
ha_keepalived_kill 1
ha_vip_drop 1
if VRRP_A=$(ha_wait_vip 2 10); then
	ctg_ok "VRRP: gw2 holds the addresses ${VRRP_A} ms after the kill"
else
	VRRP_A=-
	ctg_not_ok "VRRP: gw2 takes the addresses"
fi
ctg_check "gw2's hook made it primary (MASTER -> ctguard ha primary)" \
    ctg_wait_for 5 eval 'hs_eq 2 role primary && grep -q "MASTER: ctguard ha primary: ok" "$T/notify2.log"'

wait "$PUTA"; rc=$?
ctg_check "A: 3 MB IPv4 upload across the failover arrives intact (exit $rc; 3 = RST)" test "$rc" = 0
wait "$SGETA"; rc=$?
ctg_check "A: 3 MB IPv6 download across the failover arrives intact (exit $rc; 3 = RST)" test "$rc" = 0
echo inject >"$T/trig4.1"
echo echo >"$T/trig6.1"
ctg_check "A: the idle IPv4 connection echoes through gw2 after an injected out-of-window RST" \
    ctg_wait_for 15 grep -q "^ok 1" "$T/idle4.log"
ctg_check "A: the idle IPv6 connection echoes through gw2" \
    ctg_wait_for 10 grep -q "^ok 1" "$T/idle6.log"
ctg_check "A: gw2 dropped the injected RST: reason tcp_rst_out_of_window in its audit log" \
    ctg_wait_for 5 qge 2 "SELECT count(*) FROM verdicts WHERE sport = 41001
        AND verdict = 'drop' AND reason = 'tcp_rst_out_of_window'" 1
ctg_check "A: the UDP flows answer through gw2 (same ports: IPv4, IPv6)" \
    udp_flows
wait "$LATERA4"; r4=$?
wait "$LATERA6"; r6=$?
ctg_check "A: UDP answers sent from outside after the failover reach the client (exit $r4, $r6)" \
    test "$r4" = 0 -a "$r6" = 0
ctg_check "A: gw2 rejected none of the test's flows" \
    flows_clean 2 41001 41002 41011 41012 42001 42002 42011 42012
ctg_check "A: no end saw a RST (server side)" eval '! grep -q "reset" "$T/serve.out"'
probe_gap a
GAP_A=${GAP_MS:--}
ctg_check "A: the 1 ms probe crossed the failover (${GAP_N:-0} datagrams, largest gap ${GAP_A} ms < 3000)" \
    eval '[ "${GAP_N:-0}" -gt 2000 ] && python3 -c "import sys; sys.exit(not float(sys.argv[1]) < 3000)" "${GAP_A:-9999}"'

# --- B. gw1 returns, then gw2's links go down ---------------------------------------------
start_daemon 1 || die "ctguardd on gw1 restarts"
ctg_check "B: gw1 rejoined and received the bulk transfer (last_bulk_entries > 0)" \
    ctg_wait_for 15 hs_gt 1 last_bulk_entries 0
BULK1="$(hs 1 last_bulk_entries) entries in $(hs 1 last_bulk_ms) ms"
echo "# bulk transfer to gw1: $BULK1"
ctg_check "B: ha_bulk_received in gw1's audit log, ha_member_joined in gw2's" \
    ctg_wait_for 5 eval 'qge 1 "SELECT count(*) FROM events WHERE kind = '"'ha_bulk_received'"'" 1 &&
        qge 2 "SELECT count(*) FROM events WHERE kind = '"'ha_member_joined'"'" 1'
ctg_check "B: gw2 logged ha_member_left when gw1 died" \
    qge 2 "SELECT count(*) FROM events WHERE kind = 'ha_member_left'" 1
start_keepalived 1 150
ctg_check "B: gw1 comes back as backup and gw2 keeps the addresses (nopreempt)" \
    ctg_wait_for 10 eval 'hs_eq 1 role backup && sleep 1 && ha_vip_on 2 && ha_vip_off 1'

probe_start 10 b
PYT=60 py_cli put "$HA_SRV4" "$SRVPORT" "$NB" --sport 41021 --chunk 16384 \
    --delay 0.04 --timeout 15 >"$T/putB.out" 2>&1 &
PUTB=$!
PYT=60 py_cli sget "$HA_SRV6" "$SRVPORT" "$NB" 6 41022 16384 0.04 >"$T/sgetB.out" 2>&1 &
SGETB=$!
PYT=30 py_cli udplater "$HA_SRV4" "$UDPPORT" 42021 4 "$T/readyB4" >"$T/laterB4.out" 2>&1 &
LATERB4=$!
PYT=30 py_cli udplater "$HA_SRV6" "$UDPPORT" 42022 4 "$T/readyB6" >"$T/laterB6.out" 2>&1 &
LATERB6=$!
ctg_check "B: the transfers are under way through gw2 and in gw1's table" \
    eval 'ctg_wait_for 15 conns_on 2 41021 41022 && ctg_wait_for 5 conns_on 1 41021 41022 41001 41002'
ctg_wait_for 10 test -e "$T/readyB4" -a -e "$T/readyB6"
sleep 0.5
ctg_check "B: both transfers still run when gw2's links go down" \
    eval 'kill -0 "$PUTB" && kill -0 "$SGETB"'
# a cable pull rather than a crash: gw2's daemons live on, VRRP sees the
# links go and moves the addresses (the sync LAN stays up)
ip -n "$(ha_ns 2)" link set lan0 down
ip -n "$(ha_ns 2)" link set wan0 down
if VRRP_B=$(ha_wait_vip 1 10); then
	ctg_ok "VRRP: gw1 holds the addresses ${VRRP_B} ms after gw2's links went down"
else
	VRRP_B=-
	ctg_not_ok "VRRP: gw1 takes the addresses back"
fi
ctg_check "B: gw1 primary, gw2 fault (hooks: MASTER, FAULT)" \
    ctg_wait_for 5 eval 'hs_eq 1 role primary && hs_eq 2 role fault'
wait "$PUTB"; rc=$?
ctg_check "B: 3 MB IPv4 upload across the second failover arrives intact (exit $rc)" test "$rc" = 0
wait "$SGETB"; rc=$?
ctg_check "B: 3 MB IPv6 download across the second failover arrives intact (exit $rc)" test "$rc" = 0
echo echo >"$T/trig4.2"
echo echo >"$T/trig6.2"
ctg_check "B: the idle connections of A echo through gw1 (third gateway crossing)" \
    ctg_wait_for 10 eval 'grep -q "^ok 2" "$T/idle4.log" && grep -q "^ok 2" "$T/idle6.log"'
ctg_check "B: the UDP flows answer through gw1" \
    udp_flows
wait "$LATERB4"; r4=$?
wait "$LATERB6"; r6=$?
ctg_check "B: UDP answers sent from outside after the failover reach the client (exit $r4, $r6)" \
    test "$r4" = 0 -a "$r6" = 0
ctg_check "B: gw1 rejected none of the test's flows" \
    flows_clean 1 41001 41002 41021 41022 42001 42002 42021 42022
ctg_check "B: no end saw a RST (server side)" eval '! grep -q "reset" "$T/serve.out"'
probe_gap b
GAP_B=${GAP_MS:--}
ctg_check "B: the 1 ms probe crossed the failover (${GAP_N:-0} datagrams, largest gap ${GAP_B} ms < 3000)" \
    eval '[ "${GAP_N:-0}" -gt 2000 ] && python3 -c "import sys; sys.exit(not float(sys.argv[1]) < 3000)" "${GAP_B:-9999}"'
LAG50=$(hs 1 lag_p50_ms) LAG99=$(hs 1 lag_p99_ms)

# --- C. a third member ------------------------------------------------------------------
ha_corosync_start 3 "$T/corosync.conf" "$T/corosync3.log"
ctg_wait_for 20 ha_cs_members_eq 3 3 || ctg_not_ok "corosync: gw3 joins (3 members)"
if start_daemon 3; then
	ctg_check "C: three members in the group (gw1's and gw3's ha status)" \
	    ctg_wait_for 10 eval 'hs_eq 1 members 3 && hs_eq 3 members 3'
	ctg_check "C: gw3 received the bulk transfer (last_bulk_entries > 0, ha_bulk_received)" \
	    ctg_wait_for 15 eval 'hs_gt 3 last_bulk_entries 0 &&
	        qge 3 "SELECT count(*) FROM events WHERE kind = '"'ha_bulk_received'"'" 1'
	BULK3="$(hs 3 last_bulk_entries) entries in $(hs 3 last_bulk_ms) ms"
	echo "# bulk transfer to gw3: $BULK3"
else
	ctg_not_ok "C: ctguardd on gw3 answers"
fi

# --- D. sync traffic per 1,000 new connections ------------------------------------------
b0=$(hs 1 bytes_sent) m0=$(hs 1 msgs_sent)
read -r cn cerr csecs < <(PYT=120 py_cli conns "$HA_SRV4" "$SRVPORT" 1000 8)
sleep 1     # the last coalescing interval
b1=$(hs 1 bytes_sent) m1=$(hs 1 msgs_sent)
ctg_check "D: 1000 new connections through gw1 (${cerr:-?} failed, ${csecs:-?} s)" \
    test "${cn:-0}" = 1000 -a "${cerr:-1}" = 0
if [ -n "$b0" ] && [ -n "$b1" ]; then
	SYNCB=$((b1 - b0)) SYNCM=$((${m1:-0} - ${m0:-0}))
else
	SYNCB=- SYNCM=-
fi
ctg_check "D: the connections were sent to the group (bytes_sent grew: $SYNCB)" \
    test "$SYNCB" != - -a "${SYNCB:-0}" != 0

# --- the end ------------------------------------------------------------------------------
touch "$T/trig4.stop" "$T/trig6.stop"
wait "$IDLE4"; r4=$?
wait "$IDLE6"; r6=$?
ctg_check "the idle connections close cleanly at the end (exit $r4, $r6)" \
    test "$r4" = 0 -a "$r6" = 0
ctg_check "no member met a message it could not decode (decode_errors 0 on gw1..gw3)" \
    eval 'hs_eq 1 decode_errors 0 && hs_eq 2 decode_errors 0 && hs_eq 3 decode_errors 0'
ctg_check "no sanitizer or crash report in any ctguardd log" \
    eval '! grep -l -E "AddressSanitizer|LeakSanitizer|runtime error:|SUMMARY: " "$T"/ctguardd.*.log'

echo "# --- measured in one run ($CTGUARDD, $SECONDS s) ---"
echo "# failover gap (largest interval without a forwarded 1 ms probe datagram):"
echo "#   kill -9 of ctguardd and keepalived: ${GAP_A} ms; links down: ${GAP_B} ms"
echo "# VRRP failover time (kill/link down -> VIPs on the peer, advert_int $HA_ADVERT s):"
echo "#   kill -9: ${VRRP_A} ms; links down: ${VRRP_B} ms"
echo "# sync lag on gw1 (change on one member to applied on another): p50 ${LAG50:-?} ms, p99 ${LAG99:-?} ms"
echo "# sync traffic for 1,000 new connections (opened and closed in ${csecs:-?} s, 8 threads):"
echo "#   ${SYNCB} bytes in ${SYNCM} messages$(python3 -c '
import sys
try:
    b, t = int(sys.argv[1]), float(sys.argv[2])
    print(", %.0f bytes per connection, %.0f connections/s, %.0f kB/s" % (b / 1000, 1000 / t, b / t / 1000))
except Exception:
    pass' "$SYNCB" "${csecs:-0}")"
echo "# bulk transfers: gw1 on rejoining ${BULK1:-?}, gw3 on joining ${BULK3:-?}"

if [ "$CTG_FAILS" -ne 0 ]; then
	dump
	# HA_KEEP=DIR: keep the logs, the audit databases and the configurations
	[ -n "${HA_KEEP:-}" ] && cp -a "$T" "$HA_KEEP" && echo "# kept in $HA_KEEP"
fi
ctg_finish
