#!/usr/bin/env python3
"""Writes two jemalloc heap_v2 profiles (base, later) with about STACKS distinct backtraces each,
whose addresses fall inside the functions of a real binary, for benches/jemalloc/run.sh.

    gen.py OUT_DIR BINARY [STACKS]

Shape: stacks are paths of a call tree (each new stack keeps a prefix of an earlier one and adds
1-8 frames), 3 allocator frames in libjemalloc at the leaf, 1-4 per-thread lines per stack, rate
2^19. The later profile keeps 95 % of the stacks with grown values and adds 10 % new ones.
Deterministic (fixed seed)."""
import random
import re
import subprocess
import sys

out, binary = sys.argv[1], sys.argv[2]
stacks = int(sys.argv[3]) if len(sys.argv) > 3 else 200_000
rng = random.Random(0x5EED)

# Functions of the binary (start, size) and its executable LOAD segment.
funcs = []
for line in subprocess.run(["nm", "-S", "--defined-only", binary], capture_output=True,
                           text=True, check=True).stdout.splitlines():
    parts = line.split()
    if len(parts) == 4 and parts[2] in ("t", "T") and int(parts[1], 16) > 8:
        funcs.append((int(parts[0], 16), int(parts[1], 16)))
seg = None
for line in subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True,
                           check=True).stdout.splitlines():
    f = line.split()
    if f and f[0] == "LOAD" and "E" in f[6:]:
        seg = (int(f[1], 16), int(f[2], 16), int(f[5], 16))  # offset, vaddr, memsz
        break
assert funcs and seg, "need a binary with symbols"
base = 0x55D0_0000_0000
je_base = 0x7F00_0000_0000

def addr():
    start, size = rng.choice(funcs)
    return base + start + rng.randrange(1, size)

all_stacks = []
seen = set()
while len(all_stacks) < stacks + stacks // 10:
    if not all_stacks or rng.random() < 0.05:
        s = [addr() for _ in range(rng.randrange(8, 32))]
    else:
        parent = rng.choice(all_stacks)
        keep = rng.randrange(len(parent) // 2, len(parent))
        s = parent[:keep] + [addr() for _ in range(rng.randrange(1, 9))]
    t = tuple(s)
    if t not in seen:
        seen.add(t)
        all_stacks.append(s)

def write(path, chosen, grow):
    with open(path, "w") as f:
        f.write("heap_v2/524288\n  t*: 0: 0 [0: 0]\n")
        for i in chosen:
            s = all_stacks[i]
            objs = 1 + (i * 7919) % 50
            size = 16 << ((i * 31) % 12)
            if grow and i % 20 == 0:
                objs *= 3
            threads = 1 + i % 4
            leaf = [je_base + 0x2630, je_base + 0x2D21, je_base + 0x15F24]
            f.write("@ " + " ".join("0x%x" % a for a in leaf + s[::-1]) + "\n")
            f.write("  t*: %d: %d [0: 0]\n" % (objs * threads, objs * threads * size))
            for t in range(threads):
                f.write("  t%d: %d: %d [0: 0]\n" % (t, objs, objs * size))
        f.write("\nMAPPED_LIBRARIES:\n")
        off, vaddr, memsz = seg
        f.write("%016x-%016x r-xp %08x 00:00 0 %s\n" % (base + vaddr, base + vaddr + memsz, off, binary))
        f.write("%016x-%016x r-xp 00000000 00:00 0 /usr/lib/x86_64-linux-gnu/libjemalloc.so.2\n"
                % (je_base, je_base + 0x100000))

n = len(all_stacks)
base_ids = list(range(stacks))
later_ids = [i for i in base_ids if i % 20 != 7] + list(range(stacks, n))
write(out + "/base.heap", base_ids, False)
write(out + "/later.heap", later_ids, True)
print("wrote %s/base.heap and %s/later.heap (%d and %d stacks)" % (out, out, len(base_ids), len(later_ids)))
