//! The neural critic of SPEC §5 (a): a scalar network χ fitted per time t by maximising the dual
//! (Sobolev) objective, its held-out value giving the gradient part ‖∇φ_t‖².
//!
//! With x_t = α_t x₀ + σ_t ξ and w = ξ + σ_t s_θ(x_t, t) = ξ − ε_θ(x_t, t),
//!   J(χ) = E[2 w·∇χ(x_t) − |∇χ(x_t)|²] = E[2(ξ − ε_θ)·∇χ − |∇χ|²].
//! By the denoising identity E[∇log p_t(x_t)·g(x_t)] = E[−ξ/σ_t·g(x_t)] (Tweedie), E[w | x_t] =
//! σ_t e_t(x_t), so J(χ) = 2σ_t E_p[e·∇χ] − E_p|∇χ|² = σ_t²‖∇φ_t‖² − ‖∇χ − σ_t∇φ_t‖²: the true
//! score disappears, sup_χ J = G_t = σ_t²‖∇φ_t‖² (ε-units) at ∇χ* = σ_t∇φ_t, and ‖∇φ_t‖² = G_t/σ_t²
//! in score units (the same units as every other estimator here; SIEM's ê_t = ∇χ*_t/σ_t).
//!
//! Per time t ([`HodgeEstimator::point`]): a time-conditioned SiLU MLP χ (scoreprobe-nn
//! [`JvpMlp`](scoreprobe_nn::JvpMlp), here only ever fed the one t) is trained with AdamW on fresh
//! batches of forward-noised draws every step ([`scoreprobe_nn::critic_fit`]); ∇ₓχ comes from
//! forward-mode tangents (exact from the d unit directions for d ≤ 64, unbiased Rademacher
//! directions above). Then J is evaluated on n fresh held-out draws: `gradient` is the mean of the
//! per-sample terms / σ_t² with SE = their sd/√n/σ_t². A finite, imperfectly trained critic is
//! biased low by ‖∇χ − σ_t∇φ_t‖²/σ_t² (never high); the SE does not include that bias.
//!
//! Forms ([`CriticIdentity`]): the denoising one above always works (also on `Data::Samples`),
//! but its noise ξ − E[ξ | x_t] has covariance ≈ I at small σ_t while G_t → 0, so its relative SE
//! grows like 1/(σ_t‖∇φ_t‖√n). When the exact error is known (a synthetic model, or any model on a
//! target with an exact score), `Auto` uses the oracle form w = σ_t e_t(x_t) for training and
//! evaluation instead: the same objective and maximiser without the noise of ξ. The form used is
//! named in `l2_method` (after "gradient:").
//!
//! ‖e_t‖²: by exact Monte Carlo when the error is known (as `random-features` does); otherwise by
//! an unconstrained vector critic h (an MLP with d outputs) maximising E[2w·h − |h|²] in the same
//! form (sup = σ_t²‖e_t‖² at h = σ_t e_t), held out the same way. The solenoidal energy is the
//! difference ‖e_t‖² − ‖∇φ_t‖²; [`CriticL2::Denoising`] instead reports the denoising loss, an upper
//! bound ‖e_t‖² + C_t with a model-independent C_t (no fit). There, and only there, the gradient part is clipped to ≤ ‖e_t‖²
//! (a difference of two noisy estimates is reported as 0, not negative); `gradient` itself is
//! reported unclipped.

use crate::error::{HodgeError, NotApplicable};
use crate::problem::{check_time, mean_se, EstimatorKind, HodgeEstimator, Problem};
use crate::{Estimate, HodgePoint};
use ndarray::{Array2, ArrayView2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use scoreprobe_core::denoise::NoisedBatch;
use scoreprobe_core::distribution::standard_normal;
use scoreprobe_core::model::score_checked;
use scoreprobe_core::{ModelError, Purpose, SeedStream};
/// Re-exported: the fit options are part of [`CriticConfig`].
pub use scoreprobe_nn::critic_fit::CriticFitConfig;
use scoreprobe_nn::critic_fit::{fit_scalar_critic, fit_vector_critic, CriticBatch};

/// Which identity removes the unknown true score from E_p[e·∇χ].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CriticIdentity {
    /// The oracle form w = σ_t e_t when the exact error is known (synthetic model or exact target),
    /// else the denoising form.
    Auto,
    /// Always the denoising form w = ξ + σ_t s_θ (SPEC §5), even when the exact error is known.
    Denoising,
}

/// Where ‖e_t‖² comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CriticL2 {
    /// Exact Monte Carlo when the error is known, else the vector critic.
    Auto,
    /// Always the vector critic (in the form of the gradient fit).
    VectorCritic,
    /// The denoising loss on the held-out draws, E|ξ + σ_t s_θ(x_t)|²/σ_t² = ‖e_t‖² + C_t, with
    /// C_t = E|ξ/σ_t + ∇log p_t(x_t)|² ≥ 0 the same for every model: an upper bound on ‖e_t‖² that
    /// ranks models exactly like ‖e_t‖², needs no fit, and keeps the Girsanov bound a bound. For
    /// high-dimensional data (images), where a vector critic with d outputs overfits its draws
    /// (held-out values far below zero at affordable budgets).
    Denoising,
}

#[derive(Clone, Debug)]
pub struct CriticConfig {
    /// Held-out draws per time for each evaluated part (gradient, and ‖e_t‖²).
    pub n: usize,
    /// Network and optimiser (hidden 64, depth 2, 1000 steps of 512 fresh draws, AdamW 2e-3).
    pub fit: CriticFitConfig,
    pub identity: CriticIdentity,
    pub l2: CriticL2,
}

impl Default for CriticConfig {
    fn default() -> Self {
        Self { n: 40_000, fit: CriticFitConfig::default(), identity: CriticIdentity::Auto, l2: CriticL2::Auto }
    }
}

impl CriticConfig {
    pub fn validate(&self) -> Result<(), HodgeError> {
        if self.n < 2 {
            return Err(HodgeError::invalid("critic", format!("need n ≥ 2 held-out samples, got {}", self.n)));
        }
        Ok(self.fit.validate()?)
    }
}

/// The `critic` estimator.
#[derive(Clone, Debug, Default)]
pub struct Critic {
    pub config: CriticConfig,
}

/// The draws' form at one time: denoising (w = ξ + σ s_θ) or oracle (w = σ e_t, exact).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Denoising,
    Oracle,
}

impl Form {
    fn name(self) -> &'static str {
        match self {
            Form::Denoising => "denoising identity",
            Form::Oracle => "oracle form (exact e_t)",
        }
    }
}

/// The exact error e_t at the rows of x, when known.
fn exact_error(problem: &Problem, x: ArrayView2<f64>, t: f64) -> Result<Option<Array2<f64>>, ModelError> {
    Ok(match (problem.oracle, problem.target()) {
        (Some(oracle), _) => Some(oracle.error(x, t)),
        (None, Some(target)) => {
            Some(score_checked(problem.model, x, t)? - target.marginal(problem.schedule, t).score(x))
        }
        (None, None) => None,
    })
}

/// n draws at time t: x_t ~ p_t and w with E[w | x_t] = σ_t e_t(x_t).
fn draw(problem: &Problem, t: f64, form: Form, n: usize, rng: &mut ChaCha8Rng) -> Result<CriticBatch, ModelError> {
    let x0 = problem.draw_x0(n, rng);
    let xi = standard_normal(n, problem.dim(), rng);
    let noised = NoisedBatch::new(x0.view(), xi, problem.schedule, t);
    let (x, w) = match form {
        Form::Denoising => noised.denoising_target(problem.model)?,
        Form::Oracle => {
            let e = exact_error(problem, noised.x.view(), t)?.expect("oracle form only with a known error");
            (noised.x, e * noised.sigma)
        }
    };
    Ok(CriticBatch { x, t: vec![t; n], w })
}

impl HodgeEstimator for Critic {
    fn kind(&self) -> EstimatorKind {
        EstimatorKind::Critic
    }

    fn applies(&self, _problem: &Problem) -> Result<(), NotApplicable> {
        Ok(())
    }

    fn point(&self, problem: &Problem, t: f64, seed: u64) -> Result<HodgePoint, HodgeError> {
        check_time(t)?;
        let cfg = &self.config;
        cfg.validate()?;
        let d = problem.dim();
        let sigma2 = problem.schedule.sigma2(t);
        let known = problem.oracle.is_some() || problem.target().is_some();
        let form = match cfg.identity {
            CriticIdentity::Auto if known => Form::Oracle,
            _ => Form::Denoising,
        };
        let device = scoreprobe_nn::default_device();
        let mut drawer = |n: usize, rng: &mut ChaCha8Rng| draw(problem, t, form, n, rng);

        // gradient part: fit on fresh draws, evaluate on n held-out ones
        let seeds = SeedStream::new(seed);
        let (chi, log) = fit_scalar_critic(d, &cfg.fit, seeds.derive(Purpose::CriticFit), &device, &mut drawer)?;
        let mut rng = seeds.rng(Purpose::CriticHeldOut);
        let held = draw(problem, t, form, cfg.n, &mut rng).map_err(HodgeError::model_at(t))?;
        let gradient = mean_se(chi.terms(&held, &mut rng)?).scaled(1.0 / sigma2);
        let mut fit_rows = log.rows;

        let l2_seed = seeds.derive(Purpose::L2);
        let (l2, l2_method) = match (cfg.l2, problem.oracle, problem.target()) {
            (CriticL2::Auto, Some(oracle), _) => {
                let (v, se) = oracle.l2_error_mc(t, cfg.n, l2_seed);
                (Estimate { value: v, se, samples: cfg.n }, "oracle Monte Carlo (exact e_t)".to_string())
            }
            (CriticL2::Auto, None, Some(target)) => {
                let mut rng = ChaCha8Rng::seed_from_u64(l2_seed);
                let x = target.sample_marginal(cfg.n, problem.schedule, t, &mut rng);
                let e = exact_error(problem, x.view(), t).map_err(HodgeError::model_at(t))?.expect("a target");
                (mean_se(e.mapv(|v| v * v).sum_axis(Axis(1))), "target Monte Carlo (s_θ − ∇log p_t)".to_string())
            }
            (CriticL2::Denoising, _, _) => {
                // the denoising draws: the gradient's held-out set when it is in that form (no
                // further score calls), else fresh ones
                let fresh;
                let dsm = if form == Form::Denoising {
                    &held
                } else {
                    let mut rng = seeds.rng(Purpose::L2HeldOut);
                    fresh = draw(problem, t, Form::Denoising, cfg.n, &mut rng).map_err(HodgeError::model_at(t))?;
                    &fresh
                };
                let l2 = mean_se(dsm.w.mapv(|v| v * v).sum_axis(Axis(1))).scaled(1.0 / sigma2);
                (l2, "denoising loss (‖e_t‖² + C_t, C_t ≥ 0 the same for every model: an upper bound)".to_string())
            }
            _ => {
                let (h, vlog) = fit_vector_critic(d, &cfg.fit, l2_seed, &device, &mut drawer)?;
                fit_rows += vlog.rows;
                let mut rng = seeds.rng(Purpose::L2HeldOut);
                let held = draw(problem, t, form, cfg.n, &mut rng).map_err(HodgeError::model_at(t))?;
                let l2 = mean_se(h.terms(&held)?).scaled(1.0 / sigma2);
                (l2, format!("vector critic ({})", form.name()))
            }
        };
        let method = format!("{l2_method}; gradient: scalar critic, {}", form.name());
        let mut p = HodgePoint::new(t, sigma2, l2, gradient, &method);
        // the gradient part clipped to ≤ ‖e_t‖² in the difference only (see the module docs)
        p.solenoidal.value = p.solenoidal.value.max(0.0);
        p.samples += fit_rows;
        Ok(p)
    }
}
