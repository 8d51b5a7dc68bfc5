//! `report.md`: one function per section, in the order they appear.

use super::columns::{percent_of_fd, Columns};
use super::figures::Figures;
use super::summary::Summary;
use super::view::settings_sentence;
use crate::metric::MetricId;
use crate::record::Details;
use crate::runner::StudyResults;
use crate::settings::StudySettings;
use std::fmt::Write as _;

/// The whole report.
#[allow(clippy::too_many_arguments)]
pub(super) fn report(
    title: &str,
    command: &str,
    results: &StudyResults,
    settings: &StudySettings,
    summary: &Summary,
    cols: &Columns,
    figures: &Figures,
) -> String {
    let mut md = String::new();
    header(&mut md, title, command, settings);
    claims(&mut md, summary);
    metrics_table(&mut md, results, &cols.all);
    correlations(&mut md, summary);
    paired(&mut md, summary);
    cost(&mut md, summary);
    floors(&mut md, results);
    failed(&mut md, results);
    not_applicable(&mut md, results);
    figure_links(&mut md, figures);
    definitions(&mut md);
    md
}

/// A table value with four significant digits: fixed point in [1e-3, 1e5), else scientific
/// (FD in MNIST-CNN units is ~1e6, a windowed SIEM ~1e-5).
fn fmt_value(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || (1e-3..1e5).contains(&a) {
        format!("{v:.4}")
    } else {
        format!("{v:.4e}")
    }
}

fn header(md: &mut String, title: &str, command: &str, settings: &StudySettings) {
    let _ = writeln!(md, "# {title}\n\nRegenerate with:\n\n```sh\n{command}\n```\n");
    let _ = writeln!(md, "{}\n", settings_sentence(settings));
    let _ = writeln!(
        md,
        "The same report as one self-contained page (figures with hover values, no network): [report.html](report.html).\n"
    );
}

fn claims(md: &mut String, summary: &Summary) {
    let _ = writeln!(md, "## Claims (SPEC §9)\n\n| # | claim | status | evidence |\n|---|---|---|---|");
    for c in &summary.claims {
        let _ = writeln!(md, "| {} | {} | **{}** | {} |", c.id, c.statement, c.status, c.evidence);
    }
}

/// One row per model, one column per metric: the value, `failed`, or `–` (not run or not applicable).
fn metrics_table(md: &mut String, results: &StudyResults, metrics: &[MetricId]) {
    let _ = writeln!(md, "\n## Models and metrics\n");
    let _ = write!(md, "| model | group | step/λ |");
    for m in metrics {
        let _ = write!(md, " {m} |");
    }
    let _ = write!(md, "\n|---|---|---|");
    for _ in metrics {
        md.push_str("---|");
    }
    md.push('\n');
    for (e, r) in &results.rows {
        let _ = write!(md, "| {} | {} | {} |", e.name, e.group, e.step.map_or("".into(), |s| format!("{s}")));
        for &m in metrics {
            let cell = match (r.get(m), results.failure(&e.name, m)) {
                (Some(v), _) => fmt_value(v.value),
                (None, Some(_)) => "**failed**".into(),
                (None, None) => "–".into(),
            };
            let _ = write!(md, " {cell} |");
        }
        md.push('\n');
    }
}

fn correlations(md: &mut String, summary: &Summary) {
    let _ = writeln!(md, "\n## Rank correlations (Spearman with 95% bootstrap CI; Kendall τ-b)\n\n| cheap | reference | models | n | Spearman ρ [CI] | Kendall τ |\n|---|---|---|---|---|---|");
    for p in &summary.correlations {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.3} [{:.2}, {:.2}] | {:.3} |",
            p.cheap,
            p.reference,
            p.subset,
            p.n,
            p.spearman.value,
            p.spearman.ci_low,
            p.spearman.ci_high,
            p.kendall.value
        );
    }
}

/// Adjacent checkpoints: Δ = later − earlier with its SE and z (negative: the later is better).
fn paired(md: &mut String, summary: &Summary) {
    if summary.paired.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\n## Adjacent checkpoints (paired differences)\n\nΔ = value(later) − value(earlier) (negative: the later checkpoint is better). Every model is measured on the same random numbers; SE from: paired (units) = over the run's units (SIEM: trajectories, or the projection form's leave-one-draw-out jackknife, conservative), unpaired = the two SEs combined as if independent. |z| ≥ 2 resolves the step.\n\n| metric | from | to | Δ | SE | SE from | z |\n|---|---|---|---|---|---|---|"
    );
    for d in &summary.paired {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            d.metric,
            d.from,
            d.to,
            fmt_value(d.difference),
            d.se.map_or("–".into(), |s| format!("{s:.3e}")),
            d.se_source.map_or("–".into(), |s| s.to_string()),
            d.z().map_or("–".into(), |z| format!("{z:.1}"))
        );
    }
}

fn cost(md: &mut String, summary: &Summary) {
    let _ = writeln!(
        md,
        "\n## Cost per model\n\nFD's cost is its whole pipeline (sampling, features, the statistic).\n\n\
         | metric | role | mean seconds | mean NFE per sample | seconds vs FD | NFE vs FD |\n|---|---|---|---|---|---|"
    );
    let fd = summary.cost.iter().find(|c| c.metric == MetricId::Fd).map(|c| (c.mean_seconds, c.mean_nfe));
    for c in &summary.cost {
        let (sec_pct, nfe_pct) = percent_of_fd(fd, c.mean_seconds, c.mean_nfe);
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} | {} | {sec_pct} | {nfe_pct} |",
            c.metric,
            c.metric.role(),
            c.mean_seconds,
            c.mean_nfe.map_or("–".into(), |v| format!("{v:.0}"))
        );
    }
}

/// The particle form's error fields with a floor (the classifier's): each value beside what the
/// same estimator reads with nothing to find, so a value inside its floor is not read as a signal.
fn floors(md: &mut String, results: &StudyResults) {
    let mut lines = vec![];
    for (entry, r) in &results.rows {
        for (id, rec) in &r.metrics {
            let Details::Siem(d) = &rec.details else { continue };
            let f = &d.source["floor"];
            let (Some(floor), Some(se), Some(excess), Some(excess_se)) =
                (f["siem"].as_f64(), f["siem_se"].as_f64(), f["excess"].as_f64(), f["excess_se"].as_f64())
            else {
                continue;
            };
            lines.push(format!(
                "| {} | {id} | {} | {} ± {} | {} ± {} | {:.1} |",
                entry.name,
                fmt_value(rec.value),
                fmt_value(floor),
                fmt_value(se),
                fmt_value(excess),
                fmt_value(excess_se),
                excess / excess_se
            ));
        }
    }
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\n## Floors of the fitted error fields\n\nThe same estimator run data against data (nothing to find): \
         a value is a signal only as far as it exceeds its floor (excess and its paired SE, conditional on \
         both fits).\n\n| model | metric | value | floor | excess | z |\n|---|---|---|---|---|---|"
    );
    for l in lines {
        let _ = writeln!(md, "{l}");
    }
}

fn failed(md: &mut String, results: &StudyResults) {
    if results.failed.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n## Metrics that failed\n");
    for f in &results.failed {
        let _ = writeln!(md, "- {} · {}: {}", f.model, f.metric, f.cause);
    }
}

fn not_applicable(md: &mut String, results: &StudyResults) {
    if results.not_applicable.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n## Metrics that did not apply\n");
    for s in &results.not_applicable {
        let _ = writeln!(md, "- {} · {}: {}", s.model, s.metric, s.reason);
    }
}

fn figure_links(md: &mut String, figures: &Figures) {
    let _ = writeln!(md, "\n## Figures\n");
    if let Some(note) = &figures.note {
        let _ = writeln!(md, "{note}\n");
    }
    for d in &figures.drawn {
        let ext = if d.png.is_some() { "png" } else { "svg" };
        let _ = writeln!(md, "![{}](figures/{}.{ext})\n", d.title, d.stem);
    }
}

fn definitions(md: &mut String) {
    let _ = writeln!(md, "\n## Metric definitions\n");
    for &m in MetricId::all() {
        let _ = writeln!(md, "- `{m}` ({}): {}", m.role(), m.doc());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_four_significant_digits_at_every_scale() {
        assert_eq!(fmt_value(0.0), "0.0000");
        assert_eq!(fmt_value(1.23456), "1.2346");
        assert_eq!(fmt_value(2.5e-5), "2.5000e-5");
        assert_eq!(fmt_value(1.5e6), "1.5000e6");
    }
}
