//! The error source of a SIEM run, built in one place from what is known about the model and its
//! data, for every front end (the `siem` command, the study runner, the Python module).
//!
//! ```
//! use scoreprobe_core::distribution::named_target;
//! use scoreprobe_core::Schedule;
//! use scoreprobe_siem::recipe::{error_source, SourceOptions, Truth};
//! use scoreprobe_siem::ErrorFieldKind;
//!
//! let target = named_target("ring8").unwrap();
//! let schedule = Schedule::from_spec(&Default::default()).unwrap();
//! let truth = Truth::Exact { target, schedule, synthetic: None };
//! let source = error_source(ErrorFieldKind::Oracle, truth, SourceOptions::default()).unwrap();
//! assert_eq!(source.name(), "oracle");
//! ```

use crate::error::SiemError;
use crate::source::{ErrorFieldKind, ErrorSource, OracleSource};
use ndarray::Array2;
use rand_chacha::ChaCha8Rng;
use scoreprobe_core::model::synthetic::SyntheticModel;
use scoreprobe_core::{GaussianMixture, Schedule};

/// Draws `n` rows x₀ of the data (the classifier's and the critic's data sampler).
pub type Draws = Box<dyn FnMut(usize, &mut ChaCha8Rng) -> Array2<f64> + Send>;

/// What the model's error is measured against.
#[allow(clippy::large_enum_variant)] // one per SIEM run, moved into the source
pub enum Truth {
    /// A target with an exact score, and the model itself when it is synthetic (its own e_t is
    /// the oracle then: no cancellation, exactly 0 for `exact`).
    Exact { target: GaussianMixture, schedule: Schedule, synthetic: Option<SyntheticModel> },
    /// Only draws of the data (a data set): no oracle. `what` names the data in messages.
    Samples { draws: Draws, what: String },
}

impl Truth {
    /// Whether the model's exact error is known (an exact-score target).
    pub fn has_exact_score(&self) -> bool {
        matches!(self, Truth::Exact { .. })
    }

    /// Draws of x₀: samples of the target, or the data's own (what the projection form, the
    /// classifier and the critic use).
    pub fn into_draws(self) -> Draws {
        match self {
            Truth::Exact { target, .. } => Box::new(move |n, rng| target.sample(n, rng)),
            Truth::Samples { draws, .. } => draws,
        }
    }
}

/// Settings of the sources that train a network (their seeds included).
#[derive(Clone, Debug, Default)]
pub struct SourceOptions {
    #[cfg(feature = "nn")]
    pub classifier: crate::classifier::ClassifierConfig,
    #[cfg(feature = "nn")]
    pub critic: crate::critic::CriticSourceConfig,
}

/// The error source `kind` for a model measured against `truth`. The oracle needs an exact score
/// ([`SiemError::NoExactScore`] otherwise); the classifier and the critic need only draws of x₀
/// (and the `nn` feature).
pub fn error_source(
    kind: ErrorFieldKind,
    truth: Truth,
    options: SourceOptions,
) -> Result<Box<dyn ErrorSource>, SiemError> {
    match (kind, truth) {
        (ErrorFieldKind::Oracle, Truth::Exact { synthetic: Some(m), .. }) => Ok(Box::new(OracleSource::synthetic(m))),
        (ErrorFieldKind::Oracle, Truth::Exact { target, schedule, synthetic: None }) => {
            Ok(Box::new(OracleSource::for_target(target, schedule)))
        }
        (ErrorFieldKind::Oracle, Truth::Samples { what, .. }) => Err(SiemError::NoExactScore { what }),
        #[cfg(feature = "nn")]
        (ErrorFieldKind::Classifier, truth) => {
            Ok(Box::new(crate::classifier::ClassifierSource::new(truth.into_draws(), options.classifier)))
        }
        #[cfg(feature = "nn")]
        (ErrorFieldKind::Critic, truth) => {
            Ok(Box::new(crate::critic::CriticSource::new(truth.into_draws(), options.critic)))
        }
        #[cfg(not(feature = "nn"))]
        (kind, _) => {
            let _ = options;
            Err(SiemError::invalid("error field", kind.unavailable().unwrap_or_default()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scoreprobe_core::distribution::named_target;

    fn exact() -> Truth {
        let schedule = Schedule::from_spec(&Default::default()).unwrap();
        Truth::Exact { target: named_target("ring8").unwrap(), schedule, synthetic: None }
    }

    fn samples() -> Truth {
        Truth::Samples { draws: Box::new(|n, _| Array2::zeros((n, 2))), what: "data.npy".into() }
    }

    #[test]
    fn each_kind_builds_its_source_and_the_oracle_needs_an_exact_score() {
        assert_eq!(error_source(ErrorFieldKind::Oracle, exact(), SourceOptions::default()).unwrap().name(), "oracle");
        let e = error_source(ErrorFieldKind::Oracle, samples(), SourceOptions::default()).err().unwrap();
        assert!(matches!(&e, SiemError::NoExactScore { what } if what == "data.npy"), "{e}");
        #[cfg(feature = "nn")]
        for (kind, name) in [(ErrorFieldKind::Classifier, "classifier"), (ErrorFieldKind::Critic, "critic")] {
            assert_eq!(error_source(kind, exact(), SourceOptions::default()).unwrap().name(), name);
            assert_eq!(error_source(kind, samples(), SourceOptions::default()).unwrap().name(), name);
        }
    }
}
