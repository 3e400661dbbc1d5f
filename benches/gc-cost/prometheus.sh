#!/usr/bin/env bash
# Measure what a forced GC per heap-profile fetch (/debug/pprof/heap?gc=1)
# costs a real Go service with a heap of several hundred MB: a Prometheus
# server (Debian's 2.42, Go 1.19) that scrapes fake targets exposing many
# series (manyseries.py), versus a plain /debug/pprof/heap fetch and no fetching.
#
# Usage: benches/gc-cost/prometheus.sh [RESULTS_DIR]
#        benches/gc-cost/prometheus.sh --summarize RESULTS_DIR   (re-print the table)
#
# Environment (all optional):
#   PROMETHEUS  prometheus binary (default /usr/bin/prometheus)
#   PORT        Prometheus web port on 127.0.0.1 (default 29090)
#   TARGET_PORT first port of the fake targets (default 29100)
#   TARGETS     number of fake targets (default 4)
#   METRICS     metric names per target (default 100)
#   LABELSETS   label sets per metric name (default 600); series stored by
#               Prometheus = TARGETS x METRICS x LABELSETS (default 240 000)
#   SCRAPE      scrape interval in seconds (default 5)
#   WARMUP      seconds to wait after all series are in the head (default 300)
#   WINDOW      measured window in seconds (default 120)
#   GAP         seconds between windows (default 10)
#   INTERVAL    seconds between heap fetches (default 5)
#   REPS        repetitions per condition (default 3)
#   CONDS       conditions, in order, per repetition (default "A B C")
#   LEAKDIFF    leakdiff binary for condition D (default: `leakdiff` on PATH)
#
# Conditions, all on the same warm Prometheus process, interleaved:
#   A = curl /debug/pprof/heap every INTERVAL s
#   B = curl /debug/pprof/heap?gc=1 every INTERVAL s
#   C = no fetching (control)
#   D = `leakdiff collect --gc --profiles heap --interval INTERVAL s --duration WINDOW s`
#
# Per window it records: Prometheus CPU = delta(utime+stime) of /proc/PID/stat
# over CLK_TCK; GCs and the GC pause total = deltas of go_gc_duration_seconds_count
# and _sum from Prometheus's own /metrics; forced GCs, max STW, mark wall time and
# live heap from GODEBUG=gctrace=1 on Prometheus's stderr; go_memstats_heap_inuse_bytes
# and VmRSS at the end; median and max fetch time (curl %{time_total}); the 1-minute
# load average and the machine's busy share (from /proc/stat) over the window;
# prometheus_tsdb_head_chunks_created_total over the window (chunks_created): the
# head cuts a new chunk for every series about every 120 scrapes, all series at
# once here, and a window holding such a cut shows ~3 s more CPU whatever the condition.
# Raw files: RESULTS_DIR/prometheus.err (gctrace + logs), warmup.tsv,
# <rep>-<cond>/{window.log,fetch.tsv}; one row per window in summary.tsv,
# the aggregated table in table.md. Prometheus and the fake targets are killed on exit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)

summarize() {
  local res=$1 iv
  iv=$(sed -n 's/.*INTERVAL=\([0-9]*\).*/\1/p' "$res/machine.txt")
  awk -F'\t' -v IV="$iv" '
    function med(cond, col,   n, i, j, a, t) {
      n = 0
      for (i = 1; i <= rows; i++) if (C[i] == cond && V[i, col] != "-") a[++n] = V[i, col] + 0
      for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
      lo = a[1]; hi = a[n]; cnt = n
      return n == 0 ? 0 : (n % 2) ? a[(n + 1) / 2] : (a[n/2] + a[n/2 + 1]) / 2
    }
    function cell(cond, col, fmt,   m) {
      m = med(cond, col)
      if (cnt == 0) return "–"
      if (cnt == 1) return sprintf(fmt, m)
      return sprintf(fmt " (" fmt "–" fmt ")", m, lo, hi)
    }
    NR == 1 { for (i = 1; i <= NF; i++) H[$i] = i; next }
    { rows++; C[rows] = $2; R[rows] = $1; for (i = 1; i <= NF; i++) V[rows, i] = $i; seen[$2]++ }
    END {
      name["A"] = "A: `heap` every " IV " s"; name["B"] = "B: `heap?gc=1` every " IV " s"
      name["C"] = "C: no fetching"; name["D"] = "D: `leakdiff collect --gc` every " IV " s"
      print "| condition | n | CPU s / window | GCs | of which forced | GC pause sum ms | pause max ms | heap in use MB (end) | live heap MB | RSS MB (end) | fetch s (median) | fetch s (max) | machine busy % |"
      print "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
      split("A B D C", order, " ")
      for (k = 1; k <= 4; k++) {
        c = order[k]; if (!(c in seen)) continue
        printf "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name[c], seen[c],
          cell(c, H["cpu_s"], "%.2f"), cell(c, H["gcs"], "%d"), cell(c, H["forced"], "%d"),
          cell(c, H["pause_sum_ms"], "%.2f"), cell(c, H["stw_max_ms"], "%.2f"),
          cell(c, H["heap_inuse_mb"], "%d"), cell(c, H["live_mb"], "%d"), cell(c, H["rss_mb"], "%d"),
          cell(c, H["fetch_med_s"], "%.3f"), cell(c, H["fetch_max_s"], "%.3f"), cell(c, H["busy_pct"], "%d")
      }
      print ""
      if (("A" in seen) && ("B" in seen)) {
        a = med("A", H["cpu_s"]); b = med("B", H["cpu_s"]); f = med("B", H["forced"])
        ga = med("A", H["gcs"]); gb = med("B", H["gcs"])
        pa = med("A", H["pause_sum_ms"]); pb = med("B", H["pause_sum_ms"])
        if (f > 0) {
          x = (b - a) / f
          printf "Marginal CPU per forced GC, (B − A) / forced: (%.2f − %.2f) s / %d = **%.0f ms**", b, a, f, x * 1000
          printf " → %.1f %% of a core at %d s, %.2f %% at 30 s, %.2f %% at 60 s.\n", 100 * x / IV, IV, 100 * x / 30, 100 * x / 60
          if (gb > ga) printf "Per extra GC, (B − A) / (GCs_B − GCs_A): %.2f s / %d = %.0f ms.\n", b - a, gb - ga, 1000 * (b - a) / (gb - ga)
          printf "Extra pause per forced GC: (%.2f − %.2f) ms / %d = %.3f ms.\n", pb, pa, f, (pb - pa) / f
        }
        printf "Paired by repetition, (B − A) / forced in ms:"
        for (i = 1; i <= rows; i++) if (C[i] == "B") for (j = 1; j <= rows; j++)
          if (C[j] == "A" && R[j] == R[i] && V[i, H["forced"]] > 0)
            printf " %.0f", 1000 * (V[i, H["cpu_s"]] - V[j, H["cpu_s"]]) / V[i, H["forced"]]
        print ""
      }
      if (("A" in seen) && ("C" in seen))
        printf "A − C (plain heap fetches): %+.2f s CPU per window.\n", med("A", H["cpu_s"]) - med("C", H["cpu_s"])
      if (("B" in seen) && ("D" in seen))
        printf "D − B (leakdiff vs curl, both gc=1): %+.2f s CPU per window.\n", med("D", H["cpu_s"]) - med("B", H["cpu_s"])
    }' "$res/summary.tsv"
}

if [[ ${1:-} == --summarize ]]; then
  summarize "${2:?usage: prometheus.sh --summarize RESULTS_DIR}"
  exit 0
fi

RES=${1:-$(mktemp -d -t gc-cost-prom.XXXXXX)}
mkdir -p "$RES"
RES=$(cd "$RES" && pwd)

PROMETHEUS=${PROMETHEUS:-/usr/bin/prometheus}
PORT=${PORT:-29090}
TARGET_PORT=${TARGET_PORT:-29100}
TARGETS=${TARGETS:-4}
METRICS=${METRICS:-100}
LABELSETS=${LABELSETS:-600}
SCRAPE=${SCRAPE:-5}
WARMUP=${WARMUP:-300}
WINDOW=${WINDOW:-120}
GAP=${GAP:-10}
INTERVAL=${INTERVAL:-5}
REPS=${REPS:-3}
CONDS=${CONDS:-A B C}
LEAKDIFF=${LEAKDIFF:-leakdiff}
TCK=$(getconf CLK_TCK)
BASE="http://127.0.0.1:$PORT"
SERIES=$((TARGETS * METRICS * LABELSETS))

echo "results: $RES"

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- fake targets ----------------------------------------------------------
python3 "$HERE/manyseries.py" --base-port "$TARGET_PORT" --targets "$TARGETS" \
  --metrics "$METRICS" --labelsets "$LABELSETS" > "$RES/manyseries.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 600); do grep -q '^READY' "$RES/manyseries.out" && break; sleep 0.1; done
grep '^READY' "$RES/manyseries.out" || { cat "$RES/manyseries.out" >&2; exit 1; }

# ---- Prometheus --------------------------------------------------------------
{
  echo "global:"
  echo "  scrape_interval: ${SCRAPE}s"
  echo "  scrape_timeout: ${SCRAPE}s"
  echo "scrape_configs:"
  echo "  - job_name: manyseries"
  echo "    static_configs:"
  printf "      - targets: ["
  for ((t = 0; t < TARGETS; t++)); do printf "%s'127.0.0.1:%d'" "$([[ $t -gt 0 ]] && echo ,)" $((TARGET_PORT + t)); done
  echo "]"
} > "$RES/prometheus.yml"
rm -rf "$RES/tsdb"
GODEBUG=gctrace=1 "$PROMETHEUS" --config.file="$RES/prometheus.yml" --storage.tsdb.path="$RES/tsdb" \
  --web.listen-address="127.0.0.1:$PORT" > "$RES/prometheus.out" 2> "$RES/prometheus.err" &
PID=$!
PIDS+=("$PID")

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
  echo "kernel: $(uname -sr)"
  echo "prometheus: $("$PROMETHEUS" --version 2>&1 | tr -s ' \n' ' ')"
  echo "mem_total: $(awk '/MemTotal/ {print $2, $3}' /proc/meminfo)"
  echo "params: REPS=$REPS WARMUP=$WARMUP WINDOW=$WINDOW GAP=$GAP INTERVAL=$INTERVAL SCRAPE=$SCRAPE TARGETS=$TARGETS METRICS=$METRICS LABELSETS=$LABELSETS SERIES=$SERIES CONDS=$CONDS CLK_TCK=$TCK"
} > "$RES/machine.txt"
cat "$RES/machine.txt"

now() { date +%s.%N; }
sleep_until() { # absolute epoch seconds (fractional)
  local d
  d=$(awk -v t="$1" -v n="$(now)" 'BEGIN { d = t - n; if (d < 0) d = 0; printf "%.3f", d }')
  sleep "$d"
}
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
machine_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t, t - $5 - $6 }' /proc/stat; }
gc_lines() { grep -c '^gc ' "$RES/prometheus.err" || true; }
# "gc_count gc_sum_s heap_inuse_bytes head_series chunks_created" from Prometheus's own /metrics
prom_metrics() {
  curl -sS -m 20 "$BASE/metrics" | awk '
    /^go_gc_duration_seconds_count / { c = $2 } /^go_gc_duration_seconds_sum / { s = $2 }
    /^go_memstats_heap_inuse_bytes / { h = $2 } /^prometheus_tsdb_head_series / { n = $2 }
    /^prometheus_tsdb_head_chunks_created_total / { k = $2 }
    END { printf "%d %.9f %.0f %d %.0f\n", c, s, h, n, k }'
}

# ---- warm-up ---------------------------------------------------------------
for _ in $(seq 300); do
  kill -0 "$PID" 2>/dev/null || { echo "prometheus died" >&2; tail "$RES/prometheus.err" >&2; exit 1; }
  m=$(prom_metrics 2>/dev/null || echo "0 0 0 0 0")
  [[ $(echo "$m" | cut -d' ' -f4) -ge $SERIES ]] && break
  sleep 1
done
echo "all $SERIES series in the head; warming up for $WARMUP s"
printf 't_s\theap_inuse_mb\tgcs\trss_mb\tcpu_s\n' > "$RES/warmup.tsv"
t_start=$(now)
while :; do
  read -r gc _ h _ _ < <(prom_metrics)
  printf '%.0f\t%.0f\t%d\t%d\t%.2f\n' "$(awk -v a="$t_start" -v b="$(now)" 'BEGIN { print b - a }')" \
    "$(awk -v h="$h" 'BEGIN { print h / 1048576 }')" "$gc" \
    "$(awk '/VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$PID/status")" \
    "$(awk -v c="$(cpu_ticks "$PID")" -v t="$TCK" 'BEGIN { print c / t }')" >> "$RES/warmup.tsv"
  awk -v a="$t_start" -v b="$(now)" -v w="$WARMUP" 'BEGIN { exit !(b - a >= w) }' && break
  sleep 10
done
tail -n 3 "$RES/warmup.tsv"

printf 'rep\tcond\tcpu_s\tgcs\tforced\tpause_sum_ms\tstw_max_ms\tmark_wall_ms\theap_inuse_mb\tlive_mb\trss_mb\tfetch_med_s\tfetch_max_s\tload1\tbusy_pct\tchunks_created\n' > "$RES/summary.tsv"

run_window() {
  local rep=$1 cond=$2 dir="$RES/$1-$2" url="" lpid=""
  mkdir -p "$dir"
  case $cond in
    A) url="$BASE/debug/pprof/heap" ;;
    B) url="$BASE/debug/pprof/heap?gc=1" ;;
    C|D) url="" ;;
    *) echo "unknown condition $cond" >&2; return 1 ;;
  esac
  local t0 c0 l0 m0 k0 c1 l1 m1 k1 i n
  read -r m0 < <(prom_metrics)
  t0=$(now); c0=$(cpu_ticks "$PID"); l0=$(gc_lines); k0=$(machine_ticks)
  : > "$dir/fetch.tsv"
  if [[ $cond == D ]]; then
    "$LEAKDIFF" collect --url "$BASE/debug/pprof/" --gc --profiles heap --interval "${INTERVAL}s" \
      --duration "${WINDOW}s" -q -o "$dir/collect" > "$dir/leakdiff.log" 2>&1 &
    lpid=$!
  elif [[ -n $url ]]; then
    n=$((WINDOW / INTERVAL))
    for ((i = 0; i < n; i++)); do
      sleep_until "$(awk -v a="$t0" -v b="$((i * INTERVAL))" 'BEGIN { printf "%.3f", a + b }')"
      curl -sS -m 60 -o "$dir/last.pb.gz" -w "$i\t%{http_code}\t%{time_total}\t%{size_download}\n" "$url" >> "$dir/fetch.tsv"
    done
  fi
  sleep_until "$(awk -v a="$t0" -v b="$WINDOW" 'BEGIN { printf "%.3f", a + b }')"
  c1=$(cpu_ticks "$PID"); l1=$(gc_lines); k1=$(machine_ticks)
  read -r m1 < <(prom_metrics)
  [[ -n $lpid ]] && { wait "$lpid" || echo "leakdiff exited with $?" >&2; }
  local rss load busy
  rss=$(awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$PID/status")
  load=$(cut -d' ' -f1 /proc/loadavg)
  busy=$(awk -v a="$k0" -v b="$k1" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.0f", 100 * (y[2] - x[2]) / (y[1] - x[1]) }')

  grep '^gc ' "$RES/prometheus.err" | sed -n "$((l0 + 1)),${l1}p" > "$dir/window.log" || true
  # gctrace: gc N @Ts P%: W1+W2+W3 ms clock, C1+C2/C3/C4+C5 ms cpu, a->b->c MB, ...
  local g
  g=$(awk '
    {
      for (i = 1; i <= NF; i++) {
        if ($(i+1) == "ms" && $(i+2) == "clock,") clk = $i
        if ($(i+1) == "MB," && $i ~ /->/)       heap = $i
      }
      split(clk, w, "+"); stw = w[1] + w[3]; if (stw > max) max = stw; mark += w[2]
      split(heap, h, "->"); if (h[3] + 0 > live) live = h[3] + 0
      n++; if ($0 ~ /\(forced\)/) f++
    }
    END { if (n) printf "%d\t%.3f\t%.0f\t%d", f, max, mark, live; else printf "0\t-\t0\t-" }
  ' "$dir/window.log")
  local fm
  fm=$(awk -F'\t' '{ print $3 }' "$dir/fetch.tsv" | sort -g | awk '{ a[NR] = $1 } END { if (NR) printf "%.3f\t%.3f", a[int((NR + 1) / 2)], a[NR]; else printf "-\t-" }')
  local gcs pause inuse cpu forced stwmax mark live chunks
  read -r forced stwmax mark live <<< "$(echo "$g" | tr '\t' ' ')"
  gcs=$(awk -v a="$m0" -v b="$m1" 'BEGIN { split(a, x, " "); split(b, y, " "); print y[1] - x[1] }' </dev/null)
  pause=$(awk -v a="$m0" -v b="$m1" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.3f", 1000 * (y[2] - x[2]) }')
  inuse=$(echo "$m1" | awk '{ printf "%.0f", $3 / 1048576 }')
  chunks=$(awk -v a="$m0" -v b="$m1" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.0f", y[5] - x[5] }')
  cpu=$(awk -v a="$c0" -v b="$c1" -v t="$TCK" 'BEGIN { printf "%.2f", (b - a) / t }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$cond" "$cpu" "$gcs" "$forced" \
    "$pause" "$stwmax" "$mark" "$inuse" "$live" "$rss" "$fm" "$load" "$busy" "$chunks" | tee -a "$RES/summary.tsv"
}

for ((r = 1; r <= REPS; r++)); do
  for c in $CONDS; do
    run_window "$r" "$c"
    sleep "$GAP"
  done
done

summarize "$RES" | tee "$RES/table.md"
