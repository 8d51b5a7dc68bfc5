//! Named 2-D oracle sets: mixtures whose exact scores are known.

use super::GaussianMixture;
use crate::error::CoreError;
use ndarray::{Array1, Array2};

/// Names accepted by `{"kind": "named", "name": ...}`.
pub const NAMED_TARGETS: &[&str] = &["ring8", "grid25"];

/// `ring8`: 8 equal isotropic Gaussians (std 0.1) on a circle of radius 1.5.
/// `grid25`: 25 equal isotropic Gaussians (std 0.08) on the 5×5 grid {−1.5, −0.75, 0, 0.75, 1.5}².
/// Both have overall scale ≈ 1, matching the VP-SDE prior N(0, I).
pub fn named_target(name: &str) -> Result<GaussianMixture, CoreError> {
    let (means, std): (Vec<[f64; 2]>, f64) = match name {
        "ring8" => (
            (0..8)
                .map(|k| {
                    let a = 2.0 * std::f64::consts::PI * k as f64 / 8.0;
                    [1.5 * a.cos(), 1.5 * a.sin()]
                })
                .collect(),
            0.1,
        ),
        "grid25" => ((0..25).map(|k| [0.75 * ((k / 5) as f64 - 2.0), 0.75 * ((k % 5) as f64 - 2.0)]).collect(), 0.08),
        other => {
            return Err(CoreError::Unknown {
                input: "target.name".into(),
                what: "named target",
                name: other.into(),
                known: NAMED_TARGETS.iter().map(|s| s.to_string()).collect(),
            })
        }
    };
    let k = means.len();
    let weights = Array1::from_elem(k, 1.0 / k as f64);
    let means = means.into_iter().map(|m| Array1::from(m.to_vec())).collect();
    let covs = (0..k).map(|_| Array2::eye(2) * (std * std)).collect();
    GaussianMixture::new(weights, means, covs, "target")
}
