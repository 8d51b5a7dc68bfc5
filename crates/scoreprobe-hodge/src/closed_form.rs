//! Gaussian closed form (SPEC §5): p_t = N(m, Σ) and an affine error e = E(x − m) + b.
//!
//! The L²(p_t) projection of an affine field onto gradients is the affine gradient field
//! ∇φ = S(x − m) + b with S symmetric: testing e − ∇φ against the quadratic potentials
//! ψ = ½(x − m)ᵀQ(x − m) gives sym((E − S)Σ) = 0, i.e. the Lyapunov equation
//! SΣ + ΣS = EΣ + ΣEᵀ. Then ‖∇φ‖² = tr(SΣS) + |b|² and ‖e‖² = tr(EΣEᵀ) + |b|².
//!
//! The model's score is affine, s(x) = Kx + k (`SyntheticModel::affine_form`), and the exact
//! score is −P(x − m) with P = Σ⁻¹, so E = K + P and b = e(m) = Km + k.

use crate::error::{HodgeError, NotApplicable};
use crate::problem::{check_time, EstimatorKind, HodgeEstimator, Problem};
use crate::{Estimate, HodgePoint};
use ndarray::{Array1, Array2};
use scoreprobe_core::linalg::{solve_lyapunov, spd_inverse_logdet};
use scoreprobe_core::model::synthetic::SyntheticModel;

/// (E_t, b_t, m_t, Σ_t) of an affine error e = E(x − m) + b on p_t = N(m_t, Σ_t).
pub type AffineError = (Array2<f64>, Array1<f64>, Array1<f64>, Array2<f64>);

/// The affine error of a synthetic model at time t: (E_t, b_t, m_t, Σ_t) with e = E(x − m) + b.
pub fn affine_error(model: &SyntheticModel, t: f64) -> Result<AffineError, HodgeError> {
    if !model.target.is_gaussian() {
        return Err(HodgeError::invalid(
            "closed-form",
            format!(
                "it needs a Gaussian target, and this target is a mixture of {} components",
                model.target.n_components()
            ),
        ));
    }
    let (kk, k) = model.affine_form(t).ok_or_else(|| {
        HodgeError::invalid(
            "closed-form",
            format!(
                "it needs an error affine in x, and model '{}' is not affine",
                scoreprobe_core::ScoreModel::describe(model)
            ),
        )
    })?;
    let (m, sigma) = model.target.moments_at(&model.schedule, t);
    let (p, _) = spd_inverse_logdet(sigma.view(), "marginal covariance")?;
    let e = &kk + &p;
    let b = kk.dot(&m) + &k;
    Ok((e, b, m, sigma))
}

/// (‖e‖², ‖∇φ‖², S) for p = N(·, Σ) and e = E(x − m) + b.
pub fn gaussian_split(e: &Array2<f64>, b: &Array1<f64>, sigma: &Array2<f64>) -> (f64, f64, Array2<f64>) {
    let es = e.dot(sigma);
    let rhs = &es + &es.t();
    let s = solve_lyapunov(sigma.view(), rhs.view());
    let bb = b.dot(b);
    let l2 = (&es * e).sum() + bb; // tr(EΣEᵀ) = Σ_ij (EΣ)_ij E_ij
    let grad = (&s.dot(sigma) * &s).sum() + bb; // tr(SΣS), S symmetric
    (l2, grad.min(l2), s)
}

/// The `closed-form` estimator.
#[derive(Clone, Debug, Default)]
pub struct ClosedForm;

impl HodgeEstimator for ClosedForm {
    fn kind(&self) -> EstimatorKind {
        EstimatorKind::ClosedForm
    }

    fn applies(&self, problem: &Problem) -> Result<(), NotApplicable> {
        let oracle = problem
            .oracle
            .ok_or_else(|| NotApplicable("it needs a synthetic model with an exact affine form".into()))?;
        match affine_error(oracle, 0.5) {
            Ok(_) => Ok(()),
            Err(HodgeError::Invalid { reason, .. }) => Err(NotApplicable(reason)),
            Err(e) => Err(NotApplicable(e.to_string())),
        }
    }

    fn point(&self, problem: &Problem, t: f64, _seed: u64) -> Result<HodgePoint, HodgeError> {
        check_time(t)?;
        self.applies(problem).map_err(|why| HodgeError::invalid("closed-form", why.0))?;
        let oracle = problem.oracle.expect("checked");
        let (e, b, _, sigma) = affine_error(oracle, t)?;
        let (l2, grad, _) = gaussian_split(&e, &b, &sigma);
        Ok(HodgePoint::new(
            t,
            problem.schedule.sigma2(t),
            Estimate::exact(l2),
            Estimate::exact(grad),
            "closed-form tr(EΣEᵀ) + |b|²",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn symmetric_error_is_all_gradient_and_rotation_is_all_solenoidal() {
        let sigma = array![[1.0, 0.3], [0.3, 0.5]];
        let b = array![0.1, -0.2];
        let e = array![[0.4, 0.1], [0.1, -0.3]];
        let (l2, g, _) = gaussian_split(&e, &b, &sigma);
        assert!((l2 - g).abs() < 1e-12 * l2, "symmetric E: l2={l2} grad={g}");
        // E = AΣ⁻¹ with A antisymmetric: A∇log p up to sign, divergence-free under p
        let (p, _) = spd_inverse_logdet(sigma.view(), "s").unwrap();
        let a = array![[0.0, 2.0], [-2.0, 0.0]];
        let (l2, g, _) = gaussian_split(&a.dot(&p), &Array1::zeros(2), &sigma);
        assert!(l2 > 1.0 && g.abs() < 1e-12 * l2, "rotation: l2={l2} grad={g}");
    }

    #[test]
    fn projection_residual_is_orthogonal_to_quadratic_gradients() {
        // E[(e − ∇φ)·∇ψ] = tr(Qᵀ(E − S)Σ) for ψ = ½xᵀQx, Q symmetric; plus b − b for linear ψ
        let sigma = array![[2.0, -0.4, 0.1], [-0.4, 1.0, 0.2], [0.1, 0.2, 0.6]];
        let e = array![[0.3, 1.0, -0.2], [0.0, 0.5, 0.7], [0.4, -0.1, 0.2]];
        let (_, _, s) = gaussian_split(&e, &Array1::zeros(3), &sigma);
        let resid = (&e - &s).dot(&sigma);
        for i in 0..3 {
            for j in 0..3 {
                assert!((resid[[i, j]] + resid[[j, i]]).abs() < 1e-12);
            }
        }
    }
}
