# SPDX-License-Identifier: GPL-2.0-or-later
# Real Linux sockets for tests/e2e/e2e_stacks.sh: a server and the client
# side of each shape (TCP Fast Open, SYN cookies, PMTU discovery, urgent
# data, one-sided routing). Plain python3, no scapy. Every call is bounded
# by socket timeouts; the shell wraps each one in timeout(1) as well.
#
#   stacks.py serve PORT [tfo] EVENTS   put/echo/urg server; EVENTS gets one
#                                       line per connection that ends in an
#                                       error ("reset SPORT")
#   stacks.py put HOST PORT N SPORT [SRC]
#                                       upload N bytes, sha256 checked
#   stacks.py tfo HOST PORT N SPORT WANT
#                                       the same through sendto(MSG_FASTOPEN);
#                                       WANT: syn-data (the SYN's data was
#                                       acknowledged) or no-syn-data
#   stacks.py many HOST PORT COUNT SPORT0 N wscale|nowscale
#                                       COUNT uploads of about N bytes at
#                                       once (SYN cookies); nowscale: fail
#                                       if window scaling was agreed
#   stacks.py urg HOST PORT SPORT       urgent data both ways
import hashlib, os, signal, socket, sys, threading, time

MSG_FASTOPEN = 0x20000000
TCPI_OPT_WSCALE = 4
TCPI_OPT_SYN_DATA = 32
TCP_FASTOPEN = 23


# the helpers every end-to-end traffic tool shares
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'kit'))
from traffic import anyaddr as any_addr, blob, fam, readall, readline, say  # noqa: E402


def readn(s, n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            break
        b += c
    return b


def handle(c, peer, events):
    try:
        c.settimeout(30)
        cmd = readline(c).split()
        if not cmd:
            return
        if cmd[0] == b'put':
            h = hashlib.sha256()
            n = 0
            while True:
                d = c.recv(65536)
                if not d:
                    break
                h.update(d)
                n += len(d)
            c.sendall(b'%d %s\n' % (n, h.hexdigest().encode()))
        elif cmd[0] == b'echo':
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
        elif cmd[0] == b'urg':
            # inline urgent byte: the stream must read "abc!def"
            got = readn(c, 7)
            c.sendall(b'got ' + got + b'\n')
            c.sendall(b'xyz')
            c.send(b'?', socket.MSG_OOB)
            c.sendall(b'uvw')
        c.shutdown(socket.SHUT_WR)
        readall(c)
    except OSError as e:
        with open(events, 'a') as f:
            f.write('%s %d %s\n' % ('reset' if isinstance(e, ConnectionResetError)
                                    else 'error', peer[1], e))
    finally:
        c.close()


def serve(port, tfo, events):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    if tfo:
        s.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN, 16)
    s.bind(('::', port))
    # a small backlog: with tcp_syncookies=2 the kernel answers every SYN
    # with a cookie anyway, this only makes the accept queue fill too
    s.listen(4)
    while True:
        c, peer = s.accept()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
        threading.Thread(target=handle, args=(c, peer, events), daemon=True).start()


def sock(host, sport, timeout, src=None):
    s = socket.socket(fam(host), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if sport or src:
        s.bind((src or any_addr(host), sport))
    s.settimeout(timeout)
    return s


def finish_put(s, data, what):
    s.shutdown(socket.SHUT_WR)
    reply = readall(s).decode().split()
    want = [str(len(data)), hashlib.sha256(data).hexdigest()]
    if reply != want:
        say('%s: got %r want %r' % (what, reply, want))
        return 1
    return 0


def put(host, port, n, sport, timeout=15, src=None, nowscale=False):
    data = blob(n, n)
    s = sock(host, sport, timeout, src)
    s.connect((host, port))
    if nowscale and tcp_options(s) & TCPI_OPT_WSCALE:
        say('put: window scaling agreed, expected none')
        s.close()
        return 1
    s.sendall(b'put\n')
    s.sendall(data)
    rc = finish_put(s, data, 'put')
    s.close()
    return rc


def tcp_options(s):
    # struct tcp_info: state, ca_state, retransmits, probes, backoff, options
    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)[5]


def syn_data_acked(s):
    return bool(tcp_options(s) & TCPI_OPT_SYN_DATA)


def tfo(host, port, n, sport, want):
    data = blob(n, n)
    s = sock(host, sport, None)
    first = b'put\n' + data[:1000]
    # the kernel sends the SYN with a cookie and this data, or a cookie
    # request (no cookie yet) and the data after the handshake; blocking,
    # so that it returns once connected (a timeout makes the socket
    # non-blocking: EINPROGRESS)
    signal.alarm(15)
    sent = s.sendto(first, MSG_FASTOPEN, (host, port))
    signal.alarm(0)
    s.settimeout(15)
    rest = first[sent:] + data[1000:]
    s.sendall(rest)
    acked = syn_data_acked(s)
    rc = finish_put(s, data, 'tfo')
    s.close()
    say('tfo: SYN data acknowledged: %s' % acked)
    if acked != (want == 'syn-data'):
        say('tfo: wanted %s' % want)
        return 1
    return rc


def many(host, port, count, sport0, n, nowscale):
    errs = []

    def one(i):
        try:
            if put(host, port, n + i, sport0 + i, timeout=20, nowscale=nowscale):
                errs.append(i)
        except OSError as e:
            errs.append('%d %s' % (i, e))
    th = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    if errs:
        say('many: %d failed: %s' % (len(errs), errs[:5]))
        return 1
    return 0


def urg(host, port, sport):
    s = sock(host, sport, 10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
    s.connect((host, port))
    s.sendall(b'urg\n')
    s.sendall(b'abc')
    time.sleep(0.05)
    s.send(b'!', socket.MSG_OOB)     # URG flag, urgent pointer
    time.sleep(0.05)
    s.sendall(b'def')
    s.shutdown(socket.SHUT_WR)
    got = readall(s)
    s.close()
    if got != b'got abc!def\nxyz?uvw':
        say('urg: got %r' % got)
        return 1
    return 0


cmd, a = sys.argv[1], sys.argv[2:]
if cmd == 'serve':
    serve(int(a[0]), a[1] == 'tfo', a[2])
elif cmd == 'put':
    sys.exit(put(a[0], int(a[1]), int(a[2]), int(a[3]), src=a[4] if len(a) > 4 else None))
elif cmd == 'tfo':
    sys.exit(tfo(a[0], int(a[1]), int(a[2]), int(a[3]), a[4]))
elif cmd == 'many':
    sys.exit(many(a[0], int(a[1]), int(a[2]), int(a[3]), int(a[4]), a[5] == 'nowscale'))
elif cmd == 'urg':
    sys.exit(urg(a[0], int(a[1]), int(a[2])))
sys.exit(2)
