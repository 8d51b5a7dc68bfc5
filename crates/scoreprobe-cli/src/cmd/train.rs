use super::train_monitor::{MonitorSettings, TrainMonitor};
use crate::io::print_json;
use anyhow::Result;
use scoreprobe_core::schedule::ScheduleSpec;
use scoreprobe_core::Schedule;
use scoreprobe_nn::TrainData;
use scoreprobe_nn::{ModelKind, TrainConfig};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// ring8 | grid25 | mnist | fashion-mnist | cifar10-test | PATH.npy | an image folder or IDX file.
    #[arg(long)]
    data: String,
    /// mlp (low-dimensional data) | unet (28×28 / 32×32 images).
    #[arg(long, default_value = "mlp")]
    model: String,
    /// Optimiser steps.
    #[arg(long, default_value_t = 2000)]
    steps: u64,
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Peak learning rate after warm-up.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Write ckpt-<step>.safetensors (+ .json sidecar) every K steps; the final step is always written.
    #[arg(long)]
    checkpoint_every: Option<u64>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Schedule: vp (β 0.1..20) or ddpm (1000 steps, β 1e-4..0.02).
    #[arg(long, default_value = "vp", value_parser = ["vp", "ddpm"])]
    schedule: String,
    /// Use only the first N items of a finite dataset.
    #[arg(long)]
    limit: Option<usize>,
    /// EMA decay of the evaluation weights.
    #[arg(long)]
    ema_decay: Option<f64>,
    /// U-Net feature channels at the full and the half resolution, e.g. `16,32` (default 32,64).
    #[arg(long)]
    unet_widths: Option<String>,
    /// U-Net GroupNorm groups (must divide both widths; default 8).
    #[arg(long)]
    unet_groups: Option<usize>,
    /// Drop the U-Net's self-attention at the low resolution.
    #[arg(long)]
    no_attention: bool,
    /// U-Net time-embedding width (default 128).
    #[arg(long)]
    unet_time_dim: Option<usize>,
    /// Continue a killed run from its last checkpoint (same result as an uninterrupted run).
    #[arg(long)]
    resume: bool,
    /// Evaluate the EMA network every --monitor-every steps on fixed draws of the training data and
    /// append the records to OUT/monitor.jsonl (docs/monitor.md): siem-projection (the default
    /// test family for the data's dimension) | siem-radial | siem-quadratic.
    #[arg(long, value_name = "METRIC")]
    monitor: Option<String>,
    /// Steps between monitor evaluations (default: --checkpoint-every).
    #[arg(long, value_name = "K")]
    monitor_every: Option<u64>,
    /// Monitor: draws per window time.
    #[arg(long, default_value_t = 256)]
    monitor_n: usize,
    /// Monitor: sampler steps of the 1000-step grid in the metric.
    #[arg(long, default_value = "900..999")]
    monitor_window: String,
    /// Monitor: seed of its draws (data rows, noise), fixed for the whole run.
    #[arg(long, default_value_t = 0)]
    monitor_seed: u64,
    /// Monitor: the largest share of the wall time its evaluations may take; an evaluation over
    /// it widens the spacing to the smallest multiple of --monitor-every that keeps under it
    /// (1: never widen).
    #[arg(long, default_value_t = 0.02, value_name = "SHARE")]
    monitor_max_budget: f64,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
    /// Run directory.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let kind: ModelKind = a.model.parse()?;
    let mut cfg = TrainConfig::new(&a.data, kind);
    cfg.steps = a.steps;
    cfg.batch = a.batch;
    cfg.lr = a.lr;
    cfg.checkpoint_every = a.checkpoint_every;
    cfg.seed = a.seed;
    cfg.data_limit = a.limit;
    cfg.quiet = a.quiet;
    if let Some(w) = &a.unet_widths {
        let v: Vec<usize> = w
            .split(',')
            .map(|s| s.trim().parse())
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("--unet-widths: {e}"))?;
        anyhow::ensure!(v.len() == 2, "--unet-widths: two comma-separated widths, e.g. 16,32");
        cfg.unet.widths = [v[0], v[1]];
    }
    if let Some(g) = a.unet_groups {
        cfg.unet.groups = g;
    }
    if a.no_attention {
        cfg.unet.attention = false;
    }
    if let Some(t) = a.unet_time_dim {
        cfg.unet.time_dim = t;
    }
    if let Some(d) = a.ema_decay {
        cfg.ema_decay = d;
    }
    cfg.schedule = match a.schedule.as_str() {
        "ddpm" => ScheduleSpec::Ddpm { steps: 1000, beta_start: 1e-4, beta_end: 0.02 },
        _ => ScheduleSpec::default(),
    };
    let report = match monitor_settings(&a, &cfg)? {
        None => scoreprobe_nn::train(&cfg, &a.out, a.resume)?,
        Some(settings) => {
            cfg.validate()?;
            let data = TrainData::load(&cfg.data, cfg.data_limit)?;
            let schedule = Schedule::from_spec(&cfg.schedule)?;
            let mut monitor = TrainMonitor::new(settings, &data, schedule, &a.out, a.resume)?;
            let device = scoreprobe_nn::default_device();
            let mut observe =
                |v: &scoreprobe_nn::StepView<'_>| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
                    monitor.observe(v).map_err(Into::into)
                };
            scoreprobe_nn::train_observed(&cfg, data, &a.out, a.resume, &device, &mut observe)?
        }
    };
    print_json(&serde_json::json!({
        "out": report.out_dir, "params": report.num_params, "start_step": report.start_step, "steps": report.steps,
        "final_loss": report.final_loss, "checkpoints": report.checkpoints, "seconds": report.session_seconds,
        "total_seconds": report.total_seconds, "steps_per_second": report.steps_per_second,
    }));
    Ok(())
}

/// The monitor's settings, when `--monitor` is given (its other flags alone are refused).
fn monitor_settings(a: &Args, cfg: &TrainConfig) -> Result<Option<MonitorSettings>> {
    let Some(metric) = &a.monitor else {
        anyhow::ensure!(a.monitor_every.is_none(), "--monitor-every: needs --monitor METRIC");
        return Ok(None);
    };
    let every = a.monitor_every.or(cfg.checkpoint_every).ok_or_else(|| {
        anyhow::anyhow!("--monitor {metric}: give --monitor-every K (or --checkpoint-every, its default)")
    })?;
    Ok(Some(MonitorSettings {
        metric: metric.clone(),
        every,
        n: a.monitor_n,
        window: a.monitor_window.clone(),
        seed: a.monitor_seed,
        max_budget: a.monitor_max_budget,
        flags: "--monitor-",
    }))
}
