//! Profiles over a list of times, their JSON report, and the registry of estimators.

use crate::error::HodgeError;
use crate::estimate::HodgePoint;
use crate::kind::EstimatorKind;
use crate::problem::{self, check_applies, HodgeEstimator, Problem};
use crate::{closed_form, critic, grid, random_features};
use scoreprobe_core::shard::Shard;
use scoreprobe_core::{Purpose, SeedStream};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Per-time Hodge quantities over a list of times from one estimator (a shard's: over its part
/// of the times; see [`crate::shard`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    profile_part(estimator, problem, times, seed, available, Shard::WHOLE)
}

/// [`profile`] at the times of `shard`'s part of `times` only. Time i is seeded by its index in
/// the whole list, so the parts of K shards are exactly the whole profile's points.
pub fn profile_part(
    estimator: &dyn HodgeEstimator,
    problem: &Problem,
    times: &[f64],
    seed: u64,
    available: &[&dyn HodgeEstimator],
    shard: Shard,
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
    for i in shard.range(times.len()) {
        let t = times[i];
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
