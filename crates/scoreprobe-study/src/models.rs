//! The set of models a study compares: checkpoints of a training run plus extra (synthetic) models.

use anyhow::{bail, Context, Result};
use scoreprobe_core::spec::ModelSpec;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelSource {
    /// A trained network checkpoint (`ckpt-<step>.safetensors` with its JSON sidecar).
    Checkpoint { path: PathBuf },
    /// A synthetic model of the problem spec's target (exact, affine_error, solenoidal, gradient).
    Synthetic { model: ModelSpec },
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelEntry {
    /// Unique name, used for the cache file and in tables.
    pub name: String,
    /// A family label: `checkpoint`, `gradient`, `solenoidal`, `exact`, …
    pub group: String,
    /// Training step for checkpoints; the perturbation size λ for synthetic families.
    pub step: Option<f64>,
    pub source: ModelSource,
}

/// Lists `ckpt-<step>.safetensors` in a run directory, sorted by step.
pub fn list_run(run_dir: &Path) -> Result<Vec<ModelEntry>> {
    let entries =
        std::fs::read_dir(run_dir).with_context(|| format!("cannot read run directory {}", run_dir.display()))?;
    let mut out = vec![];
    for e in entries {
        let path = e?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        let Some(step) = name.strip_prefix("ckpt-").and_then(|s| s.strip_suffix(".safetensors")) else { continue };
        let Ok(step) = step.parse::<u64>() else { continue };
        out.push(ModelEntry {
            name: format!("ckpt-{step}"),
            group: "checkpoint".into(),
            step: Some(step as f64),
            source: ModelSource::Checkpoint { path },
        });
    }
    if out.is_empty() {
        bail!("run directory {} has no checkpoints (expected files named ckpt-<step>.safetensors)", run_dir.display());
    }
    out.sort_by(|a, b| a.step.partial_cmp(&b.step).expect("finite steps"));
    Ok(out)
}

/// Reads extra models: a JSON array of `{"name": ..., "group": ..., "step": λ, "model": {ModelSpec}}`.
pub fn load_extra(path: &Path) -> Result<Vec<ModelEntry>> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Extra {
        name: String,
        #[serde(default)]
        group: Option<String>,
        #[serde(default)]
        step: Option<f64>,
        model: ModelSpec,
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read models file {}", path.display()))?;
    let extras: Vec<Extra> =
        serde_json::from_str(&text).with_context(|| format!("{}: expected a JSON array of models", path.display()))?;
    Ok(extras
        .into_iter()
        .map(|e| ModelEntry {
            group: e.group.unwrap_or_else(|| model_group(&e.model).into()),
            name: e.name,
            step: e.step,
            source: match e.model {
                ModelSpec::Checkpoint { path } => ModelSource::Checkpoint { path },
                model => ModelSource::Synthetic { model },
            },
        })
        .collect())
}

pub fn model_group(m: &ModelSpec) -> &'static str {
    match m {
        ModelSpec::Exact => "exact",
        ModelSpec::AffineError { .. } => "affine",
        ModelSpec::Solenoidal { .. } => "solenoidal",
        ModelSpec::Gradient { .. } => "gradient",
        ModelSpec::Checkpoint { .. } => "checkpoint",
    }
}

/// Checks names are unique and usable as file names.
pub fn check_names(models: &[ModelEntry]) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for m in models {
        if m.name.is_empty() || !m.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.=".contains(c)) {
            bail!("model name '{}' must be non-empty and use only letters, digits, '-', '_', '.', '='", m.name);
        }
        if !seen.insert(&m.name) {
            bail!("model name '{}' appears twice", m.name);
        }
    }
    Ok(())
}
