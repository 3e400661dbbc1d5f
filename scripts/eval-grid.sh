#!/usr/bin/env bash
# Writes the 225-scenario evaluation grid of tests/cli/simulate.rs into DIR, the 165 scenarios
# of real programs' shapes into DIR-shapes and 75 GC-stale ones into DIR-gc-stale, and runs `leakdiff eval` on each: scripts/eval-grid.sh [DIR] [SEEDS]   (LEAKDIFF=path/to/leakdiff)
set -euo pipefail
dir=${1:-target/eval-grid}
seeds=${2:-5}
bin=${LEAKDIFF:-target/debug/leakdiff}
# Every section runs; the script fails at the end when any section's gate failed.
status=0
[ -x "$bin" ] || cargo build --quiet
rm -rf "$dir"
mkdir -p "$dir"
for seed in $(seq 1 "$seeds"); do
  for p in linear exponential stepped oscillating plateau; do
    for g in 128KiB/s 512KiB/s 2MiB/s; do
      "$bin" simulate --type memory --pattern "$p" --growth "$g" --seed "$seed" \
        --output "$dir/memory-$p-${g%/s}-$seed" 2>/dev/null
    done
    for r in 0.1/s 0.5/s; do
      for f in pprof debug2; do
        "$bin" simulate --type goroutine --pattern "$p" --rate "$r" --goroutine-format "$f" \
          --seed "$seed" --output "$dir/goroutine-$p-${r%/s}-$f-$seed" 2>/dev/null
      done
    done
    for r in 1/s 4/s; do
      "$bin" simulate --type cycle --pattern "$p" --rate "$r" --seed "$seed" \
        --output "$dir/cycle-$p-${r%/s}-$seed" 2>/dev/null
    done
  done
done
"$bin" eval "$dir" --min-tpr 0.95 --max-fpr 0.02 || status=1
# The shapes of real programs (tests/cli/simulate.rs runs 3 seeds of it at 512KiB/s): a Go map
# that doubles, a recording that ends in teardown, the profiler's own allocations.
shapes="$dir-shapes"
rm -rf "$shapes"
mkdir -p "$shapes"
for seed in $(seq 1 "$seeds"); do
  for g in 128KiB/s 512KiB/s 2MiB/s; do
    "$bin" simulate --type memory --pattern doubling --growth "$g" --seed "$seed" \
      --output "$shapes/doubling-${g%/s}-$seed" 2>/dev/null
    for p in linear stepped doubling plateau oscillating; do
      for flag in --teardown --profiler-noise; do
        "$bin" simulate --type memory --pattern "$p" --growth "$g" --seed "$seed" $flag \
          --output "$shapes/${flag#--}-$p-${g%/s}-$seed" 2>/dev/null
      done
    done
  done
done
"$bin" eval "$shapes" --min-tpr 0.95 --max-fpr 0.02 || status=1
# Heap profiles as Go writes them, as of the last completed GC (GOGC=100, the forced GC every
# 2 minutes): 30 snapshots 10 s apart hold 5 to 11 GC states.
stale="$dir-gc-stale"
rm -rf "$stale"
mkdir -p "$stale"
for seed in $(seq 1 "$seeds"); do
  for p in linear stepped doubling plateau oscillating; do
    for g in 128KiB/s 512KiB/s 2MiB/s; do
      "$bin" simulate --type memory --pattern "$p" --growth "$g" --seed "$seed" --gc-stale \
        --snapshots 30 --interval 10s --output "$stale/$p-${g%/s}-$seed" 2>/dev/null
    done
  done
done
"$bin" eval "$stale" --min-tpr 0.95 --max-fpr 0.02 || status=1
exit "$status"
