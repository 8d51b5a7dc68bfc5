//! The error type of scoreprobe-nn.

use scoreprobe_core::{CoreError, ModelError};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NnError {
    /// An input or option outside its domain; `input` names it.
    #[error("{input}: {reason}")]
    Invalid { input: String, reason: String },
    /// A shape or option check inside the network code failed (the message says which).
    #[error("{0}")]
    Check(String),
    /// The score model under test failed (e.g. while a critic batch was drawn).
    #[error("{0}")]
    Model(#[from] ModelError),
    /// A schedule, target or file routine of scoreprobe-core refused.
    #[error("{0}")]
    Core(#[from] CoreError),
    /// Training data that cannot be loaded.
    #[error("{0}")]
    Data(#[from] scoreprobe_data::DataError),
    /// A tensor operation failed.
    #[error("{0}")]
    Candle(#[from] candle_core::Error),
    /// An optimisation whose loss or objective stopped being finite.
    #[error("{what} diverged at step {step}: {quantity} = {value}")]
    Diverged { what: &'static str, step: u64, quantity: &'static str, value: f64 },
    /// A checkpoint (tensor file or sidecar) that does not describe a usable network.
    #[error("{}: {problem}", path.display())]
    Checkpoint { path: PathBuf, problem: String },
    /// A file or folder that cannot be read, listed or created.
    #[error("{}: {action}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A sidecar that is not valid JSON for its schema.
    #[error("{}: invalid sidecar: {source}", path.display())]
    Sidecar {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The training observer (e.g. `scoreprobe train --monitor`) failed after optimiser step `step`.
    #[error("after step {step}: {source}")]
    Observer {
        step: u64,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A tensor file that safetensors cannot parse or write.
    #[error("{}: {action}: {source}", path.display())]
    Safetensors {
        path: PathBuf,
        action: String,
        #[source]
        source: safetensors::SafeTensorError,
    },
}

impl NnError {
    /// An input outside its domain.
    pub fn invalid(input: impl Into<String>, reason: impl Into<String>) -> Self {
        NnError::Invalid { input: input.into(), reason: reason.into() }
    }

    /// A checkpoint problem naming the file.
    pub fn checkpoint(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        NnError::Checkpoint { path: path.into(), problem: problem.into() }
    }
}

pub type Result<T, E = NnError> = std::result::Result<T, E>;

/// `ensure!(condition, "format", args…)`: returns [`NnError::Check`] with the message when the
/// condition fails (the crate's shape and option checks).
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {{
        // bound first: `!(c > 0.0)` reads as a negated partial comparison (NaN fails the check)
        let holds: bool = $cond;
        if !holds {
            return Err($crate::error::NnError::Check(format!($($msg)+)));
        }
    }};
}

/// `bail!("format", args…)`: returns [`NnError::Check`] with the message.
macro_rules! bail {
    ($($msg:tt)+) => {
        return Err($crate::error::NnError::Check(format!($($msg)+)))
    };
}

pub(crate) use {bail, ensure};
