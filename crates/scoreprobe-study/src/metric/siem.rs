//! SIEM (SPEC §7): fourteen metrics that differ only in their form, window, test functions and error
//! field, so they are fourteen values of one small type. The test functions come from the study's
//! `test_seed` (never its sampling seed), so every model is measured with the same ones.
//!
//! Every model of a study is measured with the study's seed, so the SIEM runs share their random
//! numbers (common random numbers): the projection form's data draws and noise, the particle
//! form's prior draws and Brownian increments. Each record keeps its per-unit values
//! ([`PairedUnits`]) so that the report gives paired standard errors of the differences between
//! adjacent checkpoints.

use super::interface::{Outcome, Reason, Role, StudyMetric};
use crate::context::{ModelCtx, Truth};
use crate::details::{PairedUnits, ProfileStep, SiemDetails, TestFnDetails, UnitKind};
use crate::error::MetricError;
use crate::id::MetricId;
use crate::record::{Details, Record};
use scoreprobe_core::window::Window;
use scoreprobe_siem::classifier::ClassifierConfig;
use scoreprobe_siem::critic::CriticSourceConfig;
use scoreprobe_siem::projection::{
    centers_from_draws, estimate_projections, ProjectionConfig, ProjectionReport, SharedProjection, TestFamily,
};
use scoreprobe_siem::recipe::{error_source, Draws, SourceOptions, Truth as RecipeTruth};
use scoreprobe_siem::{estimate_siem, ErrorFieldKind, SiemConfig, SiemForm, SiemReport, TestFnReport, TestFnSpec};

/// The steps of the sampler's grid SIEM integrates over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SiemWindow {
    Full,
    /// The first 10 % of sampling steps from noise ([`crate::runner::StudySettings::high_noise_window`]).
    HighNoise,
}

/// The test functions of the particle form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Centres {
    /// The paper's: one Gaussian at the origin.
    Paper,
    /// K Gaussians at seeded target points (the multi-centre variant; needs an exact-score target).
    Target,
}

/// Which estimator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The projection form, K Gaussians at seeded data points (target samples or data rows).
    Projection,
    /// The projection form with the paper's single Gaussian at the origin.
    ProjectionOrigin,
    /// The projection form with the quadratic family (every test function of degree ≤ 2).
    Quadratic,
    /// The particle form with an error field.
    Particle { centres: Centres, field: ErrorFieldKind },
}

pub struct Siem {
    id: MetricId,
    doc: &'static str,
    window: SiemWindow,
    kind: Kind,
}

const fn particle(
    id: MetricId,
    doc: &'static str,
    window: SiemWindow,
    centres: Centres,
    field: ErrorFieldKind,
) -> Siem {
    Siem { id, doc, window, kind: Kind::Particle { centres, field } }
}

use Centres::{Paper, Target};
use ErrorFieldKind::{Classifier, Critic, Oracle};
use SiemWindow::{Full, HighNoise};

pub const SIEM_PROJ: Siem = Siem {
    id: MetricId::SiemProj,
    doc: "projection-form SIEM on the full window: ∫β²(1/K)Σ_c m_c², m_c = E_p[s·∇φ_c + Δφ_c] on forward-noised \
          data (no sampler, no fitted field; K test functions at seeded data points)",
    window: Full,
    kind: Kind::Projection,
};
pub const SIEM_PROJ_WINDOW: Siem = Siem {
    id: MetricId::SiemProjWindow,
    doc: "projection-form SIEM on the high-noise window (first 10% of the grid's times)",
    window: HighNoise,
    kind: Kind::Projection,
};
pub const SIEM_PROJ_ORIGIN: Siem = Siem {
    id: MetricId::SiemProjOrigin,
    doc: "projection-form SIEM on the full window with the paper's test function: one Gaussian at the origin \
          (K = 1; in high dimension it sees only the error's radial part about the origin)",
    window: Full,
    kind: Kind::ProjectionOrigin,
};
pub const SIEM_PROJ_ORIGIN_WINDOW: Siem = Siem {
    id: MetricId::SiemProjOriginWindow,
    doc: "projection-form SIEM with the paper's test function at the origin, high-noise window",
    window: HighNoise,
    kind: Kind::ProjectionOrigin,
};
pub const SIEM_QUAD: Siem = Siem {
    id: MetricId::SiemQuad,
    doc: "projection-form SIEM with the quadratic family on the full window: ∫β²(|E_p[s]|² + \
          ‖sym(E_p[s(x − c_t)ᵀ]) + I‖²_F), c_t = α_t·data mean (the error's affine gradient part, in any dimension)",
    window: Full,
    kind: Kind::Quadratic,
};
pub const SIEM_QUAD_WINDOW: Siem = Siem {
    id: MetricId::SiemQuadWindow,
    doc: "projection-form SIEM with the quadratic family on the high-noise window",
    window: HighNoise,
    kind: Kind::Quadratic,
};
pub const SIEM: Siem = particle(
    MetricId::Siem,
    "particle-form SIEM on the full window, oracle error field, the paper's test function",
    Full,
    Paper,
    Oracle,
);
pub const SIEM_WINDOW: Siem = particle(
    MetricId::SiemWindow,
    "particle-form SIEM on the high-noise window (first 10% of sampling steps), oracle error field",
    HighNoise,
    Paper,
    Oracle,
);
pub const SIEM_MC: Siem = particle(
    MetricId::SiemMc,
    "multi-centre particle-form SIEM on the full window (test functions at K target points)",
    Full,
    Target,
    Oracle,
);
pub const SIEM_MC_WINDOW: Siem = particle(
    MetricId::SiemMcWindow,
    "multi-centre particle-form SIEM on the high-noise window",
    HighNoise,
    Target,
    Oracle,
);
pub const SIEM_CLASSIFIER: Siem = particle(
    MetricId::SiemClassifier,
    "particle-form SIEM on the full window, classifier error field (trained per model; no exact score used)",
    Full,
    Paper,
    Classifier,
);
pub const SIEM_CLASSIFIER_WINDOW: Siem = particle(
    MetricId::SiemClassifierWindow,
    "particle-form SIEM on the high-noise window, classifier error field",
    HighNoise,
    Paper,
    Classifier,
);
pub const SIEM_CRITIC: Siem = particle(
    MetricId::SiemCritic,
    "particle-form SIEM on the full window, Hodge-critic error field ∇χ*/σ (trained per model)",
    Full,
    Paper,
    Critic,
);
pub const SIEM_CRITIC_WINDOW: Siem = particle(
    MetricId::SiemCriticWindow,
    "particle-form SIEM on the high-noise window, Hodge-critic error field",
    HighNoise,
    Paper,
    Critic,
);

impl From<&TestFnReport> for TestFnDetails {
    fn from(tf: &TestFnReport) -> Self {
        TestFnDetails {
            kind: tf.kind.to_string(),
            bandwidth_rule: tf.bandwidth_rule.to_string(),
            bandwidths: tf.bandwidths.clone(),
            centers: tf.centers.clone(),
            centers_hash: tf.centers_hash.clone(),
            test_seed: Some(tf.test_seed),
            k: tf.k,
        }
    }
}

/// The error source's facts with what judges them beside: the classifier's floor (SIEM of the
/// same estimator with nothing to find, and the model's excess over it) and the critic's bands.
fn source_facts(r: &SiemReport) -> serde_json::Value {
    let mut extras = serde_json::Map::new();
    if let Some(floor) = &r.floor {
        extras.insert("floor".into(), serde_json::to_value(floor).unwrap_or_default());
    }
    if !r.bands.is_empty() {
        extras.insert("bands".into(), serde_json::to_value(&r.bands).unwrap_or_default());
        extras.insert("dropped_bands".into(), serde_json::to_value(&r.dropped_bands).unwrap_or_default());
    }
    match r.source.clone() {
        serde_json::Value::Object(mut facts) => {
            facts.extend(extras);
            facts.into()
        }
        serde_json::Value::Null if extras.is_empty() => serde_json::Value::Null,
        serde_json::Value::Null => extras.into(),
        other => {
            extras.insert("facts".into(), other);
            extras.into()
        }
    }
}

impl SiemDetails {
    fn particle(r: &SiemReport, field: ErrorFieldKind) -> Self {
        SiemDetails {
            form: SiemForm::Particle,
            window: r.window.clone(),
            nfe_full: r.nfe_full,
            error_field: Some(field),
            test_fn: (&r.test_fn).into(),
            profile: r
                .profile
                .iter()
                .map(|p| ProfileStep { index: p.index, t: p.t, dt: p.dt, beta2: p.beta2, mean_sq: p.mean_sq })
                .collect(),
            empirical_qv: Some(r.empirical_qv),
            source: source_facts(r),
            paired: Some(PairedUnits { kind: UnitKind::Trajectories, values: r.trajectory_sums.clone() }),
        }
    }

    fn projection(r: &ProjectionReport) -> Self {
        SiemDetails {
            form: SiemForm::Projection,
            window: r.window.clone(),
            nfe_full: r.nfe_full,
            error_field: None,
            test_fn: (&r.test_fn).into(),
            profile: r
                .profile
                .iter()
                .map(|p| ProfileStep { index: p.index, t: p.t, dt: p.dt, beta2: p.beta2, mean_sq: p.m2 })
                .collect(),
            empirical_qv: None,
            source: match &r.quadratic {
                None => serde_json::json!({
                    "draws_per_time": r.n, "pilot_per_time": r.pilot, "score_evals": r.score_evals,
                    "se_jackknife": r.siem_se_jackknife,
                }),
                Some(q) => serde_json::json!({
                    "draws_per_time": r.n, "score_evals": r.score_evals, "se_jackknife": r.siem_se_jackknife,
                    "mean_part": q.mean_part, "mean_part_se": q.mean_part_se,
                    "cov_part": q.cov_part, "cov_part_se": q.cov_part_se,
                }),
            },
            paired: Some(PairedUnits { kind: UnitKind::LeaveOneOut, values: r.leave_one_out.clone() }),
        }
    }
}

impl Siem {
    fn window(&self, ctx: &ModelCtx) -> Window {
        let s = ctx.settings;
        match self.window {
            Full => Window::full(s.steps),
            HighNoise => s.high_noise_window(),
        }
    }

    /// What the model is measured against, as the SIEM recipe takes it.
    fn truth(ctx: &ModelCtx) -> RecipeTruth {
        match ctx.truth {
            Truth::Target(target) => RecipeTruth::Exact {
                target: target.clone(),
                schedule: ctx.schedule.clone(),
                synthetic: ctx.synthetic.cloned(),
            },
            Truth::Data(dc) => RecipeTruth::Samples { draws: dc.data.sampler(), what: dc.data.name.clone() },
        }
    }

    /// This projection metric and every other one still pending on the model, in one shared pass
    /// (`estimate_projections`: one score evaluation per (time, draw) of the union of their
    /// windows; each value is bit for bit the metric's own run). Each record keeps its own cost
    /// (`nfe`: its window's times) and gets the pass's seconds by its share of the evaluations the
    /// metrics need alone; its details name the pass (see [`shared_pass`]).
    fn projection(&self, ctx: &mut ModelCtx) -> Result<Outcome, MetricError> {
        let others = ctx.pending().iter().filter(|id| **id != self.id).filter_map(|id| projection_metric(*id));
        let mut metrics: Vec<&Siem> = std::iter::once(self).chain(others).collect();
        let mut draws = Self::truth(ctx).into_draws();
        let mut cfgs: Vec<ProjectionConfig> = metrics.iter().map(|m| m.projection_config(ctx, &mut draws)).collect();
        let pass = match estimate_projections(ctx.model, ctx.schedule, &mut draws, &cfgs) {
            Ok(pass) => pass,
            // the failure may be another metric's (a time outside this one's window): this one
            // alone says whether it is its own; the others, still pending, are retried in turn
            Err(_) if metrics.len() > 1 => {
                metrics.truncate(1);
                cfgs.truncate(1);
                estimate_projections(ctx.model, ctx.schedule, &mut draws, &cfgs)?
            }
            Err(e) => return Err(e.into()),
        };
        let ids: Vec<MetricId> = metrics.iter().map(|m| m.id).collect();
        let shared = (ids.len() > 1).then(|| shared_pass(&ids, &pass));
        let records = ids
            .iter()
            .zip(&pass.reports)
            .map(|(&id, r)| {
                let mut details = SiemDetails::projection(r);
                if let (Some(sh), Some(source)) = (&shared, details.source.as_object_mut()) {
                    source.insert("shared_pass".into(), sh.clone());
                }
                let record = Record {
                    value: r.siem,
                    se: Some(r.siem_se),
                    nfe: Some(r.nfe as f64),
                    seconds: r.seconds,
                    details: Details::Siem(details),
                };
                (id, record)
            })
            .collect();
        Ok(Outcome::Done(records))
    }

    /// The projection run of this metric on the model (its window, test functions and family).
    fn projection_config(&self, ctx: &ModelCtx, draws: &mut Draws) -> ProjectionConfig {
        let s = ctx.settings;
        let d = ctx.dim();
        let mut cfg = ProjectionConfig::new(d, s.steps, s.t_min, s.n, s.seed);
        cfg.window = self.window(ctx);
        cfg.test_seed = s.test_seed;
        match self.kind {
            Kind::Quadratic => {
                let data_mean = match ctx.truth {
                    Truth::Target(target) => target.moments().0,
                    Truth::Data(dc) => {
                        dc.data.rows.mean_axis(ndarray::Axis(0)).unwrap_or_else(|| ndarray::Array1::zeros(d))
                    }
                };
                cfg.family = TestFamily::Quadratic { data_mean: Some(data_mean) };
            }
            // ProjectionConfig::new's test function: the paper's, K = 1 at the origin
            Kind::ProjectionOrigin => {}
            _ => cfg.test_fn.centers = centers_from_draws(draws, s.siem_centers, s.test_seed),
        }
        cfg
    }

    fn particle(&self, ctx: &mut ModelCtx, centres: Centres, field: ErrorFieldKind) -> Result<Outcome, MetricError> {
        let s = ctx.settings;
        let d = ctx.dim();
        let mut cfg = SiemConfig::new(d, s.steps, s.t_min, s.n, s.seed);
        cfg.window = self.window(ctx);
        cfg.test_seed = s.test_seed;
        if centres == Target {
            let Some(target) = ctx.target() else { return Ok(Outcome::NotApplicable(Reason::NoExactScore)) };
            cfg.test_fn = TestFnSpec {
                centers: scoreprobe_siem::testfn::centers_from_target(target, s.siem_centers, s.test_seed),
                ..TestFnSpec::paper(d)
            };
        }
        if field == Oracle && ctx.target().is_none() {
            return Ok(Outcome::NotApplicable(Reason::NoExactScore));
        }
        let critic = CriticSourceConfig::default();
        let options = SourceOptions {
            classifier: ClassifierConfig { seed: s.seed, ..Default::default() },
            critic: CriticSourceConfig {
                seed: s.seed,
                fit: s.critic_fit(),
                holdout: s.critic_holdout.unwrap_or(critic.holdout),
                ..critic
            },
        };
        let mut source = error_source(field, Self::truth(ctx), options)?;
        let r = estimate_siem(ctx.model, ctx.schedule, source.as_mut(), &cfg)?;
        Ok(Outcome::one(
            self.id,
            Record {
                value: r.siem,
                se: Some(r.siem_se),
                nfe: Some(r.nfe as f64),
                seconds: r.seconds,
                details: Details::Siem(SiemDetails::particle(&r, field)),
            },
        ))
    }
}

/// The projection-form metrics (those a shared pass computes together).
const PROJECTION: [&Siem; 6] =
    [&SIEM_PROJ, &SIEM_PROJ_WINDOW, &SIEM_PROJ_ORIGIN, &SIEM_PROJ_ORIGIN_WINDOW, &SIEM_QUAD, &SIEM_QUAD_WINDOW];

/// The projection-form metric `id`, if it is one.
fn projection_metric(id: MetricId) -> Option<&'static Siem> {
    PROJECTION.into_iter().find(|m| m.id == id)
}

/// What a record of a shared pass says of it (in its details' `source.shared_pass`): the metrics
/// computed together, the pass's score evaluations and seconds, and how its seconds were split.
fn shared_pass(ids: &[MetricId], pass: &SharedProjection) -> serde_json::Value {
    serde_json::json!({
        "metrics": ids.iter().map(|id| id.name()).collect::<Vec<_>>(),
        "score_evals": pass.score_evals,
        "seconds": pass.seconds,
        "seconds_share": "this record's seconds are the pass's, times its share of the score evaluations \
                          the pass's metrics need alone (n × window times each); nfe and score_evals are \
                          its own, as if computed alone",
    })
}

impl StudyMetric for Siem {
    fn id(&self) -> MetricId {
        self.id
    }
    fn role(&self) -> Role {
        Role::Cheap
    }
    fn doc(&self) -> &'static str {
        self.doc
    }
    fn compute(&self, ctx: &mut ModelCtx) -> Result<Outcome, MetricError> {
        match self.kind {
            Kind::Projection | Kind::ProjectionOrigin | Kind::Quadratic => self.projection(ctx),
            Kind::Particle { centres, field } => self.particle(ctx, centres, field),
        }
    }
}
