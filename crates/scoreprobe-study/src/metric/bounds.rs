//! The KL-bound group (SPEC §6): one run of the Girsanov and marginal bounds gives four metrics,
//! the integrated L² and gradient errors and the two bounds.

use super::interface::{Outcome, Reason, Role, StudyMetric};
use crate::context::{ModelCtx, Truth};
use crate::details::BoundsDetails;
use crate::error::MetricError;
use crate::id::MetricId;
use crate::record::{Details, Record};
use scoreprobe_hodge::bounds::{kl_bounds, BoundsConfig};
use scoreprobe_hodge::critic::CriticL2;
use scoreprobe_hodge::{EstimatorKind, HodgeConfig, HodgeEstimator, Problem};

/// One of the four metrics of the group (each computes all four).
pub struct KlBound {
    id: MetricId,
    doc: &'static str,
}

/// The group, in the order the bounds report returns it.
pub const BOUNDS: [MetricId; 4] = [MetricId::L2, MetricId::Gradient, MetricId::Girsanov, MetricId::Marginal];

pub const L2: KlBound =
    KlBound { id: MetricId::L2, doc: "integrated L2 score error ∫½β‖e_t‖² dt (Girsanov integrand)" };
pub const GRADIENT: KlBound = KlBound {
    id: MetricId::Gradient,
    doc: "integrated gradient error ∫½β‖∇φ_t‖² dt (the Hodge gradient part)",
};
pub const GIRSANOV: KlBound =
    KlBound { id: MetricId::Girsanov, doc: "Girsanov KL bound KL(p_T‖π) + ∫½β‖e_t‖²" };
pub const MARGINAL: KlBound =
    KlBound { id: MetricId::Marginal, doc: "marginal KL bound KL(p_T‖π) + ∫½β‖∇φ_t‖²" };

impl StudyMetric for KlBound {
    fn id(&self) -> MetricId {
        self.id
    }
    fn role(&self) -> Role {
        Role::Cheap
    }
    fn doc(&self) -> &'static str {
        self.doc
    }
    fn group(&self) -> &'static [MetricId] {
        &BOUNDS
    }
    fn compute(&self, ctx: &mut ModelCtx) -> Result<Outcome, MetricError> {
        let s = ctx.settings;
        let problem = match (ctx.synthetic, ctx.truth) {
            (Some(m), _) => Problem::synthetic(m),
            // a data set: the critic in the denoising form needs only draws of x₀
            (None, Truth::Data(dc)) => Problem::on_samples(ctx.model, dc.data.rows.view(), ctx.schedule),
            (None, Truth::Target(target)) => Problem::on_target(ctx.model, target, ctx.schedule),
        };
        let on_data = matches!(ctx.truth, Truth::Data(_));
        let mut config = HodgeConfig::default();
        config.grid.cells_per_std = s.grid_cells_per_std;
        config.grid.max_cells_per_axis = s.grid_max_cells;
        config.critic.fit = s.critic_fit();
        config.critic.n = s.critic_holdout.unwrap_or(config.critic.n);
        // ‖e_t‖² on a data set: the denoising loss (‖e_t‖² + a model-independent C_t ≥ 0), which
        // keeps the Girsanov bound a bound and ranks models like ‖e_t‖²; a vector critic with d
        // outputs overfits at image sizes (held-out values far below zero)
        config.critic.l2 = if on_data { CriticL2::Denoising } else { CriticL2::Auto };
        let all = scoreprobe_hodge::estimators(&config);
        let available: Vec<&dyn HodgeEstimator> = all.iter().map(|e| e.as_ref()).collect();
        // the most exact estimator that applies: closed form, else the grid (d ≤ 2), else random
        // features; on a data set (no exact score) the critic, whose denoising form needs none
        let candidates: &[EstimatorKind] = if on_data {
            &[EstimatorKind::Critic]
        } else {
            &[EstimatorKind::ClosedForm, EstimatorKind::Grid, EstimatorKind::RandomFeatures]
        };
        let Some(kind) = candidates.iter().copied().find(|k| {
            let e = scoreprobe_hodge::estimator(*k, &config);
            scoreprobe_hodge::check_applies(e.as_ref(), &problem, &available).is_ok()
        }) else {
            return Ok(Outcome::NotApplicable(Reason::NoHodgeEstimator));
        };
        let est = scoreprobe_hodge::estimator(kind, &config);
        let cfg = BoundsConfig { t_min: s.t_min, panels: s.bound_panels, ..Default::default() };
        let r = kl_bounds(est.as_ref(), &problem, &cfg, s.seed, &available)?;
        let details = BoundsDetails {
            estimator: r.estimator.clone(),
            prior_kl: r.prior_kl,
            t_min: r.t_min,
            quadrature: r.quadrature.clone(),
            girsanov_quad_err: r.girsanov_quad_err,
            marginal_quad_err: r.marginal_quad_err,
            exact_kl: r.exact_kl,
        };
        let rec = |value: f64, se: f64| Record {
            value,
            se: Some(se),
            nfe: None,
            seconds: r.seconds,
            details: Details::Bounds(details.clone()),
        };
        Ok(Outcome::Done(vec![
            (MetricId::L2, rec(r.girsanov - r.prior_kl, r.girsanov_se)),
            (MetricId::Gradient, rec(r.marginal - r.prior_kl, r.marginal_se)),
            (MetricId::Girsanov, rec(r.girsanov, r.girsanov_se)),
            (MetricId::Marginal, rec(r.marginal, r.marginal_se)),
        ]))
    }
}
