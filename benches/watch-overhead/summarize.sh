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

# With SAMPLE > 0 (FRESH=1): the service's memory through the window, one row per run.
# RSS med2 = median of the samples in the second half of the window; Δ = vs the control
# ("none") of the same repetition; spread = min–max and standard deviation of the
# second-half samples (the sampling noise within one window).
if awk -F'\t' 'NR > 1 && NF >= 21 && $17 != "-" { f = 1 } END { exit !f }' "$RES/summary.tsv"; then
  echo
  echo "Service memory, sampled every $(sed -n 's/.*SAMPLE=\([0-9]*\).*/\1/p' "$RES/machine.txt") s (MiB; Δ vs the same repetition's control)."
  echo
  awk -F'\t' 'NR > 1 { print $1, $2 }' "$RES/summary.tsv" | while read -r rep cond; do
    f="$RES/$rep-${cond/:/-}/rss.tsv"
    [[ -f $f ]] || { echo "$rep $cond - - -"; continue; }
    awk -F'\t' -v W="$WINDOW" -v r="$rep" -v c="$cond" 'NR > 1 && $2 != "-" && $1 + 0 >= W / 2 {
        x = $2 / 1024; n++; s += x; q += x * x; if (n == 1 || x < lo) lo = x; if (n == 1 || x > hi) hi = x }
      END { if (!n) { print r, c, "-", "-", "-"; exit } printf "%s %s %.1f %.1f %.1f\n", r, c, lo, hi, sqrt((q - s * s / n) / (n > 1 ? n - 1 : 1)) }' "$f"
  done > "$RES/.spread"
  awk -F'\t' -v W="$WINDOW" -v SP="$RES/.spread" '
    BEGIN { while ((getline l < SP) > 0) { split(l, a, " "); lo[a[1], a[2]] = a[3]; hi[a[1], a[2]] = a[4]; sd[a[1], a[2]] = a[5] } }
    NR == 1 { next }
    { n++; R[n] = $1; Cn[n] = $2; pos[n] = $22; m2[n] = $17 / 1024; mx[n] = $18 / 1024; h2[n] = $19 / 1024; hx[n] = $20 / 1024; cpu[n] = $7
      if ($2 == "none") { cm2[$1] = $17 / 1024; cmx[$1] = $18 / 1024; ccpu[$1] = $7 } }
    END {
      print "| rep | condition | order | RSS med2 | Δ med2 | RSS max | Δ max | RSS 2nd-half min–max (sd) | Go HeapInuse med2 / max | service CPU s | Δ CPU, % of one core |"
      print "|---|---|---|---|---|---|---|---|---|---|---|"
      for (i = 1; i <= n; i++) {
        k = R[i]; ctl = (Cn[i] == "none") || !(k in cm2)
        printf "| %s | %s | %s | %.1f | %s | %.1f | %s | %s–%s (%s) | %.1f / %.1f | %.2f | %s |\n", k, Cn[i], pos[i], m2[i],
          ctl ? "–" : sprintf("%+.1f (%+.1f %%)", m2[i] - cm2[k], (m2[i] - cm2[k]) / cm2[k] * 100), mx[i],
          ctl ? "–" : sprintf("%+.1f (%+.1f %%)", mx[i] - cmx[k], (mx[i] - cmx[k]) / cmx[k] * 100),
          lo[k, Cn[i]], hi[k, Cn[i]], sd[k, Cn[i]], h2[i], hx[i], cpu[i],
          ctl ? "–" : sprintf("%+.2f %%", (cpu[i] - ccpu[k]) / W * 100)
      }
    }' "$RES/summary.tsv"
  rm -f "$RES/.spread"
fi
