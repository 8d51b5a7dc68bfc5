//! SIEM as every front end runs it (the CLI's `siem`, the Python module's `siem`): options with
//! the CLI's names and defaults, the reference the error field is measured against, and one
//! function that builds the test functions, the error-field source and the configuration from
//! them. Front ends only parse their inputs into [`SiemOptions`] and print the report, so they
//! give the same numbers on the same inputs.

use crate::error::SiemError;
use crate::estimate::{estimate_part, estimate_siem, finish_siem, SiemConfig, SiemReport};
use crate::form::SiemForm;
use crate::projection::{
    estimate_projection, ProjectionConfig, ProjectionReport, TestFamily, DEFAULT_CENTERS, DEFAULT_PILOT,
};
use crate::recipe::{Draws, SourceOptions, Truth};
use crate::source::DEFAULT_BAND_STEPS;
use crate::source::{ErrorFieldKind, ErrorSource};
use crate::testfn::{centers_from_target, BandwidthRule, MedianRule, RadialKind, TestFnKind, TestFnSpec};
use ndarray::{Array1, Array2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use scoreprobe_core::model::synthetic::SyntheticModel;
use scoreprobe_core::options::OptionError;
use scoreprobe_core::sampler::SamplerKind;
use scoreprobe_core::shard::ShardOptions;
use scoreprobe_core::window::Window;
use scoreprobe_core::{GaussianMixture, Schedule, ScoreModel};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What the error field is measured against.
#[derive(Clone, Copy)]
pub enum SiemReference<'a> {
    /// A target with an exact score; with the synthetic model when the spec names one (the oracle
    /// then uses its exact e_t, which is exactly 0 for `exact`).
    Exact { target: &'a GaussianMixture, synthetic: Option<&'a SyntheticModel> },
    /// Draws of the data distribution p₀, one per row; no exact score (the oracle is refused).
    Samples(&'a Arc<Array2<f64>>),
}

impl SiemReference<'_> {
    /// Whether the reference gives the exact score (a target) or only draws (a data set).
    pub fn has_exact_score(&self) -> bool {
        matches!(self, SiemReference::Exact { .. })
    }

    /// The reference as the error-source recipe's [`Truth`] (owned: it moves into the source).
    fn truth(&self, schedule: &Schedule) -> Truth {
        match *self {
            SiemReference::Exact { target, synthetic } => {
                Truth::Exact { target: target.clone(), schedule: schedule.clone(), synthetic: synthetic.cloned() }
            }
            SiemReference::Samples(rows) => {
                Truth::Samples { draws: row_draws(rows), what: "a data set given by samples".into() }
            }
        }
    }

    fn dim(&self) -> usize {
        match self {
            SiemReference::Exact { target, .. } => target.dim(),
            SiemReference::Samples(rows) => rows.ncols(),
        }
    }

    /// The data's mean: exact for a target, the rows' mean for a data set (the quadratic
    /// family's c₀: fixed by the reference, never estimated from the metric's own draws).
    pub fn data_mean(&self) -> Array1<f64> {
        match self {
            SiemReference::Exact { target, .. } => target.moments().0,
            SiemReference::Samples(rows) => rows.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(rows.ncols())),
        }
    }
}

/// The options of a SIEM run, declared once: the CLI flattens them into `scoreprobe siem` (the
/// doc comments are its `--help`), the Python module deserialises `siem(**options)` into them, and
/// the defaults are clap's (see [`scoreprobe_core::options::clap_defaults`]).
#[derive(Clone, Debug, PartialEq, clap::Args, Serialize, Deserialize)]
// No `deny_unknown_fields`: serde refuses it together with `flatten` (the shard options); the
// Python front end refuses unknown names against the options' schema instead.
#[serde(default)]
pub struct SiemOptions {
    /// SIEM's form: projection (forward-noised data, no error field) | particle (the model's
    /// trajectories with an error field). Default: particle with the oracle when the model's exact
    /// score is known (every spec target), projection otherwise.
    #[arg(long, value_enum)]
    pub form: Option<SiemForm>,
    /// Particle form: source of the error field ê_t. Default: oracle when the exact score is
    /// known, else critic.
    #[arg(long, value_enum)]
    pub error_field: Option<ErrorFieldKind>,
    /// Steps of the sampler's grid in the metric, e.g. `900..999` (the first 100 steps from noise
    /// of 1000; Python also takes `(900, 999)` or `range(900, 1000)`); default: the whole grid.
    /// Only the steps down to the window are run.
    #[arg(long, value_parser = parse_window)]
    pub window: Option<Window>,
    /// Test functions: the radial profile ψ of φ(x) = ψ(|x − c|/h), or `quadratic`: every test
    /// function of degree ≤ 2 at once (projection form; sees the affine part of the error in any
    /// dimension, where radial functions see only its radial part).
    #[arg(long, value_enum, default_value_t = TestFnKind::default())]
    pub test_fn: TestFnKind,
    /// Seed of the test functions (the K centres and the pilot draws of the bandwidth): part of
    /// the metric's definition, independent of the sampling seed, so every seed and checkpoint is
    /// measured with the same test functions.
    #[arg(long, default_value_t = 0)]
    pub test_seed: u64,
    /// Bandwidth h > 0 (default: a median of |X_t − c|, see the bandwidth rule).
    #[arg(long, allow_hyphen_values = true)]
    pub bandwidth: Option<f64>,
    /// Default bandwidth when none is given. Projection form: median-pooled (pilot draws of the
    /// forward-noised data at every time of the full grid, whatever the window) or
    /// median-first-step (the grid's highest-noise time). Particle form: the model's own states on
    /// the window (every one, or the first step's).
    #[arg(long, value_enum, default_value_t = MedianRule::MedianPooled)]
    pub bandwidth_rule: MedianRule,
    /// Centre c of φ (CLI: comma-separated coordinates): alone, one test function (K = 1) at c, in
    /// either form (default: the origin for K = 1).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub center: Option<Vec<f64>>,
    /// Number K of test functions; K > 1 centres them at K data points drawn with the test seed
    /// and averages (the multi-centre variant). K = 1 at c = 0 is the paper's metric. Default: 8
    /// for the projection form, 1 for the particle form or with a centre.
    #[arg(long)]
    pub centers: Option<usize>,
    /// Trajectories (particle form) or draws per window time (projection form).
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    /// Projection form: pilot draws per window time that set the median bandwidth.
    #[arg(long, default_value_t = DEFAULT_PILOT)]
    pub pilot: usize,
    /// Sampler steps (default: the schedule's: 1000, or K for DDPM).
    #[arg(long)]
    pub steps: Option<usize>,
    /// End time of sampling (default 1e-3 for VP, 0 for DDPM).
    #[arg(long)]
    pub t_min: Option<f64>,
    /// Particle form: the reverse-SDE sampler.
    #[arg(long, value_enum, default_value_t = SamplerKind::Em)]
    pub sampler: SamplerKind,
    /// Sampling seed (trajectories, data draws, the error field's training).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training steps of the `classifier` error field (batch 512, MLP 3 × 64).
    #[arg(long, default_value_t = 1500)]
    pub classifier_steps: usize,
    /// Steps per time band of the `critic` error field: the window is cut into bands of this many
    /// steps, aligned to its multiples on the grid (100: 900..999 is one band, 0..999 ten), one
    /// critic is fitted per band, and a band's fit is kept only where its held-out objective beats
    /// zero by more than 2 SE; a dropped band has a zero error field and is named in
    /// `dropped_bands`. A value ≥ the grid's steps fits one critic over the whole window.
    #[arg(long, default_value_t = DEFAULT_BAND_STEPS)]
    pub critic_band_steps: usize,
    /// Particle form, `critic` error field: save the fitted critic to PATH (safetensors) and a
    /// sidecar PATH.json recording what makes it compatible (dimension, model, schedule, window,
    /// grid, seeds, fit settings), so other runs (every shard) load it with --error-field-in.
    #[arg(long)]
    pub error_field_out: Option<std::path::PathBuf>,
    /// Particle form, `critic` error field: load the critic saved by --error-field-out instead of
    /// fitting it; a field fitted for another run (a sidecar entry differs) is refused, naming the
    /// entry. The report is the fitting run's (the fit's cost included).
    #[arg(long)]
    pub error_field_in: Option<std::path::PathBuf>,
    #[command(flatten)]
    #[serde(flatten)]
    pub shard: ShardOptions,
}

impl Default for SiemOptions {
    fn default() -> Self {
        scoreprobe_core::options::clap_defaults()
    }
}

impl SiemOptions {
    /// The form a run takes against a reference with or without an exact score: the one asked
    /// for, else the projection form for the quadratic family (it exists only there), else
    /// [`SiemForm::default_for`].
    pub fn form_for(&self, has_exact_score: bool) -> SiemForm {
        match (self.form, self.test_fn) {
            (Some(form), _) => form,
            (None, TestFnKind::Quadratic) => SiemForm::Projection,
            (None, TestFnKind::Radial(_)) => SiemForm::default_for(has_exact_score),
        }
    }

    /// The score-model calls of a run on `schedule`, known before it runs (a progress bar's
    /// total; each call evaluates every row at one time): one per window time in the projection
    /// form, the sampler's NFE down to the window in the particle form with the oracle. None when
    /// a fitted error field calls the model while it trains, or the window does not fit the grid.
    pub fn score_calls(&self, schedule: &Schedule, has_exact_score: bool) -> Option<usize> {
        let steps = self.steps.unwrap_or_else(|| schedule.default_steps());
        let window = self.window.unwrap_or(Window::full(steps));
        window.check(steps).ok()?;
        match self.form_for(has_exact_score) {
            SiemForm::Projection => Some(window.len()),
            SiemForm::Particle if self.error_field.unwrap_or(ErrorFieldKind::Oracle) == ErrorFieldKind::Oracle => {
                let t_min = self.t_min.unwrap_or_else(|| schedule.default_t_min());
                let mut cfg = scoreprobe_core::sampler::SamplerConfig::new(self.sampler, steps, t_min, self.seed);
                cfg.window = Some(window);
                cfg.stop_after_window = true;
                Some(cfg.nfe())
            }
            SiemForm::Particle => None,
        }
    }
}

/// `--window`: a window's text, parsed by [`Window::parse`].
fn parse_window(text: &str) -> Result<Window, String> {
    Window::parse(text).map_err(|e| e.to_string())
}

/// The window of the options, checked against a grid of `steps` steps.
fn window(opts: &SiemOptions, steps: usize) -> Result<Option<Window>, SiemError> {
    match opts.window {
        Some(w) => w.check(steps).map(|()| Some(w)).map_err(|e| OptionError::new("window", e.to_string()).into()),
        None => Ok(None),
    }
}

/// K distinct seeded rows of `rows` as test-function centres (the data-set counterpart of
/// [`centers_from_target`]; pass the test seed).
pub fn centers_from_rows(rows: &Array2<f64>, k: usize, test_seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(test_seed ^ 0xce47_e125);
    let k = k.min(rows.nrows());
    let idx = rand::seq::index::sample(&mut rng, rows.nrows(), k).into_vec();
    rows.select(Axis(0), &idx)
}

/// The radial test functions of the options (centres from `test_seed`; `center` alone: K = 1).
pub fn test_functions(opts: &SiemOptions, reference: SiemReference, d: usize) -> Result<TestFnSpec, SiemError> {
    let kind: RadialKind = match opts.test_fn {
        TestFnKind::Radial(kind) => kind,
        TestFnKind::Quadratic => {
            return Err(OptionError::new(
                "test_fn",
                "quadratic: the quadratic family is a projection-form test family; use the projection form",
            )
            .into())
        }
    };
    let default_k = match (&opts.center, opts.form.unwrap_or(SiemForm::default_for(reference.has_exact_score()))) {
        (Some(_), _) | (None, SiemForm::Particle) => 1,
        (None, SiemForm::Projection) => DEFAULT_CENTERS,
    };
    let k = opts.centers.unwrap_or(default_k);
    let bandwidth = match opts.bandwidth {
        Some(h) if !(h > 0.0 && h.is_finite()) => {
            return Err(OptionError::new("bandwidth", format!("must be a finite number > 0, got {h}")).into())
        }
        Some(h) => BandwidthRule::Fixed(h),
        None => opts.bandwidth_rule.rule(),
    };
    if k == 0 {
        return Err(OptionError::new("centers", "need at least 1 test function").into());
    }
    let centers = match (&opts.center, k) {
        (Some(_), k) if k > 1 => {
            return Err(OptionError::new(
                "center",
                format!("center and centers = {k} exclude each other: the {k} centres are seeded data points"),
            )
            .into())
        }
        (Some(c), _) if c.len() != d => {
            return Err(OptionError::new(
                "center",
                format!("has {} coordinates, the target has dimension {d}", c.len()),
            )
            .into())
        }
        (Some(c), _) => Array1::from(c.clone()).insert_axis(Axis(0)),
        (None, 1) => Array2::zeros((1, d)),
        (None, k) => match reference {
            SiemReference::Exact { target, .. } => centers_from_target(target, k, opts.test_seed),
            SiemReference::Samples(rows) => centers_from_rows(rows, k, opts.test_seed),
        },
    };
    let spec = TestFnSpec { kind, bandwidth, centers };
    spec.validate(d)?;
    Ok(spec)
}

/// The run's configuration (window, sampler, test functions) for a model of dimension `d`.
pub fn siem_config(
    opts: &SiemOptions,
    schedule: &Schedule,
    reference: SiemReference,
    d: usize,
) -> Result<SiemConfig, SiemError> {
    let steps = opts.steps.unwrap_or_else(|| schedule.default_steps());
    let mut cfg = SiemConfig::new(d, steps, opts.t_min.unwrap_or_else(|| schedule.default_t_min()), opts.n, opts.seed);
    cfg.sampler = opts.sampler;
    if let Some(w) = window(opts, steps)? {
        cfg.window = w;
    }
    cfg.test_fn = test_functions(opts, reference, d)?;
    cfg.test_seed = opts.test_seed;
    Ok(cfg)
}

/// The error-field source of the options against the reference (through the one recipe every
/// front end uses, [`crate::recipe::error_source`]).
pub fn error_source(
    kind: ErrorFieldKind,
    opts: &SiemOptions,
    schedule: &Schedule,
    reference: SiemReference,
) -> Result<Box<dyn ErrorSource>, SiemError> {
    if let Some(why) = kind.unavailable() {
        return Err(OptionError::new("error_field", why).into());
    }
    if opts.critic_band_steps == 0 {
        return Err(OptionError::new("critic_band_steps", "must be at least 1 step per band").into());
    }
    refuse_field_files(kind, opts)?;
    #[cfg(feature = "nn")]
    let options = SourceOptions {
        classifier: crate::classifier::ClassifierConfig {
            train_steps: opts.classifier_steps,
            seed: opts.seed,
            ..Default::default()
        },
        critic: crate::critic::CriticSourceConfig {
            seed: opts.seed,
            band_steps: opts.critic_band_steps,
            field_in: opts.error_field_in.clone(),
            field_out: opts.error_field_out.clone(),
            ..Default::default()
        },
    };
    #[cfg(not(feature = "nn"))]
    let options = {
        let _ = opts;
        SourceOptions::default()
    };
    crate::recipe::error_source(kind, reference.truth(schedule), options)
}

/// `error_field_in`/`error_field_out` name a fitted field's file: only the critic has one (the
/// oracle is exact, the classifier is not saved yet).
fn refuse_field_files(kind: ErrorFieldKind, opts: &SiemOptions) -> Result<(), SiemError> {
    let field = match (&opts.error_field_in, &opts.error_field_out) {
        (None, None) => return Ok(()),
        (Some(_), _) => "error_field_in",
        (None, Some(_)) => "error_field_out",
    };
    if kind == ErrorFieldKind::Critic {
        return Ok(());
    }
    let why = format!("the {} error field has no fitted field to save or load (only critic has)", kind.name());
    Err(OptionError::new(field, why).into())
}

/// Draws rows uniformly with replacement: the data draws of the projection form and of the
/// classifier and critic sources.
pub fn row_draws(rows: &Arc<Array2<f64>>) -> Draws {
    use rand::Rng;
    let rows = Arc::clone(rows);
    Box::new(move |n: usize, rng: &mut ChaCha8Rng| {
        let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..rows.nrows())).collect();
        rows.select(Axis(0), &idx)
    })
}

/// The report of a SIEM run, in the form it was run in (JSON: the form's own report, which names
/// its `form`).
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum SiemRun {
    Particle(SiemReport),
    Projection(ProjectionReport),
}

impl SiemRun {
    /// SIEM's value and its standard error.
    pub fn value(&self) -> (f64, f64) {
        match self {
            SiemRun::Particle(r) => (r.siem, r.siem_se),
            SiemRun::Projection(r) => (r.siem, r.siem_se),
        }
    }
}

/// SIEM of `model` against `reference` with the options, in the options' form: what the CLI's
/// `siem` and Python's `siem` both run.
pub fn run_siem(
    model: &dyn ScoreModel,
    schedule: &Schedule,
    reference: SiemReference,
    opts: &SiemOptions,
) -> Result<SiemRun, SiemError> {
    let d = model.dim();
    if reference.dim() != d {
        return Err(SiemError::invalid("data", format!("has dimension {}, the model {d}", reference.dim())));
    }
    opts.shard.checked()?;
    match opts.form_for(reference.has_exact_score()) {
        SiemForm::Projection => run_projection(model, schedule, reference, opts).map(SiemRun::Projection),
        SiemForm::Particle => {
            let kind = opts.error_field.unwrap_or(match reference {
                SiemReference::Exact { .. } => ErrorFieldKind::Oracle,
                SiemReference::Samples(_) => ErrorFieldKind::Critic,
            });
            let cfg = siem_config(opts, schedule, reference, d)?;
            let mut source = error_source(kind, opts, schedule, reference)?;
            let (shard, state_out) = opts.shard.checked()?;
            if state_out.is_none() {
                return estimate_siem(model, schedule, source.as_mut(), &cfg).map(SiemRun::Particle);
            }
            // a shard (or a whole run asked for its state) keeps its part for the state file
            let part = estimate_part(model, schedule, source.as_mut(), &cfg, shard.range(cfg.n))?;
            let mut report = finish_siem(&cfg, vec![part.clone()])?;
            report.part = Some(Box::new(part));
            Ok(SiemRun::Particle(report))
        }
    }
}

/// SIEM's projection form with the options: forward-noised draws of the reference, no error field
/// and no sampler (options that need them are refused rather than ignored).
pub fn run_projection(
    model: &dyn ScoreModel,
    schedule: &Schedule,
    reference: SiemReference,
    opts: &SiemOptions,
) -> Result<ProjectionReport, SiemError> {
    let d = model.dim();
    if opts.error_field_in.is_some() || opts.error_field_out.is_some() {
        let field = if opts.error_field_in.is_some() { "error_field_in" } else { "error_field_out" };
        let why = "the projection form fits no error field; use the particle form with error_field critic";
        return Err(OptionError::new(field, why).into());
    }
    if let Some(kind) = opts.error_field {
        return Err(OptionError::new(
            "error_field",
            format!(
                "{}: the projection form uses no error field (it needs only data draws); use the particle form",
                kind.name()
            ),
        )
        .into());
    }
    if opts.sampler != SamplerKind::Em {
        return Err(OptionError::new(
            "sampler",
            format!("{}: the projection form runs no sampler; use the particle form", opts.sampler.name()),
        )
        .into());
    }
    let steps = opts.steps.unwrap_or_else(|| schedule.default_steps());
    let mut cfg =
        ProjectionConfig::new(d, steps, opts.t_min.unwrap_or_else(|| schedule.default_t_min()), opts.n, opts.seed);
    if let Some(w) = window(opts, steps)? {
        cfg.window = w;
    }
    let opts = SiemOptions { form: Some(SiemForm::Projection), ..opts.clone() };
    cfg.test_seed = opts.test_seed;
    match opts.test_fn {
        TestFnKind::Quadratic => {
            if opts.center.is_some() || opts.centers.is_some() || opts.bandwidth.is_some() {
                return Err(OptionError::new(
                    "test_fn",
                    "quadratic: the quadratic family has no centres or bandwidth to set (its centre is the data mean)",
                )
                .into());
            }
            cfg.family = TestFamily::Quadratic { data_mean: Some(reference.data_mean()) };
        }
        TestFnKind::Radial(_) => cfg.test_fn = test_functions(&opts, reference, d)?,
    }
    cfg.pilot = opts.pilot;
    cfg.shard = opts.shard.checked()?.0;
    let mut draws = match reference {
        SiemReference::Exact { target, .. } => {
            let target = target.clone();
            Box::new(move |n: usize, rng: &mut ChaCha8Rng| target.sample(n, rng)) as Draws
        }
        SiemReference::Samples(rows) => row_draws(rows),
    };
    estimate_projection(model, schedule, &mut draws, &cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_centres_are_seeded_distinct_rows_and_bad_options_are_named() {
        let rows = Arc::new(Array2::from_shape_fn((20, 2), |(i, j)| (i * 2 + j) as f64));
        let c = centers_from_rows(&rows, 4, 3);
        assert_eq!(c, centers_from_rows(&rows, 4, 3));
        assert_eq!(c.nrows(), 4);
        assert!(c.rows().into_iter().all(|r| rows.rows().into_iter().any(|x| x == r)));
        let reference = SiemReference::Samples(&rows);
        let bad = |o: SiemOptions| test_functions(&o, reference, 2).unwrap_err().to_string();
        assert!(bad(SiemOptions { bandwidth: Some(-1.0), ..Default::default() }).contains("bandwidth"));
        assert!(bad(SiemOptions { centers: Some(0), ..Default::default() }).contains("centers"));
        assert!(bad(SiemOptions { center: Some(vec![0.0]), ..Default::default() }).contains("center"));
        assert!(bad(SiemOptions { test_fn: TestFnKind::Quadratic, ..Default::default() }).contains("test_fn"));
        // the centres come from the test seed, never the sampling seed
        let spec =
            test_functions(&SiemOptions { centers: Some(3), seed: 9, ..Default::default() }, reference, 2).unwrap();
        assert_eq!(spec.centers, centers_from_rows(&rows, 3, 0));
        let spec = test_functions(&SiemOptions { centers: Some(3), test_seed: 5, ..Default::default() }, reference, 2)
            .unwrap();
        assert_eq!(spec.centers, centers_from_rows(&rows, 3, 5));
        // a centre alone is K = 1 at it, in either form
        let spec =
            test_functions(&SiemOptions { center: Some(vec![1.0, 2.0]), ..Default::default() }, reference, 2).unwrap();
        assert_eq!(spec.centers, ndarray::array![[1.0, 2.0]]);
        let both = SiemOptions { center: Some(vec![1.0, 2.0]), centers: Some(4), ..Default::default() };
        assert!(bad(both).contains("exclude each other"));
        let schedule = Schedule::vp_default();
        let err = error_source(ErrorFieldKind::Oracle, &SiemOptions::default(), &schedule, reference).err().unwrap();
        assert!(matches!(err, SiemError::NoExactScore { .. }), "{err}");
    }

    #[test]
    fn options_are_declared_once_with_clap_s_defaults_and_typed_values() {
        let o = SiemOptions::default();
        assert_eq!((o.n, o.pilot, o.classifier_steps, o.sampler), (1000, DEFAULT_PILOT, 1500, SamplerKind::Em));
        assert_eq!((o.test_fn, o.bandwidth_rule, o.window), (TestFnKind::default(), MedianRule::MedianPooled, None));
        let specs = scoreprobe_core::options::option_specs::<SiemOptions>().unwrap();
        let named = |n: &str| specs.iter().find(|s| s.name == n).unwrap().default.clone();
        assert_eq!(
            (named("bandwidth_rule"), named("test_fn")),
            (serde_json::json!("median-pooled"), serde_json::json!("gaussian"))
        );
        assert_eq!(specs.len(), 21);
        assert_eq!(named("critic_band_steps"), serde_json::json!(100));
        let last: Vec<&str> = specs[16..].iter().map(|s| s.name.as_str()).collect();
        assert_eq!(last, ["critic_band_steps", "error_field_out", "error_field_in", "shard", "state_out"]);
        // Python's spellings: a window as text or a pair, kinds by name, unknown fields refused
        let o: SiemOptions =
            serde_json::from_str(r#"{"window": [900, 999], "test_fn": "quadratic", "sampler": "ancestral"}"#).unwrap();
        assert_eq!(
            (o.window, o.test_fn, o.sampler),
            (Some(Window { lo: 900, hi: 999 }), TestFnKind::Quadratic, SamplerKind::Ancestral)
        );
        // unknown names are refused by the front ends against the schema (serde cannot: `flatten`)
        assert!(!specs.iter().any(|s| s.name == "bandwidth_rul"));
        let o: SiemOptions = serde_json::from_str(r#"{"shard": "1/4", "state_out": "s.json"}"#).unwrap();
        assert_eq!((o.shard.shard.unwrap().index, o.shard.state_out.unwrap().to_str()), (1, Some("s.json")));
        assert!(serde_json::from_str::<SiemOptions>(r#"{"test_fn": "cubic"}"#)
            .unwrap_err()
            .to_string()
            .contains("cubic"));
    }
}
