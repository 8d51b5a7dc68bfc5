//! What the report shows, in one plain structure built either from a study's results (at the end of
//! `scoreprobe study`, or rebuilt from its `metrics.json`) or from the files of a study written
//! before `metrics.json` existed (`metrics.csv`, `correlations.json`, `report.md`). The figures and
//! `report.html` are drawn from this structure only, so both routes give the same page.

use super::columns::Columns;
use super::summary::Summary;
use crate::error::StudyError;
use crate::metric::{MetricId, Role};
use crate::record::Details;
use crate::runner::StudyResults;
use crate::settings::StudySettings;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::Path;

/// One metric's value on one model.
#[derive(Clone, Debug, PartialEq)]
pub struct Val {
    pub value: f64,
    pub se: Option<f64>,
    pub nfe: Option<f64>,
    pub seconds: f64,
}

#[derive(Clone, Debug)]
pub struct Row {
    pub name: String,
    pub group: String,
    pub step: Option<f64>,
    pub values: BTreeMap<MetricId, Val>,
}

/// A SIEM record's per-step integrand β(t)² E[(ê·∇φ)²] of one model.
pub struct Profile {
    pub model: String,
    pub points: Vec<(f64, f64)>,
}

/// JSON `null` (how serde_json writes NaN) read back as NaN.
fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

#[derive(Clone, Debug, Deserialize)]
pub struct ClaimView {
    pub id: u8,
    pub statement: String,
    /// `pass`, `fail` or `n/a`.
    pub status: String,
    pub evidence: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct IntervalView {
    #[serde(deserialize_with = "nan_if_null")]
    pub value: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub ci_low: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub ci_high: f64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct CorrelationView {
    pub cheap: MetricId,
    pub reference: MetricId,
    /// `all` or a group's name.
    pub subset: String,
    pub n: usize,
    pub spearman: IntervalView,
    pub kendall: IntervalView,
}

#[derive(Clone, Debug, Deserialize)]
pub struct CostView {
    pub metric: MetricId,
    pub mean_seconds: f64,
    pub mean_nfe: Option<f64>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PairedView {
    pub metric: MetricId,
    pub from: String,
    pub to: String,
    #[serde(deserialize_with = "nan_if_null")]
    pub difference: f64,
    pub se: Option<f64>,
    /// `paired_units` or `unpaired`.
    pub se_source: Option<String>,
}

impl PairedView {
    pub fn z(&self) -> Option<f64> {
        self.se.filter(|s| *s > 0.0).map(|s| self.difference / s)
    }
}

/// `correlations.json` as the page reads it.
#[derive(Clone, Debug, Deserialize)]
pub struct SummaryView {
    pub claims: Vec<ClaimView>,
    pub correlations: Vec<CorrelationView>,
    pub cost: Vec<CostView>,
    /// Absent in studies written before paired differences.
    #[serde(default)]
    pub paired: Vec<PairedView>,
}

/// Everything the figures and the page show.
pub struct View {
    pub title: String,
    pub command: String,
    /// The settings in one sentence (as in `report.md`).
    pub settings: String,
    pub seed: Option<u64>,
    pub rows: Vec<Row>,
    pub cheap: Vec<MetricId>,
    pub refs: Vec<MetricId>,
    pub summary: SummaryView,
    pub profiles: Vec<Profile>,
    /// `model · metric: why`.
    pub failed: Vec<String>,
    pub skipped: Vec<String>,
    /// Per metric: samples, trajectories or draws behind each value.
    pub n_per_metric: Vec<(MetricId, String)>,
    /// SIEM's test functions, per metric.
    pub test_functions: Vec<(MetricId, String)>,
}

impl View {
    pub fn metrics(&self) -> impl Iterator<Item = MetricId> + '_ {
        self.cheap.iter().chain(&self.refs).copied()
    }
}

/// The settings in one sentence (the report's header and the page's provenance footer).
pub(super) fn settings_sentence(settings: &StudySettings) -> String {
    format!(
        "Settings: n = {} samples/trajectories per model (projection-form SIEM: draws per window time), {} sampler steps ({}; SIEM trajectories: em) on [{}, 1], seed {}, SIEM test seed {}, high-noise window {}, {} SIEM centres (multi-centre variant and projection form). Every model is measured on the same random numbers, so differences between models are paired.",
        settings.n,
        settings.steps,
        settings.sampler.name(),
        settings.t_min,
        settings.seed,
        settings.test_seed,
        settings.high_noise_window(),
        settings.siem_centers
    )
}

/// The summary as the page reads it (the same JSON as `correlations.json`).
fn summary_view(summary: &Summary) -> Result<SummaryView, StudyError> {
    let value = serde_json::to_value(summary).map_err(|source| StudyError::Json { what: "the summary", source })?;
    serde_json::from_value(value).map_err(|source| StudyError::Json { what: "the summary", source })
}

/// The view of a study's results.
pub(super) fn from_results(
    title: &str,
    command: &str,
    results: &StudyResults,
    settings: &StudySettings,
    summary: &Summary,
    cols: &Columns,
) -> Result<View, StudyError> {
    let rows = results
        .rows
        .iter()
        .map(|(e, r)| Row {
            name: e.name.clone(),
            group: e.group.to_string(),
            step: e.step,
            values: r
                .metrics
                .iter()
                .map(|(m, rec)| (*m, Val { value: rec.value, se: rec.se, nfe: rec.nfe, seconds: rec.seconds }))
                .collect(),
        })
        .collect();
    let profiles = results
        .rows
        .iter()
        .filter_map(|(e, r)| {
            let prof = &r.get(MetricId::Siem)?.details.siem()?.profile;
            let points = prof.iter().map(|p| (p.t, p.beta2 * p.mean_sq)).collect();
            Some(Profile { model: e.name.clone(), points })
        })
        .collect();
    Ok(View {
        title: title.into(),
        command: command.into(),
        settings: settings_sentence(settings),
        seed: Some(settings.seed),
        rows,
        cheap: cols.cheap.clone(),
        refs: cols.refs.clone(),
        summary: summary_view(summary)?,
        profiles,
        failed: results.failed.iter().map(|f| format!("{} · {}: {}", f.model, f.metric, f.cause)).collect(),
        skipped: results.not_applicable.iter().map(|s| format!("{} · {}: {}", s.model, s.metric, s.reason)).collect(),
        n_per_metric: n_per_metric(results, settings, &cols.all),
        test_functions: test_functions(results, &cols.all),
    })
}

/// What each value is a mean over, from the first record of each metric.
fn n_per_metric(results: &StudyResults, settings: &StudySettings, metrics: &[MetricId]) -> Vec<(MetricId, String)> {
    let first = |m: MetricId| results.rows.iter().find_map(|(_, r)| r.get(m));
    metrics
        .iter()
        .filter_map(|&m| {
            let text = match &first(m)?.details {
                Details::Sample(d) => {
                    let reference = d.n_reference.or(d.n).map_or(String::new(), |r| format!(", {r} reference"));
                    format!("{} generated samples{reference}", settings.n)
                }
                Details::Siem(d) => {
                    // (a form added later reads as draws, never as a compile error here)
                    let unit = if d.form == scoreprobe_siem::SiemForm::Particle {
                        "trajectories"
                    } else {
                        "draws per window time"
                    };
                    format!("{} {unit} ({} form), window {}", settings.n, d.form, d.window)
                }
                Details::ExactKl(_) => "closed form (no sampling)".into(),
                Details::Bounds(_) => format!("{} Simpson panels in ln t", settings.bound_panels),
            };
            Some((m, text))
        })
        .collect()
}

fn test_functions(results: &StudyResults, metrics: &[MetricId]) -> Vec<(MetricId, String)> {
    metrics
        .iter()
        .filter_map(|&m| {
            let d = results.rows.iter().find_map(|(_, r)| r.get(m)?.details.siem())?;
            let t = &d.test_fn;
            Some((m, format!("{} × {} (bandwidth: {})", t.k, t.kind, t.bandwidth_rule)))
        })
        .collect()
}

/// Reads a file of a study folder, naming it when it cannot be read.
pub(super) fn read(path: &Path) -> Result<String, StudyError> {
    std::fs::read_to_string(path).map_err(|e| StudyError::Input { path: path.to_path_buf(), message: e.to_string() })
}

/// The view of a study folder holding only `metrics.csv`, `correlations.json` and `report.md`
/// (studies written before `metrics.json`): values to 7 significant digits, no SIEM profiles.
pub(super) fn from_files(dir: &Path) -> Result<View, StudyError> {
    let csv_path = dir.join("metrics.csv");
    let rows = parse_csv(&csv_path, &read(&csv_path)?)?;
    let json_path = dir.join("correlations.json");
    let summary: SummaryView = serde_json::from_str(&read(&json_path)?)
        .map_err(|e| StudyError::Input { path: json_path.clone(), message: format!("not a study summary: {e}") })?;
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap_or_default();
    let (title, command, settings) = markdown_header(&md);
    let mut cheap = vec![];
    let mut refs = vec![];
    for &m in MetricId::all() {
        if rows.iter().any(|r| r.values.contains_key(&m)) {
            if m.role() == Role::Cheap {
                cheap.push(m)
            } else {
                refs.push(m)
            }
        }
    }
    Ok(View {
        title,
        command,
        settings,
        seed: None,
        rows,
        cheap,
        refs,
        summary,
        profiles: vec![],
        failed: vec![],
        skipped: vec![],
        n_per_metric: vec![],
        test_functions: vec![],
    })
}

/// Title, command and settings sentence of a `report.md` (empty where absent).
pub(super) fn markdown_header(md: &str) -> (String, String, String) {
    let title = md.lines().next().and_then(|l| l.strip_prefix("# ")).unwrap_or("scoreprobe study").to_string();
    let command = md
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .map_or(String::new(), |(c, _)| c.trim().to_string());
    let settings = md.lines().find(|l| l.starts_with("Settings:")).unwrap_or("").to_string();
    (title, command, settings)
}

/// `metrics.csv`: `name,group,step` then `m,m_se,m_nfe,m_seconds` per metric.
fn parse_csv(path: &Path, text: &str) -> Result<Vec<Row>, StudyError> {
    let bad = |line: usize, message: String| StudyError::Input {
        path: path.to_path_buf(),
        message: format!("line {line}: {message}"),
    };
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    if header.len() < 3 || header[..3] != ["name", "group", "step"] || !(header.len() - 3).is_multiple_of(4) {
        return Err(bad(
            1,
            "expected the header name,group,step then 4 columns per metric (m,m_se,m_nfe,m_seconds)".into(),
        ));
    }
    let metrics: Vec<MetricId> = header[3..]
        .chunks(4)
        .map(|c| {
            serde_json::from_value(serde_json::Value::String(c[0].into()))
                .map_err(|_| bad(1, format!("unknown metric '{}'", c[0])))
        })
        .collect::<Result<_, _>>()?;
    let num = |line: usize, s: &str| -> Result<Option<f64>, StudyError> {
        if s.is_empty() {
            return Ok(None);
        }
        s.parse::<f64>().map(Some).map_err(|_| bad(line, format!("'{s}' is not a number")))
    };
    let mut rows = vec![];
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let n = i + 2;
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != header.len() {
            return Err(bad(n, format!("{} cells, the header has {} (truncated?)", cells.len(), header.len())));
        }
        let mut values = BTreeMap::new();
        for (k, &m) in metrics.iter().enumerate() {
            let c = &cells[3 + 4 * k..7 + 4 * k];
            if let Some(value) = num(n, c[0])? {
                let seconds = num(n, c[3])?.unwrap_or(f64::NAN);
                values.insert(m, Val { value, se: num(n, c[1])?, nfe: num(n, c[2])?, seconds });
            }
        }
        rows.push(Row { name: cells[0].into(), group: cells[1].into(), step: num(n, cells[2])?, values });
    }
    if rows.is_empty() {
        return Err(bad(2, "no models".into()));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_csv_reads_back_and_names_its_faults() {
        let p = Path::new("study/metrics.csv");
        let text =
            "name,group,step,w2,w2_se,w2_nfe,w2_seconds\nckpt-1,checkpoint,1,5.0e-1,,1.0e3,0.25\nexact,exact,,,,,\n";
        let rows = parse_csv(p, text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].values[&MetricId::W2], Val { value: 0.5, se: None, nfe: Some(1000.0), seconds: 0.25 });
        assert!(rows[1].values.is_empty() && rows[1].step.is_none());
        let e = parse_csv(p, "name,group,step,w2,w2_se,w2_nfe,w2_seconds\nckpt-1,checkpoint,1,5.0e-1,").unwrap_err();
        assert_eq!(e.to_string(), "study/metrics.csv: line 2: 5 cells, the header has 7 (truncated?)");
        let e = parse_csv(p, "name,group,step,w3,a,b,c\n").unwrap_err();
        assert!(e.to_string().contains("unknown metric 'w3'"), "{e}");
        let e = parse_csv(p, "name,group,step,w2,w2_se,w2_nfe,w2_seconds\nx,exact,,abc,,,\n").unwrap_err();
        assert!(e.to_string().contains("line 2: 'abc' is not a number"), "{e}");
    }

    #[test]
    fn the_header_of_report_md_gives_title_command_and_settings() {
        let md = "# scoreprobe study\n\nRegenerate with:\n\n```sh\nscoreprobe study --n 10\n```\n\nSettings: n = 10.\n";
        assert_eq!(
            markdown_header(md),
            ("scoreprobe study".into(), "scoreprobe study --n 10".into(), "Settings: n = 10.".into())
        );
    }
}
