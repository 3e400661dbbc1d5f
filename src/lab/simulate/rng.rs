//! A small seeded generator (SplitMix64) and the distributions the simulator draws from. Seeded
//! runs are reproducible on every platform: no floating-point state is kept between draws.

/// SplitMix64.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// A generator derived from this one's seed and a label (independent streams per part).
    pub fn fork(&mut self, label: u64) -> Rng {
        Rng(self.next_u64() ^ label.wrapping_mul(0xbf58_476d_1ce4_e5b9))
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    /// Uniform in 0..n (0 when n is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// One element.
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    /// Log-uniform in [lo, hi).
    pub fn log_range(&mut self, lo: f64, hi: f64) -> f64 {
        (self.range(lo.ln(), hi.ln())).exp()
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.f64();
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Poisson(λ): Knuth's product method below 30, a rounded normal above.
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda <= 0.0 || !lambda.is_finite() {
            return 0;
        }
        if lambda < 30.0 {
            let limit = (-lambda).exp();
            let mut k = 0u64;
            let mut p = self.f64();
            while p > limit {
                k += 1;
                p *= self.f64();
            }
            k
        } else {
            (lambda + lambda.sqrt() * self.normal()).round().max(0.0) as u64
        }
    }

    /// Binomial(n, p): exact below 64 trials, else Poisson or normal approximations.
    pub fn binomial(&mut self, n: u64, p: f64) -> u64 {
        if n == 0 || p <= 0.0 || !p.is_finite() {
            return 0;
        }
        if p >= 1.0 {
            return n;
        }
        if n < 64 {
            return (0..n).filter(|_| self.f64() < p).count() as u64;
        }
        let nf = n as f64;
        if nf * p < 30.0 {
            return self.poisson(nf * p).min(n);
        }
        if nf * (1.0 - p) < 30.0 {
            return n - self.poisson(nf * (1.0 - p)).min(n);
        }
        let sd = (nf * p * (1.0 - p)).sqrt();
        (nf * p + sd * self.normal()).round().clamp(0.0, nf) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments() {
        let mut r = Rng::new(7);
        let n = 20_000;
        let mean = |f: &mut dyn FnMut() -> f64| (0..n).map(|_| f()).sum::<f64>() / n as f64;
        assert!((mean(&mut || r.f64()) - 0.5).abs() < 0.01);
        let mut r = Rng::new(8);
        assert!(mean(&mut || r.normal()).abs() < 0.03);
        let mut r = Rng::new(9);
        assert!((mean(&mut || r.poisson(4.0) as f64) - 4.0).abs() < 0.08);
        let mut r = Rng::new(10);
        assert!((mean(&mut || r.binomial(1000, 0.3) as f64) - 300.0).abs() < 1.0);
        let mut r = Rng::new(11);
        assert!((mean(&mut || r.binomial(40, 0.25) as f64) - 10.0).abs() < 0.1);
        let mut a = Rng::new(3);
        let mut b = Rng::new(3);
        assert_eq!(a.next_u64(), b.next_u64());
    }
}
