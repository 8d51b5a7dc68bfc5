//! Paired differences between adjacent checkpoints: comparing checkpoints is what the cheap
//! metrics are for, and every model of a study is measured on the same random numbers, so the
//! difference of two models' values is known far better than either value.
//!
//! The SE of a difference comes, in order of preference, from
//! - the records' per-unit values (SIEM: per-trajectory sums or the projection form's
//!   leave-one-out values, [`PairedUnits`](crate::metric::PairedUnits)): a paired SE within one run;
//! - the records' own SEs combined as if independent (unpaired, conservative under common
//!   random numbers).
//!
//! (Replicate runs with other seeds, which would give the references' paired SEs, are not here yet.)

use crate::cache::ModelResults;
use crate::metric::MetricId;
use crate::models::{ModelEntry, ModelGroup};
use crate::runner::StudyResults;
use serde::Serialize;
use std::fmt;

/// Where a difference's SE comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeSource {
    PairedUnits,
    Unpaired,
}

impl fmt::Display for SeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            SeSource::PairedUnits => "paired (units)",
            SeSource::Unpaired => "unpaired",
        })
    }
}

/// value(to) − value(from) for two checkpoints adjacent in training order.
#[derive(Clone, Debug, Serialize)]
pub struct PairedDifference {
    pub metric: MetricId,
    pub from: String,
    pub to: String,
    pub difference: f64,
    pub se: Option<f64>,
    pub se_source: Option<SeSource>,
}

impl PairedDifference {
    /// difference / SE.
    pub fn z(&self) -> Option<f64> {
        self.se.filter(|s| *s > 0.0).map(|s| self.difference / s)
    }
}

/// The checkpoints' row indices in training order.
fn checkpoints(rows: &[(ModelEntry, ModelResults)]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].0.group == ModelGroup::Checkpoint).collect();
    idx.sort_by(|&a, &b| rows[a].0.step.partial_cmp(&rows[b].0.step).unwrap_or(std::cmp::Ordering::Equal));
    idx
}

/// Every metric's differences between adjacent checkpoints.
pub fn adjacent_checkpoints(results: &StudyResults, metrics: &[MetricId]) -> Vec<PairedDifference> {
    let rows = &results.rows;
    let idx = checkpoints(rows);
    let mut out = vec![];
    for &m in metrics {
        for w in idx.windows(2) {
            let (a, b) = (w[0], w[1]);
            let (Some(ra), Some(rb)) = (rows[a].1.get(m), rows[b].1.get(m)) else { continue };
            let units = ra
                .details
                .siem()
                .and_then(|d| d.paired.as_ref())
                .zip(rb.details.siem().and_then(|d| d.paired.as_ref()));
            let (se, source) = if let Some(se) = units.and_then(|(ua, ub)| ub.paired_se(ua)) {
                (Some(se), Some(SeSource::PairedUnits))
            } else if let (Some(sa), Some(sb)) = (ra.se, rb.se) {
                (Some((sa * sa + sb * sb).sqrt()), Some(SeSource::Unpaired))
            } else {
                (None, None)
            };
            out.push(PairedDifference {
                metric: m,
                from: rows[a].0.name.clone(),
                to: rows[b].0.name.clone(),
                difference: rb.value - ra.value,
                se,
                se_source: source,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::{PairedUnits, SiemDetails, TestFnDetails, UnitKind};
    use crate::models::ModelSource;
    use crate::record::{Details, Record};
    use scoreprobe_core::spec::ModelSpec;
    use scoreprobe_siem::SiemForm;

    fn siem(value: f64, units: Vec<f64>) -> Record {
        let details = SiemDetails {
            form: SiemForm::Particle,
            window: "0..9".into(),
            nfe_full: 10,
            error_field: None,
            test_fn: TestFnDetails {
                kind: "gaussian".into(),
                bandwidth_rule: "fixed".into(),
                bandwidths: vec![1.0],
                centers: vec![vec![0.0]],
                centers_hash: String::new(),
                test_seed: None,
                k: 1,
            },
            profile: vec![],
            empirical_qv: None,
            source: serde_json::Value::Null,
            paired: Some(PairedUnits { kind: UnitKind::Trajectories, values: units }),
        };
        Record { value, se: Some(1.0), nfe: None, seconds: 0.0, details: Details::Siem(details) }
    }

    fn row(name: &str, step: f64, rec: Record) -> (ModelEntry, ModelResults) {
        let e = ModelEntry {
            name: name.into(),
            group: ModelGroup::Checkpoint,
            step: Some(step),
            source: ModelSource::Synthetic { model: ModelSpec::Exact },
        };
        (e, ModelResults { fingerprint: String::new(), metrics: [(MetricId::Siem, rec)].into_iter().collect() })
    }

    #[test]
    fn adjacent_checkpoints_are_paired_by_their_units_in_training_order() {
        // trajectory sums that move together: the difference is constant, its paired SE tiny
        let u1: Vec<f64> = (0..10).map(|i| i as f64).collect();
        let u2: Vec<f64> = u1.iter().map(|v| v + 0.5 + 0.01 * (v % 2.0)).collect();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let results = StudyResults {
            // listed out of order: the later checkpoint first
            rows: vec![row("late", 2.0, siem(mean(&u2), u2.clone())), row("early", 1.0, siem(mean(&u1), u1.clone()))],
            ..Default::default()
        };
        let d = adjacent_checkpoints(&results, &[MetricId::Siem]);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].from.as_str(), d[0].to.as_str()), ("early", "late"));
        assert!((d[0].difference - 0.505).abs() < 1e-12);
        assert_eq!(d[0].se_source, Some(SeSource::PairedUnits));
        // sd of the differences (0.5, 0.51 alternating) / √10, far below the unpaired √2
        let se = d[0].se.unwrap();
        assert!(se < 0.01 && se > 0.0, "{se}");
        assert!(d[0].z().unwrap() > 100.0);
    }
}
