#!/usr/bin/env bash
# Graph benchmark: a synthetic Go heap dump of 10M objects (30M pointers, a 10M-deep chain and one
# giant cycle; benches/gen_heapdump.rs, not committed), through `leakdiff cycles` and
# `leakdiff retained`: parse, Csr build, BFS, Tarjan, dominators, retained sizes.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${OBJECTS:-10000000}
dump=testdata/bench/graph-$n.dump
[ -f "$dump" ] || cargo bench --bench gen_heapdump -- "$dump" "$n"
cargo build --release -q
echo "dump: $(du -b "$dump" | cut -f1) bytes"
for cmd in cycles retained; do
  /usr/bin/time -f "$cmd: wall %e s, peak RSS %M KB" ./target/release/leakdiff $cmd "$dump" --top 3 > /dev/null
done
