#!/usr/bin/env bash
# Whole-command timings: leakdiff vs `go tool pprof -top -diff_base` on two Go-shaped heap profiles
# of ~200k distinct stacks (generated; see benches/support/synth.rs). Wall time with hyperfine when
# installed (else /usr/bin/time), peak RSS with /usr/bin/time -f %M.
#   benches/cli.sh            # call-tree-shaped stacks (realistic)
#   RANDOM_STACKS=1 benches/cli.sh   # no shared prefixes (worst case for leakdiff's prefix tree)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=testdata/bench
if [ "${RANDOM_STACKS:-}" = 1 ]; then dir=testdata/bench/random; export LEAKDIFF_SYNTH_RANDOM=1; fi
if [ ! -f "$dir/base.pb.gz" ]; then cargo bench --bench gen_profiles -- "$dir" 200000; fi
cargo build --release -q
ld=(./target/release/leakdiff "$dir/base.pb.gz" "$dir/later.pb.gz" --top 20)
pp=(go tool pprof -top -nodecount=20 -diff_base "$dir/base.pb.gz" "$dir/later.pb.gz")
rss() { /usr/bin/time -f '%M' "$@" >/dev/null 2>/tmp/leakdiff-rss.$$ || true; tail -1 /tmp/leakdiff-rss.$$; rm -f /tmp/leakdiff-rss.$$; }
echo "inputs: $(du -b "$dir/base.pb.gz" | cut -f1) + $(du -b "$dir/later.pb.gz" | cut -f1) bytes (gzip)"
for threads in 1 2; do
  echo "leakdiff --threads $threads peak RSS: $(rss "${ld[@]}" --threads $threads) KB"
done
if command -v go >/dev/null; then echo "go tool pprof peak RSS: $(rss "${pp[@]}") KB"; fi
if command -v hyperfine >/dev/null; then
  cmds=("${ld[*]} --threads 1" "${ld[*]}")
  if command -v go >/dev/null; then cmds+=("${pp[*]}"); fi
  hyperfine --warmup 1 --runs "${RUNS:-3}" "${cmds[@]}"
else
  /usr/bin/time -f 'leakdiff wall %e s' "${ld[@]}" >/dev/null
  if command -v go >/dev/null; then /usr/bin/time -f 'pprof wall %e s' "${pp[@]}" >/dev/null; fi
fi
