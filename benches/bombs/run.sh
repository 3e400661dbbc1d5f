#!/usr/bin/env bash
# Decompression bombs: how fast and in how much memory leakdiff refuses them. Each is 5 GB of
# output (zeros, or blanks after the first line of a real format), at gzip -9, gzip -1 and
# zstd -19, diffed against itself (two inputs decoded at once) and read by `goroutines`.
# Needs gzip, zstd and GNU time; writes the bombs (about 60 MB) under ${BOMBS:-/tmp/leakdiff-bombs}.
#   benches/bombs/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q
bin=$PWD/target/release/leakdiff
dir=${BOMBS:-/tmp/leakdiff-bombs}
mkdir -p "$dir"
make() { # name, first line, filler byte, compressor
  [ -f "$dir/$1" ] && return
  { printf '%b' "$2"; head -c 5G /dev/zero | if [ "$3" = zero ]; then cat; else tr '\0' ' '; fi; } | $4 > "$dir/$1"
}
make zeros.gz "" zero "gzip -9"
make zeros-fast.gz "" zero "gzip -1"
make zeros.zst "" zero "zstd -19 -q -T2"
make jemalloc.gz 'heap_v2/524288\n' blank "gzip -9"
make jemalloc-fast.gz 'heap_v2/524288\n' blank "gzip -1"
make jemalloc.zst 'heap_v2/524288\n' blank "zstd -19 -q -T2"
make goroutines.gz 'goroutine 1 [running]:\nmain.main()\n' blank "gzip -9"
make goroutines.zst 'goroutine 1 [running]:\nmain.main()\n' blank "zstd -19 -q -T2"
printf '%-16s %10s %-24s %s\n' bomb size command "wall, peak RSS"
for f in zeros.gz zeros-fast.gz zeros.zst jemalloc.gz jemalloc-fast.gz jemalloc.zst goroutines.gz goroutines.zst; do
  for cmd in diff goroutines; do
    args=("$dir/$f"); [ "$cmd" = diff ] && args=("$dir/$f" "$dir/$f") || args=(goroutines "$dir/$f")
    m=$( ( /usr/bin/time -f '%e s, %M KB' "$bin" "${args[@]}" >/dev/null 2>/tmp/leakdiff-bomb.$$ ) 2>&1; tail -1 /tmp/leakdiff-bomb.$$ )
    why=$("$bin" "${args[@]}" 2>&1 >/dev/null | head -1 | sed 's/.*: malformed/malformed/' | cut -c1-90 || true)
    printf '%-16s %10s %-24s %s | %s\n' "$f" "$(stat -c %s "$dir/$f")" "$cmd" "$m" "$why"
  done
done
# A cap the user gives turns the ratio check off: the bomb is then read to the cap.
m=$( ( /usr/bin/time -f '%e s, %M KB' "$bin" goroutines "$dir/jemalloc.gz" --max-decompressed-size 1GiB >/dev/null 2>/tmp/leakdiff-bomb.$$ ) 2>&1; tail -1 /tmp/leakdiff-bomb.$$ )
printf '%-16s %10s %-24s %s\n' jemalloc.gz "$(stat -c %s "$dir/jemalloc.gz")" "goroutines, cap 1GiB" "$m"
rm -f /tmp/leakdiff-bomb.$$
