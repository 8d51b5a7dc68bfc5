//! The two forms of SIEM (SPEC §7). How the score error's noise is correlated in space decides
//! what the quadratic variation squares:
//!
//! - [`SiemForm::Projection`]: noise common in space (the SPDE reading). The rate is
//!   β(t)² m_c(t)² with m_c(t) = E_{p_t}[s_θ·∇φ_c + Δφ_c]: forward-noised data draws only, no
//!   sampler run, no fitted field; blind to p_t-solenoidal errors (it sees the gradient part of
//!   SPEC §5). The default when the model has no exact score.
//! - [`SiemForm::Particle`]: noise independent per particle. The rate is β(t)² E_{q_t}[(ê·∇φ)²] on
//!   the model's own reverse-SDE trajectories with an error field ê (oracle, critic, classifier).

use crate::error::SiemError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which SIEM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum SiemForm {
    Projection,
    Particle,
}

impl SiemForm {
    pub const NAMES: &'static [&'static str] = &["projection", "particle"];

    pub fn name(&self) -> &'static str {
        match self {
            SiemForm::Projection => "projection",
            SiemForm::Particle => "particle",
        }
    }

    /// The default form: the particle form with the exact error field when the model's exact score
    /// is known, else the projection form (no fitted field needed).
    pub fn default_for(has_exact_score: bool) -> Self {
        if has_exact_score {
            SiemForm::Particle
        } else {
            SiemForm::Projection
        }
    }
}

impl fmt::Display for SiemForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for SiemForm {
    type Err = SiemError;
    fn from_str(s: &str) -> Result<Self, SiemError> {
        match s {
            "projection" => Ok(SiemForm::Projection),
            "particle" => Ok(SiemForm::Particle),
            other => Err(SiemError::Unknown { what: "SIEM form", name: other.into(), known: Self::NAMES.to_vec() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_the_default_follows_the_exact_score() {
        for f in [SiemForm::Projection, SiemForm::Particle] {
            assert_eq!(f.name().parse::<SiemForm>().unwrap(), f);
            assert_eq!(serde_json::to_value(f).unwrap(), serde_json::Value::String(f.name().into()));
        }
        assert!("both".parse::<SiemForm>().unwrap_err().to_string().contains("projection, particle"));
        assert_eq!(SiemForm::default_for(false), SiemForm::Projection);
        assert_eq!(SiemForm::default_for(true), SiemForm::Particle);
    }
}
