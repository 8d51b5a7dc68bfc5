//! The `critic` error field (SPEC §7): ê_t = ∇χ*_t/σ_t, the gradient part ∇φ_t of the score error
//! e_t = s_θ − ∇log p_t (SPEC §5), in score units like the other sources.
//!
//! χ(x, t) is one time-conditioned scalar critic (SiLU MLP with a time embedding) fitted over the
//! whole window in the denoising form of SPEC §5: with x_t = α_t x₀ + σ_t ξ, w = ξ + σ_t s_θ(x_t, t),
//! it maximises E_t E[2w·∇χ − |∇χ|²] with t uniform over the times t_{k+1} at which the sampler
//! evaluates the score in the window. For each t the objective is σ_t²‖∇φ_t‖² − ‖∇χ(·,t) − σ_t∇φ_t‖²,
//! so the maximiser over functions of (x, t) is ∇χ*(·, t) = σ_t∇φ_t at every t jointly, and
//! ê_t = ∇χ*_t/σ_t. No true score is needed (data draws only, like `classifier`).
//!
//! Why one time-conditioned critic rather than critics at a few times: the training cost does not
//! grow with the number of window steps, there is no nearest-time error between fitted times, and
//! neighbouring times share statistical strength. The price: the fit weighs times by σ_t²‖∇φ_t‖²
//! (ε-units), and dividing by σ_t amplifies its error at small σ_t (full windows reaching t_min).
//!
//! Every training step draws a fresh batch over `times_per_batch` random window times (the model's
//! score is evaluated once per time on its share of rows); all those score evaluations, and those
//! of the held-out check, are counted in [`AuxCost::score_evals`] (they enter the report's NFE).
//! Held-out check: the window-averaged objective of the fitted critic on fresh draws is compared
//! with that of χ = 0 (exactly 0); the larger wins, so a critic that only fitted noise (an exact
//! model) gives ê = 0 instead of its noise. Which one was used is in the details.

use crate::classifier::DataSampler;
use crate::error::SiemError;
use crate::source::{AuxCost, ErrorSource, PrepareContext};
use candle_core::Device;
use ndarray::{Array2, ArrayView2, Axis};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use scoreprobe_core::denoise::NoisedBatch;
use scoreprobe_core::distribution::standard_normal;
use scoreprobe_core::ModelError;
use scoreprobe_core::{GaussianMixture, Purpose, Schedule, SeedStream};
use scoreprobe_nn::critic_fit::{fit_scalar_critic, CriticBatch, CriticFitConfig, ScalarCritic};
use std::time::Instant;

#[derive(Clone, Debug, PartialEq)]
pub struct CriticSourceConfig {
    /// Network and optimiser (default: hidden 64, depth 2, 1000 steps of 512 fresh draws).
    pub fit: CriticFitConfig,
    /// Distinct window times per training batch (its rows are split evenly between them).
    pub times_per_batch: usize,
    /// Held-out draws for the check against χ = 0.
    pub holdout: usize,
    pub seed: u64,
    /// Load the fitted critic from this file instead of fitting it ([`crate::critic_file`]).
    pub field_in: Option<std::path::PathBuf>,
    /// Save the fitted critic to this file.
    pub field_out: Option<std::path::PathBuf>,
}

impl Default for CriticSourceConfig {
    fn default() -> Self {
        Self {
            fit: CriticFitConfig::default(),
            times_per_batch: 8,
            holdout: 16_384,
            seed: 0,
            field_in: None,
            field_out: None,
        }
    }
}

const FIELD: &str = "critic";

/// The rows of the blocks the critic is evaluated in (the CPU kernel's block, `cpu::mlp::CHUNK`).
const EVAL_BLOCK: usize = 128;

/// `x` with its last row repeated up to a multiple of `block` rows.
fn pad_rows(x: ArrayView2<f64>, block: usize) -> Array2<f64> {
    let n = x.nrows();
    let extra = n.next_multiple_of(block) - n;
    if extra == 0 || n == 0 {
        return x.to_owned();
    }
    let mut out = Array2::zeros((n + extra, x.ncols()));
    out.slice_mut(ndarray::s![..n, ..]).assign(&x);
    for mut row in out.slice_mut(ndarray::s![n.., ..]).rows_mut() {
        row.assign(&x.row(n - 1));
    }
    out
}

pub struct CriticSource {
    config: CriticSourceConfig,
    data: DataSampler,
    device: Device,
    /// The fitted critic; None after prepare() when χ = 0 won the held-out check.
    net: Option<ScalarCritic>,
    /// The schedule seen in prepare() (σ_t of ê = ∇χ/σ_t); None before.
    schedule: Option<Schedule>,
    report: serde_json::Value,
    eval_rows: usize,
}

impl CriticSource {
    pub fn new(data: DataSampler, config: CriticSourceConfig) -> Self {
        Self {
            config,
            data,
            device: scoreprobe_nn::default_device(),
            net: None,
            schedule: None,
            report: serde_json::Value::Null,
            eval_rows: 0,
        }
    }

    /// Data drawn from a mixture target (its score is not used).
    pub fn for_target(target: GaussianMixture, config: CriticSourceConfig) -> Self {
        Self::new(Box::new(move |n, rng| target.sample(n, rng)), config)
    }

    /// Whether the fitted critic is used (false: χ = 0 won the held-out check, or not prepared).
    pub fn uses_fitted_critic(&self) -> bool {
        self.net.is_some()
    }

    /// σ_t, once prepared.
    fn sigma(&self, t: f64) -> Result<f64, SiemError> {
        let schedule = self.schedule.as_ref().ok_or_else(|| SiemError::invalid(FIELD, "used before prepare()"))?;
        let sigma = schedule.sigma(t);
        if sigma > 0.0 && sigma.is_finite() {
            Ok(sigma)
        } else {
            Err(SiemError::invalid(FIELD, format!("ê = ∇χ/σ_t needs σ_t > 0, got {sigma} at t = {t}")))
        }
    }
}

/// n draws spread over `groups` random times of `times`: x_t ~ p_t and w = ξ + σ_t s_θ(x_t, t).
fn draw(
    data: &mut DataSampler,
    ctx: &PrepareContext,
    times: &[f64],
    groups: usize,
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Result<CriticBatch, ModelError> {
    let d = ctx.model.dim();
    let groups = groups.clamp(1, n.max(1));
    let (mut xs, mut ws, mut ts) = (Vec::with_capacity(groups), Vec::with_capacity(groups), Vec::with_capacity(n));
    for g in 0..groups {
        let rows = n / groups + usize::from(g < n % groups);
        let t = times[rng.random_range(0..times.len())];
        let xi = standard_normal(rows, d, rng);
        let x0 = data(rows, rng);
        let (x, w) = NoisedBatch::new(x0.view(), xi, ctx.schedule, t).denoising_target(ctx.model)?;
        xs.push(x);
        ws.push(w);
        ts.extend(std::iter::repeat_n(t, rows));
    }
    let cat = |v: &[Array2<f64>]| {
        let views: Vec<_> = v.iter().map(|a| a.view()).collect();
        ndarray::concatenate(Axis(0), &views).expect("equal widths")
    };
    Ok(CriticBatch { x: cat(&xs), t: ts, w: cat(&ws) })
}

impl CriticSource {
    /// Fits the critic over the window's `times`: (the network, or None when the held-out
    /// objective keeps the zero field; its report; its cost).
    fn fit(
        &mut self,
        ctx: &PrepareContext,
        times: &[f64],
        c: &CriticSourceConfig,
    ) -> Result<(Option<ScalarCritic>, serde_json::Value, AuxCost), SiemError> {
        let d = ctx.model.dim();
        let mut rng = SeedStream::new(c.seed).rng(Purpose::CriticSourceFit { sampler_seed: ctx.sampler.seed });
        let probe = (self.data)(2, &mut rng);
        if probe.dim() != (2, d) {
            return Err(SiemError::invalid(
                FIELD,
                format!("the data sampler returned shape {:?}, expected (2, {d})", probe.dim()),
            ));
        }
        let data = &mut self.data;
        let mut drawer = |n: usize, r: &mut ChaCha8Rng| draw(data, ctx, times, c.times_per_batch, n, r);
        let fit_seed = rng.random::<u64>();
        let (net, log) =
            fit_scalar_critic(d, &c.fit, fit_seed, &self.device, &mut drawer).map_err(SiemError::network(FIELD))?;
        // held-out window-averaged objective of the fitted critic vs χ = 0 (ε-units)
        let held = drawer(c.holdout, &mut rng).map_err(SiemError::network(FIELD))?;
        let terms = net.terms(&held, &mut rng).map_err(SiemError::network(FIELD))?;
        let n = terms.len() as f64;
        let mean = terms.iter().sum::<f64>() / n;
        let se = (terms.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0) / n).sqrt();
        let used = mean > 0.0;
        let report = serde_json::json!({
            "form": "denoising (no true score)", "time_conditioned": true, "window_times": times.len(),
            "heldout_objective_eps": mean, "heldout_objective_se": se,
            "used": if used { "fitted critic" } else { "zero critic (held-out objective <= 0)" },
            "final_train_objective_eps": log.final_objective, "train_steps": c.fit.steps, "batch": c.fit.batch,
            "times_per_batch": c.times_per_batch, "hidden": c.fit.hidden, "depth": c.fit.depth,
            "tangents_per_row": c.fit.tangents_per_row(d), "holdout": c.holdout, "train_seconds": log.seconds,
        });
        let cost = AuxCost { score_evals: log.rows + c.holdout, aux_evals: log.rows + c.holdout, seconds: 0.0 };
        Ok((used.then_some(net), report, cost))
    }
}

impl ErrorSource for CriticSource {
    fn name(&self) -> &'static str {
        "critic"
    }

    fn prepare(&mut self, ctx: &PrepareContext) -> Result<AuxCost, SiemError> {
        let start = Instant::now();
        let c = self.config.clone();
        c.fit.validate().map_err(SiemError::network(FIELD))?;
        if c.times_per_batch == 0 || c.holdout < 2 {
            return Err(SiemError::invalid(FIELD, format!("need times_per_batch ≥ 1 and holdout ≥ 2: {c:?}")));
        }
        let window = ctx.sampler.window.ok_or_else(|| SiemError::invalid(FIELD, "the sampler has no window"))?;
        let grid = ctx.sampler.grid();
        // step k evaluates the score at t_{k+1}
        let times: Vec<f64> = (window.lo..=window.hi).map(|k| grid[k + 1]).collect();
        if let Some(t) = times.iter().find(|t| {
            let sigma = ctx.schedule.sigma(**t);
            sigma.is_nan() || sigma <= 0.0
        }) {
            return Err(SiemError::invalid(
                FIELD,
                format!("σ_t = 0 at window time {t}; ê = ∇χ/σ_t is undefined there"),
            ));
        }
        let fit = format!("{:?}, times_per_batch {}, holdout {}", c.fit, c.times_per_batch, c.holdout);
        let compat = crate::critic_file::compatibility(ctx, c.seed, fit);
        let (net, report, mut cost) = match &c.field_in {
            Some(path) => {
                let loaded = crate::critic_file::load(path, &compat, &self.device)?;
                (loaded.net, loaded.details, loaded.cost)
            }
            None => self.fit(ctx, &times, &c)?,
        };
        if let Some(path) = &c.field_out {
            crate::critic_file::save(path, net.as_ref(), compat, &report, &cost)?;
        }
        cost.seconds = start.elapsed().as_secs_f64();
        self.report = report;
        self.net = net;
        self.schedule = Some(ctx.schedule.clone());
        Ok(cost)
    }
    fn error(&mut self, x: ArrayView2<f64>, t: f64, _score: ArrayView2<f64>) -> Result<Array2<f64>, SiemError> {
        let sigma = self.sigma(t)?;
        let Some(net) = self.net.as_ref() else { return Ok(Array2::zeros(x.raw_dim())) };
        let g = net.gradient(x, &vec![t; x.nrows()]).map_err(SiemError::network(FIELD))?;
        self.eval_rows += x.nrows();
        Ok(g / sigma)
    }

    fn projections(
        &mut self,
        x: ArrayView2<f64>,
        t: f64,
        _score: ArrayView2<f64>,
        centers: ArrayView2<f64>,
    ) -> Result<Array2<f64>, SiemError> {
        let sigma = self.sigma(t)?;
        let n = x.nrows();
        let Some(net) = self.net.as_ref() else { return Ok(Array2::zeros((centers.nrows(), n))) };
        // Every block the network's kernel evaluates is full (EVAL_BLOCK rows): a row's value then
        // does not depend on how many rows share its batch, so a shard's trajectories get the
        // single run's values (the kernel takes another path on a short block).
        let padded = pad_rows(x, EVAL_BLOCK);
        let dirs: Vec<Array2<f64>> = centers.rows().into_iter().map(|c| &padded - &c.insert_axis(Axis(0))).collect();
        let a = net.directional(padded.view(), &vec![t; padded.nrows()], &dirs).map_err(SiemError::network(FIELD))?;
        self.eval_rows += n;
        Ok(a.slice(ndarray::s![.., ..n]).to_owned() / sigma)
    }

    fn eval_cost(&self) -> usize {
        self.eval_rows
    }

    fn details(&self) -> serde_json::Value {
        self.report.clone()
    }
}
