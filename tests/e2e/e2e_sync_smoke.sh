#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# State sync, smoke test: two gateways, each with its own corosync (own
# network and mount namespace, knet over a veth sync link), each with a
# ctguardd joined to one CPG group. Connections that pass the first
# gateway appear in the second's table (applied updates, then a bulk
# transfer for a second daemon that joins late), and end there when they
# end on the first; ha status and the audit events say so. Then a takeover:
# a bulk transfer moves from gw to gw2 midway (routes switched, gw's
# ctguardd killed), and gw2, strict midstream, carries it on with the
# synced state.
#
#   client ---- gw (ctguardd, corosync 1) ---- server
#      \          | sync link 2001:db8:5::/64    /
#       `------ gw2 (ctguardd, corosync 2) -----'
#
# The full HA test (VRRP, failover, kill -9) is tests/e2e/e2e_ha.sh.

set -u

here=$(cd "$(dirname "$0")" && pwd)
top=${srcdir:-$here/../..}
top=$(cd "$top" && pwd)
bld=${builddir:-$PWD}
bld=$(cd "$bld" && pwd)
. "$top/tests/kit/netns.sh"

ctg_require_root
ctg_require_tools ip iptables ip6tables python3 timeout sqlite3 corosync unshare iperf3

ctg_programs "$top" "$bld"

ctg_tmpdir
T=$CTG_TMPDIR
NS_GW2="${CTG_PREFIX}gw2"
SRVPORT=7100

# --- corosync, one per gateway ------------------------------------------------
write_corosync() {
	# write_corosync FILE [SUC]: SUC is totem.seqno_unchanged_const, empty
	# for corosync's default (30)
	cat >"$1" <<EOF
totem {
	version: 2
	cluster_name: ctg$$
	transport: knet
	crypto_cipher: none
	crypto_hash: none
	token: 1000
${2:+	seqno_unchanged_const: $2}
}
nodelist {
	node {
		ring0_addr: 2001:db8:5::1
		nodeid: 1
		name: gw1
	}
	node {
		ring0_addr: 2001:db8:5::2
		nodeid: 2
		name: gw2
	}
}
quorum {
	provider: corosync_votequorum
	two_node: 1
}
logging {
	to_stderr: yes
	to_syslog: no
	to_logfile: no
}
EOF
}

start_corosync() {
	# start_corosync NS CONF LOG: its own /run and /var/lib/corosync
	ctg_bg "$1" "$3" unshare -m sh -c \
	    'mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var/lib/corosync &&
	     exec timeout 300 corosync -f -c "$0"' "$2"
}

write_config() {
	# write_config FILE DB SOCK NODE
	cat >"$1" <<EOF
queue = { first = 0; count = 1; };
tracker = { midstream = "strict"; };
log = { database = "$2"; policy = "decisions"; };
daemon = {
	user = "";
	pidfile = "$T/$4.pid";
	control_socket = "$3";
	control_mode = "0600";
	state_file = "$T/$4.snap";
	checkpoint_interval = 0;
};
rules = { files = [ "$top/rules/default.rules" ]; };
sync = { enabled = true; group = "ctg$$"; interval_ms = 50; node_name = "$4"; };
EOF
}

ctl1() { "$CTGUARD" -s "$T/ctl1.sock" "$@"; }
ctl2() { "$CTGUARD" -s "$T/ctl2.sock" "$@"; }

# json_key SOCK KEY: a number or bool of ha status --json
json_key() {
	"$CTGUARD" -s "$1" ha status --json | python3 -c \
	    'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(str(v).lower())' "$2"
}

members_are() { [ "$(json_key "$1" members)" = "$2" ]; }

# conn_on SOCK PORT: a TCP connection to the server's port is in the table
conn_on() { "$CTGUARD" -s "$1" connections --port "$2" | grep -q ESTABLISHED; }
no_conn_on() { ! "$CTGUARD" -s "$1" connections --port "$2" | grep -q "tcp"; }

queue_bound() {
	# shellcheck disable=SC2016
	ctg_in "$1" awk '$1 == 0 { f = 1 } END { exit !f }' /proc/net/netfilter/nfnetlink_queue
}

# --- topology --------------------------------------------------------------------
if ! ctg_topology; then
	echo "not ok - cannot build the namespace topology"
	exit 1
fi
ctg_netns_add "$NS_GW2" || { echo "not ok - cannot add $NS_GW2"; exit 1; }
ip -n "$CTG_NS_GW" link add sync0 type veth peer name sync0 netns "$NS_GW2" &&
ip -n "$CTG_NS_GW" addr add 2001:db8:5::1/64 dev sync0 nodad &&
ip -n "$NS_GW2" addr add 2001:db8:5::2/64 dev sync0 nodad &&
ip -n "$CTG_NS_GW" link set sync0 up && ip -n "$NS_GW2" link set sync0 up ||
    { echo "not ok - cannot build the sync link"; exit 1; }
# gw2's own links to the client and the server, used after the takeover
ip -n "$CTG_NS_CLI" link add eth1 type veth peer name cli1 netns "$NS_GW2" &&
ip -n "$CTG_NS_SRV" link add eth1 type veth peer name srv1 netns "$NS_GW2" &&
ctg_link_fifo "$CTG_NS_CLI" eth1 && ctg_link_fifo "$NS_GW2" cli1 &&
ctg_link_fifo "$CTG_NS_SRV" eth1 && ctg_link_fifo "$NS_GW2" srv1 &&
ip -n "$NS_GW2" addr add 198.51.100.3/24 dev cli1 &&
ip -n "$NS_GW2" addr add 203.0.113.3/24 dev srv1 &&
ip -n "$CTG_NS_CLI" link set eth1 up && ip -n "$CTG_NS_SRV" link set eth1 up &&
ip -n "$NS_GW2" link set cli1 up && ip -n "$NS_GW2" link set srv1 up &&
ctg_in "$NS_GW2" sysctl -q -w net.ipv4.ip_forward=1 ||
    { echo "not ok - cannot build gw2's links"; exit 1; }
ctg_ok "topology with a sync link $CTG_NS_GW / $NS_GW2"

# gw1 as packaging/ha/corosync.conf, gw2 with corosync's default: ctguardd
# reads the setting back and says what the default costs
write_corosync "$T/corosync1.conf" 1
write_corosync "$T/corosync2.conf"
start_corosync "$CTG_NS_GW" "$T/corosync1.conf" "$T/corosync1.log"
start_corosync "$NS_GW2" "$T/corosync2.conf" "$T/corosync2.log"

# the server: accept, then echo until the peer closes (bounded by timeout)
cat >"$T/srv.py" <<'EOF'
import socket, sys, threading
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
def echo(c):
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=echo, args=(c,), daemon=True).start()
EOF
# the client: hold a connection open, a line every 100 ms, for $2 seconds
cat >"$T/cli.py" <<'EOF'
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
end = time.time() + float(sys.argv[3])
while time.time() < end:
    s.sendall(b"x" * 100)
    s.recv(4096)
    time.sleep(0.1)
s.close()
print("done")
EOF
ctg_bg "$CTG_NS_SRV" "$T/srv.log" timeout 300 python3 "$T/srv.py" :: "$SRVPORT"

if ! ctg_quiet "$SETUP" install --netns "$CTG_NS_GW" --queues 0:1 ||
    ! ctg_quiet "$SETUP" install --netns "$NS_GW2" --queues 0:1; then
	echo "not ok - ctguard-setup install failed"
	exit 1
fi
write_config "$T/gw1.conf" "$T/audit1.db" "$T/ctl1.sock" gw1
write_config "$T/gw2.conf" "$T/audit2.db" "$T/ctl2.sock" gw2
ctg_check "ctguardd -t accepts a sync section" ctg_quiet "$CTGUARDD" -t -c "$T/gw1.conf"

ctg_bg "$CTG_NS_GW" "$T/ctguardd1.log" "$CTGUARDD" -f -c "$T/gw1.conf"
D1=$CTG_BG_PID
ctg_wait_for 15 queue_bound "$CTG_NS_GW" && ctg_wait_for 10 ctl1 status ||
    { echo "not ok - ctguardd on gw1 did not start"; tail "$T/ctguardd1.log"; exit 1; }
ctg_check "gw1 joins the CPG group alone" ctg_wait_for 30 members_are "$T/ctl1.sock" 1

# --- a connection before gw2's daemon runs: gw2 gets it by bulk transfer ------
ctg_bg "$CTG_NS_CLI" "$T/cli-early.log" timeout 60 python3 "$T/cli.py" "$CTG_SRV4" "$SRVPORT" 25
ctg_check "a connection through gw1 is tracked there" ctg_wait_for 10 conn_on "$T/ctl1.sock" "$SRVPORT"

ctg_bg "$NS_GW2" "$T/ctguardd2.log" "$CTGUARDD" -f -c "$T/gw2.conf"
D2=$CTG_BG_PID
ctg_wait_for 15 queue_bound "$NS_GW2" && ctg_wait_for 10 ctl2 status ||
    { echo "not ok - ctguardd on gw2 did not start"; tail "$T/ctguardd2.log"; exit 1; }
ctg_check "both daemons see two members" ctg_wait_for 30 members_are "$T/ctl2.sock" 2
ctg_check "gw2 received a bulk transfer" ctg_wait_for 10 \
    test "$(json_key "$T/ctl2.sock" bulk_received)" = 1
ctg_check "the early connection is in gw2's table (bulk)" \
    ctg_wait_for 10 conn_on "$T/ctl2.sock" "$SRVPORT"
ctg_check "gw1 sent the bulk" test "$(json_key "$T/ctl1.sock" bulk_sent)" = 1
ctg_check "ha status reads corosync's idle turns back (gw1: 1, gw2: the default 30)" \
    test "$(json_key "$T/ctl1.sock" totem_seqno_unchanged_const)/$(json_key "$T/ctl2.sock" totem_seqno_unchanged_const)" = 1/30
ctg_check "gw2's log says what corosync's default costs, gw1's does not" sh -c \
    "grep -q 'seqno_unchanged_const is 30' '$T/ctguardd2.log' && ! grep -q 'seqno_unchanged_const is' '$T/ctguardd1.log'"

# --- a connection while both run: updates ---------------------------------------
ctg_bg "$CTG_NS_CLI" "$T/cli-v6.log" timeout 60 python3 "$T/cli.py" "$CTG_SRV6" "$SRVPORT" 3
ctg_check "an IPv6 connection through gw1 appears on gw2 (updates)" \
    ctg_wait_for 10 sh -c "'$CTGUARD' -s '$T/ctl2.sock' connections --addr '$CTG_SRV6/128' | grep -q ESTABLISHED"
ctg_check "gw2 applied updates and measured the lag" \
    test "$(json_key "$T/ctl2.sock" updates_applied)" -gt 0
lag=$(json_key "$T/ctl2.sock" lag_p99_ms)
echo "# sync lag p99 ${lag} ms (interval 50 ms)"
ctg_check "gw2 refused no message" test "$(json_key "$T/ctl2.sock" decode_errors)" = 0
ctg_check "the IPv6 connection is closed on gw2 when it closes on gw1" ctg_wait_for 20 \
    sh -c "'$CTGUARD' -s '$T/ctl2.sock' connections --addr '$CTG_SRV6/128' | grep -q TIME_WAIT"

# --- roles, status, events ----------------------------------------------------------
ctg_check "ctguard ha backup is accepted" ctg_quiet ctl2 ha backup
ctg_check_fails "ctguard ha bogus is refused" ctl2 ha bogus
ctg_check "ha status shows the role" sh -c "'$CTGUARD' -s '$T/ctl2.sock' ha status | grep -qx 'role backup'"
ctg_check "status has the ha line" sh -c "'$CTGUARD' -s '$T/ctl2.sock' status | grep -q '^ha role backup members 2'"

# --- takeover: a bulk transfer moves to gw2 midway -------------------------------
ctg_bg "$CTG_NS_SRV" "$T/iperf3-s.log" timeout 60 iperf3 -s -1 -p 5201
sleep 0.5
ctg_bg "$CTG_NS_CLI" "$T/iperf3-c.json" timeout 60 iperf3 -c "$CTG_SRV4" -p 5201 -t 6 -J
IPERF=$CTG_BG_PID
sleep 2
ctg_check "the transfer's connections are on gw2 before the takeover" ctg_wait_for 5 \
    sh -c "'$CTGUARD' -s '$T/ctl2.sock' connections --port 5201 | grep -c ESTABLISHED | grep -qx 2"
# what keepalived and the routers would do: gw2 takes the traffic, gw dies
ctl1 stats | grep -E "^reason " | grep -vw 0 | sed 's/^/# gw1 before the takeover: /'
TAKEOVER_US=$(date +%s%6N)
ip -n "$CTG_NS_CLI" route replace default via 198.51.100.3 dev eth1 onlink &&
ip -n "$CTG_NS_SRV" route replace default via 203.0.113.3 dev eth1 onlink
kill -KILL "$D1" 2>/dev/null
ctl2 ha primary >/dev/null
ctg_check "gw2 sees gw leave" ctg_wait_for 30 members_are "$T/ctl2.sock" 1
wait "$IPERF"
rc=$?
ctg_check "the transfer completed through gw2 (iperf3 exit $rc)" test "$rc" -eq 0
python3 - "$T/iperf3-c.json" <<'PY' | sed 's/^/# /'
import json, sys
j = json.load(open(sys.argv[1]))
print("iperf3: %.2f Gbit/s received, %d retransmits, error: %s" % (
    j["end"]["sum_received"]["bits_per_second"] / 1e9,
    j["end"]["sum_sent"].get("retransmits", -1), j.get("error", "none")))
PY
# gw2 re-learns the edges only where the synced ones refuse a segment:
# not when the entry came with the out-of-order allowance (data crossed gw
# beyond a gap, e.g. reordered GSO super-packets, and the flight never
# drained since), within which the acks of the last interval pass strictly
relearned=$(json_key "$T/ctl2.sock" relearned)
accepted=$(ctl2 stats | awk '$1 == "verdict" && $2 == "accept" { print $3 }')
echo "# gw2 re-learned its edges from ${relearned} segments"
ctg_check "gw2 forwarded it from the synced state (accepted ${accepted:-0} packets)" \
    test "${accepted:-0}" -gt 10000
ctl2 stats | grep -E "^(verdict|reason) " | grep -vw 0 | sed 's/^/# gw2 /' | head -20
# when gw2 refused packets, after the takeover (ms), which way, which flags
TAKEOVER_US=$TAKEOVER_US
sleep 0.5
sqlite3 "$T/audit2.db" "select reason, direction, tcp_flags, count(*),
    min((time_us - $TAKEOVER_US) / 1000), max((time_us - $TAKEOVER_US) / 1000)
    from verdicts where verdict != 'accept' group by 1, 2, 3" 2>/dev/null |
    sed 's/^/# gw2 refused (reason|dir|flags|n|first ms|last ms): /'

ctg_stop "$D2" 10
ctg_check "gw2's audit log has ha_role and ha_bulk_received" sh -c \
    "[ \"\$(sqlite3 '$T/audit2.db' \"select count(distinct kind) from events where kind in ('ha_role','ha_bulk_received')\")\" = 2 ]"
ctg_check "gw1's audit log has ha_member_joined" sh -c \
    "[ \"\$(sqlite3 '$T/audit1.db' \"select count(*) from events where kind = 'ha_member_joined'\")\" -ge 1 ]"
ctg_check "gw2's audit log has ha_member_left (gw killed)" sh -c \
    "[ \"\$(sqlite3 '$T/audit2.db' \"select count(*) from events where kind = 'ha_member_left'\")\" -ge 1 ]"
ctg_check "gw2 recorded only the connections it forwarded (the takeover's two)" sh -c \
    "[ \"\$(sqlite3 '$T/audit2.db' 'select count(*) from connections where dport != 5201')\" = 0 ]"
ctg_check "no sanitizer reports" sh -c \
    "! grep -l -E 'AddressSanitizer|LeakSanitizer|runtime error:' '$T'/ctguardd*.log"
grep -h "sync" "$T"/ctguardd*.log | sed 's/^/# /' | head -20
ctg_finish
