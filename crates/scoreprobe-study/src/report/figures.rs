//! The report's figures: each cheap metric against each reference (Spearman ρ in the title),
//! every metric along training, and SIEM's per-step profiles.

use super::{find, groups, Columns};
use crate::correlate::{columns, PairCorrelation, Subset};
use crate::error::StudyError;
use crate::metric::MetricId;
use crate::models::ModelGroup;
use crate::plot::{self, Figure, Series};
use crate::runner::StudyResults;
use std::path::{Path, PathBuf};

/// The figures drawn (title, path without extension), and why some or all were not.
pub(super) struct Figures {
    pub drawn: Vec<(String, PathBuf)>,
    pub note: Option<String>,
}

/// Draws every figure under `out/figures`; a figure that cannot be drawn leaves a note, never an error.
pub(super) fn draw(
    out: &Path,
    results: &StudyResults,
    cols: &Columns,
    corr: &[PairCorrelation],
) -> Result<Figures, StudyError> {
    let dir = out.join("figures");
    std::fs::create_dir_all(&dir).map_err(|e| StudyError::Write { path: dir.clone(), source: e.into() })?;
    let mut figs = Figures { drawn: vec![], note: plot::unavailable() };
    if figs.note.is_none() {
        scatter(&dir, results, cols, corr, &mut figs);
        along_training(&dir, results, &cols.all, &mut figs);
        siem_profiles(&dir, results, &mut figs);
    }
    Ok(figs)
}

/// Each cheap metric against each reference, one series per model group.
fn scatter(dir: &Path, results: &StudyResults, cols: &Columns, corr: &[PairCorrelation], figs: &mut Figures) {
    let rows = &results.rows;
    for &c in &cols.cheap {
        for &r in &cols.refs {
            let Some(p) = find(corr, c, r, Subset::All) else { continue };
            let series: Vec<Series> = groups(rows)
                .into_iter()
                .filter_map(|g| {
                    let (x, y) = columns(rows, c, r, Subset::Group(g));
                    (!x.is_empty()).then(|| Series { label: g.to_string(), points: x.into_iter().zip(y).collect() })
                })
                .collect();
            let title = format!("{c} vs {r}: Spearman ρ = {:.3}", p.spearman.value);
            let stem = dir.join(format!("{c}-vs-{r}"));
            let (x_label, y_label) = (c.to_string(), r.to_string());
            let fig = Figure {
                title: &title,
                x_label: &x_label,
                y_label: &y_label,
                series: &series,
                lines: false,
                log_y: false,
            };
            match plot::save(&fig, &stem) {
                Ok(_) => figs.drawn.push((title, stem)),
                Err(e) => figs.note = Some(e.to_string()),
            }
        }
    }
}

/// Every metric against the training step of the checkpoints (log scale).
fn along_training(dir: &Path, results: &StudyResults, metrics: &[MetricId], figs: &mut Figures) {
    let ckpts: Vec<_> =
        results.rows.iter().filter(|(e, _)| e.group == ModelGroup::Checkpoint && e.step.is_some()).collect();
    if ckpts.len() < 2 {
        return;
    }
    let series: Vec<Series> = metrics
        .iter()
        .filter_map(|&m| {
            let pts: Vec<(f64, f64)> = ckpts.iter().filter_map(|(e, r)| Some((e.step?, r.get(m)?.value))).collect();
            (!pts.is_empty()).then(|| Series { label: m.to_string(), points: pts })
        })
        .collect();
    let stem = dir.join("metrics-vs-step");
    let title = "every metric along training (log scale)";
    let fig = Figure { title, x_label: "training step", y_label: "value", series: &series, lines: true, log_y: true };
    if plot::save(&fig, &stem).is_ok() {
        figs.drawn.push((title.into(), stem));
    }
}

/// The full-window oracle SIEM's integrand β(t)² E[(ê·∇φ)²] per step, one line per model.
fn siem_profiles(dir: &Path, results: &StudyResults, figs: &mut Figures) {
    let series: Vec<Series> = results
        .rows
        .iter()
        .filter_map(|(e, r)| {
            let prof = &r.get(MetricId::Siem)?.details.siem()?.profile;
            Some(Series { label: e.name.clone(), points: prof.iter().map(|p| (p.t, p.beta2 * p.mean_sq)).collect() })
        })
        .collect();
    if series.is_empty() {
        return;
    }
    let stem = dir.join("siem-profiles");
    let title = "SIEM integrand β(t)² E[(ê·∇φ)²] along sampling";
    let fig = Figure { title, x_label: "t", y_label: "integrand", series: &series, lines: true, log_y: true };
    if plot::save(&fig, &stem).is_ok() {
        figs.drawn.push((title.into(), stem));
    }
}
