#!/usr/bin/env bash
# Regenerates testdata/go/series: 12 heap + goroutine profiles of seriesgen with planted growth
# patterns (series/leak) and of its leak-free control (series/control), Go's default sampling
# rate (512 KiB), one snapshot every 250 ms. truth.json names what each series must show.
# Needs Go (Debian golang-go 1.19 here).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/seriesgen"
go build -trimpath -o /tmp/seriesgen-bin .
rm -rf "$here/series"
/tmp/seriesgen-bin -mode leak -out "$here/series/leak"
/tmp/seriesgen-bin -mode control -out "$here/series/control"
rm -f /tmp/seriesgen-bin
go version > "$here/series/go-version.txt"
# The truth: which functions leak and with what pattern; which must stay silent.
cp "$here/seriesgen/truth-leak.json" "$here/series/leak/truth.json"
cp "$here/seriesgen/truth-control.json" "$here/series/control/truth.json"
