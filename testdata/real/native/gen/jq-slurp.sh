#!/bin/sh
# Debian's jq 1.6 slurping 60,000 numbers under gperftools' heap profiler, a dump every 4 KiB
# allocated: its first dump comes before anything was freed, so it has pprof's two-column form
# (`[objects, space]`) while the later ones have four columns. Fourteen of the 266 dumps are kept
# (the first, every 22nd, the exit dump), unmodified.
# Usage: WORK=/scratch OUT=testdata/real/native sh testdata/real/native/gen/jq-slurp.sh
set -eu
TCMALLOC=${TCMALLOC:-/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4}
WORK=${WORK:-/tmp/leakdiff-jq}
OUT=${OUT:-testdata/real/native}
rm -rf "$WORK/jq" && mkdir -p "$WORK/jq"
cd "$WORK/jq"
seq 1 60000 | LD_PRELOAD="$TCMALLOC" HEAPPROFILE=./gperf HEAP_PROFILE_ALLOCATION_INTERVAL=4096 \
    jq -s length > /dev/null 2> ../jq.log
cd - > /dev/null
mkdir -p "$OUT/jq-gperftools-slurp"
for i in 1 23 45 67 89 111 133 155 177 199 221 243 265 266; do
    cp -a "$WORK/jq/gperf.$(printf %04d $i).heap" "$OUT/jq-gperftools-slurp/"
done
