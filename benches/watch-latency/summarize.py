#!/usr/bin/env python3
"""Summaries for benches/watch-latency/run.sh.

  summarize.py row --rep R --cond C --dir RUN_DIR --watch-start T [--interval S] --watch-rc RC --load L
      one summary.tsv row (tab-separated, no header) for one run's folder
  summarize.py table SUMMARY_TSV
      a Markdown table of every run and the medians of the latencies

A run's folder holds leaker.out (`leak started at <unix seconds>`), alerts.tsv (`date +%s.%N`,
a tab, one {"service", "alert": leakdiff.alert/v1} document per line, as --alert-cmd got it),
watch/watch.jsonl (the watcher's log: leakdiff.watch/v1 lines) and report.json (`leakdiff
report watch -f json`).
"""
import argparse
import calendar
import json
import os
import re
import statistics
import sys

LEAK_KEY = "main.leakyAppend"

COLUMNS = [
    "rep", "cond", "leak_start", "watch_start", "next_round_s",
    "alert_at", "alert_latency_s", "alert_severity",
    "suspect_at", "suspect_latency_s", "suspect_severity",
    "leak_states_to_suspect", "leak_states_to_alert",
    "heap_states", "gc_repeats", "alerts", "watch_rc", "load1",
]

RFC3339 = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def epoch(s):
    """RFC 3339 (any fraction digits) -> unix seconds as float."""
    m = RFC3339.match(s)
    if not m:
        raise ValueError(f"not RFC 3339: {s!r}")
    y, mo, d, h, mi, se = (int(x) for x in m.groups()[:6])
    t = calendar.timegm((y, mo, d, h, mi, se, 0, 0, 0)) + float(m.group(7) or 0)
    z = m.group(8)
    if z != "Z":
        sign = 1 if z[0] == "+" else -1
        t -= sign * (int(z[1:3]) * 3600 + int(z[4:6]) * 60)
    return t


def fmt(x, digits=1):
    return "-" if x is None else f"{x:.{digits}f}"


def row(a):
    d = a.dir
    leak_start = None
    with open(os.path.join(d, "leaker.out")) as f:
        for line in f:
            if line.startswith("leak started at "):
                leak_start = float(line.split()[-1])

    # Alerts as --alert-cmd received them, in order.
    alert_at = alert_sev = None
    fired = []  # kind:key of every alert that fired (first time)
    p = os.path.join(d, "alerts.tsv")
    if os.path.exists(p):
        with open(p) as f:
            for line in f:
                line = line.rstrip("\n")
                if not line.strip():
                    continue
                ts, _, doc = line.partition("\t")
                al = json.loads(doc)["alert"]
                if al["status"] != "firing" or not al.get("first", True):
                    continue
                fired.append(f'{al["kind"]}:{al["key"]}')
                if al["key"] == LEAK_KEY and alert_at is None:
                    alert_at = float(ts)
                    alert_sev = al.get("severity")

    # The watcher's first `new suspect` verdict for the leak.
    suspect_at = suspect_sev = None
    p = os.path.join(d, "watch", "watch.jsonl")
    if os.path.exists(p):
        with open(p) as f:
            for line in f:
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if ev.get("change") != "new_suspect":
                    continue
                v = ev.get("verdict") or {}
                if v.get("key") == LEAK_KEY:
                    suspect_at = epoch(ev["time"])
                    suspect_sev = v.get("severity")
                    break

    # Distinct heap states (GC cycles seen), and how many of them showed the leak (its key's
    # sampled in-use above 0) by each verdict.
    heap_states = gc_repeats = None
    times, leak_series = [], None
    p = os.path.join(d, "report.json")
    try:
        with open(p) as f:
            rep = json.load(f)
        heap = rep.get("heap", rep)
        snaps = heap.get("snapshots") or []
        heap_states = len(snaps)
        gc_repeats = heap.get("gc_repeats")
        times = [epoch(s["time"]) for s in snaps]
        for s in heap.get("suspects") or []:
            if s.get("key") == LEAK_KEY and len(s.get("series") or []) == len(times):
                leak_series = s["series"]
    except (OSError, ValueError, AttributeError):
        pass

    def states_by(t):
        # Report times are whole seconds (rounded down): a state at the verdict's round is
        # <= t, the next round's is > t + 0.5 at intervals of 2 s or more.
        if t is None or leak_start is None or not times:
            return None
        if leak_series is not None:
            return sum(1 for x, v in zip(times, leak_series) if v > 0 and x <= t + 0.5)
        return sum(1 for x in times if leak_start < x <= t + 0.5)

    # The watcher's rounds: its heap files' names (millisecond times), else start + k * interval.
    rounds = []
    wd = os.path.join(d, "watch")
    if os.path.isdir(wd):
        for name in os.listdir(wd):
            m = re.match(r"^heap-(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)(\.\d+)?Z\.pb\.gz$", name)
            if m:
                g = m.groups()
                rounds.append(epoch(f"{g[0]}-{g[1]}-{g[2]}T{g[3]}:{g[4]}:{g[5]}{g[6] or ''}Z"))
    next_round = None
    if leak_start is not None:
        after = [t for t in rounds if t >= leak_start]
        if after:
            next_round = min(after) - leak_start
        else:
            i, w = float(a.interval), float(a.watch_start)
            next_round = (w - leak_start) % i

    def lat(t):
        return None if t is None or leak_start is None else t - leak_start

    vals = {
        "rep": a.rep, "cond": a.cond,
        "leak_start": fmt(leak_start, 3), "watch_start": fmt(float(a.watch_start), 3),
        "next_round_s": fmt(next_round, 2),
        "alert_at": fmt(alert_at, 3), "alert_latency_s": fmt(lat(alert_at)),
        "alert_severity": alert_sev or "-",
        "suspect_at": fmt(suspect_at, 3), "suspect_latency_s": fmt(lat(suspect_at)),
        "suspect_severity": suspect_sev or "-",
        "leak_states_to_suspect": fmt(states_by(suspect_at), 0),
        "leak_states_to_alert": fmt(states_by(alert_at), 0),
        "heap_states": fmt(heap_states, 0), "gc_repeats": fmt(gc_repeats, 0),
        "alerts": ",".join(fired) if fired else "none",
        "watch_rc": a.watch_rc, "load1": a.load,
    }
    print("\t".join(str(vals[c]) for c in COLUMNS))


def table(path):
    with open(path) as f:
        lines = [l.rstrip("\n").split("\t") for l in f if l.strip()]
    head, rows = lines[0], [dict(zip(lines[0], r)) for r in lines[1:]]
    show = ["rep", "cond", "next_round_s", "alert_latency_s", "suspect_latency_s", "alert_severity",
            "leak_states_to_suspect", "leak_states_to_alert", "heap_states", "gc_repeats", "alerts",
            "watch_rc", "load1"]
    print("| " + " | ".join(show) + " |")
    print("|" + "---|" * len(show))
    for r in rows:
        print("| " + " | ".join(r.get(c, "-") for c in show) + " |")
    print()
    for cond in sorted({r["cond"] for r in rows}):
        rs = [r for r in rows if r["cond"] == cond]
        for col in ("alert_latency_s", "suspect_latency_s"):
            xs = [float(r[col]) for r in rs if r[col] != "-"]
            if xs:
                print(f"{cond}: {col} median {statistics.median(xs):.1f} "
                      f"(min {min(xs):.1f}, max {max(xs):.1f}, {len(xs)} of {len(rs)} runs)")
        alerted = [r for r in rs if r["alerts"] != "none"]
        print(f"{cond}: runs with any alert: {len(alerted)} of {len(rs)}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("row")
    r.add_argument("--rep", required=True)
    r.add_argument("--cond", required=True)
    r.add_argument("--dir", required=True)
    r.add_argument("--watch-start", required=True)
    r.add_argument("--interval", default="5")
    r.add_argument("--watch-rc", required=True)
    r.add_argument("--load", required=True)
    t = sub.add_parser("table")
    t.add_argument("summary")
    a = ap.parse_args()
    if a.cmd == "row":
        row(a)
    else:
        table(a.summary)


if __name__ == "__main__":
    sys.exit(main())
