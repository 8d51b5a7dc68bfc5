//! Exact generated laws for Gaussian targets with affine-score models (SPEC §6 exact references).
//!
//! With s(x, t) = K_t x + k_t the reverse dynamics are linear, so the generated law stays Gaussian.
//! Running time backwards (τ = −t), the continuous-time laws obey
//!   SDE: dμ/dτ = ½βμ + β(Kμ + k),  dC/dτ = β[(½I + K)C + C(½I + K)ᵀ + I]
//!   ODE: dμ/dτ = ½βμ + ½β(Kμ + k), dC/dτ = β[(½I + ½K)C + C(½I + ½K)ᵀ]
//! integrated here with classical RK4. The law of the *discretised* Euler–Maruyama chain is also
//! exact (an affine recursion), which separates discretisation error from Monte-Carlo error in tests.

use crate::error::CoreError;
use crate::linalg::{gaussian_kl, gaussian_w2_squared};
use crate::model::synthetic::SyntheticModel;
use crate::model::ScoreModel;
use crate::schedule::T_END;
use ndarray::{Array1, Array2};
use serde::Serialize;

/// Where the reverse dynamics start at t = T.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// The prior N(0, I), as samplers do by default.
    Prior,
    /// The true marginal p_T (removes the prior mismatch).
    Marginal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dynamics {
    ReverseSde,
    ProbabilityFlow,
}

#[derive(Clone, Debug, Serialize)]
pub struct ExactLaw {
    pub t_min: f64,
    pub mean: Array1<f64>,
    pub cov: Array2<f64>,
    /// Mean and covariance of the reference p_{t_min}.
    pub target_mean: Array1<f64>,
    pub target_cov: Array2<f64>,
    /// KL(p_{t_min} ‖ q_{t_min}) in nats.
    pub kl: f64,
    /// W2(p_{t_min}, q_{t_min}) with cost |x − y|² (the square root of the optimal cost).
    pub w2: f64,
}

fn initial_moments(model: &SyntheticModel, init: Init) -> (Array1<f64>, Array2<f64>) {
    let d = model.target.dim();
    match init {
        Init::Prior => (Array1::zeros(d), Array2::eye(d)),
        Init::Marginal => model.target.moments_at(&model.schedule, T_END),
    }
}

fn affine(model: &SyntheticModel, t: f64) -> Result<(Array2<f64>, Array1<f64>), CoreError> {
    model.affine_form(t).ok_or_else(|| CoreError::NoExactLaw { model: model.describe() })
}

fn rhs(
    model: &SyntheticModel,
    dynamics: Dynamics,
    t: f64,
    mu: &Array1<f64>,
    c: &Array2<f64>,
) -> (Array1<f64>, Array2<f64>) {
    let (kk, k) = model.affine_form(t).expect("checked affine");
    let beta = model.schedule.beta(t);
    let d = mu.len();
    let eye = Array2::<f64>::eye(d);
    let w = match dynamics {
        Dynamics::ReverseSde => 1.0,
        Dynamics::ProbabilityFlow => 0.5,
    };
    let dmu = (mu * 0.5 + &((kk.dot(mu) + &k) * w)) * beta;
    let a = &eye * 0.5 + &(&kk * w);
    let ac = a.dot(c);
    let mut dc = &ac + &ac.t();
    if dynamics == Dynamics::ReverseSde {
        dc += &eye;
    }
    (dmu, dc * beta)
}

/// Integrates the moment ODEs from T down to `t_min` with `substeps` RK4 steps.
pub fn generated_law(
    model: &SyntheticModel,
    dynamics: Dynamics,
    init: Init,
    t_min: f64,
    substeps: usize,
) -> Result<ExactLaw, CoreError> {
    affine(model, T_END)?;
    let (mut mu, mut c) = initial_moments(model, init);
    let h = (T_END - t_min) / substeps as f64;
    for i in 0..substeps {
        let t = T_END - i as f64 * h;
        // τ increases as t decreases: derivative in τ evaluated at t, t − h/2, t − h
        let (k1m, k1c) = rhs(model, dynamics, t, &mu, &c);
        let (k2m, k2c) = rhs(model, dynamics, t - 0.5 * h, &(&mu + &(&k1m * (0.5 * h))), &(&c + &(&k1c * (0.5 * h))));
        let (k3m, k3c) = rhs(model, dynamics, t - 0.5 * h, &(&mu + &(&k2m * (0.5 * h))), &(&c + &(&k2c * (0.5 * h))));
        let (k4m, k4c) = rhs(model, dynamics, t - h, &(&mu + &(&k3m * h)), &(&c + &(&k3c * h)));
        mu = &mu + &((k1m + &k2m * 2.0 + &k3m * 2.0 + k4m) * (h / 6.0));
        c = &c + &((k1c + &k2c * 2.0 + &k3c * 2.0 + k4c) * (h / 6.0));
        c = crate::linalg::symmetrize(c.view());
    }
    finish(model, t_min, mu, c)
}

/// The exact law of the Euler–Maruyama chain itself on the sampler's grid
/// (μ ← Mμ + βhk, C ← MCMᵀ + βhI with M = (1 + ½βh)I + βhK).
pub fn euler_maruyama_law(model: &SyntheticModel, init: Init, t_min: f64, steps: usize) -> Result<ExactLaw, CoreError> {
    affine(model, T_END)?;
    let (mut mu, mut c) = initial_moments(model, init);
    let d = mu.len();
    let eye = Array2::<f64>::eye(d);
    for j in (0..steps).rev() {
        let t = t_min + (T_END - t_min) * (j + 1) as f64 / steps as f64;
        let h = (T_END - t_min) / steps as f64;
        let beta = model.schedule.beta(t);
        let (kk, k) = model.affine_form(t).expect("checked affine");
        let m = &eye * (1.0 + 0.5 * beta * h) + &kk * (beta * h);
        mu = m.dot(&mu) + &k * (beta * h);
        c = m.dot(&c).dot(&m.t()) + &eye * (beta * h);
    }
    finish(model, t_min, mu, c)
}

fn finish(model: &SyntheticModel, t_min: f64, mean: Array1<f64>, cov: Array2<f64>) -> Result<ExactLaw, CoreError> {
    let (tm, tc) = model.target.moments_at(&model.schedule, t_min);
    let kl = gaussian_kl(tm.view(), tc.view(), mean.view(), cov.view())?;
    let w2 = gaussian_w2_squared(tm.view(), tc.view(), mean.view(), cov.view()).sqrt();
    Ok(ExactLaw { t_min, mean, cov, target_mean: tm, target_cov: tc, kl, w2 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distribution::GaussianMixture;
    use crate::model::synthetic::ErrorField;
    use crate::schedule::Schedule;
    use ndarray::array;

    fn gaussian() -> GaussianMixture {
        GaussianMixture::from_vecs(&[1.0], &[vec![0.5, -1.0]], &[vec![vec![1.0, 0.3], vec![0.3, 0.5]]], "t").unwrap()
    }

    #[test]
    fn exact_score_reproduces_the_target() {
        let m = SyntheticModel::exact(gaussian(), Schedule::vp_default());
        for dynamics in [Dynamics::ReverseSde, Dynamics::ProbabilityFlow] {
            let law = generated_law(&m, dynamics, Init::Marginal, 1e-3, 2000).unwrap();
            assert!(law.kl < 1e-9, "{dynamics:?}: kl={}", law.kl);
            // from the prior the only error is KL(p_T‖π), tiny for β_max = 20
            let law = generated_law(&m, dynamics, Init::Prior, 1e-3, 2000).unwrap();
            assert!(law.kl < 1e-3, "{dynamics:?}: kl={}", law.kl);
        }
    }

    #[test]
    fn solenoidal_family_keeps_the_law() {
        for lambda in [0.0, 1.0, 3.0, 10.0] {
            let m = SyntheticModel {
                target: gaussian(),
                schedule: Schedule::vp_default(),
                error: ErrorField::Solenoidal { a: array![[0.0, 1.0], [-1.0, 0.0]], lambda },
            };
            let law = generated_law(&m, Dynamics::ReverseSde, Init::Marginal, 1e-3, 4000).unwrap();
            assert!(law.kl < 1e-7, "lambda={lambda}: kl={}", law.kl);
        }
    }

    #[test]
    fn affine_error_moves_the_law_and_em_law_converges() {
        let m = SyntheticModel {
            target: gaussian(),
            schedule: Schedule::vp_default(),
            error: ErrorField::Affine { e: array![[0.3, 0.0], [0.1, -0.2]], b: array![0.2, 0.0] },
        };
        let cont = generated_law(&m, Dynamics::ReverseSde, Init::Prior, 1e-3, 4000).unwrap();
        assert!(cont.kl > 1e-3);
        // the EM chain's law converges to the continuous one at first order in the step size
        let e1 = (euler_maruyama_law(&m, Init::Prior, 1e-3, 250).unwrap().mean - &cont.mean).mapv(f64::abs).sum();
        let e2 = (euler_maruyama_law(&m, Init::Prior, 1e-3, 1000).unwrap().mean - &cont.mean).mapv(f64::abs).sum();
        assert!(e2 < e1 / 2.5 && e2 < 0.02, "e1={e1} e2={e2}");
    }

    #[test]
    fn non_affine_models_are_refused() {
        let m = SyntheticModel::exact(crate::distribution::named_target("ring8").unwrap(), Schedule::vp_default());
        assert!(generated_law(&m, Dynamics::ReverseSde, Init::Prior, 1e-3, 10)
            .unwrap_err()
            .to_string()
            .contains("Gaussian target"));
    }
}
