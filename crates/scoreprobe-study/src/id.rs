//! The identity of every metric (a leaf: errors, records and the cache name metrics without
//! depending on the metrics themselves; the registry in `metric` maps an id to its definition).

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
}

impl fmt::Display for MetricId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}
