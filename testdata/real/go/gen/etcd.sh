#!/usr/bin/env bash
# Reproduce go/etcd-{filling,steady,growing}: Debian etcd-server 3.4, one member,
# pprof on the client URL (--enable-pprof), MVCC auto-compaction every 10 s
# (periodic, retention 10s), load over the JSON gateway (gen/etcd_load.py).
#   filling: 100 fixed keys overwritten with 2 KiB values, 100 puts/s, default
#            --snapshot-count 100000: the in-memory raft log (bounded by
#            snapshot-count + 5000 catch-up entries) is still filling during the window.
#   steady:  the same load with --snapshot-count 2000 and a 90 s warm-up: the raft
#            log is already at its bound (5000..7000 entries) when collection starts.
#   growing: 125 sessions/s, each a lease (TTL 1 h) + one key attached, never revoked;
#            --snapshot-count 10000 so the raft log levels off inside the window.
# Usage: LEAKDIFF=/path/to/leakdiff ./etcd.sh filling|steady|growing OUTDIR
# Ports: PORT (client, 12379), PEER (12380). WARMUP default 20 s (steady: 90 s).
USER_WARMUP=${WARMUP:-}
. "$(dirname "$0")/common.sh"
case "${1:-}" in filling|steady|growing) ;; *) echo "usage: $0 filling|steady|growing OUTDIR" >&2; exit 2;; esac
[ -n "${2:-}" ] || { echo "usage: $0 filling|steady|growing OUTDIR" >&2; exit 2; }
MODE=$1; mkdir -p "$2"; OUT=$(cd "$2" && pwd)
PORT=${PORT:-12379}; PEER=${PEER:-12380}
case $MODE in
  filling) SNAP=100000 ;;
  steady)  SNAP=2000; WARMUP=${USER_WARMUP:-90} ;;
  growing) SNAP=10000 ;;
esac
C="http://127.0.0.1:$PORT"; P="http://127.0.0.1:$PEER"
cd "$WORK"
etcd --name leakdiff --data-dir data --enable-pprof \
  --listen-client-urls "$C" --advertise-client-urls "$C" \
  --listen-peer-urls "$P" --initial-advertise-peer-urls "$P" --initial-cluster "leakdiff=$P" \
  --snapshot-count "$SNAP" --auto-compaction-mode periodic --auto-compaction-retention 10s \
  > etcd.log 2>&1 & PID=$!; PIDS+=($PID)
wait_http "$C/health"
python3 "$HERE/etcd_load.py" --mode "$MODE" --port "$PORT" & PIDS+=($!)
sleep "$WARMUP"
echo "etcd $MODE: start rss=$(rss_kib $PID)KiB" >&2
collect "$PORT" "$PID"
etcd_stat() {
  curl -s -X POST "$C/v3/lease/leases" -d '{}' | python3 -c 'import json,sys; print("leases=%d" % len(json.load(sys.stdin).get("leases", [])))'
  curl -s -X POST "$C/v3/kv/range" -d '{"key":"AA==","range_end":"AA==","count_only":true}' | python3 -c 'import json,sys; d=json.load(sys.stdin); print("keys=%s revision=%s" % (d.get("count", 0), d["header"]["revision"]))'
  curl -s "$C/metrics" | grep -E '^etcd_server_(proposals_committed_total|snapshot_apply_in_progress_total)|^etcd_debugging_snap_save_total_duration_seconds_count' | tr '\n' ' '
}
echo "etcd $MODE: end rss=$(rss_kib $PID)KiB $(etcd_stat | tr '\n' ' ') snapshots=$(grep -c 'saved snapshot' etcd.log || true)" >&2
