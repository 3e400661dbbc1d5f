//! The heap section: each key's trend judged against the noise floor (sampling-aware), the
//! suspects ranked, the profiler's own allocations set apart, the object graph's evidence attached.

use super::*;

/// Whether a stack (leaf first) was allocated by the Go profiler serving or writing a profile.
pub fn is_profiler_stack(frames_leaf_first: &[String]) -> bool {
    frames_leaf_first
        .iter()
        .any(|f| f.starts_with("runtime/pprof.") || f.starts_with("net/http/pprof."))
}

pub(super) fn rfc3339(nanos: i64) -> String {
    crate::units::rfc3339_utc(nanos)
}

pub(super) fn snapshots_out(snapshots: &[Snapshot]) -> (Vec<SnapshotOut>, Vec<f64>) {
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

pub(super) fn fitted(t: &Trend, times: &[f64]) -> Vec<f64> {
    times.iter().map(|s| t.fitted_at(s / trend::HOUR)).collect()
}

pub(super) struct Ctx<'a> {
    pub(super) times: &'a [f64],
    pub(super) totals: &'a [f64],
    pub(super) goroutines: Option<&'a [f64]>,
    pub(super) limit: Option<f64>,
    /// Whether the series are bytes (the severity's absolute rates and growths apply).
    pub(super) bytes: bool,
}

pub(super) fn suspect(key: &KeyInfo, series: Vec<f64>, t: Trend, ctx: &Ctx) -> Option<Suspect> {
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
    let rated = SeverityInput {
        trend: &t,
        total_last,
        hours_to_limit: h,
        bytes: ctx.bytes,
        limit: ctx.limit,
    };
    let (severity, held) = trend::hold(&rated, trend::severity(&rated)?);
    let frames: Vec<&str> = key.frames.iter().map(String::as_str).collect();
    Some(Suspect {
        key: key.name.clone(),
        frames: key.frames.clone(),
        pattern: t.pattern,
        severity,
        held,
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

pub(super) fn rank(suspects: &mut [Suspect]) {
    suspects.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then(b.slope_per_hour.total_cmp(&a.slope_per_hour))
            .then_with(|| a.key.cmp(&b.key))
    });
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
pub(super) fn sampling_rate(snapshots: &[Snapshot]) -> f64 {
    snapshots
        .iter()
        .filter_map(|s| s.sampling_rate_bytes)
        .filter(|r| *r > 1)
        .max()
        .unwrap_or(0) as f64
}

/// How far apart a series' points are, in usual gaps (the median time between points), at least
/// 1 each: the same for every key of a series, so worked out once ([`keeps_samples`] reads it).
pub(super) struct Spacing(Vec<f64>);

impl Spacing {
    /// A few samples for the rise from point `i` to the next: four at `rate` per usual gap, more
    /// across a longer one.
    pub(super) fn few(&self, i: usize, rate: f64) -> f64 {
        4.05 * rate * self.0.get(i).copied().unwrap_or(1.0)
    }

    pub(super) fn of(times: &[f64]) -> Spacing {
        let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        let mut sorted = gaps.clone();
        sorted.sort_by(f64::total_cmp);
        let usual = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
        Spacing(
            gaps.iter()
                .map(|g| {
                    if usual > 0.0 {
                        (g / usual).max(1.0)
                    } else {
                        1.0
                    }
                })
                .collect(),
        )
    }
}

/// The trend options of one series of a heap sampled at `rate` (0: exact): its floor, and whether
/// it keeps its samples, judged once since both the floor and the trend read it.
pub(super) fn sampled_options(
    topts: &TrendOptions,
    rate: f64,
    spacing: &Spacing,
    values: &[f64],
) -> TrendOptions {
    let keeps_samples = rate > 1.0 && keeps_samples(rate, spacing, values);
    TrendOptions {
        floor: sampled_floor_of(topts.floor, rate, values, keeps_samples),
        sampling_rate: rate,
        keeps_samples,
        ..*topts
    }
}

/// The noise floor of one key of a sampled heap: at least three standard deviations of the
/// difference of two Poisson sample counts, the first and the last (a site with λ samples holds
/// about λ·rate bytes). Small sites wander by a few samples between snapshots as objects are freed
/// and new ones are (or are not) sampled; that is not growth.
///
/// A site whose samples stay is another matter: retained objects keep the samples they got, so a
/// series that never loses a sample and gains them in many small rises is a count that only
/// gains (`keeps`); there the floor is four samples of growth.
fn sampled_floor_of(floor: f64, rate: f64, values: &[f64], keeps: bool) -> f64 {
    if rate <= 1.0 {
        return floor;
    }
    if keeps {
        return floor.max(4.0 * rate);
    }
    let samples = |v: f64| v.max(rate) / rate;
    let first = values.first().copied().unwrap_or(0.0);
    let last = values.last().copied().unwrap_or(0.0);
    floor.max(3.0 * rate * (samples(first) + samples(last)).sqrt())
}

/// Whether a sampled series behaves like retained objects: at least 6 points, growth in at least
/// five rises (one big object is one exact sample, not a count that gains) each of at most a few
/// samples, falls that are a grown collection's old array freed, and all falls together at most a
/// quarter of the rises. A wandering site loses samples as often as it gains them. A collection
/// that grows frees its old array after copying it into the new one, at most half its size (two
/// thirds, under sampling): a slice's at the next GC, right after the rise; a map's once every
/// old bucket is evacuated, several inserts and snapshots later. A fall of one sample or less
/// could be any object freed, so it must follow the rise it gives back; a fall of more than one
/// sample is one big array (only an object near the sampling rate or above is scaled past one
/// rate), which may come later, giving back part of the largest rise since the fall before it.
/// Falls before the first rise are arrays grown before the window opened. A few samples is four
/// per usual time between points ([`Spacing`]), more across a longer gap: heap profiles repeat
/// between collections, and one GC state may follow the last after several snapshots.
pub(super) fn keeps_samples(rate: f64, spacing: &Spacing, values: &[f64]) -> bool {
    let diffs: Vec<f64> = values.windows(2).map(|w| w[1] - w[0]).collect();
    let few = |i: usize| spacing.few(i, rate);
    let rises = diffs.iter().filter(|d| **d > 0.0).count();
    let risen: f64 = diffs.iter().filter(|d| **d > 0.0).sum();
    let fallen: f64 = -diffs.iter().filter(|d| **d < 0.0).sum::<f64>();
    // The last rise, and the largest since the last fall; None before the first rise.
    let (mut last, mut largest): (Option<f64>, f64) = (None, 0.0);
    let mut old_arrays = true;
    for d in &diffs {
        if *d > 0.0 {
            last = Some(*d);
            largest = largest.max(*d);
        } else if *d < 0.0 {
            let fall = -d;
            let settles = match last {
                None => true,
                Some(r) => {
                    fall <= 2.0 / 3.0 * r || (fall > 1.05 * rate && fall <= 2.0 / 3.0 * largest)
                }
            };
            old_arrays &= settles;
            last = last.map(|_| 0.0);
            largest = 0.0;
        }
    }
    values.len() >= 6
        && rises >= 5
        && diffs.iter().enumerate().all(|(i, d)| *d <= few(i))
        && old_arrays
        && fallen <= 0.25 * risen
}

/// The latest dump's object-graph section, and for each heap suspect what its objects retain and
/// why they are alive.
pub(super) fn graph_section(
    g: &crate::graph::GraphSummary,
    suspects: &mut [Suspect],
) -> GraphSection {
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
        site_coverage: g.site_coverage,
        top_roots: g.top_roots.clone(),
        top_types: g.top_types.clone(),
    }
}

/// Keys that are V8's pseudo-frames alone on their stacks, each trended and explained.
pub(super) fn outside_code(
    pseudo: &[&crate::store::Series],
    times: &[f64],
    topts: &TrendOptions,
) -> Vec<PseudoKey> {
    pseudo
        .iter()
        .map(|s| {
            let t = trend::analyze(times, &s.values, topts);
            PseudoKey {
                key: s.key.name.clone(),
                meaning: crate::store::pseudo_frame(&s.key.name).unwrap_or_default(),
                pattern: t.pattern,
                slope_per_hour: t.slope_per_hour,
                growth: t.growth,
                last: t.last,
            }
        })
        .collect()
}

/// The Go profiler's own keys, summed: how much serving the profiles held.
pub(super) fn profiler_overhead(
    profiler: &[&crate::store::Series],
    n: usize,
) -> Option<ProfilerOverhead> {
    if profiler.is_empty() {
        return None;
    }
    let sum: Vec<f64> = (0..n)
        .map(|i| {
            profiler
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    Some(ProfilerOverhead {
        keys: profiler.iter().map(|s| s.key.name.clone()).collect(),
        last: sum.last().copied().unwrap_or(0.0),
        max: sum.iter().copied().fold(0.0, f64::max),
    })
}

/// What judging the heap's keys gives: suspects, keys that grew without leaking, and the
/// keys judged on their own (grown beyond their floor) with their growth.
pub(super) struct Judged<'a> {
    pub(super) suspects: Vec<Suspect>,
    pub(super) benign: Vec<Benign>,
    pub(super) growth: Vec<(&'a str, f64)>,
}

/// Every key's trend (in parallel: Theil–Sen and Mann–Kendall are O(n²) per series) against
/// its floor (sampling-aware at `rate`), Holm-corrected over the keys that grew past it.
pub(super) fn judge_keys<'a>(
    series: &[&'a crate::store::Series],
    rate: f64,
    topts: &TrendOptions,
    ctx: &Ctx,
) -> Judged<'a> {
    let spacing = Spacing::of(ctx.times);
    let options: Vec<TrendOptions> = series
        .iter()
        .map(|s| sampled_options(topts, rate, &spacing, &s.values))
        .collect();
    let trends: Vec<Trend> = series
        .par_iter()
        .zip(&options)
        .map(|(s, o)| trend::analyze(ctx.times, &s.values, o))
        .collect();
    let growth: Vec<(&str, f64)> = series
        .iter()
        .zip(&trends)
        .zip(&options)
        .filter(|((_, t), o)| t.growth > o.floor)
        .map(|((s, t), _)| (s.key.name.as_str(), t.growth))
        .collect();
    let significant = trend::holm(&trends, growth.len(), topts.alpha);
    let (mut suspects, mut benign) = (Vec::new(), Vec::new());
    for ((s, t), keep) in series.iter().zip(trends).zip(significant) {
        match t.pattern {
            p if p.is_leak() && !keep => {}
            p if p.is_leak() => {
                if let Some(sus) = suspect(&s.key, s.values.clone(), t, ctx) {
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
    Judged {
        suspects,
        benign,
        growth,
    }
}

/// What kind of program the heap series comes from, by its snapshots' formats (and, for the
/// formats Go shares with others, the Go runtime's frames).
pub(super) fn program_of(heap: &crate::store::HeapEvidence) -> crate::trend::Program {
    use crate::trend::Program;
    let go_frames = || {
        heap.series
            .iter()
            .any(|s| s.key.frames.iter().any(|f| f.starts_with("runtime.")))
    };
    let mut kinds = heap.snapshots.iter().map(|s| match s.format.as_str() {
        "heaptrack" => Program::Heaptrack,
        "jemalloc heap_v2" => Program::Jemalloc,
        "Go heap dump" => Program::Go,
        "pprof" if go_frames() => Program::Go,
        "legacy heap profile" if go_frames() => Program::Go,
        "legacy heap profile" => Program::Gperftools,
        _ => Program::Other,
    });
    let first = kinds.next().unwrap_or(Program::Other);
    if kinds.all(|k| k == first) {
        first
    } else {
        Program::Other
    }
}
