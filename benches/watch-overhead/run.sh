#!/usr/bin/env bash
# Measure what `leakdiff watch` costs a real Go service: Debian's etcd 3.4 with
# thousands of goroutines (long-lived watch streams) under a steady put load.
#
# Usage: benches/watch-overhead/run.sh [RESULTS_DIR]
#
# Environment (all optional):
#   LEAKDIFF   leakdiff binary (default target/release/leakdiff, else target/debug/leakdiff when
#              built, else `leakdiff` on PATH)
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
#   FRESH      1 = a fresh etcd (own, empty data dir) and a fresh load per condition, each
#              warmed up for WARMUP s under the load, so every condition starts from the
#              same state (default 0: one etcd for all conditions, as below)
#   SAMPLE     seconds between samples of the service's memory through the window
#              (default 5 with FRESH=1, else 0 = off): VmRSS from /proc/PID/status and
#              Go's memstats from etcd's /debug/vars (expvar), one row per sample in
#              RESULTS_DIR/<rep>-<cond>/rss.tsv; summary.tsv gets the median over the
#              second half of the window and the maximum
#   ALT        1 = reverse the condition order on even repetitions (default: FRESH)
#
# Default: one etcd process serves every condition (started once, warm); the load runs
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
  LEAKDIFF=leakdiff
  for b in "$HERE/../../target/release/leakdiff" "$HERE/../../target/debug/leakdiff"; do
    if [[ -x $b ]]; then LEAKDIFF=$b; break; fi
  done
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
FRESH=${FRESH:-0}
if [[ $FRESH == 1 ]]; then SAMPLE=${SAMPLE:-5}; else SAMPLE=${SAMPLE:-0}; fi
ALT=${ALT:-$FRESH}
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

# One memory sample: VmRSS and Go's memstats (expvar /debug/vars; "-" if unreachable), KiB.
MEMCOLS="heap_alloc_kib heap_inuse_kib heap_idle_kib heap_released_kib sys_kib next_gc_kib num_gc"
mem_sample() {
  local rss vars
  rss=$(rss_kib "$EPID" 2>/dev/null || echo -)
  vars=$(curl -s --max-time 2 "$C/debug/vars" | grep -o '"\(HeapAlloc\|HeapInuse\|HeapIdle\|HeapReleased\|Sys\|NextGC\|NumGC\)": *[0-9]*' || true)
  awk -v rss="${rss:--}" -v vars="$vars" 'BEGIN {
    n = split(vars, l, "\n")
    for (i = 1; i <= n; i++) { split(l[i], kv, "\": *"); k = substr(kv[1], 2); v[k] = kv[2] }
    printf "%s", rss
    split("HeapAlloc HeapInuse HeapIdle HeapReleased Sys NextGC", ks, " ")
    for (i = 1; i <= 6; i++) printf "\t%s", (ks[i] in v) ? sprintf("%.0f", v[ks[i]] / 1024) : "-"
    printf "\t%s\n", ("NumGC" in v) ? v["NumGC"] : "-"
  }'
}
# Sample every SAMPLE s from window start T0 to T0 + WINDOW (inclusive) into FILE.
sampler() { # T0 FILE
  local t0=$1 f=$2 i n=$((WINDOW / SAMPLE)) t
  printf 't_s\trss_kib\t%s\n' "${MEMCOLS// /$'\t'}" > "$f"
  for ((i = 0; i <= n; i++)); do
    t=$(awk -v a="$t0" -v i="$i" -v s="$SAMPLE" 'BEGIN { printf "%.3f", a + i * s }')
    sleep_until "$t"
    printf '%s\t%s\n' "$(awk -v a="$t0" -v n="$(now)" 'BEGIN { printf "%.1f", n - a }')" "$(mem_sample)" >> "$f"
  done
}
# median over the second half of the window and max of column COL of rss.tsv
series_stats() { # FILE COL -> "median2 max"
  awk -F'\t' -v c="$2" -v W="$WINDOW" 'NR > 1 && $c != "-" { all[++n] = $c + 0; if ($1 + 0 >= W / 2) h[++m] = $c + 0 }
    function med(a, k,   i, j, t) { for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
    END { if (!m) { print "- -"; exit } mx = all[1]; for (i = 2; i <= n; i++) if (all[i] > mx) mx = all[i]
      printf "%.0f %.0f\n", med(h, m), mx }' "$1"
}

# ---- service + load ------------------------------------------------------
start_service() { # DIR: etcd (data dir DIR/data) + load, waits until all streams are open
  local d=$1
  mkdir -p "$d"
  "$ETCD" --name bench --data-dir "$d/data" --enable-pprof \
    --listen-client-urls "$C" --advertise-client-urls "$C" \
    --listen-peer-urls "$P" --initial-advertise-peer-urls "$P" --initial-cluster "bench=$P" \
    --snapshot-count 2000 --auto-compaction-mode periodic --auto-compaction-retention 10s \
    > "$d/etcd.log" 2>&1 &
  EPID=$!; PIDS+=("$EPID")
  for _ in $(seq 100); do curl -sf -o /dev/null "$C/health" && break; sleep 0.2; done
  curl -sf -o /dev/null "$C/health"
  python3 "$HERE/etcd_watchload.py" --port "$PORT" --watchers "$WATCHERS" --rate "$RATE" \
    > "$d/load.out" 2> "$d/load.err" &
  LPID=$!; PIDS+=("$LPID")
  for _ in $(seq 600); do grep -qs '^READY' "$d/load.out" && break; sleep 0.1; done
  grep -q '^READY' "$d/load.out"
}
stop_service() { # DIR: stop the load and etcd, drop the data dir
  kill "$LPID" 2>/dev/null || true; wait "$LPID" 2>/dev/null || true
  kill "$EPID" 2>/dev/null || true; wait "$EPID" 2>/dev/null || true
  PIDS=()
  rm -rf "$1/data"
}
if [[ $FRESH != 1 ]]; then start_service "$RES/etcd"; fi

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
  echo "params: REPS=$REPS WINDOW=$WINDOW WARMUP=$WARMUP WATCHERS=$WATCHERS RATE=$RATE CLK_TCK=$TCK FRESH=$FRESH SAMPLE=$SAMPLE ALT=$ALT"
  echo "conds: $CONDS"
} > "$RES/machine.txt"
cat "$RES/machine.txt"

if [[ $FRESH != 1 ]]; then
  sleep "$WARMUP"
  echo "goroutines after warm-up: $(goroutines)" | tee -a "$RES/machine.txt"
fi

printf 'rep\tcond\tinterval_s\tprofiles\trounds\tgoroutines\tsvc_cpu_s\tsvc_rss0_kib\tsvc_rss_kib\twatch_cpu_s\twatch_maxrss_kib\twatch_rc\tout_files\tout_kib\tload_cpu_s\tload1\trss_med2_kib\trss_max_kib\theap_inuse_med2_kib\theap_inuse_max_kib\tsamples\tpos\n' \
  > "$RES/summary.tsv"

run_one() { # REP COND POS (POS = place of COND in this repetition's order)
  local rep=$1 cond=$2 pos=${3:--} dir="$RES/$1-${2/:/-}" iv="" prof="" profiles="" n=0
  mkdir -p "$dir"
  case $cond in
    none) ;;
    *:all)   iv=${cond%%:*}; prof=all;   profiles=heap,goroutine,goroutine-debug2,goroutineleak ;;
    *:light) iv=${cond%%:*}; prof=light; profiles=heap,goroutine ;;
    *) echo "unknown condition $cond" >&2; return 1 ;;
  esac
  local g t0 c0 l0 r0 wpid="" spid=""
  g=$(goroutines)
  sleep 2
  t0=$(now); c0=$(cpu_ticks "$EPID"); l0=$(cpu_ticks "$LPID"); r0=$(rss_kib "$EPID")
  if ((SAMPLE > 0)); then sampler "$t0" "$dir/rss.tsv" & spid=$!; fi
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
  local rs="- -" hs="- -" ns=-
  if [[ -n $spid ]]; then
    wait "$spid" || true
    rs=$(series_stats "$dir/rss.tsv" 2); hs=$(series_stats "$dir/rss.tsv" 4)
    ns=$(($(wc -l < "$dir/rss.tsv") - 1))
  fi
  if [[ -n $wpid ]]; then
    wrc=0; wait "$wpid" || wrc=$?
    wcpu=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$dir/time.txt")
    wrss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$dir/time.txt")
    files=$(find "$dir/snapshots" -type f | wc -l)
    kib=$(du -sk "$dir/snapshots" | cut -f1)
    ls -l "$dir/snapshots" > "$dir/snapshots.ls"
    [[ $KEEP_SNAPSHOTS == 1 ]] || rm -rf "$dir/snapshots"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$rep" "$cond" "${iv:--}" "${prof:--}" "$n" "$g" \
    "$(awk -v a="$c0" -v b="$c1" -v t="$TCK" 'BEGIN { printf "%.2f", (b - a) / t }')" \
    "$r0" "$r1" "$wcpu" "$wrss" "$wrc" "$files" "$kib" \
    "$(awk -v a="$l0" -v b="$l1" -v t="$TCK" 'BEGIN { printf "%.2f", (b - a) / t }')" "$load" \
    "${rs% *}" "${rs#* }" "${hs% *}" "${hs#* }" "$ns" "$pos" |
    tee -a "$RES/summary.tsv"
}

for ((r = 1; r <= REPS; r++)); do
  order=$CONDS
  if [[ $ALT == 1 ]] && ((r % 2 == 0)); then order=$(echo $CONDS | tr ' ' '\n' | tac | tr '\n' ' '); fi
  k=0
  for c in $order; do
    k=$((k + 1))
    if [[ $FRESH == 1 ]]; then
      sd="$RES/$r-${c/:/-}/etcd"
      start_service "$sd"
      sleep "$WARMUP"
    fi
    kill -0 "$EPID" && kill -0 "$LPID" || { echo "etcd or the load died" >&2; exit 1; }
    run_one "$r" "$c" "$k"
    if [[ $FRESH == 1 ]]; then
      grep -c 'watch stream closed' "$sd/load.err" | sed "s/^/$r $c: watch streams closed by etcd: /" | tee -a "$RES/machine.txt" || true
      stop_service "$sd"
    fi
  done
done
if [[ $FRESH != 1 ]]; then
  echo "goroutines at the end: $(goroutines)" | tee -a "$RES/machine.txt"
  grep -c 'watch stream closed' "$RES/etcd/load.err" | sed 's/^/watch streams closed by etcd: /' | tee -a "$RES/machine.txt" || true
fi

"$HERE/summarize.sh" "$RES" | tee "$RES/table.md"
