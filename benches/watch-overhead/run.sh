#!/usr/bin/env bash
# Measure what `leakdiff watch` costs a real Go service: Debian's etcd 3.4 with
# thousands of goroutines (long-lived watch streams) under a steady put load.
#
# Usage: benches/watch-overhead/run.sh [RESULTS_DIR]
#
# Environment (all optional):
#   LEAKDIFF   leakdiff binary (default /tmp/ld-bench, else `leakdiff` on PATH)
#   ETCD       etcd binary (default etcd on PATH)
#   REPS       repetitions of the whole condition list (default 2)
#   WINDOW     measured window per condition, seconds (default 300)
#   WARMUP     seconds between starting the load and the first window (default 120)
#   CONDS      conditions, in order, per repetition (default
#              "none 30:all 5:all 30:light 5:light 60:all 60:light")
#              none = control, no watcher; I:all = `watch --interval Is` with the
#              default profiles (heap,goroutine,goroutine-debug2,goroutineleak);
#              I:light = `--profiles heap,goroutine` (no goroutine text dump)
#   WATCHERS   etcd watch streams held open by the load (default 1000, ~6 goroutines each)
#   RATE       PUTs per second (default 20), each to one watched key
#   PORT       etcd client port (default 22379); PEER (default 22380)
#   KEEP_SNAPSHOTS  1 = keep the watcher's output folders (default 0: sizes only)
#
# One etcd process serves every condition (started once, warm); the load runs
# throughout. A watcher runs `--count WINDOW/I` rounds from the window start, so every
# round falls inside the window. Service CPU = Δ(utime+stime) of etcd over the window.
# Raw logs go under RESULTS_DIR/<rep>-<cond>/; one row per run in
# RESULTS_DIR/summary.tsv; the aggregated table in RESULTS_DIR/table.md.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
RES=${1:-$(mktemp -d -t watch-overhead.XXXXXX)}
mkdir -p "$RES"
RES=$(cd "$RES" && pwd)

if [[ -z "${LEAKDIFF:-}" ]]; then
  if [[ -x /tmp/ld-bench ]]; then LEAKDIFF=/tmp/ld-bench; else LEAKDIFF=leakdiff; fi
fi
ETCD=${ETCD:-etcd}
REPS=${REPS:-2}
WINDOW=${WINDOW:-300}
WARMUP=${WARMUP:-120}
CONDS=${CONDS:-none 30:all 5:all 30:light 5:light 60:all 60:light}
WATCHERS=${WATCHERS:-1000}
RATE=${RATE:-20}
PORT=${PORT:-22379}
PEER=${PEER:-22380}
KEEP_SNAPSHOTS=${KEEP_SNAPSHOTS:-0}
TCK=$(getconf CLK_TCK)
C="http://127.0.0.1:$PORT"
P="http://127.0.0.1:$PEER"
echo "results: $RES"

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

now() { date +%s.%N; }
sleep_until() { # absolute epoch seconds (fractional)
  local d
  d=$(awk -v t="$1" -v n="$(now)" 'BEGIN { d = t - n; if (d < 0) d = 0; printf "%.3f", d }')
  sleep "$d"
}
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
goroutines() { curl -s "$C/debug/pprof/goroutine?debug=1" | awk 'NR == 1 { print $NF }'; }

# ---- service + load ------------------------------------------------------
mkdir -p "$RES/etcd"
"$ETCD" --name bench --data-dir "$RES/etcd/data" --enable-pprof \
  --listen-client-urls "$C" --advertise-client-urls "$C" \
  --listen-peer-urls "$P" --initial-advertise-peer-urls "$P" --initial-cluster "bench=$P" \
  --snapshot-count 2000 --auto-compaction-mode periodic --auto-compaction-retention 10s \
  > "$RES/etcd/etcd.log" 2>&1 &
EPID=$!; PIDS+=("$EPID")
for _ in $(seq 100); do curl -sf -o /dev/null "$C/health" && break; sleep 0.2; done
curl -sf -o /dev/null "$C/health"
python3 "$HERE/etcd_watchload.py" --port "$PORT" --watchers "$WATCHERS" --rate "$RATE" \
  > "$RES/etcd/load.out" 2> "$RES/etcd/load.err" &
LPID=$!; PIDS+=("$LPID")
for _ in $(seq 600); do grep -q '^READY' "$RES/etcd/load.out" && break; sleep 0.1; done
grep -q '^READY' "$RES/etcd/load.out"

# ---- machine info --------------------------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
  echo "kernel: $(uname -sr)"
  echo "mem_total: $(awk '/MemTotal/ {print $2, $3}' /proc/meminfo)"
  echo "etcd: $("$ETCD" --version | tr '\n' ' ')"
  echo "etcd_deb: $(dpkg-query -W -f '${Package} ${Version}' etcd-server 2>/dev/null || echo '?')"
  echo "leakdiff: $LEAKDIFF ($("$LEAKDIFF" --version 2>/dev/null || echo '?'))"
  echo "params: REPS=$REPS WINDOW=$WINDOW WARMUP=$WARMUP WATCHERS=$WATCHERS RATE=$RATE CLK_TCK=$TCK"
  echo "conds: $CONDS"
} > "$RES/machine.txt"
cat "$RES/machine.txt"

sleep "$WARMUP"
echo "goroutines after warm-up: $(goroutines)" | tee -a "$RES/machine.txt"

printf 'rep\tcond\tinterval_s\tprofiles\trounds\tgoroutines\tsvc_cpu_s\tsvc_rss0_kib\tsvc_rss_kib\twatch_cpu_s\twatch_maxrss_kib\twatch_rc\tout_files\tout_kib\tload_cpu_s\tload1\n' \
  > "$RES/summary.tsv"

run_one() {
  local rep=$1 cond=$2 dir="$RES/$1-${2/:/-}" iv="" prof="" profiles="" n=0
  mkdir -p "$dir"
  case $cond in
    none) ;;
    *:all)   iv=${cond%%:*}; prof=all;   profiles=heap,goroutine,goroutine-debug2,goroutineleak ;;
    *:light) iv=${cond%%:*}; prof=light; profiles=heap,goroutine ;;
    *) echo "unknown condition $cond" >&2; return 1 ;;
  esac
  local g t0 c0 l0 r0 wpid=""
  g=$(goroutines)
  sleep 2
  t0=$(now); c0=$(cpu_ticks "$EPID"); l0=$(cpu_ticks "$LPID"); r0=$(rss_kib "$EPID")
  if [[ -n $iv ]]; then
    n=$((WINDOW / iv))
    local cmd=("$LEAKDIFF" watch --url "$C/debug/pprof/" --pid "$EPID" --interval "${iv}s"
               --count "$n" --profiles "$profiles" -q -o "$dir/snapshots")
    echo "${cmd[*]}" > "$dir/cmd.txt"
    /usr/bin/time -v -o "$dir/time.txt" "${cmd[@]}" > "$dir/watch.out" 2> "$dir/watch.err" &
    wpid=$!
  fi
  sleep_until "$(awk -v a="$t0" -v b="$WINDOW" 'BEGIN { printf "%.3f", a + b }')"
  local c1 l1 r1 load wrc=- wcpu=- wrss=- files=- kib=-
  c1=$(cpu_ticks "$EPID"); l1=$(cpu_ticks "$LPID"); r1=$(rss_kib "$EPID")
  load=$(cut -d' ' -f1 /proc/loadavg)
  if [[ -n $wpid ]]; then
    wrc=0; wait "$wpid" || wrc=$?
    wcpu=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$dir/time.txt")
    wrss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$dir/time.txt")
    files=$(find "$dir/snapshots" -type f | wc -l)
    kib=$(du -sk "$dir/snapshots" | cut -f1)
    ls -l "$dir/snapshots" > "$dir/snapshots.ls"
    [[ $KEEP_SNAPSHOTS == 1 ]] || rm -rf "$dir/snapshots"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$rep" "$cond" "${iv:--}" "${prof:--}" "$n" "$g" \
    "$(awk -v a="$c0" -v b="$c1" -v t="$TCK" 'BEGIN { printf "%.2f", (b - a) / t }')" \
    "$r0" "$r1" "$wcpu" "$wrss" "$wrc" "$files" "$kib" \
    "$(awk -v a="$l0" -v b="$l1" -v t="$TCK" 'BEGIN { printf "%.2f", (b - a) / t }')" "$load" |
    tee -a "$RES/summary.tsv"
}

for ((r = 1; r <= REPS; r++)); do
  for c in $CONDS; do
    kill -0 "$EPID" && kill -0 "$LPID" || { echo "etcd or the load died" >&2; exit 1; }
    run_one "$r" "$c"
  done
done
echo "goroutines at the end: $(goroutines)" | tee -a "$RES/machine.txt"
grep -c 'watch stream closed' "$RES/etcd/load.err" | sed 's/^/watch streams closed by etcd: /' | tee -a "$RES/machine.txt" || true

"$HERE/summarize.sh" "$RES" | tee "$RES/table.md"
