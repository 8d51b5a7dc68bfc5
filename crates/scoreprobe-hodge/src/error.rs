//! The error type of scoreprobe-hodge.

use crate::kind::EstimatorKind;
use scoreprobe_core::{CoreError, ModelError};
use scoreprobe_nn::NnError;
use std::str::FromStr;

/// Why an estimator does not apply to a problem (e.g. "it needs a Gaussian target").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotApplicable(pub String);

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HodgeError {
    /// An input or option outside its domain; `input` names it.
    #[error("{input}: {reason}")]
    Invalid { input: String, reason: String },
    /// A run option outside its domain (each front end spells its field its own way).
    #[error("{0}")]
    Option(#[from] scoreprobe_core::options::OptionError),
    /// The chosen estimator does not apply to the problem; `applicable` lists those that do.
    #[error(
        "estimator '{estimator}' does not apply: {why}; estimators that apply here: {}",
        names(.applicable)
    )]
    NotApplicable { estimator: EstimatorKind, why: NotApplicable, applicable: Vec<EstimatorKind> },
    /// An estimator name that is not one of [`EstimatorKind::ALL`].
    #[error("unknown estimator '{name}'; known: {}", names(&EstimatorKind::ALL))]
    UnknownEstimator { name: String },
    /// The model under test failed at time `t`.
    #[error("score model at t = {t}: {source}")]
    Model {
        t: f64,
        #[source]
        source: ModelError,
    },
    /// A linear-algebra or spec routine of scoreprobe-core refused.
    #[error("{0}")]
    Core(#[from] CoreError),
    /// A state file that cannot be read, or states that do not merge (the error names the file;
    /// boxed: it is large, and every HodgeError would carry its size).
    #[error("{0}")]
    State(Box<scoreprobe_core::state::StateError>),
    /// The neural critic failed (fit or evaluation).
    #[error("critic: {0}")]
    Critic(#[from] NnError),
}

impl HodgeError {
    /// An input outside its domain.
    pub fn invalid(input: impl Into<String>, reason: impl Into<String>) -> Self {
        HodgeError::Invalid { input: input.into(), reason: reason.into() }
    }

    /// Wraps a model failure at time `t` (for `map_err`).
    pub fn model_at(t: f64) -> impl Fn(ModelError) -> HodgeError {
        move |source| HodgeError::Model { t, source }
    }
}

// beside the error it returns, so that `kind.rs` stays a leaf
impl FromStr for EstimatorKind {
    type Err = HodgeError;
    fn from_str(s: &str) -> Result<Self, HodgeError> {
        Self::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| HodgeError::UnknownEstimator { name: s.into() })
    }
}

fn names(kinds: &[EstimatorKind]) -> String {
    if kinds.is_empty() {
        "none".into()
    } else {
        kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
    }
}

pub type Result<T, E = HodgeError> = std::result::Result<T, E>;

impl From<scoreprobe_core::state::StateError> for HodgeError {
    fn from(e: scoreprobe_core::state::StateError) -> Self {
        HodgeError::State(Box::new(e))
    }
}
