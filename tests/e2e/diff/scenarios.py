#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Differential test of ctguard against the Linux kernel's conntrack.

Each scenario is a scripted sequence of crafted IPv4 packets, sent in turn
from the client namespace (198.51.100.2) and the server namespace
(203.0.113.2) through a forwarding gateway. A packet socket on the far side
records which of them arrive. The sequence is fixed in advance (the script
does not react to what arrives), so the same packets cross the gateway
whoever filters it, and the two runs can be compared packet by packet.

The endpoints' own stacks must stay silent (run-diff.sh drops their INPUT
and every OUTPUT packet that does not carry our socket mark), so nothing
but the crafted packets crosses the gateway.

Needs Debian's python3 with scapy (only used to build packets).

usage:
  scenarios.py list
  scenarios.py run --cli NS --srv NS --midstream loose|strict --out FILE
                   [--flush CMD] [--timeout SECONDS] [--only NAME,...]
  scenarios.py compare KERNEL.jsonl CTGUARD.jsonl EXPECTED.tsv [AUDIT.db]
  scenarios.py table EXPECTED.tsv      (markdown rows for EXPECTED_DIFFERENCES.md)
"""
import ctypes
import json
import os
import select
import socket
import sqlite3
import subprocess
import sys
import time

import logging
logging.getLogger('scapy.runtime').setLevel(logging.ERROR)
from scapy.all import ICMP, IP, TCP, UDP, Raw, conf  # noqa: E402

conf.verb = 0

CLI = '198.51.100.2'
SRV = '203.0.113.2'
ADDR = {'c': CLI, 's': SRV}
OTHER = {'c': 's', 's': 'c'}
MARK = 0xc7             # run-diff.sh lets only packets with this mark out
SO_MARK = 36
ETH_P_IP = 0x0800
CLONE_NEWNET = 0x40000000
PACKET_HOST = 0
SRV_PORT = 8000


def seq_gt(a, b):
    d = (a - b) & 0xffffffff
    return 0 < d < 0x80000000


# --- scenario description ------------------------------------------------------

class Scenario:
    def __init__(self, name, desc, midstream, index):
        self.name = name
        self.desc = desc
        self.midstream = midstream
        self.index = index
        self.pkts = []          # (side, label, scapy IP packet)
        self.nflows = 0

    def add(self, side, label, l4):
        pkt = IP(src=ADDR[side], dst=ADDR[OTHER[side]], ttl=64) / l4
        self.pkts.append((side, label, pkt))
        return pkt

    def port(self):
        """A client port of its own for each flow of each scenario."""
        self.nflows += 1
        return 20000 + self.index * 8 + self.nflows

    def tcp(self, **kw):
        return Tcp(self, **kw)

    def udp(self, side, data, cport, sport=SRV_PORT + 1, label=None):
        a, b = (cport, sport) if side == 'c' else (sport, cport)
        return self.add(side, label or '%s:udp' % side,
                        UDP(sport=a, dport=b) / Raw(data))

    def icmp(self, side, type_, id_, seq=1, label=None, data=b'ping'):
        return self.add(side, label or '%s:icmp%d' % (side, type_),
                        ICMP(type=type_, code=0, id=id_, seq=seq) / Raw(data))

    def icmp_error(self, side, quoted, type_=3, code=3, label=None):
        """An ICMP error quoting a packet built earlier (whole, as Linux does)."""
        inner = bytes(quoted)
        return self.add(side, label or '%s:icmp%d/%d' % (side, type_, code),
                        ICMP(type=type_, code=code) / Raw(inner))


class Tcp:
    """One TCP flow: keeps each side's next sequence number, so that packets
    are written as what a stack would send unless told otherwise."""

    def __init__(self, sc, cport=None, sport=SRV_PORT, ciss=None, siss=None,
                 win=8192):
        self.sc = sc
        base = 0x10000000 + sc.index * 0x01000000
        self.port = {'c': cport or sc.port(), 's': sport}
        self.isn = {'c': ciss if ciss is not None else base + 1000,
                    's': siss if siss is not None else base + 0x800000}
        self.nxt = dict(self.isn)
        self.win = {'c': win, 's': win}

    def seg(self, side, flags, label=None, seq=None, ack=None, data=b'', n=0,
            win=None, opts=None, advance=True):
        other = OTHER[side]
        if n:
            data = (b'%s%d.' % (self.sc.name.encode(), len(self.sc.pkts)) *
                    (n // 8 + 2))[:n]
        if seq is None:
            seq = self.nxt[side]
        if ack is None:
            ack = self.nxt[other] if 'A' in str(flags) else 0
        if win is None:
            win = self.win[side]
        th = TCP(sport=self.port[side], dport=self.port[other], flags=flags,
                 seq=seq & 0xffffffff, ack=ack & 0xffffffff, window=win,
                 options=opts or [])
        if advance:
            fl = str(flags)
            end = seq + len(data) + ('S' in fl) + ('F' in fl)
            if seq_gt(end & 0xffffffff, self.nxt[side] & 0xffffffff):
                self.nxt[side] = end & 0xffffffff
        if label is None:
            label = '%s:%s' % (side, flags if str(flags) else 'NULL')
            if data:
                label += ' len=%d' % len(data)
        return self.sc.add(side, label, th / Raw(data) if data else th)

    # shorthands
    def syn(self, side='c', **kw):
        # a SYN (first or retransmitted) always carries the side's ISN
        kw.setdefault('seq', self.isn[side])
        return self.seg(side, 'S', **kw)

    def synack(self, side='s', **kw):
        kw.setdefault('seq', self.isn[side])
        return self.seg(side, 'SA', **kw)

    def ack(self, side, **kw):
        return self.seg(side, 'A', **kw)

    def data(self, side, n=100, **kw):
        return self.seg(side, 'PA', n=n, **kw)

    def fin(self, side, **kw):
        return self.seg(side, 'FA', **kw)

    def rst(self, side, **kw):
        kw.setdefault('advance', False)
        return self.seg(side, 'R', **kw)

    def handshake(self, copts=None, sopts=None):
        self.syn('c', opts=copts)
        self.synack('s', opts=sopts)
        self.ack('c')

    def established(self, **kw):
        """Handshake plus one exchange each way, everything acknowledged."""
        self.handshake(**kw)
        self.data('c', 100)
        self.ack('s')
        self.data('s', 200)
        self.ack('c')


SCENARIOS = []


def scenario(desc, midstream='loose'):
    def wrap(fn):
        SCENARIOS.append((fn.__name__, desc, midstream, fn))
        return fn
    return wrap


# --- handshakes ---------------------------------------------------------------

@scenario('three-way handshake, data both ways, close')
def tcp_3whs(sc):
    t = sc.tcp()
    t.established()
    t.fin('c')
    t.fin('s')
    t.ack('c')


@scenario('SYN retransmitted (same ISN) before the SYN/ACK')
def tcp_syn_retransmit(sc):
    t = sc.tcp()
    t.syn('c')
    t.syn('c', label='c:S (retransmit)')
    t.synack('s')
    t.ack('c')
    t.data('c')
    t.ack('s')


@scenario('SYN resent with a new, higher ISN; the SYN/ACK acks the new one')
def tcp_syn_new_isn(sc):
    t = sc.tcp()
    t.syn('c')
    t.isn['c'] += 50000
    t.nxt['c'] = t.isn['c']
    t.syn('c', seq=t.isn['c'], label='c:S (new ISN)')
    t.synack('s')
    t.ack('c')
    t.data('c')


@scenario('SYN/ACK retransmitted before the third ACK, and once after it')
def tcp_synack_retransmit(sc):
    t = sc.tcp()
    t.syn('c')
    t.synack('s')
    t.synack('s', label='s:SA (retransmit)')
    t.ack('c')
    t.synack('s', label='s:SA (late copy after ACK)')
    t.data('c')
    t.ack('s')


@scenario('simultaneous open: SYN crosses SYN, both send SYN/ACK')
def tcp_simultaneous_open(sc):
    t = sc.tcp()
    t.syn('c')
    t.syn('s', label='s:S (crossing SYN)')
    t.synack('c', label='c:SA')
    t.synack('s', label='s:SA')
    t.ack('c')
    t.ack('s')
    t.data('c')
    t.ack('s')


@scenario('split handshake: SYN, SYN from the server, SYN/ACK from the client, ACK')
def tcp_split_handshake(sc):
    t = sc.tcp()
    t.syn('c')
    t.syn('s', label='s:S (split)')
    t.synack('c', label='c:SA')
    t.ack('s')
    t.data('s')
    t.ack('c')
    t.data('c')


@scenario('TCP Fast Open: data on the SYN, SYN/ACK acks it all')
def tcp_tfo_syn_data(sc):
    t = sc.tcp()
    t.seg('c', 'S', n=40)
    t.synack('s')
    t.ack('c')
    t.data('s')
    t.ack('c')


@scenario('TFO refused: SYN/ACK acks only the SYN, client resends the data')
def tcp_tfo_synack_acks_syn_only(sc):
    t = sc.tcp()
    t.seg('c', 'S', n=40)
    t.synack('s', ack=t.isn['c'] + 1)
    t.ack('c', seq=t.isn['c'] + 1)
    t.data('c', n=40, seq=t.isn['c'] + 1, label='c:PA len=40 (resent SYN data)')
    t.ack('s')


@scenario('TFO server answers with data before the third ACK (RFC 7413 4.2)')
def tcp_tfo_server_data_before_ack(sc):
    t = sc.tcp()
    t.seg('c', 'S', n=40)
    t.synack('s')
    t.data('s', 120, label='s:PA len=120 (response in SYN_RCVD)', advance=False)
    t.ack('c', label='c:A (acks the SYN/ACK only)')
    t.data('s', 120, label='s:PA len=120 (response resent)')
    t.ack('c')


@scenario('data on the SYN/ACK')
def tcp_synack_data(sc):
    t = sc.tcp()
    t.syn('c')
    t.seg('s', 'SA', seq=t.isn['s'], n=30)
    t.ack('c')
    t.data('c')
    t.ack('s')


@scenario('server data after its SYN/ACK but before the third ACK (no TFO)')
def tcp_server_data_before_third_ack(sc):
    t = sc.tcp()
    t.syn('c')
    t.synack('s')
    t.data('s', 50, label='s:PA len=50 (before 3rd ACK)', advance=False)
    t.ack('c', label='c:A (acks the SYN/ACK only)')
    t.data('s', 50, label='s:PA len=50 (resent)')
    t.ack('c')
    t.data('c')


@scenario('SYN/ACK sent by the originator instead of the responder')
def tcp_synack_wrong_side(sc):
    t = sc.tcp()
    t.syn('c')
    t.seg('c', 'SA', seq=t.isn['c'], ack=t.isn['s'] + 1, advance=False,
          label='c:SA (from the originator)')
    t.synack('s')
    t.ack('c')


@scenario('SYN/ACK acknowledging too much, then too little, then right')
def tcp_synack_bad_ack(sc):
    t = sc.tcp()
    t.syn('c')
    t.synack('s', ack=t.isn['c'] + 100, label='s:SA (ack ISN+100)')
    t.synack('s', ack=t.isn['c'], label='s:SA (ack ISN+0)')
    t.synack('s')
    t.ack('c')


@scenario('old SYN/ACK with a wrong ack (kernel conntrack_synack_old.pkt)')
def tcp_synack_old(sc):
    t = sc.tcp()
    t.syn('c')
    t.seg('s', 'SA', seq=145824453, ack=643160523, advance=False,
          label='s:SA (old, wrong ack)')
    t.syn('c', label='c:S (retransmit)')
    t.synack('s')
    t.ack('c')
    t.data('c')


@scenario('ACK and data from the originator before any SYN/ACK')
def tcp_ack_before_synack(sc):
    t = sc.tcp()
    t.syn('c')
    t.seg('c', 'A', seq=t.isn['c'] + 1, ack=t.isn['s'] + 1, advance=False,
          label='c:A (before SYN/ACK)')
    t.seg('c', 'PA', seq=t.isn['c'] + 1, ack=t.isn['s'] + 1, n=20,
          advance=False, label='c:PA (before SYN/ACK)')
    t.synack('s')
    t.ack('c')


@scenario('SYN from the responder after its own SYN/ACK')
def tcp_syn_from_responder(sc):
    t = sc.tcp()
    t.syn('c')
    t.synack('s')
    t.seg('s', 'S', seq=t.isn['s'], advance=False, label='s:S (after SA)')
    t.ack('c')
    t.data('c')


@scenario('FIN before the handshake completes')
def tcp_fin_before_established(sc):
    t = sc.tcp()
    t.syn('c')
    t.seg('c', 'FA', seq=t.isn['c'] + 1, ack=t.isn['s'] + 1, advance=False,
          label='c:FA (in SYN_SENT)')
    t.synack('s')
    t.ack('c')


@scenario('challenge ACK to a SYN in SYN_SENT, RST, new SYN (kernel conntrack_syn_challenge_ack.pkt)')
def tcp_syn_challenge_ack(sc):
    t = sc.tcp()
    t.syn('c')
    t.seg('s', 'A', seq=145824453, ack=643160523, advance=False,
          label='s:A (challenge ACK, old incarnation)')
    t.rst('c', seq=643160523, label='c:R seq=challenge ack')
    t.syn('c', label='c:S (again)')
    t.synack('s')
    t.ack('c')
    t.data('c')


@scenario('SYN retransmitted after the SYN/ACK (the SYN/ACK was lost downstream)')
def tcp_syn_retransmit_after_synack(sc):
    t = sc.tcp()
    t.syn('c')
    t.synack('s')
    t.syn('c', label='c:S (retransmit, same ISN)')
    t.synack('s', label='s:SA (retransmit)')
    t.ack('c')
    t.data('c')
    t.ack('s')


@scenario('out-of-order data: a hole inside the window, then filled')
def tcp_out_of_order(sc):
    t = sc.tcp()
    t.established()
    start = t.nxt['c']
    t.seg('c', 'PA', seq=start + 500, n=500, label='c:PA (after a 500-byte hole)')
    t.ack('s', ack=start, label='s:A (dup ACK)')
    t.seg('c', 'PA', seq=start, n=500, label='c:PA (fills the hole)')
    t.ack('s')


@scenario('ICMP host unreachable answering a SYN (RELATED)')
def icmp_error_syn_unreachable(sc):
    t = sc.tcp()
    q = t.syn('c')
    sc.icmp_error('s', q, 3, 1, label='s:host unreachable (quotes the SYN)')
    t.syn('c', label='c:S (retransmit)')


@scenario('TCP segment with a bad checksum inside a connection')
def tcp_bad_checksum(sc):
    t = sc.tcp()
    t.established()
    q = t.seg('c', 'PA', n=100, advance=False, label='c:PA (bad checksum)')
    q[TCP].chksum = 0xbad
    t.data('c', 100)
    t.ack('s')


@scenario('server closed first (server in TIME_WAIT), client reuses with a lower ISN')
def tcp_timewait_server_reuse_lower_isn(sc):
    t = sc.tcp()
    t.established()
    t.fin('s')
    t.fin('c')
    t.ack('s')
    u = sc.tcp(cport=t.port['c'], ciss=t.isn['c'] - 10000000,
               siss=t.isn['s'] + 20000000)
    u.syn('c', label='c:S (reuse, lower ISN)')
    u.synack('s')
    u.ack('c')


@scenario('RST after the close completed (TIME_WAIT)')
def tcp_rst_in_time_wait(sc):
    t = sc.tcp()
    t.established()
    t.fin('c')
    t.fin('s')
    t.ack('c')
    t.rst('s', label='s:R (exact, in TIME_WAIT)')


# --- close -------------------------------------------------------------------

@scenario('half close: client FIN, server keeps sending, then closes')
def tcp_half_close(sc):
    t = sc.tcp()
    t.established()
    t.fin('c')
    t.ack('s')
    t.data('s', 300)
    t.ack('c')
    t.fin('s')
    t.ack('c')


@scenario('orderly close started by the client (FIN, ACK, FIN, ACK)')
def tcp_close_client_first(sc):
    t = sc.tcp()
    t.established()
    t.fin('c')
    t.ack('s')
    t.fin('s')
    t.ack('c')
    t.ack('c', label='c:A (duplicate in TIME_WAIT)')


@scenario('orderly close started by the server')
def tcp_close_server_first(sc):
    t = sc.tcp()
    t.established()
    t.fin('s')
    t.ack('c')
    t.fin('c')
    t.ack('s')


@scenario('simultaneous close: FINs cross, then both ACK')
def tcp_simultaneous_close(sc):
    t = sc.tcp()
    t.established()
    t.fin('c')
    t.fin('s', ack=t.nxt['c'] - 1, label='s:FA (crossing, not acking the FIN)')
    t.ack('c')
    t.ack('s')


@scenario('FIN retransmitted by each side')
def tcp_fin_retransmit(sc):
    t = sc.tcp()
    t.established()
    t.fin('c')
    t.fin('c', seq=t.nxt['c'] - 1, label='c:FA (retransmit)')
    t.ack('s')
    t.fin('s')
    t.fin('s', seq=t.nxt['s'] - 1, label='s:FA (retransmit)')
    t.ack('c')


@scenario('data sent after the sender\'s own FIN')
def tcp_data_after_fin(sc):
    t = sc.tcp()
    t.established()
    t.fin('c')
    t.data('c', 50, label='c:PA len=50 (after own FIN)', advance=False)
    t.ack('s', label='s:A (acks the FIN)')
    t.data('s', 100, label='s:PA (half-closed peer still sends)')
    t.ack('c')


@scenario('TIME_WAIT reuse by a new SYN with a higher ISN')
def tcp_timewait_reuse_higher_isn(sc):
    t = sc.tcp()
    t.established()
    t.fin('c')
    t.fin('s')
    t.ack('c')
    u = sc.tcp(cport=t.port['c'], ciss=t.isn['c'] + 10000000,
               siss=t.isn['s'] + 20000000)
    u.syn('c', label='c:S (reuse, higher ISN)')
    u.synack('s')
    u.ack('c')
    u.data('c')
    u.ack('s')


@scenario('TIME_WAIT reuse by a new SYN with a lower ISN')
def tcp_timewait_reuse_lower_isn(sc):
    t = sc.tcp()
    t.established()
    t.fin('c')
    t.fin('s')
    t.ack('c')
    u = sc.tcp(cport=t.port['c'], ciss=t.isn['c'] - 10000000,
               siss=t.isn['s'] + 20000000)
    u.syn('c', label='c:S (reuse, lower ISN)')
    u.synack('s')
    u.ack('c')
    u.data('c')


@scenario('TIME_WAIT reuse with a lower ISN but a newer timestamp (RFC 6191)')
def tcp_timewait_reuse_newer_ts(sc):
    t = sc.tcp()
    ts = [1000]

    def o(side, syn=False):
        ts[0] += 10
        opts = [('Timestamp', (ts[0], ts[0] - 5 if not syn else 0))]
        return opts
    t.syn('c', opts=o('c', True))
    t.synack('s', opts=o('s', True))
    t.ack('c', opts=o('c'))
    t.data('c', opts=o('c'))
    t.ack('s', opts=o('s'))
    t.fin('c', opts=o('c'))
    t.fin('s', opts=o('s'))
    t.ack('c', opts=o('c'))
    u = sc.tcp(cport=t.port['c'], ciss=t.isn['c'] - 10000000,
               siss=t.isn['s'] + 20000000)
    u.syn('c', opts=o('c', True), label='c:S (reuse, lower ISN, newer TS)')
    u.synack('s', opts=o('s', True))
    u.ack('c', opts=o('c'))
    u.data('c', opts=o('c'))


@scenario('reuse of the tuple after the connection was reset')
def tcp_reuse_after_rst(sc):
    t = sc.tcp()
    t.established()
    t.rst('c', label='c:R (exact)')
    u = sc.tcp(cport=t.port['c'], ciss=t.isn['c'] - 5000,
               siss=t.isn['s'] + 20000000)
    u.syn('c', label='c:S (reuse after RST, lower ISN)')
    u.synack('s')
    u.ack('c')
    u.data('c')


# --- RST ---------------------------------------------------------------------

@scenario('RST with the exact next sequence number closes')
def tcp_rst_exact(sc):
    t = sc.tcp()
    t.established()
    t.rst('s', label='s:R (exact)')


@scenario('RST|ACK with the exact sequence number from the client')
def tcp_rst_ack_exact(sc):
    t = sc.tcp()
    t.established()
    t.seg('c', 'RA', advance=False, label='c:RA (exact)')


@scenario('segments after an exact RST (connection already reset)')
def tcp_data_after_rst(sc):
    t = sc.tcp()
    t.established()
    t.rst('c', label='c:R (exact)')
    t.data('s', 100, label='s:PA (after RST)')
    t.ack('c', label='c:A (after RST)')


@scenario('in-window inexact RST, challenge ACK, exact RST (RFC 5961 3.2)')
def tcp_rst_inexact_challenge(sc):
    t = sc.tcp()
    t.established()
    t.rst('c', seq=t.nxt['c'] + 1000, label='c:R (in window, inexact)')
    t.data('s', 100, label='s:PA (still alive)')
    t.ack('s', label='s:A (challenge ACK)', seq=t.nxt['s'])
    t.rst('c', label='c:R (exact, answers the challenge)')


@scenario('RSTs below the next sequence / out of window, then exact (kernel conntrack_rst_invalid.pkt)')
def tcp_rst_invalid(sc):
    t = sc.tcp()
    t.handshake()
    for _ in range(3):
        t.data('s', 1000)
        t.ack('c')
    t.data('c', 1000)
    t.rst('s', seq=0, label='s:R seq=0 (out of window)')
    t.rst('s', seq=t.isn['s'] + 1000000, label='s:R seq=+1000000')
    t.rst('s', seq=t.isn['s'] + 42, label='s:R seq=42 (below next)')
    t.ack('s')
    t.seg('s', 'RA', seq=t.nxt['s'] - 1, advance=False, label='s:RA (1 below next)')
    t.seg('s', 'RA', advance=False, label='s:RA (exact)')


@scenario('inexact RST after the connection closed by RST (kernel conntrack_inexact_rst.pkt)')
def tcp_inexact_rst_closing(sc):
    t = sc.tcp()
    t.handshake()
    for _ in range(3):
        t.data('s', 1000)
        t.ack('c')
    t.data('c', 1000)
    t.ack('s')
    t.fin('s')
    t.ack('c')
    t.seg('c', 'RA', advance=False, label='c:RA (exact, local close)')
    t.rst('s', seq=t.isn['s'] + 2001, label='s:R (spurious, inexact)')


@scenario('RST|ACK answering a SYN with the right ack (port closed)')
def tcp_rst_to_syn_good_ack(sc):
    t = sc.tcp()
    t.syn('c')
    t.seg('s', 'RA', seq=0, ack=t.isn['c'] + 1, advance=False, label='s:RA ack=ISN+1')
    t.syn('c', label='c:S (try again)')
    t.synack('s')
    t.ack('c')


@scenario('RST|ACK answering a SYN with a wrong ack, and a bare RST')
def tcp_rst_to_syn_bad_ack(sc):
    t = sc.tcp()
    t.syn('c')
    t.seg('s', 'RA', seq=0, ack=t.isn['c'] + 5, advance=False, label='s:RA ack=ISN+5')
    t.seg('s', 'RA', seq=0, ack=t.isn['c'] - 100, advance=False, label='s:RA ack=ISN-100')
    t.seg('s', 'R', seq=0, ack=0, advance=False, label='s:R (no ACK flag)')
    t.synack('s')
    t.ack('c')


@scenario('RST in SYN_RCVD from the client, then the SYN/ACK again')
def tcp_rst_in_syn_rcvd(sc):
    t = sc.tcp()
    t.syn('c')
    t.synack('s')
    t.rst('c', seq=t.isn['c'] + 1, label='c:R (exact, in SYN_RCVD)')
    t.synack('s', label='s:SA (retransmit after RST)')


@scenario('RST during the close (FIN_WAIT / CLOSE_WAIT)')
def tcp_rst_while_closing(sc):
    t = sc.tcp()
    t.established()
    t.fin('c')
    t.ack('s')
    t.data('s', 100)
    t.seg('s', 'RA', advance=False, label='s:RA (exact, in CLOSE_WAIT)')


@scenario('PAWS: a FIN with an old timestamp is discarded, an exact RST with one is not')
def tcp_paws_old_rst(sc):
    t = sc.tcp()
    ts = [50000]

    def o(old=False):
        ts[0] += 10
        return [('Timestamp', (ts[0] - 40000 if old else ts[0], ts[0] - 3))]
    t.syn('c', opts=[('Timestamp', (ts[0], 0))])
    t.synack('s', opts=[('Timestamp', (ts[0] + 1, ts[0]))])
    t.ack('c', opts=o())
    t.data('c', opts=o())
    t.ack('s', opts=o())
    t.data('s', opts=o())
    t.ack('c', opts=o())
    t.seg('c', 'FA', advance=False, opts=o(old=True), label='c:FA (old TS)')
    t.data('s', opts=o(), label='s:PA (still alive)')
    t.ack('c', opts=o())
    # RFC 7323 5.2, tcp_validate_incoming(): "Reset is accepted even if it
    # did not pass PAWS" (a real SSH server resets with TSval 0)
    t.seg('c', 'R', advance=False, opts=o(old=True), label='c:R (exact, old TS)')


# --- issue 22 / issue 14 item 5: what the receiver acts on ---------------------

@scenario('Issue 22: a forged FIN ahead of the real data, then the real data and close')
def tcp_forged_fin_ahead(sc):
    t = sc.tcp()
    t.established()
    t.seg('c', 'FA', seq=t.nxt['c'] + 3000, advance=False,
          label='c:FA (forged, 3000 ahead)')
    t.data('c', 500, label='c:PA len=500 (real)')
    t.ack('s')
    t.data('s', 100)
    t.ack('c')
    t.fin('c')
    t.ack('s')
    t.fin('s')
    t.ack('c')


@scenario('Issue 22: a forged empty ACK ahead, then an RST at its sequence')
def tcp_forged_ack_then_rst(sc):
    t = sc.tcp()
    t.established()
    t.seg('c', 'A', seq=t.nxt['c'] + 2000, advance=False,
          label='c:A (forged, 2000 ahead)')
    t.seg('c', 'R', seq=t.nxt['c'] + 2000, advance=False,
          label='c:R at the forged seq')
    t.data('s', 100, label='s:PA (still alive)')
    t.ack('c')


@scenario('Issue 14 item 5: RST answering a SYN with a TSecr the SYN never sent, then the real SYN/ACK')
def tcp_rst_to_syn_bad_tsecr(sc):
    t = sc.tcp()
    t.syn('c', opts=[('Timestamp', (1000, 0))])
    t.seg('s', 'RA', seq=0, ack=t.nxt['c'], advance=False,
          opts=[('Timestamp', (77, 555))], label='s:RA (TSecr 555, forged)')
    t.synack('s', opts=[('Timestamp', (5000, 1000))])
    t.ack('c', opts=[('Timestamp', (1001, 5000))])
    t.data('c', 100, opts=[('Timestamp', (1002, 5000))])
    t.ack('s', opts=[('Timestamp', (5001, 1002))])


@scenario('SYN/ACK with a new ISN answering a retransmitted SYN (SYN cookies, load balancers)')
def tcp_synack_new_isn_after_syn_retransmit(sc):
    t = sc.tcp()
    t.syn('c')
    t.synack('s')
    t.syn('c', label='c:S (retransmitted)')
    t.isn['s'] += 5000000
    t.nxt['s'] = t.isn['s']
    t.synack('s', label='s:SA (new ISN)')
    t.ack('c')
    t.data('c', 100)
    t.ack('s')
    t.data('s', 100)
    t.ack('c')


@scenario('SYN with a new ISN on an established tuple, answered by a SYN/ACK (the server forgot it)')
def tcp_syn_held_synack(sc):
    t = sc.tcp()
    t.established()
    u = sc.tcp(cport=t.port['c'], ciss=t.isn['c'] + 0x40000000,
               siss=t.isn['s'] + 0x40000000)
    u.syn('c', label='c:S (new ISN)')
    u.synack('s', label='s:SA (answers it)')
    u.ack('c')
    u.data('c', 100)
    u.ack('s')


@scenario('RFC 5961: inexact RST while data is in flight, challenge ACK, exact RST')
def tcp_rst_challenge_in_flight(sc):
    t = sc.tcp()
    t.established()
    last = t.nxt['c']
    t.data('c', 100)
    t.seg('c', 'R', seq=last, advance=False, label='c:R at the last acked seq')
    t.ack('s', label='s:A (challenge ACK)')
    t.seg('c', 'R', seq=t.nxt['c'], advance=False, label='c:R (exact)')


# --- in the connection ---------------------------------------------------------

@scenario('SYN with a new ISN inside an established connection, then recovery (kernel conntrack_synack_reuse.pkt)')
def tcp_syn_in_established(sc):
    t = sc.tcp()
    ts = [7000]

    def o(syn=False):
        ts[0] += 10
        return [('Timestamp', (ts[0], 0 if syn else ts[0] - 3))]
    t.syn('c', opts=o(True))
    t.synack('s', opts=o(True))
    t.ack('c', opts=o())
    t.data('c', opts=o())
    t.ack('s', opts=o())
    t.seg('c', 'S', seq=2000, advance=False, opts=o(True), label='c:S seq=2000 (new incarnation)')
    t.ack('s', opts=o(), label='s:A (challenge ACK)')
    t.seg('c', 'RA', seq=t.nxt['c'], ack=1, advance=False, label='c:RA (answers challenge)')
    u = sc.tcp(cport=t.port['c'], ciss=2000, siss=t.isn['s'] + 30000000)
    u.syn('c', opts=o(True), label='c:S seq=2000 (again)')
    u.synack('s', opts=o(True))
    u.ack('c', opts=o())


@scenario('keepalives (no data, and one garbage byte) and their ACKs')
def tcp_keepalive(sc):
    t = sc.tcp()
    t.established()
    t.ack('c', seq=t.nxt['c'] - 1, label='c:A keepalive (seq-1)')
    t.ack('s')
    t.seg('c', 'A', seq=t.nxt['c'] - 1, data=b'\x00', advance=False,
          label='c:A keepalive (seq-1, 1 byte)')
    t.ack('s')
    t.ack('s', seq=t.nxt['s'] - 1, label='s:A keepalive (seq-1)')
    t.ack('c')


@scenario('zero window: probes while closed, then the window opens')
def tcp_zero_window_probe(sc):
    t = sc.tcp()
    t.established()
    t.data('c', 100)
    t.ack('s', win=0, label='s:A win=0')
    t.seg('c', 'A', data=b'x', advance=False, label='c:A probe 1 byte')
    t.ack('s', win=0, label='s:A win=0 (probe not taken)')
    t.seg('c', 'A', data=b'x', advance=False, label='c:A probe again')
    t.ack('s', win=8192, label='s:A window update')
    t.data('c', 200)
    t.ack('s')


@scenario('retransmission of data already acknowledged, inside the window')
def tcp_old_retransmission(sc):
    t = sc.tcp()
    t.established()
    start = t.nxt['c']
    t.data('c', 1000)
    t.ack('s')
    t.seg('c', 'PA', seq=start, n=1000, advance=False, label='c:PA (retransmit, acked)')
    t.seg('c', 'PA', seq=start + 500, n=200, advance=False, label='c:PA (partial retransmit)')
    t.data('c', 100)


@scenario('ACK loss downstream: retransmission a window behind (kernel conntrack_ack_loss_stall.pkt)')
def tcp_ack_loss_stall(sc):
    t = sc.tcp(win=65535)
    t.syn('c', opts=[('MSS', 1460)])
    t.synack('s', opts=[('MSS', 1460)])
    t.ack('c')
    first = t.nxt['c']
    for _ in range(46):
        t.data('c', 1460)
        t.ack('s')
    t.seg('c', 'PA', seq=first, n=1460, advance=False,
          label='c:PA 1:1461 (retransmit, ACKs were lost)')
    t.ack('s', label='s:A (re-ACK)')


@scenario('data from before the sender\'s ISN (far below the window)')
def tcp_data_before_isn(sc):
    t = sc.tcp()
    t.established()
    t.seg('c', 'PA', seq=t.isn['c'] - 200000, n=100, advance=False,
          label='c:PA seq=ISN-200000')
    t.data('c', 50)


@scenario('data starting inside the window and ending past it')
def tcp_data_straddles_window(sc):
    t = sc.tcp()
    t.established()
    t.seg('c', 'PA', seq=t.nxt['c'] + 8192 - 500, n=1000, advance=False,
          label='c:PA ends 500 past the window')
    t.data('c', 50)


@scenario('data starting a little past the window (less than a window)')
def tcp_data_beyond_window_small(sc):
    t = sc.tcp()
    t.established()
    t.seg('c', 'PA', seq=t.nxt['c'] + 8192 + 100, n=100, advance=False,
          label='c:PA starts 100 past the window')
    t.data('c', 50)


@scenario('data far beyond the window')
def tcp_data_beyond_window_far(sc):
    t = sc.tcp()
    t.established()
    t.seg('c', 'PA', seq=t.nxt['c'] + 100000, n=100, advance=False,
          label='c:PA starts 100000 past')
    t.seg('s', 'PA', seq=t.nxt['s'] + 1000000, n=100, advance=False,
          label='s:PA starts 1000000 past')
    t.data('c', 50)


@scenario('ACK of data never sent')
def tcp_ack_unsent(sc):
    t = sc.tcp()
    t.established()
    t.ack('c', ack=t.nxt['s'] + 1, label='c:A ack=+1 unsent')
    t.ack('c', ack=t.nxt['s'] + 5000, label='c:A ack=+5000 unsent')
    t.data('c', 100, ack=t.nxt['s'] + 100000, label='c:PA ack=+100000 unsent',
           advance=False)
    t.data('s', 100)
    t.ack('c')


@scenario('loss before the box: data beyond a gap, ACKs a flight late (plain at the edge, '
          'SACK, then catching up through data sent after the retransmission)')
def tcp_loss_upstream_acks_catch_up(sc):
    t = sc.tcp()
    t.handshake(copts=[('SAckOK', b'')], sopts=[('SAckOK', b'')])
    a = t.nxt['c']
    t.data('c', 100, label='c:PA A')
    t.nxt['c'] = a + 200                # B [a+100, a+200) is lost before the box
    t.data('c', 100, label='c:PA C (beyond the gap)')
    t.data('c', 100, label='c:PA D')
    t.ack('s', ack=a + 100, label='s:A acks A, no SACK (C, D in flight)')
    t.ack('s', ack=a + 100, opts=[('NOP', None), ('NOP', None), ('SAck', (a + 200, a + 400))],
          label='s:A dup ACK, SACK C-D')
    t.seg('c', 'PA', seq=a + 100, n=100, label='c:PA B (retransmitted)')
    t.data('c', 100, label='c:PA E')
    t.ack('s', ack=a + 400, label='s:A through D (E in flight)')
    t.ack('s', ack=a + 500, label='s:A through E')
    t.data('s', 50)
    t.ack('c')


@scenario('ACK far below what was already acknowledged')
def tcp_ack_below_window(sc):
    t = sc.tcp()
    t.established()
    t.ack('c', ack=t.nxt['s'] - 100, label='c:A ack=-100 (old dup)')
    t.ack('c', ack=t.nxt['s'] - 100000, label='c:A ack=-100000')
    t.data('c', 50)


@scenario('window scale on the SYN only: no scaling may be applied')
def tcp_wscale_syn_only(sc):
    t = sc.tcp(win=1000)
    t.syn('c', opts=[('WScale', 7)])
    t.synack('s')
    t.ack('c')
    t.data('c', 100)
    t.ack('s')
    t.seg('c', 'PA', seq=t.nxt['c'] + 2500, n=100, advance=False,
          label='c:PA 2500 past a 1000 window (fits only if scaled)')
    t.data('c', 50)


@scenario('window scale on the SYN/ACK only: no scaling may be applied')
def tcp_wscale_synack_only(sc):
    t = sc.tcp(win=1000)
    t.syn('c')
    t.synack('s', opts=[('WScale', 7)])
    t.ack('c')
    t.data('s', 100)
    t.ack('c')
    t.seg('s', 'PA', seq=t.nxt['s'] + 2500, n=100, advance=False,
          label='s:PA 2500 past a 1000 window (fits only if scaled)')
    t.data('s', 50)


@scenario('window scale on both SYNs: the scaled window is honoured')
def tcp_wscale_both(sc):
    t = sc.tcp(win=1000)
    t.syn('c', opts=[('WScale', 7)])
    t.synack('s', opts=[('WScale', 7)])
    t.ack('c')
    t.data('c', 100)
    t.ack('s')
    t.seg('c', 'PA', seq=t.nxt['c'] + 2500, n=100, advance=False,
          label='c:PA 2500 past (inside 1000<<7)')
    t.ack('s', ack=t.nxt['c'], label='s:A (dup ACK, hole)')
    t.data('c', 50)


@scenario('SACK blocks inside and beyond the data sent (SACK permitted)')
def tcp_sack_beyond_sent(sc):
    t = sc.tcp()
    t.handshake(copts=[('SAckOK', b'')], sopts=[('SAckOK', b'')])
    base = t.nxt['s']
    t.data('s', 1000)
    t.ack('c', ack=base, opts=[('SAck', (base + 500, base + 1000))],
          label='c:A SACK inside sent')
    t.ack('c', ack=base, opts=[('SAck', (base + 1500, base + 2000))],
          label='c:A SACK beyond sent')
    t.ack('c')


@scenario('SACK block beyond the data sent, SACK not permitted')
def tcp_sack_not_permitted(sc):
    t = sc.tcp()
    t.handshake()
    base = t.nxt['s']
    t.data('s', 1000)
    t.ack('c', ack=base, opts=[('SAck', (base + 1500, base + 2000))],
          label='c:A SACK beyond sent (no SACK_PERM)')
    t.ack('c')


@scenario('ECN setup and ECE/CWR flags (valid combinations)')
def tcp_ecn_flags(sc):
    t = sc.tcp()
    t.seg('c', 'SEC', label='c:S+ECE+CWR')
    t.seg('s', 'SAE', seq=t.isn['s'], label='s:SA+ECE')
    t.ack('c')
    t.seg('c', 'PAE', n=100, label='c:PA+ECE')
    t.seg('s', 'AC', label='s:A+CWR')
    t.seg('c', 'PAU', n=10, label='c:PA+URG')


@scenario('every invalid flag combination inside an established connection')
def tcp_bad_flags_established(sc):
    t = sc.tcp()
    t.established()
    for fl, name in [(0, 'NULL'), ('F', 'FIN'), ('SF', 'SYN|FIN'),
                     ('SR', 'SYN|RST'), ('FR', 'FIN|RST'), ('FPU', 'Xmas'),
                     ('SFPU', 'SYN|FIN|PSH|URG'), ('SAU', 'SYN|ACK|URG'),
                     ('RAU', 'RST|ACK|URG'), ('FRA', 'FIN|RST|ACK'),
                     ('U', 'URG'), ('P', 'PSH'), ('FP', 'FIN|PSH'),
                     ('FSRPAU', 'all six'), ('SRA', 'SYN|RST|ACK'),
                     ('FSA', 'SYN|FIN|ACK')]:
        t.seg('c', fl, advance=False, ack=t.nxt['s'], label='c:%s' % name)
    t.data('c', 50, label='c:PA (still alive)')
    t.ack('s')


@scenario('scans: invalid or non-SYN first packets of unknown connections')
def tcp_scans_new(sc):
    for fl, name in [(0, 'NULL'), ('F', 'FIN'), ('FPU', 'Xmas'),
                     ('SF', 'SYN|FIN'), ('SR', 'SYN|RST'), ('R', 'RST'),
                     ('RA', 'RST|ACK'), ('FA', 'FIN|ACK'), ('SA', 'SYN|ACK'),
                     ('SU', 'SYN|URG')]:
        t = sc.tcp()
        t.seg('c', fl, ack=777 if 'A' in str(fl) else 0,
              label='c:%s (new tuple)' % name)


# --- midstream -------------------------------------------------------------------

@scenario('midstream pickup (loose): connection seen without its handshake')
def tcp_midstream_loose(sc):
    t = sc.tcp()
    t.data('c', 100, label='c:PA (first packet, no handshake)')
    t.ack('s')
    t.data('s', 300)
    t.ack('c')
    t.data('c', 50)


@scenario('midstream pickup (loose) started by the server side')
def tcp_midstream_loose_server_first(sc):
    t = sc.tcp()
    t.data('s', 100, label='s:PA (first packet, no handshake)')
    t.ack('c')
    t.data('c', 100)
    t.ack('s')


@scenario('midstream (loose): a SYN/ACK as the first packet')
def tcp_midstream_synack_first(sc):
    t = sc.tcp()
    t.nxt['c'] = t.isn['c'] + 1
    t.synack('s', label='s:SA (first packet)')
    t.ack('c')
    t.data('c')
    t.ack('s')


@scenario('midstream (strict): ACK with no connection is refused, a SYN works',
          midstream='strict')
def tcp_midstream_strict(sc):
    t = sc.tcp()
    t.data('c', 100, label='c:PA (first packet, no handshake)')
    t.ack('s', label='s:A (no connection)')
    u = sc.tcp()
    u.established()


@scenario('midstream (strict): SYN/ACK first, then ACK and data, all refused',
          midstream='strict')
def tcp_midstream_strict_synack_first(sc):
    t = sc.tcp()
    t.nxt['c'] = t.isn['c'] + 1
    t.synack('s', label='s:SA (first packet)')
    t.ack('c', label='c:A (no connection)')
    t.data('c', label='c:PA (no connection)')


@scenario('strict midstream: a normal connection with close and reuse',
          midstream='strict')
def tcp_strict_full_connection(sc):
    t = sc.tcp()
    t.established()
    t.fin('s')
    t.fin('c')
    t.ack('s')
    u = sc.tcp(cport=t.port['c'], ciss=t.isn['c'] + 10000000,
               siss=t.isn['s'] + 20000000)
    u.established()



@scenario('one-sided (loose): asymmetric routing, the SYN/ACK and replies take another path')
def tcp_one_sided_loose(sc):
    t = sc.tcp()
    t.syn('c')
    t.nxt['s'] = t.isn['s'] + 1        # the SYN/ACK went by the other path
    t.ack('c', label='c:A (SYN/ACK not seen)')
    t.data('c', 100)
    t.data('c', 200)
    t.fin('c')


@scenario('one-sided (strict): asymmetric routing, refused after the SYN',
          midstream='strict')
def tcp_one_sided_strict(sc):
    t = sc.tcp()
    t.syn('c')
    t.nxt['s'] = t.isn['s'] + 1
    t.ack('c', label='c:A (SYN/ACK not seen)')
    t.data('c', 100)


# --- UDP and ICMP ------------------------------------------------------------------

@scenario('UDP request, reply, more traffic')
def udp_request_reply(sc):
    p = sc.port()
    sc.udp('c', b'query', p)
    sc.udp('s', b'answer', p)
    sc.udp('c', b'more', p)
    sc.udp('s', b'more answer', p)


@scenario('UDP: a datagram from the server side first (no request)')
def udp_server_first(sc):
    p = sc.port()
    sc.udp('s', b'unsolicited', p)
    sc.udp('c', b'reply', p)


@scenario('ICMP echo request and reply, twice')
def icmp_echo(sc):
    sc.icmp('c', 8, 0x4200 + sc.index, 1)
    sc.icmp('s', 0, 0x4200 + sc.index, 1)
    sc.icmp('c', 8, 0x4200 + sc.index, 2)
    sc.icmp('s', 0, 0x4200 + sc.index, 2)


@scenario('ICMP echo reply without a request; reply in the request\'s direction')
def icmp_reply_without_request(sc):
    sc.icmp('s', 0, 0x5100 + sc.index, 1, label='s:echo reply (no request)')
    sc.icmp('c', 8, 0x5200 + sc.index, 1)
    sc.icmp('c', 0, 0x5200 + sc.index, 1, label='c:echo reply (same way as request)')
    sc.icmp('s', 0, 0x5200 + sc.index, 1)


@scenario('ICMP port unreachable for a live UDP flow (RELATED)')
def icmp_error_related_udp(sc):
    p = sc.port()
    q = sc.udp('c', b'query', p)
    sc.icmp_error('s', q, 3, 3, label='s:port unreachable (quotes the query)')


@scenario('ICMP frag-needed for a TCP segment, in-window quoted sequence')
def icmp_error_related_tcp(sc):
    t = sc.tcp()
    t.established()
    q = t.data('c', 200)
    sc.icmp_error('s', q, 3, 4, label='s:frag needed (quotes the segment)')
    t.ack('s')


@scenario('ICMP error quoting a TCP sequence far outside the window')
def icmp_error_tcp_bad_seq(sc):
    t = sc.tcp()
    t.established()
    q = IP(src=CLI, dst=SRV) / TCP(sport=t.port['c'], dport=SRV_PORT, flags='PA',
                                   seq=(t.nxt['c'] + 0x40000000) & 0xffffffff,
                                   ack=t.nxt['s']) / Raw(b'x' * 20)
    sc.icmp_error('s', q, 3, 4, label='s:frag needed (quoted seq +1G)')
    t.data('c', 20)


@scenario('ICMP error quoting a flow that does not exist')
def icmp_error_unrelated(sc):
    p = sc.port()
    q = IP(src=CLI, dst=SRV) / UDP(sport=p, dport=SRV_PORT + 1) / Raw(b'never sent')
    sc.icmp_error('s', q, 3, 3, label='s:port unreachable (unknown flow)')
    t = IP(src=CLI, dst=SRV) / TCP(sport=p + 1, dport=SRV_PORT, flags='S', seq=1)
    sc.icmp_error('s', t, 3, 1, label='s:host unreachable (unknown TCP)')


@scenario('ICMP error sent toward the quoted packet\'s destination (wrong direction)')
def icmp_error_wrong_direction(sc):
    p = sc.port()
    q = sc.udp('c', b'query', p)
    sc.icmp_error('c', q, 3, 3, label='c:port unreachable (quotes own packet)')
    sc.udp('s', b'answer', p)


# --- runner -------------------------------------------------------------------------

def build():
    out = []
    for i, (name, desc, mid, fn) in enumerate(SCENARIOS):
        sc = Scenario(name, desc, mid, i + 1)
        fn(sc)
        out.append(sc)
    return out


libc = ctypes.CDLL(None, use_errno=True)


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, 'setns %s: %s' % (path, os.strerror(e)))
    finally:
        os.close(fd)


class Endpoint:
    """A sending raw socket and a receiving packet socket in one namespace."""

    def __init__(self, ns):
        home = os.open('/proc/self/ns/net', os.O_RDONLY)
        try:
            setns('/run/netns/' + ns)
            self.tx = socket.socket(socket.AF_INET, socket.SOCK_RAW,
                                    socket.IPPROTO_RAW)
            self.tx.setsockopt(socket.SOL_SOCKET, SO_MARK, MARK)
            self.rx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM,
                                    socket.htons(ETH_P_IP))
            self.rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            self.rx.bind(('eth0', ETH_P_IP))
            self.rx.setblocking(False)
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:
                raise OSError('cannot return to the original namespace')
            os.close(home)
        self.seen = set()       # (source address, IP id)

    def drain(self):
        while True:
            try:
                b, addr = self.rx.recvfrom(65535)
            except BlockingIOError:
                return
            if addr[2] != PACKET_HOST or len(b) < 20 or b[0] >> 4 != 4:
                continue
            self.seen.add((socket.inet_ntoa(b[12:16]), int.from_bytes(b[4:6], 'big')))


def run(args):
    opts = parse_opts(args, {'--cli': None, '--srv': None, '--out': None,
                             '--midstream': 'loose', '--flush': '',
                             '--timeout': '0.2', '--only': ''})
    timeout = float(opts['--timeout'])
    only = set(filter(None, opts['--only'].split(',')))
    ep = {'c': Endpoint(opts['--cli']), 's': Endpoint(opts['--srv'])}
    socks = {ep['c'].rx: ep['c'], ep['s'].rx: ep['s']}
    ipid = 0
    out = open(opts['--out'], 'a')
    for sc in build():
        if sc.midstream != opts['--midstream'] or (only and sc.name not in only):
            continue
        if opts['--flush']:
            subprocess.run(opts['--flush'], shell=True, check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rec = []
        for side, label, pkt in sc.pkts:
            ipid += 1
            pkt = pkt.copy()
            pkt[IP].id = ipid
            raw = bytes(pkt)
            key = (ADDR[side], ipid)
            far = ep[OTHER[side]]
            ep[side].tx.sendto(raw, (ADDR[OTHER[side]], 0))
            t0 = time.monotonic()
            while key not in far.seen:
                left = timeout - (time.monotonic() - t0)
                if left <= 0:
                    break
                r, _, _ = select.select(list(socks), [], [], left)
                for s in r:
                    socks[s].drain()
            rec.append({'side': side, 'label': label, 'id': ipid, 'key': key,
                        'proto': pkt[IP].proto, 'src': ADDR[side],
                        'dst': ADDR[OTHER[side]]})
        # late arrivals still count: delivered means delivered at all
        time.sleep(0.02)
        for e in ep.values():
            e.drain()
        pk = []
        for r in rec:
            far = ep[OTHER[r['side']]]
            pk.append({'label': r['label'], 'side': r['side'], 'id': r['id'],
                       'proto': r['proto'], 'src': r['src'], 'dst': r['dst'],
                       'delivered': r['key'] in far.seen})
        out.write(json.dumps({'scenario': sc.name, 'midstream': sc.midstream,
                              'desc': sc.desc, 'packets': pk}) + '\n')
        out.flush()
        print('# ran %s (%d packets, %d delivered)' % (
            sc.name, len(pk), sum(p['delivered'] for p in pk)))
    out.close()
    return 0


def parse_opts(args, spec):
    opts = dict(spec)
    i = 0
    while i < len(args):
        if args[i] not in spec or i + 1 >= len(args):
            sys.stderr.write('scenarios.py: bad option %s\n' % args[i])
            usage()
        opts[args[i]] = args[i + 1]
        i += 2
    for k, v in opts.items():
        if v is None:
            sys.exit('scenarios.py: %s is required' % k)
    return opts


def load(path):
    res = {}
    order = []
    with open(path) as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                res[d['scenario']] = d
                order.append(d['scenario'])
    return res, order


def outcome(b):
    return 'pass' if b else 'drop'


def load_expected(path):
    exp = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip('\n')
            if not line.strip() or line.startswith('#'):
                continue
            col = line.split('\t')
            if len(col) != 5 or col[2] not in ('pass', 'drop') or \
                    col[3] not in ('pass', 'drop') or not col[1].isdigit():
                sys.exit('%s:%d: want SCENARIO<TAB>PACKET#<TAB>pass|drop'
                         '<TAB>pass|drop<TAB>REASON' % (path, n))
            exp[(col[0], int(col[1]))] = (col[2], col[3], col[4])
    return exp


def ctguard_reasons(db, ctg, order):
    """Map each ctguard-run packet to its audit record: every crafted packet
    crossed the daemon once, in send order, and nothing else did."""
    try:
        con = sqlite3.connect('file:%s?mode=ro' % db, uri=True)
        rows = con.execute('SELECT src, dst, proto, reason, verdict FROM verdicts '
                           'ORDER BY id').fetchall()
    except sqlite3.Error:
        return {}
    pk = [(name, i, p) for name in order
          for i, p in enumerate(ctg[name]['packets'], 1)]
    if len(rows) != len(pk):
        return {}
    out = {}
    for (name, i, p), (src, dst, proto, reason, verdict) in zip(pk, rows):
        if src != p['src'] or dst != p['dst'] or proto != p['proto']:
            return {}
        out[(name, i)] = '%s %s' % (verdict, reason)
    return out


def compare(args):
    if len(args) not in (3, 4):
        usage()
    ker, _ = load(args[0])
    ctg, corder = load(args[1])
    exp = load_expected(args[2])
    reasons = ctguard_reasons(args[3], ctg, corder) if len(args) == 4 else {}
    names = [sc.name for sc in build()]
    fails = agree = explained = 0
    for name in names:
        if name not in ker or name not in ctg:
            print('not ok - %s: not run (%s)' % (
                name, 'kernel' if name not in ker else 'ctguard'))
            fails += 1
            continue
        kp, cp = ker[name]['packets'], ctg[name]['packets']
        if len(kp) != len(cp):
            print('not ok - %s: packet counts differ' % name)
            fails += 1
            continue
        bad, known = [], []
        for i, (k, c) in enumerate(zip(kp, cp), 1):
            ko, co = outcome(k['delivered']), outcome(c['delivered'])
            e = exp.get((name, i))
            if ko == co:
                if e:
                    print('# %s #%d %s: listed as a difference but both %s '
                          '(stale table row)' % (name, i, k['label'], ko))
                continue
            line = '#%d %s: kernel %s, ctguard %s' % (i, k['label'], ko, co)
            if (name, i) in reasons:
                line += ' (ctguard: %s)' % reasons[(name, i)]
            if e and e[0] == ko and e[1] == co:
                known.append(line)
            else:
                bad.append(line)
        if bad:
            fails += 1
            print('not ok - %s: %s' % (name, '; '.join(bad)))
        else:
            print('ok - %s%s' % (name, ' (%d expected differences)' % len(known)
                                  if known else ''))
            if known:
                explained += 1
            else:
                agree += 1
        for line in known:
            print('#   expected: ' + line)
    print('# %d scenarios: %d agree, %d differ as documented, %d unexplained'
          % (len(names), agree, explained, fails))
    return 1 if fails else 0


def table(args):
    exp = load_expected(args[0])
    scs = {sc.name: sc for sc in build()}
    print('| scenario | packet | kernel | ctguard | why ctguard differs |')
    print('|---|---|---|---|---|')
    for (name, i), (k, c, why) in exp.items():
        label = scs[name].pkts[i - 1][1] if name in scs and i <= len(scs[name].pkts) else '?'
        print('| %s | #%d `%s` | %s | %s | %s |' % (name, i, label, k, c, why))
    return 0


def usage():
    sys.stderr.write(__doc__)
    sys.exit(2)


def main():
    if len(sys.argv) < 2:
        usage()
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == 'list':
        for sc in build():
            print('%s\t%s\t%d packets\t%s' % (sc.name, sc.midstream,
                                               len(sc.pkts), sc.desc))
            for i, (side, label, _) in enumerate(sc.pkts, 1):
                print('\t#%d %s' % (i, label))
        return 0
    if cmd == 'run':
        return run(args)
    if cmd == 'compare':
        return compare(args)
    if cmd == 'table':
        return table(args)
    usage()


if __name__ == '__main__':
    sys.exit(main())
