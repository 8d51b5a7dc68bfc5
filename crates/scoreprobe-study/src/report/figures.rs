//! The report's figures, one list for both outputs: every metric along training (± SE bands), the
//! rank-agreement heat map, the cost per metric, each cheap metric against each reference, SIEM's
//! per-step profiles, and the training monitor's curve when the study folder has one.

use super::view::View;
use crate::metric::MetricId;
use crate::plot::{self, BarFigure, Figure, HeatFigure, Series, StackedFigure, XyFigure};
use serde::Deserialize;
use std::collections::BTreeSet;

/// Where a figure sits in the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Section {
    Training,
    Agreement,
    Cost,
    Scatter,
    Profiles,
    Monitor,
}

/// A figure to draw, with its file stem under `figures/`.
pub(crate) struct Spec {
    pub section: Section,
    pub stem: String,
    pub figure: Figure,
}

/// A figure drawn.
pub(crate) struct Drawn {
    pub section: Section,
    pub stem: String,
    pub title: String,
    pub svg: String,
    pub png: Option<Vec<u8>>,
    pub marks: usize,
    /// (label, colour) per series, for the page's toggles.
    pub legend: Vec<(String, String)>,
}

/// Every figure drawn, and why some or all were not.
pub(crate) struct Figures {
    pub drawn: Vec<Drawn>,
    pub note: Option<String>,
}

/// One line of `monitor.jsonl`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct MonitorPoint {
    pub step: f64,
    pub value: f64,
    #[serde(default)]
    pub se: Option<f64>,
    /// The metric's name (monitors write one line per metric; the report plots the first).
    #[serde(default)]
    pub metric: Option<String>,
    /// The paired SE of the change from the previous evaluation (same draws), when recorded.
    #[serde(default)]
    pub diff_se: Option<f64>,
}

/// A SIEM profile has a point per sampler step (1000): the figures keep about this many.
const PROFILE_POINTS: usize = 200;

/// Draws every figure (PNG too when `png`); a figure that cannot be drawn leaves a note.
pub(crate) fn draw(view: &View, monitor: &[MonitorPoint], png: bool) -> Figures {
    if let Some(note) = plot::unavailable() {
        return Figures { drawn: vec![], note: Some(note) };
    }
    let mut figs = Figures { drawn: vec![], note: None };
    for spec in specs(view, monitor) {
        let legend = spec.figure.legend();
        match plot::render(&spec.figure, png) {
            Ok(r) => figs.drawn.push(Drawn {
                section: spec.section,
                stem: spec.stem,
                title: spec.figure.title().to_string(),
                svg: r.svg,
                png: r.png,
                marks: r.marks,
                legend,
            }),
            Err(e) => figs.note = Some(e.to_string()),
        }
    }
    figs
}

fn specs(view: &View, monitor: &[MonitorPoint]) -> Vec<Spec> {
    let mut out = along_training(view);
    out.extend(agreement(view));
    out.extend(cost(view));
    out.extend(monitor_curve(view, monitor));
    out.extend(scatter(view));
    out.extend(profiles(view));
    out
}

/// The rows with a step or λ, as (x, value, se, name) of `metric`, for the models of `group`.
fn series_of(view: &View, metric: MetricId, group: &str) -> Series {
    let mut pts: Vec<(f64, f64, Option<f64>, String)> = view
        .rows
        .iter()
        .filter(|r| r.group == group)
        .filter_map(|r| {
            let v = r.values.get(&metric)?;
            Some((r.step?, v.value, v.se, r.name.clone()))
        })
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    Series {
        label: group.to_string(),
        points: pts.iter().map(|p| (p.0, p.1)).collect(),
        se: pts.iter().map(|p| p.2).collect(),
        names: pts.into_iter().map(|p| p.3).collect(),
    }
}

/// Every metric against the training step of the checkpoints (± SE); a study without a checkpoint
/// sweep shows each perturbation family against its size λ instead.
fn along_training(view: &View) -> Vec<Spec> {
    let steps = view.rows.iter().filter(|r| r.group == "checkpoint" && r.step.is_some()).count();
    let groups: Vec<String> = if steps >= 2 {
        vec!["checkpoint".into()]
    } else {
        let set: BTreeSet<&str> = view.rows.iter().filter(|r| r.step.is_some()).map(|r| r.group.as_str()).collect();
        set.into_iter().map(String::from).collect()
    };
    let x_label = if steps >= 2 { "training step" } else { "perturbation size λ" };
    view.metrics()
        .filter_map(|m| {
            let series: Vec<Series> =
                groups.iter().map(|g| series_of(view, m, g)).filter(|s| s.points.len() >= 2).collect();
            if series.is_empty() {
                return None;
            }
            let log_y = plot::spans_decades(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
            let title =
                if steps >= 2 { format!("{m} along training (± SE)") } else { format!("{m} against λ (± SE)") };
            // checkpoints picked log-uniformly over training read best on a log step axis
            let log_x = steps >= 2 && plot::spans_decades(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
            let figure =
                XyFigure { title, x_label: x_label.into(), y_label: m.to_string(), series, lines: true, log_y, log_x };
            Some(Spec { section: Section::Training, stem: format!("step-{m}"), figure: Figure::Xy(figure) })
        })
        .collect()
}

/// Spearman ρ of every cheap metric with every reference, over all models and over the
/// checkpoints, as heat maps (the CI in each cell's hover text).
fn agreement(view: &View) -> Vec<Spec> {
    let subsets: BTreeSet<&str> = view.summary.correlations.iter().map(|c| c.subset.as_str()).collect();
    ["all", "checkpoint"]
        .into_iter()
        .filter(|s| subsets.contains(s))
        .filter_map(|subset| {
            let corr: Vec<_> = view.summary.correlations.iter().filter(|c| c.subset == subset).collect();
            let rows: Vec<MetricId> =
                view.cheap.iter().copied().filter(|m| corr.iter().any(|c| c.cheap == *m)).collect();
            let cols: Vec<MetricId> =
                view.refs.iter().copied().filter(|m| corr.iter().any(|c| c.reference == *m)).collect();
            let cells = corr
                .iter()
                .filter_map(|c| {
                    let x = cols.iter().position(|m| *m == c.reference)?;
                    let y = rows.iter().position(|m| *m == c.cheap)?;
                    let s = &c.spearman;
                    let text = format!(
                        "{} vs {} ({subset}, n = {}): Spearman ρ = {:.3} [{:.2}, {:.2}], Kendall τ = {:.3}",
                        c.cheap, c.reference, c.n, s.value, s.ci_low, s.ci_high, c.kendall.value
                    );
                    Some((x, y, s.value, text))
                })
                .collect::<Vec<_>>();
            if cells.is_empty() {
                return None;
            }
            let title = if subset == "all" {
                "rank agreement, all models: Spearman ρ".to_string()
            } else {
                format!("rank agreement, {subset} models: Spearman ρ")
            };
            let figure = HeatFigure {
                title,
                x_label: "reference".into(),
                y_label: "cheap signal".into(),
                columns: cols.iter().map(|m| m.to_string()).collect(),
                rows: rows.iter().map(|m| m.to_string()).collect(),
                cells,
            };
            Some(Spec {
                section: Section::Agreement,
                stem: format!("agreement-{subset}"),
                figure: Figure::Heat(figure),
            })
        })
        .collect()
}

/// Mean seconds and mean NFE per model of each metric.
fn cost(view: &View) -> Vec<Spec> {
    let c = &view.summary.cost;
    let seconds: Vec<(String, f64, String)> = c
        .iter()
        .filter(|r| r.mean_seconds.is_finite())
        .map(|r| {
            (r.metric.to_string(), r.mean_seconds, format!("{}: {} s per model", r.metric, plot::sig(r.mean_seconds)))
        })
        .collect();
    let nfe: Vec<(String, f64, String)> = c
        .iter()
        .filter_map(|r| {
            let n = r.mean_nfe?;
            Some((r.metric.to_string(), n, format!("{}: {} score evaluations per sample", r.metric, plot::sig(n))))
        })
        .collect();
    let mut out = vec![];
    for (stem, title, x_label, bars) in [
        ("cost-seconds", "cost: mean seconds per model", "seconds", seconds),
        ("cost-nfe", "cost: mean NFE per sample", "score evaluations per sample", nfe),
    ] {
        if bars.is_empty() {
            continue;
        }
        let log_x = plot::spans_decades(bars.iter().map(|b| b.1));
        let figure = BarFigure { title: title.into(), x_label: x_label.into(), bars, log_x };
        out.push(Spec { section: Section::Cost, stem: stem.into(), figure: Figure::Bars(figure) });
    }
    out
}

/// Spearman's ρ between the monitor's values and each reference metric's at the checkpoints
/// both measured (at least 3), as "fd ρ = 0.93 (8 checkpoints)".
fn monitor_agreement(view: &View, monitor: &[MonitorPoint]) -> Vec<String> {
    let mut out = vec![];
    for &m in &view.refs {
        let (mut a, mut b) = (vec![], vec![]);
        for r in view.rows.iter().filter(|r| r.group == "checkpoint") {
            let (Some(step), Some(v)) = (r.step, r.values.get(&m)) else { continue };
            if let Some(p) = monitor.iter().find(|p| p.step == step).filter(|_| v.value.is_finite()) {
                a.push(p.value);
                b.push(v.value);
            }
        }
        if a.len() >= 3 {
            if let Ok(rho) = scoreprobe_metrics::rank::spearman(&a, &b) {
                out.push(format!("{} ρ = {rho:.2} ({} checkpoints)", m.name(), a.len()));
            }
        }
    }
    out
}

/// The training monitor along training, and under it (same steps) each reference metric at the
/// checkpoints ± SE, titled with their rank agreement at the checkpoints both measured. The
/// monitor's band is the paired SE of each change from the previous evaluation: every evaluation
/// uses the same draws, so the level's own SE (far wider: the same for every point) says nothing
/// about whether training moved the value; the band's width beside the steps between points does.
fn monitor_curve(view: &View, monitor: &[MonitorPoint]) -> Option<Spec> {
    if monitor.is_empty() {
        return None;
    }
    let agreement = monitor_agreement(view, monitor);
    let title = match agreement.is_empty() {
        true => "training monitor".to_string(),
        false => format!("training monitor; Spearman with {}", agreement.join(", ")),
    };
    let metric = monitor.iter().find_map(|p| p.metric.clone()).unwrap_or_else(|| "monitor".into());
    // a log written before the monitor paired its values has only the level's SE
    let paired = monitor.iter().any(|p| p.diff_se.is_some());
    let level_se =
        monitor.iter().rev().find_map(|p| p.se).map_or(String::new(), |se| format!("; level SE {}", plot::sig(se)));
    let (band, y_label) = match paired {
        true => (format!("paired SE of each change{level_se}"), format!("{metric} (± paired SE)")),
        false => ("SE".to_string(), format!("{metric} (± SE)")),
    };
    let series = Series {
        label: format!("{metric} (± {band})"),
        points: monitor.iter().map(|p| (p.step, p.value)).collect(),
        se: monitor.iter().map(|p| if paired { p.diff_se } else { p.se }).collect(),
        names: vec![],
    };
    let log_y = plot::spans_decades(series.points.iter().map(|p| p.1));
    let log_x = plot::spans_decades(series.points.iter().map(|p| p.0));
    let mut panels = vec![XyFigure {
        title: title.clone(),
        x_label: "training step".into(),
        y_label,
        series: vec![series],
        lines: true,
        log_y,
        log_x,
    }];
    for &m in &view.refs {
        let s = series_of(view, m, "checkpoint");
        if s.points.len() >= 2 {
            let log_y = plot::spans_decades(s.points.iter().map(|p| p.1));
            let series = vec![Series { label: format!("{m} at the checkpoints (± SE)"), ..s }];
            panels.push(XyFigure {
                title: title.clone(),
                x_label: "training step".into(),
                y_label: m.to_string(),
                series,
                lines: true,
                log_y,
                log_x,
            });
        }
    }
    let figure = match panels.len() {
        1 => Figure::Xy(panels.remove(0)),
        _ => Figure::Stacked(StackedFigure { title, panels }),
    };
    Some(Spec { section: Section::Monitor, stem: "monitor".into(), figure })
}

/// Each cheap metric against each reference, one series per model group.
fn scatter(view: &View) -> Vec<Spec> {
    let groups: BTreeSet<&str> = view.rows.iter().map(|r| r.group.as_str()).collect();
    let mut out = vec![];
    for c in view.summary.correlations.iter().filter(|c| c.subset == "all") {
        let series: Vec<Series> = groups
            .iter()
            .map(|g| {
                let rows = view.rows.iter().filter(|r| r.group == *g);
                let pts: Vec<(f64, f64, String)> = rows
                    .filter_map(|r| {
                        Some((r.values.get(&c.cheap)?.value, r.values.get(&c.reference)?.value, r.name.clone()))
                    })
                    .filter(|p| p.0.is_finite() && p.1.is_finite())
                    .collect();
                Series {
                    label: g.to_string(),
                    points: pts.iter().map(|p| (p.0, p.1)).collect(),
                    se: vec![],
                    names: pts.into_iter().map(|p| p.2).collect(),
                }
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        let figure = XyFigure {
            title: format!("{} vs {}: Spearman ρ = {:.3}", c.cheap, c.reference, c.spearman.value),
            x_label: c.cheap.to_string(),
            y_label: c.reference.to_string(),
            series,
            lines: false,
            log_y: false,
            log_x: false,
        };
        out.push(Spec {
            section: Section::Scatter,
            stem: format!("{}-vs-{}", c.cheap, c.reference),
            figure: Figure::Xy(figure),
        });
    }
    out
}

/// The full-window oracle SIEM's integrand per step, one line per model (about 200 points each).
fn profiles(view: &View) -> Option<Spec> {
    if view.profiles.is_empty() {
        return None;
    }
    let series: Vec<Series> = view
        .profiles
        .iter()
        .map(|p| {
            let stride = p.points.len().div_ceil(PROFILE_POINTS).max(1);
            Series {
                label: p.model.clone(),
                points: p.points.iter().step_by(stride).copied().collect(),
                ..Default::default()
            }
        })
        .collect();
    let log_y = plot::spans_decades(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let figure = XyFigure {
        title: "SIEM integrand β(t)² E[(ê·∇φ)²] along sampling".into(),
        x_label: "t".into(),
        y_label: "integrand".into(),
        series,
        lines: true,
        log_y,
        log_x: false,
    };
    Some(Spec { section: Section::Profiles, stem: "siem-profiles".into(), figure: Figure::Xy(figure) })
}
