#!/usr/bin/env python3
"""Rewrites the scratch folder a run's binaries lay in (`PREFIX`, the scratch folder's absolute path with a slash) to
`./` in the recordings under the given folders, so no file carries a machine's path:

    python3 scrub-paths.py PREFIX DIR...

- jemalloc and gperftools dumps (`*.heap`) and reference texts (`*.txt`): the memory map's
  paths, replaced as text;
- heaptrack recordings (`*.zst`): decompressed with `zstd`, each length-prefixed string
  `s <hex length> <text>` rewritten with its new length, compressed again.
File times are kept (the jemalloc and gperftools series' time axis is their mtimes).
"""
import os
import subprocess
import sys


def scrub_text(data: bytes, old: bytes) -> bytes:
    return data.replace(old, b"./")


def scrub_heaptrack(data: bytes, old: bytes) -> bytes:
    out = []
    for line in data.split(b"\n"):
        if line.startswith(b"s ") and old in line:
            parts = line.split(b" ", 2)
            if len(parts) == 3:
                text = parts[2].replace(old, b"./")
                line = b"s %x %s" % (len(text), text)
        out.append(line)
    return b"\n".join(out)


def main() -> None:
    old = sys.argv[1].encode()
    for top in sys.argv[2:]:
        for root, _, files in os.walk(top):
            for name in files:
                path = os.path.join(root, name)
                st = os.stat(path)
                if name.endswith(".zst"):
                    raw = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
                    if old not in raw:
                        continue
                    new = scrub_heaptrack(raw, old)
                    packed = subprocess.run(["zstd", "-19", "-c"], input=new, check=True, capture_output=True).stdout
                    with open(path, "wb") as f:
                        f.write(packed)
                elif name.endswith((".heap", ".txt")):
                    with open(path, "rb") as f:
                        raw = f.read()
                    if old not in raw:
                        continue
                    with open(path, "wb") as f:
                        f.write(scrub_text(raw, old))
                else:
                    continue
                os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


if __name__ == "__main__":
    main()
