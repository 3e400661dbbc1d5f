//! From a store of many snapshots to findings: every key's series through the trend engine,
//! suspects ranked by severity with prediction, remediation and correlations; the same for
//! goroutine groups when goroutine snapshots are in the store.
//!
//! The analysis takes everything from one hand-over ([`Evidence`], plain structs the store
//! builds once) and returns a finished [`Report`]: the data flows down once and back once.
//!
//! May import: `store` (the hand-over types, never its methods), `trend`, `goroutines`, `graph`
//! (its summary type), `units`. No I/O.

use rayon::prelude::*;
use serde::Serialize;

use crate::goroutines::{self, GoroutineOptions, GoroutineSnapshot};
use crate::store::{CallerSeries, Evidence, KeyInfo, Snapshot, StoreError};
use crate::trend::{self, Pattern, Prediction, Severity, SeverityInput, Trend, TrendOptions};

mod beside;
mod callers;
mod goroutine_section;
mod heap;
mod observations;
mod process;
mod teardown;
mod types;
pub mod verdicts;

use beside::*;
use callers::*;
use goroutine_section::*;
pub use heap::*;
use observations::*;
pub use process::*;
pub use teardown::*;
pub use types::*;

/// JSON schema id of [`Report`].
pub const SCHEMA: &str = "leakdiff.report/v1";

/// Knobs of the analysis.
#[derive(Clone, Debug)]
pub struct AnalyzeOptions {
    /// Net growth below this (in the value type's unit) is never a leak. Default: 16 KiB for bytes,
    /// 16 for counts.
    pub min_growth: Option<f64>,
    /// Memory limit in bytes for the time-to-limit projection.
    pub memory_limit: Option<f64>,
    /// Significance level of the monotonic-trend test.
    pub alpha: f64,
    /// At most this many suspects (0: all).
    pub top: usize,
    /// Minimum growth of a goroutine group, in goroutines (default 3).
    pub min_goroutine_growth: f64,
    /// Judge the profiler's own allocations like any other key (default: set apart as
    /// [`ProfilerOverhead`]).
    pub keep_profiler: bool,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            min_growth: None,
            memory_limit: None,
            alpha: 0.05,
            top: 20,
            min_goroutine_growth: 3.0,
            keep_profiler: false,
        }
    }
}

/// Errors of the analysis.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The value type asked for is not in every snapshot.
    #[error("value type {asked:?} is not in every heap snapshot; these are: {available}")]
    NoValueType {
        /// Asked for.
        asked: String,
        /// Available, comma-separated.
        available: String,
    },
}

/// The goroutine section, its snapshots and its counts.
type GoroutineParts = (GoroutineSection, Vec<Snapshot>, Vec<f64>);

/// The heap series as it was observed: without the snapshots held until the program's exit, and
/// one snapshot per GC state (Go's heap profile repeats the last GC's heap until the next), with
/// the teardown left out and the number of repeats folded.
fn observed(
    heap: &crate::store::HeapEvidence,
) -> (
    std::borrow::Cow<'_, crate::store::HeapEvidence>,
    Option<Teardown>,
    usize,
) {
    use std::borrow::Cow;
    let (teardown, mut h) = match teardown_of(heap) {
        Some((t, cut)) => (Some(t), Cow::Owned(heap.prefix(cut))),
        None => (None, Cow::Borrowed(heap)),
    };
    let before = h.snapshots.len();
    if let Some(keep) = distinct_gc_states(&h) {
        h = Cow::Owned(h.select(&keep));
    }
    let repeats = before - h.snapshots.len();
    (h, teardown, repeats)
}

/// Runs the analysis on what the store handed over.
pub fn analyze(ev: &Evidence, options: &AnalyzeOptions) -> Result<Report, AnalyzeError> {
    let gor = goroutine_section(ev, options)?;
    let (heap, teardown, gc_repeats) = observed(&ev.heap);
    let heap = heap.as_ref();
    let vt_name = heap.value_type.clone();
    let unit = vt_name.split('/').nth(1).unwrap_or("").to_string();
    let (snaps, times) = snapshots_out(&heap.snapshots);
    let totals = heap.totals.clone();
    let floor = noise_floor(&heap.snapshots, &unit, options.min_growth);
    let topts = TrendOptions {
        floor,
        alpha: options.alpha,
        ..Default::default()
    };
    let total_trend = trend::analyze(&times, &totals, &topts);
    let total_pred = options
        .memory_limit
        .map(|l| trend::predict(&total_trend, l));
    let gor_counts = gor
        .as_ref()
        .and_then(|(_, gsnaps, counts)| align(&heap.snapshots, gsnaps, counts));
    let ctx = Ctx {
        times: &times,
        totals: &totals,
        goroutines: gor_counts.as_deref(),
        limit: options.memory_limit,
        bytes: unit == "bytes",
    };
    // The profiler's own keys and V8's pseudo-frames alone on their stacks (no code: trended,
    // explained) are no suspects.
    let (apart, own): (Vec<_>, Vec<_>) = heap.series.iter().partition(|s| {
        (!options.keep_profiler && is_profiler_stack(&s.key.frames))
            || crate::store::pseudo_frame(&s.key.name).is_some()
    });
    let (pseudo, profiler): (Vec<_>, Vec<_>) = apart
        .into_iter()
        .partition(|s| crate::store::pseudo_frame(&s.key.name).is_some());
    let profiler_overhead = profiler_overhead(&profiler, totals.len());
    let outside_code = outside_code(&pseudo, &times, &topts);
    let keys_analyzed = own.len();
    // Sampled heaps: a key's growth must also stand out of its own sampling noise (unless the
    // user set the floor).
    let rate = if unit == "bytes" && options.min_growth.is_none() {
        sampling_rate(&heap.snapshots)
    } else {
        0.0
    };
    let Judged {
        mut suspects,
        mut benign,
        growth: judged,
    } = judge_keys(&own, rate, &topts, &ctx);
    let keys_tested = judged.len();
    // Growth spread over keys each under its floor: what the keys judged on their own (suspects,
    // caches, churn), the profiler's and the pseudo-frames leave of the total's, when it leaks.
    let apart: Vec<&crate::store::Series> = profiler.iter().chain(&pseudo).copied().collect();
    let (explained, by_judged) = explained_by(&judged, &apart);
    let residual = unexplained(&total_trend, by_judged, floor);
    let sampled = TrendOptions {
        sampling_rate: rate,
        ..topts
    };
    let callers = residual.map_or_else(Vec::new, |r| {
        trace_callers(
            &heap.callers,
            &explained,
            r,
            &times,
            &sampled,
            options.alpha,
        )
    });
    rank(&mut suspects);
    let beside_suspects = beside_suspects(
        &suspects,
        &heap.callers,
        &own,
        (&explained, &callers),
        &times,
        &sampled,
    );
    let limit = if options.top == 0 {
        usize::MAX
    } else {
        options.top
    };
    let not_shown = suspects.len().saturating_sub(limit);
    suspects.truncate(limit);
    benign.sort_by(|a, b| b.max.total_cmp(&a.max).then_with(|| a.key.cmp(&b.key)));
    benign.truncate(10);
    let object_graph = ev.graph.as_ref().map(|g| graph_section(g, &mut suspects));
    let next_step = (!suspects.is_empty()).then(|| program_of(heap).next_step().to_string());
    Ok(Report {
        schema: SCHEMA,
        value_type: vt_name,
        unit,
        floor,
        memory_limit: options.memory_limit,
        snapshots: snaps,
        total: TotalOut {
            series: totals,
            trend: total_trend,
            prediction: total_pred,
        },
        keys_analyzed,
        keys_tested,
        sampled: rate > 0.0,
        suspects,
        suspects_not_shown: not_shown,
        not_leaks: benign,
        unexplained_growth: residual,
        callers,
        beside_suspects,
        profiler_overhead,
        outside_code,
        teardown,
        gc_repeats,
        next_step,
        goroutines: gor.map(|g| g.0),
        process: process_section(ev, options)?,
        object_graph,
        failures: ev.failures.clone(),
        skipped: ev.skipped.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// InfluxDB's series index (`tagKeyValue.InsertSeriesIDByte`, Debian's 1.6.7 under a tag
    /// with a new value per point), in samples of 512 KiB over its 27 GC states: it gains samples
    /// in small rises, stays flat for a minute, then grows again, and loses two samples once,
    /// right after gaining more (a slice that grew frees its old array). It keeps its samples;
    /// it is a leak, not a plateau. A site that loses as much as it gains does not.
    #[test]
    fn a_site_that_keeps_its_samples_and_grows_late_is_no_plateau() {
        let rate = 524_288.0;
        let samples = [
            1.0, 1.0, 2.0, 3.0, 3.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.05, 7.15, 7.15, 8.15, 8.15, 8.15,
            8.15, 8.15, 8.15, 8.15, 8.15, 8.15, 8.15, 9.16, 12.72, 10.57, 11.57,
        ];
        let v: Vec<f64> = samples.iter().map(|s| s * rate).collect();
        assert!(keeps_samples(rate, &Spacing::of(&even(v.len())), &v));
        let times = even(v.len());
        let floor = sampled_options(
            &TrendOptions {
                floor: 2.0 * rate,
                ..Default::default()
            },
            rate,
            &Spacing::of(&times),
            &v,
        )
        .floor;
        assert_eq!(floor, 4.0 * rate);
        let o = TrendOptions {
            floor,
            sampling_rate: rate,
            keeps_samples: true,
            ..Default::default()
        };
        assert!(trend::analyze(&times, &v, &o).pattern.is_leak());
        let flat = TrendOptions {
            keeps_samples: false,
            ..o
        };
        assert_eq!(trend::analyze(&times, &v, &flat).pattern, Pattern::Plateau);
        // Falls of more than two thirds of the rise before them, or a quarter of all rises: a
        // wandering site.
        let wander: Vec<f64> = [1.0, 2.0, 3.0, 1.5, 2.5, 3.5, 4.5, 5.5, 4.0, 5.0]
            .iter()
            .map(|s| s * rate)
            .collect();
        assert!(!keeps_samples(
            rate,
            &Spacing::of(&even(wander.len())),
            &wander
        ));
    }

    /// etcd's `storeTxnWrite.Put` (Debian's 3.4.23, leases attached to keys never revoked),
    /// summed over the sites below it, in KiB at 512 KiB sampling: it loses a sample before its
    /// first rise (an array grown before the window), and 1.5 samples two rises after a rise of
    /// 3.1 (the lessor's item map evacuated: its old buckets freed after the new ones, a big
    /// array since only a big object's sample is scaled past one rate). It keeps its samples. One
    /// sample lost after a rise of one (any object freed) is wandering, however large a rise came
    /// before.
    #[test]
    fn a_maps_old_buckets_freed_snapshots_after_its_new_ones_keep_the_samples() {
        let rate = 524_288.0;
        let kib = [
            1594.0, 1594.0, 1594.0, 1024.0, 1536.0, 1536.0, 2048.0, 3328.0, 4353.0, 4353.0, 4865.0,
            5377.0, 6967.0, 6967.0, 7479.0, 6711.0, 6711.0, 7223.0, 7735.0,
        ];
        let v: Vec<f64> = kib.iter().map(|k| k * 1024.0).collect();
        assert!(keeps_samples(rate, &Spacing::of(&even(v.len())), &v));
        let small: Vec<f64> = [2.0, 2.0, 2.0, 4.0, 4.0, 5.0, 4.0, 4.0, 5.0, 5.0, 7.0, 8.0]
            .iter()
            .map(|s| s * rate)
            .collect();
        assert!(!keeps_samples(
            rate,
            &Spacing::of(&even(small.len())),
            &small
        ));
        // The same big fall with no rise it could give back since the last fall.
        let mut twice = v.clone();
        twice[16] = twice[15] - 1.5 * rate;
        assert!(!keeps_samples(
            rate,
            &Spacing::of(&even(twice.len())),
            &twice
        ));
    }

    /// Times 5 s apart.
    fn even(n: usize) -> Vec<f64> {
        (0..n).map(|i| i as f64 * 5.0).collect()
    }

    fn leaf(name: &str, f: impl Fn(usize) -> f64) -> (String, Vec<f64>) {
        (name.to_string(), (0..20).map(f).collect())
    }

    /// Two keys growing 0.38 and 0.48 MiB (each under a 0.5 MiB floor) below one function: it is named,
    /// with both keys; a key that rose once (a buffer) is not counted, and the root that holds the
    /// same keys loses to the lower frame.
    #[test]
    fn callers_name_the_lowest_frame_owning_spread_growth() {
        const MIB: f64 = 1048576.0;
        let times: Vec<f64> = (0..20).map(|i| i as f64 * 60.0).collect();
        let k1 = leaf("k1", |i| 1.0 * MIB + i as f64 * 0.02 * MIB);
        let k2 = leaf("k2", |i| 2.0 * MIB + i as f64 * 0.025 * MIB);
        let once = leaf("buffer", |i| if i >= 5 { 4.0 * MIB } else { 0.0 });
        let wobble = leaf("k4", |i| if i % 2 == 0 { MIB } else { 1.1 * MIB });
        let callers = vec![
            CallerSeries {
                name: "lower".into(),
                depth: 1,
                leaves: vec![k1.clone(), k2.clone(), once],
            },
            CallerSeries {
                name: "main.main".into(),
                depth: 3,
                leaves: vec![k1, k2, wobble],
            },
        ];
        let o = TrendOptions {
            floor: 0.5 * MIB,
            ..Default::default()
        };
        let none = Default::default();
        let found = trace_callers(&callers, &none, 0.9 * MIB, &times, &o, 0.05);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].caller, "lower");
        let keys: Vec<&str> = found[0].keys.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["k2", "k1"]);
        assert!(
            (found[0].growth - 0.855 * MIB).abs() < 1.0,
            "{}",
            found[0].growth
        );
        assert!(found[0].pattern.is_leak());
        // With k1 judged on its own, no caller has two open keys that grew.
        let judged: std::collections::BTreeSet<&str> = ["k1"].into_iter().collect();
        assert!(trace_callers(&callers, &judged, 0.9 * MIB, &times, &o, 0.05).is_empty());
        // Growth that does not trend (a flat cumulative) names nothing.
        let flat = vec![CallerSeries {
            name: "flat".into(),
            depth: 1,
            leaves: vec![
                leaf("a", |i| if i == 19 { 0.3 * MIB } else { 0.0 }),
                leaf("b", |i| if i % 3 == 0 { 0.3 * MIB } else { 0.0 }),
            ],
        }];
        assert!(trace_callers(&flat, &none, 0.9 * MIB, &times, &o, 0.05).is_empty());
    }
}
