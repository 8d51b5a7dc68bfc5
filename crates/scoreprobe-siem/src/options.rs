//! SIEM as every front end runs it (the CLI's `siem`, the Python module's `siem`): options with
//! the CLI's names and defaults, the reference the error field is measured against, and one
//! function that builds the test functions, the error-field source and the configuration from
//! them. Front ends only parse their inputs into [`SiemOptions`] and print the report, so they
//! give the same numbers on the same inputs.

use crate::error::SiemError;
use crate::estimate::{estimate_siem, SiemConfig, SiemReport};
use crate::form::SiemForm;
use crate::projection::{
    estimate_projection, ProjectionConfig, ProjectionReport, TestFamily, DEFAULT_CENTERS, DEFAULT_PILOT,
};
use crate::recipe::{Draws, SourceOptions, Truth};
use crate::source::{ErrorFieldKind, ErrorSource};
use crate::testfn::{centers_from_target, BandwidthRule, RadialKind, TestFnKind, TestFnSpec};
use ndarray::{Array1, Array2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use scoreprobe_core::model::synthetic::SyntheticModel;
use scoreprobe_core::sampler::SamplerKind;
use scoreprobe_core::window::Window;
use scoreprobe_core::{GaussianMixture, Schedule, ScoreModel};
use serde::Serialize;
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

/// The options of a SIEM run, named and defaulted like the CLI's flags.
#[derive(Clone, Debug, PartialEq)]
pub struct SiemOptions {
    /// projection | particle (default: particle with an exact score, else projection).
    pub form: Option<SiemForm>,
    /// Particle form: source of ê_t (default: oracle with an exact score, else critic).
    pub error_field: Option<ErrorFieldKind>,
    /// Steps of the sampler's grid in the metric, e.g. `900..999`; None: the whole grid.
    pub window: Option<String>,
    /// Test functions: a radial profile (gaussian | imq | bump) or the quadratic family
    /// (projection form only).
    pub test_fn: TestFnKind,
    /// The test functions' own seed (centres, pilot bandwidth): part of the metric, never `seed`.
    pub test_seed: u64,
    /// Fixed bandwidth h > 0 (None: the median rule).
    pub bandwidth: Option<f64>,
    /// median-pooled | median-first-step.
    pub bandwidth_rule: String,
    /// Centre of a single test function (None: the origin); alone, it means K = 1 at this centre.
    pub center: Option<Vec<f64>>,
    /// Number K of test functions (K > 1: centred at K seeded data points); default 8 for the
    /// projection form, 1 (the paper's metric) for the particle form.
    pub centers: Option<usize>,
    /// Trajectories (particle form) or draws per window time (projection form).
    pub n: usize,
    /// Projection form: pilot draws per window time that set the median bandwidth.
    pub pilot: usize,
    /// Sampler steps (None: the schedule's default).
    pub steps: Option<usize>,
    /// End time of sampling (None: the schedule's default).
    pub t_min: Option<f64>,
    /// em | ancestral.
    pub sampler: String,
    pub seed: u64,
    /// Training steps of the classifier error field.
    pub classifier_steps: usize,
}

impl Default for SiemOptions {
    fn default() -> Self {
        Self {
            form: None,
            error_field: None,
            window: None,
            test_fn: TestFnKind::default(),
            test_seed: 0,
            bandwidth: None,
            bandwidth_rule: "median-pooled".into(),
            center: None,
            centers: None,
            n: 1000,
            pilot: DEFAULT_PILOT,
            steps: None,
            t_min: None,
            sampler: "em".into(),
            seed: 0,
            classifier_steps: 1500,
        }
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
            return Err(SiemError::invalid(
                "test_fn",
                "quadratic: the quadratic family is a projection-form test family; use the projection form",
            ))
        }
    };
    let default_k = match (&opts.center, opts.form.unwrap_or(SiemForm::default_for(reference.has_exact_score()))) {
        (Some(_), _) | (None, SiemForm::Particle) => 1,
        (None, SiemForm::Projection) => DEFAULT_CENTERS,
    };
    let k = opts.centers.unwrap_or(default_k);
    let bandwidth = match (opts.bandwidth, opts.bandwidth_rule.as_str()) {
        (Some(h), _) if !(h > 0.0 && h.is_finite()) => {
            return Err(SiemError::invalid("bandwidth", format!("must be a finite number > 0, got {h}")))
        }
        (Some(h), _) => BandwidthRule::Fixed(h),
        (None, "median-first-step") => BandwidthRule::MedianFirstStep,
        (None, "median-pooled") => BandwidthRule::MedianPooled,
        (None, other) => {
            return Err(SiemError::Unknown {
                what: "bandwidth rule",
                name: other.into(),
                known: vec!["median-pooled", "median-first-step"],
            })
        }
    };
    if k == 0 {
        return Err(SiemError::invalid("centers", "need at least 1 test function"));
    }
    let centers = match (&opts.center, k) {
        (Some(_), k) if k > 1 => {
            return Err(SiemError::invalid(
                "center",
                format!("center and centers = {k} exclude each other: the {k} centres are seeded data points"),
            ))
        }
        (Some(c), _) if c.len() != d => {
            return Err(SiemError::invalid(
                "center",
                format!("has {} coordinates, the target has dimension {d}", c.len()),
            ))
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
    cfg.sampler = opts.sampler.parse::<SamplerKind>().map_err(|e| SiemError::from(e.within("sampler")))?;
    if let Some(w) = &opts.window {
        cfg.window = Window::parse(w).map_err(|e| SiemError::from(e.within("window")))?;
        cfg.window.check(steps).map_err(|e| SiemError::from(e.within("window")))?;
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
        return Err(SiemError::invalid("error field", why));
    }
    #[cfg(feature = "nn")]
    let options = SourceOptions {
        classifier: crate::classifier::ClassifierConfig {
            train_steps: opts.classifier_steps,
            seed: opts.seed,
            ..Default::default()
        },
        critic: crate::critic::CriticSourceConfig { seed: opts.seed, ..Default::default() },
    };
    #[cfg(not(feature = "nn"))]
    let options = {
        let _ = opts;
        SourceOptions::default()
    };
    crate::recipe::error_source(kind, reference.truth(schedule), options)
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
    // the quadratic family exists only in the projection form, so asking for it picks that form
    let default_form = match opts.test_fn {
        TestFnKind::Quadratic => SiemForm::Projection,
        TestFnKind::Radial(_) => SiemForm::default_for(reference.has_exact_score()),
    };
    match opts.form.unwrap_or(default_form) {
        SiemForm::Projection => run_projection(model, schedule, reference, opts).map(SiemRun::Projection),
        SiemForm::Particle => {
            let kind = opts.error_field.unwrap_or(match reference {
                SiemReference::Exact { .. } => ErrorFieldKind::Oracle,
                SiemReference::Samples(_) => ErrorFieldKind::Critic,
            });
            let cfg = siem_config(opts, schedule, reference, d)?;
            let mut source = error_source(kind, opts, schedule, reference)?;
            estimate_siem(model, schedule, source.as_mut(), &cfg).map(SiemRun::Particle)
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
    if let Some(kind) = opts.error_field {
        return Err(SiemError::invalid(
            "error_field",
            format!(
                "{}: the projection form uses no error field (it needs only data draws); use the particle form",
                kind.name()
            ),
        ));
    }
    if opts.sampler != "em" {
        return Err(SiemError::invalid(
            "sampler",
            format!("{}: the projection form runs no sampler; use the particle form", opts.sampler),
        ));
    }
    let steps = opts.steps.unwrap_or_else(|| schedule.default_steps());
    let mut cfg =
        ProjectionConfig::new(d, steps, opts.t_min.unwrap_or_else(|| schedule.default_t_min()), opts.n, opts.seed);
    if let Some(w) = &opts.window {
        cfg.window = Window::parse(w).map_err(|e| SiemError::from(e.within("window")))?;
        cfg.window.check(steps).map_err(|e| SiemError::from(e.within("window")))?;
    }
    let opts = SiemOptions { form: Some(SiemForm::Projection), ..opts.clone() };
    cfg.test_seed = opts.test_seed;
    match opts.test_fn {
        TestFnKind::Quadratic => {
            if opts.center.is_some() || opts.centers.is_some() || opts.bandwidth.is_some() {
                return Err(SiemError::invalid(
                    "test_fn",
                    "quadratic: the quadratic family has no centres or bandwidth to set (its centre is the data mean)",
                ));
            }
            cfg.family = TestFamily::Quadratic { data_mean: Some(reference.data_mean()) };
        }
        TestFnKind::Radial(_) => cfg.test_fn = test_functions(&opts, reference, d)?,
    }
    cfg.pilot = opts.pilot;
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
}
