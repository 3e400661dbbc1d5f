#!/usr/bin/env bash
# Measure how long `leakdiff watch` takes to alert on a real Go heap leak: a small Go service
# (leaker/, default runtime.MemProfileRate of 512 KiB, steady churn and a bounded cache the
# whole time) starts leaking 1 MiB/s from main.leakyAppend after LEAK_AFTER seconds; the
# watcher, started a few seconds after the service, polls its net/http/pprof endpoint every
# INTERVAL. Latency = first alert for main.leakyAppend (as the --alert-cmd saw it) minus the
# moment the leak started (as the service printed it). A steady control (the same service with
# -leak=false) must not alert at all.
#
# Usage: benches/watch-latency/run.sh [RESULTS_DIR]
#
# Environment (all optional):
#   LEAKDIFF     leakdiff binary (default: target/debug/leakdiff when built, else `leakdiff` on PATH)
#   GO           Go toolchain that builds leaker/ (default $LEAKDIFF_GO127, else the Go 1.27 venv
#                .ci/run installs under ${XDG_CACHE_HOME:-~/.cache}/leakdiff/go127,
#                else `go` on PATH); always run with GOTOOLCHAIN=local, built with -trimpath
#   REPS         repetitions of the leak condition (default 3)
#   STEADY_REPS  repetitions of the steady control (default REPS)
#   LEAK_AFTER   seconds from the service's start to the leak's (default 60)
#   AFTER        seconds the watch runs past LEAK_AFTER (default 240): the watcher runs
#                --duration LEAK_AFTER+AFTER, so it sees AFTER+WATCH_DELAY seconds of leak
#   INTERVAL     watch --interval, in seconds (default 5)
#   WATCH_DELAY  seconds between starting the service and the watcher (default 5)
#   PHASE        where in the watcher's round cycle the leak starts. `spread` (default): run
#                R of N starts the watcher (R-0.5)/N*INTERVAL seconds later still, so the leak
#                starts that long before a round (N=3: 0.83, 2.5, 4.17 s at 5 s); a number:
#                that many extra seconds in every run. 0 puts the leak start some 20 ms before
#                a round, too late for that round's heap profile (the latency's worst phase)
#   KEEP_SNAPSHOTS  1 = keep each run's watch folder (default 0: only watch.jsonl, the
#                report JSON and the alerts are kept)
#
# Runs go leak, steady, leak, steady, … (leak runs first when REPS > STEADY_REPS), one at a
# time. Each run's files go under RESULTS_DIR/<rep>-<cond>/: leaker.out (its stdout),
# alerts.tsv (one line per alert sent to --alert-cmd: `date +%s.%N`, a tab, the
# leakdiff.alert/v1 document), watch/watch.jsonl (the watcher's verdict log), report.json
# (`leakdiff report watch -f json`). One row per run in RESULTS_DIR/summary.tsv; a table on
# stdout and in RESULTS_DIR/table.md.
#
# summary.tsv columns (times are unix seconds; `-` where none):
#   leak_start       when the service printed `leak started at` (steady: -)
#   watch_start      when the watcher was started (its first round)
#   next_round_s     seconds from the leak start to the watcher's next round (the phase)
#   alert_at, alert_latency_s, alert_severity   the first firing alert for main.leakyAppend,
#                    stamped by --alert-cmd, and its latency from leak_start
#   suspect_at, suspect_latency_s, suspect_severity   the first `new_suspect` for it in
#                    watch.jsonl (whose times are whole seconds, so this can read up to 1 s early)
#   leak_states_to_suspect, leak_states_to_alert   distinct heap states (GC cycles) that showed
#                    the leak (main.leakyAppend's sampled in-use above 0) up to that verdict
#   heap_states, gc_repeats   over the whole watch (`report`: snapshots, gc_repeats)
#   alerts           every alert that fired, kind:key, comma-separated (steady: must be none)
#   watch_rc, load1  the watcher's exit status; the 1-minute load average when it ended
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
RES=${1:-$(mktemp -d -t watch-latency.XXXXXX)}
mkdir -p "$RES"
RES=$(cd "$RES" && pwd)

if [[ -z "${LEAKDIFF:-}" ]]; then
  if [[ -x "$HERE/../../target/debug/leakdiff" ]]; then LEAKDIFF="$HERE/../../target/debug/leakdiff"; else LEAKDIFF=leakdiff; fi
fi
if [[ -z "${GO:-}" ]]; then
  venv_go=${LEAKDIFF_GO127:-${XDG_CACHE_HOME:-$HOME/.cache}/leakdiff/go127/bin/go}
  if [[ -x $venv_go ]]; then GO=$venv_go; else GO=go; fi
fi
REPS=${REPS:-3}
STEADY_REPS=${STEADY_REPS:-$REPS}
LEAK_AFTER=${LEAK_AFTER:-60}
AFTER=${AFTER:-240}
INTERVAL=${INTERVAL:-5}
INTERVAL=${INTERVAL%s}
WATCH_DELAY=${WATCH_DELAY:-5}
PHASE=${PHASE:-spread}
KEEP_SNAPSHOTS=${KEEP_SNAPSHOTS:-0}
DURATION=$((LEAK_AFTER + AFTER))
LIFETIME=$((DURATION + WATCH_DELAY + INTERVAL + 30))
echo "results: $RES"

# ---- build ---------------------------------------------------------------
BIN="$RES/bin"
mkdir -p "$BIN"
(cd "$HERE/leaker" && GOTOOLCHAIN=local "$GO" build -trimpath -o "$BIN/leaker" .)

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
  echo "kernel: $(uname -sr)"
  echo "load_before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "go: $(GOTOOLCHAIN=local "$GO" version)"
  echo "leakdiff: $LEAKDIFF ($("$LEAKDIFF" --version 2>/dev/null || echo '?'))"
  echo "params: REPS=$REPS STEADY_REPS=$STEADY_REPS LEAK_AFTER=$LEAK_AFTER AFTER=$AFTER INTERVAL=$INTERVAL WATCH_DELAY=$WATCH_DELAY PHASE=$PHASE DURATION=$DURATION"
} > "$RES/machine.txt"
cat "$RES/machine.txt"

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

COLS='rep\tcond\tleak_start\twatch_start\tnext_round_s\talert_at\talert_latency_s\talert_severity\tsuspect_at\tsuspect_latency_s\tsuspect_severity\tleak_states_to_suspect\tleak_states_to_alert\theap_states\tgc_repeats\talerts\twatch_rc\tload1\n'
printf "$COLS" > "$RES/summary.tsv"

# Extra delay before the watcher of run $1 of $2.
phase_of() {
  if [[ $PHASE == spread ]]; then
    awk -v r="$1" -v n="$2" -v i="$INTERVAL" 'BEGIN { printf "%.3f", (r - 0.5) / n * i }'
  else
    echo "$PHASE"
  fi
}

run_one() {
  local rep=$1 cond=$2 nreps=$3 dir="$RES/$1-$2" leakflag=()
  rm -rf "$dir"; mkdir -p "$dir"
  [[ $cond == steady ]] && leakflag=(-leak=false)
  "$BIN/leaker" -addr 127.0.0.1:0 -leak-after "${LEAK_AFTER}s" -lifetime "${LIFETIME}s" "${leakflag[@]}" \
    > "$dir/leaker.out" 2> "$dir/leaker.err" &
  local lpid=$!; PIDS+=("$lpid")
  local addr=""
  for _ in $(seq 100); do
    addr=$(sed -n 's/^listening on //p' "$dir/leaker.out")
    [[ -n $addr ]] && break
    sleep 0.1
  done
  [[ -n $addr ]] || { echo "leaker did not start" >&2; return 1; }
  sleep "$WATCH_DELAY"
  sleep "$(phase_of "$rep" "$nreps")"
  # The alert command runs under `sh -c`; the path is quoted for it.
  local q; q=$(printf '%q' "$dir/alerts.tsv")
  local acmd="{ printf '%s\t' \"\$(date +%s.%N)\"; cat; echo; } >> $q"
  local cmd=("$LEAKDIFF" watch --url "http://$addr/debug/pprof/" --interval "${INTERVAL}s"
             --duration "${DURATION}s" -q -o "$dir/watch" --alert-cmd "$acmd" --no-evidence)
  printf '%q ' "${cmd[@]}" > "$dir/cmd.txt"; echo >> "$dir/cmd.txt"
  local wstart; wstart=$(date +%s.%N)
  local wrc=0
  "${cmd[@]}" > "$dir/watch.out" 2> "$dir/watch.err" || wrc=$?
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  kill "$lpid" 2>/dev/null || true; wait "$lpid" 2>/dev/null || true
  "$LEAKDIFF" report "$dir/watch" -f json > "$dir/report.json" 2> "$dir/report.err" || true
  python3 "$HERE/summarize.py" row --rep "$rep" --cond "$cond" --dir "$dir" \
    --watch-start "$wstart" --interval "$INTERVAL" --watch-rc "$wrc" --load "$load" | tee -a "$RES/summary.tsv"
  if [[ $KEEP_SNAPSHOTS != 1 ]]; then
    find "$dir/watch" -type f ! -name watch.jsonl -delete
  fi
}

n=$(( REPS > STEADY_REPS ? REPS : STEADY_REPS ))
for ((r = 1; r <= n; r++)); do
  if ((r <= REPS)); then run_one "$r" leak "$REPS"; fi
  if ((r <= STEADY_REPS)); then run_one "$r" steady "$STEADY_REPS"; fi
done
echo "load_after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$RES/machine.txt"

python3 "$HERE/summarize.py" table "$RES/summary.tsv" | tee "$RES/table.md"
