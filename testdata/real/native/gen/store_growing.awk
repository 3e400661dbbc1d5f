# Every input line is stored in an associative array keyed by its unique id:
# the array grows without bound (the planted cause).
BEGIN { FS = "\t" }
{
    n = split($2, f, ",")          # per-line temporary array, reused
    total += f[1] + 0
    rec[$1] = $0                   # kept forever: one element per line
}
END { printf "stored %d lines, total=%d\n", length(rec), total }
