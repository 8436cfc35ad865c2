#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Make a large replay input from a small IPv4 capture (issue 8).

loop-pcap.py IN OUT COPIES

Writes COPIES copies of IN, each with both IPv4 addresses of every packet
XORed with the copy number in their last two octets (so every copy is a
distinct set of connections; the IPv4 header checksum is recomputed) and
shifted by the copy number in milliseconds, merged in time order. Classic
pcap in, classic pcap out (same link type); non-IPv4 frames are copied as
they are.
"""
import struct
import sys


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def main():
    src, dst, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
    data = open(src, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic == 0xA1B2C3D4:
        e, nano = "<", False
    elif magic == 0xD4C3B2A1:
        e, nano = ">", False
    elif magic == 0xA1B23C4D:
        e, nano = "<", True
    else:
        sys.exit("loop-pcap: %s: not a classic pcap file" % src)
    linktype = struct.unpack(e + "I", data[20:24])[0]
    off = {1: 14, 101: 0, 228: 0}.get(linktype)
    if off is None:
        sys.exit("loop-pcap: link type %d not handled" % linktype)
    pkts = []
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(e + "IIII", data[pos:pos + 16])
        us = sec * 1000000 + (frac // 1000 if nano else frac)
        pkts.append((us, orig, data[pos + 16:pos + 16 + incl]))
        pos += 16 + incl
    order = sorted((us + k * 1000, k, i) for k in range(copies)
                   for i, (us, _, _) in enumerate(pkts))
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)]
    for ts, k, i in order:
        _, orig, frame = pkts[i]
        ip = off
        if (len(frame) >= ip + 20 and frame[ip] >> 4 == 4 and
                (off == 0 or frame[12:14] == b"\x08\x00")):
            f = bytearray(frame)
            ihl = (f[ip] & 15) * 4
            x = struct.pack("!H", k & 0xFFFF)
            for a in (ip + 14, ip + 18):
                f[a] ^= x[0]
                f[a + 1] ^= x[1]
            f[ip + 10:ip + 12] = b"\0\0"
            f[ip + 10:ip + 12] = struct.pack("!H", csum(bytes(f[ip:ip + ihl])))
            frame = bytes(f)
        out.append(struct.pack("<IIII", ts // 1000000, ts % 1000000,
                               len(frame), orig))
        out.append(frame)
    open(dst, "wb").write(b"".join(out))
    print("loop-pcap: %d packets (%d x %d)" % (len(order), copies, len(pkts)))


if __name__ == "__main__":
    main()
