//! The report's types: what `analyze` returns, as text, HTML and JSON (`leakdiff.report/v1`)
//! print it.

use super::*;

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
    /// Why the severity is lower than the growth's impact alone would make it (watched too
    /// briefly, or slowing toward a level).
    pub held: Option<crate::trend::Held>,
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

/// A key that is one of V8's pseudo-frames alone on its stacks: memory no function of the
/// program allocated where the profile says (see `store::pseudo_frame`).
#[derive(Clone, Debug, Serialize)]
pub struct PseudoKey {
    /// The pseudo-frame.
    pub key: String,
    /// What it stands for.
    pub meaning: &'static str,
    /// Its trend's pattern.
    pub pattern: Pattern,
    /// Theil–Sen slope, units per hour.
    pub slope_per_hour: f64,
    /// Growth from first to last.
    pub growth: f64,
    /// The last value.
    pub last: f64,
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
    /// The share of the reachable bytes the allocation sites retain: below
    /// [`crate::graph::SITE_COVERAGE_FLOOR`] the roots and types are shown first.
    pub site_coverage: f64,
    /// Top roots by retained bytes.
    pub top_roots: Vec<crate::graph::NamedRetainer>,
    /// Top Go types by retained bytes (with the binary's DWARF).
    pub top_types: Vec<crate::graph::NamedRetainer>,
}

impl GraphSection {
    /// Whether the allocation sites retain too little of the heap to say what holds it.
    pub fn sites_answer(&self) -> bool {
        self.site_coverage >= crate::graph::SITE_COVERAGE_FLOOR
    }
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

/// Keys of a sampled heap too small to judge alone that grow beside suspects, under their
/// direct caller: they gained samples and gave back none but a grown collection's old array.
#[derive(Clone, Debug, Serialize)]
pub struct Beside {
    /// The suspects' direct caller.
    pub caller: String,
    /// The suspects it calls.
    pub suspects: Vec<String>,
    /// The keys under it (or the caller's own allocations), largest growth first.
    pub keys: Vec<BesideKey>,
}

/// One key growing beside suspects.
#[derive(Clone, Debug, Serialize)]
pub struct BesideKey {
    /// Key (function).
    pub key: String,
    /// Net growth from the first snapshot to the last.
    pub growth: f64,
    /// Its value at the last snapshot.
    pub last: f64,
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
    /// Heap snapshots in order: one per distinct state (see `gc_repeats`).
    pub snapshots: Vec<SnapshotOut>,
    /// Go heap snapshots that repeated the one before them (no GC completed between them: a Go
    /// heap profile is the heap as of the last completed GC), folded into it and not trended.
    pub gc_repeats: usize,
    /// What to do once the heap suspects are known, for this kind of program (said once: a heap
    /// profile says where memory was allocated, never what keeps it).
    pub next_step: Option<String>,
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
    /// Keys too small to judge alone growing beside the suspects (sampled heaps; see
    /// [`Beside`]).
    pub beside_suspects: Vec<Beside>,
    /// The profiler's own allocations, left out of the suspects (absent with `--keep-profiler`
    /// or when there are none).
    pub profiler_overhead: Option<ProfilerOverhead>,
    /// Keys that are no code: V8's pseudo-frames alone on their stacks (`(external)`: Buffer
    /// and ArrayBuffer backing stores), set apart from the suspects and explained.
    pub outside_code: Vec<PseudoKey>,
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

    /// How many observations a section's trends stand on: its snapshots (for the heap, one per
    /// GC state); the callers' are the heap's.
    pub fn observations_of(&self, kind: &str) -> usize {
        match kind {
            "goroutine" => self.goroutines.as_ref().map_or(0, |g| g.snapshots.len()),
            "process" => self.process.as_ref().map_or(0, |p| p.snapshots.len()),
            _ => self.snapshots.len(),
        }
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
