//! Study outputs: the metrics table (`metrics.csv`, `metrics.json`), the correlations, claims and
//! costs (`correlations.json`), figures, and `report.md` that embeds them.

mod claims;
mod figures;
mod markdown;
pub mod paired;
mod tables;

pub use claims::{claims, Claim, ClaimStatus};
pub use paired::{adjacent_checkpoints, PairedDifference, SeSource};

use crate::cache::ModelResults;
use crate::correlate::{correlate, PairCorrelation, Subset};
use crate::error::StudyError;
use crate::metric::{MetricId, Role};
use crate::models::{ModelEntry, ModelGroup};
use crate::runner::{StudyResults, StudySettings};
use scoreprobe_core::fsio::write_atomic;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

#[derive(Serialize)]
pub struct Summary {
    pub claims: Vec<Claim>,
    pub correlations: Vec<PairCorrelation>,
    pub cost: Vec<CostRow>,
    /// Differences between adjacent checkpoints with their (paired) standard errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paired: Vec<PairedDifference>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CostRow {
    pub metric: MetricId,
    pub mean_seconds: f64,
    pub mean_nfe: Option<f64>,
}

/// The metrics of a role that some model has a value for (or failed on), in registry order.
fn columns_of(results: &StudyResults, role: Role) -> Vec<MetricId> {
    MetricId::all()
        .iter()
        .copied()
        .filter(|m| m.role() == role)
        .filter(|m| {
            results.rows.iter().any(|(_, r)| r.metrics.contains_key(m)) || results.failed.iter().any(|f| f.metric == *m)
        })
        .collect()
}

/// The groups present, in report order.
fn groups(rows: &[(ModelEntry, ModelResults)]) -> BTreeSet<ModelGroup> {
    rows.iter().map(|(e, _)| e.group).collect()
}

/// Every cheap metric against every reference, over all models and within each group.
fn correlations(
    rows: &[(ModelEntry, ModelResults)],
    cheap: &[MetricId],
    refs: &[MetricId],
    seed: u64,
) -> Vec<PairCorrelation> {
    let mut corr = correlate(rows, cheap, refs, Subset::All, seed);
    for g in groups(rows) {
        corr.extend(correlate(rows, cheap, refs, Subset::Group(g), seed));
    }
    corr
}

fn find(c: &[PairCorrelation], cheap: MetricId, reference: MetricId, subset: Subset) -> Option<&PairCorrelation> {
    c.iter().find(|p| p.cheap == cheap && p.reference == reference && p.subset == subset)
}

fn fmt_rho(p: &PairCorrelation) -> String {
    format!("ρ = {:.3} [{:.2}, {:.2}] (n = {})", p.spearman.value, p.spearman.ci_low, p.spearman.ci_high, p.n)
}

/// Mean seconds and NFE of a metric over the models that have it.
fn mean_cost(rows: &[(ModelEntry, ModelResults)], metric: MetricId) -> Option<CostRow> {
    let recs: Vec<_> = rows.iter().filter_map(|(_, r)| r.get(metric)).collect();
    if recs.is_empty() {
        return None;
    }
    let n = recs.len() as f64;
    let nfes: Vec<f64> = recs.iter().filter_map(|r| r.nfe).collect();
    Some(CostRow {
        metric,
        mean_seconds: recs.iter().map(|r| r.seconds).sum::<f64>() / n,
        mean_nfe: (!nfes.is_empty()).then(|| nfes.iter().sum::<f64>() / nfes.len() as f64),
    })
}

/// Writes `text` to `out/name` atomically.
fn write_file(out: &Path, name: &str, text: &str) -> Result<(), StudyError> {
    let path = out.join(name);
    write_atomic(&path, text.as_bytes()).map_err(|e| StudyError::Write { path, source: e.into() })
}

/// The report's metric columns: the cheap signals, then the references.
pub(crate) struct Columns {
    pub cheap: Vec<MetricId>,
    pub refs: Vec<MetricId>,
    pub all: Vec<MetricId>,
}

/// Writes metrics.csv, metrics.json, correlations.json, figures and report.md under `out`.
pub fn write(
    out: &Path,
    title: &str,
    command: &str,
    results: &StudyResults,
    settings: &StudySettings,
) -> Result<Summary, StudyError> {
    let rows = &results.rows;
    let cheap = columns_of(results, Role::Cheap);
    let refs = columns_of(results, Role::Reference);
    let all: Vec<MetricId> = cheap.iter().chain(&refs).copied().collect();
    let cols = Columns { cheap, refs, all };
    let correlations = correlations(rows, &cols.cheap, &cols.refs, settings.seed);
    let summary = Summary {
        claims: claims(results, &correlations, settings),
        cost: cols.all.iter().filter_map(|m| mean_cost(rows, *m)).collect(),
        paired: adjacent_checkpoints(results, &cols.all),
        correlations,
    };
    write_file(out, "metrics.csv", &tables::csv(results, &cols.all))?;
    write_file(out, "metrics.json", &tables::json(results, settings)?)?;
    let text =
        serde_json::to_string_pretty(&summary).map_err(|source| StudyError::Json { what: "the summary", source })?;
    write_file(out, "correlations.json", &text)?;
    let figures = figures::draw(out, results, &cols, &summary.correlations)?;
    write_file(out, "report.md", &markdown::report(out, title, command, results, settings, &summary, &cols, &figures))?;
    Ok(summary)
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
