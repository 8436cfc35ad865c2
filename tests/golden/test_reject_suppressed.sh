#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# After a restart the table is empty (or a checkpoint behind): the first
# segments of live connections look new. A rule's reject must not answer
# them with a RST (it would cut a real connection): it becomes a silent
# drop with reason reject_suppressed. A plain SYN is still rejected.
# Replayed through ctguardd -r: no namespaces needed.
set -u
srcdir=${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${builddir:-$PWD}
d=$builddir/ctguardd
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; fails=$((fails + 1)); }

python3 - "$tmp" <<'PY'
import struct, sys
d = sys.argv[1]
def pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1000 + i, 0, len(fr), len(fr)))
            f.write(fr)
def ip4(src, dst, payload):
    return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, 6, 0,
                       bytes(src), bytes(dst)) + payload
def tcp(sport, dport, seq, ack, flags):
    return struct.pack(">HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 65535, 0, 0)
inside, outside = [198, 51, 100, 2], [203, 0, 113, 2]
frames = [
    # 1: a server pushing data to an inside client (its SYN was before the restart)
    ip4(outside, inside, tcp(80, 40000, 5000, 7000, 0x10)),
    # 2: a SYN/ACK answering an inside client's SYN the table never saw
    ip4(outside, inside, tcp(443, 40001, 9000, 3001, 0x12)),
    # 3: a plain SYN from outside to a closed inside port: still rejected
    ip4(outside, inside, tcp(1234, 3389, 100, 0, 0x02)),
]
pcap(d + "/in.pcap", frames)
PY

sed -e 's|midstream = "loose"|midstream = "strict"|' "$srcdir/packaging/ctguard.conf" >"$tmp/strict.conf"
grep -q 'midstream = "strict"' "$tmp/strict.conf" || nok "could not make a strict configuration"
cat >"$tmp/reject-all.rules" <<'R'
default_policy = "drop";
rules = ( { name = "reject-all"; action = "reject"; } );
R

check() {
	# check NAME CONF RULES EXPECTED-lines(frame verdict reason rule)
	local name=$1 conf=$2 rules=$3 want=$4
	if "$d" -r "$tmp/in.pcap" -c "$conf" -R "$rules" --verdicts >"$tmp/out" 2>"$tmp/err"; then
		got=$(cut -f1,2,6,7 "$tmp/out")
		if [ "$got" = "$want" ]; then
			ok "$name"
		else
			nok "$name: got $(tr '\n\t' '| ' <<<"$got") want $(tr '\n\t' '| ' <<<"$want")"
		fi
	else
		nok "$name: replay failed: $(cat "$tmp/err")"
	fi
}

check "loose, default rules: pick-ups from outside dropped silently, SYN rejected" \
    "$srcdir/packaging/ctguard.conf" "$srcdir/rules/default.rules" \
    "$(printf '1\tdrop\treject_suppressed\treject-inbound\n2\tdrop\treject_suppressed\treject-inbound\n3\treject\tnone\treject-inbound')"
check "strict, a ruleset that rejects everything: no RST for segments of unknown connections" \
    "$tmp/strict.conf" "$tmp/reject-all.rules" \
    "$(printf '1\tdrop\treject_suppressed\treject-all\n2\tdrop\treject_suppressed\treject-all\n3\treject\tnone\treject-all')"
[ "$fails" -eq 0 ]
