#!/usr/bin/env bash
# Measure what a forced GC per heap-profile fetch (/debug/pprof/heap?gc=1)
# costs a Go service, versus a plain /debug/pprof/heap fetch and no fetching.
#
# Usage: benches/gc-cost/run.sh [RESULTS_DIR]
#
# Environment (all optional):
#   GO        go binary (default: $HOME/.cache/leakdiff/go127/bin/go, else `go`)
#   REPS      repetitions per condition (default 3)
#   WARMUP    seconds to wait after the live heap is built (default 30)
#   WINDOW    measured window in seconds (default 120)
#   INTERVAL  seconds between fetches (default 5)
#   LIVE      live heap of the service in MB (default 400)
#   CHURN     garbage churn in MB/s (default 20)
#   PORT      listen port of the service (default 16060)
#   CONDS     conditions, in order, per repetition (default "A B C")
#
# Conditions: A = GET /debug/pprof/heap every INTERVAL s,
#             B = GET /debug/pprof/heap?gc=1 every INTERVAL s,
#             C = no fetching (control).
# Raw logs go under RESULTS_DIR/<rep>-<cond>/; the per-run summary is
# RESULTS_DIR/summary.tsv and the aggregated table RESULTS_DIR/table.md.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
RES=${1:-$(mktemp -d -t gc-cost.XXXXXX)}
mkdir -p "$RES"
RES=$(cd "$RES" && pwd)

if [[ -z "${GO:-}" ]]; then
  if [[ -x "$HOME/.cache/leakdiff/go127/bin/go" ]]; then
    GO="$HOME/.cache/leakdiff/go127/bin/go"
  else
    GO=go
  fi
fi
REPS=${REPS:-3}
WARMUP=${WARMUP:-30}
WINDOW=${WINDOW:-120}
INTERVAL=${INTERVAL:-5}
LIVE=${LIVE:-400}
CHURN=${CHURN:-20}
PORT=${PORT:-16060}
CONDS=${CONDS:-A B C}
TCK=$(getconf CLK_TCK)

echo "results: $RES"

# ---- build ---------------------------------------------------------------
(cd "$HERE/gcload" && GOTOOLCHAIN=local GOFLAGS=-mod=mod "$GO" build -trimpath -o "$RES/gcload" .)

# ---- machine info --------------------------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
  echo "kernel: $(uname -sr)"
  echo "go: $(GOTOOLCHAIN=local "$GO" version)"
  echo "mem_total: $(awk '/MemTotal/ {print $2, $3}' /proc/meminfo)"
  echo "params: REPS=$REPS WARMUP=$WARMUP WINDOW=$WINDOW INTERVAL=$INTERVAL LIVE=$LIVE CHURN=$CHURN CLK_TCK=$TCK"
} > "$RES/machine.txt"
cat "$RES/machine.txt"

now() { date +%s.%N; }
sleep_until() { # absolute epoch seconds (fractional)
  local d
  d=$(awk -v t="$1" -v n="$(now)" 'BEGIN { d = t - n; if (d < 0) d = 0; printf "%.3f", d }')
  sleep "$d"
}
cpu_ticks() { # utime+stime of a pid, in clock ticks
  sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
gc_lines() { grep -c '^gc ' "$1" || true; }

printf 'rep\tcond\tcpu_s\tgcs\tforced\tstw_sum_ms\tstw_max_ms\trss_mb\tgc_cpu_ms\tmark_wall_ms\tlive_mb\tfetch_med_s\tfetch_max_s\tload1\n' > "$RES/summary.tsv"

run_one() {
  local rep=$1 cond=$2 dir="$RES/$1-$2" url="" pid
  mkdir -p "$dir"
  case $cond in
    A) url="http://127.0.0.1:$PORT/debug/pprof/heap" ;;
    B) url="http://127.0.0.1:$PORT/debug/pprof/heap?gc=1" ;;
    C) url="" ;;
    *) echo "unknown condition $cond" >&2; return 1 ;;
  esac
  GODEBUG=gctrace=1 "$RES/gcload" -live "$LIVE" -churn "$CHURN" -addr "127.0.0.1:$PORT" \
    > "$dir/stdout" 2> "$dir/gctrace.log" &
  pid=$!
  for _ in $(seq 1200); do
    grep -q '^READY' "$dir/stdout" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { echo "gcload died" >&2; cat "$dir/gctrace.log" >&2; return 1; }
    sleep 0.1
  done
  sleep "$WARMUP"

  local t0 c0 l0 c1 l1 i n
  t0=$(now); c0=$(cpu_ticks "$pid"); l0=$(gc_lines "$dir/gctrace.log")
  : > "$dir/fetch.tsv"
  if [[ -n $url ]]; then
    n=$((WINDOW / INTERVAL))
    for ((i = 0; i < n; i++)); do
      sleep_until "$(awk -v a="$t0" -v b="$((i * INTERVAL))" 'BEGIN { printf "%.3f", a + b }')"
      curl -sS -m 60 -o "$dir/last.pb.gz" -w "$i\t%{http_code}\t%{time_total}\t%{size_download}\n" "$url" >> "$dir/fetch.tsv"
    done
  fi
  sleep_until "$(awk -v a="$t0" -v b="$WINDOW" 'BEGIN { printf "%.3f", a + b }')"
  c1=$(cpu_ticks "$pid"); l1=$(gc_lines "$dir/gctrace.log")
  local rss load
  rss=$(awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status")
  load=$(cut -d' ' -f1 /proc/loadavg)
  kill "$pid"; wait "$pid" 2>/dev/null || true

  grep '^gc ' "$dir/gctrace.log" | sed -n "$((l0 + 1)),${l1}p" > "$dir/window.log" || true
  # gctrace: gc N @Ts P%: W1+W2+W3 ms clock, C1+C2/C3/C4+C5 ms cpu, a->b->c MB, ...
  local g
  g=$(awk '
    {
      for (i = 1; i <= NF; i++) {
        if ($(i+1) == "ms" && $(i+2) == "clock,") clk = $i
        if ($(i+1) == "ms" && $(i+2) == "cpu,")   cpu = $i
        if ($(i+1) == "MB," && $i ~ /->/)       heap = $i
      }
      split(clk, w, "+"); stw = w[1] + w[3]; sum += stw; if (stw > max) max = stw; mark += w[2]
      gsub("/", "+", cpu); m = split(cpu, c, "+"); for (j = 1; j <= m; j++) gccpu += c[j]
      split(heap, h, "->"); if (h[3] + 0 > live) live = h[3] + 0
      n++; if ($0 ~ /\(forced\)/) f++
    }
    END { printf "%d\t%d\t%.3f\t%.3f\t%.0f\t%.0f\t%d", n, f, sum, max, gccpu, mark, live }
  ' "$dir/window.log")
  local fm
  fm=$(awk -F'\t' '{ print $3 }' "$dir/fetch.tsv" | sort -g | awk '{ a[NR] = $1 } END { if (NR) printf "%.3f\t%.3f", a[int((NR + 1) / 2)], a[NR]; else printf "-\t-" }')
  local cpu
  cpu=$(awk -v a="$c0" -v b="$c1" -v t="$TCK" 'BEGIN { printf "%.2f", (b - a) / t }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$cond" "$cpu" "$g" "$rss" "$fm" "$load" |
    awk -F'\t' -v OFS='\t' '{ print $1,$2,$3,$4,$5,$6,$7,$11,$8,$9,$10,$12,$13,$14 }' |
    tee -a "$RES/summary.tsv"
}

for ((r = 1; r <= REPS; r++)); do
  for c in $CONDS; do
    run_one "$r" "$c"
  done
done

"$HERE/summarize.sh" "$RES" | tee "$RES/table.md"
