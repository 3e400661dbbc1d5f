#!/usr/bin/env bash
# Reproduce go/prometheus-{growing,steady}: Debian prometheus 2.42 scraping a
# python target every 1 s; growing = +400 new series per scrape, steady = the
# same 400 series. Usage: LEAKDIFF=/path/to/leakdiff ./prometheus.sh growing|steady OUTDIR
# Ports: PORT (Prometheus, 19090), TPORT (target, 19100).
. "$(dirname "$0")/common.sh"
usage_mode "$@"; MODE=$1
PORT=${PORT:-19090}; TPORT=${TPORT:-19100}
python3 "$HERE/prom_target.py" --mode "$MODE" --port "$TPORT" & PIDS+=($!)
sed "s/@TPORT@/$TPORT/" "$HERE/prometheus.yml.in" > "$WORK/prometheus.yml"
run_service prometheus "$PORT" -- \
  prometheus --config.file=prometheus.yml --storage.tsdb.path=tsdb --web.listen-address="127.0.0.1:$PORT"
echo "prometheus $MODE: end rss=$(rss_kib $PID)KiB head=$(curl -s "http://127.0.0.1:$PORT/api/v1/status/tsdb" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["headStats"])')" >&2
