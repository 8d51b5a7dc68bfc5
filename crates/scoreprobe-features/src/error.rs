//! The error type of scoreprobe-features.

use std::path::PathBuf;
use tract_onnx::prelude::TractError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeaturesError {
    /// An input or option outside its domain (an empty image set, a wrong image size, an unknown
    /// feature space name); `input` names it.
    #[error("{input}: {reason}")]
    Invalid { input: String, reason: String },
    /// A model file that is missing or cannot be found.
    #[error("{}: {problem}", path.display())]
    ModelFile { path: PathBuf, problem: String },
    /// A model file that tract cannot load or compile as the expected network; the source
    /// (tract's error, whose contexts name the file) says why.
    #[error("{source:#}")]
    Model {
        path: PathBuf,
        #[source]
        source: TractError,
    },
    /// Inference of a loaded model failed.
    #[error("{model}: inference failed: {source:#}")]
    Inference {
        model: String,
        #[source]
        source: TractError,
    },
    /// Reading the shared data folder or an image set failed.
    #[error("{0}")]
    Data(#[from] scoreprobe_data::DataError),
}

impl FeaturesError {
    /// An input outside its domain.
    pub fn invalid(input: impl Into<String>, reason: impl Into<String>) -> Self {
        FeaturesError::Invalid { input: input.into(), reason: reason.into() }
    }
}

pub type Result<T, E = FeaturesError> = std::result::Result<T, E>;
