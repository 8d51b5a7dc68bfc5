//! `scoreprobe`: a thin command-line layer over the library crates (parse, call, print).

mod cmd;
mod io;
mod models;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "scoreprobe",
    version,
    about = "How good is a diffusion checkpoint, really? Exact oracles, Hodge diagnostics, SIEM and reference metrics."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The main job on an embedded default: train on ring8, perturb, run the study, check the claims.
    Demo(cmd::demo::Args),
    /// Train a score network with denoising score matching, writing a checkpoint sweep.
    Train(cmd::train::Args),
    /// The training monitor on a run's saved checkpoints (as `train --monitor` records it).
    Monitor(cmd::monitor::Args),
    /// Every metric on a set of models; rank correlations, costs, figures and a report.
    Study(cmd::study::Args),
    /// Rebuild a study's report.md and report.html from its records (no metric is recomputed).
    Report(cmd::report::Args),
    /// Checkpoint files: `slim` writes sampling-only copies (for archiving or sharing a sweep).
    Checkpoint(cmd::checkpoint::Args),
    /// Combine replicate studies (same models and settings, distinct seeds): means ± SE, Spearman CIs.
    Replicates(cmd::replicates::Args),
    /// Draw samples from a problem spec's model with a chosen sampler.
    Sample(cmd::sample::Args),
    /// Exact generated law q₀ (Gaussian targets with affine-score models): moments, KL, W2.
    Exact(cmd::exact::Args),
    /// The impossibility family: solenoidal errors of growing λ leave the generated law unchanged.
    Family(cmd::family::Args),
    /// Reference metrics between two sample/feature sets (FD, KID, W2, PRDC).
    Metrics(cmd::metrics::Args),
    /// SIEM: quadratic variation of the score error along the model's own trajectories, over a step window.
    Siem(cmd::siem::Args),
    /// Helmholtz–Hodge split of the score error per time: L² error, gradient part, solenoidal energy.
    Hodge(cmd::hodge::Args),
    /// Girsanov and marginal (gradient-only) KL bounds of the reverse-SDE sampler, next to the exact KL.
    Bounds(cmd::bounds::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(a) => cmd::demo::run(a),
        Command::Train(a) => cmd::train::run(a),
        Command::Monitor(a) => cmd::monitor::run(a),
        Command::Study(a) => cmd::study::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::Checkpoint(a) => cmd::checkpoint::run(a),
        Command::Replicates(a) => cmd::replicates::run(a),
        Command::Sample(a) => cmd::sample::run(a),
        Command::Exact(a) => cmd::exact::run(a),
        Command::Family(a) => cmd::family::run(a),
        Command::Metrics(a) => cmd::metrics::run(a),
        Command::Siem(a) => cmd::siem::run(a),
        Command::Hodge(a) => cmd::hodge::run(a),
        Command::Bounds(a) => cmd::bounds::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {}", report(&e));
        std::process::exit(1);
    }
}

/// The error and its causes, joined by ": ". Library errors state their cause in their own
/// message (so one `to_string()` is self-contained) and also return it from `source()` (so callers
/// can downcast it); a cause whose text is already shown is therefore not repeated.
fn report(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    text
}
