//! `scoreprobe`: a thin command-line layer over the library crates (parse, call, print).

mod cmd;
mod io;

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
    /// Draw samples from a problem spec's model with a chosen sampler.
    Sample(cmd::sample::Args),
    /// Exact generated law q₀ (Gaussian targets with affine-score models): moments, KL, W2.
    Exact(cmd::exact::Args),
    /// The impossibility family: solenoidal errors of growing λ leave the generated law unchanged.
    Family(cmd::family::Args),
    /// Reference metrics between two sample/feature sets (FD, KID, W2, PRDC).
    Metrics(cmd::metrics::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sample(a) => cmd::sample::run(a),
        Command::Exact(a) => cmd::exact::run(a),
        Command::Family(a) => cmd::family::run(a),
        Command::Metrics(a) => cmd::metrics::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
