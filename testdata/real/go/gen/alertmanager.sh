#!/usr/bin/env bash
# Reproduce go/alertmanager-{growing,steady}: Debian prometheus-alertmanager,
# single node (no cluster), receiving 20 alerts every 100 ms on /api/v2/alerts;
# growing = every alert distinct (new instance label), steady = the same 200
# alerts re-posted. Usage: LEAKDIFF=/path/to/leakdiff ./alertmanager.sh growing|steady OUTDIR
# Port: PORT (19093).
. "$(dirname "$0")/common.sh"
usage_mode "$@"; MODE=$1
PORT=${PORT:-19093}
run_service alertmanager "$PORT" python3 "$HERE/alertmanager_load.py" --mode "$MODE" --port "$PORT" -- \
  prometheus-alertmanager --config.file="$HERE/alertmanager.yml" --storage.path=data \
  --web.listen-address="127.0.0.1:$PORT" --cluster.listen-address=
echo "alertmanager $MODE: end rss=$(rss_kib $PID)KiB alerts=$(curl -s "http://127.0.0.1:$PORT/api/v2/alerts" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" >&2
