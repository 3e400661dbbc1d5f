#!/bin/sh
# Reproduces testdata/real/cpp from scratch.
#
#   OUT=testdata/real/cpp sh testdata/real/cpp/gen/generate.sh
#
# Builds gen/sessions.cpp twice (GNU ld and lld), runs each build in a "growing" and a "steady"
# mode under jemalloc's profiler, gperftools' heap profiler and heaptrack, then writes the
# reference outputs of jeprof, google-pprof and heaptrack_print.  Every program is started from
# inside its run folder with a relative name (../bin/sessions-lld), and compiled with
# -fdebug-prefix-map, so neither the recordings nor the DWARF carry the scratch path.  The one
# absolute path a run records is the executable's own in the process's memory map
# ($WORK/bin/sessions-*): gen/scrub-paths.py rewrites it to ./bin/sessions-* before the copy.
# truth.json and README.md are hand-written and are not touched here.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-./leakdiff-cpp-work}
OUT=${OUT:-}
CXX=${CXX:-g++}
JEMALLOC=${JEMALLOC:-/usr/lib/x86_64-linux-gnu/libjemalloc.so.2}
TCMALLOC=${TCMALLOC:-/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4}
LLD_B=${LLD_B:-}                 # a folder holding ld.lld, passed as -B when ld.lld is not on PATH
TICKS=${TICKS:-20}
FRESH=${FRESH:-500}              # sessions registered per tick
REQUESTS=${REQUESTS:-4000}       # requests per tick
PAUSE_MS=${PAUSE_MS:-150}
JE_LG_INTERVAL=${JE_LG_INTERVAL:-25}   # a dump every 32 MiB allocated
GP_INTERVAL=${GP_INTERVAL:-33554432}  # a dump every 32 MiB allocated
BUILDS=${BUILDS:-"bfd lld"}
PROFILERS=${PROFILERS:-"jemalloc gperftools heaptrack"}
MODES=${MODES:-"growing steady"}
export LC_ALL=C

mkdir -p "$WORK"
# OUT is taken relative to where the script was started, not to WORK
if [ -n "$OUT" ]; then mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd); fi
cp "$HERE"/sessions.cpp "$WORK"/
cd "$WORK"
WORK=$(pwd)

STAGE=${STAGE:-all}   # STAGE=refs: only rewrite the reference outputs
if [ "$STAGE" != refs ]; then
# ---- builds: -fdebug-prefix-map maps this folder to "." in DW_AT_comp_dir and file names ----
rm -rf bin; mkdir -p bin
CXXFLAGS="-std=c++17 -O2 -g -fno-omit-frame-pointer -fdebug-prefix-map=$PWD=."
# shellcheck disable=SC2086
$CXX $CXXFLAGS -o bin/sessions-bfd sessions.cpp
if [ -z "$LLD_B" ] && ! command -v ld.lld > /dev/null 2>&1; then
  # no lld package: rust's bundled ld.lld
  for d in "$HOME"/.rustup/toolchains/*/lib/rustlib/x86_64-unknown-linux-gnu/bin/gcc-ld; do
    [ -x "$d/ld.lld" ] && LLD_B=$d && break
  done
fi
# shellcheck disable=SC2086
$CXX $CXXFLAGS ${LLD_B:+-B"$LLD_B"} -fuse-ld=lld -o bin/sessions-lld sessions.cpp
readelf -p .comment bin/sessions-lld | grep -q -i lld || { echo "sessions-lld was not linked by lld" >&2; exit 1; }

for build in $BUILDS; do
  for pf in $PROFILERS; do
    for mode in $MODES; do
      d=$build-$pf-$mode; rm -rf "$d"; mkdir -p "$d"; cd "$d"
      set -- ../bin/sessions-$build "$mode" "$TICKS" "$FRESH" "$REQUESTS" "$PAUSE_MS"
      case $pf in
        jemalloc)
          env LD_PRELOAD="$JEMALLOC" \
            MALLOC_CONF=prof:true,prof_prefix:jeprof.out,lg_prof_interval:$JE_LG_INTERVAL,lg_prof_sample:12,prof_final:true \
            "$@" > ../$d.log 2>&1 ;;
        gperftools)
          env LD_PRELOAD="$TCMALLOC" HEAPPROFILE=./gperf HEAP_PROFILE_ALLOCATION_INTERVAL=$GP_INTERVAL \
            "$@" > ../$d.log 2>&1 ;;
        heaptrack)
          heaptrack -o $d "$@" > ../$d.log 2>&1 ;;
      esac
      cd ..
    done
  done
done
fi
echo "runs done in $WORK"

# ---- reference outputs ----
rm -rf reference
for build in $BUILDS; do
  BIN=../bin/sessions-$build
  for pf in $PROFILERS; do
    for mode in $MODES; do
      d=$build-$pf-$mode
      [ -d "$d" ] || continue
      mkdir -p reference/$d
      if [ $pf = heaptrack ]; then
        # the -n 15 output, "reading file" line (absolute path) dropped, trimmed to <= 300
        # lines: the first 140 lines of PEAK, the first 140 of LEAKS, the summary lines.
        heaptrack_print -f $d/$d.zst --print-peaks 1 --print-leaks 1 --print-allocators 0 \
            --print-temporary 0 -n 15 2>&1 | grep -v '^reading file' > $d.full.txt || true
        { sed -n '1,/^MEMORY LEAKS/p' $d.full.txt | grep -v '^MEMORY LEAKS' | head -140
          echo "[... trimmed ...]"
          sed -n '/^MEMORY LEAKS/,/^total runtime/p' $d.full.txt | grep -v '^total runtime' | head -140
          echo "[... trimmed ...]"
          sed -n '/^total runtime/,$p' $d.full.txt
        } > reference/$d/heaptrack_print.txt
        continue
      fi
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
      # run from inside the series folder with the binary's relative name, so no absolute path
      # is printed (the tools print the binary as they were given it)
      (cd $d && r=../reference/$d
       $tool --text "$BIN" "$first" > $r/$tool.text.first.txt 2> $r/$tool.stderr.txt || true
       $tool --text "$BIN" "$last" > $r/$tool.text.last.txt 2>> $r/$tool.stderr.txt || true
       $tool --text --base="$first" "$BIN" "$last" > $r/$tool.text.base-first.last.txt 2>> $r/$tool.stderr.txt || true
       $tool --text --addresses "$BIN" "$last" > $r/$tool.text.addresses.last.txt 2>> $r/$tool.stderr.txt || true
       if [ -n "$final" ]; then
         $tool --text "$BIN" "$final" > $r/$tool.text.final.txt 2>> $r/$tool.stderr.txt || true
       fi
       printf 'first=%s\nlast=%s\nfinal=%s\n' "$first" "$last" "$final" > $r/dumps-used.txt)
    done
  done
done
echo "references done"
# The executable's path in the memory maps and heaptrack's module list: ./bin/sessions-*.
python3 "$HERE/scrub-paths.py" "$WORK/" $(ls -d bfd-* lld-* 2>/dev/null) reference

if [ -n "$OUT" ]; then
  mkdir -p "$OUT/bin" "$OUT/reference"
  cp -a bin/. "$OUT/bin/"
  # the reference outputs sit beside the series, not in them: a series folder holds inputs only
  cp -a reference/. "$OUT/reference/"
  for build in $BUILDS; do for pf in $PROFILERS; do for mode in $MODES; do
    d=$build-$pf-$mode
    [ -d "$d" ] || continue
    mkdir -p "$OUT/$d"
    # keep hand-written truth.json, replace the rest
    find "$OUT/$d" -mindepth 1 -maxdepth 1 ! -name truth.json -exec rm -rf {} +
    cp -a "$d"/. "$OUT/$d"/   # -a keeps the dump times
  done; done; done
  # Git keeps no file times, and jemalloc/gperftools dumps carry no time of their own: the
  # series' time axis is the dumps' mtimes.  mtimes.tsv records them (path, seconds since the
  # epoch) so a checkout can put them back (`sh gen/restore-mtimes.sh`).
  (cd "$OUT" && find bfd-* lld-* -type f -name '*.heap' -printf '%p\t%T@\n' | LC_ALL=C sort > mtimes.tsv)
fi
