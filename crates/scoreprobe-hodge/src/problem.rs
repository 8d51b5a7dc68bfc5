//! What every estimator sees: the schedule, the model under test, where clean data x₀ come from,
//! and (for synthetic models) the exact oracle; plus the one estimator interface.

use crate::error::{HodgeError, NotApplicable};
use crate::estimate::{Estimate, HodgePoint};
pub use crate::kind::EstimatorKind;
use ndarray::{Array2, ArrayView2, Axis};
use rand::Rng;
use scoreprobe_core::distribution::GaussianMixture;
use scoreprobe_core::model::synthetic::SyntheticModel;
use scoreprobe_core::schedule::Schedule;
use scoreprobe_core::ScoreModel;

/// Where clean data x₀ come from.
#[derive(Clone, Copy)]
pub enum Data<'a> {
    /// An exact-score target: x₀ are drawn from it and p_t is known in closed form.
    Target(&'a GaussianMixture),
    /// A fixed data set (rows): x₀ are resampled from it; p_t is unknown.
    Samples(ArrayView2<'a, f64>),
}

/// A Hodge problem: the model s_θ under test, its schedule, the data, and the oracle if any.
#[derive(Clone, Copy)]
pub struct Problem<'a> {
    pub schedule: &'a Schedule,
    /// The model under test, used only through `ScoreModel::score` (trained networks work too).
    pub model: &'a dyn ScoreModel,
    pub data: Data<'a>,
    /// The synthetic model when the model is one: exact errors, affine forms.
    pub oracle: Option<&'a SyntheticModel>,
}

impl<'a> Problem<'a> {
    /// The problem of a synthetic model on its own exact target.
    pub fn synthetic(model: &'a SyntheticModel) -> Self {
        Self { schedule: &model.schedule, model, data: Data::Target(&model.target), oracle: Some(model) }
    }

    /// A model (e.g. a trained network) against an exact-score target.
    pub fn on_target(model: &'a dyn ScoreModel, target: &'a GaussianMixture, schedule: &'a Schedule) -> Self {
        Self { schedule, model, data: Data::Target(target), oracle: None }
    }

    /// A model against a data set whose scores are unknown.
    pub fn on_samples(model: &'a dyn ScoreModel, x0: ArrayView2<'a, f64>, schedule: &'a Schedule) -> Self {
        Self { schedule, model, data: Data::Samples(x0), oracle: None }
    }

    pub fn dim(&self) -> usize {
        self.model.dim()
    }

    /// The exact target, when there is one.
    pub fn target(&self) -> Option<&'a GaussianMixture> {
        match self.data {
            Data::Target(g) => Some(g),
            Data::Samples(_) => None,
        }
    }

    /// Checks that the parts agree (dimensions, a non-empty data set).
    pub fn validate(&self) -> Result<(), HodgeError> {
        let d = self.model.dim();
        match self.data {
            Data::Target(g) if g.dim() != d => {
                return Err(HodgeError::invalid(
                    "target",
                    format!("the model has dimension {d} but the target has dimension {}", g.dim()),
                ))
            }
            Data::Samples(x) if x.ncols() != d => {
                return Err(HodgeError::invalid(
                    "data",
                    format!("the model has dimension {d} but the data rows have dimension {}", x.ncols()),
                ))
            }
            Data::Samples(x) if x.nrows() < 2 => {
                return Err(HodgeError::invalid("data", format!("needs at least 2 rows, got {}", x.nrows())))
            }
            _ => {}
        }
        Ok(())
    }

    /// n clean samples x₀: fresh draws from a target, or rows of the data set drawn with replacement.
    pub fn draw_x0<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Array2<f64> {
        match self.data {
            Data::Target(g) => g.sample(n, rng),
            Data::Samples(x) => {
                let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..x.nrows())).collect();
                x.select(Axis(0), &idx)
            }
        }
    }
}

/// One estimator of the per-time Hodge quantities.
pub trait HodgeEstimator: Send + Sync {
    fn kind(&self) -> EstimatorKind;
    /// Ok when the estimator applies to the problem; otherwise the reason (without suggestions).
    fn applies(&self, problem: &Problem) -> Result<(), NotApplicable>;
    /// ‖e_t‖², ‖∇φ_t‖² and ‖r_t‖² at time t (score units, L²(p_t)); stochastic parts use `seed`.
    fn point(&self, problem: &Problem, t: f64, seed: u64) -> Result<HodgePoint, HodgeError>;
}

/// Refuses an estimator that does not apply, naming those that do among `available`.
pub fn check_applies(
    estimator: &dyn HodgeEstimator,
    problem: &Problem,
    available: &[&dyn HodgeEstimator],
) -> Result<(), HodgeError> {
    problem.validate()?;
    match estimator.applies(problem) {
        Ok(()) => Ok(()),
        Err(why) => Err(HodgeError::NotApplicable {
            estimator: estimator.kind(),
            why,
            applicable: available.iter().filter(|e| e.applies(problem).is_ok()).map(|e| e.kind()).collect(),
        }),
    }
}

/// Checks a time lies in (0, 1].
pub fn check_time(t: f64) -> Result<(), HodgeError> {
    if !(t > 0.0 && t <= scoreprobe_core::schedule::T_END) {
        return Err(HodgeError::invalid("time t", format!("must lie in (0, 1], got {t}")));
    }
    Ok(())
}

/// Mean and standard error of per-sample terms (the workspace's one routine,
/// [`scoreprobe_core::stats::mean_se`], as an [`Estimate`]).
pub fn mean_se(values: impl IntoIterator<Item = f64>) -> Estimate {
    let values: Vec<f64> = values.into_iter().collect();
    let r = scoreprobe_core::stats::mean_se(&values);
    Estimate { value: r.mean, se: r.se, samples: r.n }
}
