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
# Go >= 1.21 (`created by … in goroutine N`), with a middle snapshot and the last one taken after
# 65 s so that the first round's goroutines show their wait in minutes. Needs golang-1.23-go
# (Debian bookworm-backports).
go123=${GO123:-/usr/lib/go-1.23/bin/go}
if [ -x "$go123" ]; then
  mkdir -p "$here/go1.23"
  cd "$here/goroutinegen"
  "$go123" build -trimpath -o /tmp/goroutinegen-bin main.go
  cd "$here"
  /tmp/goroutinegen-bin -mode leak -mid -wait 65s -out "$here/go1.23" &
  /tmp/goroutinegen-bin -mode control -mid -wait 65s -out "$here/go1.23" &
  wait
  rm -f /tmp/goroutinegen-bin
  "$go123" version > "$here/go1.23/go-version.txt"
fi
