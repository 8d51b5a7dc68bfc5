//! The study's metrics, as a typed registry (in the spirit of ripgrep's flag definitions): one
//! [`MetricId`] per metric, understood by clap (`--metrics w2,siem_window`) and serde (the cache,
//! `metrics.json`), and one small type per metric behind [`StudyMetric`].
//!
//! ```
//! use scoreprobe_study::metric::{MetricId, Role};
//! let m = MetricId::SiemWindow.metric();
//! assert_eq!(m.id(), MetricId::SiemWindow);
//! assert_eq!(m.role(), Role::Cheap);
//! assert_eq!(MetricId::SiemWindow.to_string(), "siem_window");
//! ```
//!
//! Adding a metric:
//! 1. a variant of [`MetricId`] (its name on the command line and in every output is the variant in
//!    snake_case; the declaration order is the order of report columns);
//! 2. a type implementing [`StudyMetric`], in the file of its family under `metric/` (or a new one);
//! 3. its arm in [`MetricId::metric`];
//! 4. if it records details of its own, a variant of [`Details`](crate::record::Details) and its arm
//!    in `Details::decode`.
//!
//! The compiler points at 3 and 4 (both matches are exhaustive), and the registry's tests check
//! that every id maps to a metric reporting that id.

mod bounds;
mod exact_kl;
mod reference;
mod siem;

pub use bounds::{BoundsDetails, KlBound, BOUNDS};
pub use exact_kl::{ExactKl, ExactKlDetails};
pub use reference::{Fd, Kid, SampleDetails, MAX_W2_DIM, W2};
pub use siem::{Centres, PairedUnits, ProfileStep, Siem, SiemDetails, SiemWindow, TestFnDetails, UnitKind};

use crate::context::ModelCtx;
use crate::error::MetricError;
use crate::record::Record;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Every metric a study knows. The declaration order is the order of columns in every report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum MetricId {
    /// Exact W2 between generated and reference samples.
    W2,
    /// Fréchet distance between generated and reference samples.
    Fd,
    /// Kernel inception distance between generated and reference samples.
    Kid,
    /// Exact KL of the generated law (Gaussian target, affine model).
    ExactKl,
    /// Projection-form SIEM, full window (K test functions at seeded data points).
    SiemProj,
    /// Projection-form SIEM, high-noise window.
    SiemProjWindow,
    /// Projection-form SIEM with the paper's single radial test function at the origin, full window.
    SiemProjOrigin,
    /// Projection-form SIEM with the paper's test function at the origin, high-noise window.
    SiemProjOriginWindow,
    /// Projection-form SIEM with the quadratic family, full window.
    SiemQuad,
    /// Projection-form SIEM with the quadratic family, high-noise window.
    SiemQuadWindow,
    /// SIEM, full window, oracle error field.
    Siem,
    /// SIEM, high-noise window, oracle error field.
    SiemWindow,
    /// Multi-centre SIEM, full window, oracle error field.
    SiemMc,
    /// Multi-centre SIEM, high-noise window, oracle error field.
    SiemMcWindow,
    /// SIEM, full window, classifier error field.
    SiemClassifier,
    /// SIEM, high-noise window, classifier error field.
    SiemClassifierWindow,
    /// SIEM, full window, Hodge-critic error field.
    SiemCritic,
    /// SIEM, high-noise window, Hodge-critic error field.
    SiemCriticWindow,
    /// Integrated L² score error (KL-bound group).
    L2,
    /// Integrated gradient error (KL-bound group).
    Gradient,
    /// Girsanov KL bound (KL-bound group).
    Girsanov,
    /// Marginal KL bound (KL-bound group).
    Marginal,
}

impl MetricId {
    /// Every metric, in report order.
    pub fn all() -> &'static [MetricId] {
        <MetricId as clap::ValueEnum>::value_variants()
    }

    /// The metric's definition.
    pub fn metric(self) -> &'static dyn StudyMetric {
        use MetricId::*;
        match self {
            W2 => &reference::W2,
            Fd => &reference::Fd,
            Kid => &reference::Kid,
            ExactKl => &exact_kl::ExactKl,
            SiemProj => &siem::SIEM_PROJ,
            SiemProjWindow => &siem::SIEM_PROJ_WINDOW,
            SiemProjOrigin => &siem::SIEM_PROJ_ORIGIN,
            SiemProjOriginWindow => &siem::SIEM_PROJ_ORIGIN_WINDOW,
            SiemQuad => &siem::SIEM_QUAD,
            SiemQuadWindow => &siem::SIEM_QUAD_WINDOW,
            Siem => &siem::SIEM,
            SiemWindow => &siem::SIEM_WINDOW,
            SiemMc => &siem::SIEM_MC,
            SiemMcWindow => &siem::SIEM_MC_WINDOW,
            SiemClassifier => &siem::SIEM_CLASSIFIER,
            SiemClassifierWindow => &siem::SIEM_CLASSIFIER_WINDOW,
            SiemCritic => &siem::SIEM_CRITIC,
            SiemCriticWindow => &siem::SIEM_CRITIC_WINDOW,
            L2 => &bounds::L2,
            Gradient => &bounds::GRADIENT,
            Girsanov => &bounds::GIRSANOV,
            Marginal => &bounds::MARGINAL,
        }
    }

    /// The name on the command line and in every output (`siem_window`).
    pub fn name(self) -> &'static str {
        use MetricId::*;
        match self {
            W2 => "w2",
            Fd => "fd",
            Kid => "kid",
            ExactKl => "exact_kl",
            SiemProj => "siem_proj",
            SiemProjWindow => "siem_proj_window",
            SiemProjOrigin => "siem_proj_origin",
            SiemProjOriginWindow => "siem_proj_origin_window",
            SiemQuad => "siem_quad",
            SiemQuadWindow => "siem_quad_window",
            Siem => "siem",
            SiemWindow => "siem_window",
            SiemMc => "siem_mc",
            SiemMcWindow => "siem_mc_window",
            SiemClassifier => "siem_classifier",
            SiemClassifierWindow => "siem_classifier_window",
            SiemCritic => "siem_critic",
            SiemCriticWindow => "siem_critic_window",
            L2 => "l2",
            Gradient => "gradient",
            Girsanov => "girsanov",
            Marginal => "marginal",
        }
    }

    pub fn role(self) -> Role {
        self.metric().role()
    }

    pub fn doc(self) -> &'static str {
        self.metric().doc()
    }

    /// The metrics one computation yields together with this one, itself included (the four
    /// KL-bound values come from one run of the bounds).
    pub fn computed_with(self) -> &'static [MetricId] {
        let group = self.metric().group();
        if group.is_empty() {
            std::slice::from_ref(Self::all().iter().find(|m| **m == self).expect("every id is in all()"))
        } else {
            group
        }
    }
}

impl fmt::Display for MetricId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

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
    /// The records of the metric and of its group.
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn every_id_has_its_metric_and_one_name_for_clap_serde_and_display() {
        for &id in MetricId::all() {
            let m = id.metric();
            assert_eq!(m.id(), id, "{id:?} maps to the metric of {:?}", m.id());
            assert!(!m.doc().is_empty());
            let clap_name = id.to_possible_value().expect("not hidden").get_name().to_string();
            assert_eq!(clap_name, id.name());
            assert_eq!(serde_json::to_value(id).unwrap(), serde_json::Value::String(id.name().into()));
            assert_eq!(serde_json::from_value::<MetricId>(id.name().into()).unwrap(), id);
            assert_eq!(id.to_string(), id.name());
            assert_eq!(MetricId::from_str(id.name(), false), Ok(id));
            assert!(id.computed_with().contains(&id));
        }
    }

    #[test]
    fn the_bound_group_comes_together_and_the_rest_alone() {
        let bounds = [MetricId::L2, MetricId::Gradient, MetricId::Girsanov, MetricId::Marginal];
        for id in bounds {
            assert_eq!(id.computed_with(), bounds);
        }
        assert_eq!(MetricId::Siem.computed_with(), [MetricId::Siem]);
        assert_eq!(MetricId::W2.computed_with(), [MetricId::W2]);
    }

    #[test]
    fn references_and_cheap_signals() {
        let refs: Vec<_> = MetricId::all().iter().filter(|m| m.role() == Role::Reference).copied().collect();
        assert_eq!(refs, [MetricId::W2, MetricId::Fd, MetricId::Kid, MetricId::ExactKl]);
    }
}
