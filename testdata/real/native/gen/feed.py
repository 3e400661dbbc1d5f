"""Slow line generator feeding gawk on stdin (not profiled itself).

usage: python3.11 feed.py [TICKS] [LINES_PER_TICK] [SLEEP]
Writes TICKS bursts of LINES_PER_TICK lines "ID<TAB>csv-payload", ids unique
and increasing, pausing SLEEP seconds between bursts so the profiled gawk
sees the input arrive over ~5 s.  Deterministic (no randomness).
"""
import sys
import time

ticks = int(sys.argv[1]) if len(sys.argv) > 1 else 12
per = int(sys.argv[2]) if len(sys.argv) > 2 else 8000
pause = float(sys.argv[3]) if len(sys.argv) > 3 else 0.35
out = sys.stdout
i = 0
for t in range(ticks):
    lines = []
    for _ in range(per):
        f = ",".join("%d" % ((i * 7919 + k * 104729) % 100000) for k in range(8))
        lines.append("%d\t%s,user%06d,region%02d\n" % (100000 + i, f, i % 50000, i % 17))
        i += 1
    out.write("".join(lines))
    out.flush()
    time.sleep(pause)
