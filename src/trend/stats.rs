//! Robust statistics on short series: Theil–Sen slope with Sen's interval, Mann–Kendall, least
//! squares, correlation.

/// The standard normal CDF, Φ(x), through erfc (W. J. Cody's rational approximation as given in
/// Numerical Recipes' `erfcc`; fractional error below 1.2e-7 everywhere).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// The result of the Mann–Kendall test for a monotonic trend.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct MannKendall {
    /// S: concordant minus discordant pairs.
    pub s: i64,
    /// Variance of S under the null hypothesis, corrected for ties.
    pub var_s: f64,
    /// Kendall's tau-a: S over the number of pairs, in [-1, 1].
    pub tau: f64,
    /// Continuity-corrected standard score of S.
    pub z: f64,
    /// Two-sided p-value of "no monotonic trend".
    pub p_value: f64,
    /// One-sided p-value for growth: P(S ≥ s) under "no trend". Reported, not decided on: a
    /// one-sided test at α found a leak in a filled plateau of the simulated grid that the
    /// two-sided test (one-sided at α/2) does not.
    pub p_up: f64,
    /// One-sided p-value for decline: P(S ≤ s) under "no trend".
    pub p_down: f64,
    /// Whether the p-values are exact (S's own distribution: at most [`EXACT_MAX_N`] points, no
    /// ties) rather than the normal approximation.
    pub exact: bool,
}

/// Up to this many points without ties, Mann–Kendall's p-values come from the exact
/// distribution of S (Kendall's: the inversions of a random order), not the normal
/// approximation, whose floor on short series (0.0085 two-sided at n = 6 for a strictly
/// increasing series, where the exact value is 1/360) hides monotone growth from a multiple-test
/// correction.
pub const EXACT_MAX_N: usize = 30;

/// P(I ≤ k) for each k, I the number of inversions of a uniformly random order of `n` distinct
/// values (Mahonian numbers over n!), built one element at a time: inserting the k-th element
/// adds 0 to k − 1 inversions, each equally likely.
fn inversions_cdf(n: usize) -> Vec<f64> {
    let max = n * n.saturating_sub(1) / 2;
    let mut pmf = vec![0.0; max + 1];
    pmf[0] = 1.0;
    let mut top = 0;
    for k in 2..=n {
        // new[j] = (1/k) Σ_{i<k} old[j − i]: a sliding window sum over the old pmf.
        let new_top = top + k - 1;
        let mut next = vec![0.0; new_top + 1];
        let mut window = 0.0;
        for (j, slot) in next.iter_mut().enumerate() {
            if j <= top {
                window += pmf[j];
            }
            if j >= k && j - k <= top {
                window -= pmf[j - k];
            }
            *slot = window / k as f64;
        }
        pmf[..=new_top].copy_from_slice(&next);
        top = new_top;
    }
    let mut acc = 0.0;
    pmf.iter()
        .map(|p| {
            acc += p;
            acc.min(1.0)
        })
        .collect()
}

/// [`inversions_cdf`] of `n` ≤ [`EXACT_MAX_N`], built once per `n` per process: every key of a
/// report has the same number of points, and the table costs more than the test itself.
fn exact_cdf(n: usize) -> &'static [f64] {
    static TABLES: [std::sync::OnceLock<Vec<f64>>; EXACT_MAX_N + 1] =
        [const { std::sync::OnceLock::new() }; EXACT_MAX_N + 1];
    TABLES[n].get_or_init(|| inversions_cdf(n))
}

/// Exact P(S ≥ s) for `n` distinct values: S = M − 2I with M = n(n − 1)/2 pairs.
fn exact_upper(n: usize, s: i64, cdf: &[f64]) -> f64 {
    let m = (n * (n - 1) / 2) as i64;
    if s > m {
        return 0.0;
    }
    if s <= -m {
        return 1.0;
    }
    // S ≥ s ⟺ I ≤ (M − s) / 2.
    let k = ((m - s) / 2) as usize;
    cdf[k.min(cdf.len() - 1)]
}

/// Mann–Kendall test of `values` in time order. With fewer than 3 points it returns p = 1.
pub fn mann_kendall(values: &[f64]) -> MannKendall {
    let n = values.len();
    if n < 3 {
        return MannKendall {
            s: 0,
            var_s: 0.0,
            tau: 0.0,
            z: 0.0,
            p_value: 1.0,
            p_up: 1.0,
            p_down: 1.0,
            exact: false,
        };
    }
    let mut s: i64 = 0;
    for i in 0..n {
        for j in i + 1..n {
            s += match values[j].partial_cmp(&values[i]) {
                Some(std::cmp::Ordering::Greater) => 1,
                Some(std::cmp::Ordering::Less) => -1,
                _ => 0,
            };
        }
    }
    // Tie correction: sum over groups of equal values of t(t-1)(2t+5).
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut tied = false;
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && sorted[j] == sorted[i] {
            j += 1;
        }
        let t = (j - i) as f64;
        if t > 1.0 {
            ties += t * (t - 1.0) * (2.0 * t + 5.0);
            tied = true;
        }
        i = j;
    }
    let nf = n as f64;
    let var_s = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - ties) / 18.0;
    let z = if var_s <= 0.0 {
        0.0
    } else if s > 0 {
        (s as f64 - 1.0) / var_s.sqrt()
    } else if s < 0 {
        (s as f64 + 1.0) / var_s.sqrt()
    } else {
        0.0
    };
    let exact = n <= EXACT_MAX_N && !tied;
    let (p_up, p_down) = if exact {
        let cdf = exact_cdf(n);
        (exact_upper(n, s, cdf), exact_upper(n, -s, cdf))
    } else if var_s <= 0.0 {
        (1.0, 1.0)
    } else {
        // Continuity-corrected tails: S moves in steps of 2 without ties.
        let sd = var_s.sqrt();
        (
            (1.0 - normal_cdf((s as f64 - 1.0) / sd)).clamp(0.0, 1.0),
            (1.0 - normal_cdf((-s as f64 - 1.0) / sd)).clamp(0.0, 1.0),
        )
    };
    let p_value = if s == 0 || (!exact && z == 0.0) {
        1.0
    } else {
        (2.0 * p_up.min(p_down)).clamp(0.0, 1.0)
    };
    MannKendall {
        s,
        var_s,
        tau: s as f64 / (nf * (nf - 1.0) / 2.0),
        z,
        p_value,
        p_up,
        p_down,
        exact,
    }
}

/// Theil–Sen estimate of `y` against `x`: the median of pairwise slopes, with Sen's confidence
/// interval at the two-sided level `confidence` (e.g. 0.9), and the intercept median(y − slope·x).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TheilSen {
    /// Median pairwise slope (units of y per unit of x).
    pub slope: f64,
    /// Lower end of the slope's interval.
    pub low: f64,
    /// Upper end of the slope's interval.
    pub high: f64,
    /// median(y − slope·x).
    pub intercept: f64,
}

/// Theil–Sen fit; `None` with fewer than two distinct x values.
pub fn theil_sen(x: &[f64], y: &[f64], var_s: f64, confidence: f64) -> Option<TheilSen> {
    let n = x.len().min(y.len());
    let mut slopes = Vec::with_capacity(n * n.saturating_sub(1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            let dx = x[j] - x[i];
            if dx != 0.0 {
                slopes.push((y[j] - y[i]) / dx);
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    slopes.sort_by(f64::total_cmp);
    let slope = median_sorted(&slopes);
    // Sen (1968): C = z * sqrt(Var S); the interval is the slopes of rank (N - C)/2 and (N + C)/2 + 1.
    let zq = normal_quantile(0.5 + confidence / 2.0);
    let c = zq * var_s.max(0.0).sqrt();
    let m = slopes.len() as f64;
    let lo_rank = ((m - c) / 2.0).floor().max(1.0) as usize;
    let hi_rank = ((m + c) / 2.0).ceil() as usize + 1;
    let low = slopes[lo_rank.min(slopes.len()) - 1];
    let high = slopes[hi_rank.min(slopes.len()) - 1];
    let mut resid: Vec<f64> = (0..n).map(|i| y[i] - slope * x[i]).collect();
    resid.sort_by(f64::total_cmp);
    Some(TheilSen {
        slope,
        low: low.min(slope),
        high: high.max(slope),
        intercept: median_sorted(&resid),
    })
}

/// Median of an already sorted, non-empty slice.
pub fn median_sorted(v: &[f64]) -> f64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Inverse of the standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9
/// after one refinement is not needed at the levels used here: < 1.15e-9 raw).
pub fn normal_quantile(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}

/// Ordinary least squares y = a + b·x; returns (a, b, R²). R² is 1 for a perfect fit and for a
/// constant y (nothing left to explain), 0 with fewer than two points.
pub fn least_squares(x: &[f64], y: &[f64]) -> (f64, f64, f64) {
    let n = x.len().min(y.len());
    if n < 2 {
        return (y.first().copied().unwrap_or(0.0), 0.0, 0.0);
    }
    let nf = n as f64;
    let mx = x[..n].iter().sum::<f64>() / nf;
    let my = y[..n].iter().sum::<f64>() / nf;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let dx = x[i] - mx;
        let dy = y[i] - my;
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    if sxx == 0.0 {
        return (my, 0.0, 0.0);
    }
    let b = sxy / sxx;
    let a = my - b * mx;
    let r2 = if syy == 0.0 {
        1.0
    } else {
        (sxy * sxy / (sxx * syy)).clamp(0.0, 1.0)
    };
    (a, b, r2)
}

/// Pearson correlation of two equally long series; `None` when either is constant or too short.
pub fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len().min(b.len());
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let ma = a[..n].iter().sum::<f64>() / nf;
    let mb = b[..n].iter().sum::<f64>() / nf;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let da = a[i] - ma;
        let db = b[i] - mb;
        sab += da * db;
        saa += da * da;
        sbb += db * db;
    }
    if saa == 0.0 || sbb == 0.0 {
        return None;
    }
    Some((sab / (saa * sbb).sqrt()).clamp(-1.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_matches_tables() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.96) - 0.975_002).abs() < 1e-5);
        assert!((normal_cdf(-1.0) - 0.158_655).abs() < 1e-5);
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-5);
        assert!((normal_quantile(0.05) + 1.644_854).abs() < 1e-5);
    }

    #[test]
    fn mann_kendall_known_values() {
        // Strictly increasing n = 10: S = 45, Var S = 125, z = 44 / sqrt(125).
        let v: Vec<f64> = (0..10).map(f64::from).collect();
        let mk = mann_kendall(&v);
        assert_eq!(mk.s, 45);
        assert!((mk.var_s - 125.0).abs() < 1e-9);
        assert!((mk.z - 44.0 / 125f64.sqrt()).abs() < 1e-9);
        assert!(mk.p_value < 1e-4);
        assert_eq!(mk.tau, 1.0);
        // Ties lower the variance: [1,1,2,2,3]: S = 8, ties 2 groups of 2: 2*(2*1*9) = 36.
        let mk = mann_kendall(&[1.0, 1.0, 2.0, 2.0, 3.0]);
        assert_eq!(mk.s, 8);
        assert!((mk.var_s - (5.0 * 4.0 * 15.0 - 36.0) / 18.0).abs() < 1e-9);
        // A constant series has no trend.
        let mk = mann_kendall(&[3.0; 8]);
        assert_eq!(mk.s, 0);
        assert_eq!(mk.p_value, 1.0);
    }

    #[test]
    fn exact_mann_kendall_on_short_series() {
        // Strictly increasing n = 6: one order in 720 has S = 15.
        let v: Vec<f64> = (0..6).map(f64::from).collect();
        let mk = mann_kendall(&v);
        assert!(mk.exact);
        assert!((mk.p_up - 1.0 / 720.0).abs() < 1e-12, "{mk:?}");
        assert!((mk.p_value - 2.0 / 720.0).abs() < 1e-12);
        assert!((mk.p_down - 1.0).abs() < 1e-12);
        // n = 4, S = 4 (one swap): P(I ≤ 1) = (1 + 3) / 24.
        let mk = mann_kendall(&[1.0, 3.0, 2.0, 4.0]);
        assert_eq!(mk.s, 4);
        assert!((mk.p_up - 4.0 / 24.0).abs() < 1e-12, "{mk:?}");
        // The distribution sums to one and is symmetric.
        for n in [2usize, 5, 9, 30] {
            let cdf = inversions_cdf(n);
            let m = n * (n - 1) / 2;
            assert!((cdf[m] - 1.0).abs() < 1e-9, "{n}");
            for k in 0..m {
                let pk = cdf[k] - if k == 0 { 0.0 } else { cdf[k - 1] };
                let pm = cdf[m - k] - if m - k == 0 { 0.0 } else { cdf[m - k - 1] };
                assert!((pk - pm).abs() < 1e-12, "{n} {k}");
            }
        }
        // Near the cut the exact and the normal tails agree (n = 30 vs a long series' rule).
        let noise = [0.0, 4.1, -3.7, 2.2, -1.3];
        let v: Vec<f64> = (0..30)
            .map(|i| 0.15 * f64::from(i) + noise[i as usize % 5])
            .collect();
        let mk = mann_kendall(&v);
        let approx = 1.0 - normal_cdf((mk.s as f64 - 1.0) / mk.var_s.sqrt());
        assert!(mk.exact);
        assert!(mk.p_up > 1e-3 && mk.p_up < 0.2, "{mk:?}");
        assert!((mk.p_up - approx).abs() < 0.1 * approx, "{mk:?} {approx}");
        // Ties: the normal approximation, one-sided.
        let mk = mann_kendall(&[1.0, 1.0, 2.0, 2.0, 3.0, 4.0]);
        assert!(!mk.exact);
        assert!(mk.p_up < mk.p_value);
    }

    #[test]
    fn theil_sen_ignores_an_outlier() {
        let x: Vec<f64> = (0..9).map(f64::from).collect();
        let mut y: Vec<f64> = x.iter().map(|v| 2.0 * v + 1.0).collect();
        y[4] = 1000.0;
        let mk = mann_kendall(&y);
        let ts = theil_sen(&x, &y, mk.var_s, 0.9).unwrap();
        assert!((ts.slope - 2.0).abs() < 1e-9, "{ts:?}");
        assert!((ts.intercept - 1.0).abs() < 1e-9);
        assert!(ts.low <= 2.0 && ts.high >= 2.0);
        let (_, b, r2) = least_squares(&x, &y);
        assert!(b.abs() < 50.0 && r2 < 0.5);
    }

    #[test]
    fn pearson_signs() {
        let a = [1.0, 2.0, 3.0, 4.0];
        assert!((pearson(&a, &[2.0, 4.0, 6.0, 8.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((pearson(&a, &[8.0, 6.0, 4.0, 2.0]).unwrap() + 1.0).abs() < 1e-12);
        assert_eq!(pearson(&a, &[1.0; 4]), None);
    }
}
