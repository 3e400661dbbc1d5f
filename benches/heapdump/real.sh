#!/usr/bin/env bash
# Large-dump benchmark on real Go heap dumps: benches/heapdump/bigheap (a Go program holding a
# heap of the given size as a leaking server does, default MemProfileRate) writes one dump per
# size, then `leakdiff retained` and `leakdiff cycles` run on it, timed, with their peak RSS as a
# fraction of the dump and each phase's time and memory (LEAKDIFF_PROGRESS=log) in a log.
#
# Usage: GO=/path/to/go benches/heapdump/real.sh [SIZE...]   (default 1G; e.g. 1G 3G 10G)
# The dumps go to ${DUMPS:-/tmp} and are never committed: a 10G heap writes a 13 GB dump.
set -euo pipefail
cd "$(dirname "$0")/../.."
go=${GO:-${LEAKDIFF_GO127:-go}}
dir=${DUMPS:-/tmp}
cargo build --release -q
(cd benches/heapdump/bigheap && GOTOOLCHAIN=local "$go" build -trimpath -o "$dir/bigheap" .)
[ $# -gt 0 ] || set -- 1G
for size in "$@"; do
  dump=$dir/bigheap-$size.dump
  # A low GOGC keeps the generator's own peak near its live heap (a 10G heap on 24 GB).
  [ -f "$dump" ] || GOGC=${GOGC:-25} "$dir/bigheap" -heap "$size" -o "$dump"
  bytes=$(stat -c %s "$dump")
  echo "== $size heap: dump of $bytes bytes"
  for cmd in retained cycles; do
    log=$dir/leakdiff-$cmd-$size.log
    LEAKDIFF_PROGRESS=log /usr/bin/time -f "$cmd: wall %e s, peak RSS %M KB" \
      ./target/release/leakdiff "$cmd" "$dump" --top 3 > /dev/null 2> "$log" || { cat "$log"; exit 1; }
    tail -1 "$log" | awk -v b="$bytes" '{ printf "%s (%.2f x the dump)\n", $0, $6 * 1024 / b }'
  done
  echo "   phases: $dir/leakdiff-{retained,cycles}-$size.log"
done
