# Shared helpers for the gen/*.sh scripts (sourced, not run).
# Env: LEAKDIFF (leakdiff binary, default: leakdiff on PATH), WARMUP (s, 20),
#      INTERVAL (5s), DURATION (150s).
set -euo pipefail
LEAKDIFF=${LEAKDIFF:-leakdiff}
WARMUP=${WARMUP:-20}
INTERVAL=${INTERVAL:-5s}
DURATION=${DURATION:-150s}
HERE=$(cd "$(dirname "$0")" && pwd)
PIDS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/leakdiff-real.XXXXXX")
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
usage_mode() {
  case "${1:-}" in growing|steady) ;; *) echo "usage: $0 growing|steady OUTDIR" >&2; exit 2;; esac
  [ -n "${2:-}" ] || { echo "usage: $0 growing|steady OUTDIR" >&2; exit 2; }
  mkdir -p "$2"
  OUT=$(cd "$2" && pwd)
}
wait_http() { # URL
  for _ in $(seq 1 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.2; done
  echo "timeout waiting for $1" >&2; exit 1
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
collect() { # PORT PID
  curl -sf -o /dev/null "http://127.0.0.1:$1/debug/pprof/heap"
  "$LEAKDIFF" collect --url "http://127.0.0.1:$1/debug/pprof/" --pid "$2" \
    --interval "$INTERVAL" --duration "$DURATION" --profiles heap,goroutine -q -o "$OUT"
}
# run_service NAME PORT LOAD_CMD... -- SERVER_CMD...: starts the server in $WORK, waits for
# /-/ready, starts the load (empty: none), warms up, then collects into $OUT. Sets PID.
run_service() {
  local name=$1 port=$2; shift 2
  local load=()
  while [ "$1" != -- ]; do load+=("$1"); shift; done; shift
  cd "$WORK"
  "$@" > "$name.log" 2>&1 & PID=$!; PIDS+=($PID)
  wait_http "http://127.0.0.1:$port/-/ready"
  if [ ${#load[@]} -gt 0 ]; then "${load[@]}" & PIDS+=($!); fi
  sleep "$WARMUP"
  echo "$name $MODE: start rss=$(rss_kib $PID)KiB" >&2
  collect "$port" "$PID"
}
