#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end: a plain bulk TCP transfer through the gateway loses no
# legitimate ACK. ctguardd (strict midstream, the shipped default rules,
# one queue, gso and copy_range as shipped) guards the gateway while
# iperf3 sends client -> server for BULK_SECS seconds, over IPv4 and then
# IPv6. The kernel hands the queue GSO/GRO super-packets of up to 64 kB,
# and on veth links on a busy machine one of them now and then overtakes
# the one before; the server's ACKs then acknowledge data that crossed the
# box beyond the gap. Before the tracker followed such super-packets
# (daemon/tracker-tcp.c ooo_highest()), 3 to 41 of the server's pure ACKs
# per run were refused as tcp_ack_above_sent; the Check test
# test_gso_reorder_acks_follow replays the exact sequence.
#
# Asserted per family: iperf3 completes with data received, ctguardd
# counted the transfer's packets, refused none as tcp_ack_above_sent (its
# stats and the audit log). The throughput, the client's retransmissions,
# the kernel queue's drops and every reason counted are printed. When no reordering happens the run proves less; the printed
# tcp_retransmit and reason lines show what the run met.
#
# Environment: srcdir, builddir as the other e2e tests; BULK_SECS (default 3).
# Exit 0 pass, 1 fail, 77 skip (not root, or a tool missing; CI=true fails).

set -u

here=$(cd "$(dirname "$0")" && pwd)
top=${srcdir:-$here/../..}
top=$(cd "$top" && pwd)
bld=${builddir:-$PWD}
bld=$(cd "$bld" && pwd)
. "$top/tests/kit/netns.sh"

ctg_require_root
ctg_require_tools ip iptables ip6tables python3 timeout sqlite3 iperf3

ctg_programs "$top" "$bld"

ctg_tmpdir
T=$CTG_TMPDIR
SECS=${BULK_SECS:-3}

# bare links: a veth that reorders across CPUs is this test's stimulus
# (ctg_link_fifo in tests/kit/netns.sh)
if ! ctg_topology bare; then
	echo "not ok - cannot build the namespace topology"
	exit 1
fi
if ! ctg_quiet "$SETUP" install --netns "$CTG_NS_GW" --queues 0:1; then
	echo "not ok - ctguard-setup install failed"
	exit 1
fi
cat >"$T/gw.conf" <<EOF
queue = { first = 0; count = 1; };
tracker = { midstream = "strict"; };
log = { database = "$T/audit.db"; policy = "decisions"; };
daemon = {
	user = "";
	pidfile = "$T/ctguardd.pid";
	control_socket = "$T/ctl.sock";
	control_mode = "0600";
	state_file = "$T/ctguardd.snap";
	checkpoint_interval = 0;
};
rules = { files = [ "$top/rules/default.rules" ]; };
EOF

ctl() { "$CTGUARD" -s "$T/ctl.sock" "$@"; }
queue_bound() {
	# shellcheck disable=SC2016
	ctg_in "$CTG_NS_GW" awk '$1 == 0 { f = 1 } END { exit !f }' /proc/net/netfilter/nfnetlink_queue
}
# reason_count NAME: how many packets ctguard stats counts with that reason
reason_count() {
	ctl stats | awk -v k="$1" '$1 == "reason" && $2 == k { n = $3 } END { print n + 0 }'
}
# the kernel queue's drops: queue full plus failed to send to user space
queue_drops() {
	ctg_in "$CTG_NS_GW" awk '$1 == 0 { print $6 + $7 }' /proc/net/netfilter/nfnetlink_queue
}

ctg_bg "$CTG_NS_GW" "$T/ctguardd.log" "$CTGUARDD" -f -c "$T/gw.conf"
ctg_wait_for 15 queue_bound && ctg_wait_for 10 ctl status ||
    { echo "not ok - ctguardd did not start"; tail "$T/ctguardd.log"; exit 1; }
ctg_ok "ctguardd guards the gateway"

bulk() {
	# bulk FAMILY ADDR PORT
	local fam=$1 addr=$2 port=$3 rc before after refused drops
	before=$(reason_count tcp_ack_above_sent)
	ctg_bg "$CTG_NS_SRV" "$T/iperf3-s-$fam.log" timeout $((SECS + 30)) iperf3 -s -1 -p "$port"
	sleep 0.5
	timeout $((SECS + 25)) ip netns exec "$CTG_NS_CLI" \
	    iperf3 -c "$addr" -p "$port" -t "$SECS" -J >"$T/iperf3-c-$fam.json" 2>&1
	rc=$?
	ctg_check "$fam: the bulk transfer completed (iperf3 exit $rc)" test "$rc" -eq 0
	python3 - "$T/iperf3-c-$fam.json" <<'PY' | sed "s/^/# $fam /"
import json, sys
try:
    e = json.load(open(sys.argv[1]))["end"]
    print("iperf3: %.2f Gbit/s received, %d bytes, %d retransmits" % (
        e["sum_received"]["bits_per_second"] / 1e9, e["sum_received"]["bytes"],
        e["sum_sent"].get("retransmits", 0)))
except Exception as x:
    print("iperf3: no summary (%s)" % x)
PY
	ctg_check "$fam: data was received" python3 -c '
import json, sys
sys.exit(0 if json.load(open(sys.argv[1]))["end"]["sum_received"]["bytes"] > 10**7 else 1)' \
	    "$T/iperf3-c-$fam.json"
	after=$(reason_count tcp_ack_above_sent)
	refused=$((after - before))
	ctg_check "$fam: no ACK refused as tcp_ack_above_sent ($refused)" test "$refused" -eq 0
	drops=$(queue_drops)
	echo "# $fam: tcp_ack_above_sent $refused, the kernel's queue dropped ${drops:-?} so far"
}

bulk IPv4 "$CTG_SRV4" 5201
bulk IPv6 "$CTG_SRV6" 5202

qpkts=$(ctl stats | awk '$1 == "queue" && $3 == "packets" { s += $4 } END { print s + 0 }')
ctg_check "ctguardd's queue carried the transfers ($qpkts packets)" test "$qpkts" -gt 20000
ctl stats | grep -E "^(reason|log) " | grep -vw 0 | sed 's/^/# /'
sleep 1
logged=$(sqlite3 -batch -noheader "$T/audit.db" \
    "SELECT count(*) FROM verdicts WHERE reason = 'tcp_ack_above_sent'" 2>&1)
ctg_check "the audit log has no tcp_ack_above_sent ($logged)" test "$logged" = 0
ctg_check "no sanitizer report in the daemon's log" \
    sh -c "! grep -q -E 'AddressSanitizer|LeakSanitizer|runtime error:' '$T/ctguardd.log'"
ctg_finish
