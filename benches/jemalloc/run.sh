#!/usr/bin/env bash
# jemalloc benchmark: two heap_v2 profiles of ~200k stacks (benches/jemalloc/gen.py), symbolized
# from the same binary; leakdiff's diff against `jeprof --text --base`. Needs python3, binutils,
# jeprof (libjemalloc-dev), hyperfine.
#   benches/jemalloc/run.sh [STACKS]
set -euo pipefail
cd "$(dirname "$0")/../.."
stacks=${1:-200000}
dir=testdata/bench/jemalloc
mkdir -p "$dir"
cargo build --release -q
bin="$PWD/$dir/leakdiff-symbols"
[ -f "$bin" ] || cp target/release/leakdiff "$bin"   # a real binary with ~10k functions
[ -f "$dir/base.heap" ] || python3 benches/jemalloc/gen.py "$dir" "$bin" "$stacks"
echo "inputs: $(du -b "$dir/base.heap" | cut -f1) + $(du -b "$dir/later.heap" | cut -f1) bytes"
ld=(./target/release/leakdiff "$dir/base.heap" "$dir/later.heap" --top 20)
je=(jeprof --text --show_bytes "--base=$dir/base.heap" "$bin" "$dir/later.heap")
rss() { /usr/bin/time -f '%M' "$@" >/dev/null 2>/tmp/leakdiff-rss.$$ || true; tail -1 /tmp/leakdiff-rss.$$; rm -f /tmp/leakdiff-rss.$$; }
echo "peak RSS KB: leakdiff $(rss "${ld[@]}"), leakdiff --threads 1 $(rss "${ld[@]}" --threads 1), jeprof $(rss "${je[@]}")"
hyperfine --warmup 1 --runs "${RUNS:-3}" "${ld[*]} --threads 1" "${ld[*]}"
# jeprof takes minutes: timed once.
/usr/bin/time -f 'jeprof --text --base: %e s wall' "${je[@]}" > /dev/null 2> >(grep -v '^Using' >&2)
