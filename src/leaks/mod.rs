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

/// One snapshot as reported.
#[derive(Clone, Debug, Serialize)]
pub struct SnapshotOut {
    /// Path.
    pub source: String,
    /// Format.
    pub format: String,
    /// Time, RFC 3339 UTC.
    pub time: String,
    /// Seconds since the first snapshot of its kind.
    pub offset_seconds: f64,
}

/// The total of the value type over time.
#[derive(Clone, Debug, Serialize)]
pub struct TotalOut {
    /// One value per snapshot.
    pub series: Vec<f64>,
    /// Its trend.
    pub trend: Trend,
    /// When it crosses `--memory-limit`.
    pub prediction: Option<Prediction>,
}

/// Projection of one suspect.
#[derive(Clone, Debug, Serialize)]
pub struct SuspectPrediction {
    /// The suspect's value 24 h after the last snapshot at its rate; `None` when that is beyond
    /// what the data supports (fewer than three snapshots, under a minute, or an exponential fit
    /// carried past twice its span).
    pub value_in_24h: Option<f64>,
    /// Hours until the total crosses the memory limit if this suspect keeps its rate (and the
    /// rest stays as it is), with the interval from the slope's interval.
    pub hours_to_limit: Option<f64>,
    /// Earliest.
    pub hours_low: Option<f64>,
    /// Latest (`None`: maybe never).
    pub hours_high: Option<f64>,
    /// How far past the last snapshot the data supports a projection
    /// ([`trend::horizon_hours`]); a later crossing is the rate carried beyond the data.
    pub horizon_hours: f64,
}

/// A growing key.
#[derive(Clone, Debug, Serialize)]
pub struct Suspect {
    /// Key (function, site or stack).
    pub key: String,
    /// Function names of one of its stacks, leaf first.
    pub frames: Vec<String>,
    /// Pattern.
    pub pattern: Pattern,
    /// Severity.
    pub severity: Severity,
    /// Theil–Sen slope per hour and its interval.
    pub slope_per_hour: f64,
    /// Lower end.
    pub slope_low_per_hour: f64,
    /// Upper end.
    pub slope_high_per_hour: f64,
    /// Mann–Kendall two-sided p-value.
    pub p_value: f64,
    /// Kendall's tau.
    pub tau: f64,
    /// R² of the linear fit.
    pub r2: f64,
    /// last − first.
    pub growth: f64,
    /// Last value.
    pub last: f64,
    /// Share of the last total.
    pub share: f64,
    /// Doubling time when exponential.
    pub doubling_hours: Option<f64>,
    /// Snapshot indices where steps start (stepped).
    pub steps: Vec<usize>,
    /// Prediction.
    pub prediction: SuspectPrediction,
    /// What to do.
    pub remediation: String,
    /// Pearson correlation with the total.
    pub correlation_with_total: Option<f64>,
    /// Pearson correlation with the goroutine count (nearest goroutine snapshot in time).
    pub correlation_with_goroutines: Option<f64>,
    /// Values, one per snapshot.
    pub series: Vec<f64>,
    /// The fitted model at each snapshot.
    pub fitted: Vec<f64>,
    /// When a Go heap dump is among the inputs: bytes its objects of this function retain.
    pub retained_bytes: Option<u64>,
    /// …and why they are alive: a path from a root to the one that retains the most.
    pub retained_path: Vec<String>,
    /// Goroutine suspects: `"go runtime goroutineleak"` when the Go runtime's leak detector
    /// proved goroutines of the group blocked forever.
    pub proven_by: Option<&'static str>,
    /// …and the most goroutines of the group it proved leaked in one snapshot.
    pub proven_leaked: Option<f64>,
    /// Goroutine suspects: whether the trend flagged the group (a proven group may not trend).
    pub trend_detected: bool,
}

/// A key that grew but is not a leak (a cache that plateaus or is evicted).
#[derive(Clone, Debug, Serialize)]
pub struct Benign {
    /// Key.
    pub key: String,
    /// Pattern (plateau or oscillating).
    pub pattern: Pattern,
    /// Largest value.
    pub max: f64,
    /// Last value.
    pub last: f64,
    /// Values, one per snapshot.
    pub series: Vec<f64>,
}

/// Allocations made by serving the profiles themselves (`runtime/pprof`, the `net/http/pprof`
/// handler's gzip writer and buffers): a collector that fetches every few seconds makes them
/// grow and churn. Set apart from the suspects in series, shown once.
#[derive(Clone, Debug, Serialize)]
pub struct ProfilerOverhead {
    /// Keys set apart.
    pub keys: Vec<String>,
    /// Their value at the last snapshot, together.
    pub last: f64,
    /// Their largest value at one snapshot, together.
    pub max: f64,
}

/// Whether a stack (leaf first) was allocated by the Go profiler serving or writing a profile.
pub fn is_profiler_stack(frames_leaf_first: &[String]) -> bool {
    frames_leaf_first
        .iter()
        .any(|f| f.starts_with("runtime/pprof.") || f.starts_with("net/http/pprof."))
}

/// The goroutine section.
#[derive(Clone, Debug, Serialize)]
pub struct GoroutineSection {
    /// Snapshots of goroutines.
    pub snapshots: Vec<SnapshotOut>,
    /// Goroutine count over time.
    pub total: TotalOut,
    /// Goroutine groups that leak: their count grows with a leak pattern, or the Go runtime
    /// proved them blocked forever (`proven_by`).
    pub suspects: Vec<Suspect>,
    /// Whether the inputs hold the Go runtime's leak check (a `goroutineleak` profile, or
    /// goroutines marked `(leaked)`, Go ≥ 1.26).
    pub leak_check: bool,
    /// Where the two disagree: groups the runtime proves leaked that the trend did not flag.
    pub proven_not_trending: Vec<String>,
    /// …and, with a leak check among the inputs, groups that trend but the runtime does not
    /// prove: still blocked on something reachable (a global channel, a held lock), or alive.
    pub trending_not_proven: Vec<String>,
}

/// One process metric over time.
#[derive(Clone, Debug, Serialize)]
pub struct MetricOut {
    /// Name (`rss`, `fds`, `fds/socket`, `tcp/CLOSE_WAIT`, `threads`, `mappings`, …).
    pub name: String,
    /// `bytes` or `count`.
    pub unit: String,
    /// One value per process sample.
    pub series: Vec<f64>,
    /// Its pattern.
    pub pattern: Pattern,
    /// The process's limit for it (`limit/NAME` in the samples: open files), when known.
    pub limit: Option<f64>,
}

/// The process section: metrics sampled from `/proc/PID`, trended like heap sites.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessSection {
    /// Process samples.
    pub snapshots: Vec<SnapshotOut>,
    /// Every metric, in name order.
    pub metrics: Vec<MetricOut>,
    /// Metrics that leak, most severe first.
    pub suspects: Vec<Suspect>,
}

/// The object-graph section: the latest heap dump's cycles and top retainers.
#[derive(Clone, Debug, Serialize)]
pub struct GraphSection {
    /// The dump.
    pub source: String,
    /// Live objects and their bytes.
    pub reachable_objects: usize,
    /// Bytes.
    pub reachable_bytes: u64,
    /// Reference cycles reachable from roots.
    pub reachable_cycles: usize,
    /// Unreachable cycles (garbage not yet collected).
    pub unreachable_cycles: usize,
    /// Top allocation sites by retained bytes.
    pub top_retainers: Vec<crate::graph::SiteRetainer>,
}

/// A caller that owns growth spread over keys each under its floor: its cumulative value (pprof's
/// `cum`, over those keys) grows with a leak pattern.
#[derive(Clone, Debug, Serialize)]
pub struct CallerGrowth {
    /// The caller's function.
    pub caller: String,
    /// The fewest frames between it and its keys' frames (1: their direct caller).
    pub depth: u16,
    /// Pattern of its cumulative value.
    pub pattern: Pattern,
    /// Net growth of its cumulative value.
    pub growth: f64,
    /// Its cumulative value at the last snapshot.
    pub last: f64,
    /// Theil–Sen slope (per hour).
    pub slope_per_hour: f64,
    /// Mann–Kendall p-value.
    pub p_value: f64,
    /// Share of the unexplained growth it accounts for.
    pub share_of_unexplained: f64,
    /// The keys under it that make up 90 % of its growth (at most 10), largest first, with
    /// their growth under it.
    pub keys: Vec<(String, f64)>,
    /// Its cumulative value per snapshot.
    pub series: Vec<f64>,
}

/// Everything `leakdiff report` says.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `leakdiff.report/v1`.
    pub schema: &'static str,
    /// Value type trended (`kind/unit`).
    pub value_type: String,
    /// Unit.
    pub unit: String,
    /// Noise floor used for each key (value units).
    pub floor: f64,
    /// Memory limit, when given.
    pub memory_limit: Option<f64>,
    /// Heap snapshots in order.
    pub snapshots: Vec<SnapshotOut>,
    /// Total over time.
    pub total: TotalOut,
    /// Keys trended (present in some snapshot).
    pub keys_analyzed: usize,
    /// Keys whose net growth passed their noise floor: the number of trend tests corrected for.
    pub keys_tested: usize,
    /// Whether per-key floors include sampling noise (sampled heaps, no `--min-growth`).
    pub sampled: bool,
    /// Suspects, most severe first.
    pub suspects: Vec<Suspect>,
    /// Leak suspects left out by `--top`.
    pub suspects_not_shown: usize,
    /// Growing keys that are not leaks, largest first (at most 10).
    pub not_leaks: Vec<Benign>,
    /// When the total grows with a leak pattern: its growth in keys each under its own noise
    /// floor (the total's growth less that of the keys judged on their own — suspects, caches,
    /// churn — and the profiler's), in value units. Absent when the total is no leak or that
    /// rest is under the noise floor or a fifth of the total's growth.
    pub unexplained_growth: Option<f64>,
    /// Where that growth lives: callers whose cumulative value over those keys leaks, lowest
    /// first (see [`CallerGrowth`]).
    pub callers: Vec<CallerGrowth>,
    /// The profiler's own allocations, left out of the suspects (absent with `--keep-profiler`
    /// or when there are none).
    pub profiler_overhead: Option<ProfilerOverhead>,
    /// Snapshots taken while the process tore down (an exit dump, a last drop): left out of
    /// the trend, which is of the run before them.
    pub teardown: Option<Teardown>,
    /// Goroutines, when goroutine snapshots are in the input.
    pub goroutines: Option<GoroutineSection>,
    /// Process metrics (RSS, fds, connections, threads, mappings), when process samples
    /// (`leakdiff collect --pid`) are in the input.
    pub process: Option<ProcessSection>,
    /// The object graph of the latest Go heap dump among the inputs.
    pub object_graph: Option<GraphSection>,
    /// Files that failed to parse.
    pub failures: Vec<crate::store::Failure>,
    /// Files that are neither heap nor goroutine data.
    pub skipped: Vec<crate::store::Failure>,
}

impl ProcessSection {
    /// The unit of a metric (`bytes` or `count`; `count` for a name it does not have).
    pub fn unit_of(&self, name: &str) -> &str {
        self.metrics
            .iter()
            .find(|m| m.name == name)
            .map_or("count", |m| m.unit.as_str())
    }
}

impl Report {
    /// The suspects of each section present: `heap`, then `goroutine` and `process` when the
    /// inputs had them.
    pub fn suspect_sections(&self) -> Vec<(&'static str, &[Suspect])> {
        let mut out: Vec<(&'static str, &[Suspect])> = vec![("heap", &self.suspects)];
        if let Some(g) = &self.goroutines {
            out.push(("goroutine", &g.suspects));
        }
        if let Some(p) = &self.process {
            out.push(("process", &p.suspects));
        }
        out
    }

    /// The span of a section's snapshots, in hours (what its rates were measured over).
    pub fn span_hours_of(&self, kind: &str) -> f64 {
        let snaps = match kind {
            "goroutine" => self.goroutines.as_ref().map(|g| &g.snapshots),
            "process" => self.process.as_ref().map(|p| &p.snapshots),
            _ => Some(&self.snapshots),
        };
        match snaps.map(|s| (s.first(), s.last())) {
            Some((Some(a), Some(b))) => (b.offset_seconds - a.offset_seconds) / trend::HOUR,
            _ => 0.0,
        }
    }

    /// The unit of a suspect of a section.
    pub fn unit_of(&self, kind: &str, key: &str) -> &str {
        match (kind, &self.process) {
            ("goroutine", _) => "count",
            ("process", Some(p)) => p.unit_of(key),
            _ => &self.unit,
        }
    }
}

fn rfc3339(nanos: i64) -> String {
    crate::units::rfc3339_utc(nanos)
}

fn snapshots_out(snapshots: &[Snapshot]) -> (Vec<SnapshotOut>, Vec<f64>) {
    let t0 = snapshots.first().map(|s| s.time_nanos).unwrap_or(0);
    let times: Vec<f64> = snapshots
        .iter()
        .map(|s| (s.time_nanos - t0) as f64 / 1e9)
        .collect();
    let out = snapshots
        .iter()
        .zip(&times)
        .map(|(s, &t)| SnapshotOut {
            source: s.source.clone(),
            format: s.format.clone(),
            time: rfc3339(s.time_nanos),
            offset_seconds: t,
        })
        .collect();
    (out, times)
}

fn fitted(t: &Trend, times: &[f64]) -> Vec<f64> {
    times.iter().map(|s| t.fitted_at(s / trend::HOUR)).collect()
}

struct Ctx<'a> {
    times: &'a [f64],
    totals: &'a [f64],
    goroutines: Option<&'a [f64]>,
    limit: Option<f64>,
}

fn suspect(key: &KeyInfo, series: Vec<f64>, t: Trend, ctx: &Ctx) -> Option<Suspect> {
    let total_last = ctx.totals.last().copied().unwrap_or(0.0);
    // Time to the limit if this suspect keeps growing and everything else stays.
    let hours = |slope: f64| -> Option<f64> {
        let limit = ctx.limit?;
        if total_last >= limit {
            return Some(0.0);
        }
        (slope > 0.0).then(|| (limit - total_last) / slope)
    };
    let linear = (
        hours(t.slope_per_hour),
        hours(t.slope_high_per_hour),
        hours(t.slope_low_per_hour),
    );
    let exponential = match (t.pattern, t.exp_fit) {
        (Pattern::Exponential, Some(e)) if e.rate_per_hour > 0.0 && t.last > 0.0 => {
            // Solve last·e^(r·h) − last = limit − total.
            let at = |r: f64| -> Option<f64> {
                let limit = ctx.limit?;
                if total_last >= limit {
                    return Some(0.0);
                }
                (r > 0.0).then(|| ((limit - total_last) / t.last + 1.0).ln() / r)
            };
            let scale = |s: f64| {
                if t.slope_per_hour > 0.0 {
                    e.rate_per_hour * s / t.slope_per_hour
                } else {
                    e.rate_per_hour
                }
            };
            Some((
                at(e.rate_per_hour),
                at(scale(t.slope_high_per_hour)),
                at(scale(t.slope_low_per_hour)),
            ))
        }
        _ => None,
    };
    // An exponential crossing further out than the fit can be carried is replaced by the
    // linear one (the slope's, a lower bound on the growth so far).
    let (h, lo, hi) = exponential
        .filter(|(h, _, _)| h.is_some_and(|h| trend::supports(&t, h)))
        .unwrap_or(linear);
    let severity = trend::severity(&SeverityInput {
        trend: &t,
        total_last,
        hours_to_limit: h,
    })?;
    let frames: Vec<&str> = key.frames.iter().map(String::as_str).collect();
    Some(Suspect {
        key: key.name.clone(),
        frames: key.frames.clone(),
        pattern: t.pattern,
        severity,
        slope_per_hour: t.slope_per_hour,
        slope_low_per_hour: t.slope_low_per_hour,
        slope_high_per_hour: t.slope_high_per_hour,
        p_value: t.mann_kendall.p_value,
        tau: t.mann_kendall.tau,
        r2: t.r2,
        growth: t.growth,
        last: t.last,
        share: if total_last > 0.0 {
            t.last / total_last
        } else {
            0.0
        },
        doubling_hours: if t.pattern == Pattern::Exponential {
            t.exp_fit.and_then(|e| e.doubling_hours)
        } else {
            None
        },
        steps: t.steps.clone(),
        prediction: SuspectPrediction {
            value_in_24h: trend::project(&t, 24.0),
            hours_to_limit: h,
            hours_low: lo,
            hours_high: hi,
            horizon_hours: trend::horizon_hours(&t),
        },
        remediation: trend::remediation(&frames, t.pattern),
        correlation_with_total: trend::stats::pearson(&series, ctx.totals),
        correlation_with_goroutines: ctx
            .goroutines
            .and_then(|g| trend::stats::pearson(&series, g)),
        fitted: fitted(&t, ctx.times),
        series,
        retained_bytes: None,
        retained_path: Vec::new(),
        proven_by: None,
        proven_leaked: None,
        trend_detected: true,
    })
}

fn rank(suspects: &mut [Suspect]) {
    suspects.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then(b.slope_per_hour.total_cmp(&a.slope_per_hour))
            .then_with(|| a.key.cmp(&b.key))
    });
}

/// The goroutine count of the goroutine snapshot nearest in time to each heap snapshot.
fn align(heap: &[Snapshot], gor: &[Snapshot], counts: &[f64]) -> Option<Vec<f64>> {
    if gor.len() < 3 {
        return None;
    }
    Some(
        heap.iter()
            .map(|h| {
                let best = gor
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, g)| (g.time_nanos - h.time_nanos).unsigned_abs())
                    .map(|(i, _)| i)
                    .unwrap_or(0);
                counts[best]
            })
            .collect(),
    )
}

/// The goroutine section, its snapshots and its counts.
type GoroutineParts = (GoroutineSection, Vec<Snapshot>, Vec<f64>);

/// The goroutine section: [`goroutines::analyze`] (the detector of `leakdiff goroutines`) over the
/// goroutine snapshots, its leaking groups as suspects with severity and prediction.
fn goroutine_section(
    ev: &Evidence,
    options: &AnalyzeOptions,
) -> Result<Option<GoroutineParts>, AnalyzeError> {
    if ev.goroutines.is_empty() {
        return Ok(None);
    }
    // The series: every goroutine snapshot but the goroutineleak profiles, which only prove.
    let series: Vec<&(Snapshot, GoroutineSnapshot)> = ev
        .goroutines
        .iter()
        .filter(|(_, g)| !g.leak_profile)
        .collect();
    let snapshots: Vec<Snapshot> = series.iter().map(|(s, _)| s.clone()).collect();
    let (snaps, times) = snapshots_out(&snapshots);
    // Every goroutine counts in the total, system goroutines included.
    let totals: Vec<f64> = series
        .iter()
        .map(|(_, g)| g.records.iter().map(|r| r.count as f64).sum())
        .collect();
    let topts = TrendOptions {
        floor: options.min_goroutine_growth.max(0.0) - 0.5,
        alpha: options.alpha,
        ..Default::default()
    };
    let total_trend = trend::analyze(&times, &totals, &topts);
    let gopts = GoroutineOptions {
        min_growth: options.min_goroutine_growth,
        alpha: options.alpha,
        ..Default::default()
    };
    let t0 = snapshots.first().map_or(0, |s| s.time_nanos);
    let refs: Vec<(&GoroutineSnapshot, f64)> = ev
        .goroutines
        .iter()
        .map(|(s, g)| (g, (s.time_nanos - t0) as f64 / 1e9))
        .collect();
    let found = goroutines::analyze(&refs, &gopts);
    let ctx = Ctx {
        times: &times,
        totals: &totals,
        goroutines: None,
        limit: None,
    };
    let mut suspects: Vec<Suspect> = Vec::new();
    let mut proven_not_trending = Vec::new();
    let mut trending_not_proven = Vec::new();
    for g in found.groups.iter().filter(|g| g.leak) {
        let key = KeyInfo {
            name: g.function.clone(),
            frames: g.frames.clone(),
        };
        let t = g
            .trend
            .clone()
            .unwrap_or_else(|| trend::analyze(&times, &g.counts, &topts));
        let sus = match (
            g.trend_leak,
            suspect(&key, g.counts.clone(), t.clone(), &ctx),
        ) {
            (true, Some(s)) => Some(s),
            // Proven by the runtime in one snapshot, or judged by growth or age with fewer than
            // three snapshots: no trend to rate, so the severity comes from the count or age.
            _ => untrended(&key, g.counts.clone(), t, g, &ctx),
        };
        if let Some(mut sus) = sus {
            // How the group waits (its state, else its frames) says more than the
            // allocation-site rules.
            sus.remediation = g.remediation.clone();
            sus.proven_by = g.proven_by;
            sus.proven_leaked = g.proven_by.map(|_| g.proven_leaked);
            sus.trend_detected = g.trend_leak;
            if g.proven_by.is_some() && !g.trend_leak {
                proven_not_trending.push(g.function.clone());
            }
            if found.leak_check && g.trend_leak && g.proven_by.is_none() {
                trending_not_proven.push(g.function.clone());
            }
            suspects.push(sus);
        }
    }
    rank(&mut suspects);
    suspects.truncate(if options.top == 0 {
        usize::MAX
    } else {
        options.top
    });
    Ok(Some((
        GoroutineSection {
            snapshots: snaps,
            total: TotalOut {
                series: totals.clone(),
                trend: total_trend,
                prediction: None,
            },
            suspects,
            leak_check: found.leak_check,
            proven_not_trending,
            trending_not_proven,
        },
        snapshots,
        totals,
    )))
}

/// A suspect the goroutine detector flagged without a trend: proven leaked by the runtime (its
/// severity by how many: 1000 or more critical, 10 or more high, else medium), or judged by
/// growth or age over one or two snapshots (high when blocked long, else medium). Its pattern is
/// the counts' own (flat for one snapshot).
fn untrended(
    key: &KeyInfo,
    series: Vec<f64>,
    t: Trend,
    g: &goroutines::Group,
    ctx: &Ctx,
) -> Option<Suspect> {
    let pattern = t.pattern;
    let mut forced = t;
    forced.pattern = Pattern::Linear;
    let mut s = suspect(key, series, forced, ctx)?;
    s.pattern = pattern;
    s.severity = if g.proven_by.is_some() {
        match g.proven_leaked {
            n if n >= 1000.0 => Severity::Critical,
            n if n >= 10.0 => Severity::High,
            _ => Severity::Medium,
        }
    } else if g.blocked_long {
        Severity::High
    } else {
        Severity::Medium
    };
    Some(s)
}

/// Growth of a process byte metric (RSS, mapped bytes) below this is noise: allocators keep and
/// return whole arenas.
pub const PROCESS_BYTES_FLOOR: f64 = 4.0 * 1024.0 * 1024.0;

/// What to do about a growing process metric.
fn process_remediation(name: &str) -> &'static str {
    match name {
        n if n.starts_with("tcp/CLOSE_WAIT") => "connections in CLOSE_WAIT grow: the peer closed and this process never did; close response bodies and connections on every path (defer resp.Body.Close(), conn.Close())",
        n if n.starts_with("tcp") => "open TCP connections grow: look for clients built per request (http.Client/Transport, DB pools) and connections never closed or returned to their pool",
        n if n.starts_with("fds/socket") => "open sockets grow: close connections and listeners on every path; reuse one HTTP client",
        n if n.starts_with("fds/pipe") => "open pipes grow: wait for child processes and close both ends of pipes (cmd.Wait, StdoutPipe)",
        n if n.starts_with("fds") => "open file descriptors grow: close files on every path (defer f.Close()); the process dies with EMFILE at its limit",
        "threads" => "OS threads grow: look for goroutines blocked in cgo or system calls, runtime.LockOSThread without unlock, or thread pools that never shrink",
        "mappings" => "memory mappings grow: look for mmap without munmap, dlopen without dlclose, or per-thread arenas",
        _ => "resident memory grows: compare with the heap profiles' in-use total; growth outside the heap points at cgo, mmap or allocator fragmentation",
    }
}

fn process_section(
    ev: &Evidence,
    options: &AnalyzeOptions,
) -> Result<Option<ProcessSection>, AnalyzeError> {
    if ev.process.snapshots.is_empty() {
        return Ok(None);
    }
    let (snaps, times) = snapshots_out(&ev.process.snapshots);
    let metrics: Vec<(String, String, Vec<f64>)> = ev
        .process
        .metrics
        .iter()
        .map(|m| (m.name.clone(), m.unit.to_string(), m.values.clone()))
        .collect();
    let limit_of = |name: &str| -> Option<f64> {
        let key = format!("limit/{name}");
        // Every fd counts against the open-files limit, sockets and connections included.
        let shared = (name.starts_with("fds") || name.starts_with("tcp")).then_some("limit/fds");
        metrics
            .iter()
            .find(|m| m.0 == key)
            .or_else(|| shared.and_then(|k| metrics.iter().find(|m| m.0 == k)))
            .and_then(|m| m.2.last().copied())
            .filter(|v| *v > 0.0)
            .or_else(|| (name == "rss").then_some(options.memory_limit).flatten())
    };
    let limits: Vec<Option<f64>> = metrics.iter().map(|m| limit_of(&m.0)).collect();
    let mut trends = Vec::new();
    for (name, unit, values) in &metrics {
        let floor = match (unit.as_str(), options.min_growth) {
            ("bytes", Some(m)) => m,
            ("bytes", None) => PROCESS_BYTES_FLOOR,
            _ => options.min_goroutine_growth.max(0.0) - 0.5,
        };
        let topts = TrendOptions {
            floor,
            alpha: options.alpha,
            ..Default::default()
        };
        let t = trend::analyze(&times, values, &topts);
        let tested = t.growth > floor && !name.starts_with("limit/");
        trends.push((t, tested));
    }
    // No multiple-testing correction here, unlike heap keys: a dozen metrics, most of them parts
    // of each other (fds ⊃ fds/socket ⊃ tcp), not thousands of independent sites.
    let mut out = Vec::new();
    let mut suspects = Vec::new();
    for (((name, unit, values), (t, tested)), limit) in metrics.into_iter().zip(trends).zip(limits)
    {
        if tested && t.pattern.is_leak() {
            // Severity and time to limit against the metric's own limit: with none, the share
            // rules cannot apply (an fd count has no heap to be a share of).
            let own = [t.last];
            let ctx = Ctx {
                times: &times,
                totals: &own,
                goroutines: None,
                limit,
            };
            let key = KeyInfo {
                name: name.clone(),
                frames: vec![name.clone()],
            };
            if let Some(mut sus) = suspect(&key, values.clone(), t.clone(), &ctx) {
                sus.share = limit.map_or(0.0, |l| sus.last / l);
                if let Some(sev) = trend::severity(&SeverityInput {
                    trend: &t,
                    total_last: limit.unwrap_or(f64::INFINITY),
                    hours_to_limit: sus.prediction.hours_to_limit,
                }) {
                    sus.severity = sev;
                }
                // A metric with no limit to measure headroom against is rated by its own
                // growth: doubling within the window is high at least, half again medium.
                let ratio = if t.first > 0.0 {
                    t.last / t.first
                } else {
                    f64::INFINITY
                };
                let floor_sev = if ratio >= 2.0 {
                    Severity::High
                } else if ratio >= 1.5 {
                    Severity::Medium
                } else {
                    Severity::Low
                };
                sus.severity = sus.severity.min(floor_sev);
                sus.correlation_with_total = None;
                sus.remediation = process_remediation(&name).to_string();
                suspects.push(sus);
            }
        }
        out.push(MetricOut {
            name,
            unit,
            series: values,
            pattern: t.pattern,
            limit,
        });
    }
    rank(&mut suspects);
    Ok(Some(ProcessSection {
        snapshots: snaps,
        metrics: out,
        suspects,
    }))
}

/// The noise floor of one key: `--min-growth` exactly when given; else 16 KiB (bytes) / 16
/// (counts), and never less than two sampling periods when the snapshots were sampled by bytes (one
/// sampled allocation more or less is within noise).
pub fn noise_floor(snapshots: &[Snapshot], unit: &str, min_growth: Option<f64>) -> f64 {
    let bytes = unit == "bytes";
    if let Some(m) = min_growth {
        return m;
    }
    let base: f64 = if bytes { 16384.0 } else { 16.0 };
    if bytes {
        base.max(2.0 * sampling_rate(snapshots))
    } else {
        base
    }
}

/// The largest byte sampling rate of the snapshots (0 when they are exact).
fn sampling_rate(snapshots: &[Snapshot]) -> f64 {
    snapshots
        .iter()
        .filter_map(|s| s.sampling_rate_bytes)
        .filter(|r| *r > 1)
        .max()
        .unwrap_or(0) as f64
}

/// The noise floor of one key of a sampled heap: at least three standard deviations of the
/// difference of two Poisson sample counts, the first and the last (a site with λ samples holds
/// about λ·rate bytes). Small sites wander by a few samples between snapshots as objects are freed
/// and new ones are (or are not) sampled; that is not growth.
///
/// A site whose samples stay is another matter: retained objects keep the samples they got, so a
/// series that never loses a sample and gains them in many small rises is a count that only
/// gains; there the floor is four samples of growth.
pub fn sampled_floor(floor: f64, rate: f64, values: &[f64]) -> f64 {
    if rate <= 1.0 {
        return floor;
    }
    if keeps_samples(rate, values) {
        return floor.max(4.0 * rate);
    }
    let samples = |v: f64| v.max(rate) / rate;
    let first = values.first().copied().unwrap_or(0.0);
    let last = values.last().copied().unwrap_or(0.0);
    floor.max(3.0 * rate * (samples(first) + samples(last)).sqrt())
}

/// Whether a sampled series behaves like retained objects: at least 6 points, growth in at least
/// five rises (one big object is one exact sample, not a count that gains) each of at most a few
/// samples, and never a fall (a wandering site loses samples as often as it gains them).
fn keeps_samples(rate: f64, values: &[f64]) -> bool {
    let rises = values.windows(2).filter(|w| w[1] > w[0]).count();
    values.len() >= 6
        && rises >= 5
        && values
            .windows(2)
            .all(|w| w[1] >= w[0] && w[1] - w[0] <= 4.05 * rate)
}

/// Growth of the series from first to last.
fn growth_of(v: &[f64]) -> f64 {
    v.last().copied().unwrap_or(0.0) - v.first().copied().unwrap_or(0.0)
}

/// A caller considered in one round of [`trace_callers`]: its open keys' series and their sum.
struct Candidate<'a> {
    caller: &'a CallerSeries,
    leaves: Vec<(String, Vec<f64>)>,
    cum: Vec<f64>,
    growth: f64,
}

/// Looks up the call tree for growth the suspects leave unexplained (`residual`). In each round
/// (at most 3) the candidates are the callers owning at least a quarter of what is left through
/// at least two keys that grew; keys judged on their own (`explained`), keys named in an earlier
/// round and keys that rose only once (one allocation) do not count. The lowest candidate (least
/// growth, then fewest frames up) whose cumulative value passes its sampled floor with a leak
/// pattern at `alpha` over the number of candidates is named, with the keys that make up 90 % of
/// its growth. Stops when what is left is under a fifth of the residual or the floor, or no
/// candidate passes.
fn trace_callers(
    callers: &[CallerSeries],
    explained: &std::collections::BTreeSet<&str>,
    residual: f64,
    times: &[f64],
    topts: &TrendOptions,
    alpha: f64,
) -> Vec<CallerGrowth> {
    let mut out: Vec<CallerGrowth> = Vec::new();
    let mut named: std::collections::BTreeSet<String> = Default::default();
    let mut left = residual;
    for _ in 0..3 {
        if left < topts.floor.max(0.2 * residual) {
            break;
        }
        // Each caller's cumulative series over the keys still open.
        // A key that rose once is one allocation (a buffer sized at startup), not something
        // that accumulates: it is left out.
        let open = |c: &CallerSeries| -> Vec<(String, Vec<f64>)> {
            c.leaves
                .iter()
                .filter(|(k, v)| {
                    !explained.contains(k.as_str())
                        && !named.contains(k)
                        && v.windows(2).filter(|w| w[1] > w[0]).count() >= 2
                })
                .cloned()
                .collect()
        };
        let mut candidates: Vec<Candidate> = Vec::new();
        for c in callers {
            if out.iter().any(|o| o.caller == c.name) {
                continue;
            }
            let leaves = open(c);
            if leaves.iter().filter(|(_, v)| growth_of(v) > 0.0).count() < 2 {
                continue;
            }
            let mut cum = vec![0.0; times.len()];
            for (_, v) in &leaves {
                for (a, x) in cum.iter_mut().zip(v) {
                    *a += x;
                }
            }
            let g = growth_of(&cum);
            if g >= 0.25 * left {
                candidates.push(Candidate {
                    caller: c,
                    leaves,
                    cum,
                    growth: g,
                });
            }
        }
        candidates.sort_by(|a, b| {
            a.growth
                .total_cmp(&b.growth)
                .then(a.caller.depth.cmp(&b.caller.depth))
                .then_with(|| a.caller.name.cmp(&b.caller.name))
        });
        let m = candidates.len();
        let found = candidates.into_iter().find_map(|cand| {
            let f = sampled_floor(topts.floor, topts.sampling_rate, &cand.cum);
            let o = TrendOptions { floor: f, ..*topts };
            let t = trend::analyze(times, &cand.cum, &o);
            let keep = t.growth > f
                && t.pattern.is_leak()
                && trend::holm(std::slice::from_ref(&t), m, alpha)[0];
            keep.then_some((cand, t))
        });
        let Some((
            Candidate {
                caller: c,
                mut leaves,
                cum,
                growth: g,
            },
            t,
        )) = found
        else {
            break;
        };
        leaves.sort_by(|a, b| {
            growth_of(&b.1)
                .total_cmp(&growth_of(&a.1))
                .then_with(|| a.0.cmp(&b.0))
        });
        let mut keys = Vec::new();
        let mut sum = 0.0;
        for (k, v) in leaves {
            let kg = growth_of(&v);
            if sum >= 0.9 * g || keys.len() == 10 || kg <= 0.0 {
                break;
            }
            sum += kg;
            keys.push((k, kg));
        }
        named.extend(keys.iter().map(|(k, _)| k.clone()));
        left -= g;
        out.push(CallerGrowth {
            caller: c.name.clone(),
            depth: c.depth,
            pattern: t.pattern,
            growth: g,
            last: t.last,
            slope_per_hour: t.slope_per_hour,
            p_value: t.mann_kendall.p_value,
            share_of_unexplained: g / residual,
            keys,
            series: cum,
        });
    }
    out
}

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
fn is_exit_dump(s: &Snapshot) -> bool {
    s.format.starts_with("jemalloc") && s.source.ends_with(".f.heap")
}

/// How many heap snapshots to trend: all but a teardown at the end. An exit dump is always left
/// out (it is taken after the program freed what it frees at exit); so is a last snapshot whose
/// total fell below half of the one before, when that one stood at the run's peak and the run
/// never fell by a quarter before (a run that rose and was torn down, not a cache that empties
/// and refills). Needs 5 snapshots before the teardown.
fn before_teardown(snapshots: &[Snapshot], totals: &[f64]) -> Option<(usize, &'static str)> {
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

/// Runs the analysis on what the store handed over.
pub fn analyze(ev: &Evidence, options: &AnalyzeOptions) -> Result<Report, AnalyzeError> {
    let gor = goroutine_section(ev, options)?;
    let cut = before_teardown(&ev.heap.snapshots, &ev.heap.totals);
    let teardown = cut.map(|(c, reason)| Teardown {
        sources: ev.heap.snapshots[c..]
            .iter()
            .map(|s| s.source.clone())
            .collect(),
        reason,
        total_before: ev.heap.totals[c - 1],
        total_after: ev.heap.totals.last().copied().unwrap_or(0.0),
    });
    let kept;
    let heap = match cut {
        Some((c, _)) => {
            kept = ev.heap.prefix(c);
            &kept
        }
        None => &ev.heap,
    };
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
    };
    let mut suspects = Vec::new();
    let mut benign = Vec::new();
    let (profiler, own): (Vec<_>, Vec<_>) = heap
        .series
        .iter()
        .partition(|s| !options.keep_profiler && is_profiler_stack(&s.key.frames));
    let profiler_overhead = (!profiler.is_empty()).then(|| {
        let n = totals.len();
        let sum: Vec<f64> = (0..n)
            .map(|i| {
                profiler
                    .iter()
                    .map(|s| s.values.get(i).copied().unwrap_or(0.0))
                    .sum()
            })
            .collect();
        ProfilerOverhead {
            keys: profiler.iter().map(|s| s.key.name.clone()).collect(),
            last: sum.last().copied().unwrap_or(0.0),
            max: sum.iter().copied().fold(0.0, f64::max),
        }
    });
    let series = &own;
    let keys_analyzed = series.len();
    // Sampled heaps: a key's growth must also stand out of its own sampling noise (unless the
    // user set the floor).
    let rate = if unit == "bytes" && options.min_growth.is_none() {
        sampling_rate(&heap.snapshots)
    } else {
        0.0
    };
    let floors: Vec<f64> = series
        .iter()
        .map(|s| sampled_floor(floor, rate, &s.values))
        .collect();
    // Every key's trend in parallel (Theil–Sen and Mann–Kendall are O(n²) per series).
    let trends: Vec<Trend> = series
        .par_iter()
        .zip(&floors)
        .map(|(s, &f)| {
            let o = TrendOptions {
                floor: f,
                sampling_rate: rate,
                ..topts
            };
            trend::analyze(&times, &s.values, &o)
        })
        .collect();
    // Keys judged on their own (grown beyond their floor), with their growth.
    let judged: Vec<(&str, f64)> = series
        .iter()
        .zip(&trends)
        .zip(&floors)
        .filter(|((_, t), f)| t.growth > **f)
        .map(|((s, t), _)| (s.key.name.as_str(), t.growth))
        .collect();
    let keys_tested = judged.len();
    let significant = trend::holm(&trends, keys_tested, options.alpha);
    for ((s, t), keep) in series.iter().zip(trends).zip(significant) {
        match t.pattern {
            p if p.is_leak() && !keep => {}
            p if p.is_leak() => {
                if let Some(sus) = suspect(&s.key, s.values.clone(), t, &ctx) {
                    suspects.push(sus);
                }
            }
            Pattern::Plateau | Pattern::Oscillating => benign.push(Benign {
                key: s.key.name.clone(),
                pattern: t.pattern,
                max: t.max,
                last: t.last,
                series: s.values.clone(),
            }),
            _ => {}
        }
    }
    // Growth spread over keys each under its floor: what the keys judged on their own (suspects,
    // caches, churn) and the profiler's leave of the total's, when the total leaks.
    let mut explained: std::collections::BTreeSet<&str> = judged.iter().map(|(k, _)| *k).collect();
    let mut by_judged: f64 = judged.iter().map(|(_, g)| g).sum();
    for s in &profiler {
        explained.insert(s.key.name.as_str());
        by_judged += growth_of(&s.values);
    }
    let residual = if total_trend.pattern.is_leak() {
        let r = total_trend.growth - by_judged;
        (r >= floor.max(0.2 * total_trend.growth)).then_some(r)
    } else {
        None
    };
    let callers = residual.map_or_else(Vec::new, |r| {
        let o = TrendOptions {
            sampling_rate: rate,
            ..topts
        };
        trace_callers(&heap.callers, &explained, r, &times, &o, options.alpha)
    });
    rank(&mut suspects);
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
        profiler_overhead,
        teardown,
        goroutines: gor.map(|g| g.0),
        process: process_section(ev, options)?,
        object_graph,
        failures: ev.failures.clone(),
        skipped: ev.skipped.clone(),
    })
}

/// The latest dump's object-graph section, and for each heap suspect what its objects retain and
/// why they are alive.
fn graph_section(g: &crate::graph::GraphSummary, suspects: &mut [Suspect]) -> GraphSection {
    for s in suspects.iter_mut() {
        let function = s.frames.first().map(String::as_str).unwrap_or(&s.key);
        if let Some(r) = g.retention.get(function) {
            s.retained_bytes = Some(r.bytes);
            s.retained_path = r.path.clone();
        }
    }
    GraphSection {
        source: g.source.clone(),
        reachable_objects: g.reachable_objects,
        reachable_bytes: g.reachable_bytes,
        reachable_cycles: g.reachable_cycles,
        unreachable_cycles: g.unreachable_cycles,
        top_retainers: g.top_retainers.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
