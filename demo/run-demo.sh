#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The ctguard demo: build ctguard (if needed), make a client, a gateway and
# a server out of network namespaces, run ctguardd on the gateway with the
# shipped configuration and default rules, send normal and malicious
# traffic through it while printing verdicts as they happen, end with
# `ctguard summary`, and clean everything up. Needs root (namespaces,
# iptables). Only the namespaces it creates ever see a packet.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
srcdir=$top
export srcdir
. "$top/tests/kit/netns.sh"
[ "$(id -u)" -eq 0 ] || { echo "run the demo as root (it builds network namespaces)"; exit 1; }

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ ! -x "$top/build-demo/ctguardd" ]; then
	bold "building ctguard"
	(cd "$top" && ./autogen.sh >/dev/null 2>&1) || exit 1
	mkdir -p "$top/build-demo"
	(cd "$top/build-demo" && ../configure >/dev/null && make -j"$(nproc)" >/dev/null) || {
		echo "build failed"; exit 1; }
fi
B=$top/build-demo
trap ctg_cleanup EXIT
ctg_tmpdir

bold "network: client 198.51.100.2 -- gateway (ctguardd) -- server 203.0.113.2"
ctg_topology || exit 1
"$top/packaging/ctguard-setup" install --netns "$CTG_NS_GW" --family both >/dev/null || exit 1

# The shipped configuration, with the paths moved into a scratch directory.
sed -e "s|/var/lib/ctguard|$CTG_TMPDIR|g" -e "s|/run/ctguard|$CTG_TMPDIR|g" \
    -e 's|user = "ctguard"|user = ""|' -e 's|policy = "decisions"|policy = "decisions"|' \
    -e "s|\"rules/default.rules\"|\"$top/rules/default.rules\"|" \
    -e 's|tcp_time_wait = 120|tcp_time_wait = 2|' \
    "$top/packaging/ctguard.conf" >"$CTG_TMPDIR/ctguard.conf"
DB=$CTG_TMPDIR/audit.db
SOCK=$CTG_TMPDIR/control.sock
"$B/ctguardd" -t -c "$CTG_TMPDIR/ctguard.conf" || exit 1
ctg_bg "$CTG_NS_GW" "$CTG_TMPDIR/ctguardd.log" "$B/ctguardd" -f -c "$CTG_TMPDIR/ctguard.conf"
ctg_wait_for 10 test -S "$SOCK" || { cat "$CTG_TMPDIR/ctguardd.log"; exit 1; }
ctg_wait_for 10 test -f "$DB"

bold "verdicts as they happen (ctguard log --follow)"
"$B/ctguard" log -d "$DB" --follow --follow-for-ms 60000 &
follower=$!
CTG_PIDS+=("$follower")
sleep 0.5

bold "normal traffic: ping, HTTP download over IPv4 and IPv6, a refused inbound connection"
ctg_in "$CTG_NS_SRV" timeout 40 python3 -m http.server 8080 --bind :: >/dev/null 2>&1 &
CTG_PIDS+=("$!")
sleep 1
ctg_in "$CTG_NS_CLI" ping -c 2 -i 0.2 -W 1 "$CTG_SRV4" >/dev/null && echo "  ping: ok"
ctg_in "$CTG_NS_CLI" timeout 10 python3 -c "import urllib.request as u; print('  http v4: %d bytes' % len(u.urlopen('http://$CTG_SRV4:8080/').read()))"
ctg_in "$CTG_NS_CLI" timeout 10 python3 -c "import urllib.request as u; print('  http v6: %d bytes' % len(u.urlopen('http://[$CTG_SRV6]:8080/').read()))"
ctg_in "$CTG_NS_SRV" timeout 5 python3 -c "
import socket
try:
    socket.create_connection(('$CTG_CLI4', 3389), timeout=3); print('  inbound 3389: connected (unexpected)')
except Exception as e: print('  inbound 3389 from outside:', e)"
sleep 1

# Stop following before the attacks: each attack prints its own verdicts
# right under its label (the writer commits in batches, so a follower
# running beside the attacks would print each verdict one step late).
sleep 1.5
kill "$follower" 2>/dev/null
wait "$follower" 2>/dev/null

bold "malicious traffic from the client (scapy), each probe with the verdict it got"
ctg_in "$CTG_NS_CLI" timeout 90 /usr/bin/python3 "$top/demo/attacks.py" "$CTG_SRV4" 8080 "$DB"

bold "ctguard connections (live table)"
"$B/ctguard" -s "$SOCK" connections
bold "stopping ctguardd (SIGTERM: answers what it holds, flushes the log)"
ctg_stop "$CTG_BG_PID" 10
bold "ctguard summary"
"$B/ctguard" summary -d "$DB"
bold "drops and their reasons (ctguard log --verdict drop)"
"$B/ctguard" log -d "$DB" --verdict drop
report=${CTG_DEMO_REPORT:-$PWD/ctguard-demo-report.html}
bold "the audit report (ctguard report)"
if "$B/ctguard" report -d "$DB" -o "$report"; then
	echo "  open $report in a browser: verdicts over time, drops by reason, the TCP state machine as observed"
else
	echo "  ctguard report failed"
fi
