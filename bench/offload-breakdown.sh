#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Where offload (bench configuration 6) loses against kernel conntrack (2):
# the same traffic through the same namespace gateway under rule sets that
# add one of (6)'s differences at a time, interleaved round by round (the
# order rotated), medians per variant:
#
#   k    (2): FORWARD  INVALID drop, ESTABLISHED,RELATED accept, NEW accept
#   ka   k with net.netfilter.nf_conntrack_acct=1 (which --offload sets)
#   kj   ka behind a jump (-m comment, as ctguard-setup's) to a user chain
#   o    (6): ctguardd with offload, ctguard-setup install --offload
#
# Traffic per variant and round: iperf3 bulk TCP 1 stream and 8 streams
# (SECS each, Gbit/s at the receiver) and unlimited 64-byte UDP (packets/s
# the server received). On this project's 2-core machine the senders, the
# gateway's softirq and the receivers share the cores, so a costlier
# gateway shows as less traffic from the same senders.
#
# With PROFILE=1, instead: per variant one unlimited 64-byte UDP run under
# `perf record -a -e cpu-clock`, and the time the gateway spent per packet
# in netfilter's filter-table and conntrack functions (samples x period /
# packets the client sent). cpu-clock samples count only while a CPU runs
# the code, so this figure holds however loaded the machine is, which the
# throughput figures do not.
#
# usage: builddir=BUILD srcdir=SRC bench/offload-breakdown.sh
# environment: ROUNDS (default 5), SECS (default 2), VARIANTS (default "k ka kj o"),
#   PROFILE (default 0)

set -u

here=$(cd "$(dirname "$0")" && pwd)
srcdir=${srcdir:-$(cd "$here/.." && pwd)}
B=${builddir:-.}
B=$(cd "$B" && pwd)
ROUNDS=${ROUNDS:-5}
SECS=${SECS:-2}
VARIANTS=${VARIANTS:-k ka kj o}

. "$srcdir/tests/kit/netns.sh"
ctg_skip() {
	echo "offload-breakdown.sh: cannot run: $*" >&2
	exit 1
}
ctg_require_root
ctg_require_tools ip iptables iperf3 python3
[ -x "$B/ctguardd" ] || { echo "offload-breakdown.sh: $B/ctguardd not built" >&2; exit 1; }
ctg_tmpdir
W=$CTG_TMPDIR
ctg_topology bare || { echo "offload-breakdown.sh: cannot build the topology" >&2; exit 1; }
GW=$CTG_NS_GW CLI=$CTG_NS_CLI SRV=$CTG_NS_SRV
ctg_bg "$SRV" "$W/iperf3.log" iperf3 -s -p 5201
ctg_wait_for 10 ctg_tcp_connect "$CLI" "$CTG_SRV4" 5201 ||
    { echo "offload-breakdown.sh: iperf3 server not reachable" >&2; exit 1; }

DPID=
reset() {
	[ -n "$DPID" ] && ctg_stop "$DPID" 10
	DPID=
	"$srcdir/packaging/ctguard-setup" remove --netns "$GW" >/dev/null 2>&1
	ctg_in "$GW" iptables -w -F FORWARD
	ctg_in "$GW" iptables -w -P FORWARD ACCEPT
	ctg_in "$GW" iptables -w -F KSTATE 2>/dev/null
	ctg_in "$GW" iptables -w -X KSTATE 2>/dev/null
	ctg_in "$GW" sysctl -q -w net.netfilter.nf_conntrack_acct=0
}

kernel_rules() {
	local ch=$1
	ctg_in "$GW" iptables -w -A "$ch" -m conntrack --ctstate INVALID -j DROP
	ctg_in "$GW" iptables -w -A "$ch" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
	ctg_in "$GW" iptables -w -A "$ch" -m conntrack --ctstate NEW -j ACCEPT
}

setup() {
	reset
	case $1 in
	k) kernel_rules FORWARD ;;
	ka) kernel_rules FORWARD
	    ctg_in "$GW" sysctl -q -w net.netfilter.nf_conntrack_acct=1 ;;
	kj) ctg_in "$GW" iptables -w -N KSTATE
	    kernel_rules KSTATE
	    ctg_in "$GW" iptables -w -A FORWARD -m comment --comment ctguard -j KSTATE
	    ctg_in "$GW" sysctl -q -w net.netfilter.nf_conntrack_acct=1 ;;
	o) rm -f "$W"/audit.db* "$W"/snap
	   cat >"$W/ctguard.conf" <<EOF
queue = { first = 0; count = 1; copy_range = 256; max_length = 8192;
          rcvbuf = 8388608; gso = true; fail_open = false; bypass = false; };
log = { database = "$W/audit.db"; policy = "decisions"; };
daemon = { user = ""; pidfile = "$W/ctguardd.pid";
           control_socket = "$W/control.sock"; state_file = "$W/snap"; };
rules = { files = [ "$srcdir/rules/default.rules" ]; };
offload = { enabled = true; };
EOF
	   ctg_bg "$GW" "$W/ctguardd.log" "$B/ctguardd" -f -c "$W/ctguard.conf"
	   DPID=$CTG_BG_PID
	   ctg_wait_for 10 sh -c "ip netns exec '$GW' cat /proc/net/netfilter/nfnetlink_queue | grep -q '^ *0 '" ||
	       { echo "offload-breakdown.sh: ctguardd did not bind queue 0" >&2; exit 1; }
	   "$srcdir/packaging/ctguard-setup" install --netns "$GW" --queues 0:1 --offload >/dev/null ||
	       exit 1 ;;
	esac
}

py() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($1)" "$2" 2>/dev/null; }

: >"$W/res.tsv"
measure() {
	local v=$1 r=$2 f=$W/out.json x
	for p in 1 8; do
		timeout $((SECS + 20)) ip netns exec "$CLI" iperf3 -c "$CTG_SRV4" -p 5201 \
		    -t "$SECS" -O 1 -P "$p" -J >"$f" 2>/dev/null
		x=$(py "'%.3f' % (j['end']['sum_received']['bits_per_second']/1e9)" "$f")
		echo -e "$v\tbulk_${p}_gbps\t${x:-nan}" >>"$W/res.tsv"
	done
	timeout $((SECS + 20)) ip netns exec "$CLI" iperf3 -c "$CTG_SRV4" -p 5201 -u -l 64 \
	    -b 0 -t "$SECS" -J >"$f" 2>/dev/null
	x=$(py "'%d' % ((j['end']['sum']['packets'] - j['end']['sum']['lost_packets']) / j['end']['sum']['seconds'])" "$f")
	echo -e "$v\tudp64_pps\t${x:-nan}" >>"$W/res.tsv"
	echo "# round $r variant $v load $(cut -d' ' -f1 /proc/loadavg): $(grep -P "^$v\t" "$W/res.tsv" | tail -3 | cut -f2,3 | tr '\t\n' '= ')"
}

# profile V: perf over an unlimited 64-byte UDP run; ns per packet by symbol
profile() {
	local v=$1 f=$W/out.json sent
	perf record -q -a -e cpu-clock -F 4999 -o "$W/perf-$v.data" -- \
	    timeout $((SECS + 20)) ip netns exec "$CLI" iperf3 -c "$CTG_SRV4" -p 5201 -u -l 64 \
	    -b 0 -t "$SECS" -J >"$f" 2>/dev/null
	sent=$(py "j['end']['sum']['packets']" "$f")
	perf report -i "$W/perf-$v.data" --no-children --sort sym -n --stdio 2>/dev/null |
	    python3 -c '
import re, sys
v, sent = sys.argv[1], int(sys.argv[2] or 0)
period = 1e9 / 4999
want = re.compile(r"^(ipt_do_table|nf_hook_slow|conntrack_mt|connmark_mt|comment_mt|mark_mt|"
    r"tcp_mt|udp_mt|nf_conntrack_in|nf_conntrack_udp_packet|__nf_ct_refresh_acct|"
    r"nf_ct_acct|nf_ct_get_tuple|__nf_conntrack_find|hash_conntrack|nf_conntrack_tcp_packet|"
    r"ipv4_conntrack|nf_confirm|nf_ct_)")
tot, rows = 0.0, []
for line in sys.stdin:
    m = re.match(r"\s*([\d.]+)%\s+(\d+)\s+\[k\]\s+(\S+)", line)
    if not m or not want.match(m.group(3)):
        continue
    ns = int(m.group(2)) * period / max(sent, 1)
    tot += ns
    rows.append((ns, m.group(3)))
rows.sort(reverse=True)
print("%s: %d packets, netfilter %.1f ns/packet: %s" % (v, sent, tot,
    ", ".join("%s %.1f" % (n, x) for x, n in rows[:8])))
with open(sys.argv[3], "a") as f:
    f.write("%s\t(netfilter)\t%.2f\n" % (v, tot))
    for x, n in rows:
        f.write("%s\t%s\t%.2f\n" % (v, n, x))
' "$v" "${sent:-0}" "$W/prof.tsv"
}

# medians per variant and symbol over the rounds, and the difference to k
profile_summary() {
	python3 - "$W/prof.tsv" "$ROUNDS" $VARIANTS <<'PYEOF'
import statistics, sys
rounds, vs = int(sys.argv[2]), sys.argv[3:]
d = {}
for l in open(sys.argv[1]):
    v, sym, x = l.rstrip("\n").split("\t")
    d.setdefault((v, sym), []).append(float(x))
syms = sorted({s for _, s in d})
def med(v, s):
    xs = d.get((v, s), [])
    xs = xs + [0.0] * (rounds - len(xs))    # a round without samples of it: 0
    return statistics.median(xs)
print("# ns per packet, medians of %d rounds (symbols with >= 3 ns somewhere)" % rounds)
print("%-34s %s" % ("symbol", " ".join("%8s" % v for v in vs)))
for s in ["(netfilter)"] + [s for s in syms if s != "(netfilter)"]:
    row = [med(v, s) for v in vs]
    if s == "(netfilter)" or max(row) >= 3:
        print("%-34s %s" % (s, " ".join("%8.1f" % x for x in row)))
PYEOF
}

set -- $VARIANTS
n=$#
if [ "${PROFILE:-0}" = 1 ]; then
	command -v perf >/dev/null || { echo "offload-breakdown.sh: PROFILE=1 needs perf" >&2; exit 1; }
	for ((r = 1; r <= ROUNDS; r++)); do
		for ((i = 0; i < n; i++)); do
			idx=$(((i + r) % n + 1))
			setup "${!idx}"
			# the flow's first packets (before offload) are not what is profiled
			ip netns exec "$CLI" iperf3 -c "$CTG_SRV4" -p 5201 -u -l 64 -b 1M -t 1 >/dev/null 2>&1
			profile "${!idx}"
		done
	done
	reset
	profile_summary
	exit 0
fi
for ((r = 1; r <= ROUNDS; r++)); do
	for ((i = 0; i < n; i++)); do
		idx=$(((i + r) % n + 1))
		v=${!idx}
		setup "$v"
		measure "$v" "$r"
	done
done
reset
echo "# medians of $ROUNDS rounds, ${SECS}s runs (ratio to k)"
python3 - "$W/res.tsv" $VARIANTS <<'EOF'
import statistics, sys
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1]) if l.strip()]
vs = sys.argv[2:]
ms = ['bulk_1_gbps', 'bulk_8_gbps', 'udp64_pps']
med = {}
for v in vs:
    for m in ms:
        xs = [float(x) for vv, mm, x in rows if vv == v and mm == m and x != 'nan']
        med[v, m] = statistics.median(xs) if xs else float('nan')
print('%-4s %s' % ('', ' '.join('%22s' % m for m in ms)))
for v in vs:
    cells = []
    for m in ms:
        base = med.get(('k', m), float('nan'))
        r = med[v, m] / base * 100 if base == base and base else float('nan')
        cells.append('%14.3f (%4.0f%%)' % (med[v, m], r))
    print('%-4s %s' % (v, ' '.join('%22s' % c for c in cells)))
EOF

