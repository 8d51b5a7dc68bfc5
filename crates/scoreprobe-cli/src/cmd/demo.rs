//! `scoreprobe demo`: the whole system on an embedded default, in minutes on 2 cores: train a
//! small MLP on ring8 with a checkpoint sweep, add synthetic gradient and solenoidal
//! perturbations of the exact score, run the study, and print where each claim stands.

use anyhow::Result;
use scoreprobe_core::distribution::TargetSpec;
use scoreprobe_core::model::synthetic::Potential;
use scoreprobe_core::spec::{ModelSpec, ProblemSpec};
use scoreprobe_nn::{ModelKind, TrainConfig};
use scoreprobe_study::models::{list_run, ModelEntry, ModelGroup, ModelSource};
use scoreprobe_study::runner::{OnFailure, StudySettings};
use scoreprobe_study::MetricId;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Output directory (the run, the study cache and the report); re-running resumes.
    #[arg(long, default_value = "reports/demo")]
    out: PathBuf,
    /// Training steps of the MLP (a checkpoint every tenth).
    #[arg(long, default_value_t = 1000)]
    train_steps: u64,
    /// Training batch size.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Samples and SIEM trajectories per model.
    #[arg(long, default_value_t = 500)]
    n: usize,
    /// Sampler steps (the high-noise window is the first 10%).
    #[arg(long, default_value_t = 200)]
    steps: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    quiet: bool,
}

/// The demo's metrics: both SIEM forms and every other metric but the classifier- and
/// critic-source SIEMs, which train a network per model (minutes more; `study` has them).
pub const DEMO_METRICS: &[MetricId] = &[
    MetricId::W2,
    MetricId::Fd,
    MetricId::Kid,
    MetricId::ExactKl,
    MetricId::SiemProj,
    MetricId::SiemProjWindow,
    MetricId::Siem,
    MetricId::SiemWindow,
    MetricId::SiemMc,
    MetricId::SiemMcWindow,
    MetricId::L2,
    MetricId::Gradient,
    MetricId::Girsanov,
    MetricId::Marginal,
];

fn synthetic(name: String, group: ModelGroup, step: f64, model: ModelSpec) -> ModelEntry {
    ModelEntry { name, group, step: Some(step), source: ModelSource::Synthetic { model } }
}

/// The embedded default models besides the checkpoints: the exact score, a radial gradient
/// perturbation (moves mass radially: visible to every metric), and rotations (invisible).
pub fn default_perturbations() -> Vec<ModelEntry> {
    let mut v = vec![synthetic("exact".into(), ModelGroup::Exact, 0.0, ModelSpec::Exact)];
    for lambda in [0.1, 0.25, 0.5, 1.0] {
        let potential = Potential::RadialBump { center: None, width: 1.0, height: 1.0 };
        v.push(synthetic(
            format!("gradient-{lambda}"),
            ModelGroup::Gradient,
            lambda,
            ModelSpec::Gradient { potential, lambda },
        ));
    }
    for lambda in [0.5, 1.0, 2.0] {
        let a = vec![vec![0.0, 1.0], vec![-1.0, 0.0]];
        v.push(synthetic(
            format!("solenoidal-{lambda}"),
            ModelGroup::Solenoidal,
            lambda,
            ModelSpec::Solenoidal { a, lambda },
        ));
    }
    v
}

pub fn run(a: Args) -> Result<()> {
    let start = std::time::Instant::now();
    let spec = ProblemSpec {
        target: TargetSpec::Named { name: "ring8".into() },
        schedule: Default::default(),
        model: ModelSpec::Exact,
    };
    let run_dir = a.out.join("run");
    let mut cfg = TrainConfig::new("ring8", ModelKind::Mlp);
    cfg.steps = a.train_steps;
    cfg.batch = a.batch;
    cfg.checkpoint_every = Some((a.train_steps / 10).max(1));
    cfg.seed = a.seed;
    cfg.quiet = a.quiet;
    let done =
        list_run(&run_dir).ok().and_then(|c| c.last().and_then(|e| e.step)).is_some_and(|s| s as u64 >= a.train_steps);
    if !done {
        crate::io::print_text(&format!(
            "training an MLP on ring8 for {} steps into {}",
            a.train_steps,
            run_dir.display()
        ));
        let resume = run_dir.join("ckpt-0.json").exists() || list_run(&run_dir).is_ok();
        scoreprobe_nn::train(&cfg, &run_dir, resume)?;
    }
    let mut models = list_run(&run_dir)?;
    models.extend(default_perturbations());
    // sized for minutes on 2 cores: a coarser Hodge grid and fewer quadrature panels than a full study
    let settings = StudySettings {
        n: a.n,
        steps: a.steps,
        seed: a.seed,
        bound_panels: 8,
        grid_cells_per_std: 4.0,
        grid_max_cells: 200,
        ..Default::default()
    };
    let command = format!(
        "cargo run --release -p scoreprobe-cli -- demo --out {} --train-steps {} --batch {} --n {} --steps {} --seed {}",
        a.out.display(),
        a.train_steps,
        a.batch,
        a.n,
        a.steps,
        a.seed
    );
    crate::cmd::study::run_study(crate::cmd::study::StudyRun {
        reference: scoreprobe_study::reference::Reference::Target(spec),
        models,
        metrics: DEMO_METRICS.to_vec(),
        settings,
        out: a.out.clone(),
        progress: !a.quiet,
        on_failure: OnFailure::Stop,
        score_memory_gib: crate::cmd::study::DEFAULT_SCORE_MEMORY_GIB,
        title: "scoreprobe demo: ring8",
        command: &command,
    })?;
    crate::io::print_text(&format!("demo finished in {:.0} s", start.elapsed().as_secs_f64()));
    Ok(())
}
