//! Synthetic series with planted leaks, written in the real input formats, with their truth:
//! `leakdiff simulate`. Memory leaks become Go heap protobufs sampled the way Go samples (Poisson
//! sampling at `MemProfileRate`, then unsampled, so small sites are noisy); goroutine leaks become
//! goroutine protobufs or `debug=2` dumps; cycle leaks become `go1.7` heap dumps whose object graph
//! holds the cycles. Every series also holds decoys that grow and are not leaks (caches that fill and
//! evict, warm-up plateaus, GC-driven sawtooth, bursts) and a background of many steady sites with
//! allocation churn, so that accuracy measured on it means something.
//!
//! May import: `model`, `formats` (encoders). No I/O: files come back as bytes for the caller to
//! write.

mod cycle;
mod goroutine;
mod memory;
mod rng;

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

pub use rng::Rng;

/// JSON schema id of [`Truth`].
pub const TRUTH_SCHEMA: &str = "leakdiff.truth/v1";

/// What leaks.
#[derive(
    Copy,
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum LeakType {
    /// Heap bytes of an allocation site (pprof heap profiles).
    Memory,
    /// Goroutines blocked forever (goroutine profiles or debug=2 dumps).
    Goroutine,
    /// Reference cycles kept alive from a root (Go heap dumps).
    Cycle,
}

impl LeakType {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            LeakType::Memory => "memory",
            LeakType::Goroutine => "goroutine",
            LeakType::Cycle => "cycle",
        }
    }
}

/// The shape of the planted subject over time. The first three are leaks; `oscillating` and
/// `plateau` make a leak-free series whose subject grows and then stops or falls back.
#[derive(
    Copy,
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum SimPattern {
    /// Constant rate.
    Linear,
    /// Growth proportional to size (8× over the series).
    Exponential,
    /// Two jumps, flat in between.
    Stepped,
    /// Grows and is released again, every 3–5 snapshots (GC, a cache flush): not a leak.
    Oscillating,
    /// Grows for the first quarter to half of the series, then stays (warm-up): not a leak.
    Plateau,
    /// A Go map or slice that doubles as entries keep coming: the entries grow at a constant
    /// rate, the memory held is the capacity (four or five doublings, each step the size of all
    /// before it, the last in the final quarter of the series; the old arrays are freed): a
    /// leak whose staircase is still stepping at the end.
    Doubling,
}

impl SimPattern {
    /// Whether the subject leaks.
    pub fn is_leak(self) -> bool {
        matches!(
            self,
            SimPattern::Linear
                | SimPattern::Exponential
                | SimPattern::Stepped
                | SimPattern::Doubling
        )
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            SimPattern::Linear => "linear",
            SimPattern::Exponential => "exponential",
            SimPattern::Stepped => "stepped",
            SimPattern::Oscillating => "oscillating",
            SimPattern::Plateau => "plateau",
            SimPattern::Doubling => "doubling",
        }
    }
}

/// How goroutine snapshots are written.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum GoroutineForm {
    /// `/debug/pprof/goroutine` protobufs (gzipped).
    #[default]
    Pprof,
    /// `/debug/pprof/goroutine?debug=2` text dumps.
    Debug2,
}

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// What leaks.
    pub leak_type: LeakType,
    /// The subject's shape.
    pub pattern: SimPattern,
    /// Bytes per second the memory subject grows by (linear), or its average over the series.
    pub growth_bytes_per_sec: f64,
    /// Goroutines or cycles per second the subject grows by.
    pub rate_per_sec: f64,
    /// Size of the steady background: live objects (memory, cycle) or goroutines; `None`: the
    /// type's default (200,000 objects, 200 goroutines, 2,000 objects).
    pub objects: Option<usize>,
    /// Number of snapshots.
    pub snapshots: usize,
    /// Seconds between snapshots.
    pub interval_secs: f64,
    /// Seed.
    pub seed: u64,
    /// Form of goroutine snapshots.
    pub goroutine_form: GoroutineForm,
    /// Time of the first snapshot, nanoseconds since the epoch.
    pub start_nanos: i64,
    /// Go's `MemProfileRate` for heap profiles (default 512 KiB).
    pub sampling_rate: u64,
    /// Memory: one more snapshot at the end, taken while the process tears down (every site
    /// down to 2 % of what it held, as an interpreter's exit or a profiler's exit dump shows).
    pub teardown: bool,
    /// Memory: add the Go profiler's own allocations (net/http/pprof serving the profiles:
    /// runtime/pprof's builder and compress/flate's writer), growing and churning; they are not
    /// leaks.
    pub profiler_noise: bool,
    /// Memory: heap profiles as Go writes them, as of the last completed GC (GOGC=100, and the
    /// forced GC every two minutes): snapshots taken between two cycles repeat the one before.
    /// Off: a cycle completes before every snapshot.
    pub gc_stale: bool,
    /// Cycle: heap dumps whose allocation records are the ones Go's sampler picks at
    /// `sampling_rate` (a process left at its default MemProfileRate). Off: every allocation has
    /// one (MemProfileRate = 1).
    pub sampled_records: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            leak_type: LeakType::Memory,
            pattern: SimPattern::Linear,
            growth_bytes_per_sec: 64.0 * 1024.0,
            rate_per_sec: 0.2,
            objects: None,
            snapshots: 12,
            interval_secs: 30.0,
            seed: 1,
            goroutine_form: GoroutineForm::Pprof,
            // 2026-01-01T00:00:00Z
            start_nanos: 1_767_225_600_000_000_000,
            sampling_rate: 512 * 1024,
            teardown: false,
            profiler_noise: false,
            gc_stale: false,
            sampled_records: false,
        }
    }
}

/// Errors of the options.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// An option out of range.
    #[error("{0}")]
    Invalid(String),
}

/// One file of the series.
#[derive(Clone, Debug)]
pub struct SimFile {
    /// File name (no folder).
    pub name: String,
    /// Contents.
    pub bytes: Vec<u8>,
    /// When the snapshot was taken (the file's mtime should say so for formats with no time).
    pub time_nanos: i64,
}

/// What a series holds: `truth.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Truth {
    /// `leakdiff.truth/v1`.
    #[serde(default)]
    pub schema: String,
    /// What leaks (absent in hand-written truths: both detectors run).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub leak_type: Option<LeakType>,
    /// The subject's shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<SimPattern>,
    /// Seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshots: Option<usize>,
    /// Seconds between snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<f64>,
    /// Memory growth asked for (bytes/s), for memory series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub growth_bytes_per_sec: Option<f64>,
    /// Goroutines or cycles per second, for those series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_sec: Option<f64>,
    /// Leaking functions (heap sites or, for cycles, the functions that allocate the cycles'
    /// members) and their patterns.
    #[serde(default)]
    pub leaks: BTreeMap<String, String>,
    /// Functions that grow because of the planted cause without being what a user must be told
    /// (hand-written truths of real programs): flagging one is right, missing one is not scored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<String>,
    /// Functions of leaking goroutine groups.
    #[serde(default)]
    pub goroutine_leaks: Vec<String>,
    /// Decoys: functions that grow but do not leak, and their patterns.
    #[serde(default)]
    pub not_leaks: BTreeMap<String, String>,
    /// Functions filling a bounded structure that is not full within the window (a cache, a
    /// history, a log trimmed only past a count), and their patterns: no test on the window can
    /// tell them from a leak, so flagging one at medium or below is right and not scored, and
    /// flagging one high or critical is a false positive.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bounded: BTreeMap<String, String>,
    /// The steady background's functions.
    #[serde(default)]
    pub background: Vec<String>,
}

/// A simulated series.
pub struct Simulation {
    /// Files in snapshot order.
    pub files: Vec<SimFile>,
    /// Its truth.
    pub truth: Truth,
}

/// Runs a simulation.
pub fn simulate(o: &SimOptions) -> Result<Simulation, SimError> {
    if !(3..=100_000).contains(&o.snapshots) {
        return Err(SimError::Invalid(format!(
            "--snapshots {} (3 to 100000: a month at one a minute is 43200)",
            o.snapshots
        )));
    }
    if !(o.interval_secs > 0.0 && o.interval_secs.is_finite()) {
        return Err(SimError::Invalid("--interval must be positive".into()));
    }
    let rate_ok = |v: f64| v.is_finite() && v >= 0.0;
    if !rate_ok(o.growth_bytes_per_sec) || !rate_ok(o.rate_per_sec) {
        return Err(SimError::Invalid(
            "--growth and --rate must be finite and not negative".into(),
        ));
    }
    if o.sampling_rate == 0 {
        return Err(SimError::Invalid("--sampling-rate must be positive".into()));
    }
    let mut truth = Truth {
        schema: TRUTH_SCHEMA.to_string(),
        leak_type: Some(o.leak_type),
        pattern: Some(o.pattern),
        seed: Some(o.seed),
        snapshots: Some(o.snapshots),
        interval_seconds: Some(o.interval_secs),
        ..Default::default()
    };
    let files = match o.leak_type {
        LeakType::Memory => {
            truth.growth_bytes_per_sec = Some(o.growth_bytes_per_sec);
            memory::simulate(o, &mut truth)
        }
        LeakType::Goroutine => {
            truth.rate_per_sec = Some(o.rate_per_sec);
            goroutine::simulate(o, &mut truth)
        }
        LeakType::Cycle => {
            truth.rate_per_sec = Some(o.rate_per_sec);
            cycle::simulate(o, &mut truth)
        }
    };
    Ok(Simulation { files, truth })
}

/// Time of snapshot `i` in seconds from the first.
fn at(o: &SimOptions, i: usize) -> f64 {
    i as f64 * o.interval_secs
}

fn nanos(o: &SimOptions, i: usize) -> i64 {
    o.start_nanos + (at(o, i) * 1e9).round() as i64
}

/// Seconds the series spans.
fn span(o: &SimOptions) -> f64 {
    at(o, o.snapshots - 1)
}

/// How a quantity (bytes, goroutines, cycles) moves over the series.
#[derive(Clone, Debug)]
enum Shape {
    /// A steady level with mean-reverting wander (AR(1), ±`sigma`).
    Steady { level: f64, sigma: f64, state: f64 },
    /// Fresh noise each snapshot (short-lived bursts): lognormal around `level`.
    Bursty { level: f64, sigma: f64 },
    /// `base + rate·t`.
    Linear { base: f64, rate: f64 },
    /// `base + b0·(e^{r·t} − 1)`.
    Exponential { base: f64, b0: f64, r: f64 },
    /// `base`, plus `height` from each step index on.
    Stepped {
        base: f64,
        steps: Vec<usize>,
        height: f64,
    },
    /// Grows by `per_step` a snapshot and falls back to `base` every `period` snapshots.
    Sawtooth {
        base: f64,
        per_step: f64,
        period: usize,
        phase: usize,
    },
    /// `base + rate·t` up to `until` seconds, flat after.
    Plateau { base: f64, rate: f64, until: f64 },
    /// The capacity of a store whose entries grow by `entries_per_sec`: `first`, doubled until
    /// it holds them.
    Doubling { entries_per_sec: f64, first: f64 },
}

impl Shape {
    /// The subject's shape for a pattern, growing `rate` units per second on average.
    fn subject(pattern: SimPattern, rate: f64, o: &SimOptions, rng: &mut Rng) -> Shape {
        let t = span(o);
        let n = o.snapshots;
        match pattern {
            SimPattern::Linear => Shape::Linear {
                base: rate * o.interval_secs * rng.range(0.0, 2.0),
                rate,
            },
            SimPattern::Exponential => {
                // 8× over the series, with the same growth as the linear case.
                let r = 8f64.ln() / t;
                Shape::Exponential {
                    base: 0.0,
                    b0: rate * t / 7.0,
                    r,
                }
            }
            SimPattern::Stepped => {
                // Three jumps near the quarters, each moved by up to one snapshot, the last
                // before the end: a leak that keeps stepping (one that stopped for the last 40 %
                // of the series could not be told from a warm-up plateau).
                let mut steps: Vec<usize> = (1..=3)
                    .map(|q| {
                        let at = (n * q + 2) / 4;
                        (at + rng.below(3)).saturating_sub(1).clamp(1, n - 1)
                    })
                    .collect();
                steps.dedup();
                let height = rate * t / steps.len() as f64;
                Shape::Stepped {
                    base: rate * o.interval_secs * rng.range(0.5, 2.0),
                    steps,
                    height,
                }
            }
            SimPattern::Oscillating => {
                let period = 3 + rng.below(3);
                Shape::Sawtooth {
                    base: rate * o.interval_secs * rng.range(0.2, 1.0),
                    per_step: rate * o.interval_secs * rng.range(1.0, 2.0),
                    period,
                    phase: rng.below(period),
                }
            }
            SimPattern::Plateau => Shape::Plateau {
                base: rate * o.interval_secs * rng.range(0.2, 1.0),
                rate: rate * rng.range(1.5, 3.0),
                until: t * rng.range(0.2, 0.45),
            },
            SimPattern::Doubling => {
                // Entries reach about half the growth asked at the end; the capacity doubles
                // from `first` each time they pass it, the last time in the final quarter, so
                // it ends at 0.75–1.33× the growth asked.
                let end = rate * t * rng.range(0.5, 0.67);
                let doublings = 4 + rng.below(2) as i32;
                Shape::Doubling {
                    entries_per_sec: end / t,
                    first: end / 2f64.powi(doublings) / rng.range(1.0, 1.33),
                }
            }
        }
    }

    /// The value at snapshot `i` (time `t` seconds).
    fn value(&mut self, i: usize, t: f64, rng: &mut Rng) -> f64 {
        match self {
            Shape::Steady {
                level,
                sigma,
                state,
            } => {
                *state = 0.6 * *state + *sigma * rng.normal();
                (*level * (1.0 + *state)).max(0.0)
            }
            Shape::Bursty { level, sigma } => *level * (*sigma * rng.normal()).exp(),
            Shape::Linear { base, rate } => *base + *rate * t,
            Shape::Exponential { base, b0, r } => *base + *b0 * ((*r * t).exp() - 1.0),
            Shape::Stepped {
                base,
                steps,
                height,
            } => *base + *height * steps.iter().filter(|&&s| i >= s).count() as f64,
            Shape::Sawtooth {
                base,
                per_step,
                period,
                phase,
            } => *base + *per_step * ((i + *phase) % *period) as f64,
            Shape::Plateau { base, rate, until } => *base + *rate * t.min(*until),
            Shape::Doubling {
                entries_per_sec,
                first,
            } => {
                let entries = *entries_per_sec * t;
                let mut cap = *first;
                while cap < entries {
                    cap *= 2.0;
                }
                cap
            }
        }
    }
}

const ORGS: &[&str] = &["acme", "globex", "initech", "umbrella", "hooli", "stark"];
const SERVICES: &[&str] = &[
    "shop", "billing", "gateway", "search", "ingest", "auth", "notify", "ledger",
];
const DIRS: &[&str] = &[
    "internal/cache",
    "internal/rpc",
    "internal/store",
    "internal/session",
    "internal/index",
    "internal/queue",
    "pkg/codec",
    "pkg/metrics",
    "pkg/httpx",
    "internal/worker",
    "internal/router",
    "pkg/batch",
];
const TYPES: &[&str] = &[
    "Server", "Client", "Handler", "Pool", "Index", "Batch", "Buffer", "Decoder", "Registry",
    "Worker", "Tracker", "Router", "Conn", "Table", "Stream",
];
const VERBS: &[&str] = &[
    "handle", "decode", "encode", "process", "flush", "load", "build", "fetch", "insert", "append",
    "parse", "render", "merge", "scan", "dispatch", "collect",
];
const NOUNS: &[&str] = &[
    "Request", "Row", "Frame", "Entry", "Record", "Chunk", "Event", "Span", "Page", "Token",
    "Message", "Batch", "Header", "Key",
];

/// A function of the simulated program, with the file and line it is at.
#[derive(Clone, Debug)]
struct Func {
    name: String,
    file: String,
    line: u32,
}

/// Draws distinct, plausible Go function names.
struct Names {
    used: HashSet<String>,
    org: &'static str,
    service: &'static str,
}

impl Names {
    fn new(rng: &mut Rng) -> Names {
        Names {
            used: HashSet::new(),
            org: ORGS[rng.below(ORGS.len())],
            service: SERVICES[rng.below(SERVICES.len())],
        }
    }

    /// A new function: `github.com/ORG/SVC/DIR.(*Type).verbNoun` or `…/DIR.verbNoun`.
    fn func(&mut self, rng: &mut Rng) -> Func {
        loop {
            let dir = rng.pick(DIRS);
            let ty = rng.pick(TYPES);
            let verb = rng.pick(VERBS);
            let noun = rng.pick(NOUNS);
            let pkg = format!("github.com/{}/{}/{dir}", self.org, self.service);
            let name = if rng.f64() < 0.7 {
                format!("{pkg}.(*{ty}).{verb}{noun}")
            } else {
                let mut v = verb.to_string();
                v[..1].make_ascii_uppercase();
                format!("{pkg}.{v}{noun}")
            };
            if self.used.insert(name.clone()) {
                let base = dir.rsplit('/').next().unwrap_or(dir);
                return Func {
                    name,
                    file: format!("github.com/{}/{}/{dir}/{base}.go", self.org, self.service),
                    line: 20 + rng.below(480) as u32,
                };
            }
        }
    }
}

/// Gzips bytes (pprof files are written gzipped, as Go writes them).
fn gzip(raw: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = e.write_all(raw);
    e.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_grow_as_asked() {
        let o = SimOptions::default();
        let mut rng = Rng::new(1);
        for p in [
            SimPattern::Linear,
            SimPattern::Exponential,
            SimPattern::Stepped,
        ] {
            let mut s = Shape::subject(p, 100.0, &o, &mut rng);
            let first = s.value(0, 0.0, &mut rng);
            let last = s.value(o.snapshots - 1, span(&o), &mut rng);
            let growth = last - first;
            let want = 100.0 * span(&o);
            assert!(
                (growth / want - 1.0).abs() < 0.01 || p == SimPattern::Stepped,
                "{p:?}"
            );
            assert!(growth >= want * 0.99, "{p:?} {growth} {want}");
        }
        let mut s = Shape::subject(SimPattern::Plateau, 100.0, &o, &mut rng);
        let v: Vec<f64> = (0..o.snapshots)
            .map(|i| s.value(i, at(&o, i), &mut rng))
            .collect();
        assert_eq!(v[o.snapshots - 1], v[o.snapshots - 2]);
    }
}
