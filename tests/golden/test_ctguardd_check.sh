#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# ctguardd -t (configuration and rules check, like nginx -t) and the error
# paths of offline replay: damaged captures, unsupported link types.
set -u
srcdir=${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${builddir:-.}
d=$builddir/ctguardd
tmp=$(mktemp -d /tmp/ctg-check.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; fails=$((fails + 1)); }

[ -x "$d" ] || { echo "not ok - ctguardd not built at $d"; exit 1; }

# The shipped configuration with each shipped ruleset.
for r in default stateful-only host example; do
	if "$d" -t -c "$srcdir/packaging/ctguard.conf" -R "$srcdir/rules/$r.rules" 2>"$tmp/err"; then
		ok "ctguardd -t accepts packaging/ctguard.conf with rules/$r.rules"
	else
		nok "ctguardd -t rejects rules/$r.rules: $(cat "$tmp/err")"
	fi
done

# -t -v prints the configuration and the ruleset canonically.
"$d" -t -v -c "$srcdir/packaging/ctguard.conf" -R "$srcdir/rules/default.rules" >"$tmp/out" 2>/dev/null
if grep -q 'midstream = "loose"' "$tmp/out" && grep -q 'drop-invalid' "$tmp/out" &&
    grep -q '198.51.100.0/24' "$tmp/out"; then
	ok "ctguardd -t -v prints settings, rules and expanded sets"
else
	nok "ctguardd -t -v output incomplete"
fi

# The canonical configuration print loads again, unchanged.
sed -n '1,/^$/p' "$tmp/out" >"$tmp/canon.conf"
if "$d" -t -v -c "$tmp/canon.conf" -R "$srcdir/rules/default.rules" >"$tmp/out2" 2>/dev/null &&
    diff -q <(sed -n '1,/^$/p' "$tmp/out2") "$tmp/canon.conf" >/dev/null; then
	ok "canonical configuration print round-trips"
else
	nok "canonical configuration print does not round-trip"
fi

# A broken configuration: exit 1 and FILE:LINE: naming the setting.
printf 'queue = {\n  count = "two";\n};\n' >"$tmp/bad.conf"
if "$d" -t -c "$tmp/bad.conf" -R "$srcdir/rules/default.rules" 2>"$tmp/err"; then
	nok "ctguardd -t accepted a wrong type"
elif grep -q "bad.conf:2: setting 'queue.count'" "$tmp/err"; then
	ok "wrong type reported as FILE:LINE: with the setting name"
else
	nok "wrong type message: $(cat "$tmp/err")"
fi

printf 'tracker = { no_such_thing = 1; };\n' >"$tmp/unknown.conf"
if ! "$d" -t -c "$tmp/unknown.conf" -R "$srcdir/rules/default.rules" 2>"$tmp/err" &&
    grep -q "unknown.conf:1: unknown setting 'tracker.no_such_thing'" "$tmp/err"; then
	ok "unknown setting reported with FILE:LINE:"
else
	nok "unknown setting message: $(cat "$tmp/err")"
fi

# A broken rule file: exit 1 and FILE:LINE:.
printf 'rules = (\n  { name = "x"; action = "accept"; src = [ "10.0.0.300/8" ]; }\n);\n' >"$tmp/bad.rules"
if ! "$d" -t -c "$srcdir/packaging/ctguard.conf" -R "$tmp/bad.rules" 2>"$tmp/err" &&
    grep -q "bad.rules:2:" "$tmp/err"; then
	ok "bad CIDR in a rule file reported with FILE:LINE:"
else
	nok "bad rule file message: $(cat "$tmp/err")"
fi

# Missing configuration file given with -c.
if ! "$d" -t -c "$tmp/none.conf" 2>"$tmp/err" && grep -q "none.conf" "$tmp/err"; then
	ok "missing configuration named in the error"
else
	nok "missing configuration: $(cat "$tmp/err")"
fi

# Replay error paths need a capture: write pcaps by hand (no tools needed).
python3 - "$tmp" <<'PY'
import struct, sys
d = sys.argv[1]
def pcap(path, linktype, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, linktype))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1000 + i, 0, len(fr), len(fr)))
            f.write(fr)
# an IPv4 TCP SYN 198.51.100.2:1000 -> 203.0.113.2:80 (checksums not verified by default)
ip = bytes.fromhex("450000280001000040060000c6336402cb007102")
tcp = struct.pack(">HHIIBBHHH", 1000, 80, 1, 0, 0x50, 0x02, 65535, 0, 0)
syn = ip + tcp
pcap(d + "/raw.pcap", 101, [syn, syn])
# a capture cut in the middle of the second record
with open(d + "/raw.pcap", "rb") as f:
    data = f.read()
open(d + "/cut.pcap", "wb").write(data[:-10])
# an unsupported link type (IEEE 802.11 = 105)
pcap(d + "/wifi.pcap", 105, [b"\x00" * 30])
# an Ethernet frame that is ARP, then one cut inside the Ethernet header
pcap(d + "/eth.pcap", 1, [b"\xff" * 12 + b"\x08\x06" + b"\x00" * 28, b"\x00" * 10])
# the same SYN behind every link layer a reader must peel
mac = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02"
links = {
    "vlan": (1, mac + b"\x81\x00\x00\x0a\x08\x00"),
    "qinq": (1, mac + b"\x88\xa8\x00\x64\x81\x00\x00\x0a\x08\x00"),
    "sll": (113, struct.pack(">HHH8sH", 0, 1, 6, b"\x02" * 8, 0x0800)),
    "sll2": (276, struct.pack(">HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, b"\x02" * 8)),
    "null": (0, struct.pack("<I", 2)),
    "loop": (108, struct.pack(">I", 2)),
}
for name, (lt, hdr) in links.items():
    pcap(d + "/" + name + ".pcap", lt, [hdr + syn])
# an IPv6 SYN on DLT_RAW
ip6 = bytes.fromhex("6000000000140640") + bytes.fromhex("20010db8000100000000000000000002") + \
    bytes.fromhex("20010db8000200000000000000000002")
pcap(d + "/raw6.pcap", 101, [ip6 + tcp])
PY

for l in vlan qinq sll sll2 null loop raw6; do
	"$d" -r "$tmp/$l.pcap" -c "$srcdir/packaging/ctguard.conf" -R "$srcdir/rules/default.rules" \
	    --verdicts >"$tmp/out" 2>"$tmp/err"
	if [ "$(cut -f1,2,3,4,6,7 "$tmp/out")" = "$(printf '1\taccept\tnew\tSYN_SENT\tnone\tinside-out')" ]; then
		ok "link layer $l: the SYN inside is found and tracked"
	else
		nok "link layer $l: $(cat "$tmp/out" "$tmp/err")"
	fi
done

if "$d" -r "$tmp/raw.pcap" -c "$srcdir/packaging/ctguard.conf" -R "$srcdir/rules/default.rules" \
    --verdicts >"$tmp/out" 2>"$tmp/err" &&
    [ "$(cut -f1,2,3,6,7 "$tmp/out" | head -n1)" = "$(printf '1\taccept\tnew\tnone\tinside-out')" ] &&
    [ "$(cut -f1,2,3,6 "$tmp/out" | sed -n 2p)" = "$(printf '2\taccept\tnew\ttcp_syn_retransmit')" ]; then
	ok "raw-IP capture replays: SYN new/inside-out, then its retransmission"
else
	nok "raw-IP replay: $(cat "$tmp/out" "$tmp/err")"
fi
if grep -q "packets per second" "$tmp/err"; then
	ok "replay summary on stderr"
else
	nok "replay summary missing"
fi

if "$d" -r "$tmp/cut.pcap" -c "$srcdir/packaging/ctguard.conf" -R "$srcdir/rules/default.rules" \
    >"$tmp/out" 2>"$tmp/err"; then
	nok "truncated capture accepted silently"
elif grep -q "frame 2" "$tmp/err" && grep -q "1 frames processed" "$tmp/err"; then
	ok "truncated capture: error names the frame and what was processed"
else
	nok "truncated capture message: $(cat "$tmp/err")"
fi

# A long capture read in many batches by replay's reader thread: 5000 UDP
# frames of every size up to 64 KiB, each with a UDP checksum that is right
# or (every 7th) wrong, the file cut inside frame 5000. With checksums
# verified, every frame must arrive whole and in order.
python3 - "$tmp" <<'PY'
import struct, sys
d = sys.argv[1]
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s
src, dst = bytes([198, 51, 100, 2]), bytes([203, 0, 113, 2])
with open(d + "/long.pcap", "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101))
    for i in range(5000):
        plen = 60000 if i % 1000 == 999 else (i * 37) % 1400
        payload = bytes((i + k) & 0xff for k in range(plen))
        sport = 1000 + i % 50
        ulen = 8 + plen
        pseudo = src + dst + struct.pack("!BBH", 0, 17, ulen)
        u = struct.pack("!HHHH", sport, 53, ulen, 0) + payload
        c = 0xffff - csum(pseudo + u)
        if c == 0:
            c = 0xffff
        if i % 7 == 3:
            c ^= 0x0100
        u = u[:6] + struct.pack("!H", c) + u[8:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, i & 0xffff, 0, 64, 17, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", 0xffff - csum(ip)) + ip[12:]
        fr = ip + u
        f.write(struct.pack("<IIII", 1000 + i // 100, (i % 100) * 10000, len(fr), len(fr)))
        f.write(fr if i < 4999 else fr[:len(fr) // 2])
PY
sed 's/verify_checksums = false/verify_checksums = true/' "$srcdir/packaging/ctguard.conf" >"$tmp/csum.conf"
if "$d" -r "$tmp/long.pcap" -c "$tmp/csum.conf" -R "$srcdir/rules/stateful-only.rules" \
    --verdicts >"$tmp/out" 2>"$tmp/err"; then
	nok "long truncated capture accepted silently"
elif ! grep -q "damaged capture at frame 5000:.*(4999 frames processed)" "$tmp/err"; then
	nok "long truncated capture message: $(cat "$tmp/err")"
elif [ "$(cut -f1 "$tmp/out" | awk '$1 != NR { bad++ } END { print NR, bad + 0 }')" != "4999 0" ]; then
	nok "long capture: verdict lines not 1..4999 in order"
elif [ "$(awk -F'\t' '(($1 - 1) % 7 == 3) != ($6 == "udp_bad_checksum") { bad++ } END { print bad + 0 }' "$tmp/out")" != 0 ]; then
	nok "long capture: checksum verdicts wrong: $(awk -F'\t' '(($1 - 1) % 7 == 3) != ($6 == "udp_bad_checksum")' "$tmp/out" | head -3)"
else
	ok "long capture (many read batches, frames up to 60 KB): 4999 frames whole and in order, cut named"
fi

if ! "$d" -r "$tmp/wifi.pcap" -c "$srcdir/packaging/ctguard.conf" -R "$srcdir/rules/default.rules" \
    2>"$tmp/err" && grep -q "unsupported link type" "$tmp/err"; then
	ok "unsupported link type named"
else
	nok "unsupported link type: $(cat "$tmp/err")"
fi

"$d" -r "$tmp/eth.pcap" -c "$srcdir/packaging/ctguard.conf" -R "$srcdir/rules/default.rules" \
    --verdicts >"$tmp/out" 2>/dev/null
if [ "$(cut -f1,6 "$tmp/out" | tr '\n' ' ')" = "$(printf '1\tnot_ip 2\tlink_truncated ')" ]; then
	ok "frames without IP still get a line with the reason"
else
	nok "non-IP frames: $(cat "$tmp/out")"
fi

if cat "$tmp/raw.pcap" | "$d" -r - -c "$srcdir/packaging/ctguard.conf" \
    -R "$srcdir/rules/default.rules" --verdicts >"$tmp/out" 2>"$tmp/err" &&
    [ "$(cut -f1,2,3,6 "$tmp/out" | tr '\n' ' ')" = "$(printf '1\taccept\tnew\tnone 2\taccept\tnew\ttcp_syn_retransmit ')" ]; then
	ok "-r - reads the capture from standard input"
else
	nok "-r -: $(cat "$tmp/out" "$tmp/err")"
fi

if [ -e /nonexistent.pcap ] || ! "$d" -r /nonexistent.pcap -R "$srcdir/rules/default.rules" 2>"$tmp/err"; then
	ok "missing capture is an error"
else
	nok "missing capture accepted"
fi

[ $fails -eq 0 ]
