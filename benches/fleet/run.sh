#!/usr/bin/env bash
# Fleet benchmark: SERVICES services × SNAPSHOTS heap snapshots each, made by `leakdiff simulate`
# (patterns cycling through linear, plateau, oscillating, stepped and exponential), ingested into
# one dataset (rows/s), then the Spark job (contrib/spark/leakdiff_fleet.py) at local[1] and
# local[2] (rows/s, and how its time falls with the second core).
#
#   benches/fleet/run.sh [SERVICES] [SNAPSHOTS] [WORK]      (defaults: 200 100 /tmp/leakdiff-fleet)
#
# Needs a release build (cargo build --release) and a python with pyspark, pandas and pyarrow
# (LEAKDIFF_SPARK_PYTHON, as .ci/run makes it). Nothing is committed from WORK.
set -euo pipefail
cd "$(dirname "$0")/../.."
services=${1:-200}
snapshots=${2:-100}
work=${3:-/tmp/leakdiff-fleet}
bin=$PWD/target/release/leakdiff
py=${LEAKDIFF_SPARK_PYTHON:-python3}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }
rm -rf "$work" && mkdir -p "$work/series"
patterns=(linear plateau oscillating stepped exponential)
now() { date +%s.%N; }
t0=$(now)
seq 1 "$services" | xargs -P "$(nproc)" -I{} sh -c '
  p=$(echo "linear plateau oscillating stepped exponential" | cut -d" " -f$(( {} % 5 + 1 )))
  "$0" simulate -o "$1/series/svc-{}" --seed {} --pattern "$p" --snapshots "$2" --objects 2000 >/dev/null 2>&1
' "$bin" "$work" "$snapshots"
t1=$(now)
echo "simulate: $services series × $snapshots snapshots in $(echo "$t1 - $t0" | bc) s"
rows=0
t0=$(now)
for d in "$work"/series/svc-*; do
  s=$(basename "$d")
  line=$("$bin" ingest --service "$s" -i "$d" -o "$work/fleet" --no-progress 2>&1 | grep 'leakdiff: ingest:')
  n=$(echo "$line" | sed -E 's/.* ([0-9]+) row\(s\).*/\1/')
  rows=$((rows + n))
done
t1=$(now)
secs=$(echo "$t1 - $t0" | bc)
echo "ingest: $rows rows of $((services * snapshots)) snapshots in $secs s: $(echo "$rows / $secs" | bc) rows/s ($(du -sh "$work/fleet" | cut -f1) on disk)"
for master in 'local[1]' 'local[2]'; do
  rm -rf "$work/suspects"
  t0=$(now)
  "$py" contrib/spark/leakdiff_fleet.py "$work/fleet" "$work/suspects" --leakdiff "$bin" --master "$master" 2>&1 | grep 'leakdiff_fleet:' || true
  t1=$(now)
  secs=$(echo "$t1 - $t0" | bc)
  echo "spark $master: $secs s, $(echo "$rows / $secs" | bc) rows/s"
done
