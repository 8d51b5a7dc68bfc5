use crate::io::{print_json, write_npy};
use anyhow::{anyhow, Result};
use ndarray::{Array3, Axis};
use scoreprobe_core::sampler::{prior_init, sample_trajectory, sample_with_observer, SamplerConfig, SamplerKind};
use scoreprobe_core::spec::ProblemSpec;
use scoreprobe_core::window::Window;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Problem spec (JSON: target, schedule, model).
    #[arg(long)]
    spec: PathBuf,
    /// Number of samples.
    #[arg(long, default_value_t = 1000)]
    n: usize,
    /// em | ancestral | ode-euler | ode-heun.
    #[arg(long, default_value = "em")]
    sampler: String,
    /// Sampler steps (default: the schedule's: 1000, or K for DDPM).
    #[arg(long)]
    steps: Option<usize>,
    /// End time of sampling (default 1e-3 for VP, 0 for DDPM).
    #[arg(long)]
    t_min: Option<f64>,
    /// Start from the prior N(0, I) or from the true marginal p_T.
    #[arg(long, default_value = "prior", value_parser = ["prior", "marginal"])]
    init: String,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output `.npy` of shape (n, d), f32.
    #[arg(long)]
    out: PathBuf,
    /// Record states on this window of step indices, e.g. `900..999` (the first 100 steps from noise of 1000).
    #[arg(long)]
    trajectory_window: Option<String>,
    /// Output `.npy` for the trajectory, shape (window steps + 1, n, d), f32.
    #[arg(long)]
    trajectory_out: Option<PathBuf>,
    /// Stop after the window (only the steps from noise down to it are executed; `--out` then holds
    /// the states at the window's end).
    #[arg(long)]
    stop_after_window: bool,
}

pub fn run(a: Args) -> Result<()> {
    let spec = ProblemSpec::from_file(&a.spec).map_err(|e| anyhow!(e))?;
    let resolved = crate::models::resolve(&spec)?;
    let (model, target, schedule) = (resolved.model.as_ref(), &resolved.target, &resolved.schedule);
    let kind: SamplerKind = a.sampler.parse().map_err(|e: String| anyhow!("--sampler: {e}"))?;
    if a.n == 0 {
        return Err(anyhow!("--n: must be at least 1"));
    }
    let steps = a.steps.unwrap_or_else(|| schedule.default_steps());
    let mut cfg = SamplerConfig::new(kind, steps, a.t_min.unwrap_or_else(|| schedule.default_t_min()), a.seed);
    cfg.window = a
        .trajectory_window
        .as_deref()
        .map(Window::parse)
        .transpose()
        .map_err(|e| anyhow!("--trajectory-window: {e}"))?;
    cfg.stop_after_window = a.stop_after_window;
    if cfg.window.is_some() != a.trajectory_out.is_some() {
        return Err(anyhow!("--trajectory-window and --trajectory-out go together"));
    }
    if a.stop_after_window && cfg.window.is_none() {
        return Err(anyhow!("--stop-after-window needs --trajectory-window"));
    }
    cfg.validate().map_err(|e| anyhow!(e))?;
    let d = target.dim();
    let x0 = match a.init.as_str() {
        "prior" => prior_init(a.n, d, a.seed),
        _ => {
            use rand::SeedableRng;
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed ^ 0x1417);
            target.sample_marginal(a.n, schedule, 1.0, &mut rng)
        }
    };
    let start = Instant::now();
    let (out, traj) = if let Some(path) = &a.trajectory_out {
        let (out, states, times) = sample_trajectory(model, schedule, &cfg, x0).map_err(|e| anyhow!(e))?;
        let views: Vec<_> = states.iter().map(|s| s.view().insert_axis(Axis(0))).collect();
        let stacked: Array3<f32> = ndarray::concatenate(Axis(0), &views)?.mapv(|v| v as f32);
        write_npy(path, &stacked)?;
        (
            out,
            Some(
                json!({"path": path, "shape": stacked.shape(), "times": times, "window": cfg.window.map(|w| w.to_string())}),
            ),
        )
    } else {
        (sample_with_observer(model, schedule, &cfg, x0, &mut |_| {}).map_err(|e| anyhow!(e))?, None)
    };
    let seconds = start.elapsed().as_secs_f64();
    write_npy(&a.out, &out.x.mapv(|v| v as f32))?;
    print_json(&json!({
        "out": a.out, "n": a.n, "dim": d, "model": model.describe(),
        "sampler": kind.name(), "steps": steps, "steps_run": out.steps_run, "nfe": out.nfe,
        "t_end": out.t_end, "seed": a.seed, "init": a.init, "seconds": seconds,
        "mean": out.x.mean_axis(Axis(0)).map(|m| m.to_vec()), "trajectory": traj,
    }));
    Ok(())
}
