//! Score models: one trait for synthetic (controlled-error) models and trained networks.

pub mod synthetic;

use ndarray::{Array2, ArrayView2};

/// A time-dependent score model s_θ(x, t) ≈ ∇log p_t(x), evaluated on a batch of rows.
///
/// Every row of `x` shares the same time `t` (samplers and per-time estimators always evaluate
/// at one time). Networks compute in f32 internally; the interface is f64 so that statistics
/// downstream stay in f64.
pub trait ScoreModel: Send + Sync {
    /// Dimension d of the state.
    fn dim(&self) -> usize;
    /// The score at time `t` for each row of `x` (shape (n, d) → (n, d)).
    fn score(&self, x: ArrayView2<f64>, t: f64) -> Array2<f64>;
    /// A short human-readable description used in outputs.
    fn describe(&self) -> String;
}
