//! `scoreprobe hodge`: the Helmholtz–Hodge split of the score error per time (SPEC §5):
//! ‖e_t‖², its gradient part ‖∇φ_t‖² and the solenoidal energy, from one estimator.

use crate::io::{print_json, print_text};
use crate::models::{resolve, DataArgs, OnData, Resolved};
use anyhow::{anyhow, Context, Result};
use scoreprobe_core::spec::ProblemSpec;
use scoreprobe_core::state::{fingerprint, ModelId, ShardSet};
use scoreprobe_hodge::shard::{merge_hodge, write_state};
use scoreprobe_hodge::{hodge_profile, HodgeOptions, HodgeReport, Problem};
use std::path::PathBuf;

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
    opts: HodgeOptions,
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
    let source = Source::load(&a.spec, &a.on_data)?;
    let problem = source.problem();
    let profile = hodge_profile(&problem, &a.opts).with_context(|| source.label().to_string())?;
    if let Some(out) = &a.opts.shard.state_out {
        write_state(&profile, &a.opts, &model_id(&source, &a.spec)?)?;
        if let Some(shard) = a.opts.shard.shard.filter(|s| !s.is_whole()) {
            eprintln!("shard {shard} of {}: state {}", source.label(), out.display());
            return Ok(());
        }
    }
    print_report(&profile.report(), source.label(), a.json)
}

/// What a state records of the model: the spec's fingerprint, or a checkpoint's path with the
/// data rows' fingerprint.
pub fn model_id(source: &Source, spec: &Option<PathBuf>) -> Result<ModelId> {
    let fingerprint = match (source, spec) {
        (Source::Spec(..), Some(path)) => ProblemSpec::from_file(path).map_err(|e| anyhow!(e))?.fingerprint(),
        (Source::Data(d), _) => {
            let bytes: Vec<u8> = d.x0.iter().flat_map(|v| v.to_le_bytes()).collect();
            format!("{} on rows {}", d.label, fingerprint(&bytes))
        }
        (Source::Spec(..), None) => unreachable!("a spec source has its path"),
    };
    Ok(ModelId { fingerprint, label: source.label().to_string() })
}

/// `scoreprobe merge` of Hodge states: what the unsharded `hodge` prints.
pub fn print_merged(set: &ShardSet, json: bool) -> Result<()> {
    let (profile, label) = merge_hodge(set)?;
    print_report(&profile.report(), &label, json)
}

fn print_report(report: &HodgeReport, label: &str, json: bool) -> Result<()> {
    if json {
        print_json(&serde_json::to_value(report)?);
        return Ok(());
    }
    print_text(&format!(
        "Hodge split of the score error of '{}' ({}), estimator {}; score units, L²(p_t) norms",
        report.model, label, report.estimator
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
