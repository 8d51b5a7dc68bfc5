//! scoreprobe-hodge: Helmholtz–Hodge diagnostics of the score error (SPEC §5) and the KL bounds
//! of the reverse-SDE sampler (SPEC §6).
//!
//! The score error e_t = s_θ − ∇log p_t splits L²(p_t)-orthogonally into a gradient part ∇φ_t
//! (∇·(p_t∇φ_t) = ∇·(p_t e_t)) and a solenoidal remainder r_t. Per time t this crate reports
//! ‖e_t‖², ‖∇φ_t‖² and ‖r_t‖² = ‖e_t‖² − ‖∇φ_t‖² in score units (and ×σ_t² in ε-units), from one
//! of several estimators behind [`HodgeEstimator`]:
//! - [`closed_form::ClosedForm`]: Gaussian target with an affine error (Lyapunov equation);
//! - [`grid::Grid`]: d ≤ 2 exact targets, finite-volume weighted Poisson solve by CG;
//! - [`random_features::RandomFeatures`]: the dual (denoising) form with a linear-in-parameters
//!   critic, fitted on one sample set and evaluated on another; no true score needed;
//! - [`critic::Critic`]: a neural scalar critic (scoreprobe-nn) per time in the same dual form,
//!   trained on fresh draws and evaluated on held-out ones (oracle form when the error is known).
//!
//! [`bounds`] integrates ½β‖e_t‖² (Girsanov) and ½β‖∇φ_t‖² (marginal) over [t_min, T] and adds
//! KL(p_T‖π), next to the exact KL(p_tmin‖q_tmin) where one exists.

pub mod bounds;
pub mod closed_form;
pub mod critic;
pub mod error;
pub mod grid;
pub mod options;
pub mod problem;
pub mod quadrature;
pub mod random_features;

pub use bounds::{kl_bounds, prior_kl, BoundsConfig, BoundsReport, PriorKl};
pub use error::{HodgeError, NotApplicable};
pub use options::{run_bounds, run_hodge, BoundsOptions, EstimatorChoice, EstimatorOptions, HodgeOptions};
pub use problem::{check_applies, Data, EstimatorKind, HodgeEstimator, Problem};

use scoreprobe_core::{Purpose, SeedStream};
use serde::Serialize;
use std::time::Instant;

/// A value with its Monte-Carlo standard error (0 for deterministic estimators) and the number
/// of samples (or grid cells) behind it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    pub value: f64,
    pub se: f64,
    pub samples: usize,
}

impl Estimate {
    /// A deterministic value.
    pub fn exact(value: f64) -> Self {
        Self { value, se: 0.0, samples: 0 }
    }

    pub fn scaled(self, c: f64) -> Self {
        Self { value: self.value * c, se: self.se * c.abs(), samples: self.samples }
    }
}

/// The Hodge quantities at one time, in score units (L²(p_t) norms).
#[derive(Clone, Debug, Serialize)]
pub struct HodgePoint {
    pub t: f64,
    pub sigma2: f64,
    /// ‖e_t‖².
    pub l2: Estimate,
    /// ‖∇φ_t‖².
    pub gradient: Estimate,
    /// ‖r_t‖² = ‖e_t‖² − ‖∇φ_t‖².
    pub solenoidal: Estimate,
    /// How ‖e_t‖² was obtained.
    pub l2_method: String,
    /// Samples (or grid cells) used at this time, all parts together.
    pub samples: usize,
}

impl HodgePoint {
    /// Builds a point; the solenoidal energy is the difference, its SE combines both (independent draws).
    pub fn new(t: f64, sigma2: f64, l2: Estimate, gradient: Estimate, l2_method: &str) -> Self {
        let solenoidal = Estimate {
            value: l2.value - gradient.value,
            se: (l2.se * l2.se + gradient.se * gradient.se).sqrt(),
            samples: l2.samples + gradient.samples,
        };
        Self {
            t,
            sigma2,
            l2,
            gradient,
            solenoidal,
            l2_method: l2_method.into(),
            samples: l2.samples + gradient.samples,
        }
    }
}

/// Per-time Hodge quantities over a list of times from one estimator.
#[derive(Clone, Debug)]
pub struct HodgeProfile {
    pub estimator: EstimatorKind,
    pub model: String,
    pub points: Vec<HodgePoint>,
    pub seconds: f64,
    pub samples: usize,
}

/// Evaluates `estimator` at each time (seeded per time); refuses estimators that do not apply,
/// naming the ones in `available` that do.
pub fn profile(
    estimator: &dyn HodgeEstimator,
    problem: &Problem,
    times: &[f64],
    seed: u64,
    available: &[&dyn HodgeEstimator],
) -> Result<HodgeProfile, HodgeError> {
    check_applies(estimator, problem, available)?;
    if times.is_empty() {
        return Err(HodgeError::invalid("times", "no times given (need at least one time in (0, 1])"));
    }
    for &t in times {
        problem::check_time(t)?;
    }
    let start = Instant::now();
    let mut points = Vec::with_capacity(times.len());
    for (i, &t) in times.iter().enumerate() {
        points.push(estimator.point(problem, t, SeedStream::new(seed).derive(Purpose::Time(i as u64)))?);
    }
    let samples = points.iter().map(|p| p.samples).sum();
    Ok(HodgeProfile {
        estimator: estimator.kind(),
        model: problem.model.describe(),
        points,
        seconds: start.elapsed().as_secs_f64(),
        samples,
    })
}

/// The JSON layout of `scoreprobe hodge` (SPEC §5; score units, ε-units alongside).
#[derive(Clone, Debug, Serialize)]
pub struct HodgeReport {
    pub estimator: String,
    pub model: String,
    pub units: &'static str,
    pub times: Vec<f64>,
    pub l2: Vec<f64>,
    pub gradient: Vec<f64>,
    pub solenoidal: Vec<f64>,
    pub l2_se: Vec<f64>,
    pub gradient_se: Vec<f64>,
    pub solenoidal_se: Vec<f64>,
    pub l2_method: Vec<String>,
    pub eps_units: EpsUnits,
    pub seconds: f64,
    pub samples: usize,
}

/// The same quantities × σ_t² (ε-parameterisation units: G_t = σ_t²‖∇φ_t‖²).
#[derive(Clone, Debug, Serialize)]
pub struct EpsUnits {
    pub sigma2: Vec<f64>,
    pub l2: Vec<f64>,
    pub gradient: Vec<f64>,
    pub solenoidal: Vec<f64>,
    pub gradient_se: Vec<f64>,
}

impl HodgeProfile {
    pub fn report(&self) -> HodgeReport {
        let col = |f: &dyn Fn(&HodgePoint) -> f64| self.points.iter().map(f).collect::<Vec<f64>>();
        HodgeReport {
            estimator: self.estimator.name().into(),
            model: self.model.clone(),
            units: "score",
            times: col(&|p| p.t),
            l2: col(&|p| p.l2.value),
            gradient: col(&|p| p.gradient.value),
            solenoidal: col(&|p| p.solenoidal.value),
            l2_se: col(&|p| p.l2.se),
            gradient_se: col(&|p| p.gradient.se),
            solenoidal_se: col(&|p| p.solenoidal.se),
            l2_method: self.points.iter().map(|p| p.l2_method.clone()).collect(),
            eps_units: EpsUnits {
                sigma2: col(&|p| p.sigma2),
                l2: col(&|p| p.l2.value * p.sigma2),
                gradient: col(&|p| p.gradient.value * p.sigma2),
                solenoidal: col(&|p| p.solenoidal.value * p.sigma2),
                gradient_se: col(&|p| p.gradient.se * p.sigma2),
            },
            seconds: self.seconds,
            samples: self.samples,
        }
    }
}

/// Options of every estimator, in one place (the CLI fills it).
#[derive(Clone, Debug, Default)]
pub struct HodgeConfig {
    pub grid: grid::GridConfig,
    pub random_features: random_features::RfConfig,
    pub critic: critic::CriticConfig,
}

/// All estimators with the given options.
pub fn estimators(config: &HodgeConfig) -> Vec<Box<dyn HodgeEstimator>> {
    vec![
        Box::new(closed_form::ClosedForm),
        Box::new(grid::Grid { config: config.grid.clone() }),
        Box::new(random_features::RandomFeatures { config: config.random_features.clone() }),
        Box::new(critic::Critic { config: config.critic.clone() }),
    ]
}

/// The estimator of one kind.
pub fn estimator(kind: EstimatorKind, config: &HodgeConfig) -> Box<dyn HodgeEstimator> {
    estimators(config).into_iter().find(|e| e.kind() == kind).expect("every kind is listed")
}
