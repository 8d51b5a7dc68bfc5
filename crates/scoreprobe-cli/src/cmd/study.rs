use crate::io::print_text;
use anyhow::{anyhow, bail, Result};
use scoreprobe_core::spec::ProblemSpec;
use scoreprobe_core::target::{TargetSpec, NAMED_TARGETS};
use scoreprobe_study::models::{list_run, load_extra, ModelEntry};
use scoreprobe_study::report;
use scoreprobe_study::runner::{Study, StudySettings, METRICS};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A training run directory holding ckpt-<step>.safetensors checkpoints.
    #[arg(long)]
    run: Option<PathBuf>,
    /// Extra models: a JSON array of {"name", "group"?, "step"?, "model": {model spec}}.
    #[arg(long)]
    models: Option<PathBuf>,
    /// The reference: a problem spec JSON (its target and schedule), or a named target (ring8, grid25).
    #[arg(long)]
    reference: String,
    /// Samples and SIEM trajectories per model.
    #[arg(long, default_value_t = 1000)]
    n: usize,
    /// Sampler steps; the high-noise window is the first 10% of them (900..999 for 1000).
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// Comma-separated metrics (default: all that apply).
    #[arg(long, value_delimiter = ',')]
    metrics: Option<Vec<String>>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory (results are cached there: an interrupted study resumes).
    #[arg(long)]
    out: PathBuf,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

/// A reference given as a named target or a spec file.
pub fn reference_spec(reference: &str) -> Result<ProblemSpec> {
    if NAMED_TARGETS.contains(&reference) {
        return Ok(ProblemSpec {
            target: TargetSpec::Named { name: reference.into() },
            schedule: Default::default(),
            model: scoreprobe_core::spec::ModelSpec::Exact,
        });
    }
    let path = PathBuf::from(reference);
    if path.extension().is_some_and(|e| e == "json") || path.is_file() {
        return ProblemSpec::from_file(&path).map_err(|e| anyhow!(e));
    }
    bail!(
        "--reference '{reference}': expected a problem spec (.json) or a named target ({}); image data sets \
         (mnist, fashion-mnist, cifar10-test) are not yet supported as study references",
        NAMED_TARGETS.join(", ")
    )
}

pub fn run(a: Args) -> Result<()> {
    let spec = reference_spec(&a.reference)?;
    let mut models: Vec<ModelEntry> = vec![];
    if let Some(run) = &a.run {
        models.extend(list_run(run)?);
    }
    if let Some(m) = &a.models {
        models.extend(load_extra(m)?);
    }
    if models.is_empty() {
        bail!("no models: give --run DIR (checkpoints) and/or --models FILE (extra models)");
    }
    let metrics = a.metrics.clone().unwrap_or_else(|| METRICS.iter().map(|m| m.0.to_string()).collect());
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    run_study(
        spec,
        models,
        metrics,
        StudySettings { n: a.n, steps: a.steps, seed: a.seed, ..Default::default() },
        a.out,
        !a.quiet,
        "scoreprobe study",
        &command,
    )
}

/// Runs a study, writes its outputs and prints the summary (shared with `demo`).
#[allow(clippy::too_many_arguments)]
pub fn run_study(
    spec: ProblemSpec,
    models: Vec<ModelEntry>,
    metrics: Vec<String>,
    settings: StudySettings,
    out: PathBuf,
    progress: bool,
    title: &str,
    command: &str,
) -> Result<()> {
    let loader = |p: &std::path::Path| crate::models::load_checkpoint(p);
    let study = Study { spec, models, metrics, settings, out: out.clone(), loader: &loader, progress };
    let results = study.run()?;
    let summary = report::write(&out, title, command, &results, &study.settings)?;
    print_text(&report::terminal_summary(&summary));
    print_text(&format!("report: {}", out.join("report.md").display()));
    Ok(())
}
