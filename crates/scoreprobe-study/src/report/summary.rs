//! What a study's report says: claims, correlations, costs and paired differences.

use super::claims::{claims, Claim};
use super::columns::{columns_of, correlations, mean_cost, Columns, CostRow};
use super::paired::{adjacent_checkpoints, PairedDifference};
use crate::correlate::PairCorrelation;
use crate::metric::{MetricId, Role};
use crate::runner::StudyResults;
use crate::settings::StudySettings;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Summary {
    pub claims: Vec<Claim>,
    pub correlations: Vec<PairCorrelation>,
    pub cost: Vec<CostRow>,
    /// Differences between adjacent checkpoints with their (paired) standard errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paired: Vec<PairedDifference>,
}

/// The columns, correlations, claims, costs and paired differences of a study's results.
pub(super) fn summarise(results: &StudyResults, settings: &StudySettings) -> (Summary, Columns) {
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
    (summary, cols)
}
