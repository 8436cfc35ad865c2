#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Malicious and odd traffic for the ctguard demo, sent from the client
namespace toward the server (203.0.113.2). Each probe is one packet that a
stateful firewall must refuse; nothing here leaves the demo's namespaces."""
import socket
import sqlite3
import sys
import time

from scapy.all import IP, TCP, UDP, ICMP, send, conf  # noqa: E402

conf.verb = 0
SRV = sys.argv[1] if len(sys.argv) > 1 else "203.0.113.2"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 8080
DB = sys.argv[3] if len(sys.argv) > 3 else None
last_id = 0


def verdicts_after(row_id):
    """Rows the audit writer has committed since row_id (read-only)."""
    con = sqlite3.connect(f"file:{DB}?mode=ro", uri=True, timeout=2)
    try:
        return con.execute(
            "SELECT id, verdict, reason, coalesce(rule, '-'), src, sport, dst, dport, tcp_flags"
            " FROM verdicts WHERE id > ? ORDER BY id", (row_id,)).fetchall()
    finally:
        con.close()


def show_verdicts():
    """Print this step's verdicts under its label. The writer commits in
    batches, so wait (bounded) until rows arrive and then stay quiet for a
    moment: otherwise a step's verdicts would print under the next label."""
    global last_id
    if not DB:
        time.sleep(0.2)
        return
    rows, deadline, quiet_since = [], time.monotonic() + 3.0, None
    while time.monotonic() < deadline:
        new = verdicts_after(rows[-1][0] if rows else last_id)
        if new:
            rows += new
            quiet_since = time.monotonic()
        elif rows and time.monotonic() - quiet_since > 0.4:
            break
        time.sleep(0.1)
    for r in rows:
        print(f"       {r[1]:<7} {r[2]:<24} rule {r[3]:<16} {r[4]}:{r[5]} -> {r[6]}:{r[7]} {r[8] or ''}")
    if not rows:
        print("       (no verdict logged)")
    else:
        last_id = rows[-1][0]


def probe(label, pkt):
    print(f"  -> {label}")
    send(pkt)
    show_verdicts()


# A live connection, so that in-connection attacks have a target.
if DB:
    rows = verdicts_after(0)
    last_id = rows[-1][0] if rows else 0
print("  -> a live connection (the target of the in-connection attacks below)")
s = socket.create_connection((SRV, PORT), timeout=3)
sport = s.getsockname()[1]
s.sendall(b"GET / HTTP/1.0\r\n\r\n")
show_verdicts()

probe("NULL scan (no flags)", IP(dst=SRV) / TCP(sport=40001, dport=PORT, flags=""))
probe("Xmas scan (FIN PSH URG)", IP(dst=SRV) / TCP(sport=40002, dport=PORT, flags="FPU"))
probe("SYN+FIN", IP(dst=SRV) / TCP(sport=40003, dport=PORT, flags="SF"))
probe("ACK with no connection (an ACK scan; with midstream = \"loose\", the default, an "
      "inside host's stray ACK is picked up as NEW, \"strict\" would drop it)", IP(dst=SRV) / TCP(sport=40004, dport=PORT, flags="A",
      seq=1000, ack=2000))
probe("blind RST injected into the live connection, far outside the window",
      IP(dst=SRV) / TCP(sport=sport, dport=PORT, flags="R", seq=0x12345678))
probe("blind data injection into the live connection (guessed seq and ack)",
      IP(dst=SRV) / TCP(sport=sport, dport=PORT, flags="PA", seq=0x7fff0000, ack=1) / (b"x" * 40))
probe("ICMP port-unreachable about a connection that does not exist",
      IP(dst=SRV) / ICMP(type=3, code=3) / IP(src=SRV, dst="198.51.100.2") /
      UDP(sport=53, dport=33333))
probe("ICMP echo reply nobody asked for", IP(dst=SRV) / ICMP(type=0, id=4242))
s.close()
