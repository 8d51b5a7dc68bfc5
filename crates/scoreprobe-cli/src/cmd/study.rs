use crate::io::print_text;
use anyhow::{anyhow, bail, Context, Result};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use scoreprobe_core::distribution::{TargetSpec, NAMED_TARGETS};
use scoreprobe_core::model::memo::Memoized;
use scoreprobe_core::sampler::SamplerKind;
use scoreprobe_core::spec::ProblemSpec;
use scoreprobe_core::ScoreModel;
use scoreprobe_nn::{DataShape, TrainData};
use scoreprobe_study::models::{list_run, load_extra, pair_rotation_family, pick_log_uniform, ModelEntry, ModelSource};
use scoreprobe_study::reference::{DataReference, ImageLayout, Reference};
use scoreprobe_study::report;
use scoreprobe_study::runner::{OnFailure, Study, StudySettings};
use scoreprobe_study::MetricId;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    /// A training run directory holding ckpt-<step>.safetensors checkpoints.
    #[arg(long)]
    run: Option<PathBuf>,
    /// Keep N of the run's checkpoints, spread log-uniformly over its steps (first and last kept).
    #[arg(long, value_name = "N")]
    pick: Option<usize>,
    /// The impossibility family on the run's last (picked) checkpoint: s_λ = (I + λA)s_θ for each
    /// λ, A antisymmetric pairing neighbouring pixels (coordinates 2k, 2k+1), models `rot-<λ>`.
    /// The generated law should not move while the L² error grows as λ².
    #[arg(long, value_delimiter = ',', value_name = "λ,...")]
    pair_rotation: Option<Vec<f64>>,
    /// Extra models: a JSON array of {"name", "group"?, "step"?, "model": {model spec}}.
    #[arg(long)]
    models: Option<PathBuf>,
    /// The reference: a problem spec JSON (its target and schedule), a named target (ring8, grid25),
    /// or a data set the checkpoints were trained on: mnist, fashion-mnist, cifar10-test, PATH.npy
    /// ((N, D) rows), an image folder or an IDX file. A data set has no exact score: oracle-based
    /// metrics are skipped; fd/kid/w2 compare features, SIEM uses the classifier/critic fields.
    #[arg(long)]
    reference: String,
    /// Feature space of fd/kid/w2 on a data-set reference: identity | mnist-cnn | mobilenet |
    /// inception:PATH (vector data: identity only). w2 is skipped above 64 feature dimensions.
    #[arg(long, default_value = "identity")]
    features: String,
    /// Samples per model, SIEM trajectories (particle form) and draws per window time (projection form).
    #[arg(long, default_value_t = 1000)]
    n: usize,
    /// Sampler steps; the high-noise window is the first 10% of them (900..999 for 1000).
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// Sampler of the generated samples (fd, kid, w2): em | ancestral | ode-euler | ode-heun.
    #[arg(long, default_value = "em")]
    sampler: SamplerKind,
    /// Comma-separated metrics (default: all; those that do not apply to a model are listed as such).
    #[arg(long, value_delimiter = ',')]
    metrics: Option<Vec<MetricId>>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Seed of SIEM's test functions (centres, pilot bandwidth): part of the metric, independent of
    /// --seed, so replicate seeds vary only the draws.
    #[arg(long, default_value_t = 0)]
    test_seed: u64,
    /// Simpson panels in ln t of the KL bounds (l2, gradient, girsanov, marginal); a multiple of 4.
    #[arg(long, default_value_t = 16)]
    bound_panels: usize,
    /// Critic fits (siem_critic*, and the bounds on a data-set reference): optimiser steps
    /// (default 1000).
    #[arg(long)]
    critic_steps: Option<usize>,
    /// Critic fits: train on a fixed pool of this many draws instead of fresh draws every step.
    /// Needed for image networks, where a fresh batch of 512 costs 512 network calls per step.
    #[arg(long)]
    critic_pool: Option<usize>,
    /// Critic fits: rows per optimiser step (default 512).
    #[arg(long)]
    critic_batch: Option<usize>,
    /// Critic fits: random tangent directions per row for ∇χ above 64 dimensions (default 16);
    /// the cost of a step grows with 1 + directions.
    #[arg(long)]
    critic_directions: Option<usize>,
    /// Critic fits: held-out draws for the reported value (default 16384 for SIEM, 40000 for bounds).
    #[arg(long)]
    critic_holdout: Option<usize>,
    /// Output directory (results are cached there: an interrupted study resumes).
    #[arg(long)]
    out: PathBuf,
    /// Memory per checkpoint for remembering its score evaluations (GiB; 0: none). The SIEM forms
    /// share their draws, so a repeated evaluation is answered from memory, bit for bit; the
    /// records' NFE still count every evaluation an estimator asks for.
    #[arg(long, default_value_t = DEFAULT_SCORE_MEMORY_GIB, value_name = "GIB")]
    score_memory: f64,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
    /// A metric that fails on a model (a corrupt checkpoint, a diverging sampler) is recorded as
    /// failed and the study goes on; the report marks it, and the command still exits non-zero.
    /// Without it the first failure stops the study, naming the model, the metric and the cause.
    #[arg(long)]
    keep_going: bool,
}

/// `--score-memory`'s default: a 32×32×3 network's answers to 2000 draws at 100 times in f32.
pub const DEFAULT_SCORE_MEMORY_GIB: f64 = 4.0;

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
        "--reference '{reference}': expected a problem spec (.json) or a named target ({}); data sets go through \
         `data_reference`",
        NAMED_TARGETS.join(", ")
    )
}

/// Whether `--reference` names an exact-score reference (named target or problem spec).
fn is_target_reference(reference: &str) -> bool {
    let path = PathBuf::from(reference);
    NAMED_TARGETS.contains(&reference)
        || path.extension().is_some_and(|e| e == "json")
        || (path.is_file()
            && std::fs::read(&path).is_ok_and(|b| b.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'{')))
}

fn shape_desc(shape: &DataShape) -> String {
    match shape {
        DataShape::Vector { dim } => format!("rows of dimension {dim}"),
        DataShape::Image { channels, height, width } => {
            format!("images of shape {channels}x{height}x{width} ({} values per row)", shape.dim())
        }
    }
}

/// Loads a data-set reference with the loader the networks were trained with (`TrainData`: the
/// same pixel transform), checks it against every checkpoint's sidecar (data shape, transform,
/// schedule) and returns it with the checkpoints' schedule.
pub fn data_reference(reference: &str, features: &str, models: &[ModelEntry]) -> Result<Reference> {
    let mut data = TrainData::load(reference, None).with_context(|| format!("--reference '{reference}'"))?;
    let n = data.len().context("a data-set reference must be finite")?;
    let d = data.shape.dim();
    // every row once (epoch 0 of the loader's seeded permutation)
    let flat = data.batch(0, 0, n, &mut ChaCha8Rng::seed_from_u64(0));
    let rows = Array2::from_shape_vec((n, d), flat.into_iter().map(f64::from).collect())?;
    let image = match data.shape {
        DataShape::Vector { .. } => None,
        DataShape::Image { channels, height, width } => {
            // the model-space values of pixel intensities 0 and 1; an image transform without them is
            // refused rather than guessed
            let Some(pixel_range) = data.transform.pixel_range() else {
                bail!("--reference '{reference}': image data transformed as '{}' has no pixel range", data.transform);
            };
            Some(ImageLayout { channels, height, width, pixel_range })
        }
    };
    let mut schedule = None;
    for m in models {
        let ModelSource::Checkpoint { path } = &m.source else { continue };
        let side = scoreprobe_nn::checkpoint::read_sidecar(path)?;
        if side.data_shape.dim() != d || (image.is_some() && side.data_shape != data.shape) {
            bail!(
                "checkpoint {} was trained on '{}', {}; the reference '{reference}' holds {n} {}",
                path.display(),
                side.data,
                shape_desc(&side.data_shape),
                shape_desc(&data.shape)
            );
        }
        if side.data_transform != data.transform {
            bail!(
                "checkpoint {} was trained on data transformed by '{}', the reference '{reference}' is loaded as '{}'",
                path.display(),
                side.data_transform,
                data.transform
            );
        }
        match &schedule {
            None => schedule = Some(side.schedule.clone()),
            Some(s) if *s != side.schedule => bail!(
                "checkpoint {} uses the schedule {:?}, other checkpoints {s:?}; a study compares models under one schedule",
                path.display(),
                side.schedule
            ),
            Some(_) => {}
        }
    }
    let data = DataReference {
        name: reference.to_string(),
        rows: Arc::new(rows),
        image,
        transform: data.transform,
        features: features.to_string(),
    };
    Ok(Reference::Data { data, schedule: schedule.unwrap_or_default() })
}

pub fn run(a: Args) -> Result<()> {
    let mut models: Vec<ModelEntry> = vec![];
    if let Some(run) = &a.run {
        let run_models = list_run(run)?;
        models.extend(match a.pick {
            Some(k) => pick_log_uniform(run_models, k)?,
            None => run_models,
        });
    }
    if let Some(lambdas) = &a.pair_rotation {
        let Some(ModelSource::Checkpoint { path }) = models.last().map(|m| &m.source) else {
            bail!("--pair-rotation: needs --run (the family is built on the run's last checkpoint)");
        };
        let family = pair_rotation_family(&path.clone(), lambdas)?;
        models.extend(family);
    }
    if let Some(m) = &a.models {
        models.extend(load_extra(m)?);
    }
    if models.is_empty() {
        bail!("no models: give --run DIR (checkpoints) and/or --models FILE (extra models)");
    }
    if let Some(run) = &a.run {
        copy_monitor(run, &a.out)?;
    }
    let metrics = a.metrics.clone().unwrap_or_else(|| MetricId::all().to_vec());
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let reference = if is_target_reference(&a.reference) {
        if a.features != "identity" {
            bail!(
                "--features {}: applies to a data-set reference only; '{}' is an exact-score target",
                a.features,
                a.reference
            );
        }
        Reference::Target(reference_spec(&a.reference)?)
    } else {
        data_reference(&a.reference, &a.features, &models)?
    };
    run_study(StudyRun {
        reference,
        models,
        metrics,
        settings: StudySettings {
            n: a.n,
            steps: a.steps,
            sampler: a.sampler,
            seed: a.seed,
            test_seed: a.test_seed,
            bound_panels: a.bound_panels,
            critic_steps: a.critic_steps,
            critic_pool: a.critic_pool,
            critic_holdout: a.critic_holdout,
            critic_batch: a.critic_batch,
            critic_directions: a.critic_directions,
            ..Default::default()
        },
        out: a.out,
        progress: !a.quiet,
        on_failure: if a.keep_going { OnFailure::KeepGoing } else { OnFailure::Stop },
        score_memory_gib: a.score_memory,
        title: "scoreprobe study",
        command: &command,
    })
}

/// The training monitor's records of the run (`scoreprobe train --monitor`, `sp.Monitor`), copied
/// into the study folder where the report plots them beside the checkpoints' metrics.
fn copy_monitor(run: &std::path::Path, out: &std::path::Path) -> Result<()> {
    let from = run.join("monitor.jsonl");
    if from.is_file() {
        std::fs::create_dir_all(out).with_context(|| format!("--out {}: cannot create", out.display()))?;
        std::fs::copy(&from, out.join("monitor.jsonl"))
            .with_context(|| format!("{}: cannot copy into the study folder", from.display()))?;
    }
    Ok(())
}

/// A study against any reference (exact-score target or data set), as `study` and `demo` run it.
pub struct StudyRun<'a> {
    pub reference: Reference,
    pub models: Vec<ModelEntry>,
    pub metrics: Vec<MetricId>,
    pub settings: StudySettings,
    pub out: PathBuf,
    pub progress: bool,
    pub on_failure: OnFailure,
    /// Per checkpoint, GiB of remembered score evaluations ([`Memoized`]).
    pub score_memory_gib: f64,
    pub title: &'a str,
    pub command: &'a str,
}

/// Runs a study, writes its outputs and prints the summary. With `--keep-going` the report is
/// written whatever failed, and the command then fails naming what did (as `make -k` does).
pub fn run_study(r: StudyRun) -> Result<()> {
    if !(r.score_memory_gib >= 0.0 && r.score_memory_gib.is_finite()) {
        bail!("--score-memory: expected a size in GiB ≥ 0, got {}", r.score_memory_gib);
    }
    let budget = (r.score_memory_gib * (1u64 << 30) as f64) as usize;
    let loader = |p: &std::path::Path| {
        crate::models::load_checkpoint(p)
            .map(|m| if budget == 0 { m } else { Box::new(Memoized::new(m, budget)) as Box<dyn ScoreModel> })
            .map_err(Into::into)
    };
    let started = std::time::Instant::now();
    let mut provenance = report::Provenance::begin(r.title, r.command, &r.reference);
    let study = Study {
        reference: r.reference,
        models: r.models,
        metrics: r.metrics,
        settings: r.settings,
        out: r.out.clone(),
        loader: &loader,
        progress: r.progress,
        on_failure: r.on_failure,
    };
    let results = study.run()?;
    provenance.wall_seconds = started.elapsed().as_secs_f64();
    let summary = report::write(&r.out, r.title, r.command, &results, &study.settings, &provenance)?;
    print_text(&report::terminal_summary(&summary));
    let report = r.out.join("report.md");
    print_text(&format!("report: {} and {}", report.display(), r.out.join("report.html").display()));
    if let Some(first) = results.failed.first() {
        let models: std::collections::BTreeSet<&str> = results.failed.iter().map(|f| f.model.as_str()).collect();
        bail!(
            "{} metric(s) failed on {} model(s), marked failed in {}; the first: {} · {}: {}",
            results.failed.len(),
            models.len(),
            report.display(),
            first.model,
            first.metric,
            first.cause
        );
    }
    Ok(())
}
