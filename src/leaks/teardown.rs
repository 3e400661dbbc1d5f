//! Teardown: a last snapshot at exit (an exit dump, or a total that falls at the end) is left out
//! of the trends and said to be held until exit.

use super::*;

/// The end of a recording taken while the process tore down, left out of the trend.
#[derive(Clone, Debug, Serialize)]
pub struct Teardown {
    /// The snapshots left out, in order.
    pub sources: Vec<String>,
    /// Why: `exit dump` (written by the profiler at exit) or `drop at the end`.
    pub reason: &'static str,
    /// The total at the last snapshot kept.
    pub total_before: f64,
    /// The total at the last snapshot of the recording.
    pub total_after: f64,
}

/// Whether a snapshot is a profiler's exit dump: jemalloc's `prof_final` dump, which it names
/// `PREFIX.PID.SEQ.f.heap` (interval dumps are `.iN.`, manual ones `.mN.`, `prof_gdump` ones `.uN.`).
pub(super) fn is_exit_dump(s: &Snapshot) -> bool {
    s.format.starts_with("jemalloc") && s.source.ends_with(".f.heap")
}

/// How many heap snapshots to trend: all but a teardown at the end. An exit dump is always left
/// out (it is taken after the program freed what it frees at exit); so is a last snapshot whose
/// total fell below half of the one before, when that one stood at the run's peak and the run
/// never fell by a quarter before (a run that rose and was torn down, not a cache that empties
/// and refills). Needs 5 snapshots before the teardown.
pub(super) fn before_teardown(
    snapshots: &[Snapshot],
    totals: &[f64],
) -> Option<(usize, &'static str)> {
    let n = snapshots.len().min(totals.len());
    let mut cut = n;
    while cut > 0 && is_exit_dump(&snapshots[cut - 1]) {
        cut -= 1;
    }
    let mut reason = "exit dump";
    if cut == n && n >= 6 {
        let (prev, last) = (totals[n - 2], totals[n - 1]);
        let mut peak = f64::MIN;
        let mut fell = false;
        for &v in &totals[..n - 1] {
            peak = peak.max(v);
            fell |= v < 0.75 * peak;
        }
        if prev > 0.0 && last < 0.5 * prev && prev >= 0.8 * peak && !fell {
            cut = n - 1;
            reason = "drop at the end";
        }
    }
    (cut < n && cut >= 5).then_some((cut, reason))
}

/// The teardown at the end of a heap series, and where the series is cut before it.
pub(super) fn teardown_of(heap: &crate::store::HeapEvidence) -> Option<(Teardown, usize)> {
    let (c, reason) = before_teardown(&heap.snapshots, &heap.totals)?;
    Some((
        Teardown {
            sources: heap.snapshots[c..]
                .iter()
                .map(|s| s.source.clone())
                .collect(),
            reason,
            total_before: heap.totals[c - 1],
            total_after: heap.totals.last().copied().unwrap_or(0.0),
        },
        c,
    ))
}
