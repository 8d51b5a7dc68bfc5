//! The projection form's accumulators: mergeable sums from which the unbiased estimate of
//! m_c(t)², its exact-variance estimate and the jackknife of SIEM^proj follow.
//!
//! At one time t the n draws give vectors G_i ∈ R^K, g_{i,c} = s_θ(x_i)·∇φ_c(x_i) + Δφ_c(x_i),
//! i.i.d. with mean μ (μ_c = m_c(t)). The average over test functions of the unbiased estimates of
//! m_c² is a U-statistic of degree 2,
//!     Ū = (1/(n(n−1))) Σ_{i≠j} h(G_i, G_j),   h(G, G') = G·G'/K,   E[Ū] = |μ|²/K,
//! whose variance is (Hoeffding) Var Ū = [4(n−2)ζ₁ + 2ζ₂]/(n(n−1)) with
//! ζ₁ = E[h₁₂h₁₃] − θ², ζ₂ = E[h₁₂²] − θ², θ = E[h]. Each of E[h₁₂h₁₃], E[h₁₂²] and θ² has an
//! unbiased estimator (a U-statistic over distinct indices), and all three are functions of five
//! sums: n, S = ΣG_i, M = ΣG_iG_iᵀ, R = Σ|G_i|²G_i and F = Σ|G_i|⁴ (see [`StepMoments::variance`]).
//! These sums add over any split of the draws, so a state merges across shards by addition, and
//! the variance estimate is unbiased (not just consistent): it stays right at μ = 0, where the
//! degenerate term 2ζ₂/(n(n−1)) is all there is (the exact model, late checkpoints).
//!
//! Across times the draws are independent, so Var SIEM = Σ_t w_t² Var Ū_t.

use crate::error::SiemError;
use serde::{Deserialize, Serialize};

/// Sums over the draws at one time of G_i (K test functions).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepMoments {
    /// Number of draws n.
    pub count: usize,
    /// S = Σ G_i (K).
    pub sum: Vec<f64>,
    /// M = Σ G_i G_iᵀ (K × K, row-major).
    pub outer: Vec<f64>,
    /// R = Σ |G_i|² G_i (K).
    pub sum_cubic: Vec<f64>,
    /// F = Σ |G_i|⁴.
    pub sum_quartic: f64,
}

impl StepMoments {
    pub fn new(k: usize) -> Self {
        Self { count: 0, sum: vec![0.0; k], outer: vec![0.0; k * k], sum_cubic: vec![0.0; k], sum_quartic: 0.0 }
    }

    /// Number of test functions K.
    pub fn k(&self) -> usize {
        self.sum.len()
    }

    /// Adds one draw's vector G (length K).
    pub fn push(&mut self, g: &[f64]) {
        let k = self.k();
        debug_assert_eq!(g.len(), k);
        let norm2: f64 = g.iter().map(|v| v * v).sum();
        for (a, ga) in g.iter().enumerate() {
            self.sum[a] += ga;
            self.sum_cubic[a] += norm2 * ga;
            for (b, gb) in g.iter().enumerate() {
                self.outer[a * k + b] += ga * gb;
            }
        }
        self.sum_quartic += norm2 * norm2;
        self.count += 1;
    }

    /// Adds the sums of another set of draws at the same time (a shard).
    pub fn merge(&mut self, other: &StepMoments) -> Result<(), SiemError> {
        if other.k() != self.k() {
            return Err(SiemError::invalid(
                "projection state",
                format!("cannot merge moments of {} and {} test functions", self.k(), other.k()),
            ));
        }
        self.count += other.count;
        let add = |a: &mut [f64], b: &[f64]| a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        add(&mut self.sum, &other.sum);
        add(&mut self.outer, &other.outer);
        add(&mut self.sum_cubic, &other.sum_cubic);
        self.sum_quartic += other.sum_quartic;
        Ok(())
    }

    fn pairs(&self) -> f64 {
        let n = self.count as f64;
        n * (n - 1.0)
    }

    /// m̂_c: the mean of g_{·,c}.
    pub fn mean(&self, c: usize) -> f64 {
        self.sum[c] / self.count as f64
    }

    /// The unbiased estimate of m_c² for test function c: (S_c² − M_cc)/(n(n−1)).
    pub fn m2(&self, c: usize) -> f64 {
        let k = self.k();
        (self.sum[c] * self.sum[c] - self.outer[c * k + c]) / self.pairs()
    }

    /// Σ_{i≠j} h(G_i, G_j) = (|S|² − tr M)/K.
    fn pair_sum(&self) -> f64 {
        let k = self.k();
        let s2: f64 = self.sum.iter().map(|v| v * v).sum();
        let tr: f64 = (0..k).map(|a| self.outer[a * k + a]).sum();
        (s2 - tr) / k as f64
    }

    /// Ū = (1/K) Σ_c m̂_c²: the unbiased estimate of (1/K) Σ_c m_c(t)².
    pub fn mean_m2(&self) -> f64 {
        self.pair_sum() / self.pairs()
    }

    /// The unbiased estimate of Var Ū (NaN with fewer than 4 draws; may be slightly negative by
    /// chance when Ū is near 0, as any unbiased variance estimate of a degenerate U-statistic).
    ///
    /// With h_ij = G_i·G_j/K, the three sums over distinct indices are
    /// - P₂ = Σ_{i≠j} h_ij² = (tr M² − F)/K²,
    /// - P₃ = Σ_{i,j,k distinct} h_ij h_ik = (SᵀMS − 2R·S − tr M² + 2F)/K²,
    /// - P₄ = Σ_{i,j,k,l distinct} h_ij h_kl = T² − 4P₃ − 2P₂, T = Σ_{i≠j} h_ij,
    ///
    /// unbiased for n(n−1)E[h₁₂²], n(n−1)(n−2)E[h₁₂h₁₃] and n(n−1)(n−2)(n−3)θ², so
    /// Var Ū = [4(n−2)Â + 2B̂ − (4n − 6)θ̂²]/(n(n−1)).
    pub fn variance(&self) -> f64 {
        if self.count < 4 {
            return f64::NAN;
        }
        let k = self.k();
        let kf = k as f64;
        let n = self.count as f64;
        let f = self.sum_quartic;
        let tr_m2: f64 = self.outer.iter().map(|v| v * v).sum(); // M symmetric: tr M² = Σ M_ab²
        let mut sms = 0.0;
        for a in 0..k {
            for b in 0..k {
                sms += self.sum[a] * self.outer[a * k + b] * self.sum[b];
            }
        }
        let rs: f64 = self.sum_cubic.iter().zip(&self.sum).map(|(r, s)| r * s).sum();
        let t = self.pair_sum();
        let p2 = (tr_m2 - f) / (kf * kf);
        let p3 = (sms - 2.0 * rs - tr_m2 + 2.0 * f) / (kf * kf);
        let p4 = t * t - 4.0 * p3 - 2.0 * p2;
        let b_hat = p2 / (n * (n - 1.0));
        let a_hat = p3 / (n * (n - 1.0) * (n - 2.0));
        let theta2 = p4 / (n * (n - 1.0) * (n - 2.0) * (n - 3.0));
        (4.0 * (n - 2.0) * a_hat + 2.0 * b_hat - (4.0 * n - 6.0) * theta2) / (n * (n - 1.0))
    }
}

/// One window time of the projection form: where it sits on the grid, its Riemann weight and the
/// moments of its draws.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepState {
    /// Step index k of the sampler's grid (the time is t_{k+1}, as in the particle form).
    pub index: usize,
    pub t: f64,
    pub dt: f64,
    pub beta2: f64,
    pub moments: StepMoments,
}

impl StepState {
    /// The Riemann weight β(t)² Δt.
    pub fn weight(&self) -> f64 {
        self.beta2 * self.dt
    }
}

/// Everything SIEM^proj and its standard errors are computed from. Mergeable: the per-step
/// moments add over shards of draws; the per-draw jackknife terms add over shards of times.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectionState {
    pub steps: Vec<StepState>,
    /// Per draw index i: Σ_t w_t S_t·G_{t,i}/K (S_t the sum over all draws at t).
    pub draw_cross: Vec<f64>,
    /// Per draw index i: Σ_t w_t |G_{t,i}|²/K.
    pub draw_norm: Vec<f64>,
}

/// What a projection state yields.
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectionEstimate {
    pub siem: f64,
    /// √(Σ_t w_t² Var̂ Ū_t), from the unbiased variance estimates (0 when their sum is negative).
    pub se: f64,
    /// The jackknife over draw indices (conservative: it overstates the degenerate part of the
    /// variance, by at most a factor 2 in variance when m ≈ 0).
    pub se_jackknife: f64,
    /// SIEM of each test function (their mean is `siem`).
    pub per_center: Vec<f64>,
    /// SIEM with draw i left out at every time (the jackknife's leave-one-out values; their mean
    /// is `siem`). Two models measured on the same draws give paired differences from these.
    pub leave_one_out: Vec<f64>,
}

impl ProjectionState {
    /// Combines the steps' moments and the per-draw terms (n ≥ 4 draws per time).
    pub fn estimate(&self) -> Result<ProjectionEstimate, SiemError> {
        let n = self.draw_cross.len();
        if n < 4 || self.draw_norm.len() != n {
            return Err(SiemError::invalid("projection state", format!("needs at least 4 draws per time, has {n}")));
        }
        if let Some(s) = self.steps.iter().find(|s| s.moments.count != n) {
            return Err(SiemError::invalid(
                "projection state",
                format!("step {} holds {} draws, the state {n}", s.index, s.moments.count),
            ));
        }
        let k = self.steps.first().map_or(1, |s| s.moments.k());
        // a state read from a file: every step's sums must have the shapes of K test functions
        if let Some(s) = self.steps.iter().find(|s| {
            let m = &s.moments;
            m.sum.len() != k || m.sum_cubic.len() != k || Some(m.outer.len()) != k.checked_mul(k)
        }) {
            let m = &s.moments;
            return Err(SiemError::invalid(
                "projection state",
                format!(
                    "step {} holds sums of {}, {} and {} entries; {k} test functions need {k}, {k} and {k}²",
                    s.index,
                    m.sum.len(),
                    m.sum_cubic.len(),
                    m.outer.len()
                ),
            ));
        }
        let mut siem = 0.0;
        let mut var = 0.0;
        let mut per_center = vec![0.0; k];
        // Σ_t w_t Σ_{i≠j} h_ij
        let mut pair_total = 0.0;
        for s in &self.steps {
            let w = s.weight();
            siem += w * s.moments.mean_m2();
            var += w * w * s.moments.variance();
            for (c, pc) in per_center.iter_mut().enumerate() {
                *pc += w * s.moments.m2(c);
            }
            pair_total += w * s.moments.pair_sum();
        }
        let nf = n as f64;
        let denom = (nf - 1.0) * (nf - 2.0);
        let leave_one_out: Vec<f64> = self
            .draw_cross
            .iter()
            .zip(&self.draw_norm)
            .map(|(cross, norm)| (pair_total - 2.0 * cross + 2.0 * norm) / denom)
            .collect();
        let mean = leave_one_out.iter().sum::<f64>() / nf;
        let jack = (nf - 1.0) / nf * leave_one_out.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>();
        Ok(ProjectionEstimate { siem, se: var.max(0.0).sqrt(), se_jackknife: jack.sqrt(), per_center, leave_one_out })
    }
}

/// The paired standard error of the difference a − b of two estimates made on the same draws,
/// from their leave-one-out values (the jackknife of the difference; conservative like
/// [`ProjectionEstimate::se_jackknife`]).
pub fn paired_jackknife_se(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len();
    if n < 2 || b.len() != n {
        return None;
    }
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let mean = d.iter().sum::<f64>() / n as f64;
    let nf = n as f64;
    Some(((nf - 1.0) / nf * d.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>()).sqrt())
}

/// One window time of the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectionStep {
    pub index: usize,
    pub t: f64,
    pub dt: f64,
    pub beta2: f64,
    /// (1/K) Σ_c m̂_c(t)² (unbiased).
    pub m2: f64,
    /// Its standard error (√ of the unbiased variance estimate, 0 when that is negative).
    pub m2_se: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random_vectors(n: usize, k: usize, mean: f64, rng: &mut ChaCha8Rng) -> Vec<Vec<f64>> {
        (0..n).map(|_| (0..k).map(|c| mean * (c as f64 + 1.0) + rng.random::<f64>() * 2.0 - 1.0).collect()).collect()
    }

    fn h(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>() / a.len() as f64
    }

    /// The closed forms of P₂, P₃ and P₄ against brute-force sums over distinct indices.
    #[test]
    fn distinct_index_sums_match_brute_force() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for (n, k) in [(5usize, 1usize), (6, 3), (7, 2)] {
            let g = random_vectors(n, k, 0.4, &mut rng);
            let mut m = StepMoments::new(k);
            g.iter().for_each(|v| m.push(v));
            let (mut p2, mut p3, mut p4, mut t) = (0.0, 0.0, 0.0, 0.0);
            for i in 0..n {
                for j in (0..n).filter(|&j| j != i) {
                    t += h(&g[i], &g[j]);
                    p2 += h(&g[i], &g[j]).powi(2);
                    for l in (0..n).filter(|&l| l != i && l != j) {
                        p3 += h(&g[i], &g[j]) * h(&g[i], &g[l]);
                        for q in (0..n).filter(|&q| q != i && q != j && q != l) {
                            p4 += h(&g[i], &g[j]) * h(&g[l], &g[q]);
                        }
                    }
                }
            }
            let nf = n as f64;
            let want = (4.0 * (nf - 2.0) * p3 / (nf * (nf - 1.0) * (nf - 2.0)) + 2.0 * p2 / (nf * (nf - 1.0))
                - (4.0 * nf - 6.0) * p4 / (nf * (nf - 1.0) * (nf - 2.0) * (nf - 3.0)))
                / (nf * (nf - 1.0));
            let got = m.variance();
            assert!((got - want).abs() < 1e-12 * want.abs().max(1e-12), "n={n} k={k}: {got} vs {want}");
            assert!((m.mean_m2() - t / (nf * (nf - 1.0))).abs() < 1e-14);
        }
    }

    /// The variance estimate is unbiased: its mean over many replicates equals the spread of Ū,
    /// both at μ = 0 (degenerate) and μ ≠ 0.
    #[test]
    fn the_variance_estimate_matches_the_spread_of_the_u_statistic() {
        let (n, k, reps) = (30, 3, 4000);
        for mean in [0.0, 0.3] {
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            let (mut us, mut vs) = (Vec::with_capacity(reps), Vec::with_capacity(reps));
            for _ in 0..reps {
                let mut m = StepMoments::new(k);
                random_vectors(n, k, mean, &mut rng).iter().for_each(|v| m.push(v));
                us.push(m.mean_m2());
                vs.push(m.variance());
            }
            let r = reps as f64;
            let u_mean = us.iter().sum::<f64>() / r;
            let spread = us.iter().map(|u| (u - u_mean).powi(2)).sum::<f64>() / (r - 1.0);
            let v_mean = vs.iter().sum::<f64>() / r;
            // the sample variance of `reps` replicates has relative SE ≈ √(2/reps)·√(kurtosis
            // factor) ≈ 3% here; the mean of the estimates is tighter: 4 × 3% = 12%
            assert!((v_mean / spread - 1.0).abs() < 0.12, "mean {mean}: E[V̂] {v_mean} vs Var {spread}");
            // Ū is unbiased for |μ|²/K (μ_c = mean·(c+1); uniform noise has mean 0)
            let theta = (1..=k).map(|c| (mean * c as f64).powi(2)).sum::<f64>() / k as f64;
            assert!((u_mean - theta).abs() < 4.0 * (spread / r).sqrt(), "{u_mean} vs {theta}");
        }
    }

    #[test]
    fn merging_shards_equals_one_pass() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let g = random_vectors(40, 4, 0.2, &mut rng);
        let mut all = StepMoments::new(4);
        g.iter().for_each(|v| all.push(v));
        let (mut a, mut b) = (StepMoments::new(4), StepMoments::new(4));
        g[..13].iter().for_each(|v| a.push(v));
        g[13..].iter().for_each(|v| b.push(v));
        a.merge(&b).unwrap();
        assert_eq!(a.count, all.count);
        assert!((a.mean_m2() - all.mean_m2()).abs() < 1e-14);
        assert!((a.variance() - all.variance()).abs() < 1e-14 * all.variance().abs());
        assert!(a.merge(&StepMoments::new(3)).unwrap_err().to_string().contains("3 test functions"));
    }
}
