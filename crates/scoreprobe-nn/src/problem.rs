//! A problem spec resolved into runnable parts: the model (a synthetic model from the spec, or a
//! trained network from its checkpoint), the exact-score target and the schedule. Shared by every
//! front end (the CLI's commands, the Python module's `Problem`).

use crate::error::{NnError, Result};
use scoreprobe_core::model::synthetic::SyntheticModel;
use scoreprobe_core::spec::{ModelSpec, ProblemSpec};
use scoreprobe_core::{GaussianMixture, Schedule, ScoreModel};

/// The parts of a resolved problem spec.
pub struct ResolvedProblem {
    pub model: Box<dyn ScoreModel>,
    /// The synthetic model, when the spec names one (its exact error e_t is then known).
    pub synthetic: Option<SyntheticModel>,
    pub target: GaussianMixture,
    pub schedule: Schedule,
}

/// Builds the spec's target, schedule and model; a checkpoint (`ckpt-<step>.safetensors` with its
/// JSON sidecar, EMA weights) must have the target's dimension.
pub fn resolve(spec: &ProblemSpec) -> Result<ResolvedProblem> {
    let target = spec.target()?;
    let schedule = spec.schedule()?;
    match &spec.model {
        ModelSpec::Checkpoint { path } => {
            let model = crate::load_checkpoint(path)?;
            if model.dim() != target.dim() {
                return Err(NnError::checkpoint(
                    path,
                    format!("has dimension {}, the spec's target has {}", model.dim(), target.dim()),
                ));
            }
            Ok(ResolvedProblem { model, synthetic: None, target, schedule })
        }
        _ => {
            let m = spec.synthetic_model()?;
            Ok(ResolvedProblem { model: Box::new(m.clone()), synthetic: Some(m), target, schedule })
        }
    }
}
