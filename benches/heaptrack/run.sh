#!/usr/bin/env bash
# heaptrack benchmark: records churn.c (~50M allocation events by default) under heaptrack, then
# times heaptrack_print against leakdiff on the recording. Needs gcc, heaptrack, hyperfine.
#   benches/heaptrack/run.sh [EVENTS]
set -euo pipefail
cd "$(dirname "$0")/../.."
events=${1:-50000000}
dir=testdata/bench/heaptrack
mkdir -p "$dir"
rec="$dir/churn.$events.zst"
if [ ! -f "$rec" ]; then
  gcc -O1 -g -fno-omit-frame-pointer -fdebug-prefix-map="$PWD"=. -o "$dir/churn" benches/heaptrack/churn.c
  heaptrack -o "$dir/churn.$events" "$dir/churn" "$events" > /dev/null
fi
cargo build --release -q
echo "recording: $(du -b "$rec" | cut -f1) bytes (zstd), $(zstd -dc "$rec" | wc -c) bytes interpreted"
ld=./target/release/leakdiff
rss() { /usr/bin/time -f '%M' "$@" >/dev/null 2>/tmp/leakdiff-rss.$$ || true; tail -1 /tmp/leakdiff-rss.$$; rm -f /tmp/leakdiff-rss.$$; }
echo "peak RSS KB: heaptrack_print $(rss heaptrack_print -f "$rec")," \
  "leakdiff --slices 2 $(rss $ld "$rec" --slices 2)," \
  "leakdiff REC REC $(rss $ld "$rec" "$rec")"
hyperfine --warmup 1 --runs "${RUNS:-3}" \
  "heaptrack_print -f $rec" \
  "$ld $rec --slices 2 --top 20" \
  "$ld $rec $rec --top 20"
