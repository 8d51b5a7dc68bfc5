//! The error type of scoreprobe-data. Every error names the file, folder or data set it is about.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// A file or folder that cannot be read, listed or created.
    #[error("{}: {action}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A file whose content is not what its format requires (truncated, wrong magic number,
    /// unsupported type, wrong shape, empty, NaN, ...); `problem` says what and where.
    #[error("{}: {problem}", path.display())]
    Format { path: PathBuf, problem: String },
    /// A `.npy` file that ndarray-npy cannot read.
    #[error("{}: cannot read as .npy: {source}", path.display())]
    Npy {
        path: PathBuf,
        #[source]
        source: ndarray_npy::ReadNpyError,
    },
    /// A `.npy` file that cannot be written.
    #[error("{}: cannot write .npy data: {source}", path.display())]
    NpyWrite {
        path: PathBuf,
        #[source]
        source: ndarray_npy::WriteNpyError,
    },
    /// An image file that cannot be opened or decoded.
    #[error("{}: cannot {action} image: {source}", path.display())]
    Image {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: image::ImageError,
    },
    /// A folder that cannot be walked.
    #[error("{}: cannot list: {source}", path.display())]
    Walk {
        path: PathBuf,
        #[source]
        source: walkdir::Error,
    },
    /// A named data set that is not installed where it is looked for; `how` says how to get it.
    #[error("{dataset}: {how}")]
    Missing { dataset: String, how: String },
    /// An argument outside its domain (a name, a limit, a shape); `input` names it.
    #[error("{input}: {reason}")]
    Invalid { input: String, reason: String },
    /// An atomic write of scoreprobe-core that failed.
    #[error("{0}")]
    Write(#[from] scoreprobe_core::CoreError),
}

impl DataError {
    /// A file whose content is not what its format requires.
    pub fn format(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        DataError::Format { path: path.into(), problem: problem.into() }
    }

    /// An argument outside its domain.
    pub fn invalid(input: impl Into<String>, reason: impl Into<String>) -> Self {
        DataError::Invalid { input: input.into(), reason: reason.into() }
    }
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;
