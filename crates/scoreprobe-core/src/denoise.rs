//! The denoising draw shared by every estimator that needs no true score (SPEC §5): clean rows
//! x₀ and Gaussian noise ξ give x_t = α_t x₀ + σ_t ξ ~ p_t, and the target
//! w = ξ + σ_t s_θ(x_t, t) = ξ − ε_θ(x_t, t) has E[w | x_t] = σ_t e_t(x_t) by Tweedie's identity
//! E[ξ | x_t] = −σ_t ∇log p_t(x_t). The Hodge critics, the SIEM critic source and DSM training
//! all draw this way; callers draw x₀ and ξ themselves (each keeps its own order of draws).

use crate::model::{score_checked, ModelError, ScoreModel};
use crate::schedule::Schedule;
use ndarray::{Array2, ArrayView2, Zip};

/// α x₀ + σ ξ for one coordinate (the form every draw uses, so all agree to the last bit).
#[inline]
pub fn noised_value(x0: f64, xi: f64, alpha: f64, sigma: f64) -> f64 {
    alpha * x0 + sigma * xi
}

/// x_t = α x₀ + σ ξ, row by row.
pub fn noised(x0: ArrayView2<f64>, xi: ArrayView2<f64>, alpha: f64, sigma: f64) -> Array2<f64> {
    assert_eq!(x0.dim(), xi.dim(), "noised: clean rows and noise of different shapes");
    Zip::from(&x0).and(&xi).map_collect(|&a, &b| noised_value(a, b, alpha, sigma))
}

/// A forward-noised batch at time t: the states x_t and the noise ξ that made them.
#[derive(Clone, Debug)]
pub struct NoisedBatch {
    pub t: f64,
    pub alpha: f64,
    pub sigma: f64,
    /// x_t = α_t x₀ + σ_t ξ.
    pub x: Array2<f64>,
    pub xi: Array2<f64>,
}

impl NoisedBatch {
    /// Noises clean rows `x0` with `xi` at time `t` of `schedule`.
    pub fn new(x0: ArrayView2<f64>, xi: Array2<f64>, schedule: &Schedule, t: f64) -> Self {
        let (alpha, sigma) = (schedule.alpha(t), schedule.sigma(t));
        let x = noised(x0, xi.view(), alpha, sigma);
        NoisedBatch { t, alpha, sigma, x, xi }
    }

    /// σ_t s_θ(x_t, t) (ε-units), the model's score checked for shape and finiteness.
    pub fn scaled_score(&self, model: &dyn ScoreModel) -> Result<Array2<f64>, ModelError> {
        Ok(score_checked(model, self.x.view(), self.t)? * self.sigma)
    }

    /// The denoising target w = ξ + σ_t s_θ(x_t, t); consumes the batch, returns (x_t, w).
    pub fn denoising_target(self, model: &dyn ScoreModel) -> Result<(Array2<f64>, Array2<f64>), ModelError> {
        let scaled = self.scaled_score(model)?;
        Ok((self.x, denoising_target(self.xi, scaled)))
    }
}

/// w = ξ + σ_t s_θ from the noise and the scaled score.
pub fn denoising_target(xi: Array2<f64>, scaled_score: Array2<f64>) -> Array2<f64> {
    xi + &scaled_score
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distribution::{standard_normal, GaussianMixture};
    use crate::model::synthetic::SyntheticModel;
    use ndarray::Axis;
    use rand::SeedableRng;

    #[test]
    fn the_target_has_conditional_mean_sigma_times_the_error() {
        // exact model of a 1-D Gaussian N(0, 1): p_t = N(0, 1) for every t under VP, e_t = 0, so
        // E[w] = 0 and E[w · x_t] = E[(ξ + σ s)(α x₀ + σ ξ)] = σ − σ E[x_t²]/1 = 0; for a model off
        // by a constant b, E[w] = σ b.
        let target = GaussianMixture::from_vecs(&[1.0], &[vec![0.0]], &[vec![vec![1.0]]], "t").unwrap();
        let sched = Schedule::vp_default();
        let exact = SyntheticModel::exact(target.clone(), sched.clone());
        let shifted = SyntheticModel {
            error: crate::model::synthetic::ErrorField::Affine { e: ndarray::array![[0.0]], b: ndarray::array![0.5] },
            ..exact.clone()
        };
        let n = 200_000;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let x0 = target.sample(n, &mut rng);
        let xi = standard_normal(n, 1, &mut rng);
        let t = 0.3;
        for (model, want) in [(&exact, 0.0), (&shifted, sched.sigma(t) * 0.5)] {
            let (x, w) = NoisedBatch::new(x0.view(), xi.clone(), &sched, t).denoising_target(model).unwrap();
            let mean = w.mean_axis(Axis(0)).unwrap()[0];
            // w ≈ ξ − E[ξ | x] + σ b: its sd is ≤ 1, so 5 SE = 5/√n
            assert!((mean - want).abs() < 5.0 / (n as f64).sqrt(), "mean {mean} vs {want}");
            assert_eq!(x[[7, 0]], sched.alpha(t) * x0[[7, 0]] + sched.sigma(t) * xi[[7, 0]]);
        }
    }
}
