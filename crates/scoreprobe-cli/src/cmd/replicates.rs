//! `scoreprobe replicates STUDY_DIR... --out DIR`: replicate studies (same models and settings,
//! different seeds) combined into means with between-replicate SEs and rank agreement with CIs.

use crate::io::print_text;
use anyhow::Result;
use scoreprobe_study::report::replicates;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Folders written by `scoreprobe study` with the same models and settings and distinct
    /// `--seed`s (at least 2).
    #[arg(required = true, num_args = 2..)]
    studies: Vec<PathBuf>,
    /// Folder for replicates.json and replicates.md.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let combined = replicates::combine(&a.studies)?;
    let written = replicates::write(&combined, &a.out)?;
    print_text(&replicates::markdown(&combined));
    print_text(&format!("wrote {}", written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")));
    Ok(())
}
