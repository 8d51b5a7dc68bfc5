//! The error type of scoreprobe-core: bad specs and options, matrices a factorisation refuses,
//! files, and score models that fail while a sampler runs.

use crate::model::ModelError;
use std::path::PathBuf;

/// Why a matrix input was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MatrixProblem {
    #[error("must be square, got {rows}x{cols}")]
    NotSquare { rows: usize, cols: usize },
    #[error("contains NaN or infinite entries")]
    NonFinite,
    #[error("must be symmetric (max relative |a_ij - a_ji| = {asymmetry:.3e})")]
    NotSymmetric { asymmetry: f64 },
    #[error("must be positive definite (Cholesky failed)")]
    NotPositiveDefinite,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A run option outside its domain (its field is spelled by each front end).
    #[error("{0}")]
    Option(#[from] crate::option_error::OptionError),
    /// An input (a spec field, an option, an argument) outside its domain; `input` names it and
    /// `reason` says what is allowed and what was given.
    #[error("{input}: {reason}")]
    Invalid { input: String, reason: String },
    /// A name that is not one of the known ones (`input` may be empty when the caller names it).
    #[error("{}unknown {what} '{name}'; choose one of {}", prefix(.input), .known.join(", "))]
    Unknown { input: String, what: &'static str, name: String, known: Vec<String> },
    /// A matrix a factorisation (or a spec) refuses; `input` names it.
    #[error("{input}: {problem}")]
    Matrix { input: String, problem: MatrixProblem },
    /// A problem spec that is not valid JSON for the schema; `origin` names the file.
    #[error("{origin}: invalid problem spec: {source}")]
    Spec {
        origin: String,
        #[source]
        source: serde_json::Error,
    },
    /// A file that cannot be read, written or moved into place.
    #[error("{}: {action}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A file writer that failed; `source` is its error.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The score model failed at sampler step `step` (the step from t down to the next time).
    #[error("sampler step {step} at t = {t}: {source}")]
    Sampling {
        step: usize,
        t: f64,
        #[source]
        source: ModelError,
    },
    /// The exact generated law needs a Gaussian target and an affine score.
    #[error(
        "no exact generated law for model '{model}' on this target: it needs a Gaussian target and an affine score \
         (exact, affine_error, solenoidal, or gradient with a quadratic potential)"
    )]
    NoExactLaw { model: String },
}

impl CoreError {
    /// An input outside its domain.
    pub fn invalid(input: impl Into<String>, reason: impl Into<String>) -> Self {
        CoreError::Invalid { input: input.into(), reason: reason.into() }
    }

    /// The error with its input renamed (e.g. prefixed by the option or spec field that holds it).
    pub fn within(self, outer: &str) -> Self {
        match self {
            CoreError::Invalid { input, reason } => CoreError::Invalid { input: join(outer, &input), reason },
            CoreError::Unknown { input, what, name, known } => {
                CoreError::Unknown { input: join(outer, &input), what, name, known }
            }
            CoreError::Matrix { input, problem } => CoreError::Matrix { input: join(outer, &input), problem },
            other => other,
        }
    }
}

fn prefix(input: &str) -> String {
    if input.is_empty() {
        String::new()
    } else {
        format!("{input}: ")
    }
}

fn join(outer: &str, inner: &str) -> String {
    if inner.is_empty() {
        outer.to_string()
    } else {
        format!("{outer}: {inner}")
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
