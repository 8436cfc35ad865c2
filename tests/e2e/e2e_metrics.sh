#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end: ctguardd's counters read by Debian's prometheus-node-exporter.
# `ctguard stats --prometheus --textfile` (what ctguard-metrics.service
# runs) writes the file; a checker holds it to the Prometheus exposition
# rules (HELP and TYPE once per family and before its samples, samples of
# a family together, counters ending in _total, the labels queue,
# verdict, reason, rule, set); node exporter's textfile collector, bound
# to 127.0.0.1 in the gateway namespace, serves them on /metrics, also
# while the file is rewritten over and over (atomic replace: never a
# scrape error), and says ctguard_up 0 once the daemon is gone.
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
ctg_require_tools ip iptables ip6tables python3 ping timeout prometheus-node-exporter

ctg_programs "$top" "$bld"

ctg_tmpdir
T=$CTG_TMPDIR
SOCK=$T/ctl.sock
TF=$T/textfile
PROM=$TF/ctguard.prom
NE_PORT=9100
mkdir -p "$TF"

ctl() { timeout 40 "$CTGUARD" -s "$SOCK" "$@"; }
queue_bound() {
	# shellcheck disable=SC2016
	ctg_in "$CTG_NS_GW" awk '$1 == 0 { f = 1 } END { exit !f }' \
	    /proc/net/netfilter/nfnetlink_queue
}
scrape() {
	timeout 10 ip netns exec "$CTG_NS_GW" python3 -c "
import sys, urllib.request
sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$NE_PORT/metrics', timeout=5).read().decode())"
}

cat >"$T/m.rules" <<'EOF'
sets = {
	blocked = { type = "address"; dynamic = true; };
	closed = { type = "port"; members = [ 9 ]; };
};
rules = (
	{ name = "blocked"; action = "drop"; src = [ "@blocked" ]; },
	{ name = "discard-port"; action = "reject"; proto = "tcp"; dst_port = [ "@closed" ]; },
	{ name = "rest"; action = "accept"; }
);
default_policy = "drop";
EOF
cat >"$T/ctguard.conf" <<EOF
queue = { first = 0; count = 1; };
log = { database = "$T/audit.db"; policy = "drops"; };
daemon = {
	user = "";
	pidfile = "$T/ctguardd.pid";
	control_socket = "$SOCK";
	control_mode = "0600";
	state_file = "$T/conntable.snap";
	checkpoint_interval = 0;
};
rules = { files = [ "$T/m.rules" ]; };
EOF

# The exposition rules, strictly; prints what breaks them.
cat >"$T/check.py" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
errors = []
ok_labels = {"queue", "verdict", "reason", "rule", "set"}
sample_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+]+|NaN|[+-]Inf)$')
label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
helps, types, seen, closed = {}, {}, set(), set()
current = None
for n, line in enumerate(text.split("\n")[:-1], 1):
    if line.startswith("# HELP "):
        name = line.split(" ", 3)[2]
        if name in helps:
            errors.append("%d: second HELP for %s" % (n, name))
        helps[name] = n
        continue
    if line.startswith("# TYPE "):
        _, _, name, typ = line.split(" ")
        if name in types:
            errors.append("%d: second TYPE for %s" % (n, name))
        if typ not in ("counter", "gauge"):
            errors.append("%d: type %s" % (n, typ))
        if typ == "counter" and not name.endswith("_total"):
            errors.append("%d: counter %s does not end in _total" % (n, name))
        if typ == "gauge" and name.endswith("_total"):
            errors.append("%d: gauge %s ends in _total" % (n, name))
        if name not in helps:
            errors.append("%d: TYPE before HELP for %s" % (n, name))
        types[name] = typ
        if current is not None:
            closed.add(current)
        current = name
        continue
    m = sample_re.match(line)
    if not m:
        errors.append("%d: not a sample: %r" % (n, line))
        continue
    name = m.group(1)
    if name not in types:
        errors.append("%d: %s has no TYPE before it" % (n, name))
    if name != current or name in closed:
        errors.append("%d: %s not grouped with its family" % (n, name))
    if not name.startswith("ctguard_"):
        errors.append("%d: %s lacks the ctguard_ prefix" % (n, name))
    labels = m.group(3) or ""
    pos, keys = 0, []
    while pos < len(labels):
        lm = label_re.match(labels, pos)
        if not lm:
            errors.append("%d: bad labels %r" % (n, labels))
            break
        keys.append(lm.group(1))
        pos = lm.end()
    for k in keys:
        if k not in ok_labels:
            errors.append("%d: unexpected label %s" % (n, k))
    key = (name, tuple(sorted(labels.split(","))))
    if key in seen:
        errors.append("%d: duplicate sample %s{%s}" % (n, name, labels))
    seen.add(key)
for want in ('ctguard_verdicts_total{queue="0",verdict="accept"}',
             'ctguard_verdicts_total{queue="0",verdict="reject"}',
             'ctguard_reasons_total{queue="0",reason="',
             'ctguard_rule_hits_total{rule="discard-port"}',
             'ctguard_rule_hits_total{rule="default"}',
             'ctguard_set_entries{set="blocked"} 1',
             'ctguard_queue_packets_total{queue="0"}', 'ctguard_up 1'):
    if want not in text:
        errors.append("missing: " + want)
for e in errors:
    print(e)
print("%d families, %d samples" % (len(types), len(seen)))
sys.exit(1 if errors else 0)
EOF

# the checker itself refuses what the old output was: no HELP/TYPE,
# families interleaved, a counter without _total
printf '%s\n' 'ctguard_queue_packets_total{queue="0"} 1' 'ctguard_queue_enobufs_total{queue="0"} 0' \
    'ctguard_queue_packets_total{queue="1"} 1' >"$T/bad.prom"
printf '%s\n' '# HELP ctguard_x x' '# TYPE ctguard_x counter' 'ctguard_x 1' >"$T/bad2.prom"
ctg_check_fails "the checker refuses untyped, interleaved families" python3 "$T/check.py" "$T/bad.prom"
ctg_check_fails "the checker refuses a counter without _total" python3 "$T/check.py" "$T/bad2.prom"

if ! ctg_topology; then
	echo "not ok - cannot build the namespace topology"
	exit 1
fi
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

# traffic: accepted pings, a rejected connect, one address in the set
ctg_check "ping passes" ctg_ping "$CTG_NS_CLI" "$CTG_SRV4" 3
ctg_check_fails "port 9 is rejected" ctg_tcp_connect "$CTG_NS_CLI" "$CTG_SRV4" 9 1
ctg_check "an entry in the dynamic set" ctg_quiet ctl set add blocked 192.0.2.1

ctg_check "ctguard stats --prometheus --textfile writes the file" \
    ctl stats --prometheus --textfile "$PROM"
ctg_check "no temporary file left beside it" test "$(ls "$TF")" = ctguard.prom
if python3 "$T/check.py" "$PROM" >"$T/check.out" 2>&1; then
	ctg_ok "exposition rules hold: $(tail -n 1 "$T/check.out")"
else
	ctg_not_ok "exposition rules: $(head -n 8 "$T/check.out" | tr '\n' ';')"
fi

ctg_bg "$CTG_NS_GW" "$T/ne.log" timeout 120 prometheus-node-exporter \
    --web.listen-address="127.0.0.1:$NE_PORT" --collector.disable-defaults \
    --collector.textfile --collector.textfile.directory="$TF"
NEPID=$CTG_BG_PID
if ctg_wait_for 20 scrape; then
	ctg_ok "prometheus-node-exporter $(prometheus-node-exporter --version 2>&1 | head -n 1 | awk '{ print $3 }') serves /metrics on 127.0.0.1:$NE_PORT"
else
	ctg_not_ok "prometheus-node-exporter answers"
	tail -n 20 "$T/ne.log"
	exit 1
fi
scrape >"$T/scrape1.txt"
ctg_check "the textfile collector read it without error" \
    grep -qx 'node_textfile_scrape_error 0' "$T/scrape1.txt"
ctg_check "accepted packets counted (/metrics)" \
    eval "grep -Eq '^ctguard_verdicts_total\\{queue=\"0\",verdict=\"accept\"\\} [1-9]' '$T/scrape1.txt'"
ctg_check "the reject rule's hits (/metrics)" \
    eval "grep -Eq '^ctguard_rule_hits_total\\{rule=\"discard-port\"\\} [1-9]' '$T/scrape1.txt'"
ctg_check "counters typed as counters (/metrics)" \
    grep -qx '# TYPE ctguard_verdicts_total counter' "$T/scrape1.txt"
ctg_check "the dynamic set's size (/metrics)" \
    grep -qx 'ctguard_set_entries{set="blocked"} 1' "$T/scrape1.txt"
ctg_check "every metric the Grafana dashboard queries is served" python3 -c "
import json, re, sys
d = json.load(open(sys.argv[1]))
served = set(re.findall(r'^(ctguard_[a-z_]+)', open(sys.argv[2]).read(), re.M))
used = set()
for p in d['panels']:
    for t in p['targets']:
        used |= set(re.findall(r'ctguard_[a-z_]+', t['expr']))
missing = used - served
print('dashboard uses', len(used), 'metrics; missing:', sorted(missing))
sys.exit(1 if missing or not used else 0)" "$top/packaging/grafana/ctguard-dashboard.json" "$T/scrape1.txt"

# rewritten 40 times while scraped 40 times: no scrape sees half a file
( for i in $(seq 1 40); do ctl stats --prometheus --textfile "$PROM" || echo "write $i failed"; done ) \
    >"$T/writes.out" 2>&1 &
WPID=$!
bad=0
for i in $(seq 1 40); do
	scrape >"$T/s.txt" 2>/dev/null || { bad=$((bad + 1)); continue; }
	grep -qx 'node_textfile_scrape_error 0' "$T/s.txt" && grep -qx 'ctguard_up 1' "$T/s.txt" ||
	    bad=$((bad + 1))
done
wait "$WPID"
ctg_check "40 scrapes during 40 rewrites: none bad ($bad)" test "$bad" -eq 0
ctg_check "every rewrite succeeded" test ! -s "$T/writes.out"

# daemon gone: the file says so
ctg_stop "$DPID" 15
ctg_check_fails "--textfile fails without the daemon" ctl stats --prometheus --textfile "$PROM"
ctg_check "... and writes ctguard_up 0" grep -qx 'ctguard_up 0' "$PROM"
ctg_check "node exporter serves ctguard_up 0" eval "scrape | grep -qx 'ctguard_up 0'"
ctg_stop "$NEPID" 5
ctg_quiet "$SETUP" remove --netns "$CTG_NS_GW"
ctg_finish
