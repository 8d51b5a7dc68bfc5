//! `scoreprobe report STUDY_DIR`: rebuilds a finished study's report from its records.

use crate::io::print_text;
use anyhow::Result;
use scoreprobe_study::report;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A folder written by `scoreprobe study` (its metrics.json, provenance.json, samples/*.png and
    /// monitor.jsonl are read; a folder of an earlier version with only metrics.csv and
    /// correlations.json gets report.html alone).
    study_dir: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let rebuilt = report::rebuild(&a.study_dir)?;
    if let Some(summary) = &rebuilt.summary {
        print_text(&report::terminal_summary(summary));
    } else {
        print_text("no metrics.json (a study of an earlier version): report.html rebuilt from metrics.csv and correlations.json");
    }
    print_text(&format!(
        "wrote {} files, among them {}",
        rebuilt.written.len(),
        a.study_dir.join("report.html").display()
    ));
    Ok(())
}
