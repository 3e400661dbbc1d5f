//! The goroutine section: groups trended with the heap's times, the goroutine detector's verdicts
//! and the heap growth they line up with.

use super::*;

/// The goroutine count of the goroutine snapshot nearest in time to each heap snapshot.
pub(super) fn align(heap: &[Snapshot], gor: &[Snapshot], counts: &[f64]) -> Option<Vec<f64>> {
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

/// The goroutine section: [`goroutines::analyze`] (the detector of `leakdiff goroutines`) over the
/// goroutine snapshots, its leaking groups as suspects with severity and prediction.
pub(super) fn goroutine_section(
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
        floor: trend::count_floor(options.min_goroutine_growth),
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
        bytes: false,
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
pub(super) fn untrended(
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
    // Goroutine groups are rated by what is known of them (proven, blocked long), not held.
    s.held = None;
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
