//! The report's columns and the numbers every section reads: correlations, costs (a leaf of the
//! report, below the claims, the summary and every renderer).

use crate::cache::ModelResults;
use crate::correlate::{correlate, PairCorrelation, Subset};
use crate::metric::{MetricId, Role};
use crate::models::{ModelEntry, ModelGroup};
use crate::runner::StudyResults;
use serde::Serialize;
use std::collections::BTreeSet;

#[derive(Clone, Debug, Serialize)]
pub struct CostRow {
    pub metric: MetricId,
    pub mean_seconds: f64,
    pub mean_nfe: Option<f64>,
}

/// The metrics of a role that some model has a value for (or failed on), in registry order.
pub(super) fn columns_of(results: &StudyResults, role: Role) -> Vec<MetricId> {
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
pub(super) fn correlations(
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

pub(super) fn find(
    c: &[PairCorrelation],
    cheap: MetricId,
    reference: MetricId,
    subset: Subset,
) -> Option<&PairCorrelation> {
    c.iter().find(|p| p.cheap == cheap && p.reference == reference && p.subset == subset)
}

pub(super) fn fmt_rho(p: &PairCorrelation) -> String {
    format!("ρ = {:.3} [{:.2}, {:.2}] (n = {})", p.spearman.value, p.spearman.ci_low, p.spearman.ci_high, p.n)
}

/// Mean seconds and NFE of a metric over the models that have it.
pub(super) fn mean_cost(rows: &[(ModelEntry, ModelResults)], metric: MetricId) -> Option<CostRow> {
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

/// A metric's mean seconds and NFE as percentages of FD's, whose record holds the whole pipeline
/// a checkpoint's FD costs (sampling, features, the statistic): the cost SIEM is meant to save.
/// `fd` is FD's (seconds, NFE); None where the study has no FD column.
pub(super) fn percent_of_fd(fd: Option<(f64, Option<f64>)>, seconds: f64, nfe: Option<f64>) -> (String, String) {
    let pct = |part: Option<f64>, whole: Option<f64>| match (part, whole) {
        (Some(p), Some(w)) if w > 0.0 => format!("{:.1} %", 100.0 * p / w),
        _ => "–".into(),
    };
    match fd {
        Some((fd_seconds, fd_nfe)) => (pct(Some(seconds), Some(fd_seconds)), pct(nfe, fd_nfe)),
        None => ("–".into(), "–".into()),
    }
}

/// The report's metric columns: the cheap signals, then the references.
pub(crate) struct Columns {
    pub cheap: Vec<MetricId>,
    pub refs: Vec<MetricId>,
    pub all: Vec<MetricId>,
}

#[cfg(test)]
mod tests {
    use super::percent_of_fd;

    #[test]
    fn shares_of_fd_are_percentages_of_its_seconds_and_nfe() {
        let fd = Some((200.0, Some(100.0)));
        assert_eq!(percent_of_fd(fd, 5.0, Some(10.0)), ("2.5 %".to_string(), "10.0 %".to_string()));
        // no NFE recorded, no FD column, or an FD without NFE: a dash, never a made-up share
        assert_eq!(percent_of_fd(fd, 5.0, None).1, "–");
        assert_eq!(percent_of_fd(None, 5.0, Some(10.0)), ("–".to_string(), "–".to_string()));
        assert_eq!(percent_of_fd(Some((200.0, None)), 5.0, Some(10.0)).1, "–");
    }
}
