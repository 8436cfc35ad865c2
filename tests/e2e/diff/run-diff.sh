#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Differential test: the scripted packet sequences of tests/e2e/diff/scenarios.py
# cross a namespace gateway twice, (A) filtered by the kernel's own conntrack
# (drop --ctstate INVALID) and (B) by ctguardd with rules/stateful-only.rules.
# What arrives on the far side is compared packet by packet; a disagreement
# is "ok" only when tests/e2e/diff/expected-diff.tsv lists it (with the reason,
# see EXPECTED_DIFFERENCES.md).
#
# Environment: srcdir (top source dir; default the script's ../..), builddir
# (where ctguardd and ctguard are; default the current directory),
# DIFF_ONLY (comma-separated scenario names), DIFF_TIMEOUT (seconds to wait
# for a packet that may have been dropped; default 0.2), DIFF_KEEP=1 (keep
# the scratch directory and print its name).
# Exit 0 pass, 1 fail, 77 skip (not root, or a tool missing; CI=true fails).

set -u

here=$(cd "$(dirname "$0")" && pwd)
top=${srcdir:-$here/../../..}
top=$(cd "$top" && pwd)
bld=${builddir:-$PWD}
bld=$(cd "$bld" && pwd)
# shellcheck source=../kit/netns.sh disable=SC1091
. "$top/tests/kit/netns.sh"

ctg_require_root
ctg_require_tools ip iptables conntrack timeout

CTGUARDD=$bld/ctguardd
CTGUARD=$bld/ctguard
SETUP=$top/packaging/ctguard-setup
SCEN=$top/tests/e2e/diff/scenarios.py
EXPECTED=$top/tests/e2e/diff/expected-diff.tsv
for b in "$CTGUARDD" "$CTGUARD"; do
	if [ ! -x "$b" ]; then
		echo "not ok - $b not built (set builddir)"
		exit 1
	fi
done

ctg_scapy_python
PY=$CTG_PY

ctg_tmpdir
T=$CTG_TMPDIR
if [ "${DIFF_KEEP:-0}" = 1 ]; then
	T=$(mktemp -d /tmp/ctg-diff.XXXXXX)
	echo "# scratch directory $T (kept)"
fi
SOCK=$T/ctl.sock
DB=$T/audit.db
RULES=$top/rules/stateful-only.rules
TMO=${DIFF_TIMEOUT:-0.2}
ONLY=${DIFF_ONLY:-}
start=$SECONDS

if ! ctg_topology; then
	echo "not ok - cannot build the namespace topology"
	exit 1
fi
GW=$CTG_NS_GW

# Neighbours resolved before the endpoints go quiet.
ctg_ping "$CTG_NS_CLI" "$CTG_SRV4" 1 || {
	echo "not ok - baseline ping through the gateway"
	exit 1
}

# The endpoints' stacks must not answer the crafted packets (RSTs, port
# unreachables, echo replies): they take nothing in, and send only what the
# scenario runner's raw socket marks.
for ns in "$CTG_NS_CLI" "$CTG_NS_SRV"; do
	if ! { ctg_in "$ns" iptables -A INPUT -j DROP &&
	    ctg_in "$ns" iptables -A OUTPUT -m mark ! --mark 0xc7 -j DROP; }; then
		echo "not ok - cannot silence the endpoint stack in $ns"
		exit 1
	fi
done

# run_scenarios OUTFILE MIDSTREAM FLUSHCMD
run_scenarios() {
	timeout 200 "$PY" "$SCEN" run --cli "$CTG_NS_CLI" --srv "$CTG_NS_SRV" \
	    --out "$1" --midstream "$2" --flush "$3" --timeout "$TMO" \
	    --only "$ONLY" >"$1.log" 2>&1
}

# --- (A) the kernel --------------------------------------------------------------
kernel_rules() {
	ctg_in "$GW" iptables -F FORWARD &&
	ctg_in "$GW" iptables -P FORWARD ACCEPT &&
	ctg_in "$GW" iptables -A FORWARD -m conntrack --ctstate INVALID -j DROP &&
	ctg_in "$GW" iptables -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT &&
	ctg_in "$GW" iptables -A FORWARD -m conntrack --ctstate NEW -j ACCEPT &&
	ctg_in "$GW" iptables -A FORWARD -j DROP
}
if ! kernel_rules; then
	echo "not ok - cannot install the conntrack rules in the gateway"
	exit 1
fi
KFLUSH="ip netns exec $GW conntrack -F"
ctg_in "$GW" sysctl -q -w net.netfilter.nf_conntrack_tcp_loose=1
ctg_in "$GW" sysctl -q -w net.netfilter.nf_conntrack_tcp_be_liberal=0
ok_a=1
run_scenarios "$T/kernel.jsonl" loose "$KFLUSH" || ok_a=0
ctg_in "$GW" sysctl -q -w net.netfilter.nf_conntrack_tcp_loose=0
run_scenarios "$T/kernel.jsonl" strict "$KFLUSH" || ok_a=0
ctg_in "$GW" conntrack -F >/dev/null 2>&1
ctg_in "$GW" iptables -F FORWARD
if [ "$ok_a" = 1 ]; then
	ctg_ok "kernel run ($(grep -c . "$T/kernel.jsonl") scenarios, $((SECONDS - start)) s)"
else
	ctg_not_ok "kernel run"
	sed 's/^/#   /' "$T/kernel.jsonl.log" | tail -n 20
	ctg_finish
fi

# --- (B) ctguard --------------------------------------------------------------------
write_config() {
	# write_config FILE MIDSTREAM
	cat >"$1" <<EOF
queue = { first = 0; count = 1; };
tracker = { midstream = "$2"; };
log = { database = "$DB"; policy = "all"; };
daemon = {
	user = "";
	pidfile = "$T/ctguardd.pid";
	control_socket = "$SOCK";
	control_mode = "0600";
	state_file = "$T/conntable.snap";
};
rules = { files = [ "$RULES" ]; };
EOF
}

queue_bound() {
	# shellcheck disable=SC2016
	ctg_in "$GW" awk '$1 == 0 { f = 1 } END { exit !f }' \
	    /proc/net/netfilter/nfnetlink_queue
}

DPID=
start_daemon() {
	ctg_bg "$GW" "$T/ctguardd.$1.log" "$CTGUARDD" -f -c "$T/ctguard.$1.conf"
	DPID=$CTG_BG_PID
	ctg_wait_for 15 queue_bound &&
	    ctg_wait_for 10 "$CTGUARD" -s "$SOCK" status
}

stop_daemon() {
	ctg_stop "$DPID" 10
}

if ! ctg_quiet "$SETUP" install --netns "$GW" --chain FORWARD --queues 0:1; then
	echo "not ok - ctguard-setup install failed"
	exit 1
fi
CFLUSH="timeout 10 $CTGUARD -s $SOCK flush"
ok_b=1
for mode in loose strict; do
	write_config "$T/ctguard.$mode.conf" "$mode"
	rm -f "$T/conntable.snap"
	if ! start_daemon "$mode"; then
		ctg_not_ok "ctguardd started ($mode midstream)"
		tail -n 20 "$T/ctguardd.$mode.log" | sed 's/^/#   /'
		ctg_finish
	fi
	run_scenarios "$T/ctguard.jsonl" "$mode" "$CFLUSH" || ok_b=0
	stop_daemon
done
if [ "$ok_b" = 1 ]; then
	ctg_ok "ctguard run ($(grep -c . "$T/ctguard.jsonl") scenarios, $((SECONDS - start)) s)"
else
	ctg_not_ok "ctguard run"
	sed 's/^/#   /' "$T/ctguard.jsonl.log" | tail -n 20
	ctg_finish
fi
if grep -l -E 'AddressSanitizer|LeakSanitizer|runtime error:' \
    "$T"/ctguardd.*.log >/dev/null 2>&1; then
	ctg_not_ok "ctguardd logs free of sanitizer reports"
fi

# --- compare ----------------------------------------------------------------------
"$PY" "$SCEN" compare "$T/kernel.jsonl" "$T/ctguard.jsonl" "$EXPECTED" "$DB" \
    >"$T/compare.out"
rc=$?
cat "$T/compare.out"
n_ok=$(grep -c '^ok - ' "$T/compare.out")
n_bad=$(grep -c '^not ok - ' "$T/compare.out")
CTG_CHECKS=$((CTG_CHECKS + n_ok + n_bad))
CTG_FAILS=$((CTG_FAILS + n_bad))
[ "$rc" -le 1 ] || ctg_not_ok "compare step failed (exit $rc)"
echo "# runtime $((SECONDS - start)) s"
ctg_finish
