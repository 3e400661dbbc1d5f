#!/usr/bin/env python3
"""Alert load for the Alertmanager series (stdlib only).

Every --period seconds one POST /api/v2/alerts with --batch alerts, endsAt 24 h
ahead (so the store keeps them; alert GC runs every 30 min by default).
--mode growing: every alert has a new instance label (host-0, host-1, ...):
                distinct alerts accumulate forever (the planted cause).
--mode steady:  the same --fixed alerts (host-0 .. host-(fixed-1)) are re-posted
                in turn: updates of alerts the store already holds.
"""
import argparse, datetime, json, time

import pace

ap = argparse.ArgumentParser()
ap.add_argument("--mode", choices=["growing", "steady"], required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--period", type=float, default=0.1)
ap.add_argument("--batch", type=int, default=20)
ap.add_argument("--fixed", type=int, default=200)
a = ap.parse_args()


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def request(n):
    now = time.time()
    alerts = []
    for j in range(a.batch):
        i = n * a.batch + j
        k = i if a.mode == "growing" else i % a.fixed
        alerts.append({
            "labels": {"alertname": "LoadTest", "job": "load", "severity": "warning",
                       "instance": "host-%d" % k, "zone": "z%d" % (k % 8)},
            "annotations": {"summary": "load test alert for host-%d" % k,
                            "description": "value %d exceeded threshold" % n},
            "startsAt": iso(now - 60), "endsAt": iso(now + 86400),
            "generatorURL": "http://127.0.0.1/graph?g0.expr=up%%3D%%3D0&id=%d" % k,
        })
    return ("POST", "/api/v2/alerts", json.dumps(alerts).encode(),
            {"Content-Type": "application/json"})


pace.run(a.port, a.period, request)
