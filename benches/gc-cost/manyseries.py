#!/usr/bin/env python3
"""Fake scrape targets for benches/gc-cost/prometheus.sh (stdlib only).

Serves the same Prometheus text exposition on TARGETS consecutive ports
starting at BASE_PORT on 127.0.0.1. Prometheus adds a distinct `instance`
label per target, so the series it stores = TARGETS x METRICS x LABELSETS.

Each metric is a gauge named bench_metric_<m>_total with LABELSETS label sets
{pod, path, code}. Values come from VARIANTS precomputed bodies served in
rotation (one per request), so samples change from scrape to scrape without
any formatting work per request.

Usage: manyseries.py [--base-port 29100] [--targets 4] [--metrics 100]
                     [--labelsets 600] [--variants 4]
Prints "READY series_per_target=N bytes_per_body=B" on stdout once listening.
"""
import argparse
import http.server
import itertools
import random
import socketserver
import sys
import threading


def build_bodies(metrics, labelsets, variants, seed=1):
    rng = random.Random(seed)
    paths = ["/api/v1/users", "/api/v1/orders", "/api/v1/items", "/healthz",
             "/api/v2/search", "/api/v2/cart", "/static", "/login"]
    codes = ["200", "201", "204", "301", "400", "404", "500", "503"]
    keys = []
    for m in range(metrics):
        for s in range(labelsets):
            keys.append('bench_metric_%03d_total{pod="pod-%05d",path="%s",code="%s"}'
                        % (m, s, paths[s % len(paths)], codes[(s // len(paths)) % len(codes)]))
    base = [rng.randint(0, 10**6) for _ in keys]
    bodies = []
    for v in range(variants):
        out = []
        for m in range(metrics):
            out.append("# HELP bench_metric_%03d_total Fake counter %d.\n"
                       "# TYPE bench_metric_%03d_total counter\n" % (m, m, m))
            for s in range(labelsets):
                i = m * labelsets + s
                out.append("%s %d\n" % (keys[i], base[i] + v * (i % 7)))
        bodies.append("".join(out).encode())
    return bodies, len(keys)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base-port", type=int, default=29100)
    ap.add_argument("--targets", type=int, default=4)
    ap.add_argument("--metrics", type=int, default=100)
    ap.add_argument("--labelsets", type=int, default=600)
    ap.add_argument("--variants", type=int, default=4)
    a = ap.parse_args()

    bodies, nseries = build_bodies(a.metrics, a.labelsets, a.variants)
    counter = itertools.count()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            with lock:
                body = bodies[next(counter) % len(bodies)]
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    servers = [Server(("127.0.0.1", a.base_port + t), Handler) for t in range(a.targets)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("READY series_per_target=%d targets=%d bytes_per_body=%d"
          % (nseries, a.targets, len(bodies[0])), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
