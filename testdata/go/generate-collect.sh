#!/usr/bin/env bash
# Regenerates testdata/collect: a real `leakdiff collect --pid` run against pprofserver (heap,
# goroutine and goroutine?debug=2 every second, and /proc samples), and `go tool pprof`'s view of
# `leakdiff export --format pprof` of it. Needs Go and a built leakdiff (cargo build).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$root/${OUT:-testdata/collect}"
go=${GO:-go}
export GOTOOLCHAIN=local
leakdiff=${LEAKDIFF:-$root/target/debug/leakdiff}
work=$(mktemp -d)
cd "$here/pprofserver"
GO111MODULE=off "$go" build -trimpath -o "$work/pprofserver" main.go
"$work/pprofserver" -tick 100ms -lifetime 60s > "$work/addr.txt" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do grep -q listening "$work/addr.txt" && break; sleep 0.1; done
addr=$(sed -n 's/^listening on //p' "$work/addr.txt")
rm -rf "$out/series" && mkdir -p "$out/series" "$out/golden"
"$leakdiff" collect --url "http://$addr/debug/pprof/" --pid "$server" --interval 1s --count 8 \
  --output "$out/series" --quiet
kill $server
cd "$root"
"$leakdiff" export --input "${OUT:-testdata/collect}/series" --format pprof --output "$work/diff.pb.gz"
"$go" tool pprof -top -nodecount=1000 -nodefraction=0 "$work/diff.pb.gz" \
  > "$out/golden/export-pprof.top.txt" 2>/dev/null
"$go" version > "$out/golden/go-version.txt"
