//! Trend engine: one series of values over time (a site's in-use bytes, a total, a goroutine
//! group's count) → slope, significance, fit and a growth pattern that tells a leak from a cache.
//!
//! May import: nothing else of this crate (pure arithmetic on `f64` slices; no I/O, no polars).
//!
//! Patterns, decided in this order (the rules are in doc/analysis.md, "How a series is classified"):
//! 1. `flat`: the series never moves more than the noise floor.
//! 2. `oscillating`: it falls back by a large drop (≥ 30 % of its range) and its troughs do not
//!    rise: a cache that is evicted, GC churn. Not a leak.
//! 3. `shrinking`: a significant downward trend.
//! 4. `flat` again when the net growth (last − first) is within the floor, or when the Mann–Kendall
//!    test does not reject "no trend" at `alpha` and the growth is not a step.
//! 5. `plateau`: 90 % of the growth happened before the last 40 % of the points, which are flat:
//!    warm-up, then steady. Not a leak.
//! 6. `stepped`: one or a few jumps carry ≥ 80 % of the growth and the moves between them are flat.
//! 7. `exponential`: the log-linear fit beats the linear one and the second half grows at least
//!    twice as fast as the first.
//! 8. `linear`: everything else that rises significantly.

mod advice;
pub mod stats;

use serde::Serialize;

pub use advice::{
    hold, remediation, severity, Held, HeldReason, Program, Severity, SeverityInput,
    CRITICAL_EVIDENCE, HIGH_EVIDENCE,
};
pub use stats::MannKendall;

/// Seconds in an hour: slopes are reported per hour.
pub const HOUR: f64 = 3600.0;

/// Growth pattern of a series.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// Grows at a steady rate: a leak.
    Linear,
    /// Grows faster and faster: a leak, usually a collection copied or merged repeatedly.
    Exponential,
    /// Grows in a few jumps that never come back: a leak of whole batches.
    Stepped,
    /// Grows then falls back (sawtooth): a cache with eviction or GC churn, not a leak.
    Oscillating,
    /// Warm-up then flat: a cache that reached its size, not a leak.
    Plateau,
    /// No growth beyond noise.
    Flat,
    /// Falls significantly.
    Shrinking,
}

impl Pattern {
    /// Whether the pattern is a leak (linear, exponential, stepped).
    pub fn is_leak(self) -> bool {
        matches!(
            self,
            Pattern::Linear | Pattern::Exponential | Pattern::Stepped
        )
    }

    /// Lower-case name, as in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Pattern::Linear => "linear",
            Pattern::Exponential => "exponential",
            Pattern::Stepped => "stepped",
            Pattern::Oscillating => "oscillating",
            Pattern::Plateau => "plateau",
            Pattern::Flat => "flat",
            Pattern::Shrinking => "shrinking",
        }
    }
}

/// Knobs of the classification.
#[derive(Copy, Clone, Debug)]
pub struct TrendOptions {
    /// Noise floor in value units: moves and net growth within it are noise.
    pub floor: f64,
    /// Significance level of the Mann–Kendall test (default 0.05).
    pub alpha: f64,
    /// Two-sided level of the slope interval (default 0.9).
    pub confidence: f64,
    /// Mean bytes between samples when the values are unsampled from a sampled heap (Go's
    /// MemProfileRate), else 0: a value v then holds about v/rate samples, and differences carry
    /// Poisson noise.
    pub sampling_rate: f64,
    /// The sampled series keeps its samples, as retained objects do (the caller's judgement:
    /// many small rises, no fall but the settling of a collection that grew): its level moves
    /// by whole samples, not by Poisson noise, so a late rise above a flat stretch is growth.
    pub keeps_samples: bool,
}

impl Default for TrendOptions {
    fn default() -> Self {
        TrendOptions {
            floor: 0.0,
            alpha: 0.05,
            confidence: 0.9,
            sampling_rate: 0.0,
            keeps_samples: false,
        }
    }
}

/// Exponential fit v = a·e^(r·t).
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub struct ExpFit {
    /// Growth rate per hour (r).
    pub rate_per_hour: f64,
    /// Hours to double (ln 2 / r) when r > 0.
    pub doubling_hours: Option<f64>,
    /// R² of the log-linear fit.
    pub r2: f64,
}

/// Everything the engine found about one series.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trend {
    /// Pattern.
    pub pattern: Pattern,
    /// Number of points.
    pub n: usize,
    /// First and last values.
    pub first: f64,
    /// Last value.
    pub last: f64,
    /// Largest value.
    pub max: f64,
    /// last − first.
    pub growth: f64,
    /// Theil–Sen slope, value units per hour.
    pub slope_per_hour: f64,
    /// Lower end of the slope interval (per hour).
    pub slope_low_per_hour: f64,
    /// Upper end of the slope interval (per hour).
    pub slope_high_per_hour: f64,
    /// Theil–Sen intercept at t = 0 (the first point's time).
    pub intercept: f64,
    /// Mann–Kendall test.
    pub mann_kendall: MannKendall,
    /// R² of the least-squares line.
    pub r2: f64,
    /// Exponential fit (all values > 0).
    pub exp_fit: Option<ExpFit>,
    /// Indices (into the series) of the points that start a step.
    pub steps: Vec<usize>,
    /// Number of large drops (falls of ≥ 30 % of the range).
    pub drops: usize,
    /// Hours from the first point to the last.
    pub span_hours: f64,
    /// For a linear series of eight points or more whose second half grows significantly slower
    /// than its first: the late rate over the early one (Theil–Sen slopes of the halves). Under
    /// [`DECELERATING`], growth that slows toward a level, as a cache filling up does.
    pub late_rate_ratio: Option<f64>,
}

/// A linear series whose late rate is under this share of its early rate ([`Trend::late_rate_ratio`])
/// decelerates: concave growth, the shape of a cache or a history filling toward its bound.
pub const DECELERATING: f64 = 0.5;

/// The late rate over the early rate of a growing series, when the late one is significantly
/// lower: Theil–Sen slopes of its first and second halves, whose intervals (at `confidence`) do
/// not overlap. `None` under eight points, without early growth, or when the halves' rates cannot
/// be told apart (sampling noise makes a straight line's halves differ by chance).
fn late_rate_ratio(hours: &[f64], v: &[f64], confidence: f64) -> Option<f64> {
    let n = v.len().min(hours.len());
    if n < 8 {
        return None;
    }
    let half = n / 2;
    let fit = |r: std::ops::Range<usize>| {
        let mk = stats::mann_kendall(&v[r.clone()]);
        stats::theil_sen(&hours[r.clone()], &v[r], mk.var_s, confidence)
    };
    let (early, late) = (fit(0..half)?, fit(n - half..n)?);
    (early.slope > 0.0 && early.low > 0.0 && late.high < early.low)
        .then(|| late.slope / early.slope)
}

impl Trend {
    /// The fitted value `hours` after the first point, by the pattern's model.
    pub fn fitted_at(&self, hours: f64) -> f64 {
        match (self.pattern, self.exp_fit) {
            (Pattern::Exponential, Some(e)) => {
                // Anchor the curve on the last point so the projection starts where we are.
                let span = self.span_hours;
                self.last * (e.rate_per_hour * (hours - span)).exp()
            }
            _ => self.intercept + self.slope_per_hour * hours,
        }
    }
}

/// The floor ([`TrendOptions::floor`]) for a series of whole counts (goroutines, file
/// descriptors, threads) that must grow by at least `min_growth` to be judged: half a count
/// below it, so that a rise of exactly `min_growth` passes, and never below zero (a count that
/// does not grow is never a leak, whatever the minimum).
pub fn count_floor(min_growth: f64) -> f64 {
    (min_growth - 0.5).max(0.0)
}

/// Classifies a series. `times` are seconds (any origin), `values` in the series' unit, both in time
/// order and of the same length.
pub fn analyze(times: &[f64], values: &[f64], options: &TrendOptions) -> Trend {
    let n = times.len().min(values.len());
    let t0 = times.first().copied().unwrap_or(0.0);
    let hours: Vec<f64> = times[..n].iter().map(|t| (t - t0) / HOUR).collect();
    let v = &values[..n];
    let first = v.first().copied().unwrap_or(0.0);
    let last = v.last().copied().unwrap_or(0.0);
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (min, max) = if n == 0 { (0.0, 0.0) } else { (min, max) };
    let range = max - min;
    let growth = last - first;
    let mk = stats::mann_kendall(v);
    let ts = stats::theil_sen(&hours, v, mk.var_s, options.confidence);
    let (_, _, r2) = stats::least_squares(&hours, v);
    // A key that starts at 0 (not yet allocated) and then doubles is fitted from its first
    // positive point on, when at least five points are left and none falls back to 0.
    let start = v.iter().position(|x| *x > 0.0).unwrap_or(n);
    let positive = start < n && v[start..].iter().all(|x| *x > 0.0);
    let exp_fit = if positive && n - start >= 3 && (start == 0 || n - start >= 5) {
        let logs: Vec<f64> = v[start..].iter().map(|x| x.ln()).collect();
        let (_, b, r2) = stats::least_squares(&hours[start..], &logs);
        Some(ExpFit {
            rate_per_hour: b,
            doubling_hours: (b > 0.0).then(|| std::f64::consts::LN_2 / b),
            r2,
        })
    } else {
        None
    };
    let floor = options.floor.max(0.0);
    // Moves between snapshots (steps, drops, a flat stretch) are judged against the noise of one
    // snapshot: two samples for sampled heaps (the per-key floor of a sampled heap bounds net
    // growth), else the floor.
    let small = if options.sampling_rate > 0.0 {
        floor.min(2.0 * options.sampling_rate)
    } else {
        floor
    };
    let diffs: Vec<f64> = v.windows(2).map(|w| w[1] - w[0]).collect();
    let drop_threshold = small.max(0.3 * range);
    let drop_at: Vec<usize> = diffs
        .iter()
        .enumerate()
        .filter(|(_, d)| **d < -drop_threshold && range > 0.0)
        .map(|(i, _)| i + 1)
        .collect();
    let step_threshold = small.max(0.2 * growth);
    let steps: Vec<usize> = if growth > floor {
        diffs
            .iter()
            .enumerate()
            .filter(|(_, d)| **d > step_threshold)
            .map(|(i, _)| i + 1)
            .collect()
    } else {
        Vec::new()
    };

    let stairs = staircase(v, &hours, &diffs, small, growth);
    let pattern = classify(&Classify {
        v,
        hours: &hours,
        diffs: &diffs,
        drop_at: &drop_at,
        steps: &steps,
        range,
        growth,
        floor,
        small,
        mk: &mk,
        r2,
        exp_fit,
        stairs: stairs.as_ref(),
        first_positive: start,
        options,
    });
    // A staircase's steps are its retained jumps, which the 20 %-of-growth rule may not all reach
    // (a doubling staircase's early steps are small).
    let steps = match &stairs {
        Some(st) if pattern == Pattern::Stepped && steps.len() < st.jumps.len() => st.jumps.clone(),
        _ => steps,
    };
    let (mut slope, mut low, mut high, mut intercept) = ts
        .map(|t| (t.slope, t.low, t.high, t.intercept))
        .unwrap_or((0.0, 0.0, 0.0, first));
    let span = hours.last().copied().unwrap_or(0.0);
    if pattern == Pattern::Stepped && span > 0.0 {
        // The median pairwise slope of a step series is often 0 (most pairs sit on one step); its
        // rate is the average one, and the line goes through the first point.
        slope = step_rate(v, &hours, &steps).unwrap_or(growth / span);
        low = low.min(slope);
        high = high.max(slope);
        intercept = first;
    }
    Trend {
        pattern,
        n,
        first,
        last,
        max,
        growth,
        slope_per_hour: slope,
        slope_low_per_hour: low,
        slope_high_per_hour: high,
        intercept,
        mann_kendall: mk,
        r2,
        exp_fit,
        steps: if pattern == Pattern::Stepped {
            steps
        } else {
            Vec::new()
        },
        drops: drop_at.len(),
        span_hours: span,
        late_rate_ratio: if pattern == Pattern::Linear {
            late_rate_ratio(&hours, v, options.confidence)
        } else {
            None
        },
    }
}

/// The rate of a series that grows in steps: a staircase of period P steps h at a time, so from
/// its first step to its last it grew by h per P, whatever came before its first step (a leak that
/// began late, a flat warm-up), which growth over the whole span would count as if it had grown
/// all along. Once it has been flat for longer than its period since the last step, the flat
/// stretch counts too (from the first step to the end): it may have stopped. `None` with fewer
/// than two steps: one jump has no period, and its rate is growth over the span, a lower bound.
fn step_rate(v: &[f64], hours: &[f64], steps: &[usize]) -> Option<f64> {
    let (&first, _) = steps.split_first()?;
    let &last_step = steps.last()?;
    if steps.len() < 2 {
        return None;
    }
    let n = v.len();
    let stepping = hours[last_step] - hours[first];
    let period = stepping / (steps.len() - 1) as f64;
    let (to, dt) = if hours[n - 1] - hours[last_step] <= period {
        (last_step, stepping)
    } else {
        (n - 1, hours[n - 1] - hours[first])
    };
    (dt > 0.0 && v[to] > v[first]).then(|| (v[to] - v[first]) / dt)
}

struct Classify<'a> {
    v: &'a [f64],
    hours: &'a [f64],
    diffs: &'a [f64],
    drop_at: &'a [usize],
    steps: &'a [usize],
    range: f64,
    growth: f64,
    floor: f64,
    small: f64,
    mk: &'a MannKendall,
    r2: f64,
    exp_fit: Option<ExpFit>,
    stairs: Option<&'a Staircase>,
    /// Index of the first point above 0 (the exponential fit starts there).
    first_positive: usize,
    options: &'a TrendOptions,
}

/// Jumps that stay, with flat stretches between them: the shape of a Go map or slice that grows
/// by doubling, seen through a sampled heap (each doubling allocates one large array, the old
/// one is freed), or of batches kept one after another.
#[derive(Clone, Debug, PartialEq)]
struct Staircase {
    /// Indices of the points that start a jump.
    jumps: Vec<usize>,
    /// The time since the last jump is at most twice the longest time between two jumps: the
    /// next step is not overdue, so the staircase is still stepping (a cache that filled up has
    /// been flat for much longer than it took to climb).
    still_stepping: bool,
}

fn staircase(
    v: &[f64],
    hours: &[f64],
    diffs: &[f64],
    small: f64,
    growth: f64,
) -> Option<Staircase> {
    let n = v.len();
    if n < 5 || growth <= small || growth <= 0.0 {
        return None;
    }
    let mut suffix_min = vec![f64::INFINITY; n + 1];
    for i in (0..n).rev() {
        suffix_min[i] = suffix_min[i + 1].min(v[i]);
    }
    // A jump stays when nothing after it falls below the point before it plus half the jump.
    let jumps: Vec<usize> = (1..n)
        .filter(|&i| {
            let d = diffs[i - 1];
            d > small && d >= 0.1 * growth && suffix_min[i] >= v[i - 1] + 0.5 * d
        })
        .collect();
    if jumps.len() < 2 || jumps.len() * 2 > diffs.len() {
        return None;
    }
    // Flat stretches between the jumps: most jumps are not right after the previous one (a
    // smooth curve's last moves are all "jumps").
    let adjacent = jumps.windows(2).filter(|w| w[1] == w[0] + 1).count();
    if adjacent * 2 > jumps.len() - 1 {
        return None;
    }
    // A Go map that doubles holds its old buckets until they are evacuated, and a slice that
    // doubles its old array until the next GC: the level overshoots at the jump and settles a
    // snapshot or two later. Falls in the two moves after a jump that give back at most half of
    // it are that settling, part of the jump (the jump stays: see above).
    let mut settling = vec![false; diffs.len()];
    let mut carried = 0.0;
    for &j in &jumps {
        let mut net = diffs[j - 1];
        for k in j..(j + 2).min(diffs.len()) {
            let d = diffs[k];
            if jumps.contains(&(k + 1)) || net + d < 0.5 * diffs[j - 1] {
                break;
            }
            if d < 0.0 {
                settling[k] = true;
                net += d;
            }
        }
        carried += net;
    }
    if carried < 0.7 * growth {
        return None;
    }
    let flat_limit = small.max(0.1 * growth);
    let others_flat = diffs
        .iter()
        .enumerate()
        .filter(|(i, _)| !jumps.contains(&(i + 1)) && !settling[*i])
        .all(|(_, d)| d.abs() <= flat_limit);
    if !others_flat {
        return None;
    }
    let longest = jumps
        .windows(2)
        .map(|w| hours[w[1]] - hours[w[0]])
        .fold(0.0, f64::max);
    let since = hours[n - 1] - hours[*jumps.last()?];
    // A staircase's last step is as big as half its biggest one at least (a doubling one's is the
    // biggest); a small late jump is sampling noise on a plateau.
    let biggest = jumps.iter().map(|&i| diffs[i - 1]).fold(0.0, f64::max);
    let last_big = diffs[jumps[jumps.len() - 1] - 1] >= 0.5 * biggest;
    Some(Staircase {
        still_stepping: last_big && since <= 2.0 * longest,
        jumps,
    })
}

fn classify(c: &Classify) -> Pattern {
    let n = c.v.len();
    if n < 2 || c.range <= c.small {
        return Pattern::Flat;
    }
    if !c.drop_at.is_empty() {
        // Troughs: the first point and every point a drop lands on. If they do not rise beyond a
        // quarter of the range, the series keeps coming back: a sawtooth.
        let mut troughs = vec![c.v[0]];
        troughs.extend(c.drop_at.iter().map(|&i| c.v[i]));
        let rise = troughs.last().unwrap() - troughs[0];
        if rise <= c.small.max(0.25 * c.range) {
            return Pattern::Oscillating;
        }
    }
    if c.growth < -c.floor && c.mk.tau < 0.0 && c.mk.p_value < c.options.alpha {
        return Pattern::Shrinking;
    }
    if c.growth <= c.small {
        return Pattern::Flat;
    }
    // A staircase still stepping at the end is growth, however flat its last stretch looks next
    // to the whole series.
    if c.stairs.is_some_and(|s| s.still_stepping) && c.growth > c.floor {
        return Pattern::Stepped;
    }
    // Plateau: the growth is done early and the tail is flat.
    let reach = c.v[0] + 0.9 * c.growth;
    let k = c.v.iter().position(|x| *x >= reach).unwrap_or(n - 1);
    let tail = &c.v[k..];
    let tail_len_needed = 3.max((0.4 * n as f64).ceil() as usize);
    if tail.len() >= tail_len_needed {
        let tmin = tail.iter().copied().fold(f64::INFINITY, f64::min);
        let tmax = tail.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let tail_growth = tail.last().unwrap() - tail[0];
        if tmax - tmin <= c.small.max(0.1 * c.growth) && tail_growth <= c.small.max(0.05 * c.growth)
        {
            return Pattern::Plateau;
        }
    }
    // Net growth within the key's own floor (for sampled heaps, its sampling noise) is no trend.
    if c.growth <= c.floor {
        return Pattern::Flat;
    }
    // Plateau, noisy: growth that has stopped. A leak is still growing at the end: the median of
    // the last third stands above the median of the middle third by more than a tenth of the
    // growth and more than the noise (the floor's share of a third of the series; for sampled heaps 1.5 standard deviations of a
    // difference of two Poisson sample counts, or two samples), or its last half never falls and
    // still rises. One that does neither has levelled
    // off (a cache that filled up, a warm-up), however much it grew before.
    if n >= 6 {
        let k = n / 3;
        let med = |xs: &[f64]| {
            let mut s = xs.to_vec();
            s.sort_by(f64::total_cmp);
            stats::median_sorted(&s)
        };
        let (mid, last) = (med(&c.v[n - 2 * k..n - k]), med(&c.v[n - k..]));
        let rate = c.options.sampling_rate;
        let noise = if rate > 0.0 {
            let samples = |v: f64| v.max(rate) / rate;
            (1.5 * rate * (samples(mid) + samples(last)).sqrt()).max(2.0 * rate)
        } else {
            // The floor bounds growth over the whole series; the window is a third of it.
            c.floor * k as f64 / (n - 1) as f64
        };
        // Leaked objects stay (and so do their samples): a tail that never falls and still
        // rises is growth even when the sampling noise estimate is wide.
        let tail = &c.v[n / 2..];
        let tail_rise = tail[tail.len() - 1] - tail[0];
        // (Under sampling, a fall of one sample now and then is a sampled object freed, not
        // the end of growth.)
        let quantum = if rate > 0.0 { 1.05 * rate } else { 0.0 };
        let falls = tail.windows(2).filter(|w| w[1] < w[0]).count();
        let never_falls = tail.windows(2).all(|w| w[0] - w[1] <= quantum)
            && (rate <= 0.0 || falls * 10 <= tail.len());
        // Four rises at least: a steady series' sampled values go up or down at each move about
        // as often, so a shorter run says little (and its GC states are few when the heap
        // profiles repeat between collections).
        let rises = tail.windows(2).filter(|w| w[1] > w[0]).count();
        let rising_tail = rises >= 4 && never_falls && tail_rise > (0.1 * c.growth).max(2.0 * rate);
        // A series that keeps its samples ends above its middle level by more than two samples:
        // it is still gaining them, whatever the median of its last third says.
        let still_gaining = c.options.keeps_samples
            && rate > 0.0
            && c.v[n - 1] - mid > (2.0 * rate).max(0.1 * c.growth);
        if last - mid <= noise.max(0.1 * c.growth) && !rising_tail && !still_gaining {
            return Pattern::Plateau;
        }
    }
    // A curve that rises at every point from its first positive one and fits a log-linear line
    // tightly is exponential, not steps, even though its last moves carry most of the growth.
    let start = c.first_positive;
    let smooth_exp = c.exp_fit.is_some_and(|e| e.r2 >= 0.95 && e.r2 >= c.r2)
        && n - start >= 5
        && c.diffs[start..].iter().all(|d| *d > 0.0);
    // Stepped: few jumps carry the growth and the other moves are flat.
    if !smooth_exp && !c.steps.is_empty() && c.steps.len() * 2 <= c.diffs.len() {
        let carried: f64 = c.steps.iter().map(|&i| c.diffs[i - 1]).sum();
        let flat_limit = c.small.max(0.05 * c.growth);
        let others_flat = c
            .diffs
            .iter()
            .enumerate()
            .filter(|(i, _)| !c.steps.contains(&(i + 1)))
            .all(|(_, d)| d.abs() <= flat_limit);
        if carried >= 0.8 * c.growth && others_flat {
            return Pattern::Stepped;
        }
    }
    // A staircase is not exponential however well a log-linear line goes through its corners.
    if c.stairs.is_some() && !smooth_exp {
        return Pattern::Stepped;
    }
    // With 3 or 4 points Mann–Kendall cannot reach p < 0.05 (its floor is 0.09 at n = 4); a
    // series that rises at every step beyond the floor counts as a trend there. Two points are
    // one change, no trend.
    let short_monotone = (3..=4).contains(&n) && c.diffs.iter().all(|d| *d > 0.0);
    if !short_monotone && (c.mk.tau <= 0.0 || c.mk.p_value >= c.options.alpha) {
        return Pattern::Flat;
    }
    if let Some(e) = c.exp_fit {
        let (v, hours) = (&c.v[start..], &c.hours[start..]);
        let n = v.len();
        if n >= 5 && e.rate_per_hour > 0.0 && e.r2 >= c.r2 {
            let half = n / 2;
            let early = (v[half] - v[0]) / (hours[half] - hours[0]).max(f64::MIN_POSITIVE);
            let late = (v[n - 1] - v[n - 1 - half])
                / (hours[n - 1] - hours[n - 1 - half]).max(f64::MIN_POSITIVE);
            // Under sampling a value moves in whole samples: a rise of a handful of them that
            // comes a little faster late on is sampling noise, not compounding.
            let rate = c.options.sampling_rate;
            let resolved = rate <= 0.0 || v[n - 1] - v[0] >= EXP_MIN_SAMPLES * rate;
            if early > 0.0 && late >= 2.0 * early && resolved {
                return Pattern::Exponential;
            }
        }
    }
    Pattern::Linear
}

/// Fewest sampling periods a sampled series must rise by to be called exponential: with fewer,
/// a late speed-up is a few objects' worth of sampling noise.
const EXP_MIN_SAMPLES: f64 = 16.0;

/// Which leak-pattern trends stay significant when every key is tested at once (Holm's
/// step-down correction of the Mann–Kendall p-values): with fifty keys, a test at α = 0.05 each
/// would flag two or three steady keys by chance in every run. The keys tested are those whose
/// growth passes the noise floor (the others are never suspects). Series of three or four points,
/// where Mann–Kendall cannot reach α, keep the engine's every-step-rising rule uncorrected, and
/// stepped series are judged by their steps (a jump two snapshots before the end has p ≈ 0.05
/// whatever its size).
pub fn holm(trends: &[Trend], tested: usize, alpha: f64) -> Vec<bool> {
    let m = tested.max(1);
    let mut order: Vec<usize> = (0..trends.len())
        .filter(|&i| {
            let t = &trends[i];
            t.pattern.is_leak() && t.pattern != Pattern::Stepped && t.n > 4
        })
        .collect();
    order.sort_by(|&a, &b| {
        trends[a]
            .mann_kendall
            .p_value
            .total_cmp(&trends[b].mann_kendall.p_value)
    });
    let mut keep: Vec<bool> = trends.iter().map(|t| t.pattern.is_leak()).collect();
    let mut rejected = false;
    for (rank, &i) in order.iter().enumerate() {
        let limit = alpha / (m.saturating_sub(rank)).max(1) as f64;
        if rejected || trends[i].mann_kendall.p_value > limit {
            rejected = true;
            keep[i] = false;
        }
    }
    keep
}

/// Projection of a series to a limit.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// The limit, in value units.
    pub limit: f64,
    /// Hours from the last point until the fitted series crosses the limit (0 when already over);
    /// `None` when it never does at the current rate.
    pub hours_to_limit: Option<f64>,
    /// Earliest crossing (from the upper end of the slope interval).
    pub hours_low: Option<f64>,
    /// Latest crossing (from the lower end of the slope interval); `None`: maybe never.
    pub hours_high: Option<f64>,
    /// How far past the last point the data supports a projection ([`horizon_hours`]); a
    /// crossing later than this is the rate carried beyond the data.
    pub horizon_hours: f64,
}

impl Prediction {
    /// True when the crossing lies further out than the data supports.
    pub fn beyond_data(&self) -> bool {
        self.hours_to_limit.is_some_and(|h| h > self.horizon_hours)
    }
}

/// When the series will cross `limit`, by its pattern's model. Linear and stepped series use the
/// Theil–Sen slope and its interval; exponential ones the log-linear rate (its interval is taken
/// from the same relative spread as the slope's).
pub fn predict(trend: &Trend, limit: f64) -> Prediction {
    let current = trend.last;
    if current >= limit {
        return Prediction {
            limit,
            hours_to_limit: Some(0.0),
            hours_low: Some(0.0),
            hours_high: Some(0.0),
            horizon_hours: horizon_hours(trend),
        };
    }
    let linear = |slope: f64| (slope > 0.0).then(|| (limit - current) / slope);
    match (trend.pattern, trend.exp_fit) {
        (Pattern::Exponential, Some(e)) if e.rate_per_hour > 0.0 && current > 0.0 => {
            let rel = |s: f64| {
                if trend.slope_per_hour > 0.0 {
                    e.rate_per_hour * (s / trend.slope_per_hour)
                } else {
                    e.rate_per_hour
                }
            };
            let at = |r: f64| (r > 0.0).then(|| (limit / current).ln() / r);
            Prediction {
                limit,
                hours_to_limit: at(e.rate_per_hour),
                hours_low: at(rel(trend.slope_high_per_hour)),
                hours_high: at(rel(trend.slope_low_per_hour)),
                horizon_hours: horizon_hours(trend),
            }
        }
        _ if trend.pattern.is_leak() => Prediction {
            limit,
            hours_to_limit: linear(trend.slope_per_hour),
            hours_low: linear(trend.slope_high_per_hour),
            hours_high: linear(trend.slope_low_per_hour),
            horizon_hours: horizon_hours(trend),
        },
        _ => Prediction {
            limit,
            hours_to_limit: None,
            hours_low: None,
            hours_high: None,
            horizon_hours: horizon_hours(trend),
        },
    }
}

/// Shortest span (hours) a projection is made from: a rate measured over less than a minute, or
/// over fewer than three points, says nothing about a day.
pub const MIN_PROJECTION_SPAN_HOURS: f64 = 1.0 / 60.0;

/// How far past its last point an exponential fit is carried, in spans of the data: doubling
/// every two minutes over four minutes does not make a day of doublings.
pub const EXP_PROJECTION_SPANS: f64 = 2.0;

/// How far past its last point a linear or stepped fit is carried, in spans of the data: a rate
/// measured over 2.5 minutes says something about the next 25, not about tomorrow.
pub const LINEAR_PROJECTION_SPANS: f64 = 10.0;

/// How many hours past its last point the data supports projecting a leaking series: none with
/// fewer than three points or under a minute of data, else [`EXP_PROJECTION_SPANS`] spans for an
/// exponential fit and [`LINEAR_PROJECTION_SPANS`] for the others. Unbounded for a series that
/// is not a leak (it is projected to stay where it is).
pub fn horizon_hours(trend: &Trend) -> f64 {
    if !trend.pattern.is_leak() {
        return f64::INFINITY;
    }
    if trend.n < 3 || trend.span_hours < MIN_PROJECTION_SPAN_HOURS {
        return 0.0;
    }
    let spans = if trend.pattern == Pattern::Exponential {
        EXP_PROJECTION_SPANS
    } else {
        LINEAR_PROJECTION_SPANS
    };
    spans * trend.span_hours
}

/// Whether the data supports projecting the series `hours` past its last point
/// ([`horizon_hours`]).
pub fn supports(trend: &Trend, hours: f64) -> bool {
    if !trend.pattern.is_leak() {
        return true;
    }
    let horizon = horizon_hours(trend);
    horizon > 0.0 && hours <= horizon
}

/// The value the series will hold `hours` after its last point, by its pattern's model (its last
/// value for patterns that are not leaks); `None` when that is beyond the data ([`supports`]).
pub fn project(trend: &Trend, hours: f64) -> Option<f64> {
    // Two points are one change: no basis to carry anything ahead, flat or not.
    if trend.n < 3 {
        return None;
    }
    if !trend.pattern.is_leak() {
        return Some(trend.last);
    }
    if !supports(trend, hours) {
        return None;
    }
    Some(match (trend.pattern, trend.exp_fit) {
        (Pattern::Exponential, Some(e)) if e.rate_per_hour > 0.0 => {
            trend.last * (e.rate_per_hour * hours).min(700.0).exp()
        }
        _ => trend.last + trend.slope_per_hour.max(0.0) * hours,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(values: &[f64], floor: f64) -> Trend {
        let times: Vec<f64> = (0..values.len()).map(|i| i as f64 * 30.0).collect();
        analyze(
            &times,
            values,
            &TrendOptions {
                floor,
                ..Default::default()
            },
        )
    }

    const MB: f64 = 1048576.0;

    #[test]
    fn patterns() {
        let linear: Vec<f64> = (0..12).map(|i| 10.0 * MB + 2.0 * MB * i as f64).collect();
        let t = run(&linear, MB);
        assert_eq!(t.pattern, Pattern::Linear);
        assert!((t.slope_per_hour - 2.0 * MB * 120.0).abs() < 1.0);
        assert!(t.r2 > 0.999);

        let exp: Vec<f64> = (0..12).map(|i| MB * 1.4f64.powi(i)).collect();
        assert_eq!(run(&exp, MB).pattern, Pattern::Exponential);

        let mut stepped = vec![5.0 * MB; 4];
        stepped.extend([13.0 * MB; 4]);
        stepped.extend([21.0 * MB; 4]);
        let t = run(&stepped, MB);
        assert_eq!(t.pattern, Pattern::Stepped);
        assert_eq!(t.steps, vec![4, 8]);

        let saw: Vec<f64> = (0..12).map(|i| MB * (1 + i % 4) as f64).collect();
        assert_eq!(run(&saw, 0.5 * MB).pattern, Pattern::Oscillating);

        let plateau: Vec<f64> = (0..12).map(|i| MB * (2 * i.min(3)) as f64).collect();
        assert_eq!(run(&plateau, 0.5 * MB).pattern, Pattern::Plateau);

        let flat: Vec<f64> = (0..12).map(|i| 8.0 * MB + (i % 3) as f64 * 300.0).collect();
        assert_eq!(run(&flat, 16384.0).pattern, Pattern::Flat);

        let down: Vec<f64> = (0..12).map(|i| 30.0 * MB - MB * i as f64).collect();
        assert_eq!(run(&down, MB / 2.0).pattern, Pattern::Shrinking);

        // A leak under GC sawtooth: troughs rise, so it is not a cache.
        let leak_saw: Vec<f64> = (0..12)
            .map(|i| MB * (4 * i) as f64 + if i % 3 == 2 { 6.0 * MB } else { 0.0 })
            .collect();
        assert!(run(&leak_saw, MB).pattern.is_leak());
    }

    #[test]
    fn three_rising_points_are_a_trend_three_wobbly_ones_are_not() {
        assert_eq!(run(&[20.0, 40.0, 60.0], 2.5).pattern, Pattern::Linear);
        assert!(!run(&[20.0, 60.0, 59.0, 60.0], 2.5).pattern.is_leak());
        assert_eq!(run(&[20.0, 40.0, 39.0, 60.0], 2.5).pattern, Pattern::Flat);
    }

    /// A leak that begins after eleven flat snapshots and is seen in two GC states, 30 s apart,
    /// 5 MiB each (1 MiB/6 s): its rate is the steps' own, not 2 steps spread over the whole
    /// span (which read 7× too slow in `watch`'s first alert on a real Go program). A staircase
    /// of period 4 is rated by its period until it has been flat for longer. A single late jump
    /// has no period: growth over the span.
    #[test]
    fn a_late_staircase_is_rated_from_its_first_step() {
        let mut v = vec![10.0 * MB; 11];
        v.extend([15.0 * MB, 20.0 * MB]);
        let t = run(&v, MB);
        assert_eq!(t.pattern, Pattern::Stepped, "{t:?}");
        assert!((t.slope_per_hour - 5.0 * MB * 120.0).abs() < 1.0, "{t:?}");
        let mut stairs = vec![10.0 * MB; 4];
        stairs.extend([18.0 * MB; 4]);
        stairs.extend([26.0 * MB; 3]);
        let t = run(&stairs, MB);
        assert_eq!(t.pattern, Pattern::Stepped, "{t:?}");
        assert!((t.slope_per_hour - 8.0 * MB / (4.0 * 30.0 / 3600.0)).abs() < 1.0);
        stairs.extend([26.0 * MB; 4]);
        let t = run(&stairs, MB);
        assert_eq!(t.pattern, Pattern::Stepped, "{t:?}");
        assert!((t.slope_per_hour - 8.0 * MB / (10.0 * 30.0 / 3600.0)).abs() < 1.0);
        let mut one = vec![10.0 * MB; 11];
        one.extend([20.0 * MB; 2]);
        let t = run(&one, MB);
        assert_eq!(t.pattern, Pattern::Stepped, "{t:?}");
        assert!((t.slope_per_hour - 10.0 * MB / (12.0 * 30.0 / 3600.0)).abs() < 1.0);
    }

    #[test]
    fn a_late_single_step_is_stepped_not_plateau() {
        // The parca series: flat for eight snapshots, then one jump that stays.
        let mut v = vec![48.9 * MB; 8];
        v.extend([143.7 * MB; 2]);
        assert_eq!(run(&v, MB).pattern, Pattern::Stepped);
    }

    #[test]
    fn a_doubling_staircase_still_stepping_is_a_leak_one_long_done_is_a_plateau() {
        // A Go map doubling its buckets as keys keep coming: jumps of 1, 2, 4, 8 MiB at ever
        // longer gaps (3, 6, 12 snapshots); the last stretch (10 snapshots) is shorter than
        // twice the last gap, so the next doubling is not overdue.
        let mut v = Vec::new();
        let mut level = 1.0 * MB;
        for (jump, gap) in [(1.0, 3), (2.0, 3), (4.0, 6), (8.0, 12)] {
            v.extend(std::iter::repeat_n(level, gap));
            level += jump * MB;
        }
        v.extend(std::iter::repeat_n(level, 10));
        let t = run(&v, MB / 2.0);
        assert_eq!(t.pattern, Pattern::Stepped, "{t:?}");
        assert!(t.steps.len() >= 3, "{:?}", t.steps);
        // The same climb, then flat for three times as long as it took: a cache that filled up.
        let mut done = v[..24].to_vec();
        done.extend(std::iter::repeat_n(level, 80));
        assert_eq!(run(&done, MB / 2.0).pattern, Pattern::Plateau);
    }

    /// Values given in MiB.
    fn mib(v: &[f64]) -> Vec<f64> {
        v.iter().map(|x| x * MB).collect()
    }

    #[test]
    fn a_doubling_staircase_that_overshoots_and_settles_is_stepped() {
        // Prometheus 2.42's scrape.newScrapePool.func1 (testdata/real/go/prometheus-growing), MiB:
        // a map doubling its buckets, each jump overshooting while the old buckets are evacuated.
        let v = mib(&[
            0.0, 0.0, 1.6, 1.6, 0.9, 1.9, 1.9, 1.9, 1.9, 5.2, 5.2, 4.2, 4.2, 4.2, 4.2, 4.2, 4.2,
            4.2, 4.2, 4.2, 4.2, 4.2, 16.8, 16.8, 12.5, 12.5, 12.5, 12.5, 12.5, 12.5,
        ]);
        let t = run(&v, MB);
        assert_eq!(t.pattern, Pattern::Stepped, "{t:?}");
    }

    #[test]
    fn a_rise_that_only_speeds_up_at_the_end_is_not_exponential() {
        // Alertmanager 0.25's api/v2.OpenAPIAlertsToAlerts (testdata/real/go/alertmanager-growing),
        // MiB at 512 KiB sampling: distinct alerts at a steady rate, a few more samples late on.
        let v = mib(&[
            0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.5, 1.5, 1.5, 1.5, 1.5,
            1.5, 1.5, 1.5, 1.5, 1.5, 2.0, 3.0, 3.0, 3.0, 3.5, 4.0, 4.0, 4.0,
        ]);
        let sampled = |v: &[f64]| {
            let times: Vec<f64> = (0..v.len()).map(|i| i as f64 * 5.0).collect();
            let options = TrendOptions {
                floor: MB,
                sampling_rate: MB / 2.0,
                ..Default::default()
            };
            analyze(&times, v, &options)
        };
        let t = sampled(&v);
        assert!(t.pattern.is_leak(), "{t:?}");
        assert_ne!(t.pattern, Pattern::Exponential, "{t:?}");
        // Unsampled, the same numbers are exact: they speed up, and are exponential.
        assert_eq!(run(&v, MB / 2.0).pattern, Pattern::Exponential);
        // What compounds over many samples stays exponential: ×1.3 a snapshot, 1 → 18 MiB.
        let e: Vec<f64> = (0..12).map(|i| MB * 1.3f64.powi(i)).collect();
        assert_eq!(sampled(&e).pattern, Pattern::Exponential);
    }

    #[test]
    fn a_key_that_starts_at_zero_and_doubles_is_exponential() {
        let mut v = vec![0.0, 0.0];
        v.extend((0..10).map(|i| 64.0 * 1024.0 * 2f64.powi(i)));
        let t = run(&v, 16384.0);
        assert_eq!(t.pattern, Pattern::Exponential, "{t:?}");
    }

    #[test]
    fn prediction_of_a_linear_leak() {
        let v: Vec<f64> = (0..10).map(|i| 100.0 * MB + 10.0 * MB * i as f64).collect();
        let t = run(&v, MB);
        // 10 MB per 30 s = 1200 MB/h; from 190 MB to 1190 MB takes 1000/1200 h.
        let p = predict(&t, 1190.0 * MB);
        assert!((p.hours_to_limit.unwrap() - 1000.0 / 1200.0).abs() < 1e-6);
        assert!(p.hours_low.unwrap() <= p.hours_to_limit.unwrap());
        assert!(p.hours_high.unwrap() >= p.hours_to_limit.unwrap());
        assert!((project(&t, 0.5).unwrap() - (190.0 + 600.0) * MB).abs() < 1.0);
        // 4.5 minutes of data carry a linear fit 45 minutes ahead, no further: the crossing at
        // 50 minutes is the rate carried beyond the data.
        assert!((horizon_hours(&t) - 0.75).abs() < 1e-9);
        assert_eq!(project(&t, 1.0), None);
        assert!(p.beyond_data());
        assert!(!predict(&t, 500.0 * MB).beyond_data());
        // Two points, or a span under a minute, project nothing.
        let two = analyze(
            &[0.0, 0.17],
            &[1.0 * MB, 200.0 * MB],
            &TrendOptions::default(),
        );
        assert_eq!(project(&two, 24.0), None);
        // Doubling every 30 s over 5.5 minutes: 11 minutes ahead at most.
        let exp: Vec<f64> = (0..12).map(|i| MB * 1.4f64.powi(i)).collect();
        let e = run(&exp, MB);
        assert_eq!(e.pattern, Pattern::Exponential);
        assert!(project(&e, 0.1).is_some());
        assert_eq!(project(&e, 24.0), None);
        assert_eq!(predict(&t, 10.0).hours_to_limit, Some(0.0));
        let flat = run(&[5.0; 6], 1.0);
        assert_eq!(predict(&flat, 100.0).hours_to_limit, None);
    }

    proptest::proptest! {
        #[test]
        fn any_series_gets_a_pattern_and_leaks_grow_beyond_the_floor(
            values in proptest::collection::vec(-1e12f64..1e12, 0..60),
            floor in 0f64..1e9,
            gaps in proptest::collection::vec(0f64..1e5, 60),
        ) {
            let mut t = 0.0;
            let times: Vec<f64> = values.iter().zip(&gaps).map(|(_, g)| { t += g; t }).collect();
            let tr = analyze(&times, &values, &TrendOptions { floor, ..Default::default() });
            proptest::prop_assert_eq!(tr.n, values.len());
            if tr.pattern.is_leak() {
                proptest::prop_assert!(tr.growth > floor);
            }
            let p = predict(&tr, 1e13);
            if let Some(h) = p.hours_to_limit {
                proptest::prop_assert!(h >= 0.0);
            }
            let _ = project(&tr, 24.0);
        }
    }
}
