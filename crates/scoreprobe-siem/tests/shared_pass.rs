//! The shared projection pass (`estimate_projections`): several runs on the same draws, with one
//! score evaluation per (time, draw) of the union of their windows, give each run's report bit for
//! bit as `estimate_projection` gives it alone (f64 values, leave-one-out vectors, profiles and
//! states compared with `assert_eq`, only the wall-clock seconds differ), at n × |union| score
//! evaluations instead of n × Σ|window|; configs whose draws differ are refused, naming the field.

use ndarray::{array, ArrayView2};
use scoreprobe_core::model::synthetic::{ErrorField, SyntheticModel};
use scoreprobe_core::model::ModelError;
use scoreprobe_core::window::Window;
use scoreprobe_core::{GaussianMixture, Schedule, ScoreModel};
use scoreprobe_siem::error::SiemError;
use scoreprobe_siem::recipe::Draws;
use scoreprobe_siem::*;
use std::sync::atomic::{AtomicUsize, Ordering};

fn target() -> GaussianMixture {
    GaussianMixture::from_vecs(&[1.0], &[vec![0.5, -1.0]], &[vec![vec![1.0, 0.3], vec![0.3, 0.5]]], "gaussian2d")
        .unwrap()
}

fn model(error: ErrorField) -> SyntheticModel {
    SyntheticModel { target: target(), schedule: Schedule::vp_default(), error }
}

fn draws() -> Draws {
    let t = target();
    Box::new(move |n, rng| t.sample(n, rng))
}

/// The wrapped model, counting its calls and the rows it scored.
struct Counting<'a> {
    inner: &'a dyn ScoreModel,
    calls: AtomicUsize,
    rows: AtomicUsize,
}

impl<'a> Counting<'a> {
    fn new(inner: &'a dyn ScoreModel) -> Self {
        Self { inner, calls: AtomicUsize::new(0), rows: AtomicUsize::new(0) }
    }
    fn counts(&self) -> (usize, usize) {
        (self.calls.load(Ordering::SeqCst), self.rows.load(Ordering::SeqCst))
    }
}

impl ScoreModel for Counting<'_> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn score(&self, x: ArrayView2<f64>, t: f64) -> Result<ndarray::Array2<f64>, ModelError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.rows.fetch_add(x.nrows(), Ordering::SeqCst);
        self.inner.score(x, t)
    }
    fn describe(&self) -> String {
        format!("counting({})", self.inner.describe())
    }
}

const STEPS: usize = 100;
const N: usize = 64;
const WINDOW: &str = "90..99";

/// {radial K = 8 full, the paper's origin function on the window, quadratic full, quadratic on
/// the window}, on a 100-step grid with 64 draws per time.
fn configs() -> Vec<ProjectionConfig> {
    let base = ProjectionConfig::new(2, STEPS, 1e-3, N, 5);
    let mut radial = base.clone();
    radial.test_seed = 3;
    radial.test_fn.centers = centers_from_draws(&mut draws(), 8, 3);
    let mut origin = base.clone();
    origin.window = Window::parse(WINDOW).unwrap();
    let mut quad = base.clone();
    quad.family = TestFamily::Quadratic { data_mean: Some(target().moments().0) };
    let mut quad_window = quad.clone();
    quad_window.window = Window::parse(WINDOW).unwrap();
    vec![radial, origin, quad, quad_window]
}

fn without_seconds(mut r: ProjectionReport) -> ProjectionReport {
    r.seconds = 0.0;
    r
}

#[test]
fn each_run_of_the_pass_is_its_standalone_run_bit_for_bit() {
    let affine = ErrorField::Affine { e: array![[0.5, 0.2], [0.0, -0.3]] * 0.3, b: array![0.3, -0.2] * 0.3 };
    for m in [model(ErrorField::Exact), model(affine)] {
        let cfgs = configs();
        let pass = estimate_projections(&m, &m.schedule, &mut draws(), &cfgs).unwrap();
        assert_eq!(pass.reports.len(), cfgs.len());
        for (shared, cfg) in pass.reports.into_iter().zip(&cfgs) {
            let alone = estimate_projection(&m, &m.schedule, &mut draws(), cfg).unwrap();
            assert_eq!(shared.siem, alone.siem, "{}", cfg.window);
            assert_eq!(shared.siem_se, alone.siem_se);
            assert_eq!(shared.siem_se_jackknife, alone.siem_se_jackknife);
            assert_eq!(shared.leave_one_out, alone.leave_one_out);
            assert_eq!(shared.profile, alone.profile);
            assert_eq!(shared.per_center, alone.per_center);
            assert_eq!((shared.nfe, shared.score_evals), (alone.nfe, alone.score_evals));
            assert!(shared.seconds >= 0.0 && shared.seconds <= pass.seconds);
            // and everything else (states, test functions, quadratic parts)
            assert_eq!(without_seconds(shared), without_seconds(alone));
        }
    }
}

#[test]
fn the_pass_evaluates_the_model_once_per_time_and_draw_of_the_union() {
    let m = model(ErrorField::Affine { e: array![[0.5, 0.2], [0.0, -0.3]], b: array![0.3, -0.2] });
    let cfgs = configs();
    let counted = Counting::new(&m);
    let pass = estimate_projections(&counted, &m.schedule, &mut draws(), &cfgs).unwrap();
    // the union of {0..99, 90..99, 0..99, 90..99} is the 100 times of the full grid
    assert_eq!(counted.counts(), (STEPS, N * STEPS));
    assert_eq!(pass.score_evals, N * STEPS);
    let mut alone = (0, 0);
    for cfg in &cfgs {
        let c = Counting::new(&m);
        let r = estimate_projection(&c, &m.schedule, &mut draws(), cfg).unwrap();
        assert_eq!(c.counts().1, r.score_evals, "a run alone makes the evaluations it reports");
        alone = (alone.0 + c.counts().0, alone.1 + c.counts().1);
    }
    assert_eq!(alone, (2 * (STEPS + 10), N * 2 * (STEPS + 10)));
    eprintln!("score evaluations: one at a time {}, shared pass {}", alone.1, counted.counts().1);
    // the runs' seconds are the pass's, split by their evaluations alone (100 : 10 : 100 : 10)
    let total: f64 = pass.reports.iter().map(|r| r.seconds).sum();
    assert!((total - pass.seconds).abs() <= 1e-9 * pass.seconds.max(1e-300));
    assert!((pass.reports[0].seconds - 10.0 * pass.reports[1].seconds).abs() <= 1e-9 * pass.seconds.max(1e-300));
}

#[test]
fn a_window_only_pass_evaluates_only_the_window() {
    let m = model(ErrorField::Exact);
    let cfgs: Vec<ProjectionConfig> = configs().into_iter().filter(|c| c.window.to_string() == WINDOW).collect();
    assert_eq!(cfgs.len(), 2);
    let counted = Counting::new(&m);
    estimate_projections(&counted, &m.schedule, &mut draws(), &cfgs).unwrap();
    assert_eq!(counted.counts(), (10, N * 10));
}

#[test]
fn configs_that_draw_differently_are_refused_naming_the_field() {
    let m = model(ErrorField::Exact);
    type Change = fn(&mut ProjectionConfig);
    let cases: [(&str, Change); 5] = [
        ("n", |c| c.n += 1),
        ("seed", |c| c.seed += 1),
        ("steps", |c| {
            c.steps = 50;
            c.window = Window::full(50);
        }),
        ("t_min", |c| c.t_min = 2e-3),
        ("dim", |c| c.test_fn = TestFnSpec::paper(3)),
    ];
    for (name, change) in cases {
        let mut cfgs = configs();
        change(&mut cfgs[2]);
        match estimate_projections(&m, &m.schedule, &mut draws(), &cfgs) {
            Err(SiemError::Unshared { field, index }) => assert_eq!((field, index), (name, 2)),
            other => panic!("{name}: expected Unshared, got {other:?}"),
        }
    }
    let e = estimate_projections(&m, &m.schedule, &mut draws(), &[]).unwrap_err();
    assert!(e.to_string().contains("at least one config"), "{e}");
}
