#!/usr/bin/env bash
# Reproduce go/pushgateway-{growing,steady}: Debian prometheus-pushgateway
# (in-memory, no persistence file, default flags otherwise) receiving a PUT
# every 100 ms; growing = a new grouping key (instance) every push, steady =
# the same 50 groups re-pushed. Usage: LEAKDIFF=/path/to/leakdiff ./pushgateway.sh growing|steady OUTDIR
# Port: PORT (19091).
. "$(dirname "$0")/common.sh"
usage_mode "$@"; MODE=$1
PORT=${PORT:-19091}
run_service pushgateway "$PORT" python3 "$HERE/pushgateway_load.py" --mode "$MODE" --port "$PORT" -- \
  prometheus-pushgateway --web.listen-address="127.0.0.1:$PORT" --persistence.file=
echo "pushgateway $MODE: end rss=$(rss_kib $PID)KiB groups=$(curl -s "http://127.0.0.1:$PORT/api/v1/metrics" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]))')" >&2
