//! What every metric implements and returns: the contract between the registry, the metrics
//! and the runner (a leaf of the `metric` module, so the metrics do not depend on the registry).

use crate::context::ModelCtx;
use crate::error::MetricError;
use crate::id::MetricId;
use crate::record::Record;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Largest feature dimension on which exact W2 is computed: above it, n points leave W2 in
/// raw/feature coordinates dominated by the curse of dimension, so it does not apply (fd/kid do).
pub const MAX_W2_DIM: usize = 64;

/// What a metric is for: an expensive reference of quality, or a cheap signal under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Reference,
    Cheap,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Role::Reference => "reference",
            Role::Cheap => "cheap",
        })
    }
}

/// One metric of the study.
pub trait StudyMetric: Sync {
    fn id(&self) -> MetricId;
    fn role(&self) -> Role;
    /// One line, shown in the report's metric definitions.
    fn doc(&self) -> &'static str;
    /// The metrics [`Self::compute`] returns together, this one included; empty when it returns
    /// only itself.
    fn group(&self) -> &'static [MetricId] {
        &[]
    }
    /// The metric (and its group) on one model, or why it does not apply to it. An `Err` is a real
    /// failure: the runner stops the study with it, or records it as failed (`--keep-going`).
    fn compute(&self, ctx: &mut ModelCtx) -> Result<Outcome, MetricError>;
}

/// A metric's result on one model.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The records of the metric and of its group, and of any pending metric it computed with
    /// it ([`ModelCtx::pending`]: the projection form's shared pass); the runner stores them all.
    Done(Vec<(MetricId, Record)>),
    /// The metric does not apply to this model or reference (never a failure in disguise).
    NotApplicable(Reason),
}

impl Outcome {
    pub(crate) fn one(id: MetricId, record: Record) -> Self {
        Outcome::Done(vec![(id, record)])
    }
}

/// Why a metric does not apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// An oracle metric (exact error field, centres on the target, exact KL) on a data set.
    NoExactScore,
    /// `exact_kl` of a trained network: its generated law has no closed form.
    NeedsSyntheticModel,
    /// `exact_kl` of a synthetic model whose generated law has no closed form on this target.
    NoExactLaw { model: String },
    /// `w2` in a feature space too wide for n points to resolve.
    FeaturesTooWide { features: String, dim: usize },
    /// No Hodge estimator of the KL-bound group applies to this model and reference.
    NoHodgeEstimator,
    /// A reason read back from a study's `metrics.json` (`scoreprobe report`), shown as written.
    Recorded(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NoExactScore => f.write_str("no exact score for a data-set reference"),
            Reason::NeedsSyntheticModel => f.write_str("needs a synthetic model"),
            Reason::NoExactLaw { model } => write!(
                f,
                "no exact generated law for model '{model}' on this target: it needs a Gaussian target and an \
                 affine score (exact, affine_error, solenoidal, or gradient with a quadratic potential)"
            ),
            Reason::FeaturesTooWide { features, dim } => write!(
                f,
                "w2 is computed on features of at most {MAX_W2_DIM} dimensions; features '{features}' have {dim} \
                 (use fd/kid)"
            ),
            Reason::NoHodgeEstimator => f.write_str("no Hodge estimator applies"),
            Reason::Recorded(why) => f.write_str(why),
        }
    }
}
