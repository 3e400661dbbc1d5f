#!/bin/sh
# Reproduces testdata/real/native/python-heaptrack-nodebug: one heaptrack recording of Debian's
# python3.11 (the "growing" workload of cache_ticks.py) interpreted twice from the same raw data:
#
#   python-heaptrack-nodebug/python-heaptrack-nodebug.zst
#       interpreted with python3.11-dbg's debug file moved away, as on a machine without the
#       -dbg package: heaptrack names only the exported (.dynsym) functions of the stripped
#       /usr/bin/python3.11 and leaves every other python3.11 frame as a bare address.
#   reference/python-heaptrack-nodebug/withdebug.zst
#       the same raw data interpreted with the debug file in place: heaptrack's own names for
#       those addresses, the reference leakdiff's --symbols names are compared with.
#
# Needs heaptrack, zstd, Debian's python3.11 and python3.11-dbg (same version), and root (the
# debug file under /usr/lib/debug is moved away for the first pass and put back).
#
#   WORK=/some/scratch OUT=/path/to/testdata/real/native sh gen/heaptrack-nodebug.sh
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-./heaptrack-nodebug-work}
OUT=${OUT:-}
PY=${PY:-/usr/bin/python3.11}
INTERPRET=${INTERPRET:-/usr/lib/heaptrack/libexec/heaptrack_interpret}
export LC_ALL=C
id=$(readelf -n "$PY" | sed -n 's/.*Build ID: *//p')
dbg=/usr/lib/debug/.build-id/$(echo "$id" | cut -c1-2)/$(echo "$id" | cut -c3-).debug
[ -f "$dbg" ] || { echo "no debug file $dbg: install python3.11-dbg" >&2; exit 1; }

d=python-heaptrack-nodebug
mkdir -p "$WORK/$d" "$WORK/reference/$d"
cp "$HERE"/cache_ticks.py "$WORK"/
cd "$WORK/$d"
rm -f "$d".raw.zst
heaptrack --raw -o "$d" "$PY" ../cache_ticks.py growing 12 > ../$d.log 2>&1
trap 'mv "$dbg.aside" "$dbg" 2>/dev/null || true' EXIT
mv "$dbg" "$dbg.aside"
zstd -dc < "$d".raw.zst | "$INTERPRET" | zstd -q -19 -c > "$d".zst
mv "$dbg.aside" "$dbg"
zstd -dc < "$d".raw.zst | "$INTERPRET" | zstd -q -19 -c > ../reference/$d/withdebug.zst
rm "$d".raw.zst
for f in "$d".zst ../reference/$d/withdebug.zst; do
  out=../reference/$d/heaptrack_print.$(basename "$f" .zst).txt
  heaptrack_print -f "$f" --print-peaks 1 --print-leaks 0 --print-allocators 0 \
      --print-temporary 0 -n 10 2>&1 | grep -v '^reading file' > "$out" || true
done
cd ..
if [ -n "$OUT" ]; then
  mkdir -p "$OUT/$d" "$OUT/reference/$d"
  cp "$d/$d.zst" "$OUT/$d/"
  cp reference/$d/* "$OUT/reference/$d/"
fi
