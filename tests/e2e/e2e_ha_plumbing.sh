#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck disable=SC2016
# End to end, without ctguard: the high-availability plumbing that
# e2e_ha.sh builds on (tests/kit/ha.sh), proved on its own so that a
# failure there is told apart from a failure of ctguard's sync.
#
#  1. two corosync 3 instances, each in its gateway's network and mount
#     namespace, form a two-member membership over the sync LAN
#  2. keepalived on both gateways: the first one started takes the four
#     virtual addresses (VRRP sync group), the notify hook reports MASTER
#     and BACKUP, plain forwarding works over IPv4 and IPv6 through them
#  3. kill -9 the primary's keepalived: the addresses move to the other
#     gateway (gw1 stops forwarding, as if it crashed), its hook reports
#     MASTER, forwarding goes on through gw2; the VRRP failover time and
#     the forwarding gap (1 ms UDP probe) are printed
#  4. the first gateway's corosync stopped: the survivor sees one member
#  5. the test bed keeps each flow's order (ha_plug's links, ctg_link_fifo):
#     2,000 short TCP connections over IPv4 and 1,000 over IPv6 through
#     gw2 (plain forwarding) draw no RST at either end. The control, the
#     same connections over the same links made bare again, prints its
#     RSTs: a bare veth swaps a server's ACK and FIN now and then (about
#     1 in 400 connections here), and the HA tests, which count every RST,
#     would blame the gateway.
#
# Environment: srcdir (top source dir; default the script's ../..).
# Exit 0 pass, 1 fail, 77 skip (not root, or a tool missing; CI=true fails).

set -u

here=$(cd "$(dirname "$0")" && pwd)
top=${srcdir:-$here/../..}
top=$(cd "$top" && pwd)
# shellcheck source=../kit/ha.sh disable=SC1091
. "$top/tests/kit/ha.sh"

ctg_require_root
ctg_require_tools ip python3 ping timeout unshare nsenter pgrep ethtool \
    iptables ip6tables corosync corosync-cmapctl keepalived

ctg_tmpdir
T=$CTG_TMPDIR
PROBE=$T/probe.py
ha_probe_py "$PROBE"

# The notify hook of this test only records what keepalived says.
cat >"$T/notify.sh" <<'EOF'
#!/bin/sh
echo "$*" >>"$(dirname "$0")/notify.$(ip -o link show sync0 | \
    sed 's/.*link\/ether \([^ ]*\).*/\1/' | tr -d :).log"
EOF
chmod 0755 "$T/notify.sh"

dump() {
	local f
	for f in "$T"/*.log; do
		[ -f "$f" ] || continue
		echo "# --- $f (tail)"
		tail -n 15 "$f" | sed 's/^/#   /'
	done
}

if ! ha_topology 2; then
	echo "not ok - cannot build the namespace topology"
	exit 1
fi
ctg_ok "topology: client, server, switch, gw1, gw2 ($HA_PREFIX*)"

# --- 1. corosync membership ---------------------------------------------------
ha_corosync_conf "$T/corosync.conf" 2
for n in 1 2; do
	ha_corosync_start "$n" "$T/corosync.conf" "$T/corosync$n.log"
done
if ctg_wait_for 20 ha_cs_members_eq 1 2 && ctg_wait_for 5 ha_cs_members_eq 2 2; then
	ctg_ok "corosync: gw1 and gw2 each see 2 joined members"
else
	ctg_not_ok "corosync: 2 members (gw1 sees $(ha_cs_members 1), gw2 sees $(ha_cs_members 2))"
	dump
	ctg_finish
fi
# each gateway's tools reach that gateway's corosync, not the other's
ctg_check "corosync's IPC is private to each gateway (gw1 answers node 1, gw2 node 2)" \
    eval 'ha_in_cs 1 corosync-cfgtool -s | grep -q "Local node ID 1," &&
        ha_in_cs 2 corosync-cfgtool -s | grep -q "Local node ID 2,"'

# --- 2. VRRP: gw1 first, then gw2 ----------------------------------------------
# gw1's hook log is named after its sync0 MAC; find both once.
mac() { ip -n "$(ha_ns "$1")" -o link show sync0 | sed 's/.*link\/ether \([^ ]*\).*/\1/' | tr -d :; }
NLOG1=$T/notify.$(mac 1).log
NLOG2=$T/notify.$(mac 2).log
for n in 1 2; do
	ha_keepalived_conf "$T/keepalived$n.conf" "$n" $((200 - n * 50)) "$T/notify.sh"
done
ha_keepalived_start 1 "$T/keepalived1.conf" "$T/keepalived1.log"
if ms=$(ha_wait_vip 1 10); then
	ctg_ok "gw1 holds the virtual addresses ${ms} ms after keepalived started"
else
	ctg_not_ok "gw1 holds the virtual addresses"
	dump
	ctg_finish
fi
ha_keepalived_start 2 "$T/keepalived2.conf" "$T/keepalived2.log"
ctg_check "gw1's notify hook was told MASTER (group ctguard)" \
    ctg_wait_for 5 grep -q "GROUP ctguard MASTER" "$NLOG1"
ctg_check "gw2's notify hook was told BACKUP and gw2 holds no virtual address" \
    ctg_wait_for 10 eval 'grep -q "GROUP ctguard BACKUP" "$NLOG2" && ha_vip_off 2'
ctg_check "gw1 still holds the addresses once gw2 runs (nopreempt, no flapping)" \
    eval 'sleep 1; ha_vip_on 1 && ha_vip_off 2'

ctg_check "IPv4 ping client -> server through the VIPs" \
    ctg_ping "$HA_NS_CLI" "$HA_SRV4" 3
ctg_check "IPv6 ping client -> server through the VIPs" \
    ctg_ping "$HA_NS_CLI" "$HA_SRV6" 3
ctg_check "the path crosses gw1 (its lan0 forwarded the echo requests)" \
    eval '[ "$(ip -n "$(ha_ns 1)" -s -j link show lan0 |
        python3 -c "import json,sys; print(json.load(sys.stdin)[0][\"stats64\"][\"rx\"][\"packets\"] > 5)")" = True ]'

# --- 3. failover: kill -9 gw1's keepalived ----------------------------------------
ctg_bg "$HA_NS_SRV" "$T/sink.log" timeout 30 python3 "$PROBE" sink 7100 25 "$T/gap"
sleep 0.5
ctg_bg "$HA_NS_CLI" "$T/send.log" timeout 30 python3 "$PROBE" send "$HA_SRV4" 7100 6
SENDPID=$CTG_BG_PID
sleep 2
# The crash: keepalived killed with -9 and forwarding off (in e2e_ha.sh the
# killed ctguardd leaves its queue without a reader, which drops the same
# way). keepalived killed with -9 leaves its addresses in place: take them
# off, as a crashed machine would no longer answer for them.
ha_keepalived_kill 1
ctg_in "$(ha_ns 1)" sysctl -q -w net.ipv4.ip_forward=0 \
    net.ipv6.conf.all.forwarding=0 >/dev/null
ha_vip_drop 1
if ms=$(ha_wait_vip 2 10); then
	ctg_ok "VRRP failover: gw2 holds the virtual addresses ${ms} ms after gw1's keepalived was killed"
	echo "# VRRP failover time: $ms ms (advert_int $HA_ADVERT s)"
else
	ctg_not_ok "VRRP failover: gw2 takes the virtual addresses"
	dump
fi
ctg_check "gw2's notify hook was told MASTER" \
    ctg_wait_for 5 grep -q "GROUP ctguard MASTER" "$NLOG2"
wait "$SENDPID"
ctg_wait_for 5 test -s "$T/gap"
read -r pn pgap pat <"$T/gap" 2>/dev/null
echo "# forwarding gap (1 ms UDP probe, VIPs moved by VRRP): ${pgap:-?} ms at ${pat:-?} s, ${pn:-0} datagrams"
ctg_check "UDP probe arrived across the failover (${pn:-0} datagrams, largest gap ${pgap:-?} ms < 3000)" \
    eval '[ "${pn:-0}" -gt 1000 ] && python3 -c "import sys; sys.exit(not float(sys.argv[1]) < 3000)" "${pgap:-9999}"'
ctg_check "IPv4 ping client -> server through gw2" \
    ctg_ping "$HA_NS_CLI" "$HA_SRV4" 3
ctg_check "IPv6 ping client -> server through gw2" \
    ctg_ping "$HA_NS_CLI" "$HA_SRV6" 3

# --- 4. a member leaves -------------------------------------------------------------
ctg_stop "${HA_CS_PID[1]}" 5
ctg_check "gw1's corosync stopped: gw2 sees 1 member" \
    ctg_wait_for 10 ha_cs_members_eq 2 1

# --- 5. the links keep each flow's order ---------------------------------------------
H=$top/tests/kit/traffic.py
SRVPORT=7000
ctg_bg "$HA_NS_SRV" "$T/serve.out" timeout 300 python3 "$H" serve "$SRVPORT" \
    --backlog 1024 --timeout 280
ctg_wait_for 10 ip netns exec "$HA_NS_SRV" python3 "$H" connects 127.0.0.1 "$SRVPORT" ||
    ctg_not_ok "5: the server listens on $SRVPORT"
for ns in "$HA_NS_CLI" "$HA_NS_SRV"; do
	ha_rst_count_add "$ns" "$SRVPORT" || ctg_not_ok "5: RST counting rules in $ns"
done
rsts() { echo $(($(ha_rst_count "$HA_NS_CLI") + $(ha_rst_count "$HA_NS_SRV"))); }
# opens N4 N6: prints "opened-of-N4+N6 RSTs-drawn"
opens() {
	local r0 o4 o6
	r0=$(rsts)
	read -r o4 _ < <(timeout 120 ip netns exec "$HA_NS_CLI" python3 "$H" opens \
	    "$HA_SRV4" "$SRVPORT" "$1" 3)
	read -r o6 _ < <(timeout 120 ip netns exec "$HA_NS_CLI" python3 "$H" opens \
	    "$HA_SRV6" "$SRVPORT" "$2" 3)
	sleep 0.5
	echo "$((${o4:-0} + ${o6:-0})) $(($(rsts) - r0))"
}
ctg_check "5: every veth end of the test bed has GRO on and TSO off" \
    eval '[ -n "$(ha_veth_ends)" ] && ! ha_veth_ends | while read -r ns d; do
        ip netns exec "$ns" ethtool -k "$d" | grep -E "^(generic-receive-offload: off|tcp-segmentation-offload: on)"
    done | grep -q .'
read -r fo fr < <(opens 2000 1000)
ctg_check "5: 3,000 short TCP connections (2,000 IPv4, 1,000 IPv6) through gw2 draw no RST (${fo:-0} opened, ${fr:-?} RSTs)" \
    test "${fo:-0}" = 3000 -a "${fr:-1}" = 0
if ha_links_fifo off; then
	read -r co cr < <(opens 2000 1000)
	echo "# control, the same links bare: ${co:-0} of 3000 opened, ${cr:-?} RSTs (each from a swapped ACK and FIN: netns.sh ctg_link_fifo)"
	ha_links_fifo on || ctg_not_ok "5: the links back to FIFO"
else
	ctg_not_ok "5: the links made bare for the control"
fi

[ "$CTG_FAILS" -eq 0 ] || dump
ctg_finish
