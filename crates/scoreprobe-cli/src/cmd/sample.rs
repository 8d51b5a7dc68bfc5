use crate::io::print_json;
use anyhow::{anyhow, Result};
use ndarray::{Array2, Array3, Axis};
use scoreprobe_core::sample_state::{self, MergedSample, SampleShard};
use scoreprobe_core::sampler::{
    marginal_rows, prior_rows, sample_trajectory, sample_with_observer, SampleOptions, SamplerConfig,
};
use scoreprobe_core::schedule::Schedule;
use scoreprobe_core::spec::{ModelSpec, ProblemSpec};
use scoreprobe_core::state::ShardSet;
use scoreprobe_core::window::Window;
use scoreprobe_core::{GaussianMixture, ScoreModel};
use scoreprobe_data::write_npy;
use scoreprobe_nn::{ArchSpec, LoadOptions};
use serde_json::{json, Value};
use std::ops::{ControlFlow, Range};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Above this dimension `sample` reports the mean's root mean square instead of every coordinate.
const MEAN_PRINTED_UP_TO_DIM: usize = 64;

/// Where the reverse process starts.
#[derive(Clone, Copy, Debug, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
enum Init {
    /// The prior N(0, I).
    Prior,
    /// The true marginal p_T (needs a spec with a target).
    Marginal,
}

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
    #[arg(long, value_enum, default_value_t = Init::Prior)]
    init: Init,
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
    let src = load(&a)?;
    let (n, seed) = (a.opts.n, a.opts.seed);
    let mut cfg = a.opts.config(&src.schedule)?;
    let (shard, state_out) = a.opts.shard.checked()?;
    let rows = shard.range(n);
    cfg.window = a.trajectory_window;
    cfg.stop_after_window = a.stop_after_window;
    cfg.first_trajectory = rows.start;
    if cfg.window.is_some() != a.trajectory_out.is_some() {
        return Err(anyhow!("--trajectory-window and --trajectory-out go together"));
    }
    if a.stop_after_window && cfg.window.is_none() {
        return Err(anyhow!("--stop-after-window needs --trajectory-window"));
    }
    cfg.validate()?;
    let x0 = initial_states(a.init, &src, rows.clone(), seed)?;
    let start = Instant::now();
    let (out, traj) = match &a.trajectory_out {
        Some(_) => {
            let (out, states, times) =
                sample_trajectory(src.model.as_ref(), &src.schedule, &cfg, x0).map_err(|e| anyhow!(e))?;
            (out, Some((states, times)))
        }
        None => (
            sample_with_observer(src.model.as_ref(), &src.schedule, &cfg, x0, &mut |_| ControlFlow::Continue(()))?,
            None,
        ),
    };
    let seconds = start.elapsed().as_secs_f64();
    let head = json!({
        "out": a.out, "n": n, "dim": src.model.dim(), "model": src.model.describe(),
        "sampler": cfg.kind.name(), "steps": cfg.steps, "steps_run": out.steps_run, "nfe": out.nfe,
        "t_end": out.t_end, "seed": seed, "init": a.init, "png_grid": a.png_grid,
        "trajectory_out": a.trajectory_out, "trajectory_window": cfg.window.map(|w| w.to_string()),
        "image_shape": src.image_shape,
    });
    if let Some(path) = state_out {
        let part = SampleShard {
            rows: rows.clone(),
            dim: src.model.dim(),
            x: sample_state::flat(&out.x),
            trajectory: traj.as_ref().map(|(s, t)| sample_state::trajectory_part(s, t)),
            report: head.clone(),
            seconds,
        };
        sample_state::write(path, shard, n, state_settings(&a, &src, &cfg), &part).map_err(|e| anyhow!(e))?;
        if !shard.is_whole() {
            eprintln!("shard {shard}: samples {}..{} of {n}, state {}", rows.start, rows.end, path.display());
            return Ok(());
        }
    }
    let merged = MergedSample { x: out.x, trajectory: traj, report: head, seconds };
    finish(&merged)
}

/// What makes two sample states compatible: the options, the model, the outputs and the grid.
fn state_settings(a: &Args, src: &Source, cfg: &SamplerConfig) -> std::collections::BTreeMap<String, Value> {
    let model = match (&a.spec, &a.checkpoint) {
        (Some(spec), _) => ProblemSpec::from_file(spec).map(|s| s.fingerprint()).unwrap_or_default(),
        (None, Some(path)) => format!("checkpoint {}", path.display()),
        (None, None) => String::new(),
    };
    let extra = json!({
        "model": model, "dim": src.model.dim(), "init": a.init, "out": a.out, "png_grid": a.png_grid,
        "trajectory_out": a.trajectory_out, "trajectory_window": cfg.window.map(|w| w.to_string()),
        "stop_after_window": cfg.stop_after_window, "steps": cfg.steps, "t_min": cfg.t_min,
    });
    let extra = extra.as_object().map(|o| o.clone().into_iter().collect()).unwrap_or_default();
    sample_state::settings(&a.opts, extra)
}

/// Writes the run's files and prints its report: the unsharded run's, or the merge's.
fn finish(run: &MergedSample) -> Result<()> {
    let head = &run.report;
    let path = |key: &str| head.get(key).and_then(Value::as_str).map(PathBuf::from);
    let out = path("out").ok_or_else(|| {
        anyhow!("these sample states were written from Python (no --out): merge them with scoreprobe.merge")
    })?;
    let x = run.x.mapv(|v| v as f32);
    write_npy(&out, &x)?;
    if let Some(png) = path("png_grid") {
        let shape: Option<(usize, usize, usize)> = serde_json::from_value(head["image_shape"].clone()).unwrap_or(None);
        write_grid(&png, &x, shape)?;
    }
    let window = head.get("trajectory_window").and_then(Value::as_str).map(str::parse::<Window>).transpose()?;
    let traj = match (&run.trajectory, path("trajectory_out")) {
        (Some((states, times)), Some(p)) => Some(write_trajectory(&p, states, times, window)?),
        _ => None,
    };
    let mut report = head.clone();
    if let Some(o) = report.as_object_mut() {
        for key in ["trajectory_out", "trajectory_window", "image_shape"] {
            o.remove(key);
        }
    }
    report["seconds"] = json!(run.seconds);
    report["trajectory"] = json!(traj);
    add_mean(&mut report, &run.x);
    print_json(&report);
    Ok(())
}

/// `scoreprobe merge` of sample states: writes the files and prints what the unsharded `sample`
/// prints.
pub fn print_merged(set: &ShardSet, _json: bool) -> Result<()> {
    finish(&sample_state::merge(set)?)
}

/// What `sample` draws from: the model, the spec's target when it lives in the model's space (for
/// `--init marginal`), the schedule, and the image shape of a U-Net checkpoint.
struct Source {
    model: Box<dyn ScoreModel>,
    target: Option<GaussianMixture>,
    schedule: Schedule,
    image_shape: Option<(usize, usize, usize)>,
}

fn load(a: &Args) -> Result<Source> {
    let checkpoint =
        |path: &std::path::Path, target: Option<GaussianMixture>, schedule: Option<Schedule>| -> Result<Source> {
            let (net, _) = scoreprobe_nn::load_score_model(path, &LoadOptions::default())?;
            let image_shape = match net.arch() {
                ArchSpec::Unet(u) => Some((u.channels, u.height, u.width)),
                ArchSpec::Mlp(_) => None,
            };
            let schedule = schedule.unwrap_or_else(|| net.schedule().clone());
            // a target of another dimension than the checkpoint's (an image model) plays no part in
            // sampling from the prior: it is ignored
            let target = target.filter(|t| t.dim() == net.dim());
            Ok(Source { model: Box::new(net), target, schedule, image_shape })
        };
    match (&a.spec, &a.checkpoint) {
        (_, Some(path)) => checkpoint(path, None, None),
        (Some(spec), None) => {
            let spec = ProblemSpec::from_file(spec).map_err(|e| anyhow!(e))?;
            if let ModelSpec::Checkpoint { path } = &spec.model {
                let target = spec.target().map_err(|e| anyhow!(e))?;
                return checkpoint(path, Some(target), Some(spec.schedule().map_err(|e| anyhow!(e))?));
            }
            let r = crate::models::resolve(&spec)?;
            Ok(Source { model: r.model, target: Some(r.target), schedule: r.schedule, image_shape: None })
        }
        (None, None) => Err(anyhow!("give --spec or --checkpoint")),
    }
}

/// The initial states of trajectories `rows`, each from its own keyed stream.
fn initial_states(init: Init, src: &Source, rows: Range<usize>, seed: u64) -> Result<Array2<f64>> {
    match (init, &src.target) {
        (Init::Prior, _) => Ok(prior_rows(rows, src.model.dim(), seed)),
        (Init::Marginal, None) => Err(anyhow!("--init marginal needs a spec with a target")),
        (Init::Marginal, Some(target)) => Ok(marginal_rows(target, &src.schedule, rows, seed)),
    }
}

/// Writes the recorded states (steps + 1, n, d) as f32 and returns the report's `trajectory` entry.
fn write_trajectory(path: &Path, states: &[Array2<f64>], times: &[f64], window: Option<Window>) -> Result<Value> {
    let views: Vec<_> = states.iter().map(|s| s.view().insert_axis(Axis(0))).collect();
    let stacked: Array3<f32> = ndarray::concatenate(Axis(0), &views)?.mapv(|v| v as f32);
    write_npy(path, &stacked)?;
    Ok(json!({"path": path, "shape": stacked.shape(), "times": times, "window": window.map(|w| w.to_string())}))
}

/// The first 64 samples as an 8×8 PNG grid.
fn write_grid(png: &Path, x: &Array2<f32>, image_shape: Option<(usize, usize, usize)>) -> Result<()> {
    let d = x.ncols();
    let shape = match (image_shape, d) {
        (Some(s), _) => s,
        (None, 784) => (1, 28, 28),
        (None, 3072) => (3, 32, 32),
        (None, _) => return Err(anyhow!("--png-grid: samples of dimension {d} are not images")),
    };
    let k = x.nrows().min(64);
    let flat: Vec<f32> = x.rows().into_iter().take(k).flat_map(|r| r.to_vec()).collect();
    scoreprobe_nn::write_png_grid(png, &flat, shape, 8, (-1.0, 1.0))?;
    Ok(())
}

/// The per-coordinate mean of vector data; of images (thousands of pixels) only its size.
fn add_mean(report: &mut Value, x: &Array2<f64>) {
    let d = x.ncols();
    let mean = x.mean_axis(Axis(0));
    report["mean"] = match &mean {
        Some(m) if d <= MEAN_PRINTED_UP_TO_DIM => json!(m.to_vec()),
        _ => Value::Null,
    };
    if let Some(m) = mean.filter(|_| d > MEAN_PRINTED_UP_TO_DIM) {
        report["mean_rms"] = json!((m.mapv(|v| v * v).sum() / d as f64).sqrt());
    }
}
