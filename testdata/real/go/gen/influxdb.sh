#!/usr/bin/env bash
# Reproduce go/influxdb-{growing,steady}: Debian influxdb 1.6 (tsm1, inmem index,
# defaults; config gen/influxdb.conf) receiving 500 points (4 float fields each) every
# 100 ms on /write; steady = a fixed fleet of 500 hosts, growing = 480 fixed hosts plus
# 20 points from new containers (a new `container` tag value, i.e. a new series, each).
# Usage: LEAKDIFF=/path/to/leakdiff ./influxdb.sh growing|steady OUTDIR
# Port: PORT (HTTP, 18086; the RPC bind address in the config is 127.0.0.1:18088).
. "$(dirname "$0")/common.sh"
usage_mode "$@"; MODE=$1
PORT=${PORT:-18086}
cd "$WORK"
INFLUXDB_HTTP_BIND_ADDRESS="127.0.0.1:$PORT" influxd run -config "$HERE/influxdb.conf" > influxdb.log 2>&1 & PID=$!; PIDS+=($PID)
wait_http "http://127.0.0.1:$PORT/ping"
curl -sf -o /dev/null -XPOST "http://127.0.0.1:$PORT/query" --data-urlencode "q=CREATE DATABASE load"
python3 "$HERE/influxdb_load.py" --mode "$MODE" --port "$PORT" & PIDS+=($!)
sleep "$WARMUP"
echo "influxdb $MODE: start rss=$(rss_kib $PID)KiB" >&2
collect "$PORT" "$PID"
series=$(curl -s -G "http://127.0.0.1:$PORT/query" --data-urlencode "db=load" --data-urlencode "q=SHOW SERIES CARDINALITY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["series"][0]["values"][0][0])')
echo "influxdb $MODE: end rss=$(rss_kib $PID)KiB series=$series snapshots=$(grep -c 'Snapshot for path written' influxdb.log || true)" >&2
