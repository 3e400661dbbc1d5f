//! Growth beside the suspects: keys of a sampled heap too small to judge alone (a few samples)
//! that grow under a suspect's direct caller the way retained objects do.
//!
//! A leaking structure allocates several objects per entry (a key, a value, a node, a map's
//! bucket array), each at its own site. At Go's default sampling of one allocation per 512 KiB
//! the largest of them gathers enough samples to be judged; the others gain two, three or four
//! samples over a few minutes, under every floor. Once a suspect shows that the path through its
//! caller retains what it allocates, a sibling under that caller whose samples only ever came and
//! stayed is the same structure's growth, not noise: a wandering site gives back the samples it
//! gains.

use super::*;

/// Go's heap profile reports a sampled object of `size` bytes at sampling `rate` as
/// size / (1 − e^(−size/rate)): divided by the chance it was sampled.
fn scaled(size: f64, rate: f64) -> f64 {
    if size <= 0.0 {
        return rate;
    }
    size / (1.0 - (-size / rate).exp())
}

/// What a sampled heap profile reports for the old array a collection frees after growing into
/// a new array reported as `new`: half the new array's size, scaled as sampled. For small arrays
/// the scaling makes the old one read nearly as large as the new one (both near one rate); for
/// large ones, half. Exact heaps (`rate` 0): half.
pub(super) fn old_array_of(new: f64, rate: f64) -> f64 {
    if rate <= 0.0 {
        return new / 2.0;
    }
    if new <= rate {
        return new;
    }
    // scaled() increases with size and is at least the size, so the new array's size is in
    // (0, new]: bisect for it.
    let (mut lo, mut hi) = (0.0, new);
    for _ in 0..64 {
        let mid = 0.5 * (lo + hi);
        if scaled(mid, rate) < new {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    scaled(0.5 * hi, rate)
}

/// A key judged nowhere else under a suspect's caller: its name and series, and how it moved.
type OpenKey = ((String, Vec<f64>), Moves);

/// How a sampled series moved: its rises, its falls that are no old array, and whether it gains
/// and keeps its samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Moves {
    /// Rises.
    pub(super) ups: u32,
    /// Falls that are not a grown collection's old array (see [`moves`]).
    pub(super) downs: u32,
    /// At least two samples gained net, in at least two rises of a few samples each, and no
    /// fall but old arrays.
    pub(super) keeps: bool,
}

/// How a sampled series moved. A fall is a grown map's or slice's old array when it is the
/// size the sampling makes of one ([`old_array_of`] the largest rise since the fall before,
/// within 5 %), more than one rate, and that size reads clearly smaller than the rise (at most
/// 90 % of it): a collection doubling frees an array of exactly that size, where a site that
/// wanders loses samples of any size, and a small object freed again gives back what its rise
/// brought. A fall of one sample could be any object freed, and a fall before the first rise
/// follows no new array: neither is excused. One rise is one allocation, not a count that gains.
pub(super) fn moves(rate: f64, spacing: &Spacing, values: &[f64]) -> Moves {
    let (mut ups, mut downs, mut big) = (0, 0, false);
    // The largest rise since the last fall.
    let mut largest = 0.0_f64;
    for (i, w) in values.windows(2).enumerate() {
        let d = w[1] - w[0];
        if d > 0.0 {
            ups += 1;
            big |= d > spacing.few(i, rate);
            largest = largest.max(d);
        } else if d < 0.0 {
            let fall = -d;
            let old = old_array_of(largest, rate);
            // Only where the old array reads clearly smaller than the new one can a fall be
            // told from the same object freed again.
            let told = largest > 0.0 && old <= 0.9 * largest;
            if !(told && fall > 1.05 * rate && (fall - old).abs() <= 0.05 * old) {
                downs += 1;
            }
            largest = 0.0;
        }
    }
    let keeps = rate > 1.0
        && values.len() >= 6
        && !big
        && downs == 0
        && ups >= 2
        && callers::growth_of(values) >= 2.0 * rate;
    Moves { ups, downs, keeps }
}

/// The chance of `downs` or fewer falls among `ups + downs` moves that go either way as often
/// (a one-sided sign test).
pub(super) fn sign_test(ups: u32, downs: u32) -> f64 {
    let n = ups + downs;
    if n == 0 {
        return 1.0;
    }
    // ln C(n, k) / 2^n, term by term.
    let mut ln_term = -(n as f64) * std::f64::consts::LN_2;
    let mut p = 0.0;
    for k in 0..=downs {
        if k > 0 {
            ln_term += ((n - k + 1) as f64).ln() - (k as f64).ln();
        }
        p += ln_term.exp();
    }
    p.min(1.0)
}

/// For each direct caller of a suspect, the keys under it (and its own allocations) that are
/// judged nowhere else and gain and keep their samples ([`moves`]), largest growth first. A
/// single key's few moves prove little (four rises and no fall happen by chance one time in
/// sixteen), so the caller's other keys must, all together, have gained samples far more often
/// than they lost them: a one-sided sign test over their rises and falls (old arrays included:
/// excusing them would tilt a wandering site's count toward rises) at `alpha` over the callers
/// looked at. Where the rest of a caller wanders, a key that happened to rise is not named. Keys
/// judged on their own or named under a caller (`done`) are not looked at. Only sampled heaps
/// (`topts.sampling_rate`): an exact heap judges every key on its own.
pub(super) fn beside_suspects(
    suspects: &[Suspect],
    callers: &[CallerSeries],
    own: &[&crate::store::Series],
    done: (&std::collections::BTreeSet<&str>, &[CallerGrowth]),
    times: &[f64],
    topts: &TrendOptions,
) -> Vec<Beside> {
    let (rate, alpha) = (topts.sampling_rate, topts.alpha);
    if rate <= 1.0 || suspects.is_empty() {
        return Vec::new();
    }
    let mut taken = done.0.clone();
    taken.extend(
        done.1
            .iter()
            .flat_map(|c| c.keys.iter().map(|(k, _)| k.as_str())),
    );
    let spacing = Spacing::of(times);
    let suspect_keys: std::collections::BTreeSet<&str> =
        suspects.iter().map(|s| s.key.as_str()).collect();
    // Each direct caller, with the suspects it calls, in the suspects' rank order.
    let mut anchors: Vec<(&str, Vec<String>)> = Vec::new();
    for s in suspects {
        let Some(c) = s.frames.iter().skip(1).find(|f| **f != s.key) else {
            continue;
        };
        match anchors.iter_mut().find(|(a, _)| *a == c.as_str()) {
            Some((_, v)) => v.push(s.key.clone()),
            None => anchors.push((c.as_str(), vec![s.key.clone()])),
        }
    }
    // Each caller's open keys (judged nowhere else), with how they moved.
    let groups: Vec<(&str, Vec<String>, Vec<OpenKey>)> = anchors
        .into_iter()
        .map(|(caller, under)| {
            let leaves = callers
                .iter()
                .find(|c| c.name == caller)
                .map(|c| c.leaves.as_slice())
                .unwrap_or(&[]);
            let itself = own
                .iter()
                .find(|s| s.key.name == caller)
                .map(|s| (s.key.name.clone(), s.values.clone()));
            let open = leaves
                .iter()
                .cloned()
                .chain(itself)
                .filter(|(k, _)| !taken.contains(k.as_str()) && !suspect_keys.contains(k.as_str()))
                .map(|kv| {
                    let m = moves(rate, &spacing, &kv.1);
                    (kv, m)
                })
                .collect();
            (caller, under, open)
        })
        .collect();
    // Bonferroni over the callers whose keys moved at all.
    let tested = groups
        .iter()
        .filter(|g| g.2.iter().any(|(_, m)| m.ups + m.downs > 0))
        .count();
    let level = alpha / tested.max(1) as f64;
    let mut named: std::collections::BTreeSet<String> = Default::default();
    let mut out = Vec::new();
    for (caller, under, mut open) in groups {
        open.retain(|((k, _), _)| !named.contains(k));
        let ups: u32 = open.iter().map(|(_, m)| m.ups).sum();
        let downs: u32 = open.iter().map(|(_, m)| m.downs).sum();
        if sign_test(ups, downs) > level {
            continue;
        }
        let mut keys: Vec<BesideKey> = open
            .into_iter()
            .filter(|(_, m)| m.keeps)
            .map(|((key, v), _)| BesideKey {
                growth: callers::growth_of(&v),
                last: v.last().copied().unwrap_or(0.0),
                key,
            })
            .collect();
        if keys.is_empty() {
            continue;
        }
        keys.sort_by(|a, b| {
            b.growth
                .total_cmp(&a.growth)
                .then_with(|| a.key.cmp(&b.key))
        });
        named.extend(keys.iter().map(|k| k.key.clone()));
        out.push(Beside {
            caller: caller.to_string(),
            suspects: under,
            keys,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: f64 = 1024.0;

    #[test]
    fn an_old_array_reads_as_half_when_large_and_nearly_whole_when_small() {
        let rate = 512.0 * KIB;
        // Exact heaps: half.
        assert_eq!(old_array_of(1000.0, 0.0), 500.0);
        // Far above the rate the scaling vanishes: half.
        let big = 64.0 * 1024.0 * KIB;
        assert!((old_array_of(big, rate) / (big / 2.0) - 1.0).abs() < 1e-3);
        // InfluxDB's index maps under Go's default sampling (real snapshots): a rise of 1348 KiB
        // was followed by a fall of 881 KiB, one of 1826 KiB by 1078 KiB.
        assert!((old_array_of(1348.0 * KIB, rate) / KIB - 881.0).abs() < 10.0);
        assert!((old_array_of(1826.0 * KIB, rate) / KIB - 1078.0).abs() < 10.0);
        // One sample's worth reads as one sample.
        assert_eq!(old_array_of(rate, rate), rate);
    }

    #[test]
    fn a_site_that_gains_samples_and_keeps_them_is_told_from_one_that_wanders() {
        let rate = 512.0 * KIB;
        let times: Vec<f64> = (0..12).map(|i| i as f64 * 5.0).collect();
        let spacing = Spacing::of(&times);
        let k = |v: &[f64]| v.iter().map(|x| x * KIB).collect::<Vec<f64>>();
        // Four samples gained, none lost.
        let kept = k(&[
            0., 0., 512., 512., 512., 1024., 1024., 1536., 1536., 1536., 2048., 2048.,
        ]);
        assert!(moves(rate, &spacing, &kept).keeps);
        // A map growing twice, its old buckets freed after the second.
        let map = k(&[
            0., 0., 880., 880., 880., 880., 2228., 2228., 1347., 1347., 1347., 1347.,
        ]);
        assert!(moves(rate, &spacing, &map).keeps);
        // The same site giving back more than an old array: wandering.
        let wander = k(&[
            0., 512., 0., 512., 1024., 512., 1024., 1536., 1024., 1536., 1024., 1536.,
        ]);
        assert!(!moves(rate, &spacing, &wander).keeps);
        // One rise is one allocation.
        let once = k(&[
            0., 0., 0., 0., 0., 1536., 1536., 1536., 1536., 1536., 1536., 1536.,
        ]);
        assert!(!moves(rate, &spacing, &once).keeps);
        // One sample net is noise.
        let one = k(&[
            0., 512., 512., 512., 512., 512., 512., 1024., 1024., 512., 512., 512.,
        ]);
        assert!(!moves(rate, &spacing, &one).keeps);
        // Its moves: rises, and falls that are no old array.
        assert_eq!(moves(rate, &spacing, &wander).ups, 7);
        assert_eq!(moves(rate, &spacing, &wander).downs, 4);
        assert_eq!(moves(rate, &spacing, &map).downs, 0);
        // A fall the size of no old array is no old array.
        let odd = k(&[
            0., 0., 880., 880., 880., 880., 2228., 2228., 1600., 1600., 1600., 1600.,
        ]);
        assert_eq!(moves(rate, &spacing, &odd).downs, 1);
        // Nor is a fall before the first rise.
        let early = k(&[
            1024., 512., 512., 1024., 1024., 1536., 1536., 2048., 2048., 2048., 2048., 2048.,
        ]);
        assert_eq!(moves(rate, &spacing, &early).downs, 1);
        assert!(!moves(rate, &spacing, &early).keeps);
        // Exact heaps judge every key on its own.
        assert!(!moves(0.0, &spacing, &kept).keeps);
    }

    #[test]
    fn the_sign_test_is_the_binomial_tail() {
        assert_eq!(sign_test(0, 0), 1.0);
        assert!((sign_test(4, 0) - 1.0 / 16.0).abs() < 1e-12);
        assert!((sign_test(12, 1) - 14.0 / 8192.0).abs() < 1e-12);
        assert!((sign_test(5, 5) - 0.623046875).abs() < 1e-9);
        assert!(sign_test(3000, 3000) > 0.5);
    }
}
