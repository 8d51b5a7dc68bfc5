//! Typed warnings: conditions under which a metric is still returned (finite, in range) but is
//! less trustworthy. The library never prints; callers print them (`Display`) or match on them.

use std::fmt;

/// Which of the two input sets (or Gaussians) a warning is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Set {
    First,
    Second,
}

impl fmt::Display for Set {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Set::First => "first",
            Set::Second => "second",
        })
    }
}

/// A condition that makes a reported metric less trustworthy.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum MetricWarning {
    /// The set has N ≤ D points: its covariance is singular, and FD / Bures W2 between the
    /// Gaussian fits is finite but strongly biased.
    RankDeficient { set: Set, n: usize, dim: usize },
    /// The first covariance is singular (Cholesky failed), so the trace term used its
    /// eigendecomposition instead (same number, slower route).
    SingularFirstCovariance,
    /// Eigenvalues of Σ₁Σ₂ below −1e-8 × the largest were clamped to 0: a covariance is not PSD.
    ClampedEigenvalues { lowest: f64, largest: f64 },
    /// `count` feature columns of the set are constant (zero variance; the first is `first`).
    ConstantFeatures { set: Set, count: usize, first: usize },
}

impl fmt::Display for MetricWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricWarning::RankDeficient { set, n, dim } => write!(
                f,
                "{set} set has N = {n} <= D = {dim}: its covariance is rank-deficient, FD is finite but strongly biased; use N >> D"
            ),
            MetricWarning::SingularFirstCovariance => {
                f.write_str("first covariance is singular (Cholesky failed): used its eigendecomposition instead")
            }
            MetricWarning::ClampedEigenvalues { lowest, largest } => write!(
                f,
                "eigenvalues of Σ1Σ2 down to {lowest:.3e} (largest {largest:.3e}) were clamped to 0: a covariance is not PSD"
            ),
            MetricWarning::ConstantFeatures { set, count, first } => write!(
                f,
                "{set} set has {count} constant feature column(s) (first: column {first}): zero variance there"
            ),
        }
    }
}
