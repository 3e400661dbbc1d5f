"""Workload for leakdiff's real-program corpus (run by Debian's /usr/bin/python3.11).

usage: python3.11 cache_ticks.py growing|steady [TICKS]

Each tick "handles" PER_TICK requests.  Every request builds a response
value of ~2 KiB (a bytes object larger than pymalloc's 512-byte limit, so
it is allocated with malloc) and stores it in a cache keyed by a unique
request id.  Each request also makes short-lived temporaries (a list of
small strings joined into a ~3 KiB str) that are freed before the tick ends.

growing: the cache is a plain dict that never evicts -> ~2 MB more in use
         per tick, held until the interpreter tears down at exit.
steady:  the same dict, but bounded to MAXSIZE entries: the oldest entry is
         evicted on insert once full -> in-use memory plateaus (~2 MB).
"""
import sys
import time

PER_TICK = 1000          # entries per tick (~2 MiB of values)
VALUE_SIZE = 2048        # bytes per value (> 512: goes to malloc)
MAXSIZE = 1000           # steady mode: cache bound
TICK_SLEEP = 0.35        # seconds

cache = {}


def make_value(req_id):
    # per-request temporaries: freed before the next request
    parts = ["%08d:%s" % (req_id, "x" * 24) for _ in range(96)]
    body = "|".join(parts)                       # ~3 KiB str, temporary
    value = bytearray(VALUE_SIZE)                # zero-filled, then stamped
    stamp = body[:64].encode()
    value[: len(stamp)] = stamp
    return bytes(value)                          # the ~2 KiB kept value


def handle(req_id, bounded):
    cache[req_id] = make_value(req_id)
    if bounded and len(cache) > MAXSIZE:
        del cache[next(iter(cache))]             # evict the oldest entry


def main():
    mode = sys.argv[1]
    ticks = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    bounded = {"growing": False, "steady": True}[mode]
    req = 0
    for tick in range(ticks):
        for _ in range(PER_TICK):
            handle(req, bounded)
            req += 1
        print("tick %d entries=%d" % (tick, len(cache)), flush=True)
        time.sleep(TICK_SLEEP)
    # normal exit: interpreter teardown frees the cache


if __name__ == "__main__":
    main()
