//! The study loop: for each model, every applicable metric from the library crates, cached per
//! metric so an interrupted study resumes where it stopped.

use crate::cache::{Cache, ModelResults, Record};
use crate::models::{ModelEntry, ModelSource};
use crate::reference::{DataReference, Reference, NO_EXACT_SCORE};
use anyhow::{anyhow, bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use scoreprobe_core::exact::{generated_law, Dynamics, Init};
use scoreprobe_core::model::synthetic::SyntheticModel;
use scoreprobe_core::sampler::{prior_init, sample_with_observer, SamplerConfig, SamplerKind};
use scoreprobe_core::spec::ProblemSpec;
use scoreprobe_core::window::Window;
use scoreprobe_core::{GaussianMixture, Schedule, ScoreModel};
use scoreprobe_features::FeatureExtractor;
use scoreprobe_hodge::bounds::{kl_bounds, BoundsConfig};
use scoreprobe_hodge::critic::{CriticFitConfig, CriticL2};
use scoreprobe_hodge::{EstimatorKind, HodgeConfig, Problem};
use scoreprobe_siem::classifier::{ClassifierConfig, ClassifierSource};
use scoreprobe_siem::critic::{CriticSource, CriticSourceConfig};
use scoreprobe_siem::source::{ErrorFieldKind, ErrorSource};
use scoreprobe_siem::{estimate_siem, OracleSource, SiemConfig, TestFnSpec};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What a metric is for: an expensive reference of quality, or a cheap signal under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Reference,
    Cheap,
}

/// Every metric a study knows, with its role and what it needs.
pub const METRICS: &[(&str, Role, &str)] = &[
    ("w2", Role::Reference, "exact W2 (cost |x-y|^2) between n generated samples and n target samples at t_min"),
    ("fd", Role::Reference, "Fréchet distance in coordinates between generated and target samples"),
    ("kid", Role::Reference, "KID (cubic kernel) between generated and target samples"),
    (
        "exact_kl",
        Role::Reference,
        "exact KL(p_tmin || q_tmin) from the Gaussian moment ODEs (Gaussian target, affine model)",
    ),
    ("siem", Role::Cheap, "SIEM on the full window, oracle error field, the paper's test function"),
    ("siem_window", Role::Cheap, "SIEM on the high-noise window (first 10% of sampling steps), oracle error field"),
    ("siem_mc", Role::Cheap, "multi-centre SIEM on the full window (test functions at K target points)"),
    ("siem_mc_window", Role::Cheap, "multi-centre SIEM on the high-noise window"),
    (
        "siem_classifier",
        Role::Cheap,
        "SIEM on the full window, classifier error field (trained per model; no exact score used)",
    ),
    ("siem_classifier_window", Role::Cheap, "SIEM on the high-noise window, classifier error field"),
    ("siem_critic", Role::Cheap, "SIEM on the full window, Hodge-critic error field ∇χ*/σ (trained per model)"),
    ("siem_critic_window", Role::Cheap, "SIEM on the high-noise window, Hodge-critic error field"),
    ("l2", Role::Cheap, "integrated L2 score error ∫½β‖e_t‖² dt (Girsanov integrand)"),
    ("gradient", Role::Cheap, "integrated gradient error ∫½β‖∇φ_t‖² dt (the Hodge gradient part)"),
    ("girsanov", Role::Cheap, "Girsanov KL bound KL(p_T‖π) + ∫½β‖e_t‖²"),
    ("marginal", Role::Cheap, "marginal KL bound KL(p_T‖π) + ∫½β‖∇φ_t‖²"),
];

pub fn role_of(metric: &str) -> Option<Role> {
    METRICS.iter().find(|m| m.0 == metric).map(|m| m.1)
}

#[derive(Clone, Debug, Serialize)]
pub struct StudySettings {
    /// Generated samples (and SIEM trajectories) per model; target samples for the references.
    pub n: usize,
    /// Sampler steps on [t_min, 1]; the high-noise window is the top 10% of them.
    pub steps: usize,
    pub t_min: f64,
    pub seed: u64,
    /// Test functions of the multi-centre SIEM.
    pub siem_centers: usize,
    /// Simpson panels in ln t of the KL bounds.
    pub bound_panels: usize,
    /// Resolution of the grid Hodge solve behind the bounds (d ≤ 2): cells per smallest
    /// component std of p_t, and the cap per axis.
    pub grid_cells_per_std: f64,
    pub grid_max_cells: usize,
    /// Critic fits (the `siem_critic*` error field; the bounds on a data-set reference): optimiser
    /// steps, a fixed pool of draws instead of fresh ones per step, and held-out draws. None: the
    /// estimators' defaults (1000 steps of 512 fresh draws; 16 384 held out for SIEM, 40 000 for
    /// the bounds). Image models need a pool: fresh draws cost one network call per row per step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub critic_steps: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub critic_pool: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub critic_holdout: Option<usize>,
    /// Critic fits: rows per optimiser step, and random tangent directions per row above 64
    /// dimensions (the fit's cost grows with both; None: 512 and 16).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub critic_batch: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub critic_directions: Option<usize>,
}

impl Default for StudySettings {
    fn default() -> Self {
        Self {
            n: 1000,
            steps: 1000,
            t_min: 1e-3,
            seed: 0,
            siem_centers: 8,
            bound_panels: 16,
            grid_cells_per_std: 8.0,
            grid_max_cells: 640,
            critic_steps: None,
            critic_pool: None,
            critic_holdout: None,
            critic_batch: None,
            critic_directions: None,
        }
    }
}

impl StudySettings {
    /// The critic fit options with this study's overrides.
    fn critic_fit(&self) -> CriticFitConfig {
        let d = CriticFitConfig::default();
        CriticFitConfig {
            steps: self.critic_steps.unwrap_or(d.steps),
            pool: self.critic_pool.or(d.pool),
            batch: self.critic_batch.unwrap_or(d.batch),
            directions: self.critic_directions.unwrap_or(d.directions),
            ..d
        }
    }

    /// The high-noise window: the first 10% of sampling steps from noise (`900..999` for 1000 steps).
    pub fn high_noise_window(&self) -> Window {
        Window { lo: self.steps - (self.steps / 10).max(1), hi: self.steps - 1 }
    }
}

/// Loads a trained network from a checkpoint path (provided by the front end, so that this crate
/// does not depend on the network crate).
pub type CheckpointLoader<'a> = &'a dyn Fn(&Path) -> Result<Box<dyn ScoreModel>>;

pub struct Study<'a> {
    /// The reference: an exact-score target and schedule (a spec; its `model` field is
    /// ignored), or a data set.
    pub reference: Reference,
    pub models: Vec<ModelEntry>,
    pub metrics: Vec<String>,
    pub settings: StudySettings,
    pub out: PathBuf,
    pub loader: CheckpointLoader<'a>,
    /// Show progress bars.
    pub progress: bool,
}

/// Results of every model, in the study's order.
pub struct StudyResults {
    pub rows: Vec<(ModelEntry, ModelResults)>,
    /// Metrics that did not apply to some models: (model, metric, why).
    pub skipped: Vec<(String, String, String)>,
}

/// A model ready to be measured.
struct Loaded {
    model: Box<dyn ScoreModel>,
    synthetic: Option<SyntheticModel>,
}

fn load(entry: &ModelEntry, spec: Option<&ProblemSpec>, loader: CheckpointLoader) -> Result<Loaded> {
    match &entry.source {
        ModelSource::Synthetic { model } => {
            let Some(spec) = spec else {
                bail!(
                    "model '{}' is synthetic (a perturbation of an exact-score target); a data-set reference \
                     takes trained checkpoints only",
                    entry.name
                )
            };
            let s = ProblemSpec { model: model.clone(), ..spec.clone() };
            let m = s.synthetic_model().map_err(|e| anyhow!("model '{}': {e}", entry.name))?;
            Ok(Loaded { model: Box::new(m.clone()), synthetic: Some(m) })
        }
        ModelSource::Checkpoint { path } => {
            let model = loader(path).with_context(|| format!("model '{}'", entry.name))?;
            Ok(Loaded { model, synthetic: None })
        }
    }
}

impl Study<'_> {
    pub fn validate(&self) -> Result<()> {
        crate::models::check_names(&self.models)?;
        if self.models.is_empty() {
            bail!("the study has no models");
        }
        for m in &self.metrics {
            if role_of(m).is_none() {
                bail!(
                    "unknown metric '{m}'; the study knows: {}",
                    METRICS.iter().map(|m| m.0).collect::<Vec<_>>().join(", ")
                );
            }
        }
        let s = &self.settings;
        if s.n < 10 || s.steps < 10 {
            bail!("n and steps must be at least 10 (got n = {}, steps = {})", s.n, s.steps);
        }
        if s.bound_panels == 0 || !s.bound_panels.is_multiple_of(4) {
            bail!("bound panels must be a positive multiple of 4 (composite Simpson), got {}", s.bound_panels);
        }
        s.critic_fit()
            .validate()
            .map_err(|e| anyhow!("{e} (--critic-steps, --critic-pool, --critic-batch, --critic-directions)"))?;
        if s.critic_holdout.is_some_and(|h| h < 2) {
            bail!("critic held-out draws must be at least 2");
        }
        Ok(())
    }

    /// A fingerprint of everything the cached values depend on.
    fn fingerprint(&self) -> String {
        match &self.reference {
            Reference::Target(spec) => {
                serde_json::to_string(&(&spec.target, &spec.schedule, &self.settings)).expect("serialisable")
            }
            Reference::Data { data, schedule } => {
                serde_json::to_string(&(data.fingerprint(), schedule, &self.settings)).expect("serialisable")
            }
        }
    }

    pub fn run(&self) -> Result<StudyResults> {
        self.validate()?;
        let s = &self.settings;
        let (target, data, schedule, d, reference) = match &self.reference {
            Reference::Target(spec) => {
                let target = spec.target().map_err(|e| anyhow!(e))?;
                let schedule = spec.schedule().map_err(|e| anyhow!(e))?;
                let d = target.dim();
                let mut rng = ChaCha8Rng::seed_from_u64(s.seed ^ 0x7e5e_7e5e);
                let reference = target.sample_marginal(s.n, &schedule, s.t_min, &mut rng);
                (Some(target), None, schedule, d, reference)
            }
            Reference::Data { data, schedule } => {
                let schedule = Schedule::from_spec(schedule).map_err(|e| anyhow!(e))?;
                let needs_features = self.metrics.iter().any(|m| matches!(m.as_str(), "w2" | "fd" | "kid"));
                let extractor = if needs_features { Some(data.extractor()?) } else { None };
                // the reference sample of fd/kid/w2, in the feature space
                let reference = match &extractor {
                    Some(e) => data
                        .features_of(e.as_ref(), &data.subset(s.n, s.seed ^ 0x7e5e_7e5e))
                        .with_context(|| format!("features '{}' of the reference '{}'", data.features, data.name))?,
                    None => Array2::zeros((0, 0)),
                };
                (None, Some(DataCtx { data, extractor }), schedule, data.dim(), reference)
            }
        };
        let cache = Cache::new(&self.out.join("cache"), self.fingerprint())?;
        let bar = if self.progress { ProgressBar::new(self.models.len() as u64) } else { ProgressBar::hidden() };
        if self.progress {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} models {pos}/{len} [{elapsed_precise}] {wide_msg}")
                    .expect("valid template"),
            );
        }
        let mut rows = vec![];
        let mut skipped = vec![];
        for entry in &self.models {
            let mut results = cache.load(&entry.name);
            let todo: Vec<&String> = self.metrics.iter().filter(|m| !results.metrics.contains_key(*m)).collect();
            if !todo.is_empty() {
                let spec = match &self.reference {
                    Reference::Target(spec) => Some(spec),
                    Reference::Data { .. } => None,
                };
                let loaded = load(entry, spec, self.loader)?;
                if loaded.model.dim() != d {
                    match &data {
                        Some(dc) => bail!(
                            "model '{}' generates rows of dimension {}, but the reference '{}' holds {}",
                            entry.name,
                            loaded.model.dim(),
                            dc.data.name,
                            dc.data.shape_desc()
                        ),
                        None => {
                            bail!("model '{}' has dimension {}, the target has {d}", entry.name, loaded.model.dim())
                        }
                    }
                }
                let mut ctx = ModelCtx {
                    entry,
                    loaded: &loaded,
                    target: target.as_ref(),
                    data: data.as_ref(),
                    dim: d,
                    schedule: &schedule,
                    settings: s,
                    reference: &reference,
                    samples: None,
                    bounds: None,
                };
                for metric in todo {
                    bar.set_message(format!("{} · {metric}", entry.name));
                    match ctx.compute(metric) {
                        Ok(Some(records)) => {
                            for (name, rec) in records {
                                results.metrics.insert(name, rec);
                            }
                            cache.store(&entry.name, &results)?;
                        }
                        Ok(None) => {}
                        Err(Skip(why)) => skipped.push((entry.name.clone(), metric.clone(), why)),
                    }
                }
            }
            bar.inc(1);
            // the cache may hold metrics of earlier runs with other --metrics: report only these
            results.metrics.retain(|k, _| self.metrics.iter().any(|m| m == k) || bound_group(k, &self.metrics));
            rows.push((entry.clone(), results));
        }
        bar.finish_and_clear();
        Ok(StudyResults { rows, skipped })
    }
}

/// The bounds metrics come as a group of four: any one requested shows all four.
fn bound_group(metric: &str, requested: &[String]) -> bool {
    const GROUP: [&str; 4] = ["l2", "gradient", "girsanov", "marginal"];
    GROUP.contains(&metric) && requested.iter().any(|m| GROUP.contains(&m.as_str()))
}

/// A metric that does not apply to a model, with the reason.
struct Skip(String);

impl<E: std::fmt::Display> From<E> for Skip {
    fn from(e: E) -> Self {
        Skip(e.to_string())
    }
}

struct Samples {
    x: Array2<f64>,
    nfe: usize,
    seconds: f64,
}

/// A data-set reference with its feature extractor (built when a reference metric is asked for).
struct DataCtx<'a> {
    data: &'a DataReference,
    extractor: Option<Box<dyn FeatureExtractor>>,
}

/// Largest feature dimension on which exact W2 is computed: above it, n points leave W2 in
/// raw/feature coordinates dominated by the curse of dimension, so it is skipped (fd/kid apply).
pub const MAX_W2_DIM: usize = 64;

struct ModelCtx<'a> {
    entry: &'a ModelEntry,
    loaded: &'a Loaded,
    /// The exact-score target (`None` for a data-set reference).
    target: Option<&'a GaussianMixture>,
    data: Option<&'a DataCtx<'a>>,
    /// Dimension of the models' rows.
    dim: usize,
    schedule: &'a Schedule,
    settings: &'a StudySettings,
    /// Reference sample in the feature space of fd/kid/w2 (target samples: coordinates).
    reference: &'a Array2<f64>,
    samples: Option<Samples>,
    /// The bounds report yields four metrics at once: (records, already stored).
    bounds: Option<Vec<(String, Record)>>,
}

impl ModelCtx<'_> {
    fn samples(&mut self) -> Result<&Samples, Skip> {
        if self.samples.is_none() {
            let s = self.settings;
            let start = Instant::now();
            let cfg = SamplerConfig::new(SamplerKind::Em, s.steps, s.t_min, s.seed);
            let x0 = prior_init(s.n, self.dim, s.seed);
            let out = sample_with_observer(self.loaded.model.as_ref(), self.schedule, &cfg, x0, &mut |_| {
                std::ops::ControlFlow::Continue(())
            })?;
            if out.x.iter().any(|v| !v.is_finite()) {
                return Err(Skip(format!("model '{}' generated non-finite samples", self.entry.name)));
            }
            self.samples = Some(Samples { x: out.x, nfe: out.nfe, seconds: start.elapsed().as_secs_f64() });
        }
        Ok(self.samples.as_ref().expect("just set"))
    }

    /// The exact-score target, or why there is none.
    fn exact(&self) -> Result<&GaussianMixture, Skip> {
        self.target.ok_or_else(|| Skip(NO_EXACT_SCORE.into()))
    }

    fn oracle(&self) -> Result<OracleSource, Skip> {
        Ok(match &self.loaded.synthetic {
            Some(m) => OracleSource::synthetic(m.clone()),
            None => OracleSource::for_target(self.exact()?.clone(), self.schedule.clone()),
        })
    }

    fn siem(&self, window: Window, multi: bool, field: ErrorFieldKind) -> Result<Record, Skip> {
        let s = self.settings;
        let d = self.dim;
        let mut cfg = SiemConfig::new(d, s.steps, s.t_min, s.n, s.seed);
        cfg.window = window;
        if multi {
            cfg.test_fn = TestFnSpec {
                centers: scoreprobe_siem::testfn::centers_from_target(self.exact()?, s.siem_centers, s.seed),
                ..TestFnSpec::paper(d)
            };
        }
        let mut source: Box<dyn ErrorSource> = match (field, self.data) {
            (ErrorFieldKind::Oracle, _) => Box::new(self.oracle()?),
            (ErrorFieldKind::Classifier, None) => {
                let config = ClassifierConfig { seed: s.seed, ..Default::default() };
                Box::new(ClassifierSource::for_target(self.exact()?.clone(), config))
            }
            (ErrorFieldKind::Classifier, Some(dc)) => {
                let config = ClassifierConfig { seed: s.seed, ..Default::default() };
                Box::new(ClassifierSource::new(dc.data.sampler(), config))
            }
            (ErrorFieldKind::Critic, dc) => {
                let d = CriticSourceConfig::default();
                let config = CriticSourceConfig {
                    seed: s.seed,
                    fit: s.critic_fit(),
                    holdout: s.critic_holdout.unwrap_or(d.holdout),
                    ..d
                };
                match dc {
                    None => Box::new(CriticSource::for_target(self.exact()?.clone(), config)),
                    Some(dc) => Box::new(CriticSource::new(dc.data.sampler(), config)),
                }
            }
        };
        let r = estimate_siem(self.loaded.model.as_ref(), self.schedule, source.as_mut(), &cfg)?;
        Ok(Record {
            value: r.siem,
            se: Some(r.siem_se),
            nfe: Some(r.nfe as f64),
            seconds: r.seconds,
            details: serde_json::json!({"window": r.window, "nfe_full": r.nfe_full, "error_field": r.error_field,
                "test_fn": r.test_fn, "profile": r.profile, "empirical_qv": r.empirical_qv, "source": r.source}),
        })
    }

    fn bounds(&mut self) -> Result<&Vec<(String, Record)>, Skip> {
        if self.bounds.is_none() {
            let s = self.settings;
            let problem = match (&self.loaded.synthetic, self.data) {
                (Some(m), _) => Problem::synthetic(m),
                // a data set: the critic in the denoising form needs only draws of x₀
                (None, Some(dc)) => Problem::on_samples(self.loaded.model.as_ref(), dc.data.rows.view(), self.schedule),
                (None, None) => Problem::on_target(self.loaded.model.as_ref(), self.exact()?, self.schedule),
            };
            let mut config = HodgeConfig::default();
            config.grid.cells_per_std = s.grid_cells_per_std;
            config.grid.max_cells_per_axis = s.grid_max_cells;
            config.critic.fit = s.critic_fit();
            config.critic.n = s.critic_holdout.unwrap_or(config.critic.n);
            // ‖e_t‖² on a data set: the denoising loss (‖e_t‖² + a model-independent C_t ≥ 0), which
            // keeps the Girsanov bound a bound and ranks models like ‖e_t‖²; a vector critic with d
            // outputs overfits at image sizes (held-out values far below zero)
            config.critic.l2 = if self.data.is_some() { CriticL2::Denoising } else { CriticL2::Auto };
            let all = scoreprobe_hodge::estimators(&config);
            let available: Vec<&dyn scoreprobe_hodge::HodgeEstimator> = all.iter().map(|e| e.as_ref()).collect();
            // the most exact estimator that applies: closed form, else the grid (d ≤ 2), else random
            // features; on a data set (no exact score) the critic, whose denoising form needs none
            let candidates: &[EstimatorKind] = if self.data.is_some() {
                &[EstimatorKind::Critic]
            } else {
                &[EstimatorKind::ClosedForm, EstimatorKind::Grid, EstimatorKind::RandomFeatures]
            };
            let kind = candidates
                .iter()
                .copied()
                .find(|k| {
                    let e = scoreprobe_hodge::estimator(*k, &config);
                    scoreprobe_hodge::check_applies(e.as_ref(), &problem, &available).is_ok()
                })
                .ok_or_else(|| Skip("no Hodge estimator applies".into()))?;
            let est = scoreprobe_hodge::estimator(kind, &config);
            let cfg = BoundsConfig { t_min: s.t_min, panels: s.bound_panels, ..Default::default() };
            let r = kl_bounds(est.as_ref(), &problem, &cfg, s.seed, &available)?;
            let details = serde_json::json!({"estimator": r.estimator, "prior_kl": r.prior_kl, "t_min": r.t_min,
                "quadrature": r.quadrature, "girsanov_quad_err": r.girsanov_quad_err, "marginal_quad_err": r.marginal_quad_err,
                "exact_kl": r.exact_kl});
            let rec = |value: f64, se: f64| Record {
                value,
                se: Some(se),
                nfe: None,
                seconds: r.seconds,
                details: details.clone(),
            };
            self.bounds = Some(vec![
                ("l2".into(), rec(r.girsanov - r.prior_kl, r.girsanov_se)),
                ("gradient".into(), rec(r.marginal - r.prior_kl, r.marginal_se)),
                ("girsanov".into(), rec(r.girsanov, r.girsanov_se)),
                ("marginal".into(), rec(r.marginal, r.marginal_se)),
            ]);
        }
        Ok(self.bounds.as_ref().expect("just set"))
    }

    /// Computes one metric (some come in groups); Ok(None) when a group member was already stored.
    fn compute(&mut self, metric: &str) -> Result<Option<Vec<(String, Record)>>, Skip> {
        let s = self.settings;
        let one = |name: &str, rec: Record| Ok(Some(vec![(name.to_string(), rec)]));
        match metric {
            "w2" | "fd" | "kid" => {
                let reference = self.reference.clone();
                let seed = s.seed;
                let data = self.data;
                if let Some(dc) = data {
                    if metric == "w2" && reference.ncols() > MAX_W2_DIM {
                        return Err(Skip(format!(
                            "w2 is computed on features of at most {MAX_W2_DIM} dimensions; features '{}' have {} \
                             (use fd/kid)",
                            dc.data.features,
                            reference.ncols()
                        )));
                    }
                }
                let smp = self.samples()?;
                let start = Instant::now();
                // generated rows in the reference's feature space (the rows themselves for a target)
                let features = match data {
                    Some(dc) => {
                        let e = dc.extractor.as_ref().ok_or_else(|| Skip("no feature extractor".into()))?;
                        Some(dc.data.features_of(e.as_ref(), &smp.x)?)
                    }
                    None => None,
                };
                let x = features.as_ref().unwrap_or(&smp.x);
                let feature_details = |mut v: serde_json::Value| {
                    if let Some(dc) = data {
                        v["features"] = dc.data.features.clone().into();
                        v["feature_dim"] = reference.ncols().into();
                        v["reference"] = dc.data.name.clone().into();
                        v["n_reference"] = reference.nrows().into();
                    }
                    v
                };
                let (value, se, details) = match metric {
                    "w2" => {
                        let r = scoreprobe_metrics::w2_exact(x.view(), reference.view())?;
                        (r.w2, None, feature_details(serde_json::json!({"cost": "|x-y|^2", "n": reference.nrows()})))
                    }
                    "fd" => {
                        let r = scoreprobe_metrics::frechet_distance_points(
                            x.view(),
                            reference.view(),
                            scoreprobe_metrics::TraceMethod::default(),
                        )?;
                        (r.fd, None, feature_details(serde_json::json!({"features": "identity"})))
                    }
                    _ => {
                        let opts = scoreprobe_metrics::KidOptions { seed, ..Default::default() };
                        let r = scoreprobe_metrics::kid(x.view(), reference.view(), &opts)?;
                        (r.mean, Some(r.std), feature_details(serde_json::json!({"features": "identity"})))
                    }
                };
                one(
                    metric,
                    Record {
                        value,
                        se,
                        nfe: Some(smp.nfe as f64),
                        seconds: smp.seconds + start.elapsed().as_secs_f64(),
                        details,
                    },
                )
            }
            "exact_kl" => {
                self.exact()?;
                let m = self.loaded.synthetic.as_ref().ok_or_else(|| Skip("needs a synthetic model".into()))?;
                let start = Instant::now();
                let law = generated_law(m, Dynamics::ReverseSde, Init::Prior, s.t_min, 4000)?;
                one(
                    metric,
                    Record {
                        value: law.kl,
                        se: None,
                        nfe: None,
                        seconds: start.elapsed().as_secs_f64(),
                        details: serde_json::json!({"reference": "KL(p_tmin || q_tmin), continuous reverse SDE from N(0,I)"}),
                    },
                )
            }
            "siem" => one(metric, self.siem(Window::full(s.steps), false, ErrorFieldKind::Oracle)?),
            "siem_window" => one(metric, self.siem(s.high_noise_window(), false, ErrorFieldKind::Oracle)?),
            "siem_mc" => one(metric, self.siem(Window::full(s.steps), true, ErrorFieldKind::Oracle)?),
            "siem_mc_window" => one(metric, self.siem(s.high_noise_window(), true, ErrorFieldKind::Oracle)?),
            "siem_classifier" => one(metric, self.siem(Window::full(s.steps), false, ErrorFieldKind::Classifier)?),
            "siem_classifier_window" => {
                one(metric, self.siem(s.high_noise_window(), false, ErrorFieldKind::Classifier)?)
            }
            "siem_critic" => one(metric, self.siem(Window::full(s.steps), false, ErrorFieldKind::Critic)?),
            "siem_critic_window" => one(metric, self.siem(s.high_noise_window(), false, ErrorFieldKind::Critic)?),
            "l2" | "gradient" | "girsanov" | "marginal" => {
                let first = self.bounds.is_none();
                let all = self.bounds()?.clone();
                // the first member of the group returns all four; later members find them stored
                Ok(first.then_some(all))
            }
            other => Err(Skip(format!("unknown metric '{other}'"))),
        }
    }
}
