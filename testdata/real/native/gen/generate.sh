#!/bin/sh
# Reproduces testdata/real/native from scratch.
#
#   WORK=/some/scratch OUT=/path/to/testdata/real/native sh gen/generate.sh
#
# Runs Debian's python3.11 and gawk, unmodified, under heaptrack, jemalloc's
# profiler and gperftools' heap profiler, in a "growing" and a "steady"
# workload each, then writes the reference outputs of heaptrack_print, jeprof
# and google-pprof.  Every program is started from inside its run folder with
# relative script names, so recordings do not carry the scratch path.
# truth.json and README.md are hand-written and are not touched here.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-./realnative-work}
OUT=${OUT:-}
# OUT is taken relative to where the script was started, not to WORK
if [ -n "$OUT" ]; then mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd); fi
PY=${PY:-/usr/bin/python3.11}
GAWK=${GAWK:-/usr/bin/gawk}
JEMALLOC=${JEMALLOC:-/usr/lib/x86_64-linux-gnu/libjemalloc.so.2}
TCMALLOC=${TCMALLOC:-/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4}
TICKS=${TICKS:-12}
GAWK_LINES=${GAWK_LINES:-8000}     # lines per tick fed to gawk
PAUSE=${PAUSE:-0.35}
JE_LG_INTERVAL=${JE_LG_INTERVAL:-22}          # python: dump every 4 MiB allocated
JE_LG_INTERVAL_GAWK=${JE_LG_INTERVAL_GAWK:-22}
GP_INTERVAL=${GP_INTERVAL:-10485760}          # python: every 10 MiB (its dumps are ~180 KB each)
GP_INTERVAL_GAWK=${GP_INTERVAL_GAWK:-4194304}
export LC_ALL=C

mkdir -p "$WORK"
cp "$HERE"/cache_ticks.py "$HERE"/feed.py "$HERE"/store_growing.awk "$HERE"/store_steady.awk "$WORK"/
cd "$WORK"

# run PROGRAM PROFILER MODE: the workload command, run inside ./PROGRAM-PROFILER-MODE
workload() {   # $1 program, $2 mode, then the wrapper words
  prog=$1 mode=$2; shift 2
  case $prog in
    python) "$@" "$PY" ../cache_ticks.py "$mode" "$TICKS" ;;
    gawk)   "$PY" ../feed.py "$TICKS" "$GAWK_LINES" "$PAUSE" | "$@" "$GAWK" -f ../store_"$mode".awk ;;
  esac
}
bin_of() { case $1 in python) echo "$PY" ;; gawk) echo "$GAWK" ;; esac; }

STAGE=${STAGE:-all}   # STAGE=refs: only rewrite the reference outputs
if [ "$STAGE" != refs ]; then
for prog in python gawk; do
  BIN=$(bin_of $prog)
  for mode in growing steady; do
    # ---- heaptrack ----
    d=$prog-heaptrack-$mode; rm -rf "$d"; mkdir -p "$d" "reference/$d"; cd "$d"
    workload $prog $mode heaptrack -o $d > ../$d.log 2>&1
    heaptrack_print -f $d.zst --print-peaks 1 --print-leaks 1 --print-allocators 0 \
        --print-temporary 0 -n 15 > ../$d.print.txt 2>&1 || true
    cd ..
    # ---- jemalloc ----
    d=$prog-jemalloc-$mode; rm -rf "$d"; mkdir -p "$d" "reference/$d"; cd "$d"
    lg=$JE_LG_INTERVAL; [ $prog = gawk ] && lg=$JE_LG_INTERVAL_GAWK
    workload $prog $mode env LD_PRELOAD="$JEMALLOC" \
        MALLOC_CONF=prof:true,prof_prefix:jeprof.out,lg_prof_interval:$lg,lg_prof_sample:12,prof_final:true \
        > ../$d.log 2>&1
    cd ..
    # ---- gperftools ----
    d=$prog-gperftools-$mode; rm -rf "$d"; mkdir -p "$d" "reference/$d"; cd "$d"
    iv=$GP_INTERVAL; [ $prog = gawk ] && iv=$GP_INTERVAL_GAWK
    workload $prog $mode env LD_PRELOAD="$TCMALLOC" HEAPPROFILE=./gperf \
        HEAP_PROFILE_ALLOCATION_INTERVAL=$iv > ../$d.log 2>&1
    cd ..
  done
done
fi
echo "runs done in $WORK"

# ---- reference outputs (need the binaries and their debug files) ----
for prog in python gawk; do
  BIN=$(bin_of $prog)
  for mode in growing steady; do
    d=$prog-heaptrack-$mode
    # drop the "reading file ..." line (absolute path) and trim to 300 lines
    # heaptrack_print.txt: the -n 15 output, "reading file" line (absolute
    # path) dropped, trimmed to <= 300 lines: the first 140 lines of the
    # PEAK section, the first 140 of the LEAKS section, the summary lines.
    grep -v '^reading file' $d.print.txt > $d.full.txt
    { sed -n '1,/^MEMORY LEAKS/p' $d.full.txt | grep -v '^MEMORY LEAKS' | head -140
      echo "[... trimmed ...]"
      sed -n '/^MEMORY LEAKS/,/^total runtime/p' $d.full.txt | grep -v '^total runtime' | head -140
      echo "[... trimmed ...]"
      sed -n '/^total runtime/,$p' $d.full.txt
    } > reference/$d/heaptrack_print.txt
    if [ $prog = gawk ]; then
      # gawk has no symbols: heaptrack_print merges all its unnamed frames into
      # one "function"; the flame-graph stacks keep every instruction address.
      # (python's are ~900 KB each, so they are not kept.)
      for ct in peak leaked; do
        heaptrack_print -f $d/$d.zst -F reference/$d/heaptrack_print.flamegraph.$ct.txt \
            --flamegraph-cost-type $ct > /dev/null 2>&1 || true
      done
    fi
    for pf in jemalloc gperftools; do
      d=$prog-$pf-$mode
      # interval dumps in sequence order
      if [ $pf = jemalloc ]; then
        # jeprof.out.PID.SEQ.iN.heap: numeric order of SEQ (field 4)
        ls $d | grep -E '\.i[0-9]+\.heap$' | sort -t. -k4,4n > $d.seq
        final=$(ls $d | grep -E '\.f\.heap$' || true)
        tool=jeprof
      else
        # gperf.NNNN.heap; the one logged as "(Exiting, ...)" is the exit dump
        final=$(sed -n 's|^Dumping heap profile to \./\(gperf\.[0-9]*\.heap\) (Exiting.*|\1|p' $d.log)
        ls $d | grep -E '^gperf\.[0-9]+\.heap$' | grep -vx "${final:-none}" | sort > $d.seq
        tool=google-pprof
      fi
      first=$(head -1 $d.seq); last=$(tail -1 $d.seq)
      (cd $d && $tool --text "$BIN" "$first" > ../reference/$d/$tool.text.first.txt 2>../reference/$d/$tool.stderr.txt || true
       $tool --text "$BIN" "$last" > ../reference/$d/$tool.text.last.txt 2>>../reference/$d/$tool.stderr.txt || true
       $tool --text --base="$first" "$BIN" "$last" > ../reference/$d/$tool.text.base-first.last.txt 2>>../reference/$d/$tool.stderr.txt || true
       $tool --text --addresses "$BIN" "$last" > ../reference/$d/$tool.text.addresses.last.txt 2>>../reference/$d/$tool.stderr.txt || true
       if [ -n "$final" ]; then
         $tool --text "$BIN" "$final" > ../reference/$d/$tool.text.final.txt 2>>../reference/$d/$tool.stderr.txt || true
       fi
       printf 'first=%s\nlast=%s\nfinal=%s\n' "$first" "$last" "$final" > ../reference/$d/dumps-used.txt)
    done
  done
done
echo "references done"

if [ -n "$OUT" ]; then
  mkdir -p "$OUT"
  # the reference outputs sit beside the series, not in them: a series folder holds inputs only
  mkdir -p "$OUT/reference"; cp -a reference/. "$OUT/reference/"
  for d in python-* gawk-*; do
    [ -d "$d" ] || continue
    mkdir -p "$OUT/$d"
    # keep hand-written truth.json, replace the rest
    find "$OUT/$d" -mindepth 1 -maxdepth 1 ! -name truth.json -exec rm -rf {} +
    cp -a "$d"/. "$OUT/$d"/   # -a keeps the dump times
  done
fi

# Git keeps no file times, and jemalloc/gperftools dumps carry no time of their own: the series'
# time axis is the dumps' mtimes. mtimes.tsv records them (path, seconds since the epoch) so a
# checkout can put them back (tests do; `sh gen/restore-mtimes.sh` does it by hand).
if [ -n "$OUT" ]; then
  (cd "$OUT" && find python-* gawk-* jq-* -type f -name '*.heap' -printf '%p\t%T@\n' | LC_ALL=C sort > mtimes.tsv)
fi
