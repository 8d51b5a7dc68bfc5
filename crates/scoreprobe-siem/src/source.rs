//! Error-field sources ê_t (SPEC §7), behind one trait; every output names its source.
//!
//! - `oracle`: the exact e_t = s_θ − ∇log p_t, for targets with a known score;
//! - `classifier`: ê_t = −∇ₓ logit d(x, t) of a time-conditioned classifier separating
//!   forward-noised data from the model's own states (needs the `nn` feature);
//! - `critic`: ê_t = ∇χ*_t/σ_t, the gradient part ∇φ_t of e_t (SPEC §5), from a time-conditioned
//!   scalar critic fitted in the denoising form (needs the `nn` feature; see `crate::critic`).

use crate::error::SiemError;
use ndarray::{Array2, ArrayView2};
use scoreprobe_core::model::synthetic::SyntheticModel;
use scoreprobe_core::sampler::SamplerConfig;
use scoreprobe_core::{GaussianMixture, Schedule, ScoreModel};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Which kind of error-field source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ErrorFieldKind {
    /// The exact error s_θ − ∇log p_t (spec targets).
    Oracle,
    /// Experimental: a time-conditioned classifier of data against the model's states; reports
    /// its held-out accuracy with a 95 % CI and warns when the CI contains chance.
    Classifier,
    /// A fitted critic of the gradient part of the error.
    Critic,
}

impl ErrorFieldKind {
    pub const NAMES: &'static [&'static str] = &["oracle", "classifier", "critic"];

    pub fn name(&self) -> &'static str {
        match self {
            ErrorFieldKind::Oracle => "oracle",
            ErrorFieldKind::Classifier => "classifier",
            ErrorFieldKind::Critic => "critic",
        }
    }

    /// Why this source cannot be built here, or None when it can.
    pub fn unavailable(&self) -> Option<String> {
        match self {
            ErrorFieldKind::Oracle => None,
            ErrorFieldKind::Classifier if cfg!(feature = "nn") => None,
            ErrorFieldKind::Classifier => Some(
                "error field 'classifier' needs the neural classifier of scoreprobe-nn, and this build of \
                 scoreprobe-siem has no 'nn' feature; use --error-field oracle on targets with an exact score"
                    .into(),
            ),
            ErrorFieldKind::Critic if cfg!(feature = "nn") => None,
            ErrorFieldKind::Critic => Some(
                "error field 'critic' (∇χ*_t/σ_t, SPEC §5) needs the neural critic of scoreprobe-nn, and this \
                 build of scoreprobe-siem has no 'nn' feature; use --error-field oracle on targets with an exact score"
                    .into(),
            ),
        }
    }
}

impl FromStr for ErrorFieldKind {
    type Err = SiemError;
    fn from_str(s: &str) -> Result<Self, SiemError> {
        match s {
            "oracle" => Ok(ErrorFieldKind::Oracle),
            "classifier" => Ok(ErrorFieldKind::Classifier),
            "critic" => Ok(ErrorFieldKind::Critic),
            other => Err(SiemError::Unknown { what: "error field", name: other.into(), known: Self::NAMES.to_vec() }),
        }
    }
}

/// What a source may use to prepare itself (e.g. train an auxiliary network on the model's states).
pub struct PrepareContext<'a> {
    pub model: &'a dyn ScoreModel,
    pub schedule: &'a Schedule,
    /// The SIEM run's sampler configuration (its window set, `stop_after_window` on).
    pub sampler: &'a SamplerConfig,
    /// Number of SIEM trajectories.
    pub n: usize,
}

/// Auxiliary cost of a source, beyond the SIEM trajectories themselves.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AuxCost {
    /// Score-model evaluations, counted in rows (a batch of m rows at one time counts m).
    pub score_evals: usize,
    /// Forward passes of auxiliary networks (classifier, critic), counted in rows; training included.
    pub aux_evals: usize,
    pub seconds: f64,
}

/// Steps per time band of the `critic` source by default: the high-noise window 900..999 is one
/// band, the full window ten (declared here, where the options and the critic both see it, also
/// without the `nn` feature).
pub const DEFAULT_BAND_STEPS: usize = 100;

/// One time band of a source fitted per band (the `critic`): its steps, its held-out objective
/// with the SE, and whether its fit was kept (else its error field is zero on the band).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceBand {
    /// The band's steps on the sampler's grid, as a window (`900..999`).
    pub steps: String,
    /// Held-out objective E[2w·∇χ − |∇χ|²] of the band's fit, averaged over its times (ε-units).
    pub heldout_objective: f64,
    /// Its standard error over the held-out draws.
    pub heldout_objective_se: f64,
    /// Whether the fit was kept (the objective beat zero, see the source's keep rule); a dropped
    /// band's error field is zero.
    pub kept: bool,
}

/// What a source with a floor says about it: the same estimator run with nothing to find (the
/// classifier trained on two independent draws of the data), beside the model's value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FloorFacts {
    /// How the floor was obtained.
    pub what: String,
    /// The floor estimator's held-out accuracy (chance, 0.5, when it works), its SE and 95 % CI.
    pub heldout_accuracy: f64,
    pub heldout_accuracy_se: Option<f64>,
    pub heldout_accuracy_ci95: Option<[f64; 2]>,
    /// RMS of the floor classifier's logit over its held-out states: its true logit is 0, so this
    /// is the size of a fitted logit's noise (what a density ratio r̂ = e^(−logit) would carry).
    pub logit_rms: Option<f64>,
}

/// A source of the error field ê_t along the SIEM trajectories.
pub trait ErrorSource {
    /// The name written into every output: "oracle", "classifier" or "critic".
    fn name(&self) -> &'static str;

    /// Called once before the SIEM trajectories are sampled.
    fn prepare(&mut self, _ctx: &PrepareContext) -> Result<AuxCost, SiemError> {
        Ok(AuxCost::default())
    }

    /// ê_t at each row of `x` (n × d), given the model's score there (already computed by the
    /// sampler; sources that do not need it ignore it).
    fn error(&mut self, x: ArrayView2<f64>, t: f64, score: ArrayView2<f64>) -> Result<Array2<f64>, SiemError>;

    /// What SIEM needs from ê with radial test functions: a[c, i] = ê(x_i)·(x_i − c_c) for each
    /// centre (rows of `centers`), shape K × n. The default projects [`Self::error`]; a network
    /// source overrides it with K directional derivatives instead of a d-dimensional gradient.
    fn projections(
        &mut self,
        x: ArrayView2<f64>,
        t: f64,
        score: ArrayView2<f64>,
        centers: ArrayView2<f64>,
    ) -> Result<Array2<f64>, SiemError> {
        let e = self.error(x, t, score)?;
        if e.dim() != x.dim() {
            return Err(SiemError::Shape { field: self.name(), got: e.dim(), expected: x.dim() });
        }
        let mut a = Array2::zeros((centers.nrows(), x.nrows()));
        for (mut row, c) in a.rows_mut().into_iter().zip(centers.rows()) {
            for ((ai, xi), ei) in row.iter_mut().zip(x.rows()).zip(e.rows()) {
                *ai = xi.iter().zip(c).zip(ei).map(|((xv, cv), ev)| ev * (xv - cv)).sum();
            }
        }
        Ok(a)
    }

    /// Cost of `error` calls so far (auxiliary network passes in rows), added to the report.
    fn eval_cost(&self) -> usize {
        0
    }

    /// Source-specific facts for the report (e.g. the classifier's held-out accuracy).
    fn details(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// The time bands of a source fitted per band (empty: one fit, or none).
    fn bands(&self) -> Vec<SourceBand> {
        Vec::new()
    }

    /// A source with a floor: the floor field's projections at the same states (as
    /// [`Self::projections`]), so SIEM's floor is integrated along the same trajectories with the
    /// same test functions. None: no floor.
    fn floor_projections(
        &mut self,
        _x: ArrayView2<f64>,
        _t: f64,
        _score: ArrayView2<f64>,
        _centers: ArrayView2<f64>,
    ) -> Result<Option<Array2<f64>>, SiemError> {
        Ok(None)
    }

    /// The floor's own facts (None: no floor).
    fn floor_facts(&self) -> Option<FloorFacts> {
        None
    }
}

/// The exact error field of a target with a known score.
#[derive(Clone, Debug)]
pub enum OracleSource {
    /// A synthetic model: e_t from [`SyntheticModel::error`] (no cancellation, exactly 0 for `exact`).
    Synthetic(SyntheticModel),
    /// Any model on a target with an exact score: e = s_θ − ∇log p_t, with s_θ from the sampler.
    Target { target: GaussianMixture, schedule: Schedule },
}

impl OracleSource {
    pub fn synthetic(model: SyntheticModel) -> Self {
        OracleSource::Synthetic(model)
    }

    pub fn for_target(target: GaussianMixture, schedule: Schedule) -> Self {
        OracleSource::Target { target, schedule }
    }

    /// The oracle when an exact score is known, else a clear refusal; `what` names the model/target.
    pub fn from_exact(exact: Option<(GaussianMixture, Schedule)>, what: &str) -> Result<Self, SiemError> {
        match exact {
            Some((target, schedule)) => Ok(Self::for_target(target, schedule)),
            None => Err(SiemError::NoExactScore { what: what.into() }),
        }
    }

    fn dim(&self) -> usize {
        match self {
            OracleSource::Synthetic(m) => m.target.dim(),
            OracleSource::Target { target, .. } => target.dim(),
        }
    }
}

impl ErrorSource for OracleSource {
    fn name(&self) -> &'static str {
        "oracle"
    }

    fn prepare(&mut self, ctx: &PrepareContext) -> Result<AuxCost, SiemError> {
        if self.dim() != ctx.model.dim() {
            return Err(SiemError::invalid(
                "error field 'oracle'",
                format!("the target has dimension {}, the model {}", self.dim(), ctx.model.dim()),
            ));
        }
        Ok(AuxCost::default())
    }

    fn error(&mut self, x: ArrayView2<f64>, t: f64, score: ArrayView2<f64>) -> Result<Array2<f64>, SiemError> {
        Ok(match self {
            OracleSource::Synthetic(m) => m.error(x, t),
            OracleSource::Target { target, schedule } => &score - &target.marginal(schedule, t).score(x),
        })
    }

    fn details(&self) -> serde_json::Value {
        match self {
            OracleSource::Synthetic(m) => {
                serde_json::json!({"exact_error": "synthetic model's e_t", "model": m.describe()})
            }
            OracleSource::Target { .. } => serde_json::json!({"exact_error": "s_theta - grad log p_t"}),
        }
    }
}
