//! One error type for the crate, and the input checks every public routine runs first.

use ndarray::ArrayView2;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("{what}: empty input ({rows} rows x {cols} columns)")]
    Empty { what: String, rows: usize, cols: usize },
    #[error("{what}: dimension mismatch ({left} vs {right})")]
    DimensionMismatch { what: String, left: usize, right: usize },
    #[error("{what}: row {row} contains NaN or infinite values")]
    NonFinite { what: String, row: usize },
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {msg}")]
    File { path: PathBuf, msg: String },
    /// The operating system refused a write (a full disk, a permission): its error is kept as the
    /// source, so front ends can report it as such (Python: the errno's `OSError`).
    #[error("{path}: {action}: {source}")]
    Io { path: PathBuf, action: &'static str, source: std::io::Error },
    /// A `.npy` point set that cannot be read or written (scoreprobe-data's reader and writer).
    #[error("{0}")]
    Data(#[from] scoreprobe_data::DataError),
    /// An atomic write that failed (scoreprobe-core's).
    #[error("{0}")]
    Write(#[from] scoreprobe_core::CoreError),
    /// A state file that cannot be read, or states that do not merge (the error names the file).
    #[error("{0}")]
    State(#[from] scoreprobe_core::state::StateError),
}

pub type Result<T> = std::result::Result<T, MetricsError>;

pub(crate) fn invalid(msg: impl Into<String>) -> MetricsError {
    MetricsError::Invalid(msg.into())
}

/// A point cloud (N, D): N ≥ 1, D ≥ 1, every entry finite.
pub(crate) fn check_points(x: ArrayView2<f64>, what: &str) -> Result<()> {
    if x.nrows() == 0 || x.ncols() == 0 {
        return Err(MetricsError::Empty { what: what.into(), rows: x.nrows(), cols: x.ncols() });
    }
    // A branch-free fold over each row (it vectorises; `any` would not), the row named on failure.
    let finite = |r: ndarray::ArrayView1<f64>| match r.as_slice() {
        Some(s) => s.iter().fold(true, |ok, v| ok & v.is_finite()),
        None => r.iter().all(|v| v.is_finite()),
    };
    match x.outer_iter().position(|r| !finite(r)) {
        Some(row) => Err(MetricsError::NonFinite { what: what.into(), row }),
        None => Ok(()),
    }
}

/// Two point clouds in the same space, each checked as above.
pub(crate) fn check_pair(a: ArrayView2<f64>, b: ArrayView2<f64>, what: &str) -> Result<()> {
    check_points(a, &format!("{what}: first set"))?;
    check_points(b, &format!("{what}: second set"))?;
    if a.ncols() != b.ncols() {
        return Err(MetricsError::DimensionMismatch {
            what: format!("{what}: feature dimension of the two sets"),
            left: a.ncols(),
            right: b.ncols(),
        });
    }
    Ok(())
}

/// At least `min` rows.
pub(crate) fn check_min_rows(x: ArrayView2<f64>, min: usize, what: &str) -> Result<()> {
    if x.nrows() < min {
        return Err(invalid(format!("{what}: needs at least {min} points, got {}", x.nrows())));
    }
    Ok(())
}
