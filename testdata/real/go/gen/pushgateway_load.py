#!/usr/bin/env python3
"""Push load for the Pushgateway series (stdlib only).

Every --period seconds one PUT /metrics/job/batch/instance/host-K with a group
of metrics (4 families, 52 samples; batch_file_bytes carries one long file
label per sample, so each group holds some 10 KB of label text).
--mode growing: K = 0, 1, 2, ... : a new grouping key every push, never
                deleted (the planted cause: groups accumulate forever).
--mode steady:  K cycles through 0 .. --groups-1: the same fixed groups are
                re-pushed (replaced) with new values.
"""
import argparse, random, time

import pace

ap = argparse.ArgumentParser()
ap.add_argument("--mode", choices=["growing", "steady"], required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--period", type=float, default=0.1)
ap.add_argument("--groups", type=int, default=50)
ap.add_argument("--files", type=int, default=30)
a = ap.parse_args()

BUCKETS = ["0.1", "0.5", "1", "5", "10", "30", "60", "300", "+Inf"]
STAGES = ["extract", "transform", "load", "verify"]


def body(k, n):
    out = ["# TYPE batch_last_success_timestamp_seconds gauge",
           "batch_last_success_timestamp_seconds %f" % time.time(),
           "# TYPE batch_records_processed_total counter"]
    for s in STAGES:
        out.append('batch_records_processed_total{stage="%s",shard="%d"} %d'
                   % (s, k % 16, n * 10 + random.randint(0, 9)))
    out.append("# TYPE batch_file_bytes gauge")
    for f in range(a.files):
        out.append('batch_file_bytes{file="/data/ingest/2026/12/02/host-%d/part-%05d-%08x-%s.snappy.parquet"} %d'
                   % (k, f, (k * 7919 + f) & 0xffffffff, "c0ffee" * 12, random.randint(1, 1 << 30)))
    out.append("# TYPE batch_duration_seconds histogram")
    c = 0
    for b in BUCKETS:
        c += random.randint(0, 3)
        out.append('batch_duration_seconds_bucket{le="%s"} %d' % (b, c))
    out.append("batch_duration_seconds_sum %f" % (c * 2.5))
    out.append("batch_duration_seconds_count %d" % c)
    return ("\n".join(out) + "\n").encode()


def request(n):
    k = n if a.mode == "growing" else n % a.groups
    return ("PUT", "/metrics/job/batch/instance/host-%d" % k, body(k, n),
            {"Content-Type": "text/plain; version=0.0.4"})


pace.run(a.port, a.period, request)
