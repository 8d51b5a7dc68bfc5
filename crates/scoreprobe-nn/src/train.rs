//! Denoising score matching (ε-prediction) on the VP-SDE or DDPM schedule.
//!
//! Step s (0-based) draws everything from `ChaCha8Rng(mix(seed, s))`: the batch (or, for finite
//! datasets, a seeded per-epoch permutation), the times and the noise. The state after step s is
//! thus a function of (config, state before s), and resuming from `ckpt-<s>` (raw weights, EMA,
//! AdamW moments and count) reproduces an uninterrupted run exactly.

use crate::adamw::{AdamW, Grads};
use crate::checkpoint::{self, list_checkpoints, read_sidecar, read_tensors, Sidecar, ADAM_M, ADAM_V, EMA, RAW};
use crate::config::TrainConfig;
use crate::cpu;
use crate::cpu::mlp::{check_batch, dsm_upstream};
use crate::data::TrainData;
use crate::ema::Ema;
use crate::error::{ensure, NnError, Result};
use crate::mlp::Mlp;
use crate::net::{ArchSpec, Network};
use crate::score::NetScoreModel;
use crate::unet::Unet;
use candle_core::{Device, Tensor};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::Rng;
use rand_distr::StandardNormal;
use scoreprobe_core::denoise::noised_value;
use scoreprobe_core::schedule::{Schedule, ScheduleSpec};
use scoreprobe_core::{Purpose, SeedStream};
use serde::Serialize;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    pub out_dir: PathBuf,
    pub arch: ArchSpec,
    pub num_params: usize,
    /// First step of this session (non-zero after a resume).
    pub start_step: u64,
    pub steps: u64,
    /// Mean loss over the last checkpoint interval (or the whole session).
    pub final_loss: f64,
    pub checkpoints: Vec<PathBuf>,
    /// Wall seconds of this session and in total (resumed sessions included).
    pub session_seconds: f64,
    pub total_seconds: f64,
    pub steps_per_second: f64,
}

/// One DSM loss evaluation on step `step`'s batch (exposed for tests and benchmarks).
pub struct DsmBatch {
    pub x_t: Tensor,
    pub t: Tensor,
    pub eps: Tensor,
}

/// Noised batch of step `step`: x_t = α_t x₀ + σ_t ε with t ~ U(t_eps, 1) (VP) or
/// t = (k+1)/K, k ~ U{0..K−1} (DDPM).
pub fn dsm_batch(
    cfg: &TrainConfig,
    schedule: &Schedule,
    data: &mut TrainData,
    step: u64,
    device: &Device,
) -> Result<DsmBatch> {
    let mut rng = SeedStream::new(cfg.seed).rng(Purpose::TrainStep(step));
    let b = cfg.batch;
    let d = data.shape.dim();
    let x0 = data.batch(cfg.seed, step, b, &mut rng);
    let times: Vec<f64> = (0..b)
        .map(|_| match schedule.discrete_steps() {
            Some(k) => (rng.random_range(0..k) + 1) as f64 / k as f64,
            None => cfg.t_eps + (1.0 - cfg.t_eps) * rng.random::<f64>(),
        })
        .collect();
    let eps: Vec<f32> = (0..b * d).map(|_| rng.sample::<f32, _>(StandardNormal)).collect();
    let mut xt = Vec::with_capacity(b * d);
    for (i, &t) in times.iter().enumerate() {
        let (a, s) = (schedule.alpha(t), schedule.sigma(t));
        for j in 0..d {
            xt.push(noised_value(x0[i * d + j] as f64, eps[i * d + j] as f64, a, s) as f32);
        }
    }
    Ok(DsmBatch {
        x_t: Tensor::from_vec(xt, (b, d), device)?,
        t: Tensor::from_vec(times.iter().map(|&t| t as f32).collect::<Vec<_>>(), b, device)?,
        eps: Tensor::from_vec(eps, (b, d), device)?,
    })
}

/// Mean squared ε error per coordinate.
pub fn dsm_loss(net: &Network, batch: &DsmBatch) -> Result<Tensor> {
    Ok(net.forward(&batch.x_t, &batch.t)?.sub(&batch.eps)?.sqr()?.mean_all()?)
}

/// One optimiser update on `batch` as step `step` (0-based): DSM loss, backward, optional
/// global-norm clipping, warm-up learning rate, AdamW, EMA. Returns the loss before the update.
pub fn optimizer_step(
    config: &TrainConfig,
    net: &Network,
    opt: &mut AdamW,
    ema: &mut Ema,
    batch: &DsmBatch,
    step: u64,
) -> Result<f64> {
    let lr = config.lr * ((step + 1) as f64 / config.warmup_steps.max(1) as f64).min(1.0);
    let clip_scale = |norm: f64| match config.grad_clip {
        Some(clip) if norm > clip => clip / norm,
        _ => 1.0,
    };
    // the fused CPU pass of either network (None off the CPU or for non-f32 tensors)
    let fused = cpu::with_vec(cpu::Slot::Step, |grad| -> Result<Option<f64>> {
        let loss = match net {
            Network::Mlp(mlp) => fused_mlp_grads(mlp, batch, grad)?,
            Network::Unet(unet) => fused_unet_grads(unet, batch, grad)?,
        };
        let Some(lv) = loss else { return Ok(None) };
        check_loss(lv, step)?;
        let scale = if config.grad_clip.is_some() { clip_scale(AdamW::norm_of(Grads::Flat(grad))?) } else { 1.0 };
        opt.update(net.params(), Grads::Flat(grad), scale, lr, Some((ema, step + 1)))?;
        Ok(Some(lv))
    })?;
    if let Some(lv) = fused {
        return Ok(lv);
    }
    let loss = dsm_loss(net, batch)?;
    let lv = loss.to_scalar::<f32>()? as f64;
    check_loss(lv, step)?;
    let grads = loss.backward()?;
    let g = AdamW::collect_grads(net.params(), &grads)?;
    let scale = if config.grad_clip.is_some() { clip_scale(AdamW::norm_of(Grads::Tensors(&g))?) } else { 1.0 };
    opt.update(net.params(), Grads::Tensors(&g), scale, lr, Some((ema, step + 1)))?;
    Ok(lv)
}

fn check_loss(lv: f64, step: u64) -> Result<()> {
    if !lv.is_finite() {
        return Err(NnError::Diverged { what: "training", step, quantity: "loss", value: lv });
    }
    Ok(())
}

/// DSM loss and flat parameter gradient (into `grad`) of an MLP by the fused CPU pass (`None`
/// off the CPU). The kernel's read access to the parameters ends before the optimiser writes them.
fn fused_mlp_grads(mlp: &Mlp, batch: &DsmBatch, grad: &mut Vec<f32>) -> Result<Option<f64>> {
    let Some(views) = cpu::batch_views([&batch.x_t, &batch.t, &batch.eps]) else { return Ok(None) };
    let Some(kernel) = cpu::mlp(mlp.spec(), mlp.params()) else { return Ok(None) };
    let (x, t, eps) = (views.get(0), views.get(1), views.get(2));
    check_batch(mlp.spec(), x, t)?;
    grad.resize(kernel.layout().total, 0.0);
    Ok(Some(kernel.loss_and_grad(x, t, dsm_upstream(eps, t.len(), mlp.spec().out_dim), grad)))
}

/// DSM loss and flat parameter gradient (into `grad`) of a U-Net by the fused CPU pass (`None`
/// off the CPU); as [`fused_mlp_grads`].
fn fused_unet_grads(unet: &Unet, batch: &DsmBatch, grad: &mut Vec<f32>) -> Result<Option<f64>> {
    let Some(views) = cpu::batch_views([&batch.x_t, &batch.t, &batch.eps]) else { return Ok(None) };
    let Some(kernel) = cpu::unet(unet.spec(), unet.params()) else { return Ok(None) };
    let (x, t, eps) = (views.get(0), views.get(1), views.get(2));
    let dim = unet.spec().dim();
    ensure!(
        x.len() == t.len() * dim && eps.len() == x.len(),
        "unet: batch of {} values for {} rows of {dim}",
        x.len(),
        t.len()
    );
    grad.resize(kernel.num_params(), 0.0);
    Ok(Some(kernel.dsm_loss_and_grad(x, t, eps, grad)))
}

struct State {
    net: Network,
    opt: AdamW,
    ema: Ema,
    step: u64,
    wall_before: f64,
    /// Loss recorded in the checkpoint resumed from (NaN for a fresh run).
    loss_before: f64,
}

fn progress_bar(cfg: &TrainConfig, start: u64) -> ProgressBar {
    let pb = ProgressBar::new(cfg.steps);
    if cfg.quiet || !std::io::stderr().is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {per_sec}  eta {eta}  loss {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_position(start);
    pb
}

fn resume_state(cfg: &TrainConfig, out_dir: &Path, arch: &ArchSpec, device: &Device) -> Result<Option<State>> {
    let Some((_, path)) = list_checkpoints(out_dir)?.pop() else { return Ok(None) };
    let side = read_sidecar(&path)?;
    if side.sampling_only {
        return Err(NnError::checkpoint(
            &path,
            "is a sampling-only copy (no raw weights or optimiser state): training cannot resume from it",
        ));
    }
    if side.config.resume_key() != cfg.resume_key() {
        let json = |c: &TrainConfig| serde_json::to_string(&c.resume_key()).expect("a config serialises");
        return Err(NnError::checkpoint(
            &path,
            format!(
                "cannot resume: the run was trained with a different configuration.\n  checkpoint: {}\n  requested:  {}",
                json(&side.config),
                json(cfg)
            ),
        ));
    }
    if &side.arch != arch {
        return Err(NnError::checkpoint(
            &path,
            format!("cannot resume: architecture {:?} differs from {:?}", side.arch, arch),
        ));
    }
    let net = arch.build(0, device)?;
    let tensors = read_tensors(&path, device)?;
    let file = path.display().to_string();
    let p = net.params();
    p.assign(&p.take_from(&tensors, RAW, &file)?)?;
    let mut opt = AdamW::new(p, cfg.adam.clone())?;
    opt.m = p.take_from(&tensors, ADAM_M, &file)?;
    opt.v = p.take_from(&tensors, ADAM_V, &file)?;
    opt.t = side.adam_t;
    let mut ema = Ema::new(p, cfg.ema_decay)?;
    ema.shadow = p.take_from(&tensors, EMA, &file)?;
    Ok(Some(State { net, opt, ema, step: side.step, wall_before: side.wall_seconds, loss_before: side.loss }))
}

/// Removes `ckpt-*.tmp` files a killed run left mid-write (nothing reads them; they only take
/// space). Best effort: a file that cannot be removed stays.
fn remove_stale_temporaries(out_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(out_dir) else { return };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with("ckpt-") && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// The network after an optimiser step, as a training observer sees it.
pub struct StepView<'a> {
    /// Optimiser steps done (1-based: the state after step `step`).
    pub step: u64,
    arch: &'a ArchSpec,
    schedule: &'a ScheduleSpec,
    ema: &'a Ema,
    device: &'a Device,
}

impl StepView<'_> {
    /// The EMA weights, what checkpoints are sampled with, as a score model (a copy: the observer
    /// cannot change the training state).
    pub fn ema_model(&self) -> Result<NetScoreModel> {
        let net = self.arch.build(0, self.device)?;
        net.params().assign(&self.ema.shadow)?;
        let desc = format!("{} at step {} (ema weights, during training)", self.arch.describe(), self.step);
        NetScoreModel::new(net, self.arch.clone(), self.schedule.clone(), desc)
    }
}

/// Called after every optimiser step, before that step's checkpoint is written (it decides itself
/// whether to act); an error stops the training as [`NnError::Observer`].
pub type Observer<'a> =
    &'a mut dyn FnMut(&StepView<'_>) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Trains per `config`, writing checkpoints into `out_dir`. With `resume`, continues from the
/// last complete checkpoint there (same weights as an uninterrupted run); without it, refuses a
/// folder that already holds checkpoints.
pub fn train(config: &TrainConfig, out_dir: &Path, resume: bool) -> Result<TrainReport> {
    config.validate()?;
    let data = TrainData::load(&config.data, config.data_limit)?;
    train_with_data(config, data, out_dir, resume)
}

/// [`train`] on already-loaded data (`config.data` is only recorded, not loaded).
pub fn train_with_data(config: &TrainConfig, data: TrainData, out_dir: &Path, resume: bool) -> Result<TrainReport> {
    train_with_data_on(config, data, out_dir, resume, &crate::default_device())
}

/// [`train_with_data`] on a chosen device ([`crate::select_device`]; the CPU by default).
pub fn train_with_data_on(
    config: &TrainConfig,
    data: TrainData,
    out_dir: &Path,
    resume: bool,
    device: &Device,
) -> Result<TrainReport> {
    train_observed(config, data, out_dir, resume, device, &mut |_| Ok(()))
}

/// [`train_with_data_on`] with an observer called after every optimiser step (the CLI's
/// `--monitor`: this crate sits below the metrics, so the evaluation comes in as a closure).
pub fn train_observed(
    config: &TrainConfig,
    mut data: TrainData,
    out_dir: &Path,
    resume: bool,
    device: &Device,
    observer: Observer<'_>,
) -> Result<TrainReport> {
    config.validate()?;
    let device = device.clone();
    let schedule = Schedule::from_spec(&config.schedule)?;
    let arch = config.resolve_arch(&data.shape)?;
    std::fs::create_dir_all(out_dir).map_err(|source| NnError::Io {
        path: out_dir.into(),
        action: "cannot create directory",
        source,
    })?;
    let mut st = starting_state(config, out_dir, resume, &arch, &device)?;
    let start_step = st.step;
    let num_params = st.net.params().num_params();
    let pb = progress_bar(config, start_step);
    let t0 = Instant::now();
    let mut checkpoints = Vec::new();
    let (mut loss_sum, mut loss_n) = (0.0f64, 0u64);
    let mut last_loss = st.loss_before;
    while st.step < config.steps {
        let step = st.step;
        let batch = dsm_batch(config, &schedule, &mut data, step, &device)?;
        let lv = optimizer_step(config, &st.net, &mut st.opt, &mut st.ema, &batch, step)?;
        st.step += 1;
        loss_sum += lv;
        loss_n += 1;
        pb.inc(1);
        if st.step.is_multiple_of(10) || st.step == config.steps {
            pb.set_message(format!("{:.4}", loss_sum / loss_n as f64));
        }
        // before the checkpoint of the same step: a run killed between the two resumes from an
        // earlier checkpoint and passes this step again, so the observer never misses a step
        let view = StepView { step: st.step, arch: &arch, schedule: &config.schedule, ema: &st.ema, device: &device };
        observer(&view).map_err(|source| NnError::Observer { step: st.step, source })?;
        let at_ckpt = config.checkpoint_every.is_some_and(|k| st.step.is_multiple_of(k));
        if at_ckpt || st.step == config.steps {
            last_loss = loss_sum / loss_n as f64;
            let wall_seconds = st.wall_before + t0.elapsed().as_secs_f64();
            let side = sidecar(config, &st, &arch, &data, last_loss, wall_seconds, num_params);
            let w = save_checkpoint(out_dir, &side, &st)?;
            checkpoints.push(w);
            loss_sum = 0.0;
            loss_n = 0;
        }
    }
    pb.finish_and_clear();
    let session = t0.elapsed().as_secs_f64();
    let done = st.step - start_step;
    Ok(TrainReport {
        out_dir: out_dir.to_path_buf(),
        arch,
        num_params,
        start_step,
        steps: st.step,
        final_loss: last_loss,
        checkpoints,
        session_seconds: session,
        total_seconds: st.wall_before + session,
        steps_per_second: if session > 0.0 { done as f64 / session } else { 0.0 },
    })
}

/// The state training starts from: the last checkpoint of `out_dir` when resuming, otherwise a
/// fresh network (refused when `out_dir` already holds checkpoints). Stale temporaries of a
/// killed run are removed first.
fn starting_state(
    config: &TrainConfig,
    out_dir: &Path,
    resume: bool,
    arch: &ArchSpec,
    device: &Device,
) -> Result<State> {
    remove_stale_temporaries(out_dir);
    let existing = list_checkpoints(out_dir)?;
    let resumed = if resume { resume_state(config, out_dir, arch, device)? } else { None };
    if !resume && !existing.is_empty() {
        return Err(NnError::checkpoint(
            out_dir,
            format!(
                "already holds checkpoints (last: step {}); pass resume to continue or choose another folder",
                existing.last().map_or(0, |c| c.0)
            ),
        ));
    }
    Ok(match resumed {
        Some(s) => s,
        None => {
            let net = arch.build(SeedStream::new(config.seed).derive(Purpose::TrainInit), device)?;
            let opt = AdamW::new(net.params(), config.adam.clone())?;
            let ema = Ema::new(net.params(), config.ema_decay)?;
            State { net, opt, ema, step: 0, wall_before: 0.0, loss_before: f64::NAN }
        }
    })
}

/// The sidecar of the checkpoint at the current step.
fn sidecar(
    config: &TrainConfig,
    st: &State,
    arch: &ArchSpec,
    data: &TrainData,
    loss: f64,
    wall_seconds: f64,
    num_params: usize,
) -> Sidecar {
    Sidecar {
        format: checkpoint::FORMAT.into(),
        weights: format!("ckpt-{}.safetensors", st.step),
        arch: arch.clone(),
        schedule: config.schedule.clone(),
        data: data.name.clone(),
        data_shape: data.shape.clone(),
        data_transform: data.transform,
        step: st.step,
        has_ema: true,
        ema_decay: config.ema_decay,
        loss,
        wall_seconds,
        num_params,
        adam_t: st.opt.t,
        config: config.clone(),
        sampling_only: false,
    }
}

/// Writes the checkpoint of the current step (raw weights, EMA, AdamW moments and the sidecar);
/// returns the weights' path.
fn save_checkpoint(out_dir: &Path, side: &Sidecar, st: &State) -> Result<PathBuf> {
    let mut tensors = Vec::new();
    for (i, (name, var)) in st.net.params().vars().iter().enumerate() {
        tensors.push((format!("{RAW}{name}"), var.as_tensor().detach()));
        tensors.push((format!("{EMA}{name}"), st.ema.shadow[i].clone()));
        tensors.push((format!("{ADAM_M}{name}"), st.opt.m[i].clone()));
        tensors.push((format!("{ADAM_V}{name}"), st.opt.v[i].clone()));
    }
    let (w, _) = checkpoint::save(out_dir, side, &tensors)?;
    Ok(w)
}
