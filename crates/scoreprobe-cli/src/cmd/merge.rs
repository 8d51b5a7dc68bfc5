//! `scoreprobe merge STATE...`: combines the states of the K shards of one run (written with
//! `--shard I/K --state-out PATH`) and prints exactly what the unsharded run prints.

use anyhow::Result;
use scoreprobe_core::state::{read_shards, StateKind};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The state files of every shard of one run, in any order.
    #[arg(required = true)]
    states: Vec<PathBuf>,
    /// Print JSON (as the unsharded command's --json) instead of its text.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<()> {
    let set = read_shards(&a.states)?;
    match set.kind {
        StateKind::SiemProjection | StateKind::SiemParticle => super::siem::print_merged(&set, a.json),
        StateKind::MetricsFd | StateKind::MetricsPoints => super::metrics::print_merged(&set, a.json),
        StateKind::Hodge => super::hodge::print_merged(&set, a.json),
        StateKind::Bounds => super::bounds::print_merged(&set, a.json),
        StateKind::Sample => super::sample::print_merged(&set, a.json),
    }
}
