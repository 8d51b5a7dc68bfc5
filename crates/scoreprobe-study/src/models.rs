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
    /// A checkpoint under the impossibility family's pair rotation s_λ = (I + λA)s_θ
    /// ([`scoreprobe_core::model::pair_rotation`]): on data, the family of a trained network.
    PairRotated { path: PathBuf, lambda: f64 },
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

/// Keeps `k` checkpoints spread log-uniformly over the run's steps (`entries` sorted by step, as
/// [`list_run`] returns them): the first and the last are always kept, and each geometric target
/// between them takes the nearest unused checkpoint in ln(step). Early training changes fast and
/// late training slowly, so a log grid represents both; with `k` at least the number of
/// checkpoints every one is kept.
pub fn pick_log_uniform(entries: Vec<ModelEntry>, k: usize) -> Result<Vec<ModelEntry>, StudyError> {
    if k < 2 {
        return Err(StudyError::Setting {
            setting: "--pick",
            message: format!("needs at least 2 checkpoints, got {k}"),
        });
    }
    if entries.len() <= k {
        return Ok(entries);
    }
    let ln_step = |e: &ModelEntry| e.step.unwrap_or(0.0).max(1.0).ln();
    let (lo, hi) = (ln_step(&entries[0]), ln_step(&entries[entries.len() - 1]));
    let mut taken = vec![false; entries.len()];
    for j in 0..k {
        let target = lo + (hi - lo) * j as f64 / (k - 1) as f64;
        let nearest = (0..entries.len())
            .filter(|&i| !taken[i])
            .min_by(|&a, &b| (ln_step(&entries[a]) - target).abs().total_cmp(&(ln_step(&entries[b]) - target).abs()))
            .expect("fewer targets than checkpoints");
        taken[nearest] = true;
    }
    Ok(entries.into_iter().zip(taken).filter_map(|(e, t)| t.then_some(e)).collect())
}

/// The impossibility family on a checkpoint: one model per λ, named `rot-<λ>`, in the solenoidal
/// group with λ as its step.
pub fn pair_rotation_family(path: &Path, lambdas: &[f64]) -> Result<Vec<ModelEntry>, StudyError> {
    if let Some(bad) = lambdas.iter().find(|l| !l.is_finite()) {
        return Err(StudyError::Setting { setting: "--pair-rotation", message: format!("λ = {bad} is not finite") });
    }
    Ok(lambdas
        .iter()
        .map(|&lambda| ModelEntry {
            name: format!("rot-{lambda}"),
            group: ModelGroup::Solenoidal,
            step: Some(lambda),
            source: ModelSource::PairRotated { path: path.to_path_buf(), lambda },
        })
        .collect())
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

    fn run_of(steps: &[u64]) -> Vec<ModelEntry> {
        let e = |s: u64| ModelEntry {
            name: format!("ckpt-{s}"),
            group: ModelGroup::Checkpoint,
            step: Some(s as f64),
            source: ModelSource::Checkpoint { path: format!("ckpt-{s}.safetensors").into() },
        };
        steps.iter().map(|&s| e(s)).collect()
    }

    fn steps(m: &[ModelEntry]) -> Vec<u64> {
        m.iter().map(|e| e.step.unwrap() as u64).collect()
    }

    #[test]
    fn picks_checkpoints_log_uniformly_keeping_both_ends() {
        // every 250 steps up to 40 000: the log grid 250 · 160^(j/7) is 250, 516, 1066, 2200,
        // 4545, 9380, 19 370, 40 000; the nearest checkpoints in ln(step):
        let all: Vec<u64> = (1..=160).map(|i| i * 250).collect();
        let picked = pick_log_uniform(run_of(&all), 8).unwrap();
        assert_eq!(steps(&picked), vec![250, 500, 1000, 2250, 4500, 9500, 19250, 40000]);
        // a linear pick would have spent 7 of 8 on the second half of the run; the log pick keeps
        // the ratios between neighbours near 160^(1/7) = 2.07
        for w in steps(&picked).windows(2) {
            let r = w[1] as f64 / w[0] as f64;
            assert!((1.8..2.3).contains(&r), "{w:?}");
        }
    }

    #[test]
    fn picking_at_least_as_many_as_there_are_keeps_all_and_fewer_than_two_is_refused() {
        let all = [100, 200, 300];
        assert_eq!(steps(&pick_log_uniform(run_of(&all), 3).unwrap()), all.to_vec());
        assert_eq!(steps(&pick_log_uniform(run_of(&all), 9).unwrap()), all.to_vec());
        let e = pick_log_uniform(run_of(&all), 1).unwrap_err().to_string();
        assert!(e.contains("--pick"), "{e}");
        // crowded early checkpoints never yield duplicates
        let picked = pick_log_uniform(run_of(&[1, 2, 3, 4, 5, 1000]), 4).unwrap();
        assert_eq!(picked.len(), 4);
        assert_eq!(*steps(&picked).last().unwrap(), 1000);
    }
}
