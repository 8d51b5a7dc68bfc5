//! m_c(t) in closed form, to test the projection form against: a Gaussian law N(μ, C), an affine
//! error e(x) = Ex + f and a Gaussian test function φ(x) = exp(−|x − c|²/(2h²)).
//!
//! ∇φ = −φ (x − c)/h², and p(x)φ(x) = Z · N(x; μ̃, C̃) with C̃ = (C⁻¹ + I/h²)⁻¹,
//! μ̃ = C̃(C⁻¹μ + c/h²) and Z = E_p[φ] = det(I + C/h²)^(−1/2) exp(−½(c − μ)ᵀ(C + h²I)⁻¹(c − μ)), so
//!     m = E_p[e·∇φ] = −(Z/h²) [(Eμ̃ + f)·(μ̃ − c) + tr(E C̃)].
//! The law may be the data's marginal p_t (what the projection form estimates) or any other
//! Gaussian, e.g. the model's own marginal q_t of an affine model (`scoreprobe_core::exact`).

use crate::error::SiemError;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use scoreprobe_core::linalg::spd_inverse_logdet;
use scoreprobe_core::model::synthetic::SyntheticModel;

fn core_err(e: scoreprobe_core::CoreError) -> SiemError {
    SiemError::Core(e)
}

/// E_{N(μ, C)}[(Ex + f)·∇φ] for φ(x) = exp(−|x − c|²/(2h²)).
pub fn gaussian_affine_m(
    mean: ArrayView1<f64>,
    cov: ArrayView2<f64>,
    e: ArrayView2<f64>,
    f: ArrayView1<f64>,
    center: ArrayView1<f64>,
    h: f64,
) -> Result<f64, SiemError> {
    let d = mean.len();
    let h2 = h * h;
    let eye = Array2::<f64>::eye(d);
    let (prec, _) = spd_inverse_logdet(cov, "covariance").map_err(core_err)?;
    let (c_tilde, _) = spd_inverse_logdet((&prec + &(&eye / h2)).view(), "tilted precision").map_err(core_err)?;
    let mu_tilde = c_tilde.dot(&(prec.dot(&mean) + &(&center / h2)));
    let (widened_inv, widened_logdet) =
        spd_inverse_logdet((&cov + &(&eye * h2)).view(), "C + h²I").map_err(core_err)?;
    let diff = &center - &mean;
    // det(I + C/h²) = det(C + h²I)/h^(2d)
    let log_det_ratio = widened_logdet - d as f64 * h2.ln();
    let z = (-0.5 * log_det_ratio - 0.5 * diff.dot(&widened_inv.dot(&diff))).exp();
    let trace: f64 = e.dot(&c_tilde).diag().sum();
    let bracket = (e.dot(&mu_tilde) + f).dot(&(&mu_tilde - &center)) + trace;
    Ok(-z / h2 * bracket)
}

/// The error of a synthetic model on a Gaussian target as an affine map e_t(x) = E x + f, or None
/// when it is not affine.
pub fn affine_error(model: &SyntheticModel, t: f64) -> Option<(Array2<f64>, Array1<f64>)> {
    let (kk, k) = model.affine_form(t)?;
    let exact = SyntheticModel::exact(model.target.clone(), model.schedule.clone());
    let (k0, c0) = exact.affine_form(t)?;
    Some((kk - k0, k - c0))
}

/// SIEM^proj and its per-centre values in closed form.
#[derive(Clone, Debug, PartialEq)]
pub struct ExactProjection {
    pub siem: f64,
    pub per_center: Vec<f64>,
}

/// SIEM^proj = Σ_t w_t (1/K) Σ_c m_c(t)² of an affine synthetic model on a Gaussian target, on the
/// times and weights `steps` ((t, β(t)²Δt) pairs, e.g. from a report's profile), Gaussian test
/// functions at the rows of `centers` with `bandwidths`, under the law `law(t)` = (mean, cov)
/// (the target's p_t for what the projection form estimates). None when the model is not affine.
pub fn exact_projection(
    model: &SyntheticModel,
    steps: &[(f64, f64)],
    centers: ArrayView2<f64>,
    bandwidths: &[f64],
    law: impl Fn(f64) -> (Array1<f64>, Array2<f64>),
) -> Result<Option<ExactProjection>, SiemError> {
    let k = centers.nrows();
    let mut per_center = vec![0.0; k];
    for &(t, w) in steps {
        let Some((e, f)) = affine_error(model, t) else { return Ok(None) };
        let (mean, cov) = law(t);
        for (c, (center, h)) in centers.rows().into_iter().zip(bandwidths).enumerate() {
            let m = gaussian_affine_m(mean.view(), cov.view(), e.view(), f.view(), center, *h)?;
            per_center[c] += w * m * m;
        }
    }
    Ok(Some(ExactProjection { siem: per_center.iter().sum::<f64>() / k as f64, per_center }))
}

/// The quadratic family's Q_t = |E e|² + ‖sym(E[e (x − c)ᵀ])‖²_F in closed form under N(μ, C) for
/// an affine error e(x) = Ex + f: E[e] = Eμ + f, E[e (x − c)ᵀ] = EC + (Eμ + f)(μ − c)ᵀ.
/// Returns (mean part, covariance part).
pub fn gaussian_affine_q(
    mean: ArrayView1<f64>,
    cov: ArrayView2<f64>,
    e: ArrayView2<f64>,
    f: ArrayView1<f64>,
    center: ArrayView1<f64>,
) -> (f64, f64) {
    let m = e.dot(&mean) + f;
    let diff = &mean - &center;
    let d = mean.len();
    let a = e.dot(&cov) + Array2::from_shape_fn((d, d), |(i, j)| m[i] * diff[j]);
    let cov_part = Array2::from_shape_fn((d, d), |(i, j)| 0.5 * (a[[i, j]] + a[[j, i]])).mapv(|v| v * v).sum();
    (m.dot(&m), cov_part)
}

/// SIEM^quad = Σ_t w_t Q_t of an affine synthetic model on a Gaussian target, on the times and
/// weights `steps` ((t, β(t)²Δt) pairs), with c_t = α_t c₀ (`alpha(t)`), under `law(t)`.
/// Returns (mean part, covariance part); None when the model is not affine.
pub fn exact_quadratic(
    model: &SyntheticModel,
    steps: &[(f64, f64)],
    c0: ArrayView1<f64>,
    law: impl Fn(f64) -> (Array1<f64>, Array2<f64>),
) -> Option<(f64, f64)> {
    let (mut mean_part, mut cov_part) = (0.0, 0.0);
    for &(t, w) in steps {
        let (e, f) = affine_error(model, t)?;
        let (mean, cov) = law(t);
        let c = &c0 * model.schedule.alpha(t);
        let (a, b) = gaussian_affine_q(mean.view(), cov.view(), e.view(), f.view(), c.view());
        mean_part += w * a;
        cov_part += w * b;
    }
    Some((mean_part, cov_part))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use scoreprobe_core::distribution::GaussianMixture;

    /// The closed form against a plain Monte-Carlo average of e·∇φ over 400 000 draws.
    #[test]
    fn closed_form_matches_monte_carlo() {
        let mean = array![0.4, -0.3];
        let cov = array![[1.0, 0.3], [0.3, 0.6]];
        let e = array![[0.5, -0.2], [0.7, 0.1]];
        let f = array![0.2, -0.4];
        let center = array![0.8, 0.1];
        let h = 0.9;
        let exact = gaussian_affine_m(mean.view(), cov.view(), e.view(), f.view(), center.view(), h).unwrap();
        let target =
            GaussianMixture::from_vecs(&[1.0], &[mean.to_vec()], &[vec![vec![1.0, 0.3], vec![0.3, 0.6]]], "t").unwrap();
        let x = target.sample(400_000, &mut ChaCha8Rng::seed_from_u64(1));
        let vals: Vec<f64> = x
            .rows()
            .into_iter()
            .map(|r| {
                let diff = &r - &center;
                let phi = (-diff.dot(&diff) / (2.0 * h * h)).exp();
                let err = e.dot(&r) + &f;
                -phi / (h * h) * err.dot(&diff)
            })
            .collect();
        let n = vals.len() as f64;
        let m = vals.iter().sum::<f64>() / n;
        let se = (vals.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1.0) / n).sqrt();
        assert!((exact - m).abs() < 4.0 * se, "closed form {exact} vs MC {m} ± {se}");
        assert!(exact.abs() > 10.0 * se);
    }

    /// A p-solenoidal affine error (e = A C⁻¹(x − μ) with A antisymmetric) has m = 0 at every centre.
    #[test]
    fn solenoidal_affine_error_has_zero_projection() {
        let mean = array![0.5, -1.0];
        let cov = array![[1.0, 0.3], [0.3, 0.5]];
        let (prec, _) = spd_inverse_logdet(cov.view(), "c").unwrap();
        let a = array![[0.0, 2.0], [-2.0, 0.0]];
        let e = a.dot(&prec);
        let f = -e.dot(&mean);
        for center in [array![0.0, 0.0], array![1.0, 0.5], array![-0.7, -1.2]] {
            let m = gaussian_affine_m(mean.view(), cov.view(), e.view(), f.view(), center.view(), 0.8).unwrap();
            assert!(m.abs() < 1e-14, "{m}");
        }
    }
}
