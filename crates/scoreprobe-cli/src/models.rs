//! Resolves a problem spec's model: synthetic models from the spec, trained networks from checkpoints.

use anyhow::{anyhow, Result};
use scoreprobe_core::model::synthetic::SyntheticModel;
use scoreprobe_core::spec::{ModelSpec, ProblemSpec};
use scoreprobe_core::{GaussianMixture, Schedule, ScoreModel};
use std::path::Path;

pub struct Resolved {
    pub model: Box<dyn ScoreModel>,
    /// The synthetic model, when the spec names one (exact errors available).
    pub synthetic: Option<SyntheticModel>,
    pub target: GaussianMixture,
    pub schedule: Schedule,
}

/// Loads a checkpoint (`ckpt-<step>.safetensors` with its JSON sidecar), EMA weights.
pub fn load_checkpoint(path: &Path) -> Result<Box<dyn ScoreModel>> {
    scoreprobe_nn::load_checkpoint(path)
}

pub fn resolve(spec: &ProblemSpec) -> Result<Resolved> {
    let target = spec.target().map_err(|e| anyhow!(e))?;
    let schedule = spec.schedule().map_err(|e| anyhow!(e))?;
    match &spec.model {
        ModelSpec::Checkpoint { path } => {
            let model = load_checkpoint(path)?;
            if model.dim() != target.dim() {
                return Err(anyhow!(
                    "model: checkpoint {} has dimension {}, the target has {}",
                    path.display(),
                    model.dim(),
                    target.dim()
                ));
            }
            Ok(Resolved { model, synthetic: None, target, schedule })
        }
        _ => {
            let m = spec.synthetic_model().map_err(|e| anyhow!(e))?;
            Ok(Resolved { model: Box::new(m.clone()), synthetic: Some(m), target, schedule })
        }
    }
}
