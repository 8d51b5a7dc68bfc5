//! The metrics table as `metrics.csv` (one row per model, four columns per metric) and
//! `metrics.json` (every record with its details, what did not apply and what failed).

use crate::error::StudyError;
use crate::metric::MetricId;
use crate::runner::StudyResults;
use crate::settings::StudySettings;
use serde::Serialize;
use std::fmt::Write as _;

/// `name,group,step` then `m,m_se,m_nfe,m_seconds` per metric; empty cells where a model has no value.
pub(super) fn csv(results: &StudyResults, metrics: &[MetricId]) -> String {
    let mut csv = String::from("name,group,step");
    for m in metrics {
        let _ = write!(csv, ",{m},{m}_se,{m}_nfe,{m}_seconds");
    }
    csv.push('\n');
    for (e, r) in &results.rows {
        let _ = write!(csv, "{},{},{}", e.name, e.group, e.step.map_or(String::new(), |s| s.to_string()));
        for m in metrics {
            match r.get(*m) {
                Some(rec) => {
                    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6e}"));
                    let _ = write!(csv, ",{:.6e},{},{},{:.3}", rec.value, opt(rec.se), opt(rec.nfe), rec.seconds);
                }
                None => csv.push_str(",,,,"),
            }
        }
        csv.push('\n');
    }
    csv
}

/// Every model with its records, the settings, and the metrics that did not apply (`skipped`) or
/// failed, each as `[model, metric, why]`.
pub(super) fn json(results: &StudyResults, settings: &StudySettings) -> Result<String, StudyError> {
    #[derive(Serialize)]
    struct Model<'a> {
        name: &'a str,
        group: crate::models::ModelGroup,
        step: Option<f64>,
        source: &'a crate::models::ModelSource,
        metrics: &'a std::collections::BTreeMap<MetricId, crate::record::Record>,
    }
    #[derive(Serialize)]
    struct Table<'a> {
        settings: &'a StudySettings,
        models: Vec<Model<'a>>,
        skipped: Vec<(&'a str, MetricId, String)>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        failed: Vec<(&'a str, MetricId, &'a str)>,
    }
    let table = Table {
        settings,
        models: results
            .rows
            .iter()
            .map(|(e, r)| Model { name: &e.name, group: e.group, step: e.step, source: &e.source, metrics: &r.metrics })
            .collect(),
        skipped: results.not_applicable.iter().map(|s| (s.model.as_str(), s.metric, s.reason.to_string())).collect(),
        failed: results.failed.iter().map(|f| (f.model.as_str(), f.metric, f.cause.as_str())).collect(),
    };
    serde_json::to_string_pretty(&table).map_err(|source| StudyError::Json { what: "the metrics table", source })
}
