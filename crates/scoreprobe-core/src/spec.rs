//! The JSON problem spec used by every command: target, schedule, model.

use crate::distribution::{matrix_from_rows, GaussianMixture, TargetSpec};
use crate::error::CoreError;
use crate::model::synthetic::{ErrorField, Potential, PotentialField, SyntheticModel};
use crate::schedule::{Schedule, ScheduleSpec};
use ndarray::Array1;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelSpec {
    Exact,
    AffineError {
        #[serde(rename = "E")]
        e: Vec<Vec<f64>>,
        b: Vec<f64>,
    },
    Solenoidal {
        #[serde(rename = "A")]
        a: Vec<Vec<f64>>,
        lambda: f64,
    },
    Gradient {
        potential: Potential,
        lambda: f64,
    },
    /// A trained network; resolved by the crate that owns networks.
    Checkpoint {
        path: PathBuf,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemSpec {
    pub target: TargetSpec,
    #[serde(default)]
    pub schedule: ScheduleSpec,
    #[serde(default = "exact_model")]
    pub model: ModelSpec,
}

fn exact_model() -> ModelSpec {
    ModelSpec::Exact
}

impl ProblemSpec {
    pub fn from_json(text: &str, origin: &str) -> Result<Self, CoreError> {
        serde_json::from_str(text).map_err(|source| CoreError::Spec { origin: origin.to_string(), source })
    }

    pub fn from_file(path: &Path) -> Result<Self, CoreError> {
        let text = std::fs::read_to_string(path).map_err(|source| CoreError::Io {
            path: path.to_path_buf(),
            action: "cannot read spec",
            source,
        })?;
        Self::from_json(&text, &path.display().to_string())
    }

    /// A fingerprint of the spec (of its normalised JSON, so the same spec read by the CLI or by
    /// Python gives the same one): what a shard's state records of its model. A checkpoint the
    /// spec names is recorded by its path, not its contents.
    pub fn fingerprint(&self) -> String {
        crate::state::fingerprint(serde_json::to_string(self).unwrap_or_default().as_bytes())
    }

    pub fn schedule(&self) -> Result<Schedule, CoreError> {
        Schedule::from_spec(&self.schedule)
    }

    pub fn target(&self) -> Result<GaussianMixture, CoreError> {
        self.target.build()
    }

    /// Builds the synthetic model; a checkpoint model is refused here (networks are loaded elsewhere).
    pub fn synthetic_model(&self) -> Result<SyntheticModel, CoreError> {
        let target = self.target()?;
        let schedule = self.schedule()?;
        let d = target.dim();
        let error = match &self.model {
            ModelSpec::Exact => ErrorField::Exact,
            ModelSpec::AffineError { e, b } => {
                let e = matrix_from_rows(e, "model.E")?;
                if e.dim() != (d, d) {
                    return Err(CoreError::invalid(
                        "model.E",
                        format!("must be {d}x{d} to match the target, got {}x{}", e.nrows(), e.ncols()),
                    ));
                }
                if b.len() != d {
                    return Err(CoreError::invalid(
                        "model.b",
                        format!("must have {d} entries to match the target, got {}", b.len()),
                    ));
                }
                check_finite(e.iter(), "model.E")?;
                check_finite(b.iter(), "model.b")?;
                ErrorField::Affine { e, b: Array1::from(b.clone()) }
            }
            ModelSpec::Solenoidal { a, lambda } => {
                let a = matrix_from_rows(a, "model.A")?;
                if a.dim() != (d, d) {
                    return Err(CoreError::invalid(
                        "model.A",
                        format!("must be {d}x{d} to match the target, got {}x{}", a.nrows(), a.ncols()),
                    ));
                }
                check_finite(a.iter(), "model.A")?;
                let sym = (&a + &a.t()).mapv(f64::abs).iter().fold(0.0f64, |m, v| m.max(*v));
                if sym > 1e-12 * (1.0 + a.mapv(f64::abs).sum()) {
                    return Err(CoreError::invalid(
                        "model.A",
                        format!("must be antisymmetric (A = -Aᵀ); max |A + Aᵀ| = {sym:.3e}"),
                    ));
                }
                check_finite(std::iter::once(lambda), "model.lambda")?;
                ErrorField::Solenoidal { a, lambda: *lambda }
            }
            ModelSpec::Gradient { potential, lambda } => {
                check_finite(std::iter::once(lambda), "model.lambda")?;
                ErrorField::Gradient { potential: PotentialField::from_spec(potential, d)?, lambda: *lambda }
            }
            ModelSpec::Checkpoint { path } => {
                return Err(CoreError::invalid(
                    "model",
                    format!(
                        "'{}' is a checkpoint; this command needs a synthetic model (exact, affine_error, solenoidal, gradient)",
                        path.display()
                    ),
                ))
            }
        };
        Ok(SyntheticModel { target, schedule, error })
    }
}

fn check_finite<'a>(mut v: impl Iterator<Item = &'a f64>, what: &str) -> Result<(), CoreError> {
    if v.any(|x| !x.is_finite()) {
        return Err(CoreError::invalid(what, "contains NaN or infinite entries"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        match ProblemSpec::from_json(json, "spec.json").and_then(|s| s.synthetic_model().map(|_| ())) {
            Ok(()) => panic!("accepted: {json}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn parses_every_documented_form() {
        let forms = [
            r#"{"target": {"kind": "gaussian", "mean": [0, 0], "cov": [[1, 0.3], [0.3, 0.5]]}, "schedule": {"kind": "vp", "beta_min": 0.1, "beta_max": 20}, "model": {"kind": "exact"}}"#,
            r#"{"target": {"kind": "gmm", "weights": [0.5, 0.5], "means": [[0, 0], [1, 1]], "covs": [[[1, 0], [0, 1]], [[0.5, 0], [0, 0.5]]]}, "schedule": {"kind": "ddpm", "steps": 1000, "beta_start": 0.0001, "beta_end": 0.02}}"#,
            r#"{"target": {"kind": "named", "name": "ring8"}, "model": {"kind": "solenoidal", "A": [[0, 1], [-1, 0]], "lambda": 2.0}}"#,
            r#"{"target": {"kind": "gaussian", "mean": [0, 0], "cov": [[1, 0], [0, 1]]}, "model": {"kind": "affine_error", "E": [[0.1, 0], [0, 0.2]], "b": [0, 0.1]}}"#,
            r#"{"target": {"kind": "named", "name": "grid25"}, "model": {"kind": "gradient", "potential": {"kind": "radial_bump", "width": 0.5}, "lambda": 0.5}}"#,
            r#"{"target": {"kind": "named", "name": "grid25"}, "model": {"kind": "gradient", "potential": {"kind": "quadratic", "Q": [[1, 0], [0, 1]]}, "lambda": 0.5}}"#,
        ];
        for f in forms {
            ProblemSpec::from_json(f, "spec").unwrap().synthetic_model().unwrap();
        }
    }

    #[test]
    fn bad_specs_name_the_field() {
        assert!(err("{not json").contains("spec.json"));
        assert!(err(r#"{"target": {"kind": "gaussian", "mean": [0, 0], "cov": [[1, 0.3], [0.2, 1]]}}"#)
            .contains("target.cov"));
        assert!(err(r#"{"target": {"kind": "gaussian", "mean": [0, 0], "cov": [[1, 2], [2, 1]]}}"#)
            .contains("positive definite"));
        assert!(err(r#"{"target": {"kind": "gaussian", "mean": [0, 0, 0], "cov": [[1, 0], [0, 1]]}}"#)
            .contains("target.cov"));
        assert!(err(r#"{"target": {"kind": "named", "name": "ring8"}, "model": {"kind": "solenoidal", "A": [[0, 1], [1, 0]], "lambda": 1}}"#).contains("antisymmetric"));
        assert!(err(
            r#"{"target": {"kind": "named", "name": "ring8"}, "model": {"kind": "affine_error", "E": [[0]], "b": [0]}}"#
        )
        .contains("model.E"));
        assert!(err(r#"{"target": {"kind": "named", "name": "ring8"}, "model": {"kind": "teleport"}}"#)
            .contains("unknown variant"));
        assert!(err(r#"{"target": {"kind": "named", "name": "ring8"}, "extra": 1}"#).contains("unknown field"));
        assert!(err(r#"{"target": {"kind": "named", "name": "ring8"}, "model": {"kind": "checkpoint", "path": "x.safetensors"}}"#).contains("checkpoint"));
    }
}
