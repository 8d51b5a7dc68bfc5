//! SIEM (SPEC §7) on the model's own trajectories: eight metrics that differ only in their window,
//! their test functions and their error field, so they are eight values of one small type.

use super::{MetricId, Outcome, Reason, Role, StudyMetric};
use crate::context::{ModelCtx, Truth};
use crate::error::MetricError;
use crate::record::{Details, Record};
use scoreprobe_core::window::Window;
use scoreprobe_siem::classifier::ClassifierConfig;
use scoreprobe_siem::critic::CriticSourceConfig;
use scoreprobe_siem::recipe::{error_source, SourceOptions, Truth as RecipeTruth};
use scoreprobe_siem::{estimate_siem, ErrorFieldKind, SiemConfig, SiemReport, TestFnSpec};
use serde::{Deserialize, Serialize};

/// The steps of the sampler's grid SIEM integrates over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SiemWindow {
    Full,
    /// The first 10 % of sampling steps from noise ([`crate::runner::StudySettings::high_noise_window`]).
    HighNoise,
}

/// The test functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Centres {
    /// The paper's: one Gaussian at the origin.
    Paper,
    /// K Gaussians at seeded target points (the multi-centre variant; needs an exact-score target).
    Target,
}

pub struct Siem {
    id: MetricId,
    doc: &'static str,
    window: SiemWindow,
    centres: Centres,
    field: ErrorFieldKind,
}

const fn siem(id: MetricId, doc: &'static str, window: SiemWindow, centres: Centres, field: ErrorFieldKind) -> Siem {
    Siem { id, doc, window, centres, field }
}

use Centres::{Paper, Target};
use ErrorFieldKind::{Classifier, Critic, Oracle};
use SiemWindow::{Full, HighNoise};

pub const SIEM: Siem =
    siem(MetricId::Siem, "SIEM on the full window, oracle error field, the paper's test function", Full, Paper, Oracle);
pub const SIEM_WINDOW: Siem = siem(
    MetricId::SiemWindow,
    "SIEM on the high-noise window (first 10% of sampling steps), oracle error field",
    HighNoise,
    Paper,
    Oracle,
);
pub const SIEM_MC: Siem = siem(
    MetricId::SiemMc,
    "multi-centre SIEM on the full window (test functions at K target points)",
    Full,
    Target,
    Oracle,
);
pub const SIEM_MC_WINDOW: Siem =
    siem(MetricId::SiemMcWindow, "multi-centre SIEM on the high-noise window", HighNoise, Target, Oracle);
pub const SIEM_CLASSIFIER: Siem = siem(
    MetricId::SiemClassifier,
    "SIEM on the full window, classifier error field (trained per model; no exact score used)",
    Full,
    Paper,
    Classifier,
);
pub const SIEM_CLASSIFIER_WINDOW: Siem = siem(
    MetricId::SiemClassifierWindow,
    "SIEM on the high-noise window, classifier error field",
    HighNoise,
    Paper,
    Classifier,
);
pub const SIEM_CRITIC: Siem = siem(
    MetricId::SiemCritic,
    "SIEM on the full window, Hodge-critic error field ∇χ*/σ (trained per model)",
    Full,
    Paper,
    Critic,
);
pub const SIEM_CRITIC_WINDOW: Siem = siem(
    MetricId::SiemCriticWindow,
    "SIEM on the high-noise window, Hodge-critic error field",
    HighNoise,
    Paper,
    Critic,
);

/// The test functions as reported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestFnDetails {
    pub kind: String,
    pub bandwidth_rule: String,
    /// One bandwidth per centre.
    pub bandwidths: Vec<f64>,
    pub centers: Vec<Vec<f64>>,
    pub k: usize,
}

/// One step of SIEM's per-step profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileStep {
    pub index: usize,
    pub t: f64,
    pub dt: f64,
    pub beta2: f64,
    /// E[(ê·∇φ)²], averaged over the test functions.
    pub mean_sq: f64,
}

/// What a SIEM record keeps of the estimator's report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SiemDetails {
    pub window: String,
    /// NFE of a full sampling run, for the cost ratio of a window.
    pub nfe_full: usize,
    pub error_field: ErrorFieldKind,
    pub test_fn: TestFnDetails,
    pub profile: Vec<ProfileStep>,
    pub empirical_qv: f64,
    /// The error source's own facts (e.g. the classifier's held-out accuracy), shown as they are.
    pub source: serde_json::Value,
}

impl SiemDetails {
    fn new(r: &SiemReport, field: ErrorFieldKind) -> Self {
        let tf = &r.test_fn;
        SiemDetails {
            window: r.window.clone(),
            nfe_full: r.nfe_full,
            error_field: field,
            test_fn: TestFnDetails {
                kind: tf.kind.into(),
                bandwidth_rule: tf.bandwidth_rule.into(),
                bandwidths: tf.bandwidths.clone(),
                centers: tf.centers.clone(),
                k: tf.k,
            },
            profile: r
                .profile
                .iter()
                .map(|p| ProfileStep { index: p.index, t: p.t, dt: p.dt, beta2: p.beta2, mean_sq: p.mean_sq })
                .collect(),
            empirical_qv: r.empirical_qv,
            source: r.source.clone(),
        }
    }
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
        let s = ctx.settings;
        let d = ctx.dim();
        let mut cfg = SiemConfig::new(d, s.steps, s.t_min, s.n, s.seed);
        cfg.window = match self.window {
            Full => Window::full(s.steps),
            HighNoise => s.high_noise_window(),
        };
        if self.centres == Target {
            let Some(target) = ctx.target() else { return Ok(Outcome::NotApplicable(Reason::NoExactScore)) };
            cfg.test_fn = TestFnSpec {
                centers: scoreprobe_siem::testfn::centers_from_target(target, s.siem_centers, s.seed),
                ..TestFnSpec::paper(d)
            };
        }
        let truth = match ctx.truth {
            Truth::Target(target) => RecipeTruth::Exact {
                target: target.clone(),
                schedule: ctx.schedule.clone(),
                synthetic: ctx.synthetic.cloned(),
            },
            Truth::Data(_) if self.field == Oracle => return Ok(Outcome::NotApplicable(Reason::NoExactScore)),
            Truth::Data(dc) => RecipeTruth::Samples { draws: dc.data.sampler(), what: dc.data.name.clone() },
        };
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
        let mut source = error_source(self.field, truth, options)?;
        let r = estimate_siem(ctx.model, ctx.schedule, source.as_mut(), &cfg)?;
        Ok(Outcome::one(
            self.id,
            Record {
                value: r.siem,
                se: Some(r.siem_se),
                nfe: Some(r.nfe as f64),
                seconds: r.seconds,
                details: Details::Siem(SiemDetails::new(&r, self.field)),
            },
        ))
    }
}
