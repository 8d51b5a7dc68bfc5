//! `scoreprobe monitor --run DIR`: the training monitor after the fact, on a run's saved
//! checkpoints (EMA weights), appended to `DIR/monitor.jsonl` in the schema of `train --monitor`.
//! With the same settings it gives the values `train --monitor` records at those steps (the same
//! weights, the same draws), so a run trained without the monitor gets its curve, and a study of
//! the run plots it beside FD (docs/monitor.md).

use super::train_monitor::{MonitorSettings, TrainMonitor};
use crate::io::print_json;
use anyhow::{Context, Result};
use scoreprobe_core::Schedule;
use scoreprobe_nn::checkpoint::{list_checkpoints, load_score_model, read_sidecar, LoadOptions};
use scoreprobe_nn::TrainData;
use scoreprobe_study::models::{list_run, pick_log_uniform};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// A training run directory holding ckpt-<step>.safetensors checkpoints.
    #[arg(long)]
    run: PathBuf,
    /// siem-projection (the default test family for the data's dimension) | siem-radial | siem-quadratic.
    #[arg(long, default_value = "siem-projection")]
    metric: String,
    /// Evaluate the checkpoints whose step is a multiple of K (default: every checkpoint).
    #[arg(long, value_name = "K", default_value_t = 1)]
    every: u64,
    /// Draws per window time.
    #[arg(long, default_value_t = 256)]
    n: usize,
    /// Sampler steps of the 1000-step grid in the metric.
    #[arg(long, default_value = "900..999")]
    window: String,
    /// Seed of the draws (data rows, noise); the same as `train --monitor-seed` gives its values.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also evaluate the N checkpoints `scoreprobe study --pick N` measures (log-uniform in the
    /// step), so that the monitor's values at the study's checkpoints can be ranked against FD.
    #[arg(long, value_name = "N")]
    pick: Option<usize>,
}

pub fn run(a: Args) -> Result<()> {
    let ckpts = list_checkpoints(&a.run)?;
    let Some((_, last)) = ckpts.last() else {
        anyhow::bail!("--run {}: holds no ckpt-<step>.safetensors checkpoint", a.run.display());
    };
    // the data and schedule the run was trained with, as its last sidecar states them
    let side = read_sidecar(last)?;
    let data = TrainData::load(&side.data, side.config.data_limit)
        .with_context(|| format!("the run's training data '{}' (from {})", side.data, last.display()))?;
    let schedule = Schedule::from_spec(&side.schedule)?;
    let settings = MonitorSettings {
        metric: a.metric,
        every: a.every,
        n: a.n,
        window: a.window,
        seed: a.seed,
        // no training between evaluations of saved checkpoints: no budget to keep
        max_budget: 1.0,
        flags: "--",
    };
    let mut monitor = TrainMonitor::new(settings, &data, schedule, &a.run, true)?.after_training();
    let picked: BTreeSet<u64> = match a.pick {
        Some(k) => pick_log_uniform(list_run(&a.run)?, k)?.iter().filter_map(|m| m.step).map(|s| s as u64).collect(),
        None => BTreeSet::new(),
    };
    let mut evaluated = vec![];
    for (step, path) in &ckpts {
        if !(monitor.due(*step) || picked.contains(step) && monitor.is_new(*step)) {
            continue;
        }
        let start = Instant::now();
        let (model, _) = load_score_model(path, &LoadOptions::default())?;
        monitor.evaluate(*step, &model, start)?;
        evaluated.push(*step);
    }
    print_json(&serde_json::json!({ "monitor": a.run.join("monitor.jsonl"), "evaluated": evaluated }));
    Ok(())
}
