//! The names of the Hodge estimators: a leaf, so that errors can name an estimator without
//! depending on the estimators themselves.

use std::fmt;

/// The estimators of the gradient part ‖∇φ_t‖² (SPEC §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EstimatorKind {
    /// Gaussian target, affine error: the Lyapunov equation.
    ClosedForm,
    /// d ≤ 2, exact target: finite-volume weighted Poisson solve.
    Grid,
    /// Linear-in-parameters critic on random Fourier (+ polynomial) features, denoising form.
    RandomFeatures,
    /// A neural scalar critic (needs scoreprobe-nn).
    Critic,
}

impl EstimatorKind {
    pub const ALL: [EstimatorKind; 4] =
        [EstimatorKind::ClosedForm, EstimatorKind::Grid, EstimatorKind::RandomFeatures, EstimatorKind::Critic];

    pub fn name(self) -> &'static str {
        match self {
            EstimatorKind::ClosedForm => "closed-form",
            EstimatorKind::Grid => "grid",
            EstimatorKind::RandomFeatures => "random-features",
            EstimatorKind::Critic => "critic",
        }
    }
}

impl fmt::Display for EstimatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
