//! Growth under callers: when a growing total's growth is mostly in keys each under its floor,
//! the callers' cumulative values are trended and the lowest frame owning the growth is named.

use super::*;

/// Growth of the series from first to last.
pub(super) fn growth_of(v: &[f64]) -> f64 {
    v.last().copied().unwrap_or(0.0) - v.first().copied().unwrap_or(0.0)
}

/// A caller considered in one round of [`trace_callers`]: its open keys' series and their sum.
pub(super) struct Candidate<'a> {
    pub(super) caller: &'a CallerSeries,
    pub(super) leaves: Vec<(String, Vec<f64>)>,
    pub(super) cum: Vec<f64>,
    pub(super) growth: f64,
}

/// Looks up the call tree for growth the suspects leave unexplained (`residual`). In each round
/// (at most 3) the candidates are the callers owning at least a quarter of what is left through
/// at least two keys that grew; keys judged on their own (`explained`), keys named in an earlier
/// round and keys that rose only once (one allocation) do not count. The lowest candidate (least
/// growth, then fewest frames up) whose cumulative value passes its sampled floor with a leak
/// pattern at `alpha` over the number of candidates is named, with the keys that make up 90 % of
/// its growth. Stops when what is left is under a fifth of the residual or the floor, or no
/// candidate passes.
pub(super) fn trace_callers(
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
    let spacing = Spacing::of(times);
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
            let o = sampled_options(topts, topts.sampling_rate, &spacing, &cand.cum);
            let t = trend::analyze(times, &cand.cum, &o);
            let keep = t.growth > o.floor
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

/// The keys judged on their own (with their growth) and the keys set apart: their names, and
/// the growth of the total they explain together.
pub(super) fn explained_by<'a>(
    judged: &[(&'a str, f64)],
    apart: &[&'a crate::store::Series],
) -> (std::collections::BTreeSet<&'a str>, f64) {
    let mut names: std::collections::BTreeSet<&str> = judged.iter().map(|(k, _)| *k).collect();
    let mut growth: f64 = judged.iter().map(|(_, g)| g).sum();
    for s in apart {
        names.insert(s.key.name.as_str());
        growth += growth_of(&s.values);
    }
    (names, growth)
}

/// The total's growth that the keys judged on their own (and the profiler's) leave unexplained,
/// when the total leaks and it is worth tracing: at least the floor and a fifth of the growth.
pub(super) fn unexplained(total: &Trend, explained: f64, floor: f64) -> Option<f64> {
    if !total.pattern.is_leak() {
        return None;
    }
    let r = total.growth - explained;
    (r >= floor.max(0.2 * total.growth)).then_some(r)
}
