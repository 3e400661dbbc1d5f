#!/usr/bin/env bash
# Print the aggregated table (markdown) from RESULTS_DIR/summary.tsv of run.sh.
# Per condition: median and (min–max) over repetitions. "Δ CPU" = median service CPU
# minus the median of the control ("none"), as % of one core over the window;
# "Δ RSS" = median end RSS minus the control's, as % of the control's.
set -euo pipefail
RES=${1:?usage: summarize.sh RESULTS_DIR}
WINDOW=$(sed -n 's/.*WINDOW=\([0-9]*\).*/\1/p' "$RES/machine.txt")
awk -F'\t' -v W="$WINDOW" '
  function med(s,   a, n, i, j, t) {
    n = split(s, a, " ")
    for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function lo(s,   a, n, i, m) { n = split(s, a, " "); m = a[1] + 0; for (i = 2; i <= n; i++) if (a[i] + 0 < m) m = a[i] + 0; return m }
  function hi(s,   a, n, i, m) { n = split(s, a, " "); m = a[1] + 0; for (i = 2; i <= n; i++) if (a[i] + 0 > m) m = a[i] + 0; return m }
  NR == 1 { next }
  {
    c = $2
    if (!(c in seen)) { seen[c] = 1; order[++nc] = c }
    cpu[c] = cpu[c] " " $7; rss[c] = rss[c] " " $9; gr[c] = gr[c] " " $6; rounds[c] = $5
    if ($10 != "-") { wc[c] = wc[c] " " $10; wr[c] = wr[c] " " $11; kb[c] = kb[c] " " $14 }
    nrep[c]++
  }
  END {
    if (!("none" in seen)) { print "no control (none) runs" > "/dev/stderr"; exit 1 }
    cc = med(cpu["none"]); cr = med(rss["none"])
    printf "Window %d s; median (min–max) over repetitions.\n\n", W
    print "| condition | runs | rounds | goroutines | service CPU s / window | Δ CPU, % of one core | service RSS MiB (end) | Δ RSS | watcher CPU s (% of a core) | watcher peak RSS MiB | written MiB |"
    print "|---|---|---|---|---|---|---|---|---|---|---|"
    for (k = 1; k <= nc; k++) {
      c = order[k]
      m = med(cpu[c]); r = med(rss[c])
      dcpu = (c == "none") ? "–" : sprintf("%+.2f %%", (m - cc) / W * 100)
      drss = (c == "none") ? "–" : sprintf("%+.1f %%", (r - cr) / cr * 100)
      if (c in wc) {
        w = sprintf("%.2f (%.2f %%)", med(wc[c]), med(wc[c]) / W * 100)
        wm = sprintf("%.0f (%.0f–%.0f)", med(wr[c]) / 1024, lo(wr[c]) / 1024, hi(wr[c]) / 1024)
        wk = sprintf("%.0f", med(kb[c]) / 1024)
      } else { w = "–"; wm = "–"; wk = "–" }
      printf "| %s | %d | %s | %.0f | %.2f (%.2f–%.2f) | %s | %.1f (%.1f–%.1f) | %s | %s | %s | %s |\n",
        c, nrep[c], c == "none" ? "–" : rounds[c], med(gr[c]), m, lo(cpu[c]), hi(cpu[c]), dcpu,
        r / 1024, lo(rss[c]) / 1024, hi(rss[c]) / 1024, drss, w, wm, wk
    }
  }
' "$RES/summary.tsv"
