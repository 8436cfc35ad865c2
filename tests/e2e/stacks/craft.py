# SPDX-License-Identifier: GPL-2.0-or-later
# Scapy helpers for tests/e2e/e2e_stacks.sh (Debian's python3-scapy).
#
#   craft.py rstdata SRC DST PORT SPORT
#       a real connection (kernel socket, server "echo"), then two RSTs
#       carrying data (RFC 9293 section 3.5.3 and RFC 1122 4.2.2.12 allow
#       data in a RST, "diagnostic data explaining the cause"): one in the
#       window but not at the next sequence number (RFC 5961: the server
#       answers with a challenge ACK, the connection lives on) and one at
#       exactly the next sequence number (the server resets).
#   craft.py capture IFACE OUT SECONDS -- COMMAND...
#       sniff IFACE while COMMAND runs (at most SECONDS), write OUT (pcap)
#   craft.py mangle IN OUT PORT
#       the capture of a real transfer to PORT, cut into wire-sized
#       segments (GSO/GRO hand bigger ones to a sniffer), with reordering,
#       duplication and loss shaped as a gateway sees them (see mangle());
#       OUT.plain gets the same segments unmangled; prints "added N", the
#       frames the originator's count grows by
import socket, struct, subprocess, sys, time

from scapy.all import (IP, IPv6, TCP, AsyncSniffer, Raw, conf, rdpcap, send,
                       wrpcap)

conf.verb = 0
ETH_P_ALL = 3
SO_RCVBUFFORCE = 33


def say(m):
    print('# ' + m, flush=True)


def rstdata(src, dst, port, sport):
    v6 = ':' in dst
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, sport))
    s.settimeout(3)
    s.connect((dst, port))
    s.sendall(b'echo\n')

    def echo(msg):
        s.sendall(msg)
        got = b''
        while len(got) < len(msg):
            d = s.recv(100)
            if not d:
                raise OSError('closed')
            got += d
        return got == msg

    def edge(msg):
        # the client's next sequence number and ack after an echo
        sn = AsyncSniffer(iface='eth0', store=True,
                          lfilter=lambda p: TCP in p and p[TCP].sport == sport)
        sn.start()
        time.sleep(0.5)
        ok = echo(msg)
        time.sleep(0.3)     # the delayed ACK of the echo
        pk = sn.stop()
        if not ok or not pk:
            raise OSError('echo %s, %d sniffed' % (ok, len(pk)))
        last = pk[-1][TCP]
        return (last.seq + len(bytes(last.payload))) & 0xffffffff, last.ack

    try:
        snd, _ = edge(b'first\n')
    except OSError as e:
        say('setup failed: %s' % e)
        return 1
    ip = IPv6(src=src, dst=dst) if v6 else IP(src=src, dst=dst)
    why = b'connection reset: diagnostic text (RFC 1122 4.2.2.12)'
    # in window, 100 bytes past RCV.NXT: not exact, the server answers
    # with a challenge ACK (RFC 5961 section 3.2) and carries on
    send(ip / TCP(sport=sport, dport=port, flags='R', seq=(snd + 100) & 0xffffffff,
                  window=0) / Raw(why))
    time.sleep(0.3)
    try:
        snd, rcv = edge(b'after inexact rst\n')
        alive = True
    except OSError as e:
        say('after inexact RST: %s' % e)
        alive = False
        rcv = 0
    print('inexact %s' % ('alive' if alive else 'broken'), flush=True)
    # what the client sends from now on would be its kernel's: this
    # application is gone, nothing more leaves the port
    subprocess.run(['iptables', '-I', 'OUTPUT', '-p', 'tcp', '--sport', str(sport),
                    '-j', 'DROP'], check=True)
    subprocess.run(['ip6tables', '-I', 'OUTPUT', '-p', 'tcp', '--sport', str(sport),
                    '-j', 'DROP'], check=True)
    send(ip / TCP(sport=sport, dport=port, flags='RA', seq=snd, ack=rcv,
                  window=0) / Raw(why))
    print('exact sent', flush=True)
    time.sleep(0.3)
    s.close()
    return 0 if alive else 1


def capture(iface, out, secs, cmd):
    # a packet socket with a large buffer, not scapy's sniffer: python
    # cannot keep up with a transfer on veth, and a capture with holes is
    # no real transfer
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
    s.bind((iface, 0))
    s.settimeout(0.3)
    time.sleep(0.2)
    proc = subprocess.Popen(cmd)
    frames = []
    end = time.time() + secs
    while True:
        try:
            frames.append((time.time(), s.recv(262144)))
            continue
        except socket.timeout:
            pass
        if proc.poll() is not None or time.time() > end:
            break
    if proc.poll() is None:
        proc.kill()
    rc = proc.wait()
    s.close()
    with open(out, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
        for t, d in frames:
            f.write(struct.pack('<IIII', int(t), int((t % 1) * 1e6), len(d), len(d)))
            f.write(d)
    say('capture: %d frames, command exit %d' % (len(frames), rc))
    return rc


def ip_of(p):
    return p[IPv6] if IPv6 in p else p[IP]


def resegment(pkts):
    """Cut GSO/GRO super-packets into segments of the connection's MSS."""
    mss = 1448
    for p in pkts:
        t = p[TCP]
        if t.flags.S:
            for k, v in t.options:
                if k == 'MSS':
                    mss = min(mss, v - 12)   # timestamps take 12 of the MSS
    out = []
    for p in pkts:
        t = p[TCP]
        data = bytes(t.payload)
        if len(data) <= mss:
            out.append(p)
            continue
        for off in range(0, len(data), mss):
            q = p.copy()
            qt = q[TCP]
            chunk = data[off:off + mss]
            qt.remove_payload()
            qt.seq = (t.seq + off) & 0xffffffff
            last = off + mss >= len(data)
            if not last:
                qt.flags = t.flags & ~0x09       # PSH and FIN on the last piece only
            qt.add_payload(Raw(chunk))
            q.time = p.time
            out.append(q)
    for p in out:
        ipl = ip_of(p)
        if IPv6 in p:
            del ipl.plen
        else:
            del ipl.len
            del ipl.chksum
        del p[TCP].chksum
    return out


def sack_ack(ack_pkt, cap, left, right):
    """The receiver's ACK, held at cap (the hole), SACKing [left, right)."""
    q = ack_pkt.copy()
    t = q[TCP]
    t.ack = cap
    opts = [o for o in t.options if o[0] not in ('SAck', 'NOP')]
    if right != left:
        opts = [('NOP', None), ('NOP', None), ('SAck', (left, right))] + opts
    t.options = opts
    del t.chksum
    del t.dataofs
    ipl = ip_of(q)
    if IPv6 in q:
        del ipl.plen
    else:
        del ipl.len
        del ipl.chksum
    return q


def mangle(inp, out, port):
    """
    The sender's data segments to PORT in the bulk of the transfer, with:
    - reordering: three pairs of neighbours swapped (parallel paths, a
      NIC's queues);
    - duplication: three segments seen again a few frames later (a spurious
      retransmission after a delayed ACK, or a duplicating link);
    - loss after the gateway: a segment passes, the receiver never gets
      it: its ACKs stay at the hole with SACK blocks for what follows
      (duplicate ACKs), then the retransmission fills the hole;
    - loss before the gateway: a segment the gateway sees only as the
      retransmission, after duplicate ACKs like the above.
    Frames keep the times of the positions they move to.
    """
    pk = resegment([p for p in rdpcap(inp) if TCP in p and (IP in p or IPv6 in p)])
    # the same frames unmangled: what the summary of the mangled replay is
    # compared with
    wrpcap(out + '.plain', pk)
    times = [p.time for p in pk]
    # the bulk connection (iperf3 has a control connection to PORT too)
    size = {}
    for p in pk:
        if p[TCP].dport == port:
            size[p[TCP].sport] = size.get(p[TCP].sport, 0) + len(bytes(p[TCP].payload))
    if not size:
        say('mangle: nothing to port %d' % port)
        return 1
    cport = max(size, key=size.get)
    data = [i for i, p in enumerate(pk) if p[TCP].dport == port and p[TCP].sport == cport
            and len(bytes(p[TCP].payload)) > 0]
    if len(data) < 120:
        say('mangle: only %d data segments' % len(data))
        return 1
    n = len(data)
    # a capture that missed segments is no real transfer: refuse it
    nxt = None
    for i in data:
        t = pk[i][TCP]
        end = (t.seq + len(bytes(t.payload))) & 0xffffffff
        if nxt is not None and ((t.seq - nxt) & 0xffffffff) < 0x80000000 and t.seq != nxt:
            say('mangle: the capture has a hole at seq %d (%d bytes)' % (nxt, t.seq - nxt))
            return 1
        if nxt is None or ((end - nxt) & 0xffffffff) < 0x80000000:
            nxt = end
    order = list(range(len(pk)))
    pos = {i: i for i in order}
    extra = {}       # insert after index: [packets]
    drop = set()
    changed = {}
    # reordering: neighbours on the wire, no ACK between them (an ACK
    # there would acknowledge a segment the receiver only gets later)
    for k in (n // 8, n // 4, n // 3):
        while data[k + 1] != data[k] + 1:
            k += 1
        a, b = data[k], data[k + 1]
        order[pos[a]], order[pos[b]] = b, a
        pos[a], pos[b] = pos[b], pos[a]
    # duplication
    dups = 0
    for k in (n // 2, n // 2 + 5, n // 2 + 10):
        i = data[k]
        after = data[k + 3]
        extra.setdefault(after, []).append(pk[i].copy())
        dups += 1

    def acks_after(i):
        return [j for j in range(i + 1, len(pk)) if pk[j][TCP].sport == port and
                pk[j][TCP].dport == cport and
                len(bytes(pk[j][TCP].payload)) == 0 and not pk[j][TCP].flags.F]

    def seq_lt(a, b):
        return 0 < ((b - a) & 0xffffffff) < 0x80000000

    def hole(k, gateway_saw):
        # the receiver gets segment k only after k + 6 (the retransmission
        # goes right after it): until then its ACKs, which run a flight
        # late, stay at the hole and SACK what it holds beyond
        i = data[k]
        seg = pk[i][TCP]
        lo_seq = seg.seq
        hi_seq = (seg.seq + len(bytes(seg.payload))) & 0xffffffff
        fill = data[k + 6]
        ft = pk[fill][TCP]
        fill_end = (ft.seq + len(bytes(ft.payload))) & 0xffffffff
        for j in acks_after(i):
            a = pk[j][TCP].ack
            if seq_lt(lo_seq, a) and seq_lt(a, fill_end):
                changed[j] = sack_ack(pk[j], lo_seq, hi_seq if seq_lt(hi_seq, a) else a, a)
        if not gateway_saw:
            drop.add(i)
        extra.setdefault(fill, []).append(pk[i].copy())
    hole(2 * n // 3, True)
    hole(3 * n // 4, False)

    res = []
    for idx in order:
        if idx not in drop:
            res.append(changed.get(idx, pk[idx]))
        for q in extra.get(idx, []):
            res.append(q)
    # every frame keeps the time of its position (the capture's clock)
    allt = sorted(times + [times[-1]] * (len(res) - len(times)))
    for p, t in zip(res, allt[:len(res)]):
        p.time = t
    wrpcap(out, res)
    print('added %d' % (len(res) - len(pk)), flush=True)
    say('mangle: %d frames -> %d: %d data segments, 3 swaps, %d duplicates, '
        'a loss after and one before the gateway, %d ACKs rewritten to the hole'
        % (len(pk), len(res), n, dups, len(changed)))
    return 0


cmd, a = sys.argv[1], sys.argv[2:]
if cmd == 'rstdata':
    sys.exit(rstdata(a[0], a[1], int(a[2]), int(a[3])))
elif cmd == 'capture':
    sys.exit(capture(a[0], a[1], float(a[2]), a[4:]))
elif cmd == 'mangle':
    sys.exit(mangle(a[0], a[1], int(a[2])))
sys.exit(2)
