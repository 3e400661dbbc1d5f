#!/usr/bin/env python3
"""Write load for the InfluxDB series (stdlib only): every --period seconds one
POST /write?db=load with --batch points of measurement `cpu` (4 float fields, timestamp now).

--mode steady:  the points come from a fixed fleet of --batch hosts (host=host-0..), so the
                series set never changes after the first batch.
--mode growing: the same, but --new of the points in every batch are from short-lived
                containers that each get a new `container` tag value (container=c-N):
                20 new series every 100 ms (the planted cause: a tag with unbounded values).
"""
import argparse, time

import pace

ap = argparse.ArgumentParser()
ap.add_argument("--mode", choices=["growing", "steady"], required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--period", type=float, default=0.1)
ap.add_argument("--batch", type=int, default=500)
ap.add_argument("--new", type=int, default=20)
a = ap.parse_args()

HDR = {"Content-Type": "text/plain"}


def request(n):
    ts = time.time_ns()
    lines = []
    fixed = a.batch - (a.new if a.mode == "growing" else 0)
    for h in range(fixed):
        lines.append("cpu,host=host-%d,region=r%d usage_user=%d.5,usage_system=%d.25,usage_idle=%d.125,load=%d.0 %d"
                     % (h, h % 8, (n + h) % 100, (n * 7 + h) % 100, (n * 13 + h) % 100, n % 17, ts))
    if a.mode == "growing":
        for j in range(a.new):
            c = n * a.new + j
            lines.append("cpu,host=host-%d,region=r%d,container=c-%d usage_user=%d.5,usage_system=%d.25,usage_idle=%d.125,load=%d.0 %d"
                         % (c % fixed, c % 8, c, (n + j) % 100, (n * 7 + j) % 100, (n * 13 + j) % 100, n % 17, ts))
    return ("POST", "/write?db=load&precision=ns", "\n".join(lines).encode(), HDR)


pace.run(a.port, a.period, request)
