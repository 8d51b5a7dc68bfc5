//! The trait every feature space implements (a leaf: the extractors depend on it, and `lib.rs`
//! builds them by name).

use crate::error::{FeaturesError, Result};
use ndarray::Array2;
use scoreprobe_data::ImageSet;

/// A feature space: maps images (or, for `identity`, raw vectors) to an `(N, D)` matrix.
pub trait FeatureExtractor: Send + Sync {
    /// The name that [`extractor_from_name`](crate::extractor_from_name) accepts for this feature space.
    fn name(&self) -> String;

    /// Feature dimension `D`; `0` means "same as the input" (`identity`).
    fn dim(&self) -> usize;

    /// Features of `images`, one row per image.
    fn extract(&self, images: &ImageSet) -> Result<Array2<f64>>;

    /// Features of a raw `(N, D)` matrix (points, flattened samples). Only `identity` accepts
    /// these; model-based feature spaces return an error.
    fn extract_matrix(&self, x: &Array2<f64>) -> Result<Array2<f64>> {
        let _ = x;
        Err(FeaturesError::invalid(
            format!("feature space '{}'", self.name()),
            "needs images, not an (N, D) matrix; use 'identity' for raw vectors",
        ))
    }
}
