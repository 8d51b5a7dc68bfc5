//! Study outputs: the metrics table (`metrics.csv`, `metrics.json`), the correlations, claims and
//! costs (`correlations.json`), the provenance (`provenance.json`), figures, `report.md` that
//! links them and `report.html` that holds them all in one page. [`rebuild`] writes them again
//! from a finished study's records (`scoreprobe report`).

mod claims;
mod columns;
mod extras;
mod figures;
mod html;
mod markdown;
pub mod paired;
pub mod provenance;
mod records;
pub mod replicates;
mod summary;
mod tables;
mod view;

pub use claims::{claims, Claim, ClaimStatus};
pub use columns::CostRow;
pub use extras::monitor as read_monitor;
pub use figures::MonitorPoint;
pub use paired::{adjacent_checkpoints, PairedDifference, SeSource};
pub use provenance::Provenance;
pub use summary::Summary;

use columns::Columns;
use summary::summarise;

use crate::correlate::Subset;
use crate::error::StudyError;
use crate::runner::StudyResults;
use crate::settings::StudySettings;
use scoreprobe_core::fsio::write_atomic;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Files to write, all rendered before the first is written (a bad input writes nothing).
#[derive(Default)]
struct Files(Vec<(PathBuf, Vec<u8>)>);

impl Files {
    fn add(&mut self, path: PathBuf, bytes: impl Into<Vec<u8>>) {
        self.0.push((path, bytes.into()));
    }

    /// Writes every file atomically (temp file + rename): each is whole or absent.
    fn write(self) -> Result<Vec<PathBuf>, StudyError> {
        let mut written = vec![];
        for (path, bytes) in self.0 {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StudyError::Write { path: dir.to_path_buf(), source: e.into() })?;
            }
            write_atomic(&path, &bytes).map_err(|e| StudyError::Write { path: path.clone(), source: e.into() })?;
            written.push(path);
        }
        Ok(written)
    }
}

fn json<T: Serialize>(what: &'static str, value: &T) -> Result<String, StudyError> {
    serde_json::to_string_pretty(value).map_err(|source| StudyError::Json { what, source })
}

/// Writes metrics.csv, metrics.json, correlations.json, provenance.json, figures, report.md and
/// report.html under `out`.
pub fn write(
    out: &Path,
    title: &str,
    command: &str,
    results: &StudyResults,
    settings: &StudySettings,
    provenance: &Provenance,
) -> Result<Summary, StudyError> {
    let (summary, cols) = summarise(results, settings);
    let mut files = Files::default();
    files.add(out.join("metrics.json"), tables::json(results, settings)?);
    files.add(out.join("provenance.json"), json("the provenance", provenance)?);
    let page = Page { out, title, command, results, settings, summary: &summary, cols: &cols };
    page.render(Some(provenance), &html::Origin::Study, &mut files)?;
    files.write()?;
    Ok(summary)
}

/// A study's results with their summary, ready to be rendered.
struct Page<'a> {
    out: &'a Path,
    title: &'a str,
    command: &'a str,
    results: &'a StudyResults,
    settings: &'a StudySettings,
    summary: &'a Summary,
    cols: &'a Columns,
}

impl Page<'_> {
    /// metrics.csv, correlations.json, figures, report.md and report.html.
    fn render(&self, prov: Option<&Provenance>, origin: &html::Origin, files: &mut Files) -> Result<(), StudyError> {
        let out = self.out;
        files.add(out.join("metrics.csv"), tables::csv(self.results, &self.cols.all));
        files.add(out.join("correlations.json"), json("the summary", self.summary)?);
        let view = view::from_results(self.title, self.command, self.results, self.settings, self.summary, self.cols)?;
        let extras = extras::read(out, &view)?;
        let figures = figures::draw(&view, &extras.monitor, true);
        for d in &figures.drawn {
            let stem = out.join("figures").join(&d.stem);
            files.add(stem.with_extension("svg"), d.svg.clone());
            if let Some(png) = &d.png {
                files.add(stem.with_extension("png"), png.clone());
            }
        }
        let md =
            markdown::report(self.title, self.command, self.results, self.settings, self.summary, self.cols, &figures);
        files.add(out.join("report.md"), md);
        files.add(out.join("report.html"), html::render(&view, &figures, &extras.samples, prov, origin)?);
        Ok(())
    }
}

/// What `scoreprobe report` did.
#[derive(Debug)]
pub struct Rebuilt {
    pub written: Vec<PathBuf>,
    /// None for a study folder without `metrics.json` (only `report.html` is rebuilt there).
    pub summary: Option<Summary>,
}

/// Rebuilds a study's report from its records, recomputing no metric: from `metrics.json` (every
/// record, the models and the settings) the summary, figures, `report.md` and `report.html`; from a
/// folder of an earlier version holding only `metrics.csv` and `correlations.json`, `report.html`.
/// Every input is read and every output rendered before the first file is written.
pub fn rebuild(dir: &Path) -> Result<Rebuilt, StudyError> {
    let not_a_study = |message: &str| StudyError::NotAStudy { path: dir.to_path_buf(), message: message.into() };
    if !dir.is_dir() {
        return Err(not_a_study("no such folder"));
    }
    let at = provenance::utc(std::time::SystemTime::now());
    let origin = html::Origin::Rebuilt { at: &at };
    let mut files = Files::default();
    let summary = if dir.join("metrics.json").is_file() {
        let (results, settings) = records::read(&dir.join("metrics.json"))?;
        let prov = records::provenance(dir)?;
        let (title, command) = match &prov {
            Some(p) => (p.title.clone(), p.command.clone()),
            None => records::title_and_command(dir),
        };
        let (summary, cols) = summarise(&results, &settings);
        let page = Page {
            out: dir,
            title: &title,
            command: &command,
            results: &results,
            settings: &settings,
            summary: &summary,
            cols: &cols,
        };
        page.render(prov.as_ref(), &origin, &mut files)?;
        Some(summary)
    } else if dir.join("metrics.csv").is_file() && dir.join("correlations.json").is_file() {
        let view = view::from_files(dir)?;
        let extras = extras::read(dir, &view)?;
        let figures = figures::draw(&view, &extras.monitor, false);
        files.add(dir.join("report.html"), html::render(&view, &figures, &extras.samples, None, &origin)?);
        None
    } else if dir.join("cache").is_dir() {
        return Err(not_a_study(
            "it has cached records (cache/) but no metrics.json: the study did not finish; run the same \
             `scoreprobe study` command again (it resumes from the cache) to write it",
        ));
    } else {
        return Err(not_a_study(
            "no metrics.json (or metrics.csv with correlations.json), as `scoreprobe study` writes",
        ));
    };
    Ok(Rebuilt { written: files.write()?, summary })
}

/// A compact terminal summary: claims, then the main correlations, then what failed.
pub fn terminal_summary(summary: &Summary) -> String {
    let mut s = String::from("claims (SPEC §9):\n");
    for c in &summary.claims {
        let _ = writeln!(s, "  [{:>4}] ({}) {}\n         {}", c.status, c.id, c.statement, c.evidence);
    }
    s.push_str("Spearman ρ over all models:\n");
    for p in summary.correlations.iter().filter(|p| p.subset == Subset::All) {
        let _ = writeln!(
            s,
            "  {:<16} vs {:<9} {:>7.3} [{:.2}, {:.2}]",
            p.cheap.name(),
            p.reference.name(),
            p.spearman.value,
            p.spearman.ci_low,
            p.spearman.ci_high
        );
    }
    s
}
