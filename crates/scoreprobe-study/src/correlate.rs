//! Rank correlations between cheap signals and references across models, with bootstrap CIs
//! (computed by scoreprobe-metrics; this module only selects and pairs the columns).

use crate::cache::ModelResults;
use crate::models::ModelEntry;
use scoreprobe_metrics::{kendall_ci, pearson_ci, spearman_ci, BootstrapOptions, Correlation};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Interval {
    pub value: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

impl From<Correlation> for Interval {
    fn from(c: Correlation) -> Self {
        Interval { value: c.value, ci_low: c.ci_low, ci_high: c.ci_high }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct PairCorrelation {
    pub cheap: String,
    pub reference: String,
    /// Which models: `all` or one group (`checkpoint`, `gradient`, …).
    pub subset: String,
    pub n: usize,
    pub spearman: Interval,
    pub kendall: Interval,
    pub pearson: Interval,
}

/// The models of a subset having both metrics, as (x, y) columns.
pub fn columns(
    rows: &[(ModelEntry, ModelResults)],
    x: &str,
    y: &str,
    subset: &dyn Fn(&ModelEntry) -> bool,
) -> (Vec<f64>, Vec<f64>) {
    rows.iter()
        .filter(|(e, _)| subset(e))
        .filter_map(|(_, r)| {
            let (a, b) = (r.metrics.get(x)?, r.metrics.get(y)?);
            (a.value.is_finite() && b.value.is_finite()).then_some((a.value, b.value))
        })
        .unzip()
}

/// Correlation of every cheap metric with every reference on `subset`; pairs with fewer than 3
/// models (or a constant column) are left out.
pub fn correlate(
    rows: &[(ModelEntry, ModelResults)],
    cheap: &[String],
    references: &[String],
    subset_name: &str,
    subset: &dyn Fn(&ModelEntry) -> bool,
    seed: u64,
) -> Vec<PairCorrelation> {
    let opts = BootstrapOptions { seed, ..Default::default() };
    let mut out = vec![];
    for c in cheap {
        for r in references {
            let (x, y) = columns(rows, c, r, subset);
            let (Ok(s), Ok(k), Ok(p)) =
                (spearman_ci(&x, &y, &opts), kendall_ci(&x, &y, &opts), pearson_ci(&x, &y, &opts))
            else {
                continue;
            };
            if !s.value.is_finite() {
                continue;
            }
            out.push(PairCorrelation {
                cheap: c.clone(),
                reference: r.clone(),
                subset: subset_name.into(),
                n: x.len(),
                spearman: s.into(),
                kendall: k.into(),
                pearson: p.into(),
            });
        }
    }
    out
}
