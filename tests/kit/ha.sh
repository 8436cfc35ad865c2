# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash disable=SC2016
# Shared helpers for the high-availability end-to-end tests (bash; source
# this file; it sources netns.sh itself).
#
# Topology, built by ha_topology N (N = 2 or 3 gateways; every name unique
# to this shell, $$):
#
#              client 198.51.100.10, 2001:db8:1::10
#                 | default routes via the VIPs .1 and 2001:db8:1::1
#        ========(brc: client LAN bridge, in the "switch" namespace)========
#            | lan0 .2, ::2                       | lan0 .3, ::3
#          [gw1] -- sync0 .249 ==(bry)== .250 -- [gw2]   (gw3: .4 / .251)
#            | wan0 .2, ::2                       | wan0 .3, ::3
#        ========(brs: server LAN bridge, in the "switch" namespace)========
#                 | routes back via the VIPs .1 and 2001:db8:2::1
#              server 203.0.113.10, 2001:db8:2::10
#
# The sync LAN is 203.0.113.248/29 (a bridge rather than a /30 veth, so a
# third gateway can join the group); on each gateway it is more specific
# than the server LAN's /24 that contains it, so the routes do not clash.
# VRRP moves 198.51.100.1 and 203.0.113.1 (with 2001:db8:1::1 and
# 2001:db8:2::1 as excluded addresses of the same instances, so both
# families move together) between the gateways' keepalived instances, one
# sync group for both sides.
#
# Each gateway runs corosync in its own mount namespace (tmpfs over /run,
# /dev/shm, /var/lib/corosync and /var/log/corosync: corosync's IPC and
# state would otherwise be shared with the host and the other gateway);
# ctguardd joins that mount namespace (nsenter -t <corosync pid> -m -n) so
# that its CPG client finds the right corosync. keepalived runs in a mount
# namespace of its own (tmpfs over /run).
#
# Everything started here is killed, and every namespace deleted, by
# netns.sh's EXIT trap, also on failure.

# shellcheck source=netns.sh disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

HA_PREFIX="ctgha-$$-"
HA_NS_CLI="${HA_PREFIX}cli"
HA_NS_SRV="${HA_PREFIX}srv"
HA_NS_SW="${HA_PREFIX}sw"

HA_CLI4=198.51.100.10
HA_CLI6=2001:db8:1::10
HA_SRV4=203.0.113.10
HA_SRV6=2001:db8:2::10
HA_VIPC4=198.51.100.1
HA_VIPC6=2001:db8:1::1
HA_VIPS4=203.0.113.1
HA_VIPS6=2001:db8:2::1

# VRRP timing: adverts every 0.2 s (VRRPv3 allows centiseconds), so a
# backup takes over after 3 silent adverts plus its skew, about 0.7 s.
HA_ADVERT=${HA_ADVERT:-0.2}

declare -a HA_CS_PID=()         # corosync pid per gateway number
declare -a HA_KA_PID=()         # keepalived parent pid per gateway number

ha_ns() { echo "${HA_PREFIX}gw$1"; }
ha_lan4() { echo "198.51.100.$(($1 + 1))"; }
ha_lan6() { echo "2001:db8:1::$(($1 + 1))"; }
ha_wan4() { echo "203.0.113.$(($1 + 1))"; }
ha_wan6() { echo "2001:db8:2::$(($1 + 1))"; }
ha_sync4() { echo "203.0.113.$(($1 + 248))"; }

# ha_plug SWITCHPORT BRIDGE NS IFNAME: a veth from the switch's bridge to
# NS, keeping each flow's order as a cable would (ctg_link_fifo): the HA
# tests count every RST, and a bare veth makes some of its own.
ha_plug() {
	ip -n "$HA_NS_SW" link add "$1" type veth peer name "$4" netns "$3" &&
	ctg_link_fifo "$HA_NS_SW" "$1" && ctg_link_fifo "$3" "$4" &&
	ip -n "$HA_NS_SW" link set "$1" master "$2" &&
	ip -n "$HA_NS_SW" link set "$1" up &&
	ip -n "$3" link set "$4" up
}

# ha_veth_ends: "NS DEV" for every veth end of the test bed, a line each
ha_veth_ends() {
	local ns
	for ns in "${CTG_NETNS_MADE[@]}"; do
		ip -n "$ns" -o link show type veth |
		    sed -n "s/^[0-9]*: \([^@:]*\).*/$ns \1/p"
	done
}

# ha_links_fifo on|off: every veth end of the test bed in that mode
# (ctg_link_fifo; off only for e2e_ha_plumbing's control).
ha_links_fifo() {
	local ns dev
	while read -r ns dev; do
		ctg_link_fifo "$ns" "$dev" "$1" || return 1
	done < <(ha_veth_ends)
}

# ha_topology NGW: client, server, switch and NGW gateways. Non-zero on
# failure (the caller reports it; the trap cleans up).
ha_topology() {
	local n=$1 i ns br
	for ns in "$HA_NS_SW" "$HA_NS_CLI" "$HA_NS_SRV"; do
		ctg_netns_add "$ns" || return 1
	done
	for br in brc brs bry; do
		# no STP: a port forwards as soon as it is up
		ip -n "$HA_NS_SW" link add "$br" type bridge stp_state 0 \
		    forward_delay 0 mcast_snooping 0 || return 1
		ip -n "$HA_NS_SW" link set "$br" up || return 1
	done
	ha_plug c-cli brc "$HA_NS_CLI" eth0 &&
	ha_plug s-srv brs "$HA_NS_SRV" eth0 || return 1
	ip -n "$HA_NS_CLI" addr add "$HA_CLI4/24" dev eth0 &&
	ip -n "$HA_NS_CLI" addr add "$HA_CLI6/64" dev eth0 nodad &&
	ip -n "$HA_NS_SRV" addr add "$HA_SRV4/24" dev eth0 &&
	ip -n "$HA_NS_SRV" addr add "$HA_SRV6/64" dev eth0 nodad &&
	ip -n "$HA_NS_CLI" route add default via "$HA_VIPC4" &&
	ip -n "$HA_NS_CLI" -6 route add default via "$HA_VIPC6" &&
	ip -n "$HA_NS_SRV" route add default via "$HA_VIPS4" &&
	ip -n "$HA_NS_SRV" -6 route add default via "$HA_VIPS6" || return 1

	for ((i = 1; i <= n; i++)); do
		ns=$(ha_ns "$i")
		ctg_netns_add "$ns" || return 1
		ha_plug "c-gw$i" brc "$ns" lan0 &&
		ha_plug "s-gw$i" brs "$ns" wan0 &&
		ha_plug "y-gw$i" bry "$ns" sync0 || return 1
		ip -n "$ns" addr add "$(ha_lan4 "$i")/24" dev lan0 &&
		ip -n "$ns" addr add "$(ha_lan6 "$i")/64" dev lan0 nodad &&
		ip -n "$ns" addr add "$(ha_wan4 "$i")/24" dev wan0 &&
		ip -n "$ns" addr add "$(ha_wan6 "$i")/64" dev wan0 nodad &&
		ip -n "$ns" addr add "$(ha_sync4 "$i")/29" dev sync0 || return 1
		ctg_in "$ns" sysctl -q -w net.ipv4.ip_forward=1 \
		    net.ipv6.conf.all.forwarding=1 >/dev/null || return 1
	done
}

# ha_corosync_conf FILE NGW [SUC]: a knet cluster of NGW nodes on the sync
# LAN; SUC is totem.seqno_unchanged_const (default 1, packaging/ha's
# active/backup value; active/active holds packets for delivery: 5).
# No quorum provider: ctguard's sync needs only membership and ordered
# delivery; who forwards is VRRP's decision, and a lone survivor must go
# on working.
ha_corosync_conf() {
	local f=$1 n=$2 suc=${3:-1} i
	{
		cat <<EOF
totem {
	version: 2
	cluster_name: ctgha$$
	transport: knet
	crypto_cipher: none
	crypto_hash: none
	# a lost member is noticed after ~1 s rather than 3 s
	token: 1000
	# as packaging/ha/corosync.conf: rest the ring soon after a burst
	seqno_unchanged_const: $suc
	join: 50
	consensus: 1200
}
logging {
	to_stderr: yes
	to_logfile: no
	to_syslog: no
	timestamp: on
}
nodelist {
EOF
		for ((i = 1; i <= n; i++)); do
			printf '\tnode {\n\t\tname: gw%d\n\t\tnodeid: %d\n' "$i" "$i"
			printf '\t\tring0_addr: %s\n\t}\n' "$(ha_sync4 "$i")"
		done
		echo "}"
	} >"$f"
}

# ha_corosync_start N CONF LOG: corosync -f in gwN's own mount namespace;
# sets HA_CS_PID[N] (the pid is corosync's own: every wrapper execs).
ha_corosync_start() {
	local n=$1 conf=$2 log=$3
	ip netns exec "$(ha_ns "$n")" unshare -m --propagation private sh -c '
		for d in /run /dev/shm /var/lib/corosync /var/log/corosync; do
			mkdir -p "$d" && mount -t tmpfs -o mode=0755 tmpfs "$d" ||
			    exit 1
		done
		exec corosync -f -c "$1"' sh "$conf" >"$log" 2>&1 &
	HA_CS_PID[n]=$!
	CTG_PIDS+=("$!")
}

# ha_in_cs N COMMAND...: run in gwN's corosync mount and network namespace
# (corosync's tools and ctguardd must run there to reach its IPC).
ha_in_cs() {
	local n=$1
	shift
	nsenter -t "${HA_CS_PID[n]}" -m -n "$@"
}

# ha_cs_members N: the number of joined members gwN's corosync sees.
ha_cs_members() {
	ha_in_cs "$1" corosync-cmapctl -b runtime.members 2>/dev/null |
	    grep -c '\.status (str) = joined$'
}

# ha_cs_members_eq N WANT (for ctg_wait_for)
ha_cs_members_eq() {
	[ "$(ha_cs_members "$1")" = "$2" ]
}

# ha_keepalived_conf FILE N PRIORITY NOTIFY: VRRPv3 instances for the client
# and server sides of gwN in one sync group (they move together: traffic
# and its replies must cross the same gateway). Both start as BACKUP with
# nopreempt: a gateway that comes back must not take the addresses before
# it has received the bulk transfer of the connection table; it takes over
# when the current primary fails. NOTIFY is the command keepalived runs on
# every state change of the group (keepalived appends: GROUP name state).
ha_keepalived_conf() {
	local f=$1 n=$2 prio=$3 notify=$4
	cat >"$f" <<EOF
global_defs {
	router_id gw$n
	script_user root
	vrrp_version 3
	# unsolicited ARP/NA at once and again after 1 s, so the client's and
	# the server's neighbour caches follow the addresses at once
	vrrp_garp_master_delay 1
	vrrp_garp_master_repeat 2
}
vrrp_sync_group ctguard {
	group {
		inside
		outside
	}
	notify "$notify"
}
vrrp_instance inside {
	state BACKUP
	nopreempt
	interface lan0
	virtual_router_id 51
	priority $prio
	advert_int $HA_ADVERT
	virtual_ipaddress {
		$HA_VIPC4/24
	}
	virtual_ipaddress_excluded {
		$HA_VIPC6/64
	}
}
vrrp_instance outside {
	state BACKUP
	nopreempt
	interface wan0
	virtual_router_id 52
	priority $prio
	advert_int $HA_ADVERT
	virtual_ipaddress {
		$HA_VIPS4/24
	}
	virtual_ipaddress_excluded {
		$HA_VIPS6/64
	}
}
EOF
}

# ha_keepalived_start N CONF LOG: keepalived (VRRP only, no fork) in gwN's
# network namespace with a private /run; sets HA_KA_PID[N]. Its pid files
# go next to CONF.
ha_keepalived_start() {
	local n=$1 conf=$2 log=$3
	ip netns exec "$(ha_ns "$n")" unshare -m --propagation private sh -c '
		mount -t tmpfs -o mode=0755 tmpfs /run || exit 1
		exec keepalived -n -l -D -G -P -f "$1" -p "$1.pid" -r "$1.vrrp.pid"' \
	    sh "$conf" >"$log" 2>&1 &
	HA_KA_PID[n]=$!
	CTG_PIDS+=("$!")
}

# ha_keepalived_kill N: kill -9 gwN's keepalived, parent and VRRP child
# alike. Both are stopped first: the child must not see its parent die and
# shut down gracefully (that would hand the addresses over cleanly with a
# priority 0 advert, which is not the crash under test).
ha_keepalived_kill() {
	local n=$1 pids p
	pids="${HA_KA_PID[n]} $(pgrep -P "${HA_KA_PID[n]}" 2>/dev/null)"
	for p in $pids; do kill -STOP "$p" 2>/dev/null; done
	for p in $pids; do kill -KILL "$p" 2>/dev/null; done
	wait "${HA_KA_PID[n]}" 2>/dev/null
	return 0
}

# ha_vip_on N: gwN holds the client-side and server-side IPv4 VIPs.
ha_vip_on() {
	local ns
	ns=$(ha_ns "$1")
	ip -n "$ns" -4 addr show dev lan0 | grep -q "inet $HA_VIPC4/" &&
	ip -n "$ns" -4 addr show dev wan0 | grep -q "inet $HA_VIPS4/"
}

# ha_vip_off N: gwN holds none of the four VIPs.
ha_vip_off() {
	local ns
	ns=$(ha_ns "$1")
	! ip -n "$ns" addr show | grep -q -E \
	    "inet6? ($HA_VIPC4|$HA_VIPS4|$HA_VIPC6|$HA_VIPS6)/"
}

# ha_vip_drop N: remove leftover VIPs from gwN (keepalived killed with -9
# leaves them; a gateway that really crashed and rebooted would not have
# them, and it must not answer for them before VRRP gives them back).
ha_vip_drop() {
	local ns a
	ns=$(ha_ns "$1")
	for a in "$HA_VIPC4/24 dev lan0" "$HA_VIPC6/64 dev lan0" \
	    "$HA_VIPS4/24 dev wan0" "$HA_VIPS6/64 dev wan0"; do
		# shellcheck disable=SC2086
		ip -n "$ns" addr del $a 2>/dev/null
	done
	return 0
}

# ha_wait_vip N SECONDS: poll every 10 ms until gwN holds the VIPs; prints
# the milliseconds it took. Non-zero on timeout.
ha_wait_vip() {
	local n=$1 secs=$2 t0 now
	t0=$(date +%s%N)
	while :; do
		now=$(date +%s%N)
		if ha_vip_on "$n"; then
			echo $(((now - t0) / 1000000))
			return 0
		fi
		[ $((now - t0)) -ge $((secs * 1000000000)) ] && return 1
		sleep 0.01
	done
}

# ha_probe_py FILE: write the gap probe. "sink PORT SECS OUT" listens on
# UDP PORT for at most SECS s and writes "count maxgap_ms gap_at_s" to OUT;
# "send HOST PORT SECS" sends a numbered datagram every ms for SECS s. The
# largest interval between two arrivals is the failover gap.
ha_probe_py() {
	cat >"$1" <<'EOF'
import socket, sys, time
cmd = sys.argv[1]
if cmd == 'sink':
    port, secs, out = int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(('::', port))
    s.settimeout(0.5)
    end = time.monotonic() + secs
    n, last, gap, at, start = 0, None, 0.0, 0.0, None
    while time.monotonic() < end:
        try:
            d = s.recv(100)
        except socket.timeout:
            continue
        now = time.monotonic()
        if d == b'end':
            break
        if start is None:
            start = now
        if last is not None and now - last > gap:
            gap, at = now - last, last - start
        last = now
        n += 1
    open(out, 'w').write('%d %.1f %.2f\n' % (n, gap * 1000, at))
elif cmd == 'send':
    host, port, secs = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    end = time.monotonic() + secs
    i = 0
    while time.monotonic() < end:
        try:
            s.sendto(b'%d' % i, (host, port))
        except OSError:
            pass        # no route for a moment: the gap shows it
        i += 1
        time.sleep(0.001)
    for _ in range(3):
        try:
            s.sendto(b'end', (host, port))
        except OSError:
            pass
        time.sleep(0.05)
EOF
}

# ha_routes FWD REV: the client reaches the server through gwFWD and the
# server answers through gwREV (IPv4 and IPv6), replacing the default
# routes ha_topology gives them (via the VIPs). FWD != REV is asymmetric
# routing: every connection's first packet crosses gwFWD and the answer
# gwREV; FWD = REV is the symmetric case (no VRRP needed for either).
ha_routes() {
	local fwd=$1 rev=$2
	ip -n "$HA_NS_CLI" route replace default via "$(ha_lan4 "$fwd")" &&
	ip -n "$HA_NS_CLI" -6 route replace default via "$(ha_lan6 "$fwd")" &&
	ip -n "$HA_NS_SRV" route replace default via "$(ha_wan4 "$rev")" &&
	ip -n "$HA_NS_SRV" -6 route replace default via "$(ha_wan6 "$rev")"
}

# ha_rst_count_add NS PORT: count the TCP RSTs NS receives or sends on its
# link eth0 (not loopback) on connections with PORT at either end
# (iptables counters, both families; rules with no target only count).
# ha_rst_count NS prints the total.
ha_rst_count_add() {
	local ns=$1 port=$2 t c d
	for t in iptables ip6tables; do
		for c in INPUT OUTPUT; do
			if [ "$c" = INPUT ]; then d=-i; else d=-o; fi
			ctg_in "$ns" "$t" -I "$c" 1 "$d" eth0 -p tcp --sport "$port" \
			    --tcp-flags RST RST -m comment --comment ha-rst-count &&
			ctg_in "$ns" "$t" -I "$c" 1 "$d" eth0 -p tcp --dport "$port" \
			    --tcp-flags RST RST -m comment --comment ha-rst-count ||
			    return 1
		done
	done
}

ha_rst_count() {
	local ns=$1 t c
	for t in iptables ip6tables; do
		for c in INPUT OUTPUT; do
			ctg_in "$ns" "$t" -n -v -x -L "$c"
		done
	done | awk '/ha-rst-count/ { s += $1 } END { print s + 0 }'
}
