//! `scoreprobe hodge`: the Helmholtz–Hodge split of the score error per time (SPEC §5):
//! ‖e_t‖², its gradient part ‖∇φ_t‖² and the solenoidal energy, from one estimator.

use crate::io::{print_json, print_text};
use crate::models::{resolve, DataArgs, OnData, Resolved};
use anyhow::{anyhow, Context, Result};
use scoreprobe_core::spec::ProblemSpec;
use scoreprobe_hodge::options::even_times;
use scoreprobe_hodge::{run_hodge, EstimatorOptions, Problem};
use std::path::PathBuf;

/// Estimator options shared by `hodge` and `bounds`.
#[derive(clap::Args, Clone, Debug)]
pub struct EstimatorOpts {
    /// closed-form | grid | random-features | critic | auto (the first that applies, in that order).
    #[arg(long, default_value = "auto")]
    pub estimator: String,
    /// grid: cells per smallest component standard deviation of p_t.
    #[arg(long, default_value_t = 8.0)]
    pub grid_cells_per_std: f64,
    /// grid: cap on cells per axis.
    #[arg(long, default_value_t = 640)]
    pub grid_max_cells: usize,
    /// random-features: number of random Fourier features (polynomial potentials are added).
    #[arg(long, default_value_t = 128)]
    pub features: usize,
    /// random-features: relative ridge (default: chosen by cross-validation in each fit fold).
    #[arg(long)]
    pub ridge: Option<f64>,
    /// random-features: identity removing the true score: denoising (SPEC §5) | ibp (integration by
    /// parts, lower variance at small t).
    #[arg(long, default_value = "denoising", value_parser = ["denoising", "ibp"])]
    pub identity: String,
    /// random-features: estimate ‖e_t‖² with the vector critic even when the exact error is known.
    /// critic: the same, with the neural vector critic.
    #[arg(long)]
    pub vector_l2: bool,
    /// critic: always the denoising form (SPEC §5), even when the exact error is known (default:
    /// the lower-variance oracle form w = σ_t e_t there).
    #[arg(long)]
    pub critic_denoising: bool,
    /// critic: optimiser steps per time (fresh batches of 512 draws; MLP 2 × 64, AdamW). On a
    /// trained ring8 MLP at t = 0.1, 1000 steps stalled near 0 (0.0096 against the grid's 1.445)
    /// while 4000 reached 1.446 ± 0.010: the fit can sit on a plateau before it finds sharp errors.
    #[arg(long, default_value_t = 4000)]
    pub critic_steps: usize,
}

impl EstimatorOpts {
    /// The library's estimator options (the same names, without the dashes).
    pub fn options(&self) -> EstimatorOptions {
        EstimatorOptions {
            estimator: self.estimator.clone(),
            grid_cells_per_std: self.grid_cells_per_std,
            grid_max_cells: self.grid_max_cells,
            features: self.features,
            ridge: self.ridge,
            identity: self.identity.clone(),
            vector_l2: self.vector_l2,
            critic_denoising: self.critic_denoising,
            critic_steps: self.critic_steps,
        }
    }
}

/// Builds the Hodge problem of a resolved spec (exact target, synthetic oracle when there is one).
pub fn problem(r: &Resolved) -> Problem<'_> {
    match &r.synthetic {
        Some(m) => Problem::synthetic(m),
        None => Problem::on_target(r.model.as_ref(), &r.target, &r.schedule),
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// Problem spec (JSON: target, schedule, model; checkpoint models work with grid / random-features).
    #[arg(long, required_unless_present = "checkpoint")]
    spec: Option<PathBuf>,
    #[command(flatten)]
    on_data: DataArgs,
    #[command(flatten)]
    opts: EstimatorOpts,
    /// Comma-separated times in (0, 1] (default 0.05,0.2,0.5,0.9).
    #[arg(long, value_delimiter = ',', conflicts_with = "n_times")]
    times: Option<Vec<f64>>,
    /// K evenly spaced times 1/K, 2/K, …, 1.
    #[arg(long)]
    n_times: Option<usize>,
    /// Samples per time for the Monte-Carlo estimators (random-features: per part and per fold pair).
    #[arg(long, default_value_t = 40_000)]
    n: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// The problem of a command: a spec (exact-score target) or a checkpoint on a data set; with its
/// label for messages.
pub enum Source {
    Spec(Box<Resolved>, String),
    Data(OnData),
}

impl Source {
    pub fn load(spec: &Option<PathBuf>, on_data: &DataArgs) -> Result<Self> {
        if let Some(d) = on_data.load()? {
            return Ok(Source::Data(d));
        }
        let path = spec.as_ref().ok_or_else(|| anyhow!("give --spec, or --checkpoint with --data"))?;
        let spec = ProblemSpec::from_file(path).map_err(|e| anyhow!(e))?;
        Ok(Source::Spec(Box::new(resolve(&spec)?), path.display().to_string()))
    }

    pub fn problem(&self) -> Problem<'_> {
        match self {
            Source::Spec(r, _) => problem(r),
            Source::Data(d) => Problem::on_samples(d.model.as_ref(), d.x0.view(), &d.schedule),
        }
    }

    pub fn label(&self) -> &str {
        match self {
            Source::Spec(_, l) => l,
            Source::Data(d) => &d.label,
        }
    }
}

pub fn run(a: Args) -> Result<()> {
    // refused even where the chosen estimator (the grid) draws no samples: a zero is a mistake
    anyhow::ensure!(a.n > 0, "--n: must be positive, got 0");
    let source = Source::load(&a.spec, &a.on_data)?;
    let problem = source.problem();
    let times = match (&a.times, a.n_times) {
        (Some(t), _) => t.clone(),
        (None, Some(k)) => even_times(k).context("--n-times")?,
        (None, None) => vec![0.05, 0.2, 0.5, 0.9],
    };
    let report =
        run_hodge(&problem, &a.opts.options(), &times, a.n, a.seed).with_context(|| source.label().to_string())?;
    if a.json {
        print_json(&serde_json::to_value(&report)?);
        return Ok(());
    }
    print_text(&format!(
        "Hodge split of the score error of '{}' ({}), estimator {}; score units, L²(p_t) norms",
        report.model,
        source.label(),
        report.estimator
    ));
    print_text(&format!(
        "{:>7} {:>9} {:>12} {:>10} {:>12} {:>10} {:>12} {:>10} {:>11}",
        "t", "sigma2", "l2", "± se", "gradient", "± se", "solenoidal", "± se", "G=σ²|∇φ|²"
    ));
    for i in 0..report.times.len() {
        print_text(&format!(
            "{:>7.4} {:>9.4} {:>12.5} {:>10.5} {:>12.5} {:>10.5} {:>12.5} {:>10.5} {:>11.5}",
            report.times[i],
            report.eps_units.sigma2[i],
            report.l2[i],
            report.l2_se[i],
            report.gradient[i],
            report.gradient_se[i],
            report.solenoidal[i],
            report.solenoidal_se[i],
            report.eps_units.gradient[i]
        ));
    }
    print_text(&format!(
        "l2 from: {}; cost {:.3} s, {} samples/cells",
        report.l2_method[0], report.seconds, report.samples
    ));
    Ok(())
}
