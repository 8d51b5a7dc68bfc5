//! The error type of scoreprobe-nn.

use scoreprobe_core::{CoreError, ModelError};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NnError {
    /// An input or option outside its domain; `input` names it.
    #[error("{input}: {reason}")]
    Invalid { input: String, reason: String },
    /// The score model under test failed (e.g. while a critic batch was drawn).
    #[error("{0}")]
    Model(#[from] ModelError),
    /// A schedule, target or file routine of scoreprobe-core refused.
    #[error("{0}")]
    Core(#[from] CoreError),
    /// A tensor operation failed.
    #[error("{0}")]
    Candle(#[from] candle_core::Error),
    /// An optimisation whose objective stopped being finite.
    #[error("{what} diverged at step {step}: objective = {value}")]
    Diverged { what: &'static str, step: u64, value: f64 },
    /// Not yet converted (layers, training, checkpoints).
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

impl NnError {
    /// An input outside its domain.
    pub fn invalid(input: impl Into<String>, reason: impl Into<String>) -> Self {
        NnError::Invalid { input: input.into(), reason: reason.into() }
    }
}

pub type Result<T, E = NnError> = std::result::Result<T, E>;
