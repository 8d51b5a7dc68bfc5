//! What can go wrong when a score model is evaluated (CONTRACTS.md §1).

/// A score model that could not produce a usable score. Every error names the model (its
/// [`describe`](super::ScoreModel::describe) string); a model's own failure is kept as the
/// `source`, never stringified, so front ends can walk `std::error::Error::source()` and downcast
/// to recover it (a candle error, a Python exception, ...).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The model returned an array of the wrong shape.
    #[error("{model}: returned shape {got:?}, expected {expected:?}")]
    Shape { model: String, got: (usize, usize), expected: (usize, usize) },
    /// The model returned NaN or ±inf.
    #[error("{model}: returned a non-finite value (row {row}, column {col}) at t = {t}")]
    NonFinite { model: String, t: f64, row: usize, col: usize },
    /// The model was given rows of the wrong dimension.
    #[error("{model}: expects rows of dimension {expected}, got {got}")]
    InputDimension { model: String, got: usize, expected: usize },
    /// The model could not run; `source` is the original error (a candle error, a Python
    /// exception wrapped by the Python module, ...).
    #[error("{model}: {source}")]
    Failed {
        model: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl ModelError {
    /// A model failure keeping `source` as the cause.
    pub fn failed(
        model: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        ModelError::Failed { model: model.into(), source: source.into() }
    }
}
