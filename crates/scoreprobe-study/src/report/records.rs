//! A finished study's records read back for `scoreprobe report`: `metrics.json` (every model with
//! its records, the settings, what did not apply and what failed) and `provenance.json`. A file
//! that cannot be read back is an error naming it and why; nothing is guessed.

use super::provenance::Provenance;
use crate::cache::ModelResults;
use crate::error::StudyError;
use crate::metric::{MetricId, Reason};
use crate::models::{ModelEntry, ModelGroup, ModelSource};
use crate::record::StoredRecord;
use crate::runner::{Failure, NotApplicable, StudyResults};
use crate::settings::StudySettings;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Deserialize)]
struct Table {
    settings: StudySettings,
    models: Vec<Model>,
    #[serde(default)]
    skipped: Vec<(String, MetricId, String)>,
    #[serde(default)]
    failed: Vec<(String, MetricId, String)>,
}

#[derive(Deserialize)]
struct Model {
    name: String,
    group: ModelGroup,
    step: Option<f64>,
    source: ModelSource,
    metrics: BTreeMap<MetricId, StoredRecord>,
}

/// The results and settings of `metrics.json`.
pub(super) fn read_table(path: &Path, text: &str) -> Result<(StudyResults, StudySettings), StudyError> {
    let bad = |message: String| StudyError::Input { path: path.to_path_buf(), message };
    let table: Table = serde_json::from_str(text).map_err(|e| {
        let why = if e.is_eof() { "truncated" } else { "not the metrics table `scoreprobe study` writes" };
        bad(format!("{why}: {e}"))
    })?;
    if table.models.is_empty() {
        return Err(bad("no models".into()));
    }
    let mut results = StudyResults::default();
    for m in table.models {
        let mut metrics = BTreeMap::new();
        for (id, rec) in m.metrics {
            let rec = rec.decode(id).map_err(|e| bad(format!("model '{}', metric {id}: {e}", m.name)))?;
            metrics.insert(id, rec);
        }
        let entry = ModelEntry { name: m.name, group: m.group, step: m.step, source: m.source };
        results.rows.push((entry, ModelResults { fingerprint: String::new(), metrics }));
    }
    crate::models::check_names(&results.rows.iter().map(|(e, _)| e.clone()).collect::<Vec<_>>())
        .map_err(|e| bad(e.to_string()))?;
    results.not_applicable = table
        .skipped
        .into_iter()
        .map(|(model, metric, why)| NotApplicable { model, metric, reason: Reason::Recorded(why) })
        .collect();
    results.failed = table.failed.into_iter().map(|(model, metric, cause)| Failure { model, metric, cause }).collect();
    Ok((results, table.settings))
}

pub(super) fn read(path: &Path) -> Result<(StudyResults, StudySettings), StudyError> {
    read_table(path, &super::view::read(path)?)
}

/// `provenance.json`, if the study wrote one (studies of earlier versions did not).
pub(super) fn provenance(dir: &Path) -> Result<Option<Provenance>, StudyError> {
    let path = dir.join("provenance.json");
    if !path.exists() {
        return Ok(None);
    }
    let text = super::view::read(&path)?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| StudyError::Input { path, message: format!("not the provenance `scoreprobe study` writes: {e}") })
}

/// Title and command from `report.md` when there is no `provenance.json`.
pub(super) fn title_and_command(dir: &Path) -> (String, String) {
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap_or_default();
    let (title, command, _) = super::view::markdown_header(&md);
    (title, command)
}
