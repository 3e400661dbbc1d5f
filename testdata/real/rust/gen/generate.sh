#!/bin/sh
# Reproduces testdata/real/rust from scratch:
#
#   OUT=testdata/real/rust sh testdata/real/rust/gen/generate.sh
#
# Builds gen/service (a Rust program on tikv-jemallocator with jemalloc's profiler on, writing
# jemalloc_pprof's pprof after every tick) in release mode with line tables, runs it in a
# "growing" and a "steady" mode, and writes the reference outputs of `go tool pprof` on the last
# profile of each. Needs cargo (crates.io reachable or the crates cached) and Go's pprof.
# truth.json and README.md are hand-written and are not touched here.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-./leakdiff-rust-work}
OUT=${OUT:-}
# OUT is taken relative to where the script was started, not to WORK
if [ -n "$OUT" ]; then mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd); fi
TICKS=${TICKS:-20}
GO=${GO:-go}
export LC_ALL=C

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
rm -rf "$WORK/service"
cp -r "$HERE/service" "$WORK/service"
cd "$WORK/service"
# Machine paths out of the binary's DWARF: the crates' sources and this folder.
CARGO_HOME_DIR=${CARGO_HOME:-$HOME/.cargo}
export RUSTFLAGS="--remap-path-prefix=$CARGO_HOME_DIR/registry/src=/cargo --remap-path-prefix=$WORK=."
export CFLAGS="-fdebug-prefix-map=$CARGO_HOME_DIR=/cargo -fdebug-prefix-map=$WORK=."
# The first run writes Cargo.lock (kept beside the sources); later ones build what it pins.
LOCKED=; [ -f Cargo.lock ] && LOCKED=--locked
CARGO_TARGET_DIR="$WORK/target" cargo build --release $LOCKED
[ -f "$HERE/service/Cargo.lock" ] || cp Cargo.lock "$HERE/service/Cargo.lock"
BIN="$WORK/target/release/sessions"
mkdir -p "$WORK/bin"
cp "$BIN" "$WORK/bin/sessions"

cd "$WORK"
for mode in growing steady; do
  d=rust-jemalloc_pprof-$mode
  rm -rf "$d" "reference/$d"; mkdir -p "$d" "reference/$d"
  # Run from the bin folder so the profile's mapping names ./bin's copy, not the target dir.
  (cd bin && ./sessions $mode "$TICKS" "../$d") > "$d.log" 2>&1
done

# ---- reference outputs: go tool pprof with the binary ----
for mode in growing steady; do
  d=rust-jemalloc_pprof-$mode
  last=$(ls "$d"/heap.*.pb.gz | sort | tail -1)
  first=$(ls "$d"/heap.*.pb.gz | sort | head -1)
  "$GO" tool pprof -top -nodecount=25 -sample_index=inuse_space bin/sessions "$last" \
      > "reference/$d/pprof-top-last.txt" 2>&1 || true
  "$GO" tool pprof -top -nodecount=25 -sample_index=inuse_space -diff_base "$first" bin/sessions "$last" \
      > "reference/$d/pprof-top-diff.txt" 2>&1 || true
  "$GO" tool pprof -traces -sample_index=inuse_space bin/sessions "$last" 2>&1 \
      | head -300 > "reference/$d/pprof-traces-last.txt" || true
done
# The tools print the paths they read: make them relative.
sed -i "s|$WORK/||g" reference/*/*.txt

if [ -n "$OUT" ]; then
  mkdir -p "$OUT/bin" "$OUT/reference"
  # The same build (its build id is kept) without its DWARF: 1.4 MB instead of 16; the symbol
  # table names every function the keys need.
  objcopy --strip-debug bin/sessions "$OUT/bin/sessions"
  cp -a reference/. "$OUT/reference/"
  for mode in growing steady; do
    d=rust-jemalloc_pprof-$mode
    mkdir -p "$OUT/$d"
    find "$OUT/$d" -mindepth 1 -maxdepth 1 ! -name truth.json -exec rm -rf {} +
    cp -a "$d"/. "$OUT/$d"/
  done
fi
echo "done in $WORK"
