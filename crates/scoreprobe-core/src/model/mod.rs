//! Score models: one trait for synthetic (controlled-error) models and trained networks.

mod error;
pub mod memo;
pub mod pair_rotation;
pub mod synthetic;

pub use error::ModelError;

use ndarray::{Array2, ArrayView2};

/// A time-dependent score model s_θ(x, t) ≈ ∇log p_t(x), evaluated on a batch of rows.
///
/// Every row of `x` shares the same time `t` (samplers and per-time estimators always evaluate
/// at one time). Networks compute in f32 internally; the interface is f64 so that statistics
/// downstream stay in f64. Evaluation is fallible: a network that cannot run, or a user's
/// callable that raises, is a [`ModelError`], never a panic.
pub trait ScoreModel: Send + Sync {
    /// Dimension d of the state.
    fn dim(&self) -> usize;
    /// The score at time `t` for each row of `x` (shape (n, d) → (n, d)).
    fn score(&self, x: ArrayView2<f64>, t: f64) -> Result<Array2<f64>, ModelError>;
    /// A short human-readable description used in outputs.
    fn describe(&self) -> String;
}

/// Evaluates `model` and checks what it returned: the shape of `x`, every value finite. Samplers
/// and estimators call this, so a model returning NaN or a wrong shape stops the run with an
/// error naming the model, the time and the first bad entry.
pub fn score_checked(model: &dyn ScoreModel, x: ArrayView2<f64>, t: f64) -> Result<Array2<f64>, ModelError> {
    let s = model.score(x, t)?;
    if s.dim() != x.dim() {
        return Err(ModelError::Shape { model: model.describe(), got: s.dim(), expected: x.dim() });
    }
    if s.iter().any(|v| !v.is_finite()) {
        let ((row, col), _) = s.indexed_iter().find(|(_, v)| !v.is_finite()).expect("a non-finite entry exists");
        return Err(ModelError::NonFinite { model: model.describe(), t, row, col });
    }
    Ok(s)
}
