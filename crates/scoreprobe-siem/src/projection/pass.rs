//! One pass over the grid for several projection runs that share their draws (same dimension,
//! steps, t_min, n and seed) and differ in test family, test functions or window: at each time of
//! the union of their windows the pass draws x_t and evaluates the model ONCE, and feeds every run
//! whose window holds that time. A time's draws come from its own stream keyed by (seed, step
//! index) (`draws`), so each run sees exactly the draws and score batches it would see alone: its
//! report is bit for bit [`estimate_projection`]'s (which is this pass with one run).
//!
//! The data sampler must be a function of its generator alone (every [`Draws`] of this crate is):
//! the pass calls it for the runs' pilots before any estimation draw, not in a run's own order.

use super::config::{ProjectionConfig, ProjectionReport, TestFamily};
use super::draws::{self, Stream};
use super::moments::{ProjectionState, StepMoments, StepState};
use super::quadratic::{self, QuadraticState};
use crate::error::SiemError;
use crate::estimate::TestFnReport;
use crate::form::SiemForm;
use crate::recipe::Draws;
use crate::testfn::RadialTestFn;
use ndarray::{Array1, Array2, Axis};
use scoreprobe_core::model::score_checked;
use scoreprobe_core::{Schedule, ScoreModel};
use std::collections::BTreeSet;
use std::time::Instant;

/// What [`estimate_projections`] gives.
#[derive(Clone, Debug)]
pub struct SharedProjection {
    /// One per config, in their order, each as [`estimate_projection`] gives it alone,
    /// except `seconds`: the pass's seconds times the run's share of the score evaluations the
    /// runs would make alone (n × its times, summed over the runs).
    pub reports: Vec<ProjectionReport>,
    /// Score evaluations the pass made: n × |union of the runs' times|.
    pub score_evals: usize,
    /// Wall-clock seconds of the whole pass (pilots included).
    pub seconds: f64,
}

/// A grid time: (step index k, t = t_{k+1}, Δt = t_{k+1} − t_k).
type Time = (usize, f64, f64);

/// A run's test functions and running sums.
enum Accumulator {
    Radial { fns: Vec<RadialTestFn>, g: Vec<f64>, state: ProjectionState },
    Quadratic { center: Array1<f64>, from_pilot: bool, state: QuadraticState },
}

/// One config's share of the pass: its times (sampling order), the next one to feed, its sums.
struct Run {
    report: ProjectionReport,
    times: Vec<Time>,
    next: usize,
    acc: Accumulator,
}

/// Several projection runs on the same draws, the model evaluated once per (time, draw) of the
/// union of their windows (see the module doc). Configs that cannot share a pass are refused with
/// [`SiemError::Unshared`] naming the field.
pub fn estimate_projections(
    model: &dyn ScoreModel,
    schedule: &Schedule,
    data: &mut Draws,
    cfgs: &[ProjectionConfig],
) -> Result<SharedProjection, SiemError> {
    let start = Instant::now();
    let d = model.dim();
    let first = check_shared(cfgs, d)?;
    let (n, grid) = (first.n, first.grid());
    let mut runs: Vec<Run> = cfgs.iter().map(|c| Run::new(c, d, schedule, data, &grid)).collect::<Result<_, _>>()?;
    let union: BTreeSet<usize> = runs.iter().flat_map(|r| r.times.iter().map(|t| t.0)).collect();
    for &index in union.iter().rev() {
        let (t, dt) = (grid[index + 1], grid[index + 1] - grid[index]);
        let mut rng = draws::time_rng(first.seed, Stream::Estimate, index);
        let x = draws::noised(data, schedule, t, n, d, &mut rng)?;
        let s =
            score_checked(model, x.view(), t).map_err(|source| SiemError::Model { field: "projection", t, source })?;
        for run in runs.iter_mut().filter(|r| r.times.get(r.next).is_some_and(|u| u.0 == index)) {
            run.push(schedule, (index, t, dt), &x, &s);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let alone: usize = runs.iter().map(|r| r.times.len()).sum();
    let reports = runs
        .into_iter()
        .map(|r| {
            let share = if alone == 0 { 1.0 } else { r.times.len() as f64 / alone as f64 };
            r.finish(seconds * share)
        })
        .collect::<Result<_, _>>()?;
    Ok(SharedProjection { reports, score_evals: n * union.len(), seconds })
}

/// SIEM^proj of `model` on draws of the data (`draws` gives x₀ rows): the shared pass
/// ([`estimate_projections`]) with this one run.
pub fn estimate_projection(
    model: &dyn ScoreModel,
    schedule: &Schedule,
    draws: &mut Draws,
    cfg: &ProjectionConfig,
) -> Result<ProjectionReport, SiemError> {
    let mut pass = estimate_projections(model, schedule, draws, std::slice::from_ref(cfg))?;
    Ok(pass.reports.pop().expect("one config gives one report"))
}

/// The first config, once every config is valid for dimension `d` and draws as it does.
fn check_shared(cfgs: &[ProjectionConfig], d: usize) -> Result<&ProjectionConfig, SiemError> {
    let Some(first) = cfgs.first() else {
        return Err(SiemError::invalid("projection pass", "needs at least one config"));
    };
    for (index, c) in cfgs.iter().enumerate() {
        let field = if c.steps != first.steps {
            Some("steps")
        } else if c.t_min.to_bits() != first.t_min.to_bits() {
            Some("t_min")
        } else if c.n != first.n {
            Some("n")
        } else if c.seed != first.seed {
            Some("seed")
        } else if c.test_fn.centers.ncols() != first.test_fn.centers.ncols() {
            Some("dim")
        } else {
            None
        };
        if let Some(field) = field {
            return Err(SiemError::Unshared { field, index });
        }
        c.validate(d)?;
    }
    Ok(first)
}

impl Run {
    /// The run's report skeleton, its part of the window and its test functions (the radial
    /// bandwidths from the full grid's pilot, the quadratic centre c₀).
    fn new(
        cfg: &ProjectionConfig,
        d: usize,
        schedule: &Schedule,
        data: &mut Draws,
        grid: &[f64],
    ) -> Result<Self, SiemError> {
        // window times in sampling order (from noise towards data), as the particle form's profile
        let window: Vec<Time> =
            (cfg.window.lo..=cfg.window.hi).rev().map(|k| (k, grid[k + 1], grid[k + 1] - grid[k])).collect();
        let mut report = skeleton(cfg, window.len());
        let times = window[cfg.shard.range(window.len())].to_vec();
        let acc = match &cfg.family {
            TestFamily::Radial => {
                // the pilot pools the FULL grid (sampling order), whatever the window: a window's
                // test functions are the full run's
                let all: Vec<(usize, f64)> = (0..cfg.steps).rev().map(|k| (k, grid[k + 1])).collect();
                let bandwidths = draws::bandwidths(&cfg.test_fn, data, schedule, &all, cfg.pilot, cfg.test_seed)?;
                let fns = cfg.test_fn.build(&bandwidths)?;
                report.test_fn = TestFnReport::radial(&cfg.test_fn, bandwidths, cfg.test_seed);
                let state = ProjectionState {
                    steps: Vec::with_capacity(times.len()),
                    draw_cross: vec![0.0; cfg.n],
                    draw_norm: vec![0.0; cfg.n],
                };
                Accumulator::Radial { g: vec![0.0; cfg.n * fns.len()], fns, state }
            }
            TestFamily::Quadratic { data_mean } => {
                let (center, from_pilot) = quadratic::reference_center(data_mean.as_ref(), data, d, cfg.test_seed)?;
                report.test_fn = quadratic_test_fn(&center, cfg.test_seed);
                report.pilot = if from_pilot { quadratic::MEAN_PILOT } else { 0 };
                let state = QuadraticState { cross: vec![0.0; cfg.n], ..Default::default() };
                Accumulator::Quadratic { center, from_pilot, state }
            }
        };
        Ok(Run { report, times, next: 0, acc })
    }

    /// Feeds the run's next time: draws `x` and their scores `s`.
    fn push(&mut self, schedule: &Schedule, time: Time, x: &Array2<f64>, s: &Array2<f64>) {
        match &mut self.acc {
            Accumulator::Radial { fns, g, state } => radial_step(fns, g, state, schedule, time, x, s),
            Accumulator::Quadratic { center, state, .. } => state.push_time(schedule, time, x, s, center),
        }
        self.next += 1;
    }

    /// The report from the run's sums, with `seconds` its share of the pass.
    fn finish(mut self, seconds: f64) -> Result<ProjectionReport, SiemError> {
        match self.acc {
            Accumulator::Radial { state, .. } => self.report.finish_radial(state)?,
            Accumulator::Quadratic { state, from_pilot, .. } => self.report.finish_quadratic(&state, from_pilot),
        }
        self.report.seconds = seconds;
        Ok(self.report)
    }
}

/// The report before any time: the config's settings and costs (`w` window times).
fn skeleton(cfg: &ProjectionConfig, w: usize) -> ProjectionReport {
    ProjectionReport {
        form: SiemForm::Projection,
        siem: 0.0,
        siem_se: 0.0,
        siem_se_jackknife: 0.0,
        window: cfg.window.to_string(),
        test_fn: TestFnReport::radial(&cfg.test_fn, vec![], cfg.test_seed),
        quadratic: None,
        profile: vec![],
        per_center: vec![],
        nfe: w,
        score_evals: cfg.n * w,
        nfe_full: cfg.steps,
        n: cfg.n,
        pilot: cfg.pilot,
        steps: cfg.steps,
        t_min: cfg.t_min,
        seed: cfg.seed,
        seconds: 0.0,
        leave_one_out: vec![],
        state: None,
        quadratic_state: None,
    }
}

/// The quadratic family's test-function report: its centre c₀ and K = d + d(d+1)/2.
fn quadratic_test_fn(center: &Array1<f64>, test_seed: u64) -> TestFnReport {
    let d = center.len();
    let c = center.clone().insert_axis(Axis(0));
    TestFnReport {
        kind: "quadratic".into(),
        bandwidth_rule: "none".into(),
        bandwidths: vec![],
        centers_hash: crate::testfn::centers_hash(c.view()),
        centers: vec![c.row(0).to_vec()],
        test_seed,
        k: d + d * (d + 1) / 2,
    }
}

/// The radial test functions' moments at one time, from draws `x` and their scores `s`
/// (`g`: n × K scratch). With ρ = |x − c| and a = s·(x − c), g = ψ'(r)/(r h²)·a + Δφ.
fn radial_step(
    fns: &[RadialTestFn],
    g: &mut [f64],
    state: &mut ProjectionState,
    schedule: &Schedule,
    (index, t, dt): Time,
    x: &Array2<f64>,
    s: &Array2<f64>,
) {
    let (d, kc) = (x.ncols(), fns.len());
    for (c, f) in fns.iter().enumerate() {
        let center = f.center.view();
        for (i, (xi, si)) in x.rows().into_iter().zip(s.rows()).enumerate() {
            let (mut rho2, mut a) = (0.0, 0.0);
            for ((xv, cv), sv) in xi.iter().zip(center).zip(si) {
                let diff = xv - cv;
                rho2 += diff * diff;
                a += sv * diff;
            }
            let rho = rho2.sqrt();
            g[i * kc + c] = f.directional(rho, a) + f.laplacian(rho, d);
        }
    }
    let mut moments = StepMoments::new(kc);
    g.chunks(kc).for_each(|row| moments.push(row));
    let beta = schedule.beta(t);
    let step = StepState { index, t, dt, beta2: beta * beta, moments };
    let w = step.weight() / kc as f64;
    for (i, row) in g.chunks(kc).enumerate() {
        state.draw_cross[i] += w * row.iter().zip(&step.moments.sum).map(|(a, b)| a * b).sum::<f64>();
        state.draw_norm[i] += w * row.iter().map(|a| a * a).sum::<f64>();
    }
    state.steps.push(step);
}
