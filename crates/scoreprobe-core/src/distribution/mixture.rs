use crate::error::CoreError;
use crate::linalg::{cholesky, spd_inverse_logdet};
use crate::schedule::Schedule;
use ndarray::parallel::prelude::*;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::Rng;
use rand_distr::StandardNormal;

/// Σ_k w_k N(m_k, Σ_k) in any dimension.
#[derive(Clone, Debug)]
pub struct GaussianMixture {
    weights: Array1<f64>,
    means: Vec<Array1<f64>>,
    covs: Vec<Array2<f64>>,
    chols: Vec<Array2<f64>>,
}

/// The mixture's forward marginal p_t = Σ_k w_k N(α_t m_k, α_t² Σ_k + σ_t² I), ready to evaluate.
pub struct Marginal {
    log_weights: Vec<f64>,
    means: Vec<Array1<f64>>,
    precisions: Vec<Array2<f64>>,
    log_norms: Vec<f64>,
}

impl GaussianMixture {
    /// Validates and builds a mixture; `what` names the spec field in error messages.
    pub fn new(
        weights: Array1<f64>,
        means: Vec<Array1<f64>>,
        covs: Vec<Array2<f64>>,
        what: &str,
    ) -> Result<Self, CoreError> {
        let k = weights.len();
        if k == 0 {
            return Err(CoreError::invalid(what, "a mixture needs at least one component"));
        }
        if means.len() != k || covs.len() != k {
            return Err(CoreError::invalid(
                what,
                format!("weights, means and covs must have the same length (got {k}, {}, {})", means.len(), covs.len()),
            ));
        }
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || (weights.sum() - 1.0).abs() > 1e-6 {
            return Err(CoreError::invalid(
                format!("{what}.weights"),
                format!("must be non-negative and sum to 1 (sum = {})", weights.sum()),
            ));
        }
        let d = means[0].len();
        if d == 0 {
            return Err(CoreError::invalid(format!("{what}.mean"), "dimension must be at least 1"));
        }
        let mut chols = Vec::with_capacity(k);
        for (i, (m, c)) in means.iter().zip(&covs).enumerate() {
            let name = if k == 1 { format!("{what}.cov") } else { format!("{what}.covs[{i}]") };
            if m.len() != d {
                return Err(CoreError::invalid(
                    format!("{what}.means[{i}]"),
                    format!("dimension {} differs from {d}", m.len()),
                ));
            }
            if m.iter().any(|v| !v.is_finite()) {
                return Err(CoreError::invalid(format!("{what}.mean"), "contains NaN or infinite entries"));
            }
            if c.dim() != (d, d) {
                return Err(CoreError::invalid(
                    name,
                    format!("must be {d}x{d} to match the mean, got {}x{}", c.nrows(), c.ncols()),
                ));
            }
            chols.push(cholesky(c.view(), &name)?);
        }
        Ok(Self { weights: &weights / weights.sum(), means, covs, chols })
    }

    /// Builds from JSON-style nested vectors.
    pub fn from_vecs(
        weights: &[f64],
        means: &[Vec<f64>],
        covs: &[Vec<Vec<f64>>],
        what: &str,
    ) -> Result<Self, CoreError> {
        let mut cs = Vec::with_capacity(covs.len());
        for (i, c) in covs.iter().enumerate() {
            cs.push(matrix_from_rows(c, &format!("{what}.covs[{i}]"))?);
        }
        Self::new(Array1::from(weights.to_vec()), means.iter().map(|m| Array1::from(m.clone())).collect(), cs, what)
    }

    pub fn dim(&self) -> usize {
        self.means[0].len()
    }
    pub fn n_components(&self) -> usize {
        self.weights.len()
    }
    pub fn is_gaussian(&self) -> bool {
        self.weights.len() == 1
    }
    pub fn weights(&self) -> &Array1<f64> {
        &self.weights
    }
    pub fn means(&self) -> &[Array1<f64>] {
        &self.means
    }
    pub fn covs(&self) -> &[Array2<f64>] {
        &self.covs
    }

    /// Overall mean and covariance of p₀ (exact: law of total covariance).
    pub fn moments(&self) -> (Array1<f64>, Array2<f64>) {
        let d = self.dim();
        let mut mean = Array1::zeros(d);
        for (w, m) in self.weights.iter().zip(&self.means) {
            mean.scaled_add(*w, m);
        }
        let mut cov = Array2::zeros((d, d));
        for ((w, m), c) in self.weights.iter().zip(&self.means).zip(&self.covs) {
            let dm = (m - &mean).insert_axis(Axis(1));
            cov = cov + (c + &dm.dot(&dm.t())) * *w;
        }
        (mean, cov)
    }

    /// Mean and covariance of p_t.
    pub fn moments_at(&self, schedule: &Schedule, t: f64) -> (Array1<f64>, Array2<f64>) {
        let (m, c) = self.moments();
        let a = schedule.alpha(t);
        (m * a, c * (a * a) + Array2::<f64>::eye(self.dim()) * schedule.sigma2(t))
    }

    /// Precomputes p_t's components at time t.
    pub fn marginal(&self, schedule: &Schedule, t: f64) -> Marginal {
        let a = schedule.alpha(t);
        let s2 = schedule.sigma2(t);
        let d = self.dim();
        let mut out = Marginal { log_weights: vec![], means: vec![], precisions: vec![], log_norms: vec![] };
        for ((w, m), c) in self.weights.iter().zip(&self.means).zip(&self.covs) {
            let ct = c * (a * a) + Array2::<f64>::eye(d) * s2;
            let (prec, logdet) =
                spd_inverse_logdet(ct.view(), "marginal covariance").expect("α²Σ + σ²I is positive definite");
            out.log_weights.push(w.ln());
            out.means.push(m * a);
            out.precisions.push(prec);
            out.log_norms.push(-0.5 * (d as f64 * (2.0 * std::f64::consts::PI).ln() + logdet));
        }
        out
    }

    /// Draws n samples from p₀.
    pub fn sample<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Array2<f64> {
        let d = self.dim();
        let cum: Vec<f64> = self
            .weights
            .iter()
            .scan(0.0, |acc, w| {
                *acc += w;
                Some(*acc)
            })
            .collect();
        let mut x = Array2::zeros((n, d));
        for mut row in x.rows_mut() {
            let u: f64 = rng.random();
            let k = cum.iter().position(|c| u < *c).unwrap_or(cum.len() - 1);
            let z = Array1::from_shape_fn(d, |_| rng.sample::<f64, _>(StandardNormal));
            row.assign(&(&self.means[k] + &self.chols[k].dot(&z)));
        }
        x
    }

    /// Draws n samples from p_t: α_t x₀ + σ_t z.
    pub fn sample_marginal<R: Rng + ?Sized>(&self, n: usize, schedule: &Schedule, t: f64, rng: &mut R) -> Array2<f64> {
        let x0 = self.sample(n, rng);
        let z = standard_normal(n, self.dim(), rng);
        x0 * schedule.alpha(t) + z * schedule.sigma(t)
    }
}

/// Rows per parallel work item: large enough to amortise scheduling, small enough to balance.
const ROW_CHUNK: usize = 256;

impl Marginal {
    /// For one row: log w_k + log N(x; μ_k, C_k) into `logp[k]`, and C_k⁻¹(x − μ_k) into `resid[k·d..]`.
    /// Written as plain loops: for the small d of oracle targets this is several times faster than
    /// whole-batch matrix products, which allocate a temporary per component.
    #[inline]
    fn row_terms(&self, x: &[f64], logp: &mut [f64], resid: &mut [f64]) {
        let d = x.len();
        for (k, lp) in logp.iter_mut().enumerate() {
            let mu = self.means[k].as_slice().expect("contiguous mean");
            let prec = self.precisions[k].as_slice().expect("contiguous precision");
            let y = &mut resid[k * d..(k + 1) * d];
            let mut quad = 0.0;
            for i in 0..d {
                let row = &prec[i * d..(i + 1) * d];
                let acc: f64 = row.iter().zip(x.iter().zip(mu)).map(|(p, (xv, m))| p * (xv - m)).sum();
                y[i] = acc;
                quad += (x[i] - mu[i]) * acc;
            }
            *lp = self.log_weights[k] + self.log_norms[k] - 0.5 * quad;
        }
    }

    /// Applies `f(row, logp, resid, out_row)` to every row in parallel chunks.
    fn map_rows(
        &self,
        x: ArrayView2<f64>,
        out: &mut Array2<f64>,
        f: impl Fn(&[f64], &mut [f64], &[f64], &mut [f64]) + Sync,
    ) {
        let d = self.dim();
        let kc = self.means.len();
        let x = x.as_standard_layout();
        out.axis_chunks_iter_mut(Axis(0), ROW_CHUNK)
            .into_par_iter()
            .zip(x.axis_chunks_iter(Axis(0), ROW_CHUNK))
            .for_each(|(mut o, xc)| {
                let mut logp = vec![0.0; kc];
                let mut resid = vec![0.0; kc * d];
                for (mut orow, xrow) in o.rows_mut().into_iter().zip(xc.rows()) {
                    let xs = xrow.as_slice().expect("standard layout");
                    self.row_terms(xs, &mut logp, &mut resid);
                    f(xs, &mut logp, &resid, orow.as_slice_mut().expect("standard layout"));
                }
            });
    }

    /// log p_t(x) for each row (log-sum-exp over components).
    pub fn log_density(&self, x: ArrayView2<f64>) -> Array1<f64> {
        let mut out = Array2::zeros((x.nrows(), 1));
        self.map_rows(x, &mut out, |_, logp, _, o| o[0] = log_sum_exp(logp.iter().copied()));
        out.column(0).to_owned()
    }

    /// ∇log p_t(x) for each row: −Σ_k γ_k(x) C_k⁻¹(x − μ_k), γ the responsibilities (stable softmax).
    pub fn score(&self, x: ArrayView2<f64>) -> Array2<f64> {
        let d = self.dim();
        let mut out = Array2::zeros(x.raw_dim());
        self.map_rows(x, &mut out, |_, logp, resid, o| {
            let m = logp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut z = 0.0;
            for lp in logp.iter_mut() {
                *lp = (*lp - m).exp();
                z += *lp;
            }
            for (i, oi) in o.iter_mut().enumerate() {
                *oi = -logp.iter().enumerate().map(|(k, g)| g * resid[k * d + i]).sum::<f64>() / z;
            }
        });
        out
    }

    pub fn dim(&self) -> usize {
        self.means[0].len()
    }
}

pub(crate) fn log_sum_exp(v: impl Iterator<Item = f64> + Clone) -> f64 {
    let m = v.clone().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + v.map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// An (n, d) matrix of independent N(0, 1) draws.
pub fn standard_normal<R: Rng + ?Sized>(n: usize, d: usize, rng: &mut R) -> Array2<f64> {
    Array2::from_shape_simple_fn((n, d), || rng.sample::<f64, _>(StandardNormal))
}

/// A matrix from nested rows, checking that every row has the same length; `input` names the
/// spec field in the error.
pub fn matrix_from_rows(rows: &[Vec<f64>], input: &str) -> Result<Array2<f64>, CoreError> {
    let n = rows.len();
    let m = rows.first().map_or(0, |r| r.len());
    if let Some(i) = rows.iter().position(|r| r.len() != m) {
        return Err(CoreError::invalid(
            input,
            format!("rows have different lengths (row 0 has {m} entries, row {i} has {})", rows[i].len()),
        ));
    }
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    Ok(Array2::from_shape_vec((n, m), flat).expect("n rows of m entries"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distribution::named_target;
    use ndarray::array;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn check_score_is_gradient(mix: &GaussianMixture, t: f64) {
        let sched = Schedule::vp_default();
        let marg = mix.marginal(&sched, t);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let x = mix.sample_marginal(20, &sched, t, &mut rng);
        let s = marg.score(x.view());
        let h = 1e-5;
        for i in 0..x.nrows() {
            for j in 0..x.ncols() {
                let mut xp = x.row(i).to_owned().insert_axis(Axis(0));
                let mut xm = xp.clone();
                xp[[0, j]] += h;
                xm[[0, j]] -= h;
                let fd = (marg.log_density(xp.view())[0] - marg.log_density(xm.view())[0]) / (2.0 * h);
                let tol = 1e-5 * (1.0 + s[[i, j]].abs());
                assert!((fd - s[[i, j]]).abs() < tol, "t={t} i={i} j={j}: fd={fd} score={}", s[[i, j]]);
            }
        }
    }

    #[test]
    fn gaussian_score_matches_finite_differences() {
        let g = GaussianMixture::from_vecs(&[1.0], &[vec![0.5, -1.0]], &[vec![vec![1.0, 0.3], vec![0.3, 0.5]]], "t")
            .unwrap();
        for &t in &[0.01, 0.3, 0.9] {
            check_score_is_gradient(&g, t);
        }
    }

    #[test]
    fn gmm_score_matches_finite_differences() {
        for name in ["ring8", "grid25"] {
            let g = named_target(name).unwrap();
            for &t in &[0.02, 0.2, 0.8] {
                check_score_is_gradient(&g, t);
            }
        }
    }

    #[test]
    fn gaussian_log_density_closed_form() {
        let g = GaussianMixture::from_vecs(&[1.0], &[vec![0.0]], &[vec![vec![2.0]]], "t").unwrap();
        let sched = Schedule::vp_default();
        let t = 0.4;
        let var = sched.alpha(t).powi(2) * 2.0 + sched.sigma2(t);
        let x = array![[0.7]];
        let lp = g.marginal(&sched, t).log_density(x.view())[0];
        let want = -0.5 * (2.0 * std::f64::consts::PI * var).ln() - 0.49 / (2.0 * var);
        assert!((lp - want).abs() < 1e-12);
    }

    #[test]
    fn sample_moments_match() {
        let g = named_target("ring8").unwrap();
        let (m, c) = g.moments();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let n = 40_000;
        let x = g.sample(n, &mut rng);
        let mean = x.mean_axis(Axis(0)).unwrap();
        // per-coordinate standard error of the mean is sqrt(c_ii / n); allow 4 SE
        for j in 0..2 {
            assert!((mean[j] - m[j]).abs() < 4.0 * (c[[j, j]] / n as f64).sqrt());
        }
        let var0 = x.column(0).mapv(|v| (v - mean[0]).powi(2)).mean().unwrap();
        // SE of a variance estimate ≈ sqrt((m4 − σ⁴)/n); the ring's kurtosis is below 3, so 4·sqrt(2σ⁴/n) is generous
        assert!((var0 - c[[0, 0]]).abs() < 4.0 * (2.0 * c[[0, 0]].powi(2) / n as f64).sqrt());
    }

    #[test]
    fn bad_mixtures_are_refused() {
        let e = GaussianMixture::from_vecs(&[1.0], &[vec![0.0, 0.0]], &[vec![vec![1.0, 0.0]]], "target").unwrap_err();
        assert!(e.to_string().contains("target.cov"), "{e}");
        let e = GaussianMixture::from_vecs(
            &[0.5, 0.6],
            &[vec![0.0], vec![1.0]],
            &[vec![vec![1.0]], vec![vec![1.0]]],
            "target",
        )
        .unwrap_err();
        assert!(e.to_string().contains("weights"), "{e}");
        assert!(named_target("moons9").unwrap_err().to_string().contains("ring8"));
    }
}
