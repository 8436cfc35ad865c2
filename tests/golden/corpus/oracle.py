#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Compare ctguard's connection summaries with Zeek's independent baselines.

usage: oracle.py MANIFEST DIFFERENCES CONNDIR

MANIFEST is the corpus's MANIFEST.tsv; its expected_outcome column is the
prose of Zeek's own test baselines. From that text alone this parser takes
the claims Zeek makes about connections: conn_state, history, originator
and responder packet counts, and how many connections there are. CONNDIR
holds NAME.conn for every capture: ctguardd -r NAME --connections output.
Nothing here reads ctguard's golden files (tests/golden/corpus/expected/).

Each claim is compared with the ctguard connection it is about. Every
difference must be listed in DIFFERENCES (tests/golden/corpus/oracle-differences.tsv:
file, field, zeek, ctguard, why) and every listed difference must still
occur. Captures whose baseline states none of these fields are listed there
with field "(none)"; the list fails when the manifest starts stating one.
Prints TAP-style "ok - " / "not ok - " lines; exits 1 on any "not ok".
"""

import ipaddress
import os
import re
import sys

# Zeek's conn_state vocabulary (base/protocols/conn/main.zeek).
STATES = "S0|S1|S2|S3|SF|REJ|RSTO|RSTR|RSTOS0|RSTRH|SH|SHR|OTH"
PAIR = re.compile(r"\b(" + STATES + r")\s+'([^']*)'")
CONN_STATE = re.compile(r"\bconn_state\s+(" + STATES + r")\b")
HISTORY = re.compile(r"\b(final\s+)?history\s+'([^']*)'")
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4}
COUNT = re.compile(r"\b(one|two|three|four|\d+)\s+(?:separate\s+)?(?:ICMP\s+|TCP\s+|UDP\s+)?conns?\b")
PORTS = re.compile(r"\b(\d+(?:/\d+)*)->(\d+)\b")
PROTO = re.compile(r"\b(TCP|UDP|ICMP)\b")
PROTO_NUM = {"TCP": "6", "UDP": "17", "ICMP": "1"}
PKT_PATTERNS = [
    # "11/10 pkts", "17/22 pkts"
    (re.compile(r"\b(\d+)/(\d+)\s+pkts\b"), "both"),
    # "orig_pkts 0, resp_pkts 3"
    (re.compile(r"\borig_pkts\s+(\d+)"), "orig"),
    (re.compile(r"\bresp_pkts\s+(\d+)"), "resp"),
    # "orig endpoint state=5 (CLOSED) num_pkts 3", "orig [size=175, state=1, num_pkts=4]"
    (re.compile(r"\borig\b(?:(?!\bresp\b)[^;])*?\bnum_pkts[= ](\d+)"), "orig"),
    (re.compile(r"\bresp\b(?:(?!\borig\b)[^;])*?\bnum_pkts[= ](\d+)"), "resp"),
    # "orig 8 pkts/320 B, resp 8 pkts/370 B"
    (re.compile(r"\borig\s+(\d+)\s+pkts\b"), "orig"),
    (re.compile(r"\bresp\s+(\d+)\s+pkts\b"), "resp"),
    # "2 echo_request + 2 echo_reply events on one ICMP conn"
    (re.compile(r"\b(\d+)\s+echo_request\s*\+\s*(\d+)\s+echo_reply\b"), "both"),
]


def parse_outcome(text):
    """Claims of one expected_outcome: a list of selector dicts, each with
    the expected connections it is about ("conns": list of field dicts) and,
    if the text says how many, "count"."""
    # Drop the "zeek Baseline NAME:" header; a clause opening with "with"
    # is a non-default Zeek configuration (e.g. "with timers limited"):
    # ctguard is compared with Zeek as it ships.
    body = text.split(":", 1)[1] if ":" in text else text
    claims = []
    for clause in body.split(";"):
        clause = clause.strip()
        if not clause or clause.startswith("with "):
            continue
        fields = {}
        pairs = PAIR.findall(clause)
        m = CONN_STATE.search(clause)
        if m:
            fields["conn_state"] = m.group(1)
        hist = HISTORY.findall(clause)
        if hist:
            finals = [h for f, h in hist if f]
            # the history as the connection ended: "final history", else the last one
            fields["history"] = finals[-1] if finals else hist[-1][1]
        for rx, side in PKT_PATTERNS:
            m = rx.search(clause)
            if not m:
                continue
            if side == "both":
                fields.setdefault("orig_pkts", m.group(1))
                fields.setdefault("resp_pkts", m.group(2))
            else:
                fields.setdefault(side + "_pkts", m.group(1))
        if pairs and not hist and "conn_state" not in fields:
            # "OTH 'Da' then OTH 'D'": one expected connection per pair
            conns = [dict(fields, conn_state=s, history=h) for s, h in pairs]
        elif fields:
            conns = [fields]
        else:
            conns = []
        count = None
        m = COUNT.search(clause)
        if m:
            w = m.group(1)
            count = int(w) if w.isdigit() else NUMBERS[w]
        if not conns and count is None:
            continue
        sel = {"conns": conns, "count": count}
        m = PROTO.search(clause)
        if m:
            sel["proto"] = PROTO_NUM[m.group(1)]
        m = PORTS.search(clause)
        if m:
            sel["sports"] = m.group(1).split("/")
            sel["dport"] = m.group(2)
        elif re.search(r"\bDNS\b", clause):
            sel["dport"] = "53"
            sel["kw"] = "DNS"
        elif re.search(r"\bmulticast\b|\bbroadcast\b", clause):
            sel["group"] = True
            sel["kw"] = "multicast/broadcast"
        if "each" in clause.split() and count and len(conns) == 1:
            conns = conns * count
            sel["conns"] = conns
        claims.append(sel)
    return claims


def read_conns(path):
    conns = []
    with open(path) as f:
        for line in f:
            c = line.rstrip("\n").split("\t")
            if len(c) < 14 or c[0] != "conn":
                continue
            conns.append({"id": int(c[1]), "proto": c[2], "src": c[3], "sport": c[4],
                          "dst": c[5], "dport": c[6], "conn_state": c[7],
                          "history": c[8], "orig_pkts": c[12], "resp_pkts": c[13]})
    # creation order: ids count up from the first packet's wall clock
    conns.sort(key=lambda c: c["id"])
    return conns


def is_group(addr):
    a = ipaddress.ip_address(addr)
    return a.is_multicast or (a.version == 4 and addr.endswith(".255"))


PROTO_NAME = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmp6"}


def label(c):
    return "%s:[%s]:%s->[%s]:%s" % (PROTO_NAME.get(c["proto"], c["proto"]), c["src"],
                                    c["sport"], c["dst"], c["dport"])


def compare(claims, conns):
    """(field, zeek, ctguard) for every claim; equal values included."""
    out = []
    for sel in claims:
        pool = [c for c in conns if "proto" not in sel or c["proto"] == sel["proto"]]
        if "sports" in sel:
            for i, sport in enumerate(sel["sports"]):
                want = sel["conns"][0] if sel["conns"] else {}
                name = "%s:%s->%s" % (PROTO_NAME.get(sel.get("proto"), "any"),
                                      sport, sel["dport"])
                got = [c for c in pool if c["sport"] == sport and c["dport"] == sel["dport"]]
                out.append((name + ".conns", "1", str(len(got))))
                if got:
                    for k, v in want.items():
                        out.append((name + "." + k, v, got[0][k]))
            continue
        if "kw" in sel:
            if "dport" in sel:
                got = [c for c in pool if c["dport"] == sel["dport"]]
            else:
                got = [c for c in pool if is_group(c["dst"])]
            want = sel["conns"][0] if sel["conns"] else {}
            out.append(("%s.conns" % sel["kw"], "at least 1", "at least 1" if got else "0"))
            for c in got:
                for k, v in want.items():
                    out.append(("%s %s.%s" % (sel["kw"], label(c), k), v, c[k]))
            continue
        n = sel["count"] if sel["count"] is not None else len(sel["conns"])
        out.append(("conns", str(n), str(len(pool))))
        for i, (want, c) in enumerate(zip(sel["conns"], pool)):
            name = "conn" if n == 1 else "conn%d" % (i + 1)
            for k, v in want.items():
                out.append(("%s.%s" % (name, k), v, c[k]))
    return out


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    manifest, diffs_path, conndir = sys.argv[1:]
    listed = {}
    with open(diffs_path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            c = line.rstrip("\n").split("\t")
            if len(c) != 5 or not c[4].strip():
                print("not ok - %s:%d: want 5 tab-separated columns with a reason" % (diffs_path, n))
                sys.exit(1)
            listed[(c[0], c[1])] = (c[2], c[3], c[4])
    seen = set()
    fails = 0
    compared = 0
    with open(manifest) as f:
        header = f.readline().rstrip("\n").split("\t")
        col = {h: i for i, h in enumerate(header)}
        for line in f:
            row = line.rstrip("\n").split("\t")
            name = os.path.basename(row[col["file"]])
            if row[col["oracle"]] != "independent":
                print("# %s: oracle column says %r, not independent: not compared" %
                      (name, row[col["oracle"]]))
                continue
            claims = parse_outcome(row[col["expected_outcome"]])
            conns = read_conns(os.path.join(conndir, name + ".conn"))
            if not claims:
                key = (name, "(none)")
                seen.add(key)
                if key in listed:
                    # not a pass: nothing was compared
                    print("# %s: not compared (listed): %s" % (name, listed[key][2]))
                else:
                    print("not ok - %s: nothing in expected_outcome to compare, and the "
                          "capture is not listed as such" % name)
                    fails += 1
                continue
            agree, differ, bad = [], [], []
            for field, zeek, ct in compare(claims, conns):
                compared += 1
                key = (name, field)
                if zeek == ct:
                    agree.append("%s %s" % (field, zeek))
                    if key in listed:
                        seen.add(key)
                        bad.append("%s: listed as a difference, but Zeek and ctguard now "
                                   "agree (%s): remove it from the list" % (field, zeek))
                    continue
                seen.add(key)
                if key in listed and listed[key][:2] == (zeek, ct):
                    differ.append("%s Zeek %s, ctguard %s" % (field, zeek, ct))
                elif key in listed:
                    bad.append("%s: Zeek %s, ctguard %s; the list says ctguard %s" %
                               (field, zeek, ct, listed[key][1]))
                else:
                    bad.append("%s: Zeek's baseline says %s, ctguard says %s (not a listed "
                               "difference)" % (field, zeek, ct))
            if bad:
                for b in bad:
                    print("not ok - %s vs Zeek: %s" % (name, b))
                fails += len(bad)
                continue
            msg = "%d field%s agree%s" % (len(agree), "" if len(agree) == 1 else "s",
                                          "s" if len(agree) == 1 else "")
            if len(agree) <= 6:
                msg += " (" + "; ".join(agree) + ")"
            if differ:
                msg += "; differs as listed: " + "; ".join(differ)
            print("ok - %s vs Zeek: %s" % (name, msg))
    for key in sorted(set(listed) - seen):
        print("not ok - %s %s: listed in %s but not compared any more" %
              (key[0], key[1], os.path.basename(diffs_path)))
        fails += 1
    if compared < 40:
        print("not ok - only %d fields compared: has the manifest's wording changed?" % compared)
        fails += 1
    else:
        print("ok - %d fields compared with Zeek's baselines" % compared)
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
