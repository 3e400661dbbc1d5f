#!/usr/bin/env bash
# Regenerates testdata/go/heapdump: Go heap dumps of heapdumpgen (known cycles, a tree, and with
# -garbage unreachable rings), gzipped, for Go 1.19 (golang-go) and, when installed, Go 1.23
# (Go 1.27's are written by generate-go127.sh). Beside the Go 1.19 dumps:
# heapdumpgen-<version>.symbols, the generator's symbol table (objcopy --only-keep-debug, then
# --strip-debug: section headers and .symtab, no code, no DWARF), which `retained --by root
# --binary` names the globals from, and heapdumpgen-<version>.debug, its DWARF (objcopy
# --only-keep-debug), which `retained --by type --binary` types the objects from. -trimpath builds are reproducible: the same toolchain gives
# the same binary, so the symbols still match dumps written earlier.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/heapdump"
for go in go /usr/lib/go-1.23/bin/go; do
  command -v "$go" >/dev/null || [ -x "$go" ] || continue
  v=$("$go" env GOVERSION)
  cd "$here/heapdumpgen"
  "$go" build -trimpath -o "$here/heapdump/heapdumpgen" main.go
  # A heap dump holds the process's memory, environment and arguments included: run it with an
  # empty environment, a relative name and relative paths, so no path of this machine lands in it.
  cd "$here/heapdump"
  env -i ./heapdumpgen -out "$v.dump"
  env -i ./heapdumpgen -garbage -out "$v-garbage.dump"
  # Two dumps of one process, the second after 3 more pairs and 2 more rings of 8.
  env -i ./heapdumpgen -out "$v-grow-1.dump" -then "$v-grow-2.dump"
  case $v in
    go1.19*)
      objcopy --only-keep-debug heapdumpgen heapdumpgen.dbg
      cp heapdumpgen.dbg "heapdumpgen-$v.debug"
      chmod -x "heapdumpgen-$v.debug"
      objcopy --strip-debug heapdumpgen.dbg "heapdumpgen-$v.symbols"
      chmod -x "heapdumpgen-$v.symbols"
      rm -f heapdumpgen.dbg ;;
  esac
  rm -f heapdumpgen
  gzip -9nf "$v.dump" "$v-garbage.dump" "$v-grow-1.dump" "$v-grow-2.dump"
done
