#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end (issue 14): the live daemon under spoofed floods at five times
# its table size per second. ctguardd guards the gateway between the
# client (inside, also the attacker) and the server namespace with the
# shipped default gateway rules, one queue, tracker.max_connections = 1000.
#
# Legitimate traffic runs through the whole test: 20 established
# connections each exchanging a 16-byte message every 50 ms, and a client
# opening 50 new connections a second, each answered at once. Meanwhile
# tests/kit/flood sends, phase by phase, 5,000 spoofed segments a second
# (random sources in 198.51.100.128/25, random ports) to the server's port
# 22, which the rules open to NEW:
#   ack-silent   bare ACKs, the server drops them (pick-ups never answered:
#                the case of the issue)
#   syn-silent   SYNs, the server drops them (SYN_SENT never answered)
#   ack-answered bare ACKs, the server's listener answers each with a RST
#   syn-answered SYNs, the server's listener answers each with a SYN/ACK
#                (syncookies): half-open entries both sides "spoke" in
# Asserted in every phase: every established message round trip succeeds
# (no reset, no stall over 1 s), >= 95% of the new connections complete
# (handshake and one echo within 3 s), the kernel's queue dropped nothing
# (fail-closed: a queue drop is a lost legitimate packet too), and the
# kernel's own conntrack in the gateway dropped nothing. Printed: admitted
# share, messages passed, table occupancy mid-phase (ctguard status),
# evicted and refused counters (ctguard stats).
#
# The default table (262,144 entries) at 5x per second would be 1.3M pps:
# not feasible live on a test machine; bench_tracker's flood_* figures
# cover that size in process.
#
# Environment: srcdir, builddir as the other e2e tests. FLOOD_DAEMON_BUILD:
# take ctguardd and ctguard from another build directory (to show what an
# older build does under the same floods). FLOOD_UNANSWERED_SHARE: set
# tracker.unanswered_share. FLOOD_SECS: seconds per phase (default 10).
# FLOOD_PHASES: the phases to run (default all four). FLOOD_KEEP: copy the
# scratch directory (audit log, daemon log, traffic log) there at the end.
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
ctg_require_tools ip iptables python3 timeout awk

ctg_programs "$top" "${FLOOD_DAEMON_BUILD:-$bld}"
FLOOD=$bld/tests/kit/flood
if [ ! -x "$FLOOD" ]; then
	echo "not ok - $FLOOD not built (make check builds it)"
	exit 1
fi

ctg_tmpdir
T=$CTG_TMPDIR
SOCK=$T/ctl.sock
RULES=$T/gateway.rules
H=$T/flood.py
ECHOPORT=7000           # the legitimate traffic's echo server
SSHPORT=22              # the "services" set of default.rules: flooded
SECS=${FLOOD_SECS:-10}
PPS=5000
PHASES=${FLOOD_PHASES:-ack-silent syn-silent ack-answered syn-answered}
TABLE=1000

cat >"$H" <<'EOF'
import socket, sys, threading, time

def serve(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0', port))
    s.listen(1024)
    def echo(c):
        try:
            c.settimeout(120)
            while True:
                d = c.recv(4096)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        finally:
            c.close()
    while True:
        c, _ = s.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()

def exchange(s, msg):
    s.sendall(msg)
    got = b''
    while len(got) < len(msg):
        d = s.recv(4096)
        if not d:
            raise OSError('closed by the peer')
        got += d
    if got != msg:
        raise OSError('echo differs')

# Legitimate traffic until STOPFILE appears (or MAXSECS pass). One line per
# event: "E time conn rtt", "EF time conn error", "N start ok dt",
# "NF start error dt". "ready" once the 20 connections are open.
def legit(host, port, stopfile, maxsecs, log):
    import os
    out = open(log, 'w', buffering=1)
    lock = threading.Lock()
    def w(line):
        with lock:
            out.write(line + '\n')
    end = time.time() + maxsecs
    def stop():
        return os.path.exists(stopfile) or time.time() > end
    conns = []
    for i in range(20):
        s = socket.create_connection((host, port), timeout=5)
        s.settimeout(1.0)       # a stall over 1 s is a failure
        exchange(s, b'hello %02d\n' % i)
        conns.append(s)
    def est(i, s):
        k = 0
        nxt = time.time()
        while not stop():
            nxt += 0.05
            d = nxt - time.time()
            if d > 0:
                time.sleep(d)
            t = time.time()
            try:
                exchange(s, b'msg %02d %08d\n' % (i, k % 100000000))
            except OSError as e:
                w('EF %.3f %d %s' % (t, i, str(e).replace(' ', '_') or type(e).__name__))
                return
            w('E %.3f %d %.4f' % (t, i, time.time() - t))
            k += 1
        s.close()
    def new1():
        t = time.time()
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.bind(('0.0.0.0', 0))
        sp = c.getsockname()[1]
        try:
            c.settimeout(3)
            c.connect((host, port))
            c.settimeout(max(0.1, 3 - (time.time() - t)))
            exchange(c, b'n\n')
            c.close()
            w('N %.3f ok %.4f' % (t, time.time() - t))
        except OSError as e:
            c.close()
            w('NF %.3f %s %.4f %d' % (t, str(e).replace(' ', '_') or type(e).__name__,
                                      time.time() - t, sp))
    th = [threading.Thread(target=est, args=(i, s)) for i, s in enumerate(conns)]
    for x in th:
        x.start()
    w('ready %.3f' % time.time())
    nxt = time.time()
    while not stop():
        nxt += 0.02                     # 50 a second
        d = nxt - time.time()
        if d > 0:
            time.sleep(d)
        threading.Thread(target=new1, daemon=True).start()
    for x in th:
        x.join()
    time.sleep(3.5)                     # the last new connections finish
    w('end %.3f' % time.time())

# Per phase ("name start end" lines): established messages, failures, the
# worst round trip, and the new connections started in the phase.
def analyze(log, phases):
    ev = [l.split() for l in open(log)]
    for line in open(phases):
        name, a, b = line.split()
        a, b = float(a), float(b)
        inb = lambda x: a <= float(x[1]) < b
        e = [x for x in ev if x[0] == 'E' and inb(x)]
        ef = [x for x in ev if x[0] == 'EF' and inb(x)]
        n = [x for x in ev if x[0] == 'N' and inb(x)]
        nf = [x for x in ev if x[0] == 'NF' and inb(x)]
        slow = [x for x in n if float(x[3]) > 1.0]
        total = len(n) + len(nf)
        print('%s est_ok %d est_fail %d est_rtt_max_ms %.0f new %d new_ok %d '
              'new_pct %.1f new_over_1s %d fail_examples %s' % (
                  name, len(e), len(ef),
                  1000 * max([float(x[3]) for x in e] or [0]),
                  total, len(n), 100.0 * len(n) / total if total else 0,
                  len(slow), ','.join(x[2] + ':' + x[3] for x in (ef + nf)[:3]) or '-'))

cmd, a = sys.argv[1], sys.argv[2:]
if cmd == 'serve':
    serve(int(a[0]))
elif cmd == 'legit':
    legit(a[0], int(a[1]), a[2], float(a[3]), a[4])
elif cmd == 'analyze':
    analyze(a[0], a[1])
elif cmd == 'connects':
    socket.create_connection((a[0], int(a[1])), timeout=2).close()
else:
    sys.exit(2)
EOF

ctl() {
	timeout 20 "$CTGUARD" -s "$SOCK" "$@"
}

queue_bound() {
	# shellcheck disable=SC2016
	ctg_in "$CTG_NS_GW" awk '$1 == 0 { f = 1 } END { exit !f }' \
	    /proc/net/netfilter/nfnetlink_queue
}

# queue 0's kernel counters: "queue_dropped user_dropped" (nfnetlink_queue
# columns 6 and 7: the queue was full / the socket's buffer was)
queue_drops() {
	ctg_in "$CTG_NS_GW" awk '$1 == 0 { print $6, $7 }' /proc/net/netfilter/nfnetlink_queue
}

# the gateway's kernel conntrack: "count drops" (drop + early_drop +
# insert_failed over every CPU; a fresh namespace without conntrack rules
# may never attach it, then both stay 0)
conntrack_state() {
	ctg_in "$CTG_NS_GW" python3 -c '
n = d = 0
try:
    n = int(open("/proc/sys/net/netfilter/nf_conntrack_count").read())
    rows = [l.split() for l in open("/proc/net/stat/nf_conntrack")]
    col = {k: i for i, k in enumerate(rows[0])}
    for r in rows[1:]:
        d += sum(int(r[col[k]], 16) for k in ("drop", "early_drop", "insert_failed"))
except OSError:
    pass
print(n, d)'
}

now() { date +%s.%N; }

# --- topology, servers, rules, daemon -------------------------------------------
if ! ctg_topology; then
	echo "not ok - cannot build the namespace topology"
	exit 1
fi
ctg_ok "topology $CTG_NS_CLI / $CTG_NS_GW / $CTG_NS_SRV"

ctg_bg "$CTG_NS_SRV" "$T/echo.log" timeout 300 python3 "$H" serve "$ECHOPORT"
ctg_bg "$CTG_NS_SRV" "$T/ssh.log" timeout 300 python3 "$H" serve "$SSHPORT"
if ! ctg_wait_for 10 ctg_in "$CTG_NS_SRV" python3 "$H" connects 127.0.0.1 "$ECHOPORT" ||
    ! ctg_wait_for 10 ctg_in "$CTG_NS_SRV" python3 "$H" connects 127.0.0.1 "$SSHPORT"; then
	echo "not ok - the servers did not start"
	exit 1
fi
# The server answers a SYN flood with syncookies (as a real one does), so
# its backlog never decides the outcome.
ctg_in "$CTG_NS_SRV" sysctl -q -w net.ipv4.tcp_syncookies=1 >/dev/null

cp "$top/rules/default.rules" "$RULES"
CONF=$T/ctguard.conf
share=
[ -n "${FLOOD_UNANSWERED_SHARE:-}" ] && share="unanswered_share = $FLOOD_UNANSWERED_SHARE;"
cat >"$CONF" <<EOF
queue = { first = 0; count = 1; };
tracker = { max_connections = $TABLE; $share };
log = { database = "$T/audit.db"; };
daemon = {
	user = "";
	pidfile = "$T/ctguardd.pid";
	control_socket = "$SOCK";
	control_mode = "0600";
	state_file = "$T/conntable.snap";
};
rules = { files = [ "$RULES" ]; };
EOF
# fail-closed, as the daemon's default: no --bypass on the queue rule
if ! "$SETUP" install --netns "$CTG_NS_GW" --queues 0:1 >/dev/null; then
	echo "not ok - ctguard-setup install failed"
	exit 1
fi
ctg_bg "$CTG_NS_GW" "$T/ctguardd.log" "$CTGUARDD" -f -c "$CONF" -R "$RULES"
DPID=$CTG_BG_PID
if ! ctg_wait_for 15 queue_bound || ! ctg_wait_for 10 ctl status; then
	echo "not ok - ctguardd did not start"
	tail -n 20 "$T/ctguardd.log" | sed 's/^/#   /'
	exit 1
fi
ctg_ok "ctguardd started: default gateway rules, one queue, max_connections $TABLE${share:+, $share}"

# --- legitimate traffic ---------------------------------------------------------
STOP=$T/stop
LOG=$T/legit.log
PH=$T/phases.txt
: >"$PH"
ctg_bg "$CTG_NS_CLI" "$T/legit.out" timeout 150 python3 "$H" legit "$CTG_SRV4" "$ECHOPORT" \
    "$STOP" 120 "$LOG"
LPID=$CTG_BG_PID
if ! ctg_wait_for 10 grep -q '^ready' "$LOG"; then
	ctg_not_ok "20 established connections opened through the gateway"
	cat "$T/legit.out" | sed 's/^/#   /'
	exit 1
fi
ctg_ok "20 established connections opened through the gateway"

read -r qd0 ud0 <<<"$(queue_drops)"
read -r _ ctd0 <<<"$(conntrack_state)"
t=$(now)
sleep 3
echo "baseline $t $(now)" >>"$PH"

silent_server() {
	if [ "$1" = on ]; then
		ctg_in "$CTG_NS_SRV" iptables -w -I INPUT -p tcp --dport "$SSHPORT" -j DROP
	else
		ctg_in "$CTG_NS_SRV" iptables -w -D INPUT -p tcp --dport "$SSHPORT" -j DROP
	fi
}

declare -A OCC STATS FOUT
ev0=0 rf0=0 tf0=0
seed=1
for ph in $PHASES; do
	mode=${ph%%-*}
	case $ph in
	*-silent) silent_server on ;;
	esac
	seed=$((seed + 1))
	t=$(now)
	ctg_bg "$CTG_NS_CLI" "$T/flood-$ph.out" "$FLOOD" -m "$mode" -d "$CTG_SRV4" -p "$SSHPORT" \
	    -s 198.51.100.128/25 -r "$PPS" -n $((PPS * SECS)) -t $((SECS + 10)) -S "$seed"
	FPID=$CTG_BG_PID
	sleep $((SECS / 2))
	OCC[$ph]=$(ctl status | awk '/^connections/ { print $2 }')
	[ -n "${FLOOD_KEEP:-}" ] && ctl connections >"$T/connections-$ph.txt" 2>&1
	wait "$FPID"
	frc=$?
	echo "$ph $t $(now)" >>"$PH"
	FOUT[$ph]="$(cat "$T/flood-$ph.out") (exit $frc)"
	# counters since the phase began
	read -r ev rf tf <<<"$(ctl stats | awk '/^connections/ { e = $4; r = $6 }
	    /^reason table_full/ { f = $3 } END { print e + 0, r + 0, f + 0 }')"
	STATS[$ph]="evicted $((ev - ev0)) refused $((rf - rf0)) table_full $((tf - tf0))"
	ev0=$ev rf0=$rf tf0=$tf
	case $ph in
	*-silent) silent_server off ;;
	esac
	sleep 1
done
touch "$STOP"
wait "$LPID"

# --- figures and checks ---------------------------------------------------------
read -r qd1 ud1 <<<"$(queue_drops)"
read -r ctn ctd1 <<<"$(conntrack_state)"
ctg_in "$CTG_NS_CLI" python3 "$H" analyze "$LOG" "$PH" >"$T/figures.txt"
echo "# legitimate traffic per phase ($PPS spoofed pps, ${SECS} s per phase, table $TABLE):"
sed 's/^/#   /' "$T/figures.txt"

while read -r name _ eok _ efail _ rttmax _ nnew _ nok _ npct _ nslow _ ex; do
	if [ "$name" != baseline ]; then
		echo "#   $name: flooder: ${FOUT[$name]}"
		echo "#   $name: table mid-flood ${OCC[$name]:-?}; after: ${STATS[$name]:-?}"
	fi
	ctg_check "$name: every established message passed ($eok round trips, $efail failed, worst ${rttmax} ms)" \
	    test "$efail" -eq 0 -a "$eok" -gt $((20 * 10)) -a "$rttmax" -le 1000
	ctg_check "$name: >= 95% of new connections completed ($nok of $nnew, ${npct}%; $nslow over 1 s; ${ex})" \
	    awk -v p="$npct" -v n="$nnew" 'BEGIN { exit !(p >= 95 && n >= 100) }'
done <"$T/figures.txt"
for ph in $PHASES; do
	case ${FOUT[$ph]} in
	*"(exit 0)") ;;
	*) ctg_not_ok "$ph: the flooder sent its $((PPS * SECS)) packets: ${FOUT[$ph]}" ;;
	esac
done

ctg_check "the kernel's queue dropped nothing (queue_dropped $((qd1 - qd0)), user_dropped $((ud1 - ud0)))" \
    test "$((qd1 - qd0))" -eq 0 -a "$((ud1 - ud0))" -eq 0
ctg_check "the gateway's kernel conntrack dropped nothing (entries $ctn, drops $((ctd1 - ctd0)))" \
    test "$((ctd1 - ctd0))" -eq 0
ctg_check "ctguardd still running" kill -0 "$DPID"
ctg_check_fails "no sanitizer report in the daemon's log" \
    grep -q -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$T/ctguardd.log"
if [ "$CTG_FAILS" -gt 0 ]; then
	echo "# --- ctguardd log (tail)"
	tail -n 20 "$T/ctguardd.log" | sed 's/^/#   /'
	ctl stats | sed 's/^/#   /'
fi
if [ -n "${FLOOD_KEEP:-}" ]; then
	mkdir -p "$FLOOD_KEEP" && cp -r "$T"/. "$FLOOD_KEEP"/
fi
ctg_finish
