use crate::io::print_json;
use anyhow::{anyhow, Result};
use ndarray::{Array3, Axis};
use scoreprobe_core::sampler::{prior_init, sample_trajectory, sample_with_observer, SampleOptions};
use scoreprobe_core::schedule::Schedule;
use scoreprobe_core::spec::{ModelSpec, ProblemSpec};
use scoreprobe_core::window::Window;
use scoreprobe_core::{GaussianMixture, Purpose, ScoreModel, SeedStream};
use scoreprobe_data::write_npy;
use scoreprobe_nn::{ArchSpec, LoadOptions, NetScoreModel};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// Above this dimension `sample` reports the mean's root mean square instead of every coordinate.
const MEAN_PRINTED_UP_TO_DIM: usize = 64;

#[derive(clap::Args)]
pub struct Args {
    /// Problem spec (JSON: target, schedule, model).
    #[arg(long, required_unless_present = "checkpoint", conflicts_with = "checkpoint")]
    spec: Option<PathBuf>,
    /// Sample a trained checkpoint (`runs/NAME/ckpt-<step>.safetensors`, EMA weights) with its own
    /// schedule, without a spec (no target needed: image models).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Also write the first 64 samples as an 8×8 PNG grid (images: 1×28×28 / 3×32×32, or the
    /// checkpoint's shape; values in [−1, 1]).
    #[arg(long)]
    png_grid: Option<PathBuf>,
    #[command(flatten)]
    opts: SampleOptions,
    /// Start from the prior N(0, I) or from the true marginal p_T.
    #[arg(long, default_value = "prior", value_parser = ["prior", "marginal"])]
    init: String,
    /// Output `.npy` of shape (n, d), f32.
    #[arg(long)]
    out: PathBuf,
    /// Record states on this window of step indices, e.g. `900..999` (the first 100 steps from noise of 1000).
    #[arg(long)]
    trajectory_window: Option<Window>,
    /// Output `.npy` for the trajectory, shape (window steps + 1, n, d), f32.
    #[arg(long)]
    trajectory_out: Option<PathBuf>,
    /// Stop after the window (only the steps from noise down to it are executed; `--out` then holds
    /// the states at the window's end).
    #[arg(long)]
    stop_after_window: bool,
}

pub fn run(a: Args) -> Result<()> {
    let (resolved, net, image_shape, synthetic): (_, NetScoreModel, _, Box<dyn ScoreModel>);
    let (model, target, schedule): (&dyn ScoreModel, Option<&GaussianMixture>, &Schedule) =
        match (&a.spec, &a.checkpoint) {
            (_, Some(path)) => {
                let (m, _) = scoreprobe_nn::load_score_model(path, &LoadOptions::default())?;
                image_shape = match m.arch() {
                    ArchSpec::Unet(u) => Some((u.channels, u.height, u.width)),
                    ArchSpec::Mlp(_) => None,
                };
                net = m;
                (&net as &dyn ScoreModel, None, net.schedule())
            }
            (Some(spec), None) => {
                let spec = ProblemSpec::from_file(spec).map_err(|e| anyhow!(e))?;
                match &spec.model {
                    // A checkpoint of another dimension than the spec's target (an image model): the
                    // target plays no part in sampling from the prior, so it is ignored.
                    ModelSpec::Checkpoint { path } => {
                        let (m, _) = scoreprobe_nn::load_score_model(path, &LoadOptions::default())?;
                        let target = spec.target().map_err(|e| anyhow!(e))?;
                        image_shape = match m.arch() {
                            ArchSpec::Unet(u) => Some((u.channels, u.height, u.width)),
                            ArchSpec::Mlp(_) => None,
                        };
                        resolved = (target, spec.schedule().map_err(|e| anyhow!(e))?);
                        net = m;
                        let target = (resolved.0.dim() == net.dim()).then_some(&resolved.0);
                        (&net as &dyn ScoreModel, target, &resolved.1)
                    }
                    _ => {
                        let r = crate::models::resolve(&spec)?;
                        image_shape = None;
                        synthetic = r.model;
                        resolved = (r.target, r.schedule);
                        (synthetic.as_ref(), Some(&resolved.0), &resolved.1)
                    }
                }
            }
            (None, None) => return Err(anyhow!("give --spec or --checkpoint")),
        };
    let (n, seed) = (a.opts.n, a.opts.seed);
    let mut cfg = a.opts.config(schedule)?;
    let (kind, steps) = (cfg.kind, cfg.steps);
    cfg.window = a.trajectory_window;
    cfg.stop_after_window = a.stop_after_window;
    if cfg.window.is_some() != a.trajectory_out.is_some() {
        return Err(anyhow!("--trajectory-window and --trajectory-out go together"));
    }
    if a.stop_after_window && cfg.window.is_none() {
        return Err(anyhow!("--stop-after-window needs --trajectory-window"));
    }
    cfg.validate()?;
    let d = model.dim();
    let x0 = match (a.init.as_str(), target) {
        ("prior", _) => prior_init(n, d, seed),
        (_, None) => return Err(anyhow!("--init marginal needs a spec with a target")),
        (_, Some(target)) => {
            let mut rng = SeedStream::new(seed).rng(Purpose::MarginalInit);
            target.sample_marginal(n, schedule, 1.0, &mut rng)
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
        (sample_with_observer(model, schedule, &cfg, x0, &mut |_| std::ops::ControlFlow::Continue(()))?, None)
    };
    let seconds = start.elapsed().as_secs_f64();
    let x = out.x.mapv(|v| v as f32);
    write_npy(&a.out, &x)?;
    if let Some(png) = &a.png_grid {
        let shape = match (image_shape, d) {
            (Some(s), _) => s,
            (None, 784) => (1, 28, 28),
            (None, 3072) => (3, 32, 32),
            (None, _) => return Err(anyhow!("--png-grid: samples of dimension {d} are not images")),
        };
        let k = n.min(64);
        let flat: Vec<f32> = x.rows().into_iter().take(k).flat_map(|r| r.to_vec()).collect();
        scoreprobe_nn::write_png_grid(png, &flat, shape, 8, (-1.0, 1.0))?;
    }
    let mut report = json!({
        "out": a.out, "n": n, "dim": d, "model": model.describe(),
        "sampler": kind.name(), "steps": steps, "steps_run": out.steps_run, "nfe": out.nfe,
        "t_end": out.t_end, "seed": seed, "init": a.init, "seconds": seconds, "png_grid": a.png_grid,
        "trajectory": traj,
    });
    // the per-coordinate mean of vector data; of images (thousands of pixels) only its size
    let mean = out.x.mean_axis(Axis(0));
    report["mean"] = match &mean {
        Some(m) if d <= MEAN_PRINTED_UP_TO_DIM => json!(m.to_vec()),
        _ => serde_json::Value::Null,
    };
    if let Some(m) = mean.filter(|_| d > MEAN_PRINTED_UP_TO_DIM) {
        report["mean_rms"] = json!((m.mapv(|v| v * v).sum() / d as f64).sqrt());
    }
    print_json(&report);
    Ok(())
}
