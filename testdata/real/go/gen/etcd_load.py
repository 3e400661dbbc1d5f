#!/usr/bin/env python3
"""Write load for the etcd series, over etcd's JSON gRPC gateway (stdlib only).

--mode filling|steady: every --period seconds one PUT of a --value-size byte value
                to one of --fixed keys (/cache/item-0 .. /cache/item-(fixed-1)) in turn:
                the key set never grows, the values are overwritten (a config/cache store).
--mode growing: "sessions" that are never closed: each client grants a lease (TTL 1 h,
                ID chosen by the client) and puts /sessions/client-N attached to it, and
                never revokes it; a new client every 2 requests (the planted cause).
"""
import argparse, base64, json

import pace

ap = argparse.ArgumentParser()
ap.add_argument("--mode", choices=["growing", "steady", "filling"], required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--period", type=float, default=None)
ap.add_argument("--fixed", type=int, default=100)
ap.add_argument("--value-size", type=int, default=2048)
ap.add_argument("--ttl", type=int, default=3600)
a = ap.parse_args()
if a.period is None:
    a.period = 0.004 if a.mode == "growing" else 0.01

B64 = lambda b: base64.b64encode(b).decode()
LEASE0 = 0x10000000
HDR = {"Content-Type": "application/json"}


def value(n, size):
    line = b"rev %08d of the cached document; " % n
    return (line * (size // len(line) + 1))[:size]


def request(n):
    if a.mode == "growing":
        i, lease = n // 2, LEASE0 + n // 2
        if n % 2 == 0:
            body = {"TTL": a.ttl, "ID": lease}
            return ("POST", "/v3/lease/grant", json.dumps(body).encode(), HDR)
        body = {"key": B64(b"/sessions/client-%d" % i), "value": B64(value(n, 64)), "lease": lease}
        return ("POST", "/v3/kv/put", json.dumps(body).encode(), HDR)
    body = {"key": B64(b"/cache/item-%d" % (n % a.fixed)), "value": B64(value(n, a.value_size))}
    return ("POST", "/v3/kv/put", json.dumps(body).encode(), HDR)


pace.run(a.port, a.period, request)
