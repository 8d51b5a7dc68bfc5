//! The set of models a study compares: checkpoints of a training run plus extra (synthetic) models.

use crate::error::StudyError;
use scoreprobe_core::spec::ModelSpec;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelSource {
    /// A trained network checkpoint (`ckpt-<step>.safetensors` with its JSON sidecar).
    Checkpoint { path: PathBuf },
    /// A synthetic model of the problem spec's target (exact, affine_error, solenoidal, gradient).
    Synthetic { model: ModelSpec },
}

/// A family of models; the report correlates within each, and the claims read some of them
/// (checkpoints, the exact model, the solenoidal family). The declaration order is the order of
/// groups in every report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelGroup {
    /// Affine errors e_t(x) = E(x − m_t) + b.
    Affine,
    /// Trained networks.
    Checkpoint,
    /// The exact score.
    Exact,
    /// Gradient perturbations λ∇U (visible to every metric).
    Gradient,
    /// Solenoidal perturbations (I + λA)∇log p_t (the generated law is unchanged).
    Solenoidal,
}

impl ModelGroup {
    pub fn name(self) -> &'static str {
        match self {
            ModelGroup::Affine => "affine",
            ModelGroup::Checkpoint => "checkpoint",
            ModelGroup::Exact => "exact",
            ModelGroup::Gradient => "gradient",
            ModelGroup::Solenoidal => "solenoidal",
        }
    }

    /// The group a model spec belongs to when the models file names none.
    pub fn of(m: &ModelSpec) -> Self {
        match m {
            ModelSpec::Exact => ModelGroup::Exact,
            ModelSpec::AffineError { .. } => ModelGroup::Affine,
            ModelSpec::Solenoidal { .. } => ModelGroup::Solenoidal,
            ModelSpec::Gradient { .. } => ModelGroup::Gradient,
            ModelSpec::Checkpoint { .. } => ModelGroup::Checkpoint,
        }
    }
}

impl fmt::Display for ModelGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelEntry {
    /// Unique name, used for the cache file and in tables.
    pub name: String,
    pub group: ModelGroup,
    /// Training step for checkpoints; the perturbation size λ for synthetic families.
    pub step: Option<f64>,
    pub source: ModelSource,
}

/// Lists `ckpt-<step>.safetensors` in a run directory, sorted by step.
pub fn list_run(run_dir: &Path) -> Result<Vec<ModelEntry>, StudyError> {
    let dir_err = |source| StudyError::RunDir { path: run_dir.to_path_buf(), source };
    let mut out = vec![];
    for e in std::fs::read_dir(run_dir).map_err(dir_err)? {
        let path = e.map_err(dir_err)?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        let Some(step) = name.strip_prefix("ckpt-").and_then(|s| s.strip_suffix(".safetensors")) else { continue };
        let Ok(step) = step.parse::<u64>() else { continue };
        out.push(ModelEntry {
            name: format!("ckpt-{step}"),
            group: ModelGroup::Checkpoint,
            step: Some(step as f64),
            source: ModelSource::Checkpoint { path },
        });
    }
    if out.is_empty() {
        return Err(StudyError::NoCheckpoints { path: run_dir.to_path_buf() });
    }
    out.sort_by(|a, b| a.step.partial_cmp(&b.step).expect("finite steps"));
    Ok(out)
}

/// Reads extra models: a JSON array of `{"name": ..., "group": ..., "step": λ, "model": {ModelSpec}}`.
pub fn load_extra(path: &Path) -> Result<Vec<ModelEntry>, StudyError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Extra {
        name: String,
        #[serde(default)]
        group: Option<ModelGroup>,
        #[serde(default)]
        step: Option<f64>,
        model: ModelSpec,
    }
    let file_err = |source: crate::error::BoxError| StudyError::ModelsFile { path: path.to_path_buf(), source };
    let text = std::fs::read_to_string(path).map_err(|e| file_err(e.into()))?;
    let extras: Vec<Extra> =
        serde_json::from_str(&text).map_err(|e| file_err(format!("expected a JSON array of models: {e}").into()))?;
    Ok(extras
        .into_iter()
        .map(|e| ModelEntry {
            group: e.group.unwrap_or_else(|| ModelGroup::of(&e.model)),
            name: e.name,
            step: e.step,
            source: match e.model {
                ModelSpec::Checkpoint { path } => ModelSource::Checkpoint { path },
                model => ModelSource::Synthetic { model },
            },
        })
        .collect())
}

/// Checks names are unique and usable as file names.
pub fn check_names(models: &[ModelEntry]) -> Result<(), StudyError> {
    let mut seen = std::collections::BTreeSet::new();
    for m in models {
        if m.name.is_empty() || !m.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.=".contains(c)) {
            return Err(StudyError::BadModelName(m.name.clone()));
        }
        if !seen.insert(&m.name) {
            return Err(StudyError::DuplicateModelName(m.name.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_read_from_the_models_file_and_default_from_the_spec() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.json");
        std::fs::write(
            &p,
            r#"[{"name": "a", "model": {"kind": "exact"}},
                {"name": "b", "group": "gradient", "step": 0.5, "model": {"kind": "exact"}}]"#,
        )
        .unwrap();
        let m = load_extra(&p).unwrap();
        assert_eq!((m[0].group, m[1].group), (ModelGroup::Exact, ModelGroup::Gradient));
        std::fs::write(&p, r#"[{"name": "a", "group": "mine", "model": {"kind": "exact"}}]"#).unwrap();
        let e = crate::error::chain(&load_extra(&p).unwrap_err());
        assert!(e.contains("m.json") && e.contains("mine") && e.contains("solenoidal"), "{e}");
    }

    #[test]
    fn groups_are_ordered_by_name_as_reports_list_them() {
        use ModelGroup::*;
        let mut by_ord = vec![Solenoidal, Exact, Affine, Gradient, Checkpoint];
        let mut by_name = by_ord.clone();
        by_ord.sort();
        by_name.sort_by_key(|g| g.name());
        assert_eq!(by_ord, by_name);
    }
}
