#!/usr/bin/env python3
"""Rewrites the generator's work folder (its first argument) to `./` in the committed files, so no
absolute path of the generating machine is committed: the memory maps of the .heap profiles, and the
strings of the heaptrack recordings (sized strings keep their length prefix right). System library
paths (/usr/lib/…) are the distribution's and stay. Run by generate.sh after the references."""
import glob
import subprocess
import sys

WORK = sys.argv[1].rstrip("/") + "/"

for path in glob.glob("*.heap"):
    text = open(path).read()
    open(path, "w").write(text.replace(WORK, "./"))

for path in glob.glob("*.heaptrack.zst"):
    raw = subprocess.run(["zstd", "-dc", path], capture_output=True, check=True).stdout.decode()
    out = []
    for line in raw.split("\n"):
        if line.startswith("s ") and WORK in line:
            _, _, s = line.split(" ", 2)
            s = s.replace(WORK, "./")
            line = "s %x %s" % (len(s.encode()), s)
        elif line.startswith("X "):
            line = line.replace(WORK, "./")
        out.append(line)
    subprocess.run(["zstd", "-q", "-19", "-f", "-o", path], input="\n".join(out).encode(), check=True)
print("scrubbed", file=sys.stderr)
