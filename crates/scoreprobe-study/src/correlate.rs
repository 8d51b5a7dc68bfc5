//! Rank correlations between cheap signals and references across models, with bootstrap CIs
//! (computed by scoreprobe-metrics; this module only selects and pairs the columns).

use crate::cache::ModelResults;
use crate::metric::MetricId;
use crate::models::{ModelEntry, ModelGroup};
use scoreprobe_metrics::{kendall_ci, pearson_ci, spearman_ci, BootstrapOptions, Correlation};
use serde::{Serialize, Serializer};
use std::fmt;

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

/// Which models a correlation is taken over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subset {
    All,
    Group(ModelGroup),
}

impl Subset {
    pub fn contains(self, e: &ModelEntry) -> bool {
        match self {
            Subset::All => true,
            Subset::Group(g) => e.group == g,
        }
    }
}

impl fmt::Display for Subset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subset::All => f.pad("all"),
            Subset::Group(g) => f.pad(g.name()),
        }
    }
}

/// Written as `all` or the group's name.
impl Serialize for Subset {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct PairCorrelation {
    pub cheap: MetricId,
    pub reference: MetricId,
    pub subset: Subset,
    pub n: usize,
    pub spearman: Interval,
    pub kendall: Interval,
    pub pearson: Interval,
}

/// The models of a subset having both metrics (finite), as (x, y) columns.
pub fn columns(rows: &[(ModelEntry, ModelResults)], x: MetricId, y: MetricId, subset: Subset) -> (Vec<f64>, Vec<f64>) {
    rows.iter()
        .filter(|(e, _)| subset.contains(e))
        .filter_map(|(_, r)| {
            let (a, b) = (r.get(x)?, r.get(y)?);
            (a.value.is_finite() && b.value.is_finite()).then_some((a.value, b.value))
        })
        .unzip()
}

/// Correlation of every cheap metric with every reference on `subset`; pairs with fewer than 3
/// models (or a constant column) are left out.
pub fn correlate(
    rows: &[(ModelEntry, ModelResults)],
    cheap: &[MetricId],
    references: &[MetricId],
    subset: Subset,
    seed: u64,
) -> Vec<PairCorrelation> {
    let opts = BootstrapOptions { seed, ..Default::default() };
    let mut out = vec![];
    for &c in cheap {
        for &r in references {
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
                cheap: c,
                reference: r,
                subset,
                n: x.len(),
                spearman: s.into(),
                kendall: k.into(),
                pearson: p.into(),
            });
        }
    }
    out
}
