# SPDX-License-Identifier: GPL-2.0-or-later
"""Traffic for the end-to-end tests, run in their namespaces.

    python3 tests/kit/traffic.py SUBCOMMAND ARGS...   (--help lists them)

One copy of what e2e_gateway.sh, e2e_ha.sh and e2e_ha_asym.sh used to embed:
a TCP server (put: count and hash an upload; get/sget: send seeded data,
sget paced; echo), a UDP echo, clients that check what arrived, long-lived
connections that echo on demand, connection timing, and crafted segments
(scapy, imported only by the subcommands that craft). Where the scripts'
copies differed (timeouts, backlog, tries, payloads) the difference is an
option; the defaults are e2e_gateway.sh's.

Exit codes of the transfer clients (put, get, sget): 0 intact, 1 wrong or
short data, 3 a RST reached us, 4 another error (a timeout). Diagnostics
go to stdout as TAP comments ("# ...").
"""

import argparse
import hashlib
import json
import os
import random
import socket
import sys
import threading
import time


def say(m):
    print('# ' + m, flush=True)


def blob(n, seed):
    return random.Random(seed).randbytes(n)


def fam(host):
    return socket.AF_INET6 if ':' in host else socket.AF_INET


def anyaddr(host):
    return '::' if ':' in host else '0.0.0.0'


def tcp(host, port, sport=0, src=None, timeout=5):
    s = socket.socket(fam(host), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if sport or src:
        s.bind((src or anyaddr(host), sport))
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def readline(s):
    b = b''
    while not b.endswith(b'\n'):
        c = s.recv(1)
        if not c:
            break
        b += c
    return b


def readall(s):
    out = []
    while True:
        c = s.recv(65536)
        if not c:
            return b''.join(out)
        out.append(c)


def paced(s, data, chunk, delay):
    for i in range(0, len(data), chunk):
        s.sendall(data[i:i + chunk])
        time.sleep(delay)


def together(fn, argsets, daemon=False):
    # one thread for each argument tuple; returns when all have
    th = [threading.Thread(target=fn, args=a, daemon=daemon) for a in argsets]
    for t in th:
        t.start()
    for t in th:
        t.join()


# --- servers ----------------------------------------------------------------

def handle(c, timeout):
    # one request line: "put" (count and hash until EOF, answer "N SHA256"),
    # "get N SEED", "sget N SEED CHUNK DELAY" (server-first, paced), "echo"
    try:
        c.settimeout(timeout)
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
        elif cmd[0] == b'get':
            c.sendall(blob(int(cmd[1]), int(cmd[2])))
        elif cmd[0] == b'sget':
            paced(c, blob(int(cmd[1]), int(cmd[2])), int(cmd[3]), float(cmd[4]))
        elif cmd[0] == b'echo':
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
        c.shutdown(socket.SHUT_WR)
        readall(c)
    except ConnectionResetError:
        # the HA tests grep their server log for this line
        say('server: connection reset')
    except OSError:
        pass
    finally:
        c.close()


def serve(ports, backlog=256, timeout=60):
    # dual-stack listeners, a thread a connection; runs until killed
    def one(port):
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(('::', port))
        s.listen(backlog)
        while True:
            c, _ = s.accept()
            threading.Thread(target=handle, args=(c, timeout), daemon=True).start()
    together(one, [(p,) for p in ports], daemon=True)


def udpecho(port):
    # echoes at once; "later SECS ..." is answered after SECS seconds (in
    # e2e_ha.sh the answer is the first packet across a failover)
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(('::', port))

    def later(d, a, secs):
        time.sleep(secs)
        s.sendto(d, a)
    while True:
        d, a = s.recvfrom(65536)
        if d.startswith(b'later '):
            threading.Thread(target=later, args=(d, a, float(d.split()[1])),
                             daemon=True).start()
        else:
            s.sendto(d, a)


# --- transfer clients -------------------------------------------------------

def guarded(f):
    try:
        return f()
    except ConnectionResetError as e:
        say('RST: %s' % e)
        return 3
    except OSError as e:
        say('error: %s' % e)
        return 4


def put(host, port, n, seed=None, sport=0, src=None, chunk=0, delay=0.0,
        timeout=10):
    # upload N bytes (seeded by N unless SEED), all at once or CHUNK bytes
    # every DELAY s; the server's count and hash must match
    def run():
        data = blob(n, n if seed is None else seed)
        s = tcp(host, port, sport, src, timeout)
        s.sendall(b'put\n')
        if chunk:
            paced(s, data, chunk, delay)
        else:
            s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        reply = readall(s).decode().split()
        s.close()
        want = [str(n), hashlib.sha256(data).hexdigest()]
        if reply != want:
            say('put: got %r want %r' % (reply, want))
            return 1
        return 0
    return guarded(run)


def download(what, host, port, n, seed, request, sport, timeout):
    def run():
        s = tcp(host, port, sport, timeout=timeout)
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        got = readall(s)
        s.close()
        if got != blob(n, seed):
            say('%s: %d of %d bytes, %s' % (what, len(got), n,
                'content differs' if len(got) == n else 'short'))
            return 1
        return 0
    return guarded(run)


def get(host, port, n, seed, sport=0, timeout=5):
    return download('get', host, port, n, seed, b'get %d %d\n' % (n, seed),
                    sport, timeout)


def sget(host, port, n, seed, sport, chunk, delay, timeout=15):
    # server-first and paced: CHUNK bytes every DELAY s
    return download('sget', host, port, n, seed,
                    b'sget %d %d %d %f\n' % (n, seed, chunk, delay), sport, timeout)


def parallel(host, port, count, first, naddr):
    # COUNT uploads at once from NADDR client addresses 198.51.100.FIRST...
    errs = []

    def one(i):
        src = '198.51.100.%d' % (first + i % naddr)
        if put(host, port, 20000 + i, src=src, timeout=15):
            errs.append(i)
    together(one, [(i,) for i in range(count)])
    if errs:
        say('parallel: %d failed: %s' % (len(errs), errs[:5]))
        return 1
    return 0


# --- long-lived connections -------------------------------------------------

def echo1(s, msg):
    s.sendall(msg)
    got = b''
    while len(got) < len(msg):
        d = s.recv(65536)
        if not d:
            raise OSError('closed by the peer')
        got += d
    if got != msg:
        raise OSError('echo mismatch')


def hold(host, port, sport, secs, log):
    # echo every 0.2 s; one line per round trip; stop at the first failure
    f = open(log, 'a', buffering=1)
    try:
        s = tcp(host, port, sport, timeout=1.5)
        s.sendall(b'echo\n')
        end = time.time() + secs
        i = 0
        while time.time() < end:
            echo1(s, b'ping %d\n' % i)
            f.write('ok %d\n' % i)
            i += 1
            time.sleep(0.2)
        s.close()
        f.write('done\n')
        return 0
    except OSError as e:
        f.write('fail %s\n' % e)
        return 1


def idle(host, port, sport, trig, secs, log):
    # A connection that stays open (across failovers). For each file trig.N
    # that appears (N = 1, 2, ...) it echoes one message (after injecting
    # an out-of-window RST if the file says "inject": needs scapy) and logs
    # "ok N" or "fail why"; trig.stop closes it.
    f = open(log, 'a', buffering=1)
    end = time.time() + secs
    try:
        s = tcp(host, port, sport, timeout=10)
        s.sendall(b'echo\n')
        echo1(s, b'hello\n')
        f.write('ok 0\n')
        n = 1
        while time.time() < end:
            if os.path.exists(trig + '.stop'):
                s.close()
                f.write('closed\n')
                return 0
            t = trig + '.%d' % n
            if not os.path.exists(t):
                time.sleep(0.05)
                continue
            if open(t).read().strip() == 'inject':
                inject_rst(s, host, port, sport)
            echo1(s, b'round %d\n' % n)
            f.write('ok %d\n' % n)
            n += 1
        f.write('fail timeout\n')
        return 1
    except ConnectionResetError as e:
        f.write('fail RST %s\n' % e)
        return 3
    except OSError as e:
        f.write('fail %s\n' % e)
        return 4


# --- crafted segments (scapy) -----------------------------------------------

def sniff_start(lfilter):
    from scapy.all import AsyncSniffer, conf
    conf.verb = 0
    sn = AsyncSniffer(iface='eth0', store=True, lfilter=lfilter)
    sn.start()
    time.sleep(0.5)
    return sn


def next_seq(seg):
    # the sequence number after a sniffed TCP segment
    return (seg.seq + len(bytes(seg.payload))) & 0xffffffff


def oow_rst(sport, dport, snd):
    # a RST 2^30 beyond the sender's next sequence number: out of any
    # window, a gateway must drop it
    from scapy.all import TCP
    return TCP(sport=sport, dport=dport, flags='R',
               seq=(snd + 0x40000000) & 0xffffffff, window=0)


def inject_rst(s, host, port, sport):
    # client side, inside idle(): learn our next sequence number from our
    # own segments, then send an out-of-window RST
    from scapy.all import IP, IPv6, TCP, conf, send
    from scapy.supersocket import L3RawSocket
    from scapy.layers.inet6 import L3RawSocket6
    # through the kernel's routes and neighbour cache: scapy's own ARP
    # lookup would ask every holder of the gateway address
    conf.L3socket, conf.L3socket6 = L3RawSocket, L3RawSocket6
    sn = sniff_start(lambda p: TCP in p and p[TCP].sport == sport)
    echo1(s, b'before the rst\n')
    time.sleep(0.3)
    pk = sn.stop()
    if not pk:
        raise OSError('inject: nothing sniffed')
    src = s.getsockname()[0]
    ip = IPv6(src=src, dst=host) if ':' in host else IP(src=src, dst=host)
    send(ip / oow_rst(sport, port, next_seq(pk[-1][TCP])))
    time.sleep(0.3)


def rstinject(cli, cport, sport, trig, log):
    # Run on the server's side: learn the server's next sequence number
    # from its own echo segments of the idle connection (trig makes the
    # client echo once), then send an out-of-window RST to the client. The
    # server's routes send it through the gateway that carries the answers.
    from scapy.all import IP, IPv6, TCP
    sn = sniff_start(lambda p: TCP in p and p[TCP].sport == sport
                     and p[TCP].dport == cport)
    open(trig, 'w').write('echo\n')
    n = trig.rsplit('.', 1)[1]
    end = time.time() + 10
    while time.time() < end:
        if ('ok %s\n' % n) in open(log).read():
            break
        time.sleep(0.05)
    time.sleep(0.3)
    pk = sn.stop()
    pk = [p for p in pk if len(bytes(p[TCP].payload)) > 0]
    if not pk:
        say('rstinject: none of the server\'s segments sniffed')
        return 2
    last = pk[-1]
    snd = next_seq(last[TCP])
    src = last[IPv6].src if IPv6 in last else last[IP].src
    ip = IPv6(src=src, dst=cli) if ':' in cli else IP(src=src, dst=cli)
    rst = bytes(ip / oow_rst(sport, cport, snd))
    # a raw socket of our own, through the kernel's routes and neighbour
    # cache (scapy's send fails on IPv6 raw sockets); errors raise
    o = socket.socket(fam(cli), socket.SOCK_RAW, socket.IPPROTO_RAW)
    n = o.sendto(rst, (cli, 0))
    o.close()
    say('rstinject: %s -> %s, %d of %d bytes sent' % (src, cli, n, len(rst)))
    say('rstinject: RST seq %u sent (next is %u)' % ((snd + 0x40000000) & 0xffffffff, snd))
    return 0


def invalid(src, dst, port, sport):
    # Crafted segments into an established echo connection from the
    # client: a NULL segment, SYN+FIN and an out-of-window RST, each
    # followed by an echo that must still work; prints "NAME alive|broken"
    from scapy.all import IP, IPv6, TCP, send
    v6 = ':' in dst
    s = tcp(dst, port, sport, src, timeout=3)
    s.sendall(b'echo\n')

    def echo(msg):
        try:
            echo1(s, msg)
            return True
        except OSError as e:
            if str(e) != 'echo mismatch':
                raise
            return False
    sn = sniff_start(lambda p: TCP in p and p[TCP].sport == sport)
    ok = echo(b'first\n')
    time.sleep(0.3)     # the delayed ACK of the echo
    pk = sn.stop()
    if not ok or not pk:
        print('setup failed: echo %s, %d sniffed' % (ok, len(pk)))
        return 1
    last = pk[-1][TCP]
    snd = next_seq(last)
    rcv = last.ack
    ip = IPv6(src=src, dst=dst) if v6 else IP(src=src, dst=dst)
    probes = [
        ('null', TCP(sport=sport, dport=port, flags=0, seq=snd, ack=rcv, window=512)),
        ('synfin', TCP(sport=sport, dport=port, flags='SF', seq=snd, ack=rcv, window=512)),
        ('rst_oow', oow_rst(sport, port, snd)),
    ]
    rc = 0
    for name, seg in probes:
        send(ip / seg)
        time.sleep(0.2)
        try:
            ok = echo(b'after %s\n' % name.encode())
        except OSError as e:
            ok = False
            print('%s: %s' % (name, e))
        print('%s %s' % (name, 'alive' if ok else 'broken'))
        if not ok:
            rc = 1
    s.close()
    return rc


# --- UDP --------------------------------------------------------------------

def udpflow(host, port, sport, tries=3, payload=None):
    # a request/response; TRIES requests 1 s apart, "request I" each unless
    # a fixed PAYLOAD; 0 at the first matching answer
    s = socket.socket(fam(host), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((anyaddr(host), sport))
    s.settimeout(1)
    for i in range(tries):
        msg = payload if payload is not None else b'request %d' % i
        s.sendto(msg, (host, port))
        try:
            if s.recv(100) == msg:
                return 0
        except socket.timeout:
            # e2e_ha_asym.sh counts these lines
            say('udpflow %d: no reply within 1 s' % sport)
    return 1


def udprefused(host, port, sport):
    s = socket.socket(fam(host), socket.SOCK_DGRAM)
    s.bind((anyaddr(host), sport))
    s.connect((host, port))
    s.settimeout(2)
    s.send(b'anyone?')
    try:
        s.recv(100)
    except ConnectionRefusedError:
        return 0
    except socket.timeout:
        say('udprefused: timeout, no ICMP error arrived')
        return 1
    return 1


def udplater(host, port, sport, secs, ready):
    # a flow confirmed by one echo, then a request whose answer the server
    # sends SECS seconds later: after the failover, from outside, to a flow
    # only the synchronised table knows. READY is written once it is sent.
    s = socket.socket(fam(host), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((anyaddr(host), sport))
    s.settimeout(1)
    for i in range(5):
        s.sendto(b'hello %d' % i, (host, port))
        try:
            if s.recv(100) == b'hello %d' % i:
                break
        except socket.timeout:
            pass
    else:
        say('udplater: no echo')
        return 2
    msg = b'later %.1f from %d' % (secs, sport)
    s.sendto(msg, (host, port))
    open(ready, 'w').write('sent\n')
    s.settimeout(secs + 5)
    try:
        if s.recv(100) == msg:
            return 0
        return 1
    except socket.timeout:
        say('udplater: no answer within %.1f s' % (secs + 5))
        return 4
    except ConnectionRefusedError:
        say('udplater: refused (an ICMP error came back)')
        return 3


# --- connection setup -------------------------------------------------------

def connects(host, port, timeout=2):
    try:
        tcp(host, port, timeout=timeout).close()
        return 0
    except OSError as e:
        say('connect: %s' % e)
        return 1


def refused(host, port):
    # a RST must come back, and fast (a dropped SYN would time out)
    t = time.time()
    try:
        tcp(host, port, timeout=4).close()
        say('refused: connected')
        return 1
    except ConnectionRefusedError:
        dt = time.time() - t
        if dt > 1.5:
            say('refused: took %.1f s' % dt)
            return 1
        return 0
    except OSError as e:
        say('refused: %s' % e)
        return 1


def conns(host, port, count, threads):
    # count short connections (connect, close), threads at a time; prints
    # "count failed seconds"
    errs = []

    def one(k):
        for i in range(k, count, threads):
            try:
                tcp(host, port, timeout=5).close()
            except OSError as e:
                errs.append(str(e))
    t0 = time.time()
    together(one, [(k,) for k in range(threads)])
    dt = time.time() - t0
    print('%d %d %.2f' % (count, len(errs), dt))
    return 0 if not errs else 1


def opens(host, port, count, timeout):
    # count connections one after another, each given timeout s to open;
    # prints "opened failed p50_ms max_ms" (times of the opened ones). A
    # dropped SYN or SYN/ACK costs the 1 s retransmission timeout.
    ok, ts = 0, []
    for i in range(count):
        t0 = time.monotonic()
        try:
            tcp(host, port, timeout=timeout).close()
            ts.append((time.monotonic() - t0) * 1000)
            ok += 1
        except OSError:
            pass
    ts.sort()
    print('%d %d %.1f %.1f' % (ok, count - ok, ts[len(ts) // 2] if ts else -1,
                               ts[-1] if ts else -1))
    return 0


def rate(host, port, secs, threads):
    # connect-and-close for secs s, threads at a time; prints
    # "opened failed connections_per_s"
    okc, errs = [0] * threads, [0] * threads
    end = time.monotonic() + secs

    def one(k):
        while time.monotonic() < end:
            try:
                tcp(host, port, timeout=3).close()
                okc[k] += 1
            except OSError:
                errs[k] += 1
    t0 = time.monotonic()
    together(one, [(k,) for k in range(threads)])
    dt = time.monotonic() - t0
    print('%d %d %.1f' % (sum(okc), sum(errs), sum(okc) / dt))
    return 0


# --- the control socket -----------------------------------------------------

def ctlraw(path, payload, expect_reply):
    # send raw bytes; succeed when the daemon answers with an error or
    # closes the socket (never "ok")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    try:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        got = readall(s)
    except (ConnectionResetError, BrokenPipeError):
        got = b''
    s.close()
    say(repr(got[:80]))
    if got[4:7] == b'ok\n':
        return 1
    if expect_reply and b'error' not in got:
        return 1
    return 0


def trickle(path):
    # announce 16 bytes, then send one every 0.4 s: the daemon must hang
    # up once its time budget for the request (0.5 s) is spent
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(b'\x00\x00\x00\x10')
    t = time.time()
    for i in range(16):
        time.sleep(0.4)
        try:
            s.send(b's')
            s.setblocking(False)
            if s.recv(100) == b'':
                break
        except BlockingIOError:
            pass
        except OSError:
            break
        finally:
            s.setblocking(True)
    else:
        say('trickle: never hung up')
        return 1
    dt = time.time() - t
    if dt > 3.5:
        say('trickle: hung up after %.1f s' % dt)
        return 1
    return 0


def jsonlines(path):
    # "ctguard connections --json": one object a line with the tuple keys
    n = 0
    for line in open(path):
        o = json.loads(line)
        for k in ('id', 'proto', 'src', 'sport', 'dst', 'dport', 'state'):
            if k not in o:
                say('json: no %s in %s' % (k, line))
                return 1
        n += 1
    return 0 if n else 1


# --- command line -----------------------------------------------------------

def main(argv):
    ap = argparse.ArgumentParser(prog='traffic.py', description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)

    def cmd(name, fn, *args, **opts):
        # args: (name, type) positionals; opts: name -> (type, default)
        p = sub.add_parser(name, help=(fn.__doc__ or '').strip() or None)
        for a, t in args:
            if a.endswith('...'):
                p.add_argument(a[:-3], type=t, nargs='+')
            elif a.endswith('?'):
                p.add_argument(a[:-1], type=t, nargs='?', default=0)
            else:
                p.add_argument(a, type=t)
        for o, (t, d) in opts.items():
            p.add_argument('--' + o, type=t, default=d)
        p.set_defaults(fn=fn, pos=[a.rstrip('.?') for a, _ in args], opt=list(opts))
        return p

    hexbytes = bytes.fromhex
    cmd('serve', lambda port, backlog, timeout: serve(port, backlog, timeout),
        ('port...', int), backlog=(int, 256), timeout=(float, 60))
    cmd('listen', lambda port: serve([port]), ('port', int))
    cmd('udpecho', udpecho, ('port', int))
    cmd('put', put, ('host', str), ('port', int), ('n', int), seed=(int, None),
        sport=(int, 0), src=(str, None), chunk=(int, 0), delay=(float, 0.0),
        timeout=(float, 10))
    cmd('get', get, ('host', str), ('port', int), ('n', int), ('seed', int),
        ('sport?', int), timeout=(float, 5))
    cmd('sget', sget, ('host', str), ('port', int), ('n', int), ('seed', int),
        ('sport', int), ('chunk', int), ('delay', float), timeout=(float, 15))
    cmd('parallel', parallel, ('host', str), ('port', int), ('count', int),
        ('first', int), ('naddr', int))
    cmd('hold', hold, ('host', str), ('port', int), ('sport', int),
        ('secs', float), ('log', str))
    cmd('idle', idle, ('host', str), ('port', int), ('sport', int),
        ('trig', str), ('secs', float), ('log', str))
    cmd('rstinject', rstinject, ('cli', str), ('cport', int), ('sport', int),
        ('trig', str), ('log', str))
    cmd('invalid', invalid, ('src', str), ('dst', str), ('port', int), ('sport', int))
    cmd('udpflow', udpflow, ('host', str), ('port', int), ('sport', int),
        tries=(int, 3), payload=(str.encode, None))
    cmd('udprefused', udprefused, ('host', str), ('port', int), ('sport', int))
    cmd('udplater', udplater, ('host', str), ('port', int), ('sport', int),
        ('secs', float), ('ready', str))
    cmd('connects', connects, ('host', str), ('port', int), timeout=(float, 2))
    cmd('refused', refused, ('host', str), ('port', int))
    cmd('conns', conns, ('host', str), ('port', int), ('count', int), ('threads', int))
    cmd('opens', opens, ('host', str), ('port', int), ('count', int), ('timeout', float))
    cmd('rate', rate, ('host', str), ('port', int), ('secs', float), ('threads', int))
    cmd('ctlraw', lambda path, payload, expect: ctlraw(path, payload, expect == '1'),
        ('path', str), ('payload', hexbytes), ('expect', str))
    cmd('trickle', trickle, ('path', str))
    cmd('jsonlines', jsonlines, ('path', str))

    a = ap.parse_args(argv)
    kw = {k: getattr(a, k) for k in a.pos + a.opt}
    rc = a.fn(**kw)
    return 2 if rc is None else rc


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
