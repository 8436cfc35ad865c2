#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end: offload mode (ctguard.conf offload, ctguard-setup --offload).
#
#   client ns ---- gateway ns (ctguardd, offload) ---- server ns
#
#  1. ctguard-setup install --offload puts the connmark fast path and the
#     mark-saving rules before the REJECT and queue rules (v4 and v6) and
#     sets nf_conntrack_acct; remove restores iptables-save exactly
#  2. a bulk upload (python, 64 MB, IPv4) arrives intact; ctguard logs an
#     offload_start event for its connection; fewer than 5% of its packets
#     reach the queue (the queue rule's counter against the fast path's)
#  3. its summary (connections row, after the close) is marked offloaded
#     and counts the bytes moved: payload <= orig_bytes <= payload plus
#     120 bytes of headers per counted packet (IP and TCP with options, 100
#     bytes at most for IPv6; a GSO packet counts once with one header)
#     plus 1% for retransmissions (at the hand-over, segments still in the
#     queue are overtaken by the fast path: the receiver's dup ACKs draw a
#     few retransmitted segments, which cross the gateway twice and are
#     counted twice), and the offloaded span holds >= 95% of it
#  4. into a live offloaded connection, from the client namespace with
#     scapy: an RST and a FIN 2^31 beyond the sequence space, and a data
#     segment 2^30 ahead: the kernel calls them INVALID (its invalid counter
#     rises), they reach ctguard and are dropped with tcp_rst_out_of_window,
#     tcp_seq_above_window and tcp_offload_kernel_invalid; a SYN from the
#     server side is dropped tcp_syn_on_established; the client's own SYN
#     on the tuple reaches ctguard and is held (tcp_syn_held, passed: the
#     endpoint answers with a challenge ACK, as without offload); the
#     connection still echoes afterwards
#  4b. ctguard kill of a live offloaded connection takes the offload bits
#     off the kernel entry's mark: its segments reach the queue again and
#     the connection goes on (picked up midstream, then offloaded anew)
#  5. an IPv6 transfer is offloaded too (offload_start, summary bytes)
#  6. UDP (the gateway's kernel UDP timeouts cut to 3 s / 5 s, ctguard's to
#     2 s): a 6 s flow of echoed datagrams is offloaded (offload_start;
#     ctguard judged at most 40 of its datagrams); no summary while it
#     flows, past ctguard's own UDP timeouts; one after the kernel's entry
#     ended (5 s after the last datagram at the earliest, the kernel entry
#     gone by then); its totals equal what the client sent (packets and
#     bytes exactly) and what the server echoed, the kernel's span holding
#     all but what ctguard judged itself; the same source port afterwards is
#     a new connection, judged anew; a flow whose rule has a rate_limit is
#     never offloaded (every datagram judged); ICMP echo is never offloaded;
#     an IPv6 flow is offloaded alike;
#     ctguard kill of a live offloaded flow writes the kernel's counters and
#     hands the flow back to the queue (a new connection, offloaded anew)
#  7. an offloaded UDP flow whose kernel entry is deleted while ctguardd is
#     stopped ends when ctguardd starts again (a dump of the marked entries)
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
ctg_require_tools ip ping iptables ip6tables iptables-save ip6tables-save python3 timeout \
    sqlite3 conntrack

ctg_programs "$top" "$bld"
ctg_scapy_python
PYSCAPY=$CTG_PY

ctg_tmpdir
T=$CTG_TMPDIR
DB=$T/audit.db
SOCK=$T/ctl.sock
RULES=$T/offload.rules
CONF=$T/ctguard.conf
H=$T/h.py
SRVPORT=7000
UPORT=7002
URATED=7001
BULK=$((64 * 1024 * 1024))

cat >"$H" <<'EOF'
import os, socket, sys, threading, time

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

def handle(c):
    try:
        c.settimeout(60)
        cmd = readline(c).split()
        if cmd and cmd[0] == b'put':
            n = 0
            while True:
                d = c.recv(1 << 20)
                if not d:
                    break
                n += len(d)
            c.sendall(b'%d\n' % n)
        elif cmd and cmd[0] == b'echo':
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
        c.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    finally:
        c.close()

def serve(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(('::', port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()

def connects(host, port):
    socket.create_connection((host, port), timeout=2).close()
    return 0

def put(host, port, n):
    s = socket.socket(fam(host), socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect((host, port))
    sport = s.getsockname()[1]
    s.sendall(b'put\n')
    chunk = b'\x5a' * (1 << 20)
    left = n
    while left:
        k = min(left, len(chunk))
        s.sendall(chunk[:k])
        left -= k
    s.shutdown(socket.SHUT_WR)
    got = int(readline(s).strip() or b'-1')
    s.close()
    # the command line counts as payload too
    print('%d %d %d' % (sport, n + 4, got))
    return 0 if got == n else 1

def echo_round(s, n):
    s.sendall(b'e' * n)
    got = 0
    while got < n:
        d = s.recv(65536)
        if not d:
            return False
        got += len(d)
    return True

def inject(host, port, iface, syn_done):
    from scapy.all import AsyncSniffer, IP, TCP, Raw, send, conf
    conf.verb = 0
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect((host, port))
    sport = s.getsockname()[1]
    s.sendall(b'echo\n')
    for _ in range(40):                 # past after_packets: offloaded
        if not echo_round(s, 1000):
            print('warmup failed')
            return 1
    mine = lambda p: TCP in p and p[TCP].sport == sport and p[IP].src != host
    sn = AsyncSniffer(iface=iface, lfilter=mine, store=True)
    sn.start()
    time.sleep(0.5)
    echo_round(s, 100)
    time.sleep(0.5)
    pk = sn.stop()
    if not pk:
        print('no segment of the connection captured')
        return 1
    last = pk[-1][TCP]
    nxt = (last.seq + len(bytes(last.payload))) & 0xffffffff
    ack = last.ack
    ip = IP(src=pk[-1][IP].src, dst=host)
    far = (nxt + 0x80000000) & 0xffffffff
    send(ip / TCP(sport=sport, dport=port, flags='R', seq=far))
    send(ip / TCP(sport=sport, dport=port, flags='FA', seq=far, ack=ack))
    send(ip / TCP(sport=sport, dport=port, flags='PA', seq=(nxt + 0x40000000) & 0xffffffff,
                  ack=ack) / Raw(b'x' * 100))
    send(ip / TCP(sport=sport, dport=port, flags='S', seq=(nxt + 12345) & 0xffffffff))
    print('port %d seq %d ack %d' % (sport, nxt, ack), flush=True)
    for _ in range(200):
        if os.path.exists(syn_done):
            break
        time.sleep(0.1)
    time.sleep(0.5)
    ok = echo_round(s, 2000)
    s.shutdown(socket.SHUT_WR)
    s.close()
    print('echo ok' if ok else 'echo failed')
    return 0 if ok else 1

def hold(host, port, secs):
    s = socket.socket(fam(host), socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect((host, port))
    s.sendall(b'echo\n')
    for _ in range(40):
        if not echo_round(s, 1000):
            print('warmup failed', flush=True)
            return 1
    print('port %d' % s.getsockname()[1], flush=True)
    end, n = time.time() + secs, 0
    while time.time() < end:
        if not echo_round(s, 500):
            print('hold failed after %d rounds' % n, flush=True)
            return 1
        n += 1
        time.sleep(0.05)
    s.shutdown(socket.SHUT_WR)
    s.close()
    print('hold ok %d' % n, flush=True)
    return 0

def srvsyn(src, dst, sport, dport, seq):
    from scapy.all import IP, TCP, send, conf
    conf.verb = 0
    send(IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags='S', seq=seq))
    return 0

def userve(ports):
    # UDP echo on each port (both families)
    def one(port):
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind(('::', port))
        while True:
            d, a = s.recvfrom(65536)
            s.sendto(d, a)
    for p in ports[1:]:
        threading.Thread(target=one, args=(p,), daemon=True).start()
    one(ports[0])

def usend(host, port, n, size, secs, sport):
    # n datagrams of size bytes paced over secs seconds; count the echoes
    s = socket.socket(fam(host), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(('', sport))
    s.connect((host, port))
    s.setblocking(False)
    t0, got, sent = time.time(), 0, 0
    while sent < n and time.time() < t0 + secs + 10:
        due = t0 + secs * sent / n
        if time.time() >= due:
            s.send(b'u' * size)
            sent += 1
        try:
            while True:
                s.recv(65536)
                got += 1
        except BlockingIOError:
            pass
        time.sleep(0.0005)
    end = time.time() + 1.0
    while time.time() < end and got < sent:
        try:
            s.recv(65536)
            got += 1
        except BlockingIOError:
            time.sleep(0.01)
    print('%d %d %d %.3f' % (s.getsockname()[1], sent, got, time.time()), flush=True)
    return 0 if sent == n else 1

if __name__ == '__main__':
    a = sys.argv[1:]
    if a[0] == 'serve':
        serve(int(a[1]))
    elif a[0] == 'connects':
        sys.exit(connects(a[1], int(a[2])))
    elif a[0] == 'put':
        sys.exit(put(a[1], int(a[2]), int(a[3])))
    elif a[0] == 'inject':
        sys.exit(inject(a[1], int(a[2]), a[3], a[4]))
    elif a[0] == 'hold':
        sys.exit(hold(a[1], int(a[2]), float(a[3])))
    elif a[0] == 'userve':
        userve([int(x) for x in a[1:]])
    elif a[0] == 'usend':
        sys.exit(usend(a[1], int(a[2]), int(a[3]), int(a[4]), float(a[5]), int(a[6])))
    elif a[0] == 'srvsyn':
        sys.exit(srvsyn(a[1], a[2], int(a[3]), int(a[4]), int(a[5])))
EOF

py_cli() { timeout "${PYT:-60}" ip netns exec "$CTG_NS_CLI" "$PYSCAPY" "$H" "$@"; }
py_srv() { timeout "${PYT:-60}" ip netns exec "$CTG_NS_SRV" "$PYSCAPY" "$H" "$@"; }
gw() { ip netns exec "$CTG_NS_GW" "$@"; }
q() { sqlite3 -cmd '.timeout 5000' "$DB" "$@"; }
ctl() { "$CTGUARD" -s "$SOCK" "$@" >/dev/null 2>&1; }

# the filter table without counters or comments, v4 then v6
rules_dump() {
	{ gw iptables-save -t filter; gw ip6tables-save -t filter; } |
	    grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'
}

# counter (packets) of the CTGUARD rule whose text matches $2, for tool $1
rule_pkts() {
	gw "$1" -w -L CTGUARD -n -v -x | awk -v pat="$2" '$0 ~ pat { n += $1 } END { print n + 0 }'
}

# the kernel's conntrack invalid counter, all CPUs
ct_invalid() {
	gw conntrack -S 2>/dev/null | sed -n 's/.* invalid=\([0-9]*\).*/\1/p' |
	    awk '{ n += $1 } END { print n + 0 }'
}

queue_bound() {
	# shellcheck disable=SC2016
	gw awk '$1 == 0 { f = 1 } END { exit !f }' /proc/net/netfilter/nfnetlink_queue
}

DPID=
start_daemon() {
	ctg_bg "$CTG_NS_GW" "$T/ctguardd.log" "$CTGUARDD" -f -c "$CONF" -R "$RULES"
	DPID=$CTG_BG_PID
	ctg_wait_for 15 queue_bound && ctg_wait_for 10 ctl status
}

dump_log() {
	echo "# --- ctguardd.log (tail)"
	tail -n 25 "$T/ctguardd.log" 2>/dev/null | sed 's/^/#   /'
}

# wait_row SQL: until the query prints something non-empty and not 0 (20 s)
wait_row() {
	local i v
	for ((i = 0; i < 200; i++)); do
		v=$(q "$1" 2>/dev/null)
		if [ -n "$v" ] && [ "$v" != 0 ]; then
			echo "$v"
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# --- topology, rules ----------------------------------------------------------
if ! ctg_topology; then
	echo "not ok - cannot build the namespace topology"
	exit 1
fi
ctg_ok "topology $CTG_NS_CLI / $CTG_NS_GW / $CTG_NS_SRV"
ctg_bg "$CTG_NS_SRV" "$T/serve.log" timeout 300 python3 "$H" serve "$SRVPORT"
ctg_wait_for 10 py_srv connects 127.0.0.1 "$SRVPORT" >/dev/null
ctg_bg "$CTG_NS_SRV" "$T/userve.log" timeout 300 python3 "$H" userve "$UPORT" "$URATED"

# a UDP port whose rule meters every packet: never offloaded
sed '/^rules = (/a\
  { name = "udp-rated"; action = "accept"; state = [ "new" ]; proto = ( "udp" );\
    dst_port = [ '"$URATED"' ]; rate_limit = { rate = 100000; burst = 100000; action = "drop"; }; },' \
    "$top/rules/default.rules" >"$RULES"
grep -q udp-rated "$RULES" || { echo "not ok - could not add the rate-limited rule"; exit 1; }
cat >"$CONF" <<EOF
queue = { first = 0; count = 1; };
tracker = {
	timeouts = { tcp_time_wait = 2; tcp_close = 1; tcp_fin_wait = 10;
	    tcp_last_ack = 2; tcp_close_wait = 10;
	    udp_unreplied = 2; udp_replied = 2; udp_assured = 2; };
};
log = { database = "$DB"; policy = "all"; nat = false; };
daemon = {
	user = "";
	pidfile = "$T/ctguardd.pid";
	control_socket = "$SOCK";
	control_mode = "0600";
	state_file = "$T/conntable.snap";
	checkpoint_interval = 0;
};
rules = { files = [ "$RULES" ]; };
offload = { enabled = true; after_packets = 16; };
EOF

# --- 1. rules -----------------------------------------------------------------
gw iptables -w -t filter -L -n >/dev/null
gw ip6tables -w -t filter -L -n >/dev/null
rules_dump >"$T/rules.before"
gw sysctl -q -w net.netfilter.nf_conntrack_acct=0 2>/dev/null
if ! ctg_quiet "$SETUP" install --offload --netns "$CTG_NS_GW" --queues 0:1; then
	echo "not ok - ctguard-setup install --offload failed"
	exit 1
fi
for t in iptables ip6tables; do
	order=$(gw "$t" -w -S CTGUARD | awk '
	    /connmark --mark 0x20000000\/0x20000000/ && /ESTABLISHED/ && /FIN,SYN,RST NONE/ && /-j ACCEPT/ { print "fast"; next }
	    /-p udp/ && /connmark --mark 0x20000000\/0x20000000/ && /ESTABLISHED/ && /-j ACCEPT/ { print "udpfast"; next }
	    /-j CONNMARK --save-mark/ { print "save"; next }
	    /mark --mark 0x20000000\/0x20000000/ && /-j ACCEPT/ { print "accept"; next }
	    /-j REJECT/ { print "reject"; next }
	    /-j NFQUEUE/ { print "queue" }' | uniq | tr '\n' ' ')
	ctg_check "$t: TCP and UDP fast paths first, then save, accept, reject and queue ($order)" \
	    test "$order" = "fast udpfast save accept reject queue "
done
ctg_check "ctguard-setup --offload set net.netfilter.nf_conntrack_acct=1" \
    test "$(gw sysctl -n net.netfilter.nf_conntrack_acct)" = 1
ctg_check "kernel TCP tracking is not liberal" \
    test "$(gw sysctl -n net.netfilter.nf_conntrack_tcp_be_liberal)" = 0

ctg_check "ctguardd -t accepts the offload configuration" \
    ctg_quiet "$CTGUARDD" -t -c "$CONF" -R "$RULES"
if start_daemon; then
	ctg_ok "ctguardd started with offload"
else
	ctg_not_ok "ctguardd started"
	dump_log
	exit 1
fi

# --- 2. bulk upload -------------------------------------------------------------
q0=$(rule_pkts iptables NFQUEUE)
f0=$(rule_pkts iptables 'connmark')
# segments the client sent again: the summary counts them (bytes crossed twice)
retrans() { ip netns exec "$CTG_NS_CLI" nstat -az TcpRetransSegs | awk '$1 == "TcpRetransSegs" { print $2 }'; }
rs0=$(retrans)
if out=$(py_cli put "$CTG_SRV4" "$SRVPORT" "$BULK"); then
	ctg_ok "64 MB upload arrived intact ($out)"
else
	ctg_not_ok "64 MB upload arrived intact ($out)"
fi
read -r bport payload _ <<<"$out"
queued=$(($(rule_pkts iptables NFQUEUE) - q0))
fast=$(($(rule_pkts iptables 'connmark') - f0))
total=$((queued + fast))
echo "# bulk: $queued packets queued, $fast on the fast path"
ctg_check "under 5% of the transfer's packets reached the queue ($queued of $total)" \
    test "$total" -gt 1000 -a $((queued * 100)) -lt $((total * 5))

bid=$(wait_row "SELECT id FROM connections WHERE proto = 6 AND sport = ${bport:-0}
    AND dport = $SRVPORT")
ctg_check "the upload's summary was written after its close (id ${bid:-none})" test -n "$bid"
bid=${bid:-0}
ctg_check "an offload_start event names the upload's connection" \
    test "$(q "SELECT count(*) FROM events WHERE kind = 'offload_start' AND count = $bid")" = 1
offloads=$("$CTGUARD" -s "$SOCK" stats 2>/dev/null | awk '$1 == "queue" { for (i = 2; i < NF; i++) if ($i == "offloads") n += $(i + 1) } END { print n + 0 }')
ctg_check "ctguard stats counts the offload ($offloads)" test "$offloads" -ge 1
ctg_check "the Prometheus exposition has ctguard_offloads_total >= 1" \
    sh -c "'$CTGUARD' -s '$SOCK' stats --prometheus | grep -Eq '^ctguard_offloads_total\{queue=\"0\"\} [1-9]'"

# --- 3. its summary -----------------------------------------------------------
row=$(q "SELECT offloaded, orig_pkts, orig_bytes, ifnull(offload_orig_bytes, -1),
    resp_bytes, ifnull(offload_resp_bytes, -1) FROM connections WHERE id = $bid")
echo "# summary: offloaded orig_pkts orig_bytes offload_orig_bytes resp_bytes offload_resp_bytes = $row"
IFS='|' read -r off opk oby ooby rby orby <<<"$row"
ctg_check "the summary is marked offloaded" test "${off:-0}" = 1
ctg_check "it ended as closed (the last ACK passed the kernel unseen)" \
    test "$(q "SELECT end_reason || ' ' || conn_state FROM connections WHERE id = $bid")" = "closed SF"
# payload, headers, what was sent again (the client's retransmitted segments,
# at most an MSS each) and 1% for what the fast path overtook at the hand-over
rs=$(($(retrans) - ${rs0:-0}))
hi=$((${payload:-0} + ${payload:-0} / 100 + 120 * ${opk:-0} + 1500 * rs))
ctg_check "orig_bytes $oby within [$payload, $hi] ($rs segments sent again)" \
    test "${oby:-0}" -ge "${payload:-1}" -a "${oby:-0}" -le "$hi"
ctg_check "the kernel's offloaded span holds >= 95% of the upload ($ooby)" \
    test "${ooby:--1}" -ge $((${payload:-0} * 95 / 100))
ctg_check "reply bytes counted too ($rby, of which offloaded $orby)" \
    test "${rby:-0}" -gt 0 -a "${orby:--1}" -ge 0

# --- 4. injections into a live offloaded connection ----------------------------
inv0=$(ct_invalid)
rm -f "$T/syn.done"
ctg_bg "$CTG_NS_CLI" "$T/inject.out" timeout 60 "$PYSCAPY" "$H" inject "$CTG_SRV4" \
    "$SRVPORT" eth0 "$T/syn.done"
IPID=$CTG_BG_PID
for ((i = 0; i < 300; i++)); do
	grep -q '^port ' "$T/inject.out" 2>/dev/null && break
	kill -0 "$IPID" 2>/dev/null || break
	sleep 0.1
done
read -r _ iport _ iseq _ iack < <(grep '^port ' "$T/inject.out")
if [ -n "${iport:-}" ]; then
	ctg_ok "client injected RST, FIN, data and SYN into port $iport"
	PYT=20 py_srv srvsyn "$CTG_SRV4" "$CTG_CLI4" "$SRVPORT" "$iport" $(((iack + 99999) % 4294967296))
else
	ctg_not_ok "client injected into a live connection"
	sed 's/^/#   /' "$T/inject.out"
fi
touch "$T/syn.done"
wait "$IPID" 2>/dev/null
ctg_check "the connection still echoes after the injections" grep -q '^echo ok' "$T/inject.out"
iid=$(wait_row "SELECT id FROM connections WHERE proto = 6 AND sport = ${iport:-0}
    AND dport = $SRVPORT")
ctg_check "the injected-into connection was offloaded" \
    test "$(q "SELECT count(*) FROM events WHERE kind = 'offload_start' AND count = ${iid:-0}")" = 1
inv1=$(ct_invalid)
ctg_check "the kernel called the injected segments INVALID (invalid $inv0 -> $inv1)" \
    test "$inv1" -ge $((inv0 + 3))
verdict() {
	# verdict DIRECTION FLAGS: "verdict reason" of that segment of the connection
	q "SELECT verdict || ' ' || reason FROM verdicts WHERE conn_id = ${iid:-0}
	    AND direction = '$1' AND tcp_flags = '$2' ORDER BY id"
}
for want in "original R|drop tcp_rst_out_of_window" \
    "original FA|drop tcp_(seq_above_window|ack_above_sent)" \
    "original PA|drop tcp_offload_kernel_invalid" "reply S|drop tcp_syn_on_established" \
    "original S|accept tcp_syn_held"; do
	key=${want%%|*}
	got=$(verdict "${key% *}" "${key#* }" | grep -c -x -E "${want#*|}")
	ctg_check "${key} segment reached ctguard: ${want#*|}" test "$got" -ge 1
done
if [ "$CTG_FAILS" -gt 0 ]; then
	q "SELECT direction, tcp_flags, verdict, reason FROM verdicts WHERE conn_id = ${iid:-0}" |
	    sed 's/^/#   /'
fi

# --- 4b. a killed offloaded connection comes back to ctguard ------------------
# ctguard forgets it (kill; the same for flush, a reload's cut, a timeout):
# the offload bits leave the kernel entry's mark, so its segments reach the
# queue again, where ctguard picks it up midstream.
ct_mark() {
	gw conntrack -L -p tcp --sport "$1" 2>/dev/null | sed -n 's/.* mark=\([0-9]*\).*/\1/p' | head -1
}
ctg_bg "$CTG_NS_CLI" "$T/hold.out" timeout 60 "$PYSCAPY" "$H" hold "$CTG_SRV4" "$SRVPORT" 6
HPID=$CTG_BG_PID
for ((i = 0; i < 200; i++)); do
	grep -q '^port ' "$T/hold.out" 2>/dev/null && break
	sleep 0.1
done
hport=$(sed -n 's/^port //p' "$T/hold.out")
hid=$(wait_row "SELECT conn_id FROM verdicts WHERE proto = 6 AND sport = ${hport:-0} LIMIT 1")
wait_row "SELECT count(*) FROM events WHERE kind = 'offload_start' AND count = ${hid:-0}" >/dev/null
m0=$(ct_mark "${hport:-0}")
ctg_check "the held connection is offloaded (kernel mark ${m0:-none})" test "${m0:-0}" = 536870912
q1=$(rule_pkts iptables NFQUEUE)
ctg_check "ctguard kill ${hid:-none}" ctl kill "${hid:-0}"
for ((i = 0; i < 50; i++)); do
	[ "$(ct_mark "${hport:-0}")" = 0 ] && break
	sleep 0.1
done
ctg_check "the kill took the offload bits off the kernel entry's mark" \
    test "$(ct_mark "${hport:-0}")" = 0
wait "$HPID" 2>/dev/null
ctg_check "the connection went on ($(tail -1 "$T/hold.out"))" grep -q '^hold ok' "$T/hold.out"
q2=$(rule_pkts iptables NFQUEUE)
ctg_check "its segments reached the queue again ($((q2 - q1)) packets)" test $((q2 - q1)) -ge 10
# picked up midstream, verified both ways again, and offloaded anew
ctg_check "the picked-up connection was offloaded anew" \
    test "$(q "SELECT count(*) FROM events WHERE kind = 'offload_start' AND count IN
    (SELECT DISTINCT conn_id FROM verdicts WHERE proto = 6 AND sport = ${hport:-0})")" = 2
ctg_check "the killed summary is offloaded with kernel counters" \
    test "$(q "SELECT count(*) FROM connections WHERE id = ${hid:-0} AND end_reason = 'killed'
    AND offloaded = 1 AND offload_orig_bytes IS NOT NULL")" = 1

# --- 5. IPv6 -----------------------------------------------------------------
if out6=$(py_cli put "$CTG_SRV6" "$SRVPORT" $((8 * 1024 * 1024))); then
	ctg_ok "8 MB IPv6 upload arrived intact"
else
	ctg_not_ok "8 MB IPv6 upload arrived intact ($out6)"
fi
read -r port6 payload6 _ <<<"$out6"
id6=$(wait_row "SELECT id FROM connections WHERE family = 6 AND sport = ${port6:-0}")
ctg_check "IPv6: offload_start and an offloaded summary" \
    test "$(q "SELECT count(*) FROM events WHERE kind = 'offload_start' AND count = ${id6:-0}")" = 1
b6=$(q "SELECT orig_bytes FROM connections WHERE id = ${id6:-0} AND offloaded = 1")
ctg_check "IPv6: orig_bytes $b6 >= payload $payload6" test "${b6:-0}" -ge "${payload6:-1}"
[ "${b6:-0}" -ge "${payload6:-1}" ] || gw conntrack -L -f ipv6 2>/dev/null | sed 's/^/#   /'

# --- 6. UDP -----------------------------------------------------------------
# The kernel ends an answered UDP entry 3 s after its last packet, 5 s once
# it lived 2 s (its "stream" timeout); ctguard's own UDP timeouts are 2 s.
gw sysctl -q -w net.netfilter.nf_conntrack_udp_timeout=3 \
    net.netfilter.nf_conntrack_udp_timeout_stream=5
USIZE=200
UN=3000
usport=$((20000 + $$ % 10000))
ukernel() { gw conntrack -L -p udp --sport "$1" 2>/dev/null | grep -c "dport=$UPORT"; }
ctg_bg "$CTG_NS_CLI" "$T/usend.out" timeout 40 "$PYSCAPY" "$H" usend "$CTG_SRV4" "$UPORT" \
    "$UN" "$USIZE" 6 "$usport"
USPID=$CTG_BG_PID
uid=$(wait_row "SELECT conn_id FROM verdicts WHERE proto = 17 AND sport = $usport
    AND dport = $UPORT ORDER BY id LIMIT 1")
ctg_check "UDP: the flow was offloaded (offload_start for conn ${uid:-none})" \
    test -n "$(wait_row "SELECT count(*) FROM events WHERE kind = 'offload_start' AND
    count = ${uid:-0}")"
sleep 4
# past ctguard's 2 s UDP timeouts, its datagrams unseen: the entry lives on
ctg_check "UDP: no summary while the kernel's flow lives (4 s after offload)" \
    test "$(q "SELECT count(*) FROM connections WHERE id = ${uid:-0}")" = 0
ctg_check "UDP: ctguard connections still lists it" \
    sh -c "'$CTGUARD' -s '$SOCK' connections --proto udp --port $usport --json | grep -q '\"id\":${uid:-0},'"
wait "$USPID" 2>/dev/null
read -r _ usent uecho uend <"$T/usend.out"
echo "# udp: sent ${usent:-?} echoed ${uecho:-?}"
ctg_check "UDP: the client sent all $UN datagrams (${usent:-none})" test "${usent:-0}" = "$UN"
uend=${uend:-0}
for ((i = 0; i < 900; i++)); do
	[ "$(q "SELECT count(*) FROM connections WHERE id = ${uid:-0}")" = 1 ] && break
	sleep 0.1
done
urow_t=$(date +%s.%N)
after=$(python3 -c "print('%.1f' % ($urow_t - $uend))")
echo "# udp: summary $after s after the last datagram"
ctg_check "UDP: summary written after the kernel's flow ended ($after s after the last datagram)" \
    python3 -c "import sys; sys.exit(0 if 4.0 <= $after <= 90 else 1)"
ctg_check "UDP: the kernel entry was gone by then" test "$(ukernel "$usport")" = 0
row=$(q "SELECT offloaded, end_reason, orig_pkts, orig_bytes, resp_pkts, resp_bytes,
    ifnull(offload_orig_pkts, -1), ifnull(offload_resp_pkts, -1)
    FROM connections WHERE id = ${uid:-0}")
echo "# udp summary: offloaded end orig_pkts orig_bytes resp_pkts resp_bytes off_orig off_resp = $row"
IFS='|' read -r uoff uendr uop uob urp urb uoop uorp <<<"$row"
seen=$(q "SELECT count(*) FROM verdicts WHERE conn_id = ${uid:-0}")
ctg_check "UDP: ctguard judged only the first datagrams ($seen verdicts)" \
    test "${seen:-999}" -ge 2 -a "${seen:-999}" -le 40
ctg_check "UDP: the summary is offloaded, ended by timeout" test "${uoff:-0}|${uendr:-}" = "1|timeout"
ctg_check "UDP: orig packets $uop = datagrams sent $UN" test "${uop:-0}" = "$UN"
ctg_check "UDP: orig bytes $uob = $UN x ($USIZE + 28)" test "${uob:-0}" = $((UN * (USIZE + 28)))
ctg_check "UDP: reply packets $urp between echoes received ${uecho:-?} and $UN" \
    test "${urp:-0}" -ge "${uecho:-1}" -a "${urp:-0}" -le "$UN"
ctg_check "UDP: reply bytes $urb = $urp x ($USIZE + 28)" test "${urb:-0}" = $((${urp:-0} * (USIZE + 28)))
ctg_check "UDP: the kernel's span holds all the rest ($uoop + $uorp + $seen judged = $uop + $urp)" \
    test $((${uoop:--999} + ${uorp:--999} + ${seen:-0})) = $((${uop:-0} + ${urp:-0}))

# the same source port again: a new flow in the kernel, and in ctguard a new
# connection, judged by the rules anew
ctg_quiet py_cli usend "$CTG_SRV4" "$UPORT" 40 "$USIZE" 0.5 "$usport"
uid2=$(q "SELECT conn_id FROM verdicts WHERE proto = 17 AND sport = $usport AND dport = $UPORT
    AND conn_id != ${uid:-0} ORDER BY id LIMIT 1")
ctg_check "UDP: the port's next flow is a new connection (${uid2:-none}), first judged NEW" \
    test "$(q "SELECT ctstate FROM verdicts WHERE conn_id = ${uid2:-0} ORDER BY id LIMIT 1")" = new

# IPv6: the same fast path (ip6tables)
vsport=$((usport + 4))
ctg_quiet py_cli usend "$CTG_SRV6" "$UPORT" 300 "$USIZE" 1 "$vsport"
vid=$(wait_row "SELECT conn_id FROM verdicts WHERE proto = 17 AND family = 6 AND sport = $vsport
    ORDER BY id LIMIT 1")
vseen=$(q "SELECT count(*) FROM verdicts WHERE conn_id = ${vid:-0}")
ctg_check "UDP over IPv6: offloaded, ctguard judged $vseen of 600 datagrams" \
    test -n "$(wait_row "SELECT count(*) FROM events WHERE kind = 'offload_start' AND
    count = ${vid:-0}")" -a "${vseen:-999}" -le 40

# ctguard kill of a live offloaded UDP flow: its summary has the kernel's
# counters, the mark leaves the kernel entry, its next datagrams reach the
# queue and make a new connection, offloaded anew
ksport=$((usport + 3))
ctg_bg "$CTG_NS_CLI" "$T/ukill.out" timeout 40 "$PYSCAPY" "$H" usend "$CTG_SRV4" "$UPORT" \
    1500 "$USIZE" 3 "$ksport"
KPID=$CTG_BG_PID
kid=$(wait_row "SELECT conn_id FROM verdicts WHERE proto = 17 AND sport = $ksport ORDER BY id LIMIT 1")
wait_row "SELECT count(*) FROM events WHERE kind = 'offload_start' AND count = ${kid:-0}" >/dev/null
sleep 0.5
ctg_check "UDP: ctguard kill ${kid:-none} of the offloaded flow" ctl kill "${kid:-0}"
wait "$KPID" 2>/dev/null
ctg_check "UDP: the killed summary is offloaded with the kernel's counters" \
    test -n "$(wait_row "SELECT count(*) FROM connections WHERE id = ${kid:-0} AND
    end_reason = 'killed' AND offloaded = 1 AND offload_orig_pkts > 0")"
ctg_check "UDP: its datagrams reached the queue again: a new connection, offloaded anew" \
    test "$(q "SELECT count(*) FROM events WHERE kind = 'offload_start' AND count IN
    (SELECT DISTINCT conn_id FROM verdicts WHERE proto = 17 AND sport = $ksport)")" = 2

# a rate-limited rule meters every datagram: never offloaded
rsport=$((usport + 1))
ctg_quiet py_cli usend "$CTG_SRV4" "$URATED" 300 "$USIZE" 1 "$rsport"
rid=$(wait_row "SELECT conn_id FROM verdicts WHERE proto = 17 AND sport = $rsport ORDER BY id LIMIT 1")
# the audit writer commits in batches: wait for the summary (ctguard's 2 s timeout)
wait_row "SELECT count(*) FROM connections WHERE id = ${rid:-0}" >/dev/null
rseen=$(q "SELECT count(*) FROM verdicts WHERE conn_id = ${rid:-0}")
ctg_check "UDP under rate_limit: no offload_start, every datagram judged ($rseen verdicts)" \
    test "$(q "SELECT count(*) FROM events WHERE kind = 'offload_start' AND count = ${rid:-0}")" = 0 \
    -a "${rseen:-0}" -ge 590
# ICMP stays with ctguard
# (the default rules' ping rule meters it, 5/s burst 10: 30 requests, some dropped)
ip netns exec "$CTG_NS_CLI" ping -q -c 30 -i 0.05 -W 1 "$CTG_SRV4" >/dev/null 2>&1
pid=$(wait_row "SELECT conn_id FROM verdicts WHERE proto = 1 ORDER BY id DESC LIMIT 1")
wait_row "SELECT count(*) FROM connections WHERE id = ${pid:-0}" >/dev/null
pseen=$(q "SELECT count(*) FROM verdicts WHERE conn_id = ${pid:-0}")
ctg_check "ICMP echo: not offloaded, every packet judged ($pseen verdicts)" \
    test "$(q "SELECT count(*) FROM events WHERE kind = 'offload_start' AND count = ${pid:-0}")" = 0 \
    -a "${pseen:-0}" -ge 30

# --- 7. UDP across a restart ---------------------------------------------------
# An offloaded flow's kernel entry ends while ctguardd is stopped: its
# DESTROY event is lost, and the entry restored from the snapshot ends at
# start, when a dump of the kernel's marked entries lacks it.
xsport=$((usport + 2))
ctg_quiet py_cli usend "$CTG_SRV4" "$UPORT" 200 "$USIZE" 1 "$xsport"
xid=$(wait_row "SELECT conn_id FROM verdicts WHERE proto = 17 AND sport = $xsport ORDER BY id LIMIT 1")
ctg_check "UDP restart: the flow was offloaded" \
    test -n "$(wait_row "SELECT count(*) FROM events WHERE kind = 'offload_start' AND
    count = ${xid:-0}")"
kill -TERM "$DPID" 2>/dev/null
wait "$DPID" 2>/dev/null
cp "$T/ctguardd.log" "$T/ctguardd.1.log"        # the restart writes a new one
gw conntrack -D -p udp --sport "$xsport" >/dev/null 2>&1
ctg_check "UDP restart: its kernel entry is gone" test "$(ukernel "$xsport")" = 0
ctg_check "UDP restart: not ended before the stop" \
    test "$(q "SELECT count(*) FROM connections WHERE id = ${xid:-0}")" = 0
if start_daemon; then
	ctg_ok "ctguardd restarted (its table from the snapshot)"
else
	ctg_not_ok "ctguardd restarted"
fi
ctg_check "UDP restart: the restored entry ended at start, its kernel entry gone" \
    test -n "$(wait_row "SELECT count(*) FROM connections WHERE id = ${xid:-0} AND
    offloaded = 1 AND end_reason = 'timeout'")"
ctg_check "UDP restart: ctguardd says so" \
    grep -q 'offloaded UDP flows ended: their kernel entries were gone' "$T/ctguardd.log"

# --- teardown: remove leaves nothing -----------------------------------------
kill -TERM "$DPID" 2>/dev/null
wait "$DPID" 2>/dev/null
ctg_check "the kernel took the event filter (only offloaded UDP entries' DESTROYs wake ctguardd)" \
    sh -c "! cat '$T'/ctguardd*.log | grep -q 'conntrack event filter refused'"
ctg_check "ctguardd log has no sanitizer report" \
    sh -c "! cat '$T'/ctguardd*.log | grep -q -E 'AddressSanitizer|LeakSanitizer|runtime error:'"
ctg_quiet "$SETUP" remove --netns "$CTG_NS_GW"
rules_dump >"$T/rules.after"
if diff "$T/rules.before" "$T/rules.after" >"$T/rules.diff"; then
	ctg_ok "ctguard-setup remove restored the filter tables exactly"
else
	ctg_not_ok "ctguard-setup remove restored the filter tables"
	sed 's/^/#   /' "$T/rules.diff"
fi
[ "$CTG_FAILS" -eq 0 ] || dump_log
ctg_finish
