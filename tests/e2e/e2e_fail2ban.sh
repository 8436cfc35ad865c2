#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end with Debian's fail2ban: the shipped action
# (packaging/fail2ban/action.d/ctguard.conf) bans through ctguard set.
# A small login service of the test (server namespace) writes a line
# fail2ban's filter (a custom one, below) recognises for every failed
# login; the client fails three times, fail2ban bans it, ctguardd drops its
# packets (verdict drop, rule "fail2ban", in the audit log; the ban is a
# set_change event naming set and address), and after the short bantime
# fail2ban unbans it and the client gets through again.
#
# Environment: srcdir, builddir (where ctguardd and ctguard are).
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
ctg_require_tools ip iptables ip6tables python3 timeout sqlite3 fail2ban-server fail2ban-client

ctg_programs "$top" "$bld"

ctg_tmpdir
T=$CTG_TMPDIR
DB=$T/audit.db
SOCK=$T/ctl.sock
F2B=$T/f2b
LOGIN_LOG=$T/login.log
PORT=2222
# fail2ban counts the ban from the last failure's time stamp, and its
# polling backend may notice the failures seconds later on a loaded machine:
# long enough that the checks made while banned run inside the ban
BANTIME=12

q() { sqlite3 -batch -noheader -cmd '.timeout 3000' "$DB" "$1" 2>/dev/null; }
qge() { local v; v=$(q "$1"); [ -n "$v" ] && [ "$v" -ge "$2" ]; }
ctl() { timeout 40 "$CTGUARD" -s "$SOCK" "$@"; }
f2b() { timeout 20 fail2ban-client -s "$F2B/f2b.sock" "$@"; }
queue_bound() {
	# shellcheck disable=SC2016
	ctg_in "$CTG_NS_GW" awk '$1 == 0 { f = 1 } END { exit !f }' \
	    /proc/net/netfilter/nfnetlink_queue
}
# login USER PASSWORD: one attempt from the client; succeeds if it got an answer
login() {
	timeout 5 ip netns exec "$CTG_NS_CLI" python3 -c "
import socket, sys
s = socket.create_connection(('$CTG_SRV4', $PORT), timeout=2)
s.sendall((sys.argv[1] + ' ' + sys.argv[2] + '\n').encode())
print(s.recv(100).decode().strip())" "$1" "$2" 2>/dev/null
}
banned() { ctl set list fail2ban | grep -q "^fail2ban $CTG_CLI4/32 "; }
not_banned() { ! banned; }
answers() { [ -n "$(login alice secret)" ]; }
no_answer() { ! answers; }

# --- ctguardd with the set the action file's header asks for
cat >"$T/f2b.rules" <<'EOF'
sets = { fail2ban = { type = "address"; dynamic = true; }; };
rules = (
	{ name = "fail2ban"; action = "drop"; src = [ "@fail2ban" ]; },
	{ name = "rest"; action = "accept"; }
);
default_policy = "drop";
EOF
cat >"$T/ctguard.conf" <<EOF
queue = { first = 0; count = 1; };
log = { database = "$DB"; policy = "all"; };
daemon = {
	user = "";
	pidfile = "$T/ctguardd.pid";
	control_socket = "$SOCK";
	control_mode = "0600";
	state_file = "$T/conntable.snap";
	checkpoint_interval = 0;
};
rules = { files = [ "$T/f2b.rules" ]; };
EOF

# --- fail2ban: its own configuration directory, the shipped action
mkdir -p "$F2B/action.d" "$F2B/filter.d" "$F2B/jail.d" "$F2B/fail2ban.d"
cp "$top/packaging/fail2ban/action.d/ctguard.conf" "$F2B/action.d/"
cat >"$F2B/fail2ban.conf" <<EOF
[Definition]
loglevel = INFO
logtarget = $F2B/f2b.log
socket = $F2B/f2b.sock
pidfile = $F2B/f2b.pid
dbfile = :memory:
EOF
cat >"$F2B/filter.d/ctg-login.conf" <<'EOF'
[Definition]
failregex = ^\s*login failed for \S+ from <HOST>\s*$
datepattern = {^LN-BEG}%%Y-%%m-%%d %%H:%%M:%%S
EOF
cat >"$F2B/jail.conf" <<EOF
[ctg-login]
enabled = true
filter = ctg-login
logpath = $LOGIN_LOG
backend = polling
maxretry = 3
findtime = 600
bantime = $BANTIME
action = ctguard[set=fail2ban, socket="$SOCK", ctguard="$CTGUARD"]
EOF
: >"$LOGIN_LOG"

# --- the login service: one log line per failed login
cat >"$T/login.py" <<'EOF'
import socket, sys, time
log = sys.argv[1]
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", int(sys.argv[2])))
srv.listen(16)
srv.settimeout(1)
end = time.time() + 240
while time.time() < end:
    try:
        c, peer = srv.accept()
    except socket.timeout:
        continue
    c.settimeout(2)
    try:
        user, pw = c.recv(200).decode().split()[:2]
    except Exception:
        c.close()
        continue
    if pw == "secret":
        c.sendall(b"OK\n")
    else:
        with open(log, "a") as f:
            f.write("%s login failed for %s from %s\n" %
                    (time.strftime("%Y-%m-%d %H:%M:%S"), user, peer[0]))
        c.sendall(b"DENIED\n")
    c.close()
EOF

if ! ctg_topology; then
	echo "not ok - cannot build the namespace topology"
	exit 1
fi
ctg_bg "$CTG_NS_SRV" "$T/login.out" timeout 240 python3 "$T/login.py" "$LOGIN_LOG" "$PORT"
if ! ctg_quiet "$SETUP" install --netns "$CTG_NS_GW" --queues 0:1; then
	echo "not ok - ctguard-setup install failed"
	exit 1
fi
ctg_bg "$CTG_NS_GW" "$T/ctguardd.log" "$CTGUARDD" -f -c "$T/ctguard.conf"
DPID=$CTG_BG_PID
if ! ctg_wait_for 15 queue_bound || ! ctg_wait_for 10 ctl status; then
	echo "not ok - ctguardd did not start"
	tail -n 20 "$T/ctguardd.log"
	exit 1
fi
ctg_ok "ctguardd started"
ctg_bg "$CTG_NS_GW" "$T/f2b.out" timeout 240 fail2ban-server -f -x -c "$F2B"
FPID=$CTG_BG_PID
if ctg_wait_for 20 f2b ping; then
	ctg_ok "fail2ban-server $(fail2ban-server --version 2>/dev/null | head -1) answers"
else
	ctg_not_ok "fail2ban-server started"
	tail -n 20 "$T/f2b.out" "$F2B/f2b.log"
	exit 1
fi
ctg_check "fail2ban runs the jail" eval "f2b status ctg-login | grep -q 'Currently banned:'"

ctg_check "the login service answers the client" ctg_wait_for 10 answers
ctg_check "a good login is not logged" test ! -s "$LOGIN_LOG"
for i in 1 2 3; do
	ctg_check "failed login $i" eval "[ \"\$(login mallory guess$i)\" = DENIED ]"
done
ctg_check "three failures logged" test "$(grep -c 'login failed for mallory from' "$LOGIN_LOG")" -eq 3
ctg_check "fail2ban-regex: the filter matches the three lines" \
    eval "fail2ban-regex '$LOGIN_LOG' '$F2B/filter.d/ctg-login.conf' >'$T/regex.out' 2>&1 &&
        grep -q 'Lines: 3 lines, 0 ignored, 3 matched' '$T/regex.out'"
t_ban=$(date +%s)
ctg_check "fail2ban banned the client into the set" ctg_wait_for 20 banned
ctg_check "fail2ban reports the ban" eval "f2b status ctg-login | grep -q '$CTG_CLI4'"
ctg_check "banned: the client gets no answer" ctg_wait_for 5 no_answer
ctg_check "its packets are dropped by rule fail2ban (audit log)" \
    ctg_wait_for 5 qge "SELECT COUNT(*) FROM verdicts WHERE src = '$CTG_CLI4' AND
        verdict = 'drop' AND rule = 'fail2ban'" 1
ctg_check "the ban is a set_change event naming set and address" \
    ctg_wait_for 5 qge "SELECT COUNT(*) FROM events WHERE kind = 'set_change' AND
        detail LIKE 'set fail2ban add $CTG_CLI4/32 timeout%'" 1
ctg_check "the entry carries the jail in its comment" \
    eval "ctl set list fail2ban | grep -q 'fail2ban ctg-login'"

# --- unban on expiry (bantime $BANTIME s)
ctg_check "fail2ban unbanned it after the bantime" ctg_wait_for 20 not_banned
t_unban=$(date +%s)
# the ban runs from the last failure's time stamp (second resolution)
t_fail=$(date -d "$(tail -n1 "$LOGIN_LOG" | cut -c1-19)" +%s)
echo "# unbanned $((t_unban - t_fail)) s after the last failure, $((t_unban - t_ban)) s after it was seen (bantime $BANTIME s, polling backend)"
ctg_check "unbanned no sooner than the bantime" test $((t_unban - t_fail)) -ge $((BANTIME - 1))
ctg_check "unbanned: the client gets answers again" ctg_wait_for 5 answers
ctg_check "the unban is a set_change event" \
    ctg_wait_for 5 qge "SELECT COUNT(*) FROM events WHERE kind = 'set_change' AND
        detail LIKE 'set fail2ban del $CTG_CLI4/32%'" 1

f2b stop >/dev/null 2>&1
ctg_stop "$FPID" 10
ctg_check "no errors from the action in fail2ban's log" \
    eval "! grep -E 'ERROR|returned [1-9]' '$F2B/f2b.log'"
ctg_stop "$DPID" 10
ctg_quiet "$SETUP" remove --netns "$CTG_NS_GW"
if [ "$CTG_FAILS" -gt 0 ]; then
	for f in "$T/ctguardd.log" "$F2B/f2b.log" "$LOGIN_LOG"; do
		echo "# --- $f"
		tail -n 30 "$f" | sed 's/^/#   /'
	done
fi
ctg_finish
