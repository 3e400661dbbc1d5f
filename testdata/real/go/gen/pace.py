"""Shared by the load scripts: one request every `period` seconds on a kept-alive connection,
reconnecting after an error (stdlib only)."""
import http.client
import time


def run(port, period, request):
    """Calls request(n) -> (method, path, body, headers) forever and sends each."""
    conn = None
    n = 0
    next_t = time.monotonic()
    while True:
        method, path, body, headers = request(n)
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            if r.status >= 300:
                print(method, path, "->", r.status, flush=True)
        except (OSError, http.client.HTTPException) as e:
            print(method, path, "failed:", e, flush=True)
            conn = None
            time.sleep(0.5)
        n += 1
        next_t += period
        d = next_t - time.monotonic()
        if d > 0:
            time.sleep(d)
        else:
            next_t = time.monotonic()
