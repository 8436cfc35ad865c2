#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end: dynamic sets in the live daemon. A set declared dynamic =
# true is changed with ctguard set add/del/flush/load while traffic flows:
# the client is refused while listed (verdict drop, rule named in the
# audit log), an entry with --timeout expires by itself (measured), --cut
# ends a live connection the change refuses, a 100,000-entry load replaces
# the set in one step while pings flow, a bad file changes nothing, every
# change is an audit event naming the uid, and the contents survive a
# reload and a restart (state file).
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
ctg_require_tools ip iptables ip6tables python3 ping timeout sqlite3

ctg_programs "$top" "$bld"

ctg_tmpdir
T=$CTG_TMPDIR
DB=$T/audit.db
SOCK=$T/ctl.sock
RULES=$T/sets.rules
CONF=$T/ctguard.conf
PORT=8080

q() { sqlite3 -batch -noheader -cmd '.timeout 3000' "$DB" "$1" 2>/dev/null; }
qge() { local v; v=$(q "$1"); [ -n "$v" ] && [ "$v" -ge "$2" ]; }
ctl() { timeout 40 "$CTGUARD" -s "$SOCK" "$@"; }
connects() { ctg_tcp_connect "$CTG_NS_CLI" "$CTG_SRV4" "$PORT" 1; }
refused() { ! connects; }
queue_bound() {
	# shellcheck disable=SC2016
	ctg_in "$CTG_NS_GW" awk '$1 == 0 { f = 1 } END { exit !f }' \
	    /proc/net/netfilter/nfnetlink_queue
}
nentries() { ctl set list banned | wc -l; }

cat >"$RULES" <<'EOF'
sets = {
	banned = { type = "address"; dynamic = true; };
};
rules = (
	{ name = "banned"; action = "drop"; src = [ "@banned" ]; },
	{ name = "rest"; action = "accept"; }
);
default_policy = "drop";
EOF
cat >"$CONF" <<EOF
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
rules = { files = [ "$RULES" ]; reload = "recheck"; };
EOF

DPID=
NSTART=0
start_daemon() {
	NSTART=$((NSTART + 1))
	ctg_bg "$CTG_NS_GW" "$T/ctguardd.$NSTART.log" "$CTGUARDD" -f -c "$CONF"
	DPID=$CTG_BG_PID
	ctg_wait_for 15 queue_bound && ctg_wait_for 10 ctl status
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

if ! ctg_topology; then
	echo "not ok - cannot build the namespace topology"
	exit 1
fi
www=$T/www
mkdir -p "$www"
echo hello >"$www/index.html"
if ! ctg_http_server "$CTG_NS_SRV" "$www" "$PORT"; then
	echo "not ok - HTTP server did not start"
	exit 1
fi
ctg_check "ctguardd -t accepts a dynamic set" ctg_quiet "$CTGUARDD" -t -c "$CONF"
if ! ctg_quiet "$SETUP" install --netns "$CTG_NS_GW" --queues 0:1 ||
    ! start_daemon; then
	echo "not ok - daemon did not start"
	tail -n 20 "$T"/ctguardd.*.log
	exit 1
fi
ctg_ok "ctguardd started with a dynamic set"

# --- add, del
ctg_check "empty set: client connects" connects
ctg_check "set add the client" ctg_quiet ctl set add banned "$CTG_CLI4" --comment "e2e test"
ctg_check "listed: the client is refused" ctg_wait_for 3 refused
ctg_check "set list shows it with its comment" \
    eval "ctl set list | grep -qx 'banned $CTG_CLI4/32 never e2e test'"
ctg_check "set list --json" \
    eval "ctl set list banned --json | grep -q '\"entry\":\"$CTG_CLI4/32\"'"
ctg_check "the drop is in the audit log with the rule named" \
    ctg_wait_for 5 qge "SELECT COUNT(*) FROM verdicts WHERE src = '$CTG_CLI4' AND
        verdict = 'drop' AND rule = 'banned'" 1
ctg_check "the change is an audit event naming the uid" \
    ctg_wait_for 5 qge "SELECT COUNT(*) FROM events WHERE kind = 'set_change' AND
        detail LIKE 'set banned add $CTG_CLI4/32%by uid 0%'" 1
ctg_check_fails "an address outside the rules' syntax is refused" \
    ctl set add banned 10.0.0.1/8
ctg_check_fails "a set not declared dynamic is refused" \
    ctl set add nosuch 10.0.0.1
ctg_check "set del" ctg_quiet ctl set del banned "$CTG_CLI4"
ctg_check "unlisted: the client connects" ctg_wait_for 3 connects
ctg_check_fails "set del of an absent entry fails" ctl set del banned "$CTG_CLI4"

# --- expiry
ctg_check "set add --timeout 2" ctg_quiet ctl set add banned "$CTG_CLI4/32" --timeout 2
t0=$(date +%s%N)
ctg_check "while listed: refused" refused
gone=
for ((i = 0; i < 100; i++)); do
	if [ "$(nentries)" -eq 0 ]; then
		gone=$(date +%s%N)
		break
	fi
	sleep 0.05
done
if [ -n "$gone" ]; then
	ms=$(((gone - t0) / 1000000))
	ctg_check "gone as seen by the CLI after $ms ms (2000-3000 on a busy machine)" \
	    test "$ms" -ge 1900 -a "$ms" -le 3000
else
	ctg_not_ok "the entry with --timeout 2 expired"
fi
# the daemon's own clock: from the add event to the expire event
ctg_wait_for 5 qge "SELECT COUNT(*) FROM events WHERE detail = 'set expire: 1 entries'" 1
late=$(q "SELECT (e.time_us - a.time_us) / 1000 - 2000 FROM events a, events e
    WHERE a.detail LIKE 'set banned add $CTG_CLI4/32 timeout 2s%'
    AND e.detail = 'set expire: 1 entries' LIMIT 1")
echo "# expiry: the entry went ${late:-?} ms after its 2 s (daemon's event times)"
ctg_check "expired 0-300 ms after its timeout (main loop turns every 200 ms)" \
    test -n "$late" -a "${late:-9999}" -ge 0 -a "${late:-9999}" -le 300
ctg_check "expired: the client connects again" ctg_wait_for 3 connects

# --- --cut: a live connection the change refuses is ended
ctg_bg "$CTG_NS_CLI" "$T/hold.log" timeout 60 python3 -c "
import socket, time
s = socket.create_connection(('$CTG_SRV4', $PORT), timeout=5)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
time.sleep(50)"
HPID=$CTG_BG_PID
nlive() { ctl connections --port "$PORT" --state established | grep -c "$CTG_CLI4"; }
held() { [ "$(nlive)" -ge 1 ]; }
ctg_check "a held connection is live" ctg_wait_for 5 held
ctg_check "set add without --cut keeps it" ctg_quiet ctl set add banned "$CTG_CLI4"
ctg_check "still live" test "$(nlive)" -ge 1
out=$(ctl set add banned "$CTG_CLI4" --cut)
# (connections of the earlier checks still closing count too)
ctg_check "set add --cut reports the cut ($out)" eval 'echo "$out" | grep -q "[1-9][0-9]* connections cut"'
ctg_check "the held connection is gone" test "$(nlive)" -eq 0
ctg_stop "$HPID" 1
ctg_check "set flush" ctg_quiet ctl set flush banned
ctg_check "flushed: connects" ctg_wait_for 3 connects

# --- 100,000 entries in one step, while pings flow
python3 - "$T/big.txt" "$CTG_CLI4" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    f.write("# 100,000 addresses, then the client\n")
    for i in range(100000 - 1):
        v = 0x0a000000 + 2 * i
        f.write("%d.%d.%d.%d\n" % (v >> 24, v >> 16 & 255, v >> 8 & 255, v & 255))
    f.write(sys.argv[2] + "\n")
EOF
ctg_bg "$CTG_NS_SRV" "$T/ping.log" timeout 30 ping -n -i 0.01 -c 600 "$CTG_GWS4"
PPID2=$CTG_BG_PID
s=$(date +%s%N)
out=$(ctl set load banned "$T/big.txt")
e=$(date +%s%N)
echo "# set load of 100,000 entries: $(((e - s) / 1000000)) ms ($out)"
ctg_check "set load of 100,000 entries ($out)" eval 'echo "$out" | grep -q "load: 100000 entries"'
ctg_check "100,000 entries listed" test "$(nentries)" -eq 100000
ctg_check "the client (last line) is refused" refused
printf '10.9.9.9\n10.0.0.1/8\n' >"$T/bad.txt"
ctg_check_fails "a file with a bad line is refused" ctl set load banned "$T/bad.txt"
ctg_check "... and the set is unchanged" test "$(nentries)" -eq 100000
wait "$PPID2" 2>/dev/null
ctg_check "the daemon kept serving (status)" ctg_quiet ctl status

# --- reload and restart keep the contents
ctg_check "set load a small file" eval "printf '%s\n' '$CTG_CLI4' '2001:db8:bad::/48' >'$T/small.txt' &&
    ctl set load banned '$T/small.txt' --timeout 10m >/dev/null"
ctg_check "reload" ctg_quiet ctl reload
ctg_check "after reload: 2 entries" test "$(nentries)" -eq 2
ctg_check "after reload: still refused" refused
# --- a shipper's stream: JSON lines resumed by id, across the restart below
ids() { sed -n 's/^{"id":\([0-9]*\),.*/\1/p' "$@"; }
ctl log -d "$DB" --format json >"$T/ship1.json"
L1=$(ids "$T/ship1.json" | tail -n 1)
ctg_check "the stream so far has ids (last ${L1:-none})" test -n "$L1"
"$CTGUARD" log -d "$DB" --format json --follow --after-id "$L1" --follow-for-ms 15000 \
    >"$T/ship2.json" 2>"$T/ship2.err" &
SHIP=$!
CTG_PIDS+=("$SHIP")
ctg_check "clean stop" stop_daemon
ctg_check "state file written" test -s "$T/conntable.snap.sets"
if start_daemon; then
	ctg_ok "restarted"
else
	ctg_not_ok "restarted"
fi
ctg_check "traffic after the restart (refused, logged)" refused
wait "$SHIP"
ctg_check "the follower ran through the restart" test ! -s "$T/ship2.err"
L2=$(ids "$T/ship2.json" | tail -n 1)
ctl log -d "$DB" --format json --after-id "${L2:-$L1}" >"$T/ship3.json"
cat "$T/ship1.json" "$T/ship2.json" "$T/ship3.json" | ids >"$T/shipped.ids"
ctl log -d "$DB" --format json | ids >"$T/all.ids"
ctg_check "resumed stream: $(wc -l <"$T/shipped.ids") ids shipped, no gap, no duplicate" \
    cmp -s "$T/shipped.ids" "$T/all.ids"
ctg_check "the follower saw rows written after the restart" test -n "$L2" -a "${L2:-0}" -gt "$L1"
ctg_check "every shipped line is a JSON object" python3 -c "
import json, sys
for f in sys.argv[1:]:
    for line in open(f):
        json.loads(line)" "$T/ship1.json" "$T/ship2.json" "$T/ship3.json"
ctg_check "after restart: 2 entries, expiry kept" \
    eval "ctl set list banned | grep -q '^banned $CTG_CLI4/32 [0-9]*s$'"
ctg_check "after restart: refused" refused

# --- the follower across a rotation: old file to its end, then the new one
L3=$(ctl log -d "$DB" --format json | ids | tail -n 1)
"$CTGUARD" log -d "$DB" --format json --follow --after-id "$L3" --follow-for-ms 9000 \
    >"$T/ship4.json" 2>"$T/ship4.err" &
SHIP=$!
CTG_PIDS+=("$SHIP")
sleep 1
refused
mv "$DB" "$DB.1"
refused                  # still into the moved file
ctg_check "reopen-log after moving the database away" ctg_quiet ctl reopen-log
ctg_check "a new database file" ctg_wait_for 5 test -f "$DB"
refused
refused
wait "$SHIP"
ctg_check "the follower ran through the rotation" test ! -s "$T/ship4.err"
{ ctl log -d "$DB.1" --format json --after-id "$L3"; ctl log -d "$DB" --format json; } | ids >"$T/rot.want"
ids "$T/ship4.json" >"$T/rot.got"
echo "# rotation: followed ids $(tr '\n' ' ' <"$T/rot.got" | cut -c1-200)"
echo "# rotation: files' ids  $(tr '\n' ' ' <"$T/rot.want" | cut -c1-200)"
ctg_check "across the rotation: $(wc -l <"$T/rot.got") rows, the old file's tail then the new file, no gap or duplicate" \
    eval "cmp -s '$T/rot.got' '$T/rot.want' && [ \$(ctl log -d '$DB' --format json | wc -l) -gt 0 ]"
ctg_check "clean stop" stop_daemon
ctg_check "no sanitizer reports" eval "! grep -l -E 'AddressSanitizer|LeakSanitizer|runtime error:' $T/ctguardd.*.log"
ctg_quiet "$SETUP" remove --netns "$CTG_NS_GW"
ctg_finish
