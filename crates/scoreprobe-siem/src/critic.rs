//! The `critic` error field (SPEC §7): ê_t = ∇χ*_t/σ_t, the gradient part ∇φ_t of the score error
//! e_t = s_θ − ∇log p_t (SPEC §5), in score units like the other sources.
//!
//! The window is cut into time bands of `band_steps` steps, aligned to multiples of `band_steps`
//! on the sampler's grid (with 100, `0..999` is ten bands and `900..999` is one, the same band as
//! the full window's last), and one time-conditioned scalar critic χ(x, t) (SiLU MLP with a time
//! embedding) is fitted per band in the denoising form of SPEC §5: with x_t = α_t x₀ + σ_t ξ,
//! w = ξ + σ_t s_θ(x_t, t), it maximises E_t E[2w·∇χ − |∇χ|²] with t uniform over the times
//! t_{k+1} at which the sampler evaluates the score in the band. For each t the objective is
//! σ_t²‖∇φ_t‖² − ‖∇χ(·,t) − σ_t∇φ_t‖², so the maximiser over functions of (x, t) is
//! ∇χ*(·, t) = σ_t∇φ_t at every t jointly, and ê_t = ∇χ*_t/σ_t. No true score is needed (data
//! draws only, like `classifier`).
//!
//! Why bands rather than one critic over a long window: the objective weighs times by
//! σ_t²‖∇φ_t‖² (ε-units), so one fit over 0..999 spends its capacity where the error is large and
//! leaves fit noise, amplified by 1/σ_t, where it is small; and its one held-out check keeps or
//! drops the whole window at once. Per band, each part of the window gets its own fit and its own
//! check. Within a band the critic stays time-conditioned: no nearest-time error between fitted
//! times, and neighbouring times share statistical strength.
//!
//! Every training step draws a fresh batch over `times_per_batch` random band times (the model's
//! score is evaluated once per time on its share of rows); all those score evaluations, and those
//! of the held-out check, are counted in [`AuxCost::score_evals`] (they enter the report's NFE),
//! per band.
//!
//! Held-out check, per band: the band-averaged objective of the fitted critic on `holdout` fresh
//! draws, with its SE over those draws. χ = 0 scores exactly 0, and a critic that fitted only noise
//! scores below 0 in expectation (E[2w·∇χ] = 0 when E[w | x] = 0, minus E|∇χ|²). "Beats zero" is
//! the one-sided z-test objective > [`KEEP_Z`] · SE (a pure-noise fit passes it with probability
//! below 2.3 %); a band that fails it is dropped: its error field is zero (χ = 0), it adds nothing
//! to SIEM, and the report names it (`dropped_bands`).

use crate::classifier::DataSampler;
use crate::error::SiemError;
use crate::source::{AuxCost, ErrorSource, PrepareContext, SourceBand};
use candle_core::Device;
use ndarray::{Array2, ArrayView2, Axis};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use scoreprobe_core::denoise::NoisedBatch;
use scoreprobe_core::distribution::standard_normal;
use scoreprobe_core::window::Window;
use scoreprobe_core::ModelError;
use scoreprobe_core::{GaussianMixture, Purpose, Schedule, SeedStream};
use scoreprobe_nn::critic_fit::{fit_scalar_critic, CriticBatch, CriticFitConfig, ScalarCritic};
use std::time::Instant;

/// Steps per time band by default: the high-noise window 900..999 is one band, the full window ten.
pub use crate::source::DEFAULT_BAND_STEPS;

/// A band's fit is kept when its held-out objective exceeds [`KEEP_Z`] standard errors (a
/// one-sided z-test of "beats zero" at about 2.3 %).
pub const KEEP_Z: f64 = 2.0;

#[derive(Clone, Debug, PartialEq)]
pub struct CriticSourceConfig {
    /// Network and optimiser, per band (default: hidden 64, depth 2, 1000 steps of 512 fresh draws).
    pub fit: CriticFitConfig,
    /// Distinct band times per training batch (its rows are split evenly between them).
    pub times_per_batch: usize,
    /// Held-out draws per band for the check against χ = 0.
    pub holdout: usize,
    /// Steps per time band (≥ 1), aligned to multiples of it on the grid; one critic per band.
    pub band_steps: usize,
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
            band_steps: DEFAULT_BAND_STEPS,
            seed: 0,
            field_in: None,
            field_out: None,
        }
    }
}

const FIELD: &str = "critic";

/// One band's fit: the times it covers and its critic (None: dropped, ê = 0 there).
struct Band {
    t_lo: f64,
    t_hi: f64,
    net: Option<ScalarCritic>,
}

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
    /// The bands after prepare(), in sampling order (from noise).
    bands: Vec<Band>,
    band_reports: Vec<SourceBand>,
    /// The schedule seen in prepare() (σ_t of ê = ∇χ/σ_t); None before.
    schedule: Option<Schedule>,
    report: serde_json::Value,
    eval_rows: usize,
}

/// The bands of `band_steps` steps covering `window`, aligned to multiples of `band_steps` on the
/// grid (so a window's bands are the full grid's restricted to it), in sampling order (from noise).
pub fn band_windows(window: Window, band_steps: usize) -> Vec<Window> {
    let b = band_steps.max(1);
    let mut out = Vec::with_capacity(window.len().div_ceil(b) + 1);
    let mut hi = window.hi;
    loop {
        let lo = (hi / b * b).max(window.lo);
        out.push(Window { lo, hi });
        if lo == window.lo {
            return out;
        }
        hi = lo - 1;
    }
}

impl CriticSource {
    pub fn new(data: DataSampler, config: CriticSourceConfig) -> Self {
        Self {
            config,
            data,
            device: scoreprobe_nn::default_device(),
            bands: Vec::new(),
            band_reports: Vec::new(),
            schedule: None,
            report: serde_json::Value::Null,
            eval_rows: 0,
        }
    }

    /// Data drawn from a mixture target (its score is not used).
    pub fn for_target(target: GaussianMixture, config: CriticSourceConfig) -> Self {
        Self::new(Box::new(move |n, rng| target.sample(n, rng)), config)
    }

    /// Whether a fitted critic is used in some band (false: every band was dropped, or not prepared).
    pub fn uses_fitted_critic(&self) -> bool {
        self.bands.iter().any(|b| b.net.is_some())
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

    /// σ_t and the critic of the band holding t (None: the band was dropped).
    fn at(&self, t: f64) -> Result<(f64, Option<&ScalarCritic>), SiemError> {
        let sigma = self.sigma(t)?;
        let band = self.bands.iter().find(|b| b.t_lo <= t && t <= b.t_hi).ok_or_else(|| {
            SiemError::invalid(FIELD, format!("t = {t} lies in none of the fitted bands (the window prepared for)"))
        })?;
        Ok((sigma, band.net.as_ref()))
    }

    fn check_config(&self) -> Result<(), SiemError> {
        let c = &self.config;
        c.fit.validate().map_err(SiemError::network(FIELD))?;
        if c.times_per_batch == 0 || c.holdout < 2 || c.band_steps == 0 {
            return Err(SiemError::invalid(
                FIELD,
                format!("need times_per_batch ≥ 1, holdout ≥ 2 and band_steps ≥ 1: {c:?}"),
            ));
        }
        Ok(())
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

/// One band's fit and its held-out check.
struct BandFit {
    net: Option<ScalarCritic>,
    report: SourceBand,
    /// Score-model rows: training and held-out draws.
    rows: usize,
    final_objective: f64,
    seconds: f64,
}

/// Fits the critic on the band's `times` and checks it on fresh held-out draws (see the module
/// docs for the keep rule).
fn fit_band(
    data: &mut DataSampler,
    device: &Device,
    c: &CriticSourceConfig,
    ctx: &PrepareContext,
    steps: Window,
    times: &[f64],
    rng: &mut ChaCha8Rng,
) -> Result<BandFit, SiemError> {
    let d = ctx.model.dim();
    let mut drawer = |n: usize, r: &mut ChaCha8Rng| draw(data, ctx, times, c.times_per_batch, n, r);
    let fit_seed = rng.random::<u64>();
    let (net, log) = fit_scalar_critic(d, &c.fit, fit_seed, device, &mut drawer).map_err(SiemError::network(FIELD))?;
    let held = drawer(c.holdout, rng).map_err(SiemError::network(FIELD))?;
    let terms = net.terms(&held, rng).map_err(SiemError::network(FIELD))?;
    let n = terms.len() as f64;
    let mean = terms.iter().sum::<f64>() / n;
    let se = (terms.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0) / n).sqrt();
    let kept = mean > KEEP_Z * se;
    Ok(BandFit {
        net: kept.then_some(net),
        report: SourceBand { steps: steps.to_string(), heldout_objective: mean, heldout_objective_se: se, kept },
        rows: log.rows + c.holdout,
        final_objective: log.final_objective,
        seconds: log.seconds,
    })
}

impl CriticSource {
    /// The band of `steps` as prepare() keeps it: its times' range and its critic.
    fn band(steps: Window, time_of: &dyn Fn(usize) -> f64, net: Option<ScalarCritic>) -> Band {
        let (t_lo, t_hi) = (steps.lo..=steps.hi)
            .map(time_of)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), t| (a.min(t), b.max(t)));
        Band { t_lo, t_hi, net }
    }

    /// Fits one critic per band of the window (see the module docs) and keeps the bands, their
    /// reports and the source's report; returns the fits' cost.
    fn fit_bands(
        &mut self,
        ctx: &PrepareContext,
        c: &CriticSourceConfig,
        window: Window,
        time_of: &dyn Fn(usize) -> f64,
    ) -> Result<AuxCost, SiemError> {
        let d = ctx.model.dim();
        let stream = SeedStream::new(c.seed).stream(Purpose::CriticSourceFit { sampler_seed: ctx.sampler.seed });
        let probe = (self.data)(2, &mut stream.base_rng());
        if probe.dim() != (2, d) {
            return Err(SiemError::invalid(
                FIELD,
                format!("the data sampler returned shape {:?}, expected (2, {d})", probe.dim()),
            ));
        }
        let (mut rows, mut train_seconds, mut finals) = (0, 0.0, Vec::new());
        self.bands.clear();
        self.band_reports.clear();
        for steps in band_windows(window, c.band_steps) {
            let times: Vec<f64> = (steps.lo..=steps.hi).map(time_of).collect();
            // a band's draws depend on its place on the grid only: the same band, the same fit
            let mut rng = stream.child((steps.lo / c.band_steps) as u64).base_rng();
            let fit = fit_band(&mut self.data, &self.device, c, ctx, steps, &times, &mut rng)?;
            self.bands.push(Self::band(steps, time_of, fit.net));
            self.band_reports.push(fit.report);
            rows += fit.rows;
            train_seconds += fit.seconds;
            finals.push(fit.final_objective);
        }
        let kept = self.band_reports.iter().filter(|b| b.kept).count();
        let used = match kept {
            k if k == self.bands.len() => "fitted critic".to_string(),
            0 => "zero critic (no band's held-out objective beat zero)".to_string(),
            k => format!("fitted critic in {k} of {} bands, zero error field in the others", self.bands.len()),
        };
        self.report = serde_json::json!({
            "form": "denoising (no true score)", "time_conditioned": true,
            "window_times": window.len(), "band_steps": c.band_steps, "bands_kept": kept,
            "keep_rule": format!("a band's fit is kept when its held-out objective > {KEEP_Z} SE; a dropped band's error field is zero"),
            "used": used,
            "final_train_objective_eps": finals, "train_steps": c.fit.steps, "batch": c.fit.batch,
            "times_per_batch": c.times_per_batch, "hidden": c.fit.hidden, "depth": c.fit.depth,
            "tangents_per_row": c.fit.tangents_per_row(d), "holdout": c.holdout, "train_seconds": train_seconds,
        });
        Ok(AuxCost { score_evals: rows, aux_evals: rows, seconds: 0.0 })
    }

    /// Loads the band-wise field saved by a fitting run (`--error-field-in`): every band's
    /// network (none for a dropped band), the bands' reports and the source's report, as the
    /// fitting run had them; returns the fit's cost.
    fn load_field(
        &mut self,
        path: &std::path::Path,
        compat: &serde_json::Map<String, serde_json::Value>,
        window: Window,
        time_of: &dyn Fn(usize) -> f64,
    ) -> Result<AuxCost, SiemError> {
        let loaded = crate::critic_file::load(path, compat, &self.device)?;
        let windows = band_windows(window, self.config.band_steps);
        let names: Vec<String> = windows.iter().map(|w| w.to_string()).collect();
        let saved: Vec<String> = loaded.bands.iter().map(|(_, r)| r.steps.clone()).collect();
        if names != saved {
            let why = format!("{}: its bands are {saved:?}, this run's are {names:?}", path.display());
            return Err(scoreprobe_core::options::OptionError::new("error_field_in", why).into());
        }
        self.bands.clear();
        self.band_reports.clear();
        for (steps, (net, report)) in windows.into_iter().zip(loaded.bands) {
            self.bands.push(Self::band(steps, time_of, net));
            self.band_reports.push(report);
        }
        self.report = loaded.details;
        Ok(loaded.cost)
    }
}

impl ErrorSource for CriticSource {
    fn name(&self) -> &'static str {
        "critic"
    }

    fn prepare(&mut self, ctx: &PrepareContext) -> Result<AuxCost, SiemError> {
        let start = Instant::now();
        self.check_config()?;
        let c = self.config.clone();
        let window = ctx.sampler.window.ok_or_else(|| SiemError::invalid(FIELD, "the sampler has no window"))?;
        let grid = ctx.sampler.grid();
        // step k evaluates the score at t_{k+1}
        let time_of = |k: usize| grid[k + 1];
        if let Some(t) = (window.lo..=window.hi).map(time_of).find(|t| {
            let sigma = ctx.schedule.sigma(*t);
            sigma.is_nan() || sigma <= 0.0
        }) {
            return Err(SiemError::invalid(
                FIELD,
                format!("σ_t = 0 at window time {t}; ê = ∇χ/σ_t is undefined there"),
            ));
        }
        let fit = format!("{:?}, times_per_batch {}, holdout {}", c.fit, c.times_per_batch, c.holdout);
        let compat = crate::critic_file::compatibility(ctx, c.seed, c.band_steps, fit);
        let mut cost = match &c.field_in {
            Some(path) => self.load_field(path, &compat, window, &time_of)?,
            None => self.fit_bands(ctx, &c, window, &time_of)?,
        };
        if let Some(path) = &c.field_out {
            let bands: Vec<crate::critic_file::SavedBand> = self
                .bands
                .iter()
                .zip(&self.band_reports)
                .map(|(b, report)| crate::critic_file::SavedBand { net: b.net.as_ref(), report })
                .collect();
            crate::critic_file::save(path, &bands, compat, &self.report, &cost)?;
        }
        cost.seconds = start.elapsed().as_secs_f64();
        self.schedule = Some(ctx.schedule.clone());
        Ok(cost)
    }

    fn error(&mut self, x: ArrayView2<f64>, t: f64, _score: ArrayView2<f64>) -> Result<Array2<f64>, SiemError> {
        let (sigma, net) = self.at(t)?;
        let Some(net) = net else { return Ok(Array2::zeros(x.raw_dim())) };
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
        let n = x.nrows();
        let (sigma, net) = self.at(t)?;
        let Some(net) = net else { return Ok(Array2::zeros((centers.nrows(), n))) };
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

    fn bands(&self) -> Vec<SourceBand> {
        self.band_reports.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_are_aligned_to_the_grid_and_cover_the_window_in_sampling_order() {
        let w = |lo, hi| Window { lo, hi };
        assert_eq!(band_windows(w(900, 999), 100), vec![w(900, 999)]);
        assert_eq!(band_windows(w(0, 999), 100).len(), 10);
        assert_eq!(band_windows(w(0, 999), 100)[9], w(0, 99));
        // a window's bands are the full grid's restricted to it
        assert_eq!(band_windows(w(850, 999), 100), vec![w(900, 999), w(850, 899)]);
        assert_eq!(band_windows(w(180, 199), 100), vec![w(180, 199)]);
        assert_eq!(band_windows(w(0, 0), 1), vec![w(0, 0)]);
        assert_eq!(band_windows(w(5, 14), 1000), vec![w(5, 14)]);
        assert_eq!(band_windows(w(3, 12), 5), vec![w(10, 12), w(5, 9), w(3, 4)]);
    }
}
