//! The study's errors: [`StudyError`] for everything that stops a study, and [`MetricError`] for
//! a metric that could not be computed on one model (the runner wraps it with the model and the
//! metric, so a metric's own code never has to name them).
//!
//! A metric that does not apply to a model is not an error: it is
//! [`Outcome::NotApplicable`](crate::metric::Outcome) with a typed [`Reason`](crate::metric::Reason).
//! Every error keeps its cause as `#[source]`, so front ends can walk `Error::source()` down to the
//! library error that started it (a score model's, a sampler's, a file's).

use crate::id::MetricId;
use scoreprobe_core::CoreError;
use scoreprobe_hodge::HodgeError;
use scoreprobe_siem::SiemError;
use std::path::PathBuf;

/// A cause from a crate whose errors this crate does not name (feature extractors, file loaders,
/// a front end's checkpoint loader): kept whole, never stringified, so `source()` chains reach it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a study stopped (or, with [`OnFailure::KeepGoing`](crate::runner::OnFailure), why one
/// model's metrics are recorded as failed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StudyError {
    #[error("the study has no models")]
    NoModels,
    #[error("model name '{0}' must be non-empty and use only letters, digits, '-', '_', '.', '='")]
    BadModelName(String),
    #[error("model name '{0}' appears twice")]
    DuplicateModelName(String),
    #[error("the study has no metrics")]
    NoMetrics,
    /// A setting out of its range, named as the front end spells it.
    #[error("{setting}: {message}")]
    Setting { setting: &'static str, message: String },
    #[error("critic fit (--critic-steps, --critic-pool, --critic-batch, --critic-directions)")]
    CriticFit { source: BoxError },
    #[error("cannot read the run directory {}", path.display())]
    RunDir { path: PathBuf, source: std::io::Error },
    #[error("run directory {} has no checkpoints (expected files named ckpt-<step>.safetensors)", path.display())]
    NoCheckpoints { path: PathBuf },
    #[error("models file {}", path.display())]
    ModelsFile { path: PathBuf, source: BoxError },
    /// The reference (target, schedule, data) could not be built.
    #[error("the reference '{reference}'")]
    Reference { reference: String, source: CoreError },
    #[error("features '{features}' of the reference '{reference}'")]
    ReferenceFeatures { features: String, reference: String, source: Box<MetricError> },
    #[error("--features {features}: the reference '{reference}' is vector data ({shape}), not images; use --features identity")]
    FeaturesOnVectors { features: String, reference: String, shape: String },
    #[error("feature extractor '{features}'")]
    Extractor { features: String, source: BoxError },
    #[error(
        "model '{model}' is synthetic (a perturbation of an exact-score target); a data-set reference takes \
         trained checkpoints only"
    )]
    SyntheticOnData { model: String },
    #[error("model '{model}'")]
    SyntheticModel { model: String, source: CoreError },
    #[error("model '{model}': cannot load the checkpoint {}", path.display())]
    Load { model: String, path: PathBuf, source: BoxError },
    #[error("model '{model}' has dimension {model_dim}, {reference}")]
    Dimension { model: String, model_dim: usize, reference: String },
    /// A metric failed on a model: the model, the metric, and the cause as the source.
    #[error("model '{model}', metric {metric}")]
    Metric { model: String, metric: MetricId, source: Box<MetricError> },
    #[error("cannot write {}", path.display())]
    Write { path: PathBuf, source: BoxError },
    #[error("{message}")]
    Figure {
        title: String,
        /// plotters' error is generic over its drawing backend; a figure failure is only ever shown
        /// as a note in the report, so its text is all that is kept.
        message: String,
    },
    /// A file of a study folder that cannot be read back (`scoreprobe report`).
    #[error("{}: {message}", path.display())]
    Input { path: PathBuf, message: String },
    #[error("{} is not a study folder: {message}", path.display())]
    NotAStudy { path: PathBuf, message: String },
    #[error("the page template: {message}")]
    Template { message: String },
    #[error("serialising {what}")]
    Json { what: &'static str, source: serde_json::Error },
}

/// Why a metric could not be computed on a model (a real failure, not "does not apply").
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricError {
    #[error("sampling the model failed")]
    Sampling(#[source] CoreError),
    #[error("the model generated non-finite samples")]
    NonFiniteSamples,
    #[error("features '{features}'")]
    Features { features: String, source: BoxError },
    #[error(transparent)]
    Reference(#[from] scoreprobe_metrics::MetricsError),
    #[error("the exact generated law")]
    ExactLaw(#[source] CoreError),
    #[error("the SIEM estimate")]
    Siem(#[from] SiemError),
    #[error("the KL bounds")]
    Bounds(#[from] HodgeError),
}

/// An error and its causes in one line, `outer: cause: root cause` (a cause whose text the line
/// already ends with is not repeated: some errors print their source in their own message).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let c = cause.to_string();
        if !text.ends_with(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        next = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("checkpoint ckpt-7.safetensors is truncated")]
    struct Truncated;

    #[test]
    fn the_chain_names_the_model_the_metric_and_the_root_cause_and_keeps_it_downcastable() {
        let e = StudyError::Metric {
            model: "ckpt-7".into(),
            metric: MetricId::SiemWindow,
            source: Box::new(MetricError::Features { features: "mnist-cnn".into(), source: Box::new(Truncated) }),
        };
        assert_eq!(
            chain(&e),
            "model 'ckpt-7', metric siem_window: features 'mnist-cnn': checkpoint ckpt-7.safetensors is truncated"
        );
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        let mut found = false;
        while let Some(c) = cause {
            found |= c.downcast_ref::<Truncated>().is_some();
            cause = c.source();
        }
        assert!(found, "the original error is reachable through source()");
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer: {0}")]
        struct Wraps(#[source] Truncated);
        assert_eq!(chain(&Wraps(Truncated)), "outer: checkpoint ckpt-7.safetensors is truncated");
    }
}
