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
# usage: builddir=BUILD srcdir=SRC bench/offload-breakdown.sh
# environment: ROUNDS (default 5), SECS (default 2), VARIANTS (default "k ka kj o")

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
ctg_topology || { echo "offload-breakdown.sh: cannot build the topology" >&2; exit 1; }
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

set -- $VARIANTS
n=$#
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

