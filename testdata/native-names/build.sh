#!/usr/bin/env bash
# Builds the symbolizer's reference binaries and their layouts (not run by CI: the outputs are
# committed). Needs gcc, rustc and lld (Debian's `lld`, or the ld.lld rustup ships in
# lib/rustlib/<host>/bin/gcc-ld), readelf, nm and addr2line.
#   leakc-gnu, leakc-gnu-nopie   gcc + GNU ld, PIE and not
#   leakc-lld, leakc-lld-nopie   gcc -fuse-ld=lld, PIE and not
#   leakrs                       rustc -O (lld by default), symbols only
#   leakc-hidden                 gcc -rdynamic with the leaf hidden, then stripped of .symtab:
#                                only exported (dynamic) symbols are left
# Each <bin>.layout says where its load segments are and, for addresses a few bytes into the
# functions on the allocation path, what `addr2line -f -i -C` names there: the reference.
# leakc-hidden.layout also has a `hidden` line: an address in the function no symbol left names
# (what addr2line names there before stripping) and the exported symbol nearest before it.
set -euo pipefail
cd "$(dirname "$0")"
lld_dir=""
if ! command -v ld.lld >/dev/null; then
  lld_dir=$(dirname "$(find "$(rustc --print sysroot)" -path '*gcc-ld/ld.lld' | head -1)")
fi
flags=(-g -O1 -fdebug-prefix-map="$PWD"=. -fno-omit-frame-pointer)
gcc "${flags[@]}" leakc.c -o leakc-gnu
gcc "${flags[@]}" -no-pie leakc.c -o leakc-gnu-nopie
gcc "${flags[@]}" -fuse-ld=lld ${lld_dir:+-B"$lld_dir"} leakc.c -o leakc-lld
gcc "${flags[@]}" -no-pie -fuse-ld=lld ${lld_dir:+-B"$lld_dir"} leakc.c -o leakc-lld-nopie
rustc -O -C debuginfo=line-tables-only -C strip=debuginfo --remap-path-prefix="$PWD"=. leakrs.rs -o leakrs
for b in leakc-gnu leakc-gnu-nopie leakc-lld leakc-lld-nopie leakrs; do
  {
    readelf -lW "$b" | awk '$1 == "LOAD" { printf "load %s %s %s %s\n", $2, $3, $5, $6 }'
    case $b in leakrs) fns='leakrs[0-9]*handle|leakrs[0-9]*register' ;; *) fns='^(cache_session|serve|main)$' ;; esac
    nm "$b" | awk '$2 ~ /^[tT]$/ { print $1, $3 }' | while read -r addr name; do
      plain=$(printf '%s' "$name" | sed 's/^_ZN//')
      if printf '%s\n' "$plain" | grep -Eq "$fns"; then
        a=$(printf '0x%x' $((0x$addr + 6)))
        names=$(addr2line -f -i -C -e "$b" "$a" | awk 'NR % 2 == 1' | sed 's/::h[0-9a-f]\{16\}$//' | paste -sd ';')
        echo "fn $a $names"
      fi
    done
  } > "$b.layout"
done
# The leaf hidden: -fno-toplevel-reorder keeps serve (exported) right before cache_session.
gcc "${flags[@]}" -fno-toplevel-reorder -rdynamic leakc-hidden.c -o leakc-hidden.full
strip --strip-all -o leakc-hidden leakc-hidden.full
{
  readelf -lW leakc-hidden | awk '$1 == "LOAD" { printf "load %s %s %s %s\n", $2, $3, $5, $6 }'
  nm -D --defined-only leakc-hidden | awk '$2 ~ /^[tT]$/ && $3 ~ /^(serve|main)$/ { print $1, $3 }' |
    while read -r addr name; do printf 'fn 0x%x %s\n' $((0x$addr + 6)) "$name"; done
  addr=$(nm leakc-hidden.full | awk '$3 == "cache_session" { print $1 }')
  a=$((0x$addr + 6))
  before=$(nm -D --defined-only leakc-hidden | awk '$2 ~ /^[tT]$/ { print $1, $3 }' | sort |
    while read -r s n; do if [ $((0x$s)) -le $a ]; then echo "$n"; fi; done | tail -1)
  printf 'hidden 0x%x %s %s\n' $a "$(addr2line -f -e leakc-hidden.full $(printf '0x%x' $a) | head -1)" "$before"
} > leakc-hidden.layout
rm leakc-hidden.full
