#!/usr/bin/env bash
# Regenerates testdata/go: heap profiles of leakgen (planted leaks) and its leak-free control, and
# the reference outputs of `go tool pprof` on them. Needs Go (Debian golang-go, 1.19 here).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/leakgen"
go build -trimpath -o /tmp/leakgen-bin .
cd "$here"
/tmp/leakgen-bin -mode leak -out "$here" -rate 4096
/tmp/leakgen-bin -mode control -out "$here" -rate 4096
rm -f /tmp/leakgen-bin
mkdir -p golden
go version > golden/go-version.txt
for m in leak control; do
  for v in inuse_space alloc_space inuse_objects; do
    go tool pprof -symbolize=none -top -nodecount=100000 -nodefraction=0 -edgefraction=0 -unit=B -sample_index=$v \
      -diff_base "$m-base.pb.gz" "$m-later.pb.gz" > "golden/$m.diff.$v.top.txt" 2>/dev/null
  done
  for s in base later; do
    go tool pprof -symbolize=none -top -nodecount=100000 -nodefraction=0 -edgefraction=0 -unit=B -sample_index=inuse_space \
      "$m-$s.pb.gz" > "golden/$m-$s.inuse_space.top.txt" 2>/dev/null
    go tool pprof -symbolize=none -raw "$m-$s.heap.txt" > "golden/$m-$s.heap.txt.raw.txt" 2>/dev/null
  done
done
