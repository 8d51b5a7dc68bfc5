//! The quadratic family of the projection form (SPEC §7): every test function of degree ≤ 2 at
//! once (φ = aᵀx and φ = ½xᵀAx, A symmetric). For the true score E_p[∇log p] = 0 and
//! E_p[∇log p (x − c)ᵀ] = −I for any fixed c, so
//!
//! ```text
//! Q_t = |E_{p_t}[s_θ]|² + ‖sym(E_{p_t}[s_θ (x − c_t)ᵀ]) + I‖²_F,   c_t = α_t c₀,
//! ```
//!
//! is zero for the exact model, blind to p_t-solenoidal errors and scales as λ² for an error λe.
//! With g_i = (s_i, sym(s_i u_iᵀ) + I), u_i = x_i − c_t, Q_t is estimated without bias by the
//! U-statistic Σ_{i≠j}⟨g_i, g_j⟩/(n(n−1)); the inner products come from three n × n Gram matrices
//! (no d × d matrix is ever formed):
//!
//! ```text
//! ⟨g_i, g_j⟩ = s_i·s_j                                   (mean part)
//!            + ½[(s_i·s_j)(u_i·u_j) + (s_i·u_j)(u_i·s_j)] + s_i·u_i + s_j·u_j + d   (covariance part)
//! ```
//!
//! (⟨sym(s uᵀ), I⟩_F = s·u). Cost O(n²d) per time, memory three n × n matrices. In low dimension,
//! where the family's K = d + d(d+1)/2 coordinates cost less than the Gram matrices (K² ≤ nd),
//! the g_i are formed explicitly instead (the same U-statistic, O(nK²) per time). The variance is
//! Hoeffding's, from the same distinct-index sums as the radial form's ([`super::moments`]), here
//! written in terms of the Gram matrix H (so they need all n draws at once: the quadratic family's
//! statistics do not merge across shards of draws, only across times).

use super::draws::{self, Stream};
use super::moments::ProjectionStep;
use crate::error::SiemError;
use crate::recipe::Draws;
use ndarray::{Array1, Array2, Axis};
use scoreprobe_core::Schedule;
use serde::{Deserialize, Serialize};

/// Draws of the data that estimate c₀ when the caller gives none (the test seed's own stream).
pub const MEAN_PILOT: usize = 4096;

/// The quadratic family's two parts, SIEM^quad = mean part + covariance part.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct QuadraticParts {
    /// ∫_W β² |E[s_θ]|² dt: the error's mean.
    pub mean_part: f64,
    pub mean_part_se: f64,
    /// ∫_W β² ‖sym(E[s_θ(x − c_t)ᵀ]) + I‖²_F dt: the error's linear (covariance) part.
    pub cov_part: f64,
    pub cov_part_se: f64,
    /// Whether c₀ is the data's own mean (given) or estimated from `MEAN_PILOT` draws.
    pub center_from_pilot: bool,
}

/// A degree-2 U-statistic from the Gram matrix H of its kernel (H_ij = h(g_i, g_j), symmetric).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GramStat {
    /// Σ_{i≠j} H_ij / (n(n−1)).
    pub u: f64,
    /// The unbiased estimate of Var u (Hoeffding; may be slightly negative near u = 0).
    pub var: f64,
    /// r_i = Σ_{j≠i} H_ij (the jackknife's per-draw terms).
    pub rows: Vec<f64>,
}

/// The U-statistic, its variance and its row sums from H. With r_i = Σ_{j≠i} H_ij:
/// T = Σ r_i, P₂ = Σ_{i≠j} H_ij², P₃ = Σ_{i,j,k distinct} H_ij H_ik = Σ r_i² − P₂ and
/// P₄ = T² − 4P₃ − 2P₂, as in [`super::moments::StepMoments::variance`].
pub(crate) fn gram_stat(h: &Array2<f64>) -> GramStat {
    let n = h.nrows();
    let nf = n as f64;
    let mut rows = vec![0.0; n];
    let mut p2 = 0.0;
    for (i, row) in h.rows().into_iter().enumerate() {
        let (mut r, mut q) = (0.0, 0.0);
        for (j, v) in row.iter().enumerate() {
            if j != i {
                r += v;
                q += v * v;
            }
        }
        rows[i] = r;
        p2 += q;
    }
    let t: f64 = rows.iter().sum();
    let p3 = rows.iter().map(|r| r * r).sum::<f64>() - p2;
    let p4 = t * t - 4.0 * p3 - 2.0 * p2;
    let pairs = nf * (nf - 1.0);
    let b_hat = p2 / pairs;
    let a_hat = p3 / (pairs * (nf - 2.0));
    let theta2 = p4 / (pairs * (nf - 2.0) * (nf - 3.0));
    let var = (4.0 * (nf - 2.0) * a_hat + 2.0 * b_hat - (4.0 * nf - 6.0) * theta2) / pairs;
    GramStat { u: t / pairs, var, rows }
}

/// The mean part's and the covariance part's Gram matrices at one time, from the scores `s` and
/// the offsets `u` = x − c_t (both n × d).
pub(crate) fn gram_parts(s: &Array2<f64>, u: &Array2<f64>) -> (Array2<f64>, Array2<f64>) {
    let d = s.ncols() as f64;
    let ss = s.dot(&s.t());
    let su = s.dot(&u.t());
    let mut cov = u.dot(&u.t());
    let a: Vec<f64> = su.diag().to_vec();
    for ((i, j), v) in cov.indexed_iter_mut() {
        *v = 0.5 * (ss[[i, j]] * *v + su[[i, j]] * su[[j, i]]) + a[i] + a[j] + d;
    }
    (ss, cov)
}

/// The same statistic from explicit feature rows G_i (n × K), with kernel h = G_i·G_j: the sums of
/// [`super::moments::StepMoments`] over √K·G_i (its kernel averages over K), and r_i = S·G_i − |G_i|².
pub(crate) fn explicit_stat(g: &Array2<f64>) -> GramStat {
    let k = g.ncols();
    let scale = (k as f64).sqrt();
    let mut m = super::moments::StepMoments::new(k);
    let mut buf = vec![0.0; k];
    let sum = g.sum_axis(Axis(0));
    let mut rows = Vec::with_capacity(g.nrows());
    for gi in g.rows() {
        buf.iter_mut().zip(gi).for_each(|(b, v)| *b = scale * v);
        m.push(&buf);
        rows.push(gi.dot(&sum) - gi.dot(&gi));
    }
    GramStat { u: m.mean_m2(), var: m.variance(), rows }
}

/// The explicit coordinates of g_i in an orthonormal basis: the mean part s_i (n × d), and the
/// covariance part sym(s_i u_iᵀ) + I on and above the diagonal, off-diagonal entries × √2 (so the
/// Euclidean inner product is the Frobenius one), n × d(d+1)/2.
pub(crate) fn explicit_parts(s: &Array2<f64>, u: &Array2<f64>) -> Array2<f64> {
    let (n, d) = s.dim();
    let mut cov = Array2::zeros((n, d * (d + 1) / 2));
    for (i, mut row) in cov.rows_mut().into_iter().enumerate() {
        let (si, ui) = (s.row(i), u.row(i));
        let mut c = 0;
        for (a, (&sa, &ua)) in si.iter().zip(ui).enumerate() {
            row[c] = sa * ua + 1.0;
            c += 1;
            for (&sb, &ub) in si.iter().zip(ui).skip(a + 1) {
                row[c] = std::f64::consts::FRAC_1_SQRT_2 * (sa * ub + sb * ua);
                c += 1;
            }
        }
    }
    cov
}

/// The total, mean-part and covariance-part statistics at one time, by the cheaper route.
fn step_stats(s: &Array2<f64>, u: &Array2<f64>) -> (GramStat, GramStat, GramStat) {
    let (n, d) = s.dim();
    let k = d + d * (d + 1) / 2;
    if k * k <= n * d {
        let cov = explicit_parts(s, u);
        let all = ndarray::concatenate(Axis(1), &[s.view(), cov.view()]).expect("both have n rows");
        (explicit_stat(&all), explicit_stat(s), explicit_stat(&cov))
    } else {
        let (h_mean, mut h) = gram_parts(s, u);
        let (g_mean, g_cov) = (gram_stat(&h_mean), gram_stat(&h));
        h += &h_mean;
        drop(h_mean);
        (gram_stat(&h), g_mean, g_cov)
    }
}

/// c₀: the given data mean, or the mean of [`MEAN_PILOT`] draws from the test seed's stream.
pub(crate) fn reference_center(
    given: Option<&Array1<f64>>,
    data: &mut Draws,
    d: usize,
    test_seed: u64,
) -> Result<(Array1<f64>, bool), SiemError> {
    if let Some(c) = given {
        if c.len() != d || c.iter().any(|v| !v.is_finite()) {
            return Err(SiemError::invalid(
                "quadratic: data mean",
                format!("needs {d} finite coordinates, got {} values", c.len()),
            ));
        }
        return Ok((c.clone(), false));
    }
    let mut rng = draws::time_rng(test_seed, Stream::Mean, 0);
    let x0 = data(MEAN_PILOT, &mut rng);
    if x0.dim() != (MEAN_PILOT, d) {
        return Err(SiemError::invalid(
            "projection: data draws",
            format!("the data sampler returned shape {:?}, expected ({MEAN_PILOT}, {d})", x0.dim()),
        ));
    }
    Ok((x0.mean_axis(Axis(0)).expect("MEAN_PILOT > 0 draws"), true))
}

/// What the quadratic family's pass over the window yields.
pub(crate) struct QuadraticRun {
    pub siem: f64,
    pub se: f64,
    pub se_jackknife: f64,
    pub parts: QuadraticParts,
    pub profile: Vec<ProjectionStep>,
    pub leave_one_out: Vec<f64>,
    pub state: QuadraticState,
}

/// Per-part running sums over the window: Σ w Ū and Σ w² Var Ū.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub value: f64,
    pub var: f64,
}

impl Part {
    fn add(&mut self, w: f64, g: &GramStat) {
        self.value += w * g.u;
        self.var += w * w * g.var;
    }
    fn merge(&mut self, other: &Part) {
        self.value += other.value;
        self.var += other.var;
    }
    fn se(&self) -> f64 {
        self.var.max(0.0).sqrt()
    }
}

/// The quadratic family's mergeable state over a set of window times: the parts' sums, the
/// per-draw cross sums of the jackknife and the per-time profile. States of disjoint sets of
/// times (the shards of a run) merge by addition and concatenation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QuadraticState {
    pub total: Part,
    pub mean: Part,
    pub cov: Part,
    /// Σ_t w_t Σ_{i≠j} h_ij.
    pub pair_total: f64,
    /// Per draw index i: Σ_t w_t r_{t,i}.
    pub cross: Vec<f64>,
    pub profile: Vec<ProjectionStep>,
}

impl QuadraticState {
    /// Adds the state of other times (a later shard).
    pub fn merge(&mut self, other: &QuadraticState) -> Result<(), SiemError> {
        if other.cross.len() != self.cross.len() {
            let why = format!("holds {} draws per time, the other {}", other.cross.len(), self.cross.len());
            return Err(SiemError::invalid("quadratic state", why));
        }
        self.total.merge(&other.total);
        self.mean.merge(&other.mean);
        self.cov.merge(&other.cov);
        self.pair_total += other.pair_total;
        self.cross.iter_mut().zip(&other.cross).for_each(|(a, b)| *a += b);
        self.profile.extend(other.profile.iter().cloned());
        Ok(())
    }

    /// Adds one window time ((step index, t, Δt)): draws `x`, their scores `s`, centre c₀ = `center`.
    pub(crate) fn push_time(
        &mut self,
        schedule: &Schedule,
        (index, t, dt): (usize, f64, f64),
        x: &Array2<f64>,
        s: &Array2<f64>,
        center: &Array1<f64>,
    ) {
        let n = x.nrows();
        let u = x - &(center * schedule.alpha(t)).insert_axis(Axis(0));
        let (g, g_mean, g_cov) = step_stats(s, &u);
        let beta = schedule.beta(t);
        let w = beta * beta * dt;
        self.total.add(w, &g);
        self.mean.add(w, &g_mean);
        self.cov.add(w, &g_cov);
        self.pair_total += w * g.u * (n * (n - 1)) as f64;
        self.cross.iter_mut().zip(&g.rows).for_each(|(c, r)| *c += w * r);
        self.profile.push(ProjectionStep { index, t, dt, beta2: beta * beta, m2: g.u, m2_se: g.var.max(0.0).sqrt() });
    }

    /// SIEM^quad, its standard errors and parts (n ≥ 3 draws per time).
    pub(crate) fn finish(&self, center_from_pilot: bool) -> QuadraticRun {
        // draw i left out at every time: (Σ_t w_t (T_t − 2 r_{t,i}))/((n−1)(n−2))
        let nf = self.cross.len() as f64;
        let denom = (nf - 1.0) * (nf - 2.0);
        let leave_one_out: Vec<f64> = self.cross.iter().map(|c| (self.pair_total - 2.0 * c) / denom).collect();
        let loo_mean = leave_one_out.iter().sum::<f64>() / nf;
        let jack = (nf - 1.0) / nf * leave_one_out.iter().map(|v| (v - loo_mean) * (v - loo_mean)).sum::<f64>();
        QuadraticRun {
            siem: self.total.value,
            se: self.total.se(),
            se_jackknife: jack.sqrt(),
            parts: QuadraticParts {
                mean_part: self.mean.value,
                mean_part_se: self.mean.se(),
                cov_part: self.cov.value,
                cov_part_se: self.cov.se(),
                center_from_pilot,
            },
            profile: self.profile.clone(),
            leave_one_out,
            state: self.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(n: usize, d: usize, shift: f64, rng: &mut ChaCha8Rng) -> Array2<f64> {
        Array2::from_shape_fn((n, d), |(_, j)| shift * (j as f64 + 1.0) + rng.random::<f64>() * 2.0 - 1.0)
    }

    /// sym(A) = (A + Aᵀ)/2 as a plain d × d matrix.
    fn g_matrix(s: ndarray::ArrayView1<f64>, u: ndarray::ArrayView1<f64>) -> Array2<f64> {
        let d = s.len();
        Array2::from_shape_fn((d, d), |(a, b)| 0.5 * (s[a] * u[b] + s[b] * u[a]) + if a == b { 1.0 } else { 0.0 })
    }

    /// The Gram identity against explicit d × d matrices g_i, and the U-statistic's variance sums
    /// against brute force over distinct indices.
    #[test]
    fn gram_matrices_match_explicit_inner_products_and_brute_force_sums() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (n, d) = (7, 3);
        let s = random(n, d, 0.3, &mut rng);
        let u = random(n, d, -0.2, &mut rng);
        let (hm, hc) = gram_parts(&s, &u);
        for i in 0..n {
            for j in 0..n {
                let gi = g_matrix(s.row(i), u.row(i));
                let gj = g_matrix(s.row(j), u.row(j));
                let want = (&gi * &gj).sum();
                assert!((hc[[i, j]] - want).abs() < 1e-12 * want.abs().max(1.0), "{i},{j}");
                assert!((hm[[i, j]] - s.row(i).dot(&s.row(j))).abs() < 1e-14);
            }
        }
        let h = &hm + &hc;
        let g = gram_stat(&h);
        let (mut t, mut p2, mut p3, mut p4) = (0.0, 0.0, 0.0, 0.0);
        for i in 0..n {
            for j in (0..n).filter(|&j| j != i) {
                t += h[[i, j]];
                p2 += h[[i, j]].powi(2);
                for k in (0..n).filter(|&k| k != i && k != j) {
                    p3 += h[[i, j]] * h[[i, k]];
                    for l in (0..n).filter(|&l| l != i && l != j && l != k) {
                        p4 += h[[i, j]] * h[[k, l]];
                    }
                }
            }
        }
        let nf = n as f64;
        let pairs = nf * (nf - 1.0);
        let want = (4.0 * (nf - 2.0) * p3 / (pairs * (nf - 2.0)) + 2.0 * p2 / pairs
            - (4.0 * nf - 6.0) * p4 / (pairs * (nf - 2.0) * (nf - 3.0)))
            / pairs;
        assert!((g.u - t / pairs).abs() < 1e-12 * t.abs());
        assert!((g.var - want).abs() < 1e-9 * want.abs(), "{} vs {want}", g.var);
        // the explicit coordinates give the same statistics
        let cov = explicit_parts(&s, &u);
        let all = ndarray::concatenate(Axis(1), &[s.view(), cov.view()]).unwrap();
        let e = explicit_stat(&all);
        assert!((e.u - g.u).abs() < 1e-12 * g.u.abs().max(1.0), "{} vs {}", e.u, g.u);
        assert!((e.var - g.var).abs() < 1e-9 * g.var.abs(), "{} vs {}", e.var, g.var);
        assert!(e.rows.iter().zip(&g.rows).all(|(a, b)| (a - b).abs() < 1e-10 * b.abs().max(1.0)));
        let ec = explicit_stat(&cov);
        assert!((ec.u - gram_stat(&hc).u).abs() < 1e-12 * ec.u.abs().max(1.0));
    }
}
