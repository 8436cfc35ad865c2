# SPDX-License-Identifier: GPL-2.0-or-later
# Shared helpers for ctguard's end-to-end tests (bash; source this file).
#
# Topology, built by ctg_topology (all names unique to this shell, $$):
#
#   client ns ---- gateway ns (forwards) ---- server ns
#   198.51.100.2   198.51.100.1 | 203.0.113.1   203.0.113.2
#   2001:db8:1::2  2001:db8:1::1 | 2001:db8:2::1 2001:db8:2::2
#
# Inside each namespace the client and server link is eth0; on the gateway
# the links are cli0 and srv0. Nothing is created in, or sent to, the
# caller's own namespace. Every namespace and every process started with
# ctg_bg is removed by the EXIT trap, also on failure.
#
# Results: ctg_ok / ctg_not_ok print "ok - ..." / "not ok - ..."; call
# ctg_finish at the end to exit 0 or 1. Exit 77 means skipped.

CTG_PREFIX="ctg-$$-"
CTG_NS_CLI="${CTG_PREFIX}cli"
CTG_NS_GW="${CTG_PREFIX}gw"
CTG_NS_SRV="${CTG_PREFIX}srv"

CTG_CLI4=198.51.100.2
CTG_GWC4=198.51.100.1
CTG_GWS4=203.0.113.1
CTG_SRV4=203.0.113.2
CTG_CLI6=2001:db8:1::2
CTG_GWC6=2001:db8:1::1
CTG_GWS6=2001:db8:2::1
CTG_SRV6=2001:db8:2::2

CTG_FAILS=0
CTG_CHECKS=0
CTG_NETNS_MADE=()
CTG_PIDS=()
CTG_TMPDIR=

# Skip (77), or fail under CI=true where a skip would hide a broken runner.
ctg_skip() {
	if [ "${CI:-}" = true ]; then
		echo "not ok - $* (CI=true: refusing to skip)"
		exit 1
	fi
	echo "# SKIP: $*"
	exit 77
}

ctg_require_root() {
	[ "$(id -u)" -eq 0 ] || ctg_skip "needs root (network namespaces)"
}

ctg_require_tools() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || ctg_skip "needs '$t'"
	done
}

# ctg_scapy_python: set CTG_PY to a python3 that has scapy (Debian's
# /usr/bin/python3 has python3-scapy; another python3 may come first in
# PATH), or skip (fail under CI=true).
ctg_scapy_python() {
	local p
	CTG_PY=
	for p in /usr/bin/python3 python3; do
		if command -v "$p" >/dev/null 2>&1 &&
		    "$p" -c 'import scapy.all' >/dev/null 2>&1; then
			CTG_PY=$p
			return 0
		fi
	done
	ctg_skip "needs python3 with scapy (python3-scapy)"
}

ctg_ok() {
	CTG_CHECKS=$((CTG_CHECKS + 1))
	echo "ok - $*"
}

ctg_not_ok() {
	CTG_CHECKS=$((CTG_CHECKS + 1))
	CTG_FAILS=$((CTG_FAILS + 1))
	echo "not ok - $*"
}

# ctg_check DESCRIPTION COMMAND...: ok if the command succeeds.
ctg_check() {
	local desc=$1
	shift
	if "$@"; then ctg_ok "$desc"; else ctg_not_ok "$desc"; fi
}

# ctg_check_fails DESCRIPTION COMMAND...: ok if the command fails.
ctg_check_fails() {
	local desc=$1
	shift
	if "$@"; then ctg_not_ok "$desc"; else ctg_ok "$desc"; fi
}

ctg_finish() {
	echo "# $CTG_CHECKS checks, $CTG_FAILS failed"
	[ "$CTG_FAILS" -eq 0 ] && exit 0
	exit 1
}

# ctg_quiet COMMAND...: run with stdout discarded (for ctg_check).
ctg_quiet() {
	"$@" >/dev/null
}

# ctg_in NS COMMAND...: run in a namespace.
ctg_in() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# ctg_bg NS LOGFILE COMMAND...: start in the background; sets CTG_BG_PID.
ctg_bg() {
	local ns=$1 log=$2
	shift 2
	ip netns exec "$ns" "$@" >"$log" 2>&1 &
	CTG_BG_PID=$!
	CTG_PIDS+=("$CTG_BG_PID")
}

# ctg_stop PID [SECONDS]: SIGTERM, then SIGKILL after the grace period.
ctg_stop() {
	local pid=$1 grace=${2:-5} i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < grace * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# ctg_wait_for SECONDS COMMAND...: poll until the command succeeds.
ctg_wait_for() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# Make the scratch directory $CTG_TMPDIR (removed on exit). Call it in the
# main shell, not in $(...), or the name is lost.
ctg_tmpdir() {
	[ -n "$CTG_TMPDIR" ] && return 0
	CTG_TMPDIR=$(mktemp -d /tmp/ctg-e2e.XXXXXX)
}

ctg_cleanup() {
	local pid ns
	for pid in "${CTG_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	for ns in "${CTG_NETNS_MADE[@]}"; do
		# whatever still runs inside a namespace we made is ours
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	CTG_NETNS_MADE=()
	[ -n "$CTG_TMPDIR" ] && rm -rf "$CTG_TMPDIR"
	CTG_TMPDIR=
}

trap ctg_cleanup EXIT
trap 'exit 1' INT TERM HUP

ctg_netns_add() {
	ip netns add "$1" || return 1
	CTG_NETNS_MADE+=("$1")
	# no duplicate address detection: addresses usable at once
	ctg_in "$1" sysctl -q -w net.ipv6.conf.default.accept_dad=0 \
	    net.ipv6.conf.all.accept_dad=0 >/dev/null || return 1
	ip -n "$1" link set lo up
}

# ctg_link_fifo NS DEV [off]: make a veth end deliver its packets in the
# order they were sent, as a cable does. A bare veth hands each packet to
# the backlog of the CPU that sent it, so a server's ACK (sent from softirq
# on one CPU) and its FIN (sent by close() on the other, 15 us later) can
# arrive swapped; the peer, already in TIME_WAIT, answers the stale ACK and
# the closed server answers that with a RST. Measured on this machine's
# kind: 21 such RSTs in 8,000 short connections over one bare veth pair,
# none in 12,000 with this (e2e_ha_plumbing checks it on the HA test bed).
# ctg_topology and ha_plug make every link so.
# With GRO on, the receiving end takes packets through its NAPI ring, one
# FIFO; the kernel puts a packet there only if the sending end has no TSO
# (veth_skb_is_eligible_for_gro()), so both ends get both settings. "off"
# puts a link back to the bare behaviour (the check's control).
ctg_link_fifo() {
	command -v ethtool >/dev/null 2>&1 || ctg_skip "needs 'ethtool' (ctg_link_fifo)"
	if [ "${3:-on}" = off ]; then
		ip netns exec "$1" ethtool -K "$2" gro off tso on >/dev/null 2>&1
	else
		ip netns exec "$1" ethtool -K "$2" gro on tso off >/dev/null 2>&1
	fi
}

# Build the client/gateway/server topology; its links keep each flow's
# order (ctg_link_fifo) unless the argument is "bare" (the benchmarks:
# they measure speed, and compare it with a baseline on the same links).
# Returns non-zero on failure.
ctg_topology() {
	local ns links=${1:-fifo}
	for ns in "$CTG_NS_CLI" "$CTG_NS_GW" "$CTG_NS_SRV"; do
		ctg_netns_add "$ns" || return 1
	done
	ip -n "$CTG_NS_CLI" link add eth0 type veth peer name cli0 \
	    netns "$CTG_NS_GW" || return 1
	ip -n "$CTG_NS_SRV" link add eth0 type veth peer name srv0 \
	    netns "$CTG_NS_GW" || return 1
	if [ "$links" != bare ]; then
		ctg_link_fifo "$CTG_NS_CLI" eth0 && ctg_link_fifo "$CTG_NS_GW" cli0 &&
		ctg_link_fifo "$CTG_NS_SRV" eth0 && ctg_link_fifo "$CTG_NS_GW" srv0 ||
		    return 1
	fi

	ip -n "$CTG_NS_CLI" addr add "$CTG_CLI4/24" dev eth0 &&
	ip -n "$CTG_NS_CLI" addr add "$CTG_CLI6/64" dev eth0 nodad &&
	ip -n "$CTG_NS_GW" addr add "$CTG_GWC4/24" dev cli0 &&
	ip -n "$CTG_NS_GW" addr add "$CTG_GWC6/64" dev cli0 nodad &&
	ip -n "$CTG_NS_GW" addr add "$CTG_GWS4/24" dev srv0 &&
	ip -n "$CTG_NS_GW" addr add "$CTG_GWS6/64" dev srv0 nodad &&
	ip -n "$CTG_NS_SRV" addr add "$CTG_SRV4/24" dev eth0 &&
	ip -n "$CTG_NS_SRV" addr add "$CTG_SRV6/64" dev eth0 nodad || return 1

	for ns in "$CTG_NS_CLI" "$CTG_NS_SRV"; do
		ip -n "$ns" link set eth0 up || return 1
	done
	ip -n "$CTG_NS_GW" link set cli0 up &&
	ip -n "$CTG_NS_GW" link set srv0 up || return 1

	ip -n "$CTG_NS_CLI" route add default via "$CTG_GWC4" &&
	ip -n "$CTG_NS_CLI" -6 route add default via "$CTG_GWC6" &&
	ip -n "$CTG_NS_SRV" route add default via "$CTG_GWS4" &&
	ip -n "$CTG_NS_SRV" -6 route add default via "$CTG_GWS6" || return 1

	ctg_in "$CTG_NS_GW" sysctl -q -w net.ipv4.ip_forward=1 &&
	ctg_in "$CTG_NS_GW" sysctl -q -w net.ipv6.conf.all.forwarding=1
}

# ctg_ping NS ADDR [COUNT]: succeed if every echo gets an answer.
ctg_ping() {
	local ns=$1 addr=$2 count=${3:-2}
	timeout $((count + 5)) ip netns exec "$ns" \
	    ping -q -n -c "$count" -i 0.2 -W 1 "$addr" >/dev/null 2>&1
}

# ctg_http_server NS DIR PORT: serve DIR over HTTP on every address.
ctg_http_server() {
	local ns=$1 dir=$2 port=$3
	ctg_tmpdir || return 1
	ctg_bg "$ns" "$CTG_TMPDIR/http-$port.log" \
	    timeout 300 python3 -m http.server --bind :: --directory "$dir" \
	    "$port"
	ctg_wait_for 10 ctg_in "$ns" python3 -c "
import socket
socket.create_connection(('127.0.0.1', $port), timeout=1).close()"
}

# ctg_http_get NS URL OUTFILE [SECONDS]: fetch with a bounded time.
ctg_http_get() {
	local ns=$1 url=$2 out=$3 secs=${4:-5}
	timeout $((secs + 2)) ip netns exec "$ns" python3 -c "
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=$secs) as r:
    data = r.read()
open(sys.argv[2], 'wb').write(data)" "$url" "$out" 2>/dev/null
}

# ctg_tcp_connect NS ADDR PORT [SECONDS]: succeed if a TCP connect works.
ctg_tcp_connect() {
	local ns=$1 addr=$2 port=$3 secs=${4:-2}
	timeout $((secs + 2)) ip netns exec "$ns" python3 -c "
import socket, sys
socket.create_connection((sys.argv[1], int(sys.argv[2])),
    timeout=$secs).close()" "$addr" "$port" 2>/dev/null
}

# ctg_programs TOP BUILD: CTGUARDD, CTGUARD and SETUP for an end-to-end
# test; the test ends (not ok) when the daemon or the CLI is not built.
ctg_programs() {
	CTGUARDD=$2/ctguardd
	CTGUARD=$2/ctguard
	SETUP=$1/packaging/ctguard-setup
	local b
	for b in "$CTGUARDD" "$CTGUARD"; do
		if [ ! -x "$b" ]; then
			echo "not ok - $b not built (set builddir)"
			exit 1
		fi
	done
}
