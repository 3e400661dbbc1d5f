#!/usr/bin/env bash
# Builds the symbolizer's reference binaries and their layouts (not run by CI: the outputs are
# committed). Needs gcc, rustc and lld (Debian's `lld`, or the ld.lld rustup ships in
# lib/rustlib/<host>/bin/gcc-ld), readelf, nm and addr2line.
#   leakc-gnu, leakc-gnu-nopie   gcc + GNU ld, PIE and not
#   leakc-lld, leakc-lld-nopie   gcc -fuse-ld=lld, PIE and not
#   leakrs                       rustc -O (lld by default), symbols only
# Each <bin>.layout says where its load segments are and, for addresses a few bytes into the
# functions on the allocation path, what `addr2line -f -i -C` names there: the reference.
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
