#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Turn bench/run-bench.sh's raw files into results.json and a table.

report.py RAW_DIR OUT_JSON
"""
import json
import math
import statistics
import sys

CFG = {1: "no filtering", 2: "kernel conntrack", 3: "NFQUEUE limit",
       4: "ctguardd decisions", 5: "ctguardd log all", 6: "ctguardd offload",
       7: "ctguardd decisions + sync", 8: "ctguardd decisions, kernel conntrack on"}
E2E = [  # key, label, higher is better
    ("bulk_1_gbps", "bulk TCP, 1 stream (Gbit/s)", True),
    ("bulk_8_gbps", "bulk TCP, 8 streams (Gbit/s)", True),
    ("crr_per_s", "connections/s (64 clients)", True),
    ("rr_p50_us", "latency p50 (us)", False),
    ("rr_p99_us", "latency p99 (us)", False),
    ("udp_lossfree_pps", "UDP 64 B, <=0.1% lost before the server (pps)", True),
    ("udp_unlimited_pps", "UDP 64 B, unlimited, received (pps)", True),
    ("tcp_small_mbps", "TCP 64 B writes, no delay (Mbit/s)", True),
]


def num(s):
    try:
        v = float(s)
    except ValueError:
        return None
    return None if math.isnan(v) else v


def summary(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals),
            "max": max(vals), "runs": vals}


def fmt(v, key=""):
    if v is None:
        return "n/a"
    if abs(v) >= 1000:
        return "{:,.0f}".format(v)
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def cell(s):
    if s is None:
        return "n/a"
    if len(s["runs"]) == 1:
        return fmt(s["median"])
    return "%s (%s–%s)" % (fmt(s["median"]), fmt(s["min"]), fmt(s["max"]))


def main():
    raw, out = sys.argv[1], sys.argv[2]
    machine = {}
    try:
        for line in open(raw + "/machine.txt"):
            k, _, v = line.rstrip("\n").partition(" ")
            machine[k] = v
    except OSError:
        pass

    # micro: "METRIC name value unit"; *_run metrics are repeated runs
    micro, runs = {}, {}
    try:
        for line in open(raw + "/micro.txt"):
            f = line.split()
            if len(f) < 4 or f[0] != "METRIC":
                continue
            v = num(f[2])
            if f[1].endswith("_run"):
                runs.setdefault(f[1][:-4], ([], f[3]))[0].append(v)
            else:
                micro[f[1]] = {"value": v, "unit": f[3]}
    except OSError:
        pass
    for k, (vals, unit) in runs.items():
        s = summary(vals)
        if s:
            micro[k] = {"value": s["median"], "unit": unit, "min": s["min"],
                        "max": s["max"], "runs": s["runs"]}

    # end to end
    checks, valid = [], {}
    try:
        for line in open(raw + "/checks.tsv"):
            f = line.rstrip("\n").split("\t")
            if len(f) < 7:
                continue
            r, c = int(f[0]), int(f[1])
            ok = f[6]
            checks.append({"round": r, "config": c, "rule_pkts": f[2],
                           "received": f[3], "queue_dropped": f[4],
                           "user_dropped": f[5], "valid": ok,
                           "extra": f[7] if len(f) > 7 else ""})
            valid[(r, c)] = ok != "0"
    except OSError:
        pass
    data = {}
    try:
        for line in open(raw + "/e2e.tsv"):
            f = line.rstrip("\n").split("\t")
            if len(f) < 4:
                continue
            r, c = int(f[0]), int(f[1])
            if not valid.get((r, c), True):
                continue        # the fail-open check failed: run does not count
            data.setdefault(c, {}).setdefault(f[2], []).append(num(f[3]))
    except OSError:
        pass
    e2e = {}
    for c in CFG:
        e2e[c] = {k: summary(data.get(c, {}).get(k, [])) for k, _, _ in E2E}
        for k in ("bulk_1_retrans", "bulk_8_retrans", "crr_failed",
                  "crr_stalled", "udp_unlimited_loss_pct", "udp_rcvbuf_drops",
                  "udp_unlimited_sent_pps", "udp_loss_exceeded_pps",
                  "udp_generator_limited", "udp_ladder_runs",
                  "loadavg1", "sync_msgs_sent", "sync_bytes_sent",
                  "sync_send_failures", "sync_lag_p99_ms",
                  "daemon_cpu_s", "corosync_cpu_s", "corosync_suc"):
            e2e[c][k] = summary(data.get(c, {}).get(k, []))

    def med(c, k):
        s = e2e.get(c, {}).get(k)
        return s["median"] if s else None

    def ratio(a, b, k, higher):
        x, y = med(a, k), med(b, k)
        if x is None or y is None or x == 0 or y == 0:
            return None
        return x / y if higher else y / x  # for latency: >1 means a is faster

    ratios = {}
    for k, _, higher in E2E:
        ratios[k] = {"%d/%d" % (a, b): ratio(a, b, k, higher)
                     for a, b in ((4, 3), (4, 2), (5, 3), (5, 2), (3, 2),
                                  (6, 2), (6, 4), (7, 4), (6, 8), (8, 4))}

    # targets
    targets = []

    def target(name, value, goal, met, unit=""):
        targets.append({"target": name, "value": value, "goal": goal,
                        "met": None if value is None else bool(met)})

    for k, label in (("bulk_1_gbps", "bulk 1 stream"),
                     ("bulk_8_gbps", "bulk 8 streams")):
        v = ratios[k]["4/3"]
        target("(4) >= 90% of (3), " + label, v, 0.90, v is not None and v >= 0.90)
    for k, label in (("crr_per_s", "connection rate"),
                     ("udp_lossfree_pps", "UDP 64 B loss-free rate"),
                     ("tcp_small_mbps", "TCP small writes")):
        v = ratios[k]["4/3"]
        target("(4) >= 80% of (3), " + label, v, 0.80, v is not None and v >= 0.80)
    for k, label, _ in E2E:
        if k in ("rr_p50_us", "rr_p99_us", "udp_unlimited_pps"):
            continue
        v = ratios[k]["5/3"]
        target("(5) >= 75% of (3), " + label.split(" (")[0], v, 0.75,
               v is not None and v >= 0.75)
    # issue 19: offload against the kernel (bulk, small packets) and (4) (rate)
    for k, label in (("bulk_1_gbps", "bulk 1 stream"),
                     ("bulk_8_gbps", "bulk 8 streams"),
                     ("udp_lossfree_pps", "UDP 64 B loss-free rate"),
                     ("tcp_small_mbps", "TCP small writes")):
        v = ratios[k]["6/2"]
        target("(6) >= 95% of (2), " + label, v, 0.95, v is not None and v >= 0.95)
    v = ratios["crr_per_s"]["6/4"]
    target("(6) >= 95% of (4), connection rate (unchanged)", v, 0.95,
           v is not None and v >= 0.95)
    # ... and against (8), the same gateway with the kernel's conntrack on,
    # which offload needs: what offload itself costs
    v = ratios["crr_per_s"]["6/8"]
    target("(6) >= 95% of (8), connection rate (kernel conntrack on in both)", v, 0.95,
           v is not None and v >= 0.95)
    # state sync (issue 16): sending every change through corosync
    v = ratios["crr_per_s"]["7/4"]
    target("(7) >= 90% of (4), connection rate with sync", v, 0.90,
           v is not None and v >= 0.90)
    for k, label in (("bulk_1_gbps", "bulk 1 stream"), ("bulk_8_gbps", "bulk 8 streams")):
        v = ratios[k]["7/4"]
        target("(7) within noise of (4), %s with sync (>= 90%%)" % label, v, 0.90,
               v is not None and v >= 0.90)
    a, b = med(4, "rr_p99_us"), med(2, "rr_p99_us")
    added = None if a is None or b is None else a - b
    target("added p99 latency (4) over (2) < 50 us", added, 50.0,
           added is not None and added < 50.0)
    m = micro.get("tracker_decode_track_mpps", {}).get("value")
    target("tracker >= 5 Mpps (decode + track, one core)", m, 5.0,
           m is not None and m >= 5.0)
    m = micro.get("tracker_1m_fits", {}).get("value")
    target("1,000,000 concurrent connections fit", m, 1, m == 1)
    m = micro.get("auditlog_rows_per_s", {}).get("value")
    target("audit writer >= 200,000 rows/s", m, 200000, m is not None and m >= 200000)
    rp = micro.get("replay_synth_pps", {}).get("value")
    tr = micro.get("tracker_decode_track_mpps", {}).get("value")
    v = rp / (tr * 1e6) if rp and tr else None
    target("replay within 20% of the tracker's rate (same stream)", v, 0.80,
           v is not None and v >= 0.80)
    # issue 14: cross-queue ICMP lookups (bench/bench_crossqueue.c)
    v = micro.get("xq_with_p99_ratio", {}).get("value")
    target("ICMP errors via a saturated queue: worker p99 <= 2x the run without",
           v, 2.0, v is not None and v <= 2.0)
    ir_t = micro.get("ir_tracker_per_pkt", {}).get("value")
    ir_p = micro.get("ir_replay_pipeline_per_pkt", {}).get("value")
    ir_r = micro.get("ir_replay_total_per_pkt", {}).get("value")

    result = {"machine": machine, "micro": micro,
              "e2e": {CFG[c]: e2e[c] for c in CFG}, "ratios": ratios,
              "fail_open_checks": checks, "targets": targets}
    with open(out, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")

    # --- table ---
    p = print
    p("ctguard benchmark, %s: %s, %s vCPU, kernel %s" % (
        machine.get("date", "?"), machine.get("cpu", "?"),
        machine.get("nproc", "?"), machine.get("kernel", "?")))
    p("load average at start %s, at end %s; %s rounds x %s s per run, "
      "configurations interleaved; median (min–max)" % (
          machine.get("loadavg_start", "?"), machine.get("loadavg_end", "?"),
          machine.get("rounds", "?"), machine.get("secs", "?")))
    la = [v for c in CFG for v in (data.get(c, {}).get("loadavg1") or [])
          if v is not None]
    if la:
        p("1-minute load average when each end-to-end block started: "
          "median %.2f (%.2f–%.2f); this run's own load is about 2 on 2 vCPUs"
          % (statistics.median(la), min(la), max(la)))
    p("")
    p("End to end: client ns -> gateway ns (forwarding) -> server ns, veth")
    p("")
    hdr = ["metric"] + ["(%d) %s" % (c, CFG[c]) for c in CFG]
    p("| " + " | ".join(hdr) + " |")
    p("|" + "---|" * len(hdr))
    for k, label, _ in E2E:
        p("| " + " | ".join([label] + [cell(e2e[c][k]) for c in CFG]) + " |")
    p("")
    rh = ["metric", "(4)/(3)", "(4)/(2)", "(5)/(3)", "(5)/(2)", "(3)/(2)",
          "(6)/(2)", "(6)/(4)", "(7)/(4)", "(6)/(8)", "(8)/(4)"]
    p("Ratios of medians (latency: reference / config, so < 1 means slower)")
    p("")
    p("| " + " | ".join(rh) + " |")
    p("|" + "---|" * len(rh))
    for k, label, _ in E2E:
        r = ratios[k]
        p("| " + " | ".join([label] + [
            "n/a" if r[x] is None else "%.0f%%" % (100 * r[x])
            for x in ("4/3", "4/2", "5/3", "5/2", "3/2", "6/2", "6/4", "7/4",
                      "6/8", "8/4")]) + " |")
    p("")
    drops = ["(%d) %s" % (c, "n/a" if med(c, "udp_rcvbuf_drops") is None
                          else "%.0f" % med(c, "udp_rcvbuf_drops")) for c in CFG]
    lim = []
    for c in CFG:
        g = e2e[c]["udp_generator_limited"]
        if g is None:
            continue
        n = len(g["runs"])
        gen = sum(1 for x in g["runs"] if x == 1)
        lim.append("(%d) loss beyond 0.1%% from %s pps; limit: %s" % (
            c, cell(e2e[c]["udp_loss_exceeded_pps"]),
            "the generator (sender could not offer more)" if gen == n else
            "none found" if e2e[c]["udp_loss_exceeded_pps"] is None else
            "the gateway" if gen == 0 else
            "the generator in %d of %d rounds" % (gen, n)))
    if lim:
        p("UDP loss-free search (up and down from the unlimited rate): " +
          "; ".join(lim))
        p("")
    p("UDP: packets the server's own socket buffer dropped in the 2 s run at "
      "the loss-free rate (forwarded, so not counted as loss), median: " +
      ", ".join(drops))
    p("")
    p("Fail-open check (queue rule counter == received + queue_dropped + "
      "user_dropped, nothing left queued):")
    for c in (3, 4, 5, 6, 7, 8):
        cs = [x for x in checks if x["config"] == c]
        good = sum(1 for x in cs if x["valid"] == "1")
        p("  (%d) %s: %d/%d runs valid; %s" % (
            c, CFG[c], good, len(cs), "; ".join(
                "r%d rule=%s recv=%s qdrop=%s udrop=%s %s" % (
                    x["round"], x["rule_pkts"], x["received"],
                    x["queue_dropped"], x["user_dropped"], x["extra"])
                for x in cs)))
    p("")
    p("Micro-benchmarks (one core unless noted)")
    p("")
    p("| benchmark | result |")
    p("|---|---|")

    def mv(k, unit=None, scale=1.0):
        e = micro.get(k)
        if not e or e.get("value") is None:
            return "n/a"
        s = fmt(e["value"] * scale)
        if "min" in e and len(e.get("runs", [])) > 1:
            s += " (%s–%s)" % (fmt(e["min"] * scale), fmt(e["max"] * scale))
        return s + " " + (unit if unit is not None else e["unit"])

    rows = [
        ("tracker, mixed stream: decode + track + account", mv("tracker_decode_track_mpps")),
        ("tracker alone (packets pre-decoded)", mv("tracker_only_mpps")),
        ("decoder alone", mv("decode_only_mpps")),
        ("stream: packets / connections / live at end",
         "%s / %s / %s" % (mv("stream_packets", ""), mv("stream_created", ""),
                           mv("stream_live_end", ""))),
        ("instructions per packet, decode + track (callgrind)", mv("ir_tracker_per_pkt")),
        ("bytes per connection (ctg_tracker_bytes_per_entry)", mv("tracker_bytes_per_conn")),
        ("1,000,000 connections: table memory / RSS growth",
         "%s / %s" % (mv("tracker_memory_1m"), mv("tracker_rss_1m"))),
        ("1,000,000 connections live, none evicted or refused",
         "yes" if micro.get("tracker_1m_fits", {}).get("value") == 1 else "NO"),
        ("lookup (hit), 1k / 100k / 1M live",
         " / ".join(mv("lookup_ns_%d" % n) for n in (1000, 100000, 1000000))),
        ("packet of a live flow (decode + track), 1k / 100k / 1M live",
         " / ".join(mv("track_existing_ns_%d" % n) for n in (1000, 100000, 1000000))),
        ("rules, new connection, last of 10 / 1,000 / 10,000 rules",
         " / ".join(mv("rules_eval_ns_%d" % n) for n in (10, 1000, 10000))),
        ("rules, 100,000-prefix set, hit / miss",
         "%s / %s" % (mv("rules_set100k_hit_ns"), mv("rules_set100k_miss_ns"))),
        ("rules, load time 10 / 1,000 / 10,000 rules",
         " / ".join(mv("rules_load_ms_%d" % n) for n in (10, 1000, 10000))),
        ("audit log writer, 1M rows, SQLite WAL on disk", mv("auditlog_rows_per_s")),
        ("ctguard report of a 10M-row audit database: wall / CPU s (load at start)",
         "%s / %s (%s)" % (mv("report_wall_s"), mv("report_cpu_s"), mv("report_loadavg_start"))),
        ("pipeline in memory (decode, track, rules, summaries), same stream",
         mv("pipeline_mem_mpps")),
        ("replay (ctguardd -r), same synthetic stream", mv("replay_synth_pps")),
        ("replay, zeek/ssh-dups.pcap looped 4000x (1.5M packets)", mv("replay_corpus_pps")),
        ("sync: tracker connections/s, marking off / on (ratio)",
         "%s / %s (%s)" % (mv("sync_off_conn_per_s"), mv("sync_on_conn_per_s"),
                           mv("sync_marking_ratio"))),
        ("sync: encode / decode per connection entry",
         "%s / %s" % (mv("sync_encode_ns_per_conn"), mv("sync_decode_ns_per_conn"))),
        ("sync: bytes per 1,000 new connections, coalesced 100 ms / every burst",
         "%s / %s" % (mv("sync_bytes_per_1000_conns_interval"),
                      mv("sync_bytes_per_1000_conns_burst"))),
        ("sync: bulk 100k, export+encode / decode+apply",
         "%s / %s" % (mv("sync_bulk_100k_encode_ms"), mv("sync_bulk_100k_apply_ms"))),
        ("sync: bulk 1M, export+encode / decode+apply",
         "%s / %s" % (mv("sync_bulk_1m_encode_ms"), mv("sync_bulk_1m_apply_ms"))),
        ("replay instructions per packet: pipeline / pcap read / total",
         "%s / %s / %s" % (mv("ir_replay_pipeline_per_pkt"), mv("ir_replay_pcap_per_pkt"),
                           mv("ir_replay_total_per_pkt"))),
    ]
    # issue 14: cross-queue ICMP lookups (bench/bench_crossqueue.c)
    rows += [
        ("worker at 100k pps beside a saturated queue: per-packet p99 / p99.9, "
         "without -> with 10k pps of ICMP errors about unknown flows",
         "%s / %s -> %s / %s" % (mv("xq_without_p99_us"), mv("xq_without_p999_us"),
                                 mv("xq_with_p99_us"), mv("xq_with_p999_us"))),
        ("... the ICMP error itself: p50 / p99 (lookups that found the neighbour busy: "
         "bare bursts / bursts with the daemon's syscalls)",
         "%s / %s (%s / %s)" % (mv("xq_with_error_p50_us"), mv("xq_with_error_p99_us"),
                                mv("xq_with_busy_pct"), mv("xq_daemonlike_busy_pct"))),
        ("... the sleeping lookup of 6ad6a1a, same stream: ICMP error p99",
         mv("xq_old_error_p99_us")),
        ("... packets started > 1 ms after due: without / with / sleeping lookup "
         "(machine load shows here)",
         "%s / %s / %s" % (mv("xq_without_late_pct"), mv("xq_with_late_pct"),
                           mv("xq_old_late_pct"))),
    ]
    for a, b in rows:
        p("| %s | %s |" % (a, b))
    if ir_t and ir_p:
        p("")
        p("Instruction counts (valgrind --tool=callgrind; this VM has no "
          "hardware counters for perf stat): replay pipeline %.0f Ir/packet "
          "vs tracker bench %.0f Ir/packet (%.0f%%); replay total incl. pcap "
          "reading and end-of-capture flush %.0f Ir/packet." % (
              ir_p, ir_t, 100 * ir_t / ir_p, ir_r or 0))
    if med(7, "sync_msgs_sent") is not None:
        p("")
        suc = med(7, "corosync_suc")
        p("State sync in (7), per run (one-member corosync group%s, every change "
          "sent and delivered back; medians): %s messages, %s bytes sent, %s send "
          "failures, lag p99 %s ms" % ((
              ", totem.seqno_unchanged_const %d" % suc if suc is not None else "",) + tuple(
              cell(e2e[7][k]) for k in ("sync_msgs_sent", "sync_bytes_sent",
                                        "sync_send_failures", "sync_lag_p99_ms"))))
        if med(7, "corosync_cpu_s") is not None and med(4, "daemon_cpu_s") is not None:
            msgs = med(7, "sync_msgs_sent") or 0
            p("CPU per run of the same tests: ctguardd %s s in (4), %s s in (7); "
              "corosync %s s in (7)%s. On 2 vCPUs that CPU is taken from the "
              "traffic's endpoints and the daemon: corosync's cost grows with "
              "the times its ring wakes (a burst of messages, then "
              "totem.seqno_unchanged_const idle turns), not with bytes." % (
                  cell(e2e[4]["daemon_cpu_s"]), cell(e2e[7]["daemon_cpu_s"]),
                  cell(e2e[7]["corosync_cpu_s"]),
                  " (%.2f ms per message)" % (1000 * med(7, "corosync_cpu_s") / msgs)
                  if msgs else ""))
    p("")
    p("Targets")
    p("")
    for t in targets:
        v = t["value"]
        if v is None:
            s, mark = "n/a", "NOT MEASURED"
        else:
            if t["goal"] in (0.95, 0.9, 0.8, 0.75) or "within 20%" in t["target"]:
                s = "%.0f%%" % (100 * v)
            else:
                s = fmt(v)
            mark = "MET" if t["met"] else "MISSED"
        p("  [%s] %s: %s" % (mark, t["target"], s))
    p("")
    p("results: %s" % out)


if __name__ == "__main__":
    main()
