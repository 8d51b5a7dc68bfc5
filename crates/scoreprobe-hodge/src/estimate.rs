//! What an estimator returns at one time: values with their standard errors.

use serde::{Deserialize, Serialize};

/// A value with its Monte-Carlo standard error (0 for deterministic estimators) and the number
/// of samples (or grid cells) behind it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub value: f64,
    pub se: f64,
    pub samples: usize,
}

impl Estimate {
    /// A deterministic value.
    pub fn exact(value: f64) -> Self {
        Self { value, se: 0.0, samples: 0 }
    }

    pub fn scaled(self, c: f64) -> Self {
        Self { value: self.value * c, se: self.se * c.abs(), samples: self.samples }
    }
}

/// The Hodge quantities at one time, in score units (L²(p_t) norms).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HodgePoint {
    pub t: f64,
    pub sigma2: f64,
    /// ‖e_t‖².
    pub l2: Estimate,
    /// ‖∇φ_t‖².
    pub gradient: Estimate,
    /// ‖r_t‖² = ‖e_t‖² − ‖∇φ_t‖².
    pub solenoidal: Estimate,
    /// How ‖e_t‖² was obtained.
    pub l2_method: String,
    /// Samples (or grid cells) used at this time, all parts together.
    pub samples: usize,
}

impl HodgePoint {
    /// Builds a point; the solenoidal energy is the difference, its SE combines both (independent draws).
    pub fn new(t: f64, sigma2: f64, l2: Estimate, gradient: Estimate, l2_method: &str) -> Self {
        let solenoidal = Estimate {
            value: l2.value - gradient.value,
            se: (l2.se * l2.se + gradient.se * gradient.se).sqrt(),
            samples: l2.samples + gradient.samples,
        };
        Self {
            t,
            sigma2,
            l2,
            gradient,
            solenoidal,
            l2_method: l2_method.into(),
            samples: l2.samples + gradient.samples,
        }
    }
}
