#!/usr/bin/env bash
# Writes the 225-scenario evaluation grid of tests/cli/simulate.rs into DIR and runs
# `leakdiff eval` on it: scripts/eval-grid.sh [DIR] [SEEDS]   (LEAKDIFF=path/to/leakdiff)
set -euo pipefail
dir=${1:-target/eval-grid}
seeds=${2:-5}
bin=${LEAKDIFF:-target/debug/leakdiff}
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
"$bin" eval "$dir" --min-tpr 0.95 --max-fpr 0.02
