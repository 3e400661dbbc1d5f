#!/usr/bin/env python3
"""Steady load for etcd (stdlib only): --watchers long-lived watch streams over the
JSON gateway (POST /v3/watch, one HTTP connection and one stream per watcher, each on
its own key /bench/key-I), plus --rate PUTs per second of a --value-size byte value to
a random one of those keys, over one keep-alive connection. Every PUT therefore
wakes exactly one watch stream. Prints READY once all streams are open."""
import argparse, base64, http.client, json, random, selectors, socket, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--watchers", type=int, default=1000)
ap.add_argument("--rate", type=float, default=20.0)
ap.add_argument("--value-size", type=int, default=256)
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()
rnd = random.Random(a.seed)
B64 = lambda b: base64.b64encode(b).decode()
key = lambda i: b"/bench/key-%d" % i

sel = selectors.DefaultSelector()
for i in range(a.watchers):
    body = json.dumps({"create_request": {"key": B64(key(i))}}).encode()
    s = socket.create_connection(("127.0.0.1", a.port))
    s.sendall(b"POST /v3/watch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
print("READY %d watchers" % a.watchers, flush=True)

conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=10)
period = 1.0 / a.rate
nxt = time.monotonic()
n = got = 0
while True:
    now = time.monotonic()
    if now >= nxt:
        v = (b"put %010d " % n) * (a.value_size // 15 + 1)
        body = json.dumps({"key": B64(key(rnd.randrange(a.watchers))), "value": B64(v[:a.value_size])})
        try:
            conn.request("POST", "/v3/kv/put", body, {"Content-Type": "application/json"})
            conn.getresponse().read()
        except (OSError, http.client.HTTPException) as e:
            print("put error: %s" % e, file=sys.stderr, flush=True)
            conn.close(); conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=10)
        n += 1
        nxt += period
        if nxt < now - 1: nxt = now  # do not burst after a stall
    for k, _ in sel.select(timeout=max(0.0, nxt - time.monotonic())):
        try:
            d = k.fileobj.recv(65536)
        except BlockingIOError:
            continue
        if not d:
            print("a watch stream closed", file=sys.stderr, flush=True)
            sel.unregister(k.fileobj); k.fileobj.close()
        got += len(d)
