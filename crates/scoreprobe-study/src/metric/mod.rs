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
//! 1. a variant of [`MetricId`] in `id.rs`, with its name in `MetricId::name` (the variant in
//!    snake_case, on the command line and in every output; the declaration order is the order of
//!    report columns);
//! 2. a type implementing [`StudyMetric`], in the file of its family under `metric/` (or a new one);
//! 3. its arm in [`MetricId::metric`];
//! 4. if it records details of its own, their type in `details.rs`, a variant of
//!    [`Details`](crate::record::Details) and its arm in `Details::decode`.
//!
//! The files depend on each other in one direction: `id.rs` and `details.rs` are leaves, records
//! and errors use them, `interface.rs` (the trait and its outcome) uses those, each metric family
//! uses the interface, and this registry uses the families.
//!
//! The compiler points at 3 and 4 (the matches are exhaustive), and the registry's tests check
//! that every id maps to a metric reporting that id.

mod bounds;
mod exact_kl;
mod interface;
mod reference;
mod siem;

pub use crate::details::{
    BoundsDetails, ExactKlDetails, PairedUnits, ProfileStep, SampleDetails, SiemDetails, TestFnDetails, UnitKind,
};
pub use crate::id::MetricId;
pub use bounds::{KlBound, BOUNDS};
pub use exact_kl::ExactKl;
pub use interface::{Outcome, Reason, Role, StudyMetric, MAX_W2_DIM};
pub use reference::{Fd, Kid, W2};
pub use siem::{Centres, Siem, SiemWindow};

impl MetricId {
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
