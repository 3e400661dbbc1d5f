#!/usr/bin/env bash
# Regenerates testdata/c: heap evidence of leakgen.c (planted leaks, and a leak-free control) under
# jemalloc, gperftools (tcmalloc's heap profiler) and heaptrack, plus the reference tools' outputs
# on every file. Needs gcc and Debian's libjemalloc2 + libjemalloc-dev (jeprof),
# libgoogle-perftools4 + google-perftools (google-pprof), heaptrack.
#
# The binary is built and run in a work folder ($work, below); scrub.py then rewrites that folder to ./
# in the committed profiles and recordings. A copy with its debug info is committed as
# testdata/c/leakgen for the tests (`--binary testdata/c/leakgen`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work="${TMPDIR:-/tmp}/leakdiff-c"
rm -rf "$work" && mkdir -p "$work"
cp "$here/leakgen.c" "$work/"
cd "$work"
gcc -O1 -g -fno-omit-frame-pointer -fdebug-prefix-map="$work"=. -o leakgen leakgen.c -ldl
cp leakgen "$here/leakgen"

je=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
tc=/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4
mkdir -p "$here/golden"
out="$here"
for mode in leak control; do
  # jemalloc: one sample per 4 KiB on average (lg_prof_sample:12); prof_accum adds the
  # [allocated objects: bytes] pair, so these files have four value columns.
  MALLOC_CONF=prof:true,prof_accum:true,lg_prof_sample:12,prof_prefix:$work/je \
    LD_PRELOAD=$je ./leakgen "$mode" "$out/$mode-jemalloc"
  # jemalloc with every allocation recorded (lg_prof_sample:0): numbers are exact.
  MALLOC_CONF=prof:true,lg_prof_sample:0,prof_prefix:$work/je \
    LD_PRELOAD=$je ./leakgen "$mode" "$out/$mode-jemalloc-exact"
  # gperftools heap profiler (not sampled).
  HEAPPROFILE=$work/hp LD_PRELOAD=$tc ./leakgen "$mode" "$out/$mode-gperftools"
  # heaptrack: the whole run, with timestamps.
  heaptrack -o "$work/$mode" ./leakgen "$mode" "$work/ht" > /dev/null
  cp "$work/$mode".zst "$out/$mode.heaptrack.zst"
done
cd "$out"
for f in *-jemalloc*.heap *-gperftools-*.heap; do
  tool=jeprof
  case "$f" in *gperftools*) tool=google-pprof ;; esac
  "$tool" --text --show_bytes "$work/leakgen" "$f" 2>/dev/null > "golden/$f.$tool.inuse_space.txt"
  "$tool" --text --inuse_objects "$work/leakgen" "$f" 2>/dev/null > "golden/$f.$tool.inuse_objects.txt"
done
for m in leak-jemalloc control-jemalloc leak-jemalloc-exact control-jemalloc-exact leak-gperftools control-gperftools; do
  tool=jeprof
  case "$m" in *gperftools*) tool=google-pprof ;; esac
  "$tool" --text --show_bytes --base="$m-base.heap" "$work/leakgen" "$m-later.heap" 2>/dev/null \
    > "golden/$m.diff.$tool.inuse_space.txt"
done
jeprof --text --alloc_space --show_bytes "$work/leakgen" leak-jemalloc-later.heap 2>/dev/null \
  > golden/leak-jemalloc-later.heap.jeprof.alloc_space.txt
# No path of this machine in committed files: the work folder becomes ./ (scrub.py).
python3 "$here/scrub.py" "$work"
for mode in leak control; do
  heaptrack_print -f "$mode.heaptrack.zst" -l 1 > "golden/$mode.heaptrack.zst.heaptrack_print.txt"
  # heaptrack's own time series (heap size at every timestamp), for --slices.
  heaptrack_print -f "$mode.heaptrack.zst" -M "golden/$mode.heaptrack.zst.massif" > /dev/null
done
heaptrack_print --version > golden/versions.txt 2>&1 || true
jeprof --version 2>&1 | head -1 >> golden/versions.txt
dpkg-query -W libjemalloc2 libgoogle-perftools4 heaptrack >> golden/versions.txt 2>/dev/null || true
gcc --version | head -1 >> golden/versions.txt
rm -rf "$work"
