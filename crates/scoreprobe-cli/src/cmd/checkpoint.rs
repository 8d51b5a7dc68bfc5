//! `scoreprobe checkpoint slim CKPT... --out DIR`: sampling-only copies of checkpoints.

use crate::io::print_text;
use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Copy checkpoints keeping only the weights a sampler loads (EMA where present): a quarter of
    /// the size, read by sample/siem/study as the originals are; `train --resume` refuses them.
    Slim {
        /// Checkpoints (either file of a ckpt-<step> pair).
        #[arg(required = true)]
        checkpoints: Vec<PathBuf>,
        /// Folder the copies are written to (same file names).
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(a: Args) -> Result<()> {
    match a.action {
        Action::Slim { checkpoints, out } => {
            for path in &checkpoints {
                let (w, _) = scoreprobe_nn::checkpoint::slim(path, &out)
                    .with_context(|| format!("checkpoint slim {}", path.display()))?;
                let size = std::fs::metadata(&w).map(|m| m.len()).unwrap_or(0);
                print_text(&format!("{} ({:.1} MB)", w.display(), size as f64 / 1e6));
            }
            Ok(())
        }
    }
}
