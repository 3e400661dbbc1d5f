#!/usr/bin/env python3
"""Scrape target for the Prometheus series (stdlib only).

--mode growing: every scrape exposes all series seen so far plus --step (400) new
                ones (app_requests_total{id="N",path="/item/N"}): an
                unbounded label-cardinality explosion, the planted cause.
--mode steady:  the same --step series on every scrape (a fixed set, the
                count the growing target starts with), values changing.
"""
import argparse, http.server, random, threading

ap = argparse.ArgumentParser()
ap.add_argument("--mode", choices=["growing", "steady"], required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--step", type=int, default=400)
a = ap.parse_args()

lock = threading.Lock()
state = {"n": 0, "scrapes": 0}


class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/metrics":
            self.send_error(404)
            return
        with lock:
            state["scrapes"] += 1
            if a.mode == "growing" or state["n"] == 0:
                state["n"] += a.step
            n, s = state["n"], state["scrapes"]
        out = ["# HELP app_requests_total Requests by item.",
               "# TYPE app_requests_total counter"]
        for i in range(n):
            out.append('app_requests_total{id="%d",path="/item/%d"} %d'
                       % (i, i, s * 3 + (i % 7)))
        out.append("# TYPE app_scrapes gauge")
        out.append("app_scrapes %d" % s)
        out.append("# TYPE app_temperature gauge")
        out.append("app_temperature %f" % random.random())
        body = ("\n".join(out) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", a.port), H).serve_forever()
