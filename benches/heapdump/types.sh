#!/usr/bin/env bash
# What typing a heap dump's objects from the binary's DWARF costs `leakdiff retained`: the same
# dump of benches/heapdump/bigheap (a real Go program, default MemProfileRate) ranked with and
# without `--binary`, alternating, REPS times each; wall time and peak RSS of each run, and the
# medians' ratio (typed / untyped).
#
# Usage: GO=/path/to/go benches/heapdump/types.sh [SIZE...]   (default 1G; e.g. 1G 3G)
# The dumps go to ${DUMPS:-/tmp}, as real.sh writes them (one dump serves both scripts).
set -euo pipefail
cd "$(dirname "$0")/../.."
go=${GO:-${LEAKDIFF_GO127:-go}}
dir=${DUMPS:-/tmp}
reps=${REPS:-2}
leakdiff=${LEAKDIFF:-./target/release/leakdiff}
[ -n "${LEAKDIFF:-}" ] || cargo build --release -q
(cd benches/heapdump/bigheap && GOTOOLCHAIN=local "$go" build -trimpath -o "$dir/bigheap" .)
[ $# -gt 0 ] || set -- 1G
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for size in "$@"; do
  dump=$dir/bigheap-$size.dump
  [ -f "$dump" ] || GOGC=${GOGC:-25} "$dir/bigheap" -heap "$size" -o "$dump"
  echo "== $size heap: dump of $(stat -c %s "$dump") bytes"
  : > "$dir/types-$size.tsv"
  for ((r = 1; r <= reps; r++)); do
    for mode in untyped typed; do
      # The same ranking both times: only reading the DWARF and typing the objects differ.
      extra=(--by root)
      [ "$mode" = typed ] && extra+=(--binary "$dir/bigheap")
      /usr/bin/time -f "%e %M" -o "$dir/time.txt" \
        "$leakdiff" retained "$dump" --top 3 "${extra[@]}" > /dev/null 2> "$dir/types-$mode-$size.err"
      read -r wall rss < "$dir/time.txt"
      printf '%s\t%s\t%s\t%s\n' "$mode" "$r" "$wall" "$rss" | tee -a "$dir/types-$size.tsv"
    done
  done
  for col in 3 4; do
    u=$(awk -v c=$col '$1 == "untyped" { print $c }' "$dir/types-$size.tsv" | median)
    t=$(awk -v c=$col '$1 == "typed" { print $c }' "$dir/types-$size.tsv" | median)
    name=$([ $col = 3 ] && echo "wall s" || echo "peak RSS KB")
    awk -v u="$u" -v t="$t" -v n="$name" 'BEGIN { printf "%s: untyped %s, typed %s (+%.1f %%)\n", n, u, t, 100 * (t / u - 1) }'
  done
  grep -h "types from the binary" "$dir/types-typed-$size.err" | head -1 || true
done
