# Same work, but the array is keyed by id % 1000: at most 1000 elements, each
# new line overwrites (and frees) the previous value in its slot.
BEGIN { FS = "\t" }
{
    n = split($2, f, ",")          # per-line temporary array, reused
    total += f[1] + 0
    rec[$1 % 1000] = $0            # bounded: 1000 slots
}
END { printf "stored %d lines, total=%d\n", length(rec), total }
