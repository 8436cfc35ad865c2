#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end: ctguardd on a NAT gateway.
#
#   inside ns (cli) ---- gateway ns (gw) ---- outside ns (srv) ---- far ns
#   198.51.100.2, .3     MASQUERADE out srv0   203.0.113.2           203.0.113.66
#   2001:db8:1::2        DNAT port forwards    2001:db8:2::2         (MTU 1280 on
#                                                                     srv's side)
# Port forwards on 203.0.113.1 (and [2001:db8:2::1]):
#   tcp 2222 -> 198.51.100.2:3389   accepted by a rule written post-DNAT
#   tcp 2223 -> 198.51.100.2:3390   rejected (reject-inbound): RST
#   udp 2224 -> 198.51.100.2:3391   rejected: ICMP port unreachable
#   tcp [2001:db8:2::1]:2223 -> [2001:db8:1::2]:3390   rejected: RST
#
# Checked:
#  1. ctguard-setup puts the mark REJECT rules before the queue rule (v4, v6)
#     and remove restores the filter table exactly
#  2. MASQUERADE: the outside server sees the gateway's address
#  3. SNAT port remapping: two inside clients with the same source port at
#     once; the server sees two ports of 203.0.113.1; both are logged, and
#     "ctguard history --nat-addr 203.0.113.1 --nat-port P" names the
#     inside host behind the remapped port
#  4. DNAT accepted: the inside server sees the outside client; logged with
#     the public destination; ctguard connections shows live mappings
#  5. DNAT rejected: the outside client is refused at once (RST, ICMP port
#     unreachable) from the public address and port, and a capture of the
#     outside link holds no inside address, in headers or ICMP quotes
#  6. PMTU: a router beyond the gateway answers DF packets too big for its
#     next link; the ICMP error reaches the inside client translated, is
#     RELATED in ctguard's log and the transfer completes
#  7. queue rules with another reject mark than the daemon's: a rejected
#     packet that comes back is dropped and counted, not looped
#
# Environment: srcdir, builddir as in e2e_gateway.sh. Exit 0 pass, 1 fail,
# 77 skip (not root or a tool missing; CI=true fails instead).

set -u

here=$(cd "$(dirname "$0")" && pwd)
top=${srcdir:-$here/../..}
top=$(cd "$top" && pwd)
bld=${builddir:-$PWD}
bld=$(cd "$bld" && pwd)
# shellcheck source=../kit/netns.sh disable=SC1091
. "$top/tests/kit/netns.sh"

ctg_require_root
ctg_require_tools ip iptables ip6tables iptables-save ip6tables-save python3 timeout sqlite3

ctg_programs "$top" "$bld"
ctg_scapy_python
PYSCAPY=$CTG_PY

ctg_tmpdir
T=$CTG_TMPDIR
DB=$T/audit.db
SOCK=$T/ctl.sock
RULES=$T/nat.rules
H=$T/h.py
NS_FAR="${CTG_PREFIX}far"
CLI4B=198.51.100.3
FAR4=203.0.113.66
PUB4=$CTG_GWS4          # 203.0.113.1
PUB6=$CTG_GWS6          # 2001:db8:2::1
SRVPORT=7000

cat >"$H" <<'EOF'
import socket, sys, threading, time

def fam(host):
    return socket.AF_INET6 if ':' in host else socket.AF_INET

def readline(s):
    b = b''
    while not b.endswith(b'\n'):
        c = s.recv(1)
        if not c:
            break
        b += c
    return b

def handle(c, peer):
    try:
        c.settimeout(30)
        cmd = readline(c).split()
        if not cmd:
            return
        if cmd[0] == b'who':
            # the peer as this server sees it, IPv4-mapped form undone
            c.sendall(('%s %d\n' % (peer[0].replace('::ffff:', ''), peer[1])).encode())
            readline(c)
        elif cmd[0] == b'put':
            n, got = int(cmd[1]), 0
            while got < n:
                d = c.recv(65536)
                if not d:
                    break
                got += len(d)
            c.sendall(b'ok %d\n' % got)
    except OSError:
        pass
    finally:
        c.close()

def serve(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(('::', port))
    s.listen(64)
    while True:
        c, a = s.accept()
        threading.Thread(target=handle, args=(c, a), daemon=True).start()

def conn(host, port, src=None, sport=0, timeout=5):
    s = socket.socket(fam(host), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if src or sport:
        s.bind((src or '0.0.0.0', sport))
    s.settimeout(timeout)
    s.connect((host, port))
    return s

def who(host, port):
    s = conn(host, port)
    s.sendall(b'who\n')
    print(readline(s).decode().strip())
    s.sendall(b'bye\n')
    s.close()
    return 0

def pair(host, port, src1, src2, sport):
    # both open at once with the same source port: one must be remapped
    a = conn(host, port, src1, sport)
    b = conn(host, port, src2, sport)
    for s, src in ((a, src1), (b, src2)):
        s.sendall(b'who\n')
        print('%s %s' % (src, readline(s).decode().strip()))
    for s in (a, b):
        s.sendall(b'bye\n')
        s.close()
    return 0

def hold(host, port, sport, secs):
    s = conn(host, port, sport=sport)
    s.sendall(b'who\n')
    readline(s)
    time.sleep(secs)
    s.sendall(b'bye\n')
    s.close()
    return 0

def put(host, port, n):
    s = conn(host, port, timeout=20)
    s.sendall(b'put %d\n' % n)
    s.sendall(b'x' * n)
    r = readline(s).decode().strip()
    s.close()
    if r != 'ok %d' % n:
        print('put: %r' % r)
        return 1
    return 0

def refused(host, port):
    t = time.time()
    try:
        conn(host, port, timeout=4).close()
        print('connected')
        return 1
    except ConnectionRefusedError:
        dt = time.time() - t
        print('refused after %.3f s' % dt)
        return 0 if dt < 1.5 else 1
    except OSError as e:
        print('refused: %s' % e)
        return 1

def udprefused(host, port):
    s = socket.socket(fam(host), socket.SOCK_DGRAM)
    s.connect((host, port))
    s.settimeout(2)
    s.send(b'anyone?')
    try:
        s.recv(100)
    except ConnectionRefusedError:
        return 0
    except socket.timeout:
        print('udprefused: no ICMP error arrived')
    return 1

cmd, a = sys.argv[1], sys.argv[2:]
if cmd == 'serve':
    serve(int(a[0]))
elif cmd == 'who':
    sys.exit(who(a[0], int(a[1])))
elif cmd == 'pair':
    sys.exit(pair(a[0], int(a[1]), a[2], a[3], int(a[4])))
elif cmd == 'put':
    sys.exit(put(a[0], int(a[1]), int(a[2])))
elif cmd == 'hold':
    sys.exit(hold(a[0], int(a[1]), int(a[2]), float(a[3])))
elif cmd == 'refused':
    sys.exit(refused(a[0], int(a[1])))
elif cmd == 'udprefused':
    sys.exit(udprefused(a[0], int(a[1])))
sys.exit(2)
EOF

# The capture of the outside link (gateway <-> outside host), in the
# outside namespace, until the stop file appears (at most 240 s).
cat >"$T/sniff.py" <<'EOF'
import ipaddress, json, os, sys, time
from scapy.all import (AsyncSniffer, IP, IPv6, TCP, UDP, ICMP, IPerror, TCPerror,
                       UDPerror, IPerror6, conf)
conf.verb = 0
stop, out = sys.argv[1], sys.argv[2]
inside = [ipaddress.ip_network('198.51.100.0/24'), ipaddress.ip_network('2001:db8:1::/48')]
res = {'packets': 0, 'leaks': [], 'rst4': [], 'rst6': [], 'unreach': []}

def is_inside(a):
    try:
        a = ipaddress.ip_address(a)
    except ValueError:
        return False
    return any(a.version == n.version and a in n for n in inside)

def seen(p):
    res['packets'] += 1
    for layer in (IP, IPv6, IPerror, IPerror6):
        if layer in p:
            l = p[layer]
            if is_inside(l.src) or is_inside(l.dst):
                res['leaks'].append(p.summary())
    if TCP in p and p[TCP].flags & 0x04:
        if IP in p:
            res['rst4'].append('%s:%d' % (p[IP].src, p[TCP].sport))
        elif IPv6 in p:
            res['rst6'].append('[%s]:%d' % (p[IPv6].src, p[TCP].sport))
    if ICMP in p and p[ICMP].type == 3 and IPerror in p and UDPerror in p:
        res['unreach'].append('%s %d/%d quotes %s:%d' % (p[IP].src, p[ICMP].type,
            p[ICMP].code, p[IPerror].dst, p[UDPerror].dport))

sn = AsyncSniffer(iface='eth0', prn=seen, store=False)
sn.start()
open(stop + '.ready', 'w').close()
end = time.time() + 240
while time.time() < end and not os.path.exists(stop):
    time.sleep(0.2)
time.sleep(0.5)
sn.stop()
json.dump(res, open(out, 'w'))
EOF

q() {
	sqlite3 -batch -noheader -cmd '.timeout 3000' "$DB" "$1" 2>/dev/null
}
qge() {
	local v
	v=$(q "$1")
	[ -n "$v" ] && [ "$v" -ge "$2" ]
}
py_in() {
	local ns=$1
	shift
	timeout "${PYT:-20}" ip netns exec "$ns" python3 "$H" "$@"
}
ctl() {
	timeout 20 "$CTGUARD" -s "$SOCK" "$@"
}
queue_bound() {
	# shellcheck disable=SC2016
	ctg_in "$CTG_NS_GW" awk '$1 == 0 { f = 1 } END { exit !f }' \
	    /proc/net/netfilter/nfnetlink_queue
}
# filter table without counters: what remove must restore exactly
filter_rules() {
	ctg_in "$CTG_NS_GW" "$1" -t filter | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'
}

# --- topology: the shared three namespaces, a second inside client, NAT,
# and a far network behind the outside host with a smaller MTU -------------
if ! ctg_topology; then
	echo "not ok - cannot build the namespace topology"
	exit 1
fi
ctg_netns_add "$NS_FAR" || { echo "not ok - cannot add $NS_FAR"; exit 1; }
gw() { ip netns exec "$CTG_NS_GW" "$@"; }
if ! { ip -n "$CTG_NS_CLI" addr add "$CLI4B/24" dev eth0 &&
    ip -n "$CTG_NS_SRV" link add eth1 type veth peer name eth0 netns "$NS_FAR" &&
    ctg_link_fifo "$CTG_NS_SRV" eth1 && ctg_link_fifo "$NS_FAR" eth0 &&
    ip -n "$CTG_NS_SRV" addr add 203.0.113.65/26 dev eth1 &&
    ip -n "$NS_FAR" addr add "$FAR4/26" dev eth0 &&
    ip -n "$CTG_NS_SRV" link set eth1 mtu 1280 up &&
    ip -n "$NS_FAR" link set eth0 up &&
    ip -n "$NS_FAR" route add default via 203.0.113.65 &&
    ctg_in "$CTG_NS_SRV" sysctl -q -w net.ipv4.ip_forward=1 &&
    ip -n "$CTG_NS_GW" route add 203.0.113.64/26 via "$CTG_SRV4" &&
    # the gateway's NAT: what a new user would type
    gw iptables -t nat -A POSTROUTING -o srv0 -j MASQUERADE &&
    gw iptables -t nat -A PREROUTING -i srv0 -d "$PUB4" -p tcp --dport 2222 \
        -j DNAT --to-destination "$CTG_CLI4:3389" &&
    gw iptables -t nat -A PREROUTING -i srv0 -d "$PUB4" -p tcp --dport 2223 \
        -j DNAT --to-destination "$CTG_CLI4:3390" &&
    gw iptables -t nat -A PREROUTING -i srv0 -d "$PUB4" -p udp --dport 2224 \
        -j DNAT --to-destination "$CTG_CLI4:3391" &&
    gw ip6tables -t nat -A PREROUTING -i srv0 -d "$PUB6" -p tcp --dport 2223 \
        -j DNAT --to-destination "[$CTG_CLI6]:3390"; }; then
	echo "not ok - cannot set up the NAT topology"
	exit 1
fi
ctg_ok "topology: inside, NAT gateway, outside router, far network (MTU 1280)"

ctg_bg "$CTG_NS_CLI" "$T/serve-in.log" timeout 300 python3 "$H" serve 3389
ctg_bg "$CTG_NS_SRV" "$T/serve-out.log" timeout 300 python3 "$H" serve "$SRVPORT"
ctg_bg "$NS_FAR" "$T/serve-far.log" timeout 300 python3 "$H" serve "$SRVPORT"
ctg_wait_for 10 ctg_tcp_connect "$CTG_NS_CLI" 127.0.0.1 3389
ctg_wait_for 10 ctg_tcp_connect "$CTG_NS_SRV" 127.0.0.1 "$SRVPORT"
ctg_wait_for 10 ctg_tcp_connect "$NS_FAR" 127.0.0.1 "$SRVPORT"

# Rules in the addresses the packets have in FORWARD: the port forward is
# accepted by its inside target, 198.51.100.2:3389, not 203.0.113.1:2222.
cat >"$RULES" <<EOF
default_policy = "drop";
sets = { inside = { type = "address"; members = [ "198.51.100.0/24", "2001:db8:1::/48" ]; }; };
rules = (
  { name = "drop-invalid"; action = "drop"; state = [ "invalid" ]; },
  { name = "established"; action = "accept"; state = [ "established", "related" ]; },
  { name = "inside-out"; action = "accept"; state = [ "new" ]; src = [ "@inside" ]; },
  { name = "rdp-forward"; action = "accept"; state = [ "new" ]; proto = "tcp";
    dst = [ "$CTG_CLI4" ]; dst_port = [ 3389 ]; },
  { name = "reject-inbound"; action = "reject"; state = [ "new" ]; log = "verdict"; }
);
EOF
CONF=$T/ctguard.conf
cat >"$CONF" <<EOF
tracker = { timeouts = { tcp_time_wait = 1; tcp_close = 1; }; };
log = { database = "$DB"; policy = "all"; };
daemon = { user = ""; pidfile = "$T/ctguardd.pid"; control_socket = "$SOCK";
    control_mode = "0600"; state_file = "$T/conntable.snap"; checkpoint_interval = 0; };
rules = { files = [ "$RULES" ]; };
EOF
ctg_check "ctguardd -t accepts the configuration and rules" \
    ctg_quiet "$CTGUARDD" -t -c "$CONF" -R "$RULES"

# --- 1. the queue rules ----------------------------------------------------
filter_rules iptables-save >"$T/before4"
filter_rules ip6tables-save >"$T/before6"
if ! ctg_quiet "$SETUP" install --netns "$CTG_NS_GW" --queues 0:1; then
	echo "not ok - ctguard-setup install failed"
	exit 1
fi
for t in iptables ip6tables; do
	u=icmp-port-unreachable
	[ "$t" = ip6tables ] && u=icmp6-port-unreachable
	gw "$t" -S CTGUARD >"$T/chain.$t"
	got=$(grep -v '^-N' "$T/chain.$t" | sed 's/ -m comment --comment ctguard//' |
	    sed 's/^-A CTGUARD //' | tr '\n' '|')
	want="-p tcp -m mark --mark 0x10000000/0x10000000 -j REJECT --reject-with tcp-reset|"
	want+="-m mark --mark 0x10000000/0x10000000 -j REJECT --reject-with $u|"
	want+="-j NFQUEUE --queue-num 0|"
	ctg_check "$t: the mark REJECT rules come before the queue rule" test "$got" = "$want"
done

ctg_bg "$CTG_NS_GW" "$T/ctguardd.log" "$CTGUARDD" -f -c "$CONF" -R "$RULES"
DPID=$CTG_BG_PID
if ctg_wait_for 15 queue_bound && ctg_wait_for 10 ctl status; then
	ctg_ok "ctguardd started on the NAT gateway"
else
	ctg_not_ok "ctguardd started"
	tail -n 20 "$T/ctguardd.log" | sed 's/^/#   /'
	exit 1
fi

rm -f "$T/sniff.stop"*
ctg_bg "$CTG_NS_SRV" "$T/sniff.log" timeout 260 "$PYSCAPY" "$T/sniff.py" "$T/sniff.stop" \
    "$T/sniff.json"
SNIFF=$CTG_BG_PID
ctg_wait_for 20 test -e "$T/sniff.stop.ready"

# --- 2. MASQUERADE -----------------------------------------------------------
who=$(py_in "$CTG_NS_CLI" who "$CTG_SRV4" "$SRVPORT")
ctg_check "MASQUERADE: the outside server sees the gateway (${who:-nothing})" \
    test "${who%% *}" = "$PUB4"

# --- 3. SNAT port remapping -----------------------------------------------------
py_in "$CTG_NS_CLI" pair "$CTG_SRV4" "$SRVPORT" "$CTG_CLI4" "$CLI4B" 41000 >"$T/pair.out" 2>&1
read -r _ a_ip a_port <<<"$(grep "^$CTG_CLI4 " "$T/pair.out")"
read -r _ b_ip b_port <<<"$(grep "^$CLI4B " "$T/pair.out")"
ctg_check "two inside clients, source port 41000 both: the server sees $PUB4:${a_port:-?} and $PUB4:${b_port:-?}" \
    test "${a_ip:-}" = "$PUB4" -a "${b_ip:-}" = "$PUB4" -a -n "${a_port:-}" -a -n "${b_port:-}" \
    -a "${a_port:-0}" != "${b_port:-0}"
# the one the kernel remapped
if [ "${a_port:-}" != 41000 ]; then r_port=${a_port:-0} r_host=$CTG_CLI4; else r_port=${b_port:-0} r_host=$CLI4B; fi
ctg_check "the NAT mappings of both are logged (nat table)" \
    ctg_wait_for 5 qge "SELECT count(*) FROM nat WHERE sport = 41000 AND dport = $SRVPORT
        AND nat_src = '$PUB4' AND nat_sport IN (${a_port:-0}, ${b_port:-0}) AND nat_dst IS NULL" 2
# "which inside host was behind this public port at that time?"
since=$(date -u -d '-2 min' '+%Y-%m-%dT%H:%M:%S')
until=$(date -u -d '+2 min' '+%Y-%m-%dT%H:%M:%S')
hist() {
	"$CTGUARD" history -d "$DB" --nat-addr "$PUB4" --nat-port "$r_port" \
	    --since "$since" --until "$until" --format csv >"$T/hist.csv" 2>&1 &&
	    [ "$(grep -c "^[0-9]" "$T/hist.csv")" -eq 1 ] &&
	    grep -q ",$r_host,41000,$CTG_SRV4,$SRVPORT,.*,$PUB4,$r_port,," "$T/hist.csv"
}
ctg_check "ctguard history --nat-addr $PUB4 --nat-port $r_port names $r_host:41000" \
    ctg_wait_for 10 hist

# --- 4. DNAT accepted ---------------------------------------------------------
who=$(py_in "$CTG_NS_SRV" who "$PUB4" 2222)
ctg_check "port forward $PUB4:2222 -> $CTG_CLI4:3389 accepted; the inside server sees ${who:-nothing}" \
    test "${who%% *}" = "$CTG_SRV4"
ctg_check "ctguard logged it by its FORWARD addresses under rule rdp-forward" \
    ctg_wait_for 5 qge "SELECT count(*) FROM verdicts WHERE src = '$CTG_SRV4'
        AND dst = '$CTG_CLI4' AND dport = 3389 AND rule = 'rdp-forward' AND ctstate = 'new'" 1
dnat_hist() {
	"$CTGUARD" history -d "$DB" --nat-addr "$PUB4" --nat-port 2222 --format csv \
	    >"$T/dhist.csv" 2>&1 &&
	    grep -q ",$CTG_SRV4,[0-9]*,$CTG_CLI4,3389,.*,rdp-forward,,,$PUB4,2222" "$T/dhist.csv"
}
ctg_check "ctguard history --nat-addr $PUB4 --nat-port 2222 shows the inside target" \
    ctg_wait_for 10 dnat_hist

# live connections: ctguard connections shows their public side
ctg_bg "$CTG_NS_CLI" "$T/hold1.log" timeout 20 python3 "$H" hold "$CTG_SRV4" "$SRVPORT" 41500 4
ctg_bg "$CTG_NS_SRV" "$T/hold2.log" timeout 20 python3 "$H" hold "$PUB4" 2222 41501 4
conns_show() {
	ctl connections --port 41500 | grep -q " nat $PUB4:[0-9]*\$" &&
	    ctl connections --port 41501 | grep -q " natdst $PUB4:2222\$" &&
	    ctl connections --port 41500 --json | grep -q "\"nat_src\":\"$PUB4\",\"nat_sport\":[0-9]*,\"nat_dst\":null"
}
ctg_check "ctguard connections shows the live mappings (nat SRC:PORT, natdst $PUB4:2222, JSON)" \
    ctg_wait_for 3 conns_show
ctl connections >"$T/conns.out" 2>&1

# --- 5. DNAT rejected ---------------------------------------------------------
ctg_check "port forward $PUB4:2223 rejected: the outside client is refused at once" \
    py_in "$CTG_NS_SRV" refused "$PUB4" 2223
ctg_check "port forward [$PUB6]:2223 rejected: refused at once (IPv6)" \
    py_in "$CTG_NS_SRV" refused "$PUB6" 2223
ctg_check "UDP port forward $PUB4:2224 rejected: ICMP port unreachable arrives" \
    py_in "$CTG_NS_SRV" udprefused "$PUB4" 2224
ctg_check "the rejects are logged by their inside targets (v4 TCP, v6 TCP, UDP)" \
    ctg_wait_for 5 qge "SELECT count(DISTINCT dport || '/' || family) FROM verdicts
        WHERE verdict = 'reject' AND rule = 'reject-inbound' AND dport IN (3390, 3391)" 3

# --- 6. PMTU through the translation -----------------------------------------
ctg_check "160 KB upload to the far network completes over the MTU 1280 hop" \
    env PYT=40 timeout 45 ip netns exec "$CTG_NS_CLI" python3 "$H" put "$FAR4" "$SRVPORT" 163840
ctg_check "the inside client learnt the path MTU (route cache mtu 1280)" \
    eval "ip -n '$CTG_NS_CLI' route get '$FAR4' | grep -q 'mtu 1280'"
ctg_check "the fragmentation-needed error passed ctguard translated and RELATED" \
    ctg_wait_for 5 qge "SELECT count(*) FROM verdicts WHERE proto = 1 AND ctstate = 'related'
        AND verdict = 'accept' AND dst = '$CTG_CLI4'" 1

# --- the capture -------------------------------------------------------------------
touch "$T/sniff.stop"
wait "$SNIFF" 2>/dev/null
if [ -s "$T/sniff.json" ]; then
	ctg_ok "capture of the outside link: $(python3 -c "import json; print(json.load(open('$T/sniff.json'))['packets'])" ) packets"
else
	ctg_not_ok "capture of the outside link"
	sed 's/^/#   /' "$T/sniff.log"
fi
sj() {
	python3 -c "import json, sys; r = json.load(open('$T/sniff.json')); sys.exit(0 if ($1) else 1)"
}
ctg_check "no inside address on the outside link (headers and ICMP quotes)" \
    sj "not r['leaks']"
ctg_check "the RST came from the public address $PUB4:2223" sj "'$PUB4:2223' in r['rst4']"
ctg_check "the IPv6 RST came from [$PUB6]:2223" sj "'[$PUB6]:2223' in r['rst6']"
ctg_check "the ICMP port unreachable came from $PUB4 and quotes $PUB4:2224" \
    sj "'$PUB4 3/3 quotes $PUB4:2224' in r['unreach']"

ctg_check "no rejected packet came back to the queue (reject_errors 0)" \
    eval "ctl stats | grep -q ' rejects_sent [1-9][0-9]* reject_errors 0 '"
ctg_check "ctguard stats counts the NAT mappings" \
    eval "ctl stats | grep -q '^nat mappings [1-9]'"

# queue rules whose REJECT rules carry another mark than the daemon's: a
# rejected packet comes back marked, and is dropped instead of looping
ctg_check "ctguard-setup refuses --reject-mark 0 and a non-number (usage error 2)" \
    eval "'$SETUP' install --reject-mark 0 >/dev/null 2>&1; [ \$? -eq 2 ] &&
        { '$SETUP' install --reject-mark 0xzz >/dev/null 2>&1; [ \$? -eq 2 ]; }"
ctg_quiet "$SETUP" install --netns "$CTG_NS_GW" --queues 0:1 --reject-mark 0x20000000
before=$(ctl stats | sed -n 's/^queue 0 packets \([0-9]*\) .*/\1/p')
ctg_check_fails "with a mismatched reject mark the port forward is not refused" \
    py_in "$CTG_NS_SRV" refused "$PUB4" 2223
after=$(ctl stats | sed -n 's/^queue 0 packets \([0-9]*\) .*/\1/p')
ctg_check "... the packets that came back were dropped and counted, not looped (${before:-?} -> ${after:-?} packets)" \
    eval "ctl stats | grep -q ' reject_errors [1-9]' && [ \$(( ${after:-0} - ${before:-0} )) -lt 40 ]"
ctg_check "... and the daemon warned about the missing REJECT rule" \
    grep -q "a rejected packet came back" "$T/ctguardd.log"

kill -TERM "$DPID"
ctg_wait_for 15 eval "! kill -0 $DPID 2>/dev/null"
ctg_check "after the daemon stopped no mapping is left open" \
    qge "SELECT count(*) = 0 FROM nat WHERE last_us IS NULL" 1
ctg_check "no sanitizer report in the daemon log" \
    eval "! grep -q -E 'AddressSanitizer|LeakSanitizer|runtime error:' '$T/ctguardd.log'"

# --- 1b. remove restores the filter table exactly -------------------------------
ctg_check "ctguard-setup remove" ctg_quiet "$SETUP" remove --netns "$CTG_NS_GW"
filter_rules iptables-save >"$T/after4"
filter_rules ip6tables-save >"$T/after6"
ctg_check "remove left the iptables filter table as before install" cmp -s "$T/before4" "$T/after4"
ctg_check "remove left the ip6tables filter table as before install" cmp -s "$T/before6" "$T/after6"
ctg_check "the NAT rules are untouched" \
    eval "gw iptables -t nat -S PREROUTING | grep -c DNAT | grep -qx 3"

if [ "$CTG_FAILS" -ne 0 ]; then
	for f in chain.iptables chain.ip6tables conns.out pair.out hist.csv dhist.csv sniff.json sniff.log; do
		[ -f "$T/$f" ] && { echo "# --- $f"; head -c 1500 "$T/$f" | sed 's/^/#   /'; echo; }
	done
	echo "# --- ctguardd log (tail)"
	tail -n 20 "$T/ctguardd.log" | sed 's/^/#   /'
fi
ctg_finish
