//! Samplers (SPEC §2): reverse-SDE Euler–Maruyama, DDPM ancestral, probability-flow ODE (Euler,
//! Heun). Each runs on a uniform grid t_0 = t_min < t_1 < … < t_K = T; step k goes from t_{k+1}
//! down to t_k and evaluates the score at t_{k+1}. Every sampler counts its score evaluations
//! (NFE), and an observer sees the state and score at every step of an optional window; with
//! `stop_after_window` only the steps down to the window's lowest index are executed. The
//! observer may also stop the run ([`ControlFlow::Break`]), e.g. at its own first failure.
//!
//! Randomness is per trajectory: trajectory i's prior draw and its noise at every step come from
//! generators keyed by (seed, i) ([`SeedStream::trajectory_rng`]), where i counts from
//! [`SamplerConfig::first_trajectory`]. So a run split into shards, batches or threads gives each
//! trajectory exactly the values of the whole run.
//!
//! Every score batch is checked ([`score_checked`]): a model that fails, returns a wrong shape
//! or a non-finite value stops the run with [`CoreError::Sampling`], naming the step, the time
//! and the model, and keeping the model's error as the source.

use crate::distribution::{standard_normal, GaussianMixture};
use crate::error::CoreError;
use crate::model::{score_checked, ScoreModel};
use crate::options::OptionError;
use crate::schedule::{Schedule, T_END};
use crate::seed::{Purpose, SeedStream};
use crate::window::Window;
use ndarray::{Array2, ArrayView2};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};
use std::ops::{ControlFlow, Range};
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SamplerKind {
    /// Euler–Maruyama on the reverse SDE.
    Em,
    /// DDPM ancestral sampling (Ho et al. 2020, σ_k² = β_k), on any grid of the schedule.
    Ancestral,
    /// Probability-flow ODE, explicit Euler.
    OdeEuler,
    /// Probability-flow ODE, Heun's second-order method (2 NFE per step).
    OdeHeun,
}

impl SamplerKind {
    pub const NAMES: &'static [&'static str] = &["em", "ancestral", "ode-euler", "ode-heun"];

    pub fn name(&self) -> &'static str {
        match self {
            SamplerKind::Em => "em",
            SamplerKind::Ancestral => "ancestral",
            SamplerKind::OdeEuler => "ode-euler",
            SamplerKind::OdeHeun => "ode-heun",
        }
    }

    pub fn is_stochastic(&self) -> bool {
        matches!(self, SamplerKind::Em | SamplerKind::Ancestral)
    }
}

impl FromStr for SamplerKind {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        match s {
            "em" => Ok(SamplerKind::Em),
            "ancestral" => Ok(SamplerKind::Ancestral),
            "ode-euler" => Ok(SamplerKind::OdeEuler),
            "ode-heun" => Ok(SamplerKind::OdeHeun),
            other => Err(CoreError::Unknown {
                input: String::new(),
                what: "sampler",
                name: other.into(),
                known: Self::NAMES.iter().map(|s| s.to_string()).collect(),
            }),
        }
    }
}

#[derive(Clone, Debug)]
pub struct SamplerConfig {
    pub kind: SamplerKind,
    pub steps: usize,
    pub t_min: f64,
    pub seed: u64,
    /// Steps whose states the observer sees (None: no observation).
    pub window: Option<Window>,
    /// Execute only the steps from noise down to the window's lowest index.
    pub stop_after_window: bool,
    /// The index of the first row's trajectory in the whole run (a shard's rows start there):
    /// row r draws its noise from trajectory `first_trajectory + r`'s stream.
    pub first_trajectory: usize,
}

impl SamplerConfig {
    pub fn new(kind: SamplerKind, steps: usize, t_min: f64, seed: u64) -> Self {
        Self { kind, steps, t_min, seed, window: None, stop_after_window: false, first_trajectory: 0 }
    }

    pub fn validate(&self) -> Result<(), CoreError> {
        if self.steps == 0 {
            return Err(OptionError::new("steps", "must be at least 1").into());
        }
        if !(self.t_min >= 0.0 && self.t_min < T_END) {
            return Err(OptionError::new("t_min", format!("must lie in [0, {T_END}), got {}", self.t_min)).into());
        }
        if let Some(w) = &self.window {
            w.check(self.steps)?;
        }
        Ok(())
    }

    /// The time grid t_0 = t_min … t_K = T.
    pub fn grid(&self) -> Vec<f64> {
        (0..=self.steps).map(|j| self.t_min + (T_END - self.t_min) * j as f64 / self.steps as f64).collect()
    }

    /// The score evaluations per row of a run with this configuration, known before it runs (what
    /// [`SampleOutput::nfe`] says after it, unless the observer stops it early): one per step
    /// executed, two for Heun's steps except a final one that ends at t = 0.
    pub fn nfe(&self) -> usize {
        let last = match (&self.window, self.stop_after_window) {
            (Some(w), true) => w.lo,
            _ => 0,
        };
        let steps = self.steps.saturating_sub(last);
        match self.kind {
            SamplerKind::OdeHeun if last == 0 && self.t_min == 0.0 => (2 * steps).saturating_sub(1),
            SamplerKind::OdeHeun => 2 * steps,
            _ => steps,
        }
    }
}

/// The options of a sampling run (the CLI's `sample`, Python's `sample`), declared once for clap
/// and serde (see [`crate::options`]); the CLI adds its outputs (files, trajectories).
#[derive(Clone, Debug, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SampleOptions {
    /// Number of samples.
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    /// The sampler.
    #[arg(long, value_enum, default_value_t = SamplerKind::Em)]
    pub sampler: SamplerKind,
    /// Sampler steps (default: the schedule's: 1000, or K for DDPM).
    #[arg(long)]
    pub steps: Option<usize>,
    /// End time of sampling (default 1e-3 for VP, 0 for DDPM).
    #[arg(long)]
    pub t_min: Option<f64>,
    /// Seed of the prior draws and the sampler's noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    #[serde(flatten)]
    pub shard: crate::shard::ShardOptions,
}

impl Default for SampleOptions {
    fn default() -> Self {
        crate::options::clap_defaults()
    }
}

impl SampleOptions {
    /// The sampler's configuration on `schedule` (not yet validated: callers may add a window).
    pub fn config(&self, schedule: &Schedule) -> Result<SamplerConfig, CoreError> {
        if self.n == 0 {
            return Err(OptionError::new("n", "must be at least 1").into());
        }
        let steps = self.steps.unwrap_or_else(|| schedule.default_steps());
        let t_min = self.t_min.unwrap_or_else(|| schedule.default_t_min());
        Ok(SamplerConfig::new(self.sampler, steps, t_min, self.seed))
    }
}

/// What the observer sees at a step k inside the window: the state x at time `t` (= t_{k+1}),
/// the model's score there (already computed by the sampler: observing costs no extra NFE),
/// and the step's end time `t_next` (= t_k).
pub struct StepView<'a> {
    pub index: usize,
    pub t: f64,
    pub t_next: f64,
    pub x: ArrayView2<'a, f64>,
    pub score: ArrayView2<'a, f64>,
}

#[derive(Clone, Debug)]
pub struct SampleOutput {
    /// Final states: at t_min, or at the window's lowest time when stopped after the window.
    pub x: Array2<f64>,
    /// Number of score evaluations per sample (network forward passes per row).
    pub nfe: usize,
    /// Number of sampler steps executed.
    pub steps_run: usize,
    /// Time of the returned states.
    pub t_end: f64,
    /// The observer stopped the run (at the step that ends at `t_end`'s state, before updating it).
    pub stopped_by_observer: bool,
}

/// Draws the initial states of trajectories 0..n from the prior N(0, I).
pub fn prior_init(n: usize, d: usize, seed: u64) -> Array2<f64> {
    prior_rows(0..n, d, seed)
}

/// The prior draws of trajectories `rows` (one row each, from the trajectory's own stream).
pub fn prior_rows(rows: Range<usize>, d: usize, seed: u64) -> Array2<f64> {
    per_row(rows, d, |i| standard_normal(1, d, &mut SeedStream::new(seed).trajectory_rng(i, Purpose::TrajectoryPrior)))
}

/// Draws of trajectories `rows` from the true marginal p_T of `target` (each from its own stream).
pub fn marginal_rows(target: &GaussianMixture, schedule: &Schedule, rows: Range<usize>, seed: u64) -> Array2<f64> {
    per_row(rows, target.dim(), |i| {
        let mut rng = SeedStream::new(seed).trajectory_rng(i, Purpose::TrajectoryMarginal);
        target.sample_marginal(1, schedule, T_END, &mut rng)
    })
}

/// Stacks one 1 × d draw per trajectory index in `rows`.
fn per_row(rows: Range<usize>, d: usize, draw: impl Fn(u64) -> Array2<f64>) -> Array2<f64> {
    let mut x = Array2::zeros((rows.len(), d));
    for (r, i) in rows.enumerate() {
        x.row_mut(r).assign(&draw(i as u64).row(0));
    }
    x
}

/// Rows of noise per parallel work item.
const NOISE_ROWS: usize = 512;

/// The per-step noise of a batch of trajectories: one generator per row, keyed by the row's
/// trajectory index, drawn in step order (so a row's noise does not depend on the other rows).
struct StepNoise {
    rngs: Vec<ChaCha8Rng>,
    d: usize,
}

impl StepNoise {
    fn new(cfg: &SamplerConfig, n: usize, d: usize) -> Self {
        let seeds = SeedStream::new(cfg.seed);
        let first = cfg.first_trajectory as u64;
        let rngs = (0..n as u64).map(|r| seeds.trajectory_rng(first + r, Purpose::TrajectoryNoise)).collect();
        StepNoise { rngs, d }
    }

    /// The next n × d standard normal draws (rows in parallel: each row has its own generator,
    /// so the values do not depend on the thread count).
    fn draw(&mut self) -> Array2<f64> {
        use rayon::prelude::*;
        let d = self.d;
        let mut z = vec![0.0; self.rngs.len() * d];
        z.par_chunks_mut(d.max(1) * NOISE_ROWS).zip(self.rngs.par_chunks_mut(NOISE_ROWS)).for_each(|(block, rngs)| {
            for (row, rng) in block.chunks_mut(d.max(1)).zip(rngs) {
                row.iter_mut().for_each(|v| *v = rng.sample(StandardNormal));
            }
        });
        Array2::from_shape_vec((self.rngs.len(), d), z).expect("n rows of d")
    }
}

/// Runs the sampler from `x_init` (states at t = T) and calls `observer` on every step in the
/// window; the observer returns [`ControlFlow::Break`] to stop the run there (the output then
/// holds the state it saw, and `stopped_by_observer` is set).
pub fn sample_with_observer(
    model: &dyn ScoreModel,
    schedule: &Schedule,
    cfg: &SamplerConfig,
    x_init: Array2<f64>,
    observer: &mut dyn FnMut(&StepView) -> ControlFlow<()>,
) -> Result<SampleOutput, CoreError> {
    cfg.validate()?;
    if x_init.ncols() != model.dim() {
        return Err(CoreError::invalid(
            "initial states",
            format!("have dimension {}, the model expects {}", x_init.ncols(), model.dim()),
        ));
    }
    let grid = cfg.grid();
    let last = match (&cfg.window, cfg.stop_after_window) {
        (Some(w), true) => w.lo,
        _ => 0,
    };
    let (n, d) = x_init.dim();
    let mut noise = StepNoise::new(cfg, if cfg.kind.is_stochastic() { n } else { 0 }, d);
    let mut x = x_init;
    let mut nfe = 0;
    let mut steps_run = 0;
    for k in (last..cfg.steps).rev() {
        let (t, t_next) = (grid[k + 1], grid[k]);
        let h = t - t_next;
        let s = score_checked(model, x.view(), t).map_err(|source| CoreError::Sampling { step: k, t, source })?;
        nfe += 1;
        if cfg.window.is_some_and(|w| w.contains(k))
            && observer(&StepView { index: k, t, t_next, x: x.view(), score: s.view() }).is_break()
        {
            return Ok(SampleOutput { x, nfe, steps_run, t_end: t, stopped_by_observer: true });
        }
        let beta = schedule.beta(t);
        x = match cfg.kind {
            SamplerKind::Em => {
                let z = noise.draw();
                &x + &((&x * (0.5 * beta) + &s * beta) * h) + z * (beta * h).sqrt()
            }
            SamplerKind::Ancestral => {
                // a = α(t_{k+1})/α(t_k); β̃ = 1 − a²: x ← (x + β̃ s)/a + √β̃ z, no noise on a final step to t = 0
                let a = (0.5 * (schedule.log_alpha_bar(t) - schedule.log_alpha_bar(t_next))).exp();
                let bt = -(2.0 * a.ln()).exp_m1();
                let mean = (&x + &(&s * bt)) / a;
                if k == 0 && t_next == 0.0 {
                    mean
                } else {
                    mean + noise.draw() * bt.sqrt()
                }
            }
            SamplerKind::OdeEuler => &x + &((&x + &s) * (0.5 * beta * h)),
            SamplerKind::OdeHeun => {
                let f0 = (&x + &s) * (0.5 * beta);
                let x_pred = &x + &(&f0 * h);
                if t_next > 0.0 {
                    let s1 = score_checked(model, x_pred.view(), t_next).map_err(|source| CoreError::Sampling {
                        step: k,
                        t: t_next,
                        source,
                    })?;
                    nfe += 1;
                    let f1 = (&x_pred + &s1) * (0.5 * schedule.beta(t_next));
                    &x + &((f0 + f1) * (0.5 * h))
                } else {
                    x_pred
                }
            }
        };
        steps_run += 1;
    }
    Ok(SampleOutput { x, nfe, steps_run, t_end: grid[last], stopped_by_observer: false })
}

/// A sampling run with its recorded window: (output, states each n × d, their times).
pub type Trajectory = (SampleOutput, Vec<Array2<f64>>, Vec<f64>);

/// Runs the sampler and records the states at times t_{hi+1}, …, t_{lo} of the window (the state
/// before each window step plus the state after the last one), returning
/// (output, states each n × d, their times).
pub fn sample_trajectory(
    model: &dyn ScoreModel,
    schedule: &Schedule,
    cfg: &SamplerConfig,
    x_init: Array2<f64>,
) -> Result<Trajectory, CoreError> {
    let Some(w) = cfg.window else {
        return Err(CoreError::invalid("sample_trajectory", "needs a window"));
    };
    // Observe one step below the window (when it exists and the run continues past the window):
    // the state seen there is the state after the window's last step, at no extra cost.
    let mut run_cfg = cfg.clone();
    let widened = !cfg.stop_after_window && w.lo > 0;
    if widened {
        run_cfg.window = Some(Window { lo: w.lo - 1, hi: w.hi });
    }
    let mut states = Vec::with_capacity(w.len() + 1);
    let mut times = Vec::with_capacity(w.len() + 1);
    let out = sample_with_observer(model, schedule, &run_cfg, x_init, &mut |v| {
        states.push(v.x.to_owned());
        times.push(v.t);
        ControlFlow::Continue(())
    })?;
    if !widened {
        states.push(out.x.clone());
        times.push(out.t_end);
    }
    Ok((out, states, times))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_options_default_to_clap_s_and_name_their_fields() {
        let o = SampleOptions::default();
        assert_eq!((o.n, o.sampler, o.steps, o.t_min, o.seed), (1000, SamplerKind::Em, None, None, 0));
        let specs = crate::options::option_specs::<SampleOptions>().unwrap();
        let names: Vec<_> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["n", "sampler", "steps", "t_min", "seed", "shard", "state_out"]);
        assert_eq!(specs[1].default, serde_json::json!("em"));
        let bad: Result<SampleOptions, _> = serde_json::from_str(r#"{"sampler": "rk9"}"#);
        assert!(bad.unwrap_err().to_string().contains("rk9"));
        let zero = SampleOptions { n: 0, ..Default::default() };
        let e = zero.config(&Schedule::vp_default()).unwrap_err();
        assert_eq!(OptionError::find(&e).map(|o| o.field.as_str()), Some("n"));
    }

    /// −x: the exact score of N(0, I) under the VP-SDE; any model counts its calls the same way.
    struct MinusX;

    impl ScoreModel for MinusX {
        fn dim(&self) -> usize {
            2
        }
        fn score(&self, x: ArrayView2<f64>, _t: f64) -> Result<Array2<f64>, crate::ModelError> {
            Ok(-&x)
        }
        fn describe(&self) -> String {
            "-x".into()
        }
    }

    #[test]
    fn nfe_before_the_run_is_the_run_s_own_count() {
        let schedule = Schedule::vp_default();
        let mut checked = 0;
        for kind in [SamplerKind::Em, SamplerKind::Ancestral, SamplerKind::OdeEuler, SamplerKind::OdeHeun] {
            for (t_min, window) in [(1e-3, None), (0.0, None), (0.0, Some((5, 9))), (1e-3, Some((0, 3)))] {
                let mut cfg = SamplerConfig::new(kind, 12, t_min, 0);
                cfg.window = window.map(|(lo, hi)| Window { lo, hi });
                cfg.stop_after_window = window.is_some();
                let out = sample_with_observer(&MinusX, &schedule, &cfg, prior_init(3, 2, 0), &mut |_| {
                    ControlFlow::Continue(())
                })
                .unwrap();
                assert_eq!(cfg.nfe(), out.nfe, "{kind:?}, t_min {t_min}, window {window:?}");
                checked += usize::from(kind == SamplerKind::OdeHeun && cfg.nfe() % 2 == 1);
            }
        }
        // Heun's final step to t = 0 evaluates once: the odd count was exercised
        assert_eq!(checked, 1);
    }
}
