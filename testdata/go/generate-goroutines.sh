#!/usr/bin/env bash
# Regenerates testdata/go/*-goroutines-*: goroutine profiles (debug=0/1/2) of goroutinegen with
# planted goroutine leaks and its leak-free control, and `go tool pprof` outputs on the protobufs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/goroutinegen"
go build -trimpath -o /tmp/goroutinegen-bin main.go
cd "$here"
/tmp/goroutinegen-bin -mode leak -out "$here"
/tmp/goroutinegen-bin -mode control -out "$here"
rm -f /tmp/goroutinegen-bin
for m in leak control; do
  go tool pprof -symbolize=none -top -nodecount=1000 -nodefraction=0 -edgefraction=0 \
    -diff_base "$m-goroutines-base.pb.gz" "$m-goroutines-later.pb.gz" > "golden/$m-goroutines.diff.top.txt" 2>/dev/null
done
