#!/usr/bin/env bash
# Aggregate RESULTS_DIR/summary.tsv (written by run.sh) into a markdown table
# (median and min–max over repetitions) plus the derived per-forced-GC cost.
# Usage: benches/gc-cost/summarize.sh RESULTS_DIR
set -euo pipefail
RES=${1:?usage: summarize.sh RESULTS_DIR}
INTERVAL=$(sed -n 's/.*INTERVAL=\([0-9]*\).*/\1/p' "$RES/machine.txt")
WINDOW=$(sed -n 's/.*WINDOW=\([0-9]*\).*/\1/p' "$RES/machine.txt")

# Per-GC numbers straight from gctrace, over all B windows: forced vs natural.
for d in "$RES"/*-B; do [[ -f $d/window.log ]] && cat "$d/window.log"; done | awk '
  {
    for (i = 1; i <= NF; i++) {
      if ($(i+1) == "ms" && $(i+2) == "clock,") clk = $i
      if ($(i+1) == "ms" && $(i+2) == "cpu,")   cpu = $i
    }
    split(clk, w, "+"); gsub("/", "+", cpu); m = split(cpu, c, "+"); s = 0
    for (j = 1; j <= m; j++) s += c[j]
    k = ($0 ~ /\(forced\)/) ? "forced" : "natural"
    n[k]++; stw[k] += w[1] + w[3]; mark[k] += w[2]; gc[k] += s
  }
  END {
    print "Per-GC averages from gctrace (all B runs):\n"
    print "| kind | GCs | GC P-time ms/GC (gctrace cpu) | STW ms/GC (sweep-term + mark-term) | concurrent mark wall ms/GC |"
    print "|---|---|---|---|---|"
    for (k in n) printf "| %s | %d | %.0f | %.3f | %.0f |\n", k, n[k], gc[k]/n[k], stw[k]/n[k], mark[k]/n[k]
    print ""
  }' > "$RES/.pergc.md"

awk -F'\t' -v IV="$INTERVAL" -v WIN="$WINDOW" -v PERGC="$RES/.pergc.md" '
  function med(cond, col,   n, i, j, a, t) {
    n = 0
    for (i = 1; i <= rows; i++) if (C[i] == cond) a[++n] = V[i, col] + 0
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
    lo = a[1]; hi = a[n]; cnt = n
    return (n % 2) ? a[(n + 1) / 2] : (a[n/2] + a[n/2 + 1]) / 2
  }
  function cell(cond, col, fmt,   m) {
    m = med(cond, col)
    if (cnt == 0) return "-"
    return sprintf(fmt " (" fmt "–" fmt ")", m, lo, hi)
  }
  NR == 1 { for (i = 1; i <= NF; i++) H[$i] = i; next }
  { rows++; C[rows] = $2; for (i = 1; i <= NF; i++) V[rows, i] = $i; seen[$2] = 1; R[$1, $2] = rows }
  END {
    name["A"] = "A: GET /debug/pprof/heap every " IV " s"
    name["B"] = "B: GET /debug/pprof/heap?gc=1 every " IV " s"
    name["C"] = "C: no fetching (control)"
    printf "Medians over repetitions, (min–max) in parentheses; window = %d s.\n\n", WIN
    print "| condition | CPU s / " WIN " s | GCs | of which forced | STW sum ms | STW max ms | RSS MB (end) | GC P-time ms (gctrace cpu) | live heap MB | fetch time s (median) |"
    print "|---|---|---|---|---|---|---|---|---|---|"
    split("A B C", order, " ")
    for (o = 1; o <= 3; o++) {
      c = order[o]; if (!seen[c]) continue
      printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name[c],
        cell(c, H["cpu_s"], "%.2f"), cell(c, H["gcs"], "%d"), cell(c, H["forced"], "%d"),
        cell(c, H["stw_sum_ms"], "%.2f"), cell(c, H["stw_max_ms"], "%.2f"),
        cell(c, H["rss_mb"], "%d"), cell(c, H["gc_cpu_ms"], "%.0f"), cell(c, H["live_mb"], "%d"),
        (c == "C") ? "-" : cell(c, H["fetch_med_s"], "%.3f")
    }
    print ""
    if (seen["A"] && seen["B"]) {
      cb = med("B", H["cpu_s"]); ca = med("A", H["cpu_s"]); fb = med("B", H["forced"])
      sb = med("B", H["stw_sum_ms"]); sa = med("A", H["stw_sum_ms"])
      gb = med("B", H["gc_cpu_ms"]); ga = med("A", H["gc_cpu_ms"])
      per = (cb - ca) * 1000 / fb; pstw = (sb - sa) / fb; pgc = (gb - ga) / fb
      print "Derived marginal cost per forced GC (medians, B − A, divided by the median number of forced GCs in B):\n"
      printf "- forced GCs in the window: %d (one per fetch)\n", fb
      printf "- process CPU: %.2f s − %.2f s = %.2f s → **%.0f ms CPU per forced GC**\n", cb, ca, cb - ca, per
      printf "- GC P-time from gctrace (wall time Ps spent in GC work, incl. idle-P marking; not OS CPU): %.0f ms − %.0f ms → %.0f ms per forced GC\n", gb, ga, pgc
      printf "- STW: %.2f ms − %.2f ms → **%.3f ms STW per forced GC**\n", sb, sa, pstw
      printf "- as share of one core: interval 5 s → **%.1f%%**, 30 s → **%.2f%%**, 60 s → **%.2f%%**\n", per / 50, per / 300, per / 600
      # per-repetition pairs
      printf "- per repetition (B − A) / forced:"
      for (r = 1; r <= rows; r++) if (C[r] == "B") {
        rep = V[r, 1]; if (!((rep, "A") in R)) continue
        a = R[rep, "A"]
        printf " rep %s: %.0f ms;", rep, (V[r, H["cpu_s"]] - V[a, H["cpu_s"]]) * 1000 / V[r, H["forced"]]
      }
      print ""
      if (seen["C"]) {
        cc = med("C", H["cpu_s"])
        printf "- plain fetch cost (A − C): %.2f s per %d fetches → %.0f ms CPU per plain fetch\n", ca - cc, WIN / IV, (ca - cc) * 1000 / (WIN / IV)
      }
      print ""
    }
    while ((getline line < PERGC) > 0) print line
  }' "$RES/summary.tsv"
