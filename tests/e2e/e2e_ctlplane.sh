#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end: the control plane of the live daemon (ctguardd) on a gateway
# namespace, against hostile and unprivileged local clients.
#
#  1. 64 hostile clients at once (idle, asking for a big connections listing
#     and never reading it, sending their request a byte a second, sending
#     random bytes slowly) while
#     another client asks for status every 50 ms: every status answers,
#     95% within 100 ms and the worst within 1 s (both printed)
#  2. roles by SO_PEERCRED: a uid in the socket's group reads (status,
#     connections) but cannot flush (answered, recorded as an event); the
#     admin group and root can; ctguardd -t refuses a world-writable mode
#  3. the connections filter refuses what the shared parser refuses
#     (port=http) with its message, and prints protocol names
#
# Environment: srcdir, builddir as for e2e_gateway.sh.
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
ctg_require_tools ip iptables ip6tables python3 timeout sqlite3 getent

ctg_programs "$top" "$bld"

ctg_tmpdir
T=$CTG_TMPDIR
chmod 0711 "$T"         # the unprivileged clients reach the socket inside
DB=$T/audit.db
SOCK=$T/ctl.sock
RULES=$T/gateway.rules
H=$T/ctlc.py
UDPPORT=7001
NFLOWS=${CTG_CTL_FLOWS:-4000}
# the socket's group and the admin group: any two existing groups do
RGROUP=nogroup
AGROUP=adm
RGID=$(getent group "$RGROUP" | cut -d: -f3)
AGID=$(getent group "$AGROUP" | cut -d: -f3)
[ -n "$RGID" ] && [ -n "$AGID" ] || ctg_skip "needs groups $RGROUP and $AGROUP"
USER_UID=45678          # not root, not the daemon; needs no passwd entry

cat >"$H" <<'EOF'
import os, select, socket, struct, sys, threading, time

def say(m):
    print('# ' + m, flush=True)

def frame(text):
    b = text.encode()
    return struct.pack('>I', len(b)) + b

def recv_all(s, n):
    out = b''
    while len(out) < n:
        c = s.recv(n - len(out))
        if not c:
            raise EOFError('closed after %d of %d bytes' % (len(out), n))
        out += c
    return out

def request(path, text, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(frame(text))
    n = struct.unpack('>I', recv_all(s, 4))[0]
    r = recv_all(s, n).decode(errors='replace')
    s.close()
    return r

def as_user(uid, gid, groups):
    os.setgroups(groups)
    os.setgid(gid)
    os.setuid(uid)

def flows(dst, port, n):
    # n UDP flows (distinct source ports), one datagram each
    sent = 0
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(('0.0.0.0', 20000 + i))
            s.sendto(b'x', (dst, port))
            sent += 1
        finally:
            s.close()
    say('sent %d flows' % sent)

stop = False
counts = {'idle': 0, 'noread': 0, 'slow': 0, 'garbage': 0, 'errors': 0}

def hostile(path, kind):
    # each kind reconnects when the daemon cuts it, until told to stop
    while not stop:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(30)
            s.connect(path)
            counts[kind] += 1
            if kind == 'noread':
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.sendall(frame('connections'))
            elif kind == 'slow':
                for b in frame('connections json'):
                    if stop:
                        break
                    s.send(bytes([b]))
                    time.sleep(1)
            elif kind == 'garbage':
                # random bytes, slowly: a nonsense length, then noise
                for b in os.urandom(64):
                    if stop:
                        break
                    s.send(bytes([b]))
                    time.sleep(0.3)
            # idle, or never reading: wait for the cut
            while not stop:
                s.settimeout(0.2)
                try:
                    if kind == 'noread':
                        # the reply stays unread: only notice the hang-up
                        p = select.poll()
                        p.register(s, select.POLLHUP | select.POLLRDHUP)
                        if p.poll(200):
                            break
                    elif s.recv(65536) == b'':
                        break
                except socket.timeout:
                    pass
            s.close()
        except OSError:
            counts['errors'] += 1
            time.sleep(0.05)

def storm(path, n, secs, limit_ms):
    global stop
    kinds = ['idle', 'noread', 'slow', 'garbage']
    # the hostile clients in a process of their own: their threads must not
    # hold the measuring client up (the interpreter runs one thread at a time)
    rfd, wfd = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(rfd)
        ts = [threading.Thread(target=hostile, args=(path, kinds[i % len(kinds)]), daemon=True)
              for i in range(n)]
        for t in ts:
            t.start()
        time.sleep(secs + 1.5)
        stop = True
        os.write(wfd, ('%d %d %d %d' % (counts['idle'], counts['noread'], counts['slow'],
                                         counts['garbage'])).encode())
        os._exit(0)
    os.close(wfd)
    time.sleep(1.5)     # every hostile client connected and at work
    lat = []
    fails = 0
    end = time.monotonic() + secs
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            r = request(path, 'status', timeout=5)
            if not r.startswith('ok\n'):
                fails += 1
        except Exception as e:
            fails += 1
            say('status failed: %s' % e)
        lat.append((time.monotonic() - t0) * 1000)
        time.sleep(0.05)
    got = os.read(rfd, 100).decode().split()
    os.waitpid(child, 0)
    counts['idle'], counts['noread'], counts['slow'], counts['garbage'] = [int(x) for x in got]
    lat.sort()
    say('status x%d under %d hostile clients: worst %.1f ms, p50 %.1f ms, failures %d; '
        'hostile connects idle %d noread %d slow %d garbage %d' % (len(lat), n, lat[-1],
        lat[len(lat) // 2], fails, counts['idle'], counts['noread'], counts['slow'],
        counts['garbage']))
    # p95 within the limit; the worst within 1 s: a server held by a hostile
    # client stalls for its deadlines (1 s for a request, 2 s for a reply),
    # while one scheduling outlier of a loaded 2-core machine reached 220 ms
    p95 = lat[min(len(lat) - 1, len(lat) * 95 // 100)]
    print('worst_ms %.1f' % lat[-1])
    print('p95_ms %.1f' % p95)
    sys.exit(0 if fails == 0 and p95 <= limit_ms and lat[-1] <= 1000 and len(lat) >= 20 else 1)

def manyflows(dst, n, pace):
    # n UDP flows: 8 source ports x consecutive destination ports
    socks = []
    for k in range(8):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(('0.0.0.0', 31000 + k))
        socks.append(s)
    sent = 0
    for i in range(n):
        try:
            socks[i % 8].sendto(b'f', (dst, 1 + (i // 8) % 65535))
            sent += 1
        except OSError:
            pass    # an ICMP error from an earlier datagram
        if i % 400 == 399:
            time.sleep(pace)
    say('sent %d flows' % sent)

def rtts(path):
    # "time=0.123 ms" lines of ping: sorted, p50 / p99 / max
    v = sorted(float(l.split('time=')[1].split()[0]) for l in open(path) if 'time=' in l)
    if not v:
        print('0 0 0 0')
        return
    print('%d %.3f %.3f %.3f' % (len(v), v[len(v) // 2], v[int(len(v) * 0.99)], v[-1]))

def freeze(tid, secs):
    # stop one thread of the daemon (ptrace is per thread: the others run on)
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_DETACH = 0x4206, 0x4207, 17
    if libc.ptrace(PTRACE_SEIZE, tid, None, None) != 0:
        say('ptrace seize: errno %d' % ctypes.get_errno())
        sys.exit(1)
    libc.ptrace(PTRACE_INTERRUPT, tid, None, None)
    os.waitpid(tid, 0x40000000)     # __WALL
    say('thread %d stopped' % tid)
    time.sleep(secs)
    libc.ptrace(PTRACE_DETACH, tid, None, None)
    say('thread %d released' % tid)

cmd = sys.argv[1]
if cmd == 'req':
    print(request(sys.argv[2], ' '.join(sys.argv[3:])), end='')
elif cmd == 'as':
    uid, gid = int(sys.argv[2]), int(sys.argv[3])
    groups = [int(g) for g in sys.argv[4].split(',') if g]
    as_user(uid, gid, groups)
    print(request(sys.argv[5], ' '.join(sys.argv[6:])), end='')
elif cmd == 'asmany':
    uid, gid, n = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[5])
    as_user(uid, gid, [])
    refused = sum(request(sys.argv[4], ' '.join(sys.argv[6:])).startswith('error: permission denied')
                  for _ in range(n))
    print(refused)
elif cmd == 'flows':
    flows(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
elif cmd == 'storm':
    storm(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
elif cmd == 'freeze':
    freeze(int(sys.argv[2]), float(sys.argv[3]))
elif cmd == 'manyflows':
    manyflows(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
elif cmd == 'rtts':
    rtts(sys.argv[2])
elif cmd == 'udpsink':
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', int(sys.argv[2])))
    while True:
        s.recv(2048)
EOF

q() {
	sqlite3 -cmd '.timeout 5000' "$DB" "$1"
}

# has TEXT PATTERN: the text holds a line matching the pattern
has() {
	echo "$1" | grep -q -- "$2"
}

ctl() {
	timeout 40 "$CTGUARD" -s "$SOCK" "$@"
}

pyctl() {
	timeout 60 python3 "$H" "$@"
}

queue_bound() {
	# shellcheck disable=SC2016
	ctg_in "$CTG_NS_GW" awk -v q="$1" '$1 == q { f = 1 } END { exit !f }' \
	    /proc/net/netfilter/nfnetlink_queue
}

write_config() {
	# write_config FILE MODE
	cat >"$1" <<EOF2
queue = { first = 0; count = 1; };
tracker = { max_connections = 524288; unanswered_share = 100;
	timeouts = { udp_unreplied = 600; udp_replied = 600; }; };
log = { database = "$DB"; policy = "decisions"; };
daemon = {
	user = "";
	pidfile = "$T/ctguardd.pid";
	control_socket = "$SOCK";
	control_mode = "$2";
	control_group = "$RGROUP";
	control_admin_group = "$AGROUP";
	state_file = "$T/conntable.snap";
	checkpoint_interval = 0;
};
rules = { files = [ "$RULES" ]; reload = "recheck"; };
EOF2
}

DPID=
start_daemon() {
	ctg_bg "$CTG_NS_GW" "$T/ctguardd.log" "$CTGUARDD" -f -c "$1" -R "$RULES"
	DPID=$CTG_BG_PID
	ctg_wait_for 15 queue_bound 0 || return 1
	ctg_wait_for 10 ctl status
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

logs_clean() {
	! grep -q -E 'AddressSanitizer|LeakSanitizer|runtime error:|SUMMARY: ' \
	    "$T"/ctguardd.log 2>/dev/null
}

# --- a world-writable socket is refused -------------------------------------
cp "$top/rules/default.rules" "$RULES"
CONF=$T/ctguard.conf
write_config "$CONF" 0666
out=$("$CTGUARDD" -t -c "$CONF" -R "$RULES" 2>&1)
if [ $? -ne 0 ] && echo "$out" | grep -q "writable by every user"; then
	ctg_ok "ctguardd -t refuses control_mode 0666 ($out)"
else
	ctg_not_ok "ctguardd -t refuses control_mode 0666 (got: $out)"
fi
write_config "$CONF" 0660
ctg_check "ctguardd -t accepts control_mode 0660 with an admin group" \
    ctg_quiet "$CTGUARDD" -t -c "$CONF" -R "$RULES"

# --- topology, daemon, flows ----------------------------------------------------
if ! ctg_topology; then
	echo "not ok - cannot build the namespace topology"
	exit 1
fi
ctg_bg "$CTG_NS_SRV" "$T/sink.log" timeout 300 python3 "$H" udpsink "$UDPPORT"
if ! ctg_quiet "$SETUP" install --netns "$CTG_NS_GW" --queues 0:1; then
	echo "not ok - ctguard-setup install failed"
	exit 1
fi
if start_daemon "$CONF"; then
	ctg_ok "ctguardd started, control socket answers"
else
	ctg_not_ok "ctguardd started"
	tail -20 "$T/ctguardd.log" | sed 's/^/#   /'
	ctg_finish
fi
ctg_check "socket mode 0660, group $RGROUP" \
    test "$(stat -c '%a %G' "$SOCK")" = "660 $RGROUP"
# CAP_NET_RAW (bit 13) is gone once the REJECT sockets are open
capeff=$(awk '/^CapEff/ { print $2 }' "/proc/$DPID/status")
ctg_check "CAP_NET_RAW dropped after start (CapEff $capeff)" \
    test $(( 0x$capeff & (1 << 13) )) -eq 0
ctg_check "CAP_NET_ADMIN kept (CapEff $capeff)" test $(( 0x$capeff & (1 << 12) )) -ne 0

timeout 120 ip netns exec "$CTG_NS_CLI" python3 "$H" flows "$CTG_SRV4" "$UDPPORT" "$NFLOWS"
live() { ctl status | awk '/^connections/ { split($2, a, "/"); print a[1] }'; }
ctg_wait_for 10 test "$(live)" -ge "$NFLOWS"
n=$(live)
if [ "${n:-0}" -ge "$NFLOWS" ]; then
	ctg_ok "$n connections tracked"
else
	ctg_not_ok "connections tracked: ${n:-none}, want $NFLOWS"
fi
size=$(ctl connections | wc -c)
ctg_check "connections listing ($size bytes) is larger than a socket buffer" \
    test "$size" -gt 300000
ctg_check "connections prints protocol names" \
    sh -c "timeout 40 '$CTGUARD' -s '$SOCK' connections | awk 'NR > 1 && \$2 == \"udp\" { f = 1 } END { exit !f }'"
ctg_check "connections json has proto and proto_name" \
    sh -c "timeout 40 '$CTGUARD' -s '$SOCK' connections --json 2>/dev/null | grep -q '\"proto\":17,\"proto_name\":\"udp\"' ||
        timeout 40 python3 '$H' req '$SOCK' connections json | grep -q '\"proto\":17,\"proto_name\":\"udp\"'"
out=$(pyctl req "$SOCK" connections port=http)
if echo "$out" | grep -q "error: bad port 'http' (a number 0-65535: service names are not looked up)"; then
	ctg_ok "connections port=http: $out"
else
	ctg_not_ok "connections port=http refused with the shared message (got: $out)"
fi
out=$(pyctl req "$SOCK" connections addr=198.51.100.2/24)
ctg_check "connections addr with host bits refused like the rule language ($out)" \
    has "$out" 'host bits set'

# --- 64 hostile clients, status stays fast -------------------------------------
echo "# daemon side before: $(ctl stats | grep '^control')"
out=$(timeout 120 python3 "$H" storm "$SOCK" 64 8 100)
rc=$?
echo "$out"
worst=$(echo "$out" | awk '/^worst_ms/ { print $2 }')
p95=$(echo "$out" | awk '/^p95_ms/ { print $2 }')
if [ "$rc" -eq 0 ]; then
	ctg_ok "status under 64 hostile clients: p95 ${p95} ms (<= 100 ms), worst ${worst} ms (<= 1 s)"
else
	ctg_not_ok "status under 64 hostile clients: p95 ${p95:-?} ms, worst ${worst:-?} ms (want p95 <= 100 ms, worst <= 1 s, no failure)"
fi
ctg_check "daemon alive after the storm" kill -0 "$DPID"
ctg_check "status answers after the storm" ctg_quiet ctl status
cut=$(ctl stats | awk '$1 == "control" { print $5 }')
# idle and byte-a-second clients are cut at 1 s, the non-reading ones at 2 s
ctg_check "the daemon cut the hostile clients ($cut cuts in 8 s)" test "${cut:-0}" -ge 100
echo "# daemon side: $(ctl stats | grep '^control')"

# --- roles ------------------------------------------------------------------------
out=$(pyctl as "$USER_UID" "$RGID" "" "$SOCK" status)
ctg_check "uid $USER_UID in group $RGROUP reads status" \
    has "$out" '^ok$'
out=$(pyctl as "$USER_UID" "$RGID" "" "$SOCK" flush)
if echo "$out" | grep -q "^error: permission denied: 'flush'"; then
	ctg_ok "uid $USER_UID in group $RGROUP cannot flush: $out"
else
	ctg_not_ok "uid $USER_UID in group $RGROUP cannot flush (got: $out)"
fi
for c in kill\ 1 reload reopen-log; do
	out=$(pyctl as "$USER_UID" "$RGID" "" "$SOCK" "$c")
	ctg_check "uid $USER_UID cannot '$c'" \
	    has "$out" '^error: permission denied'
done
n=$(live)
ctg_check "the refused flush ended nothing ($n live)" test "${n:-0}" -ge "$NFLOWS"
ctg_wait_for 5 test "$(q "SELECT count(*) FROM events WHERE detail LIKE 'control: refused ''flush'' from uid $USER_UID%'")" -ge 1
ctg_check "the refusal is an audit event" \
    test "$(q "SELECT count(*) FROM events WHERE detail LIKE 'control: refused ''flush'' from uid $USER_UID%'")" -ge 1
# a client refused again and again: every refusal counted, few rows
out=$(pyctl asmany "$USER_UID" "$RGID" "$SOCK" 200 reload)
ctg_check "200 reloads by uid $USER_UID all refused ($out)" test "$out" -eq 200
# one more a second later carries the surplus of the last second into the log
sleep 1.1
pyctl as "$USER_UID" "$RGID" "" "$SOCK" reload >/dev/null
sel="FROM events WHERE detail LIKE 'control: refused ''reload'' from uid $USER_UID%'"
ctg_wait_for 5 test "$(q "SELECT coalesce(sum(count), 0) $sel")" -ge 202
rows=$(q "SELECT count(*) $sel")
sum=$(q "SELECT coalesce(sum(count), 0) $sel")
ctg_check "refusals rate-limited in the log: $rows rows count all 202 ($sum)" \
    test "$rows" -lt 100 -a "$sum" -eq 202
out=$(pyctl as "$USER_UID" "$RGID" "$AGID" "$SOCK" kill 999999999)
ctg_check "uid $USER_UID with supplementary group $AGROUP may kill ($out)" \
    has "$out" 'no connection 999999999'
out=$(pyctl req "$SOCK" flush)
ctg_check "root flushes ($(echo "$out" | tr '\n' ' '))" \
    has "$out" '^flushed'
n=$(live)
ctg_check "after the flush no connection is left ($n)" test "${n:-1}" -eq 0

# --- flush of a big table: the packet path's latency -------------------------------
# ping through the gateway every 2 ms; p99 of a run without and of a run
# with a flush in its middle
BIG=${CTG_CTL_FLUSH_FLOWS:-200000}
timeout 300 ip netns exec "$CTG_NS_CLI" python3 "$H" manyflows "$CTG_SRV4" "$BIG" 0.02
ctg_wait_for 10 sh -c "[ \$(timeout 40 '$CTGUARD' -s '$SOCK' status | awk '/^connections/ { split(\$2, a, \"/\"); print a[1] }') -ge $((BIG * 9 / 10)) ]"
nbig=$(live)
ctg_check "$nbig of $BIG flows tracked" test "${nbig:-0}" -ge $((BIG * 9 / 10))
pingrun() {
	ctg_in "$CTG_NS_CLI" ping -n -i 0.002 -c "$1" "$CTG_SRV4" >"$2" 2>&1
}
pingrun 1500 "$T/ping-base"
read -r n0 p50_0 p99_0 max_0 < <(python3 "$H" rtts "$T/ping-base")
pingrun 1500 "$T/ping-flush" &
pp=$!
sleep 1
t0=$(date +%s%N)
fout=$(ctl flush)
t1=$(date +%s%N)
wait $pp
read -r n1 p50_1 p99_1 max_1 < <(python3 "$H" rtts "$T/ping-flush")
echo "# flush of $nbig connections: $(( (t1 - t0) / 1000000 )) ms ($(echo "$fout" | tr '\n' ' '))"
echo "# ping every 2 ms, without flush: n $n0 p50 $p50_0 p99 $p99_0 max $max_0 ms"
echo "# ping every 2 ms, during flush:  n $n1 p50 $p50_1 p99 $p99_1 max $max_1 ms"
nflushed=$(echo "$fout" | awk '/^flushed/ { print $2 }')
ctg_check "flush ended them all ($(echo "$fout" | tr '\n' ' '))" test "${nflushed:-0}" -ge "$nbig"
# What the flush decides: how long the worker can wait for its lock. Under
# 1 ms in 99% of the holds (a hold past it is the main thread preempted on
# a busy machine), the packet path's p99 moves by at most 1 ms.
read -r holds over < <(echo "$fout" | awk '/^lock_holds/ { print $2, $4 }')
ctg_check "flush lock holds past 1 ms: $over of $holds (<= 1%)" \
    test "${holds:-0}" -gt 0 -a $(( ${over:-1} * 100 )) -le "${holds:-0}"
# The ping figures themselves move with whatever else the machine runs:
# compared only on request (a quiet machine), else printed.
if [ "${CTG_STRICT_TIMING:-}" = 1 ]; then
	ctg_check "packet path p99 during the flush ($p99_1 ms) within 1 ms of without ($p99_0 ms)" \
	    python3 -c "import sys; sys.exit(0 if $n1 >= 1000 and $p99_1 <= $p99_0 + 1.0 else 1)"
fi
ctg_check "the ping ran through the flush ($n1 replies)" test "$n1" -ge 1000
sleep 2
drop=$(ctl stats | awk '$1 == "log" { print $5 }')
ctg_check "no end record of the flush was dropped (log dropped $drop)" test "${drop:-1}" -eq 0
ctg_wait_for 20 sh -c "timeout 40 '$CTGUARD' -s '$SOCK' status | grep -q '^log_pending 0$'"
ended=$(q "SELECT count(*) FROM connections WHERE end_reason = 'flushed'")
ctg_check "every flushed connection has its end record ($ended rows, $NFLOWS + $nbig flushed)" \
    test "$ended" -ge "$nbig"

# --- watchdog: a worker that stops while its queue has packets ----------------------
wtid=
for t in /proc/"$DPID"/task/*; do
	[ "$(cat "$t/comm" 2>/dev/null)" = ctg-q0 ] && wtid=${t##*/}
done
if [ -n "$wtid" ]; then
	timeout 30 python3 "$H" freeze "$wtid" 8 >"$T/freeze.log" 2>&1 &
	fp=$!
	sleep 0.5
	timeout 60 ip netns exec "$CTG_NS_CLI" python3 "$H" manyflows "$CTG_SRV4" 400 0.05 >/dev/null
	stuck() { ctl status | grep -q '^worker_stuck queue 0'; }
	t0=$(date +%s%N)
	if ctg_wait_for 9 stuck; then
		ctg_ok "a frozen worker with packets waiting is reported stuck ($(( ($(date +%s%N) - t0) / 1000000 )) ms after the packets)"
	else
		ctg_not_ok "a frozen worker with packets waiting is reported stuck"
		cat "$T/freeze.log"
	fi
	t0=$(date +%s%N)
	out=$(pyctl req "$SOCK" status)
	ctg_check "status still answers while the worker is frozen ($(( ($(date +%s%N) - t0) / 1000000 )) ms: $(echo "$out" | grep -E "^(ok|workers_busy|worker_stuck|error)" | tr "\n" " "))" \
	    has "$out" '^ok$'
	ctg_check "the daemon log says so" grep -q "queue 0: worker made no progress" "$T/ctguardd.log"
	wait "$fp"
	ctg_wait_for 5 sh -c "! timeout 40 '$CTGUARD' -s '$SOCK' status | grep -q '^worker_stuck'"
	ctg_check "released, the worker is no longer reported stuck" \
	    sh -c "! timeout 40 '$CTGUARD' -s '$SOCK' status | grep -q '^worker_stuck'"
	ctg_check "the daemon log says it moves again" grep -q "queue 0: worker moving again" "$T/ctguardd.log"
else
	ctg_not_ok "worker thread ctg-q0 not found"
fi

ctg_check "ctguardd stops cleanly" stop_daemon
ctg_check "no sanitizer report" logs_clean
ctg_finish
