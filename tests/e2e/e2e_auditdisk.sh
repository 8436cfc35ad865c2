#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end: the live daemon's audit log on a bad disk.
#
#  1. strict_audit on a full file system (a small tmpfs): once the writer's
#     memory bound and the queue are full, packets are dropped
#     (audit_overflow), none passes unlogged: every datagram that reached
#     the server has an accept row after recovery, and rows + drops account
#     for every datagram sent
#  2. when space frees, logging resumes by itself (no command)
#  3. the database deleted under the running daemon is recreated within a
#     second of the next write, with an event saying so
#  4. a symbolic link put at the database path is not followed on reopen
#  5. the pid file: a stale one is replaced, a link is refused, removed at exit
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
ctg_require_tools ip iptables ip6tables python3 timeout sqlite3 mount umount

ctg_programs "$top" "$bld"

ctg_tmpdir
T=$CTG_TMPDIR
chmod 0711 "$T"         # the daemon, once nobody, reaches its directory inside
DISK=$T/disk
mkdir -p "$DISK"
if ! mount -t tmpfs -o size=6m tmpfs "$DISK"; then
	ctg_skip "cannot mount a tmpfs"
fi
trap 'umount -l "$DISK" 2>/dev/null; ctg_cleanup' EXIT
DB=$DISK/audit.db
SOCK=$T/ctl.sock
RULES=$T/gateway.rules
H=$T/udp.py
PORT=7001
NSEND=${CTG_DISK_SEND:-12000}

cat >"$H" <<'EOF'
import socket, sys, time

def send(dst, port, n, base):
    # one datagram per flow (a new source port each), paced a little
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(n):
        s2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s2.bind(('0.0.0.0', base + (i % 30000)))
        s2.sendto(b'%d' % i, (dst, port))
        s2.close()
        if i % 200 == 199:
            time.sleep(0.01)
    print(n)

def sink(port, out, secs):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', port))
    s.settimeout(0.5)
    end = time.time() + secs
    n = 0
    while time.time() < end:
        try:
            s.recv(2048)
            n += 1
            if n % 100 == 0:
                open(out, 'w').write('%d\n' % n)
        except socket.timeout:
            open(out, 'w').write('%d\n' % n)

if sys.argv[1] == 'send':
    send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
else:
    sink(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]))
EOF

q() {
	sqlite3 -cmd '.timeout 5000' "$DB" "$1"
}

ctl() {
	timeout 40 "$CTGUARD" -s "$SOCK" "$@"
}

queue_bound() {
	# shellcheck disable=SC2016
	ctg_in "$CTG_NS_GW" awk -v q="$1" '$1 == q { f = 1 } END { exit !f }' \
	    /proc/net/netfilter/nfnetlink_queue
}

cat >"$T/ctguard.conf" <<EOF2
queue = { first = 0; count = 1; };
log = { database = "$DB"; policy = "all"; strict_audit = true;
	queue_records = 256; retention_mb = 4; };
daemon = {
	user = "";
	pidfile = "$T/ctguardd.pid";
	control_socket = "$SOCK";
	control_mode = "0600";
	state_file = "$T/conntable.snap";
};
rules = { files = [ "$RULES" ]; };
EOF2
cp "$top/rules/default.rules" "$RULES"

DPID=
start_daemon() {
	ctg_bg "$CTG_NS_GW" "$T/ctguardd.log" "$CTGUARDD" -f -c "$T/ctguard.conf" -R "$RULES"
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

degraded() {
	ctl status | grep -q '^log_degraded yes'
}

not_degraded() {
	ctl status | grep -q '^log_degraded no'
}

if ! ctg_topology; then
	echo "not ok - cannot build the namespace topology"
	exit 1
fi
if ! ctg_quiet "$SETUP" install --netns "$CTG_NS_GW" --queues 0:1; then
	echo "not ok - ctguard-setup install failed"
	exit 1
fi

# --- pid file: a stale one is replaced ---------------------------------------
echo 999999 >"$T/ctguardd.pid"
if start_daemon; then
	ctg_ok "ctguardd started over a stale pid file"
else
	ctg_not_ok "ctguardd started over a stale pid file"
	tail -20 "$T/ctguardd.log" | sed 's/^/#   /'
	ctg_finish
fi
ctg_check "the pid file names the daemon" test "$(cat "$T/ctguardd.pid")" = "$DPID"

# --- strict_audit on a full disk -------------------------------------------------
ctg_bg "$CTG_NS_SRV" "$T/sink.log" timeout 600 python3 "$H" sink "$PORT" "$T/recv" 600
sleep 0.5
# fill the file system: the database cannot grow any more
dd if=/dev/zero of="$DISK/filler" bs=64k >/dev/null 2>&1
sync
timeout 120 ip netns exec "$CTG_NS_CLI" python3 "$H" send "$CTG_SRV4" "$PORT" "$NSEND" 20000 >/dev/null
ctg_wait_for 5 degraded
ctg_check "the log reports degraded on the full disk" degraded
recv_full=$(cat "$T/recv" 2>/dev/null || echo 0)
# summed over the queue label
drops=$(ctl stats --prometheus | awk '/^ctguard_reasons_total\{.*reason="audit_overflow"/ { n += $NF } END { print n + 0 }')
drops=${drops:-0}
echo "# full disk: sent $NSEND, reached the server $recv_full, dropped audit_overflow $drops"
ctg_check "strict_audit dropped packets once the queue was full ($drops)" test "$drops" -gt 0

# --- space frees: logging resumes by itself ---------------------------------------
rm -f "$DISK/filler"
t0=$(date +%s%N)
if ctg_wait_for 20 not_degraded; then
	t1=$(date +%s%N)
	ctg_ok "logging resumed by itself $(( (t1 - t0) / 1000000 )) ms after space freed"
else
	ctg_not_ok "logging resumed by itself after space freed"
fi
ctg_wait_for 20 sh -c "timeout 40 '$CTGUARD' -s '$SOCK' status | grep -q '^log_pending 0$'"
accepted=$(q "SELECT count(*) FROM verdicts WHERE dport = $PORT AND verdict = 'accept'")
recv=$(cat "$T/recv")
echo "# after recovery: $accepted accept rows, $recv datagrams at the server, $drops dropped"
ctg_check "no datagram passed unlogged: reached $recv <= accept rows $accepted" \
    test "$recv" -le "$accepted"
ctg_check "accept rows + audit_overflow drops = sent ($accepted + $drops = $NSEND)" \
    test $((accepted + drops)) -eq "$NSEND"
gap=$(q "SELECT coalesce(sum(count), 0) FROM events WHERE kind = 'log_gap'")
dropped=$(ctl stats | awk '$1 == "log" { print $5 }')
ctg_check "the log's dropped counter ($dropped) equals the gap events ($gap) and the drops ($drops)" \
    test "$dropped" -eq "$gap" -a "$gap" -eq "$drops"
size=$(du -cb "$DB" "$DB-wal" 2>/dev/null | tail -1 | cut -f1)
echo "# database + WAL $size bytes on a 6 MiB file system (retention_mb 4)"

# --- a deleted database ---------------------------------------------------------------
rm -f "$DB" "$DB-wal" "$DB-shm"
t0=$(date +%s%N)
timeout 60 ip netns exec "$CTG_NS_CLI" python3 "$H" send "$CTG_SRV4" "$PORT" 1 50000 >/dev/null
if ctg_wait_for 5 test -f "$DB"; then
	t1=$(date +%s%N)
	ctg_ok "deleted database recreated $(( (t1 - t0) / 1000000 )) ms after the next write"
else
	ctg_not_ok "deleted database recreated"
fi
ctg_wait_for 5 sh -c "sqlite3 -cmd '.timeout 2000' '$DB' \"SELECT count(*) FROM events WHERE detail LIKE 'audit database%opened anew%'\" | grep -qx 1"
ctg_check "the new database records the event" \
    test "$(q "SELECT count(*) FROM events WHERE detail LIKE 'audit database%opened anew%'")" -eq 1
ctg_check "status says not degraded" not_degraded

# --- a symbolic link at the path ----------------------------------------------------
rm -f "$DB" "$DB-wal" "$DB-shm"
ln -s "$T/elsewhere.db" "$DB"
ctl reopen-log >/dev/null
timeout 60 ip netns exec "$CTG_NS_CLI" python3 "$H" send "$CTG_SRV4" "$PORT" 1 50001 >/dev/null
ctg_wait_for 5 degraded
ctg_check "a symlinked database is refused (degraded)" degraded
ctg_check "status names the link" sh -c "timeout 40 '$CTGUARD' -s '$SOCK' status | grep -q 'symbolic link'"
ctg_check "nothing was written through the link" test ! -e "$T/elsewhere.db"
rm -f "$DB"
ctl reopen-log >/dev/null
ctg_wait_for 5 not_degraded
ctg_check "the link removed, logging resumes" not_degraded

ctg_check "ctguardd stops cleanly" stop_daemon
ctg_check "the pid file is removed at exit" test ! -e "$T/ctguardd.pid"
ctg_check "no sanitizer report" sh -c "! grep -q -E 'AddressSanitizer|LeakSanitizer|runtime error:' '$T/ctguardd.log'"

# --- pid file: a live process in it refuses the start --------------------------------
echo $$ >"$T/ctguardd.pid"
out=$(timeout 20 ip netns exec "$CTG_NS_GW" "$CTGUARDD" -f -c "$T/ctguard.conf" -R "$RULES" 2>&1)
ctg_check "a pid file naming a running process refuses the start" \
    sh -c "echo \"\$0\" | grep -q 'already runs as pid $$'" "$out"
rm -f "$T/ctguardd.pid"

# --- pid file: a link is refused --------------------------------------------------------
ln -s "$T/pid-target" "$T/ctguardd.pid"
out=$(timeout 20 ip netns exec "$CTG_NS_GW" "$CTGUARDD" -f -c "$T/ctguard.conf" -R "$RULES" 2>&1)
ctg_check "a symlinked pid file is refused" sh -c "echo \"\$0\" | grep -q 'not a regular file'" "$out"
ctg_check "nothing written through the pid file link" test ! -e "$T/pid-target"

# --- started as root with daemon.user: the files are the user's ------------------------
R=$T/asuser
mkdir -p "$R"
chown nobody:nogroup "$R"
sed -e 's|user = "";|user = "nobody";|' -e "s|$DB|$R/audit.db|" \
    -e "s|$T/ctguardd.pid|$R/ctguardd.pid|" -e "s|$T/conntable.snap|$R/conntable.snap|" \
    "$T/ctguard.conf" >"$T/asuser.conf"
DB=$R/audit.db
ctg_bg "$CTG_NS_GW" "$T/ctguardd.log" "$CTGUARDD" -f -c "$T/asuser.conf" -R "$RULES"
DPID=$CTG_BG_PID
if ctg_wait_for 15 queue_bound 0 && ctg_wait_for 10 ctl status; then
	ctg_ok "ctguardd started as root, running as nobody"
	ctg_check "the daemon runs as nobody" \
	    test "$(awk '/^Uid:/ { print $2 }' "/proc/$DPID/status")" -eq 65534
	owners=$(stat -c '%n %U' "$DB" "$DB-wal" "$DB-shm" 2>&1 | sed "s|$R/||g" | tr '\n' ' ')
	ctg_check "database, -wal and -shm belong to nobody ($owners)" \
	    test "$(stat -c %U "$DB" "$DB-wal" "$DB-shm" | sort -u)" = nobody
	ctl reopen-log >/dev/null
	timeout 60 ip netns exec "$CTG_NS_CLI" python3 "$H" send "$CTG_SRV4" "$PORT" 1 50002 >/dev/null
	sleep 1.5
	ctg_check "reopen-log after the drop keeps logging (not degraded)" not_degraded
	ctg_check "stops cleanly" stop_daemon
	ctg_check "the pid file is removed at exit" test ! -e "$R/ctguardd.pid"
else
	ctg_not_ok "ctguardd started as root, running as nobody"
	tail -5 "$T/ctguardd.log" | sed 's/^/#   /'
fi
ctg_finish
