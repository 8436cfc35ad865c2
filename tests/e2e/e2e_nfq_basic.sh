#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end: forwarded traffic through an NFQUEUE rule and the accept-all
# consumer; fail-closed when the consumer is gone; back to normal after the
# rules are removed; --bypass keeps traffic flowing with no consumer.
#
# Environment: srcdir (top source dir), NFQ_ACCEPTALL (consumer binary,
# default tests/e2e/nfq_acceptall under the build or source directory).
# Exit 0 pass, 1 fail, 77 skip (not root, or a tool missing; CI=true fails).

set -u

here=$(cd "$(dirname "$0")" && pwd)
top=${srcdir:-$here/../..}
# shellcheck source=../kit/netns.sh disable=SC1091
. "$top/tests/kit/netns.sh"

ctg_require_root
ctg_require_tools ip iptables ip6tables python3 ping timeout

SETUP="$top/packaging/ctguard-setup"
consumer=${NFQ_ACCEPTALL:-}
if [ -z "$consumer" ]; then
	for c in ./tests/e2e/nfq_acceptall "$top/tests/e2e/nfq_acceptall"; do
		[ -x "$c" ] && consumer=$c && break
	done
fi
if [ -z "$consumer" ] || [ ! -x "$consumer" ]; then
	echo "not ok - nfq_acceptall not built (set NFQ_ACCEPTALL)"
	exit 1
fi
consumer=$(cd "$(dirname "$consumer")" && pwd)/$(basename "$consumer")
QUEUE=7
PORT=8080

ctg_tmpdir
if ! ctg_topology; then
	echo "not ok - cannot build the namespace topology"
	exit 1
fi
ctg_ok "topology $CTG_NS_CLI / $CTG_NS_GW / $CTG_NS_SRV"

www="$CTG_TMPDIR/www"
mkdir -p "$www"
head -c 262144 /dev/urandom >"$www/blob"
if ! ctg_http_server "$CTG_NS_SRV" "$www" "$PORT"; then
	echo "not ok - HTTP server did not start"
	exit 1
fi

http_ok() {
	rm -f "$CTG_TMPDIR/got"
	ctg_http_get "$CTG_NS_CLI" "$1" "$CTG_TMPDIR/got" 5 &&
	    cmp -s "$www/blob" "$CTG_TMPDIR/got"
}

queue_bound() {
	# shellcheck disable=SC2016
	ctg_in "$CTG_NS_GW" awk -v q="$QUEUE" '$1 == q { f = 1 } END { exit !f }' \
	    /proc/net/netfilter/nfnetlink_queue
}

# --- baseline
ctg_check "baseline: ping IPv4 forwards" ctg_ping "$CTG_NS_CLI" "$CTG_SRV4"
ctg_check "baseline: ping IPv6 forwards" ctg_ping "$CTG_NS_CLI" "$CTG_SRV6"

# --- queue rules, no bypass, consumer running
ctg_check "ctguard-setup install (FORWARD, queue $QUEUE, fail closed)" \
    ctg_quiet "$SETUP" install --netns "$CTG_NS_GW" --chain FORWARD \
    --queues "$QUEUE:1"
ctg_check "ctguard-setup install again is idempotent" \
    ctg_quiet "$SETUP" install --netns "$CTG_NS_GW" --chain FORWARD \
    --queues "$QUEUE:1"
njumps=$(ctg_in "$CTG_NS_GW" iptables -S FORWARD | grep -c -- '-j CTGUARD')
ctg_check "one jump rule after two installs (got $njumps)" \
    test "$njumps" -eq 1

out="$CTG_TMPDIR/acceptall.out"
ctg_bg "$CTG_NS_GW" "$out" "$consumer" -q "$QUEUE" -t 120
cpid=$CTG_BG_PID
ctg_check "nfq_acceptall bound queue $QUEUE" ctg_wait_for 5 queue_bound

ctg_check "queued: ping IPv4 passes" ctg_ping "$CTG_NS_CLI" "$CTG_SRV4" 3
ctg_check "queued: ping IPv6 passes" ctg_ping "$CTG_NS_CLI" "$CTG_SRV6" 3
ctg_check "queued: HTTP 256 KiB over IPv4 intact" \
    http_ok "http://$CTG_SRV4:$PORT/blob"
ctg_check "queued: HTTP 256 KiB over IPv6 intact" \
    http_ok "http://[$CTG_SRV6]:$PORT/blob"

rule_pkts() {
	"$SETUP" status --netns "$CTG_NS_GW" --family "$1" |
	    awk '$4 == "NFQUEUE" { print $2; exit }'
}
pk4=$(rule_pkts 4)
pk6=$(rule_pkts 6)
ctg_check "status shows IPv4 queue rule counters > 0 (got ${pk4:-none})" \
    test "${pk4:-0}" -gt 0
ctg_check "status shows IPv6 queue rule counters > 0 (got ${pk6:-none})" \
    test "${pk6:-0}" -gt 0

ctg_stop "$cpid" 5
line=$(grep '^packets=' "$out")
pk=$(sed -n 's/^packets=\([0-9]*\) .*/\1/p' "$out")
ctg_check "nfq_acceptall stopped on SIGTERM and reported: ${line:-nothing}" \
    test -n "$line"
ctg_check "nfq_acceptall counted the queued packets (${pk:-0} >= $((pk4 + pk6)))" \
    test "${pk:-0}" -ge $((pk4 + pk6)) -a "${pk:-0}" -gt 0
ctg_check "no losses (enobufs=0 id_gaps=0)" \
    grep -q ' enobufs=0 id_gaps=0$' "$out"
ctg_check_fails "queue $QUEUE unbound after the consumer exits" queue_bound

# --- no consumer, no bypass: fail closed
ctg_check_fails "fail closed: ping IPv4 blocked" \
    ctg_ping "$CTG_NS_CLI" "$CTG_SRV4" 2
ctg_check_fails "fail closed: ping IPv6 blocked" \
    ctg_ping "$CTG_NS_CLI" "$CTG_SRV6" 2
ctg_check_fails "fail closed: TCP connect blocked" \
    ctg_tcp_connect "$CTG_NS_CLI" "$CTG_SRV4" "$PORT" 2

# --- bypass: no consumer, traffic flows
ctg_check "ctguard-setup install --bypass" \
    ctg_quiet "$SETUP" install --netns "$CTG_NS_GW" --chain FORWARD \
    --queues "$QUEUE:1" --bypass
ctg_check "bypass: ping IPv4 passes without a consumer" \
    ctg_ping "$CTG_NS_CLI" "$CTG_SRV4"
ctg_check "bypass: TCP connect passes without a consumer" \
    ctg_tcp_connect "$CTG_NS_CLI" "$CTG_SRV4" "$PORT" 2

# --- remove: normal forwarding again, nothing left behind
ctg_check "ctguard-setup remove" \
    ctg_quiet "$SETUP" remove --netns "$CTG_NS_GW"
left=$(ctg_in "$CTG_NS_GW" iptables -S | grep -c CTGUARD)
left6=$(ctg_in "$CTG_NS_GW" ip6tables -S | grep -c CTGUARD)
ctg_check "no CTGUARD rules left (v4 $left, v6 $left6)" \
    test "$left" -eq 0 -a "$left6" -eq 0
ctg_check_fails "status after remove reports not installed" \
    ctg_quiet "$SETUP" status --netns "$CTG_NS_GW"
ctg_check "removed: ping IPv4 passes" ctg_ping "$CTG_NS_CLI" "$CTG_SRV4"
ctg_check "removed: ping IPv6 passes" ctg_ping "$CTG_NS_CLI" "$CTG_SRV6"
ctg_check "removed: HTTP over IPv4 intact" http_ok "http://$CTG_SRV4:$PORT/blob"

ctg_finish
