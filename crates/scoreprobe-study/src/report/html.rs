//! `report.html`: one self-contained page (styles, a few lines of script, figures as inline SVG,
//! sample grids as data URIs; a Content-Security-Policy that forbids every request), readable with
//! scripts off. The page is the template `report.html.j2` filled from the [`View`].

use super::columns::percent_of_fd;
use super::figures::{Drawn, Figures, Section};
use super::provenance::{Provenance, GIT_COMMIT, VERSION};
use super::view::View;
use crate::error::StudyError;
use crate::metric::MetricId;
use crate::plot::sig;
use base64::Engine as _;
use minijinja::{context, Environment, Value};
use serde::Serialize;

const TEMPLATE: &str = include_str!("report.html.j2");

/// A samples PNG of one model, found in the study folder.
pub(crate) struct SampleGrid {
    pub model: String,
    pub png: Vec<u8>,
}

/// What the page says about where it was made: at the end of a study, or rebuilt later.
pub(crate) enum Origin<'a> {
    Study,
    Rebuilt { at: &'a str },
}

#[derive(Serialize)]
struct Fig {
    id: String,
    title: String,
    svg: Value,
    marks: usize,
    legend: Vec<Swatch>,
}

#[derive(Serialize)]
struct Swatch {
    label: String,
    color: String,
}

fn fig(d: &Drawn) -> Fig {
    Fig {
        id: format!("fig-{}", d.stem.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")),
        title: d.title.clone(),
        // the SVG comes from plotters (text escaped there) and our own hover layer (escaped); inline
        // SVG needs no namespace, and without it the page names no URL at all
        svg: Value::from_safe_string(d.svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)),
        marks: d.marks,
        legend: d.legend.iter().map(|(label, color)| Swatch { label: label.clone(), color: color.clone() }).collect(),
    }
}

fn section(figs: &Figures, s: Section) -> Vec<Fig> {
    figs.drawn.iter().filter(|d| d.section == s).map(fig).collect()
}

fn opt(v: Option<f64>) -> String {
    v.map_or("–".into(), sig)
}

fn claims(view: &View) -> Vec<Value> {
    view.summary
        .claims
        .iter()
        .map(|c| {
            let class = match c.status.as_str() {
                "pass" => "pass",
                "fail" => "fail",
                _ => "na",
            };
            context! { id => c.id, statement => c.statement, status => c.status, evidence => c.evidence, class }
        })
        .collect()
}

fn correlations(view: &View) -> Vec<Value> {
    view.summary
        .correlations
        .iter()
        .map(|p| {
            context! {
                cheap => p.cheap.to_string(), reference => p.reference.to_string(), subset => p.subset, n => p.n,
                rho => format!("{:.3}", p.spearman.value), lo => format!("{:.2}", p.spearman.ci_low),
                hi => format!("{:.2}", p.spearman.ci_high), tau => format!("{:.3}", p.kendall.value),
            }
        })
        .collect()
}

fn paired(view: &View) -> Vec<Value> {
    view.summary
        .paired
        .iter()
        .map(|d| {
            let source = match d.se_source.as_deref() {
                Some("paired_units") => "paired (units)",
                Some("unpaired") => "unpaired",
                Some(other) => other,
                None => "–",
            };
            let z = d.z();
            context! {
                metric => d.metric.to_string(), from => d.from, to => d.to, difference => sig(d.difference),
                se => opt(d.se), source, z => z.map_or("–".into(), |z| format!("{z:.1}")),
                resolved => z.is_some_and(|z| z.abs() >= 2.0),
            }
        })
        .collect()
}

fn cost(view: &View) -> Vec<Value> {
    let cost = &view.summary.cost;
    let fd = cost.iter().find(|c| c.metric == MetricId::Fd).map(|c| (c.mean_seconds, c.mean_nfe));
    cost.iter()
        .map(|c| {
            let (seconds_vs_fd, nfe_vs_fd) = percent_of_fd(fd, c.mean_seconds, c.mean_nfe);
            context! {
                metric => c.metric.to_string(), role => c.metric.role().to_string(),
                seconds => format!("{:.2}", c.mean_seconds), nfe => c.mean_nfe.map_or("–".into(), |v| format!("{v:.0}")),
                seconds_vs_fd, nfe_vs_fd,
            }
        })
        .collect()
}

/// One row per model: `value ± se`, `failed`, or `–`.
fn rows(view: &View) -> Vec<Value> {
    view.rows
        .iter()
        .map(|r| {
            let cells: Vec<String> = view
                .metrics()
                .map(|m| match r.values.get(&m) {
                    Some(v) => match v.se {
                        Some(se) => format!("{} ± {}", sig(v.value), sig(se)),
                        None => sig(v.value),
                    },
                    None if view.failed.iter().any(|f| f.starts_with(&format!("{} · {m}:", r.name))) => {
                        "failed".into()
                    }
                    None => "–".into(),
                })
                .collect();
            context! { name => r.name, group => r.group, step => r.step.map_or(String::new(), sig), cells }
        })
        .collect()
}

fn provenance(view: &View, prov: Option<&Provenance>, origin: &Origin) -> Value {
    let unknown = || "unknown (not recorded by the study)".to_string();
    let page = match origin {
        Origin::Study => format!("written by scoreprobe {VERSION} at the end of the study"),
        Origin::Rebuilt { at } => format!(
            "rebuilt from the study's records by `scoreprobe report` {VERSION}{} at {at} UTC (nothing recomputed)",
            GIT_COMMIT.map_or(String::new(), |c| format!(" (commit {c})"))
        ),
    };
    let Some(p) = prov else {
        return context! {
            version => VERSION, commit => Value::from(()), seed => view.seed.map_or_else(unknown, |s| s.to_string()),
            reference => unknown(), features => unknown(), machine => unknown(), started => unknown(),
            wall => unknown(), page,
        };
    };
    let features = match (&p.features, &p.feature_file, &p.feature_sha256) {
        (None, _, _) => "none (exact-score target: sample metrics compare coordinates)".to_string(),
        (Some(f), Some(file), Some(h)) => format!("{f}: {} (sha256 {h})", file.display()),
        (Some(f), Some(file), None) => format!("{f}: {} (file not readable: no hash)", file.display()),
        (Some(f), None, _) => format!("{f} (no model file)"),
    };
    let machine =
        format!("{} ({} CPUs available)", if p.hostname.is_empty() { "unnamed host" } else { &p.hostname }, p.cpus);
    context! {
        version => p.scoreprobe_version, commit => p.git_commit, seed => view.seed.map_or_else(unknown, |s| s.to_string()),
        reference => p.reference, features, machine, started => format!("{} UTC", p.started_utc),
        wall => format!("{:.1} s ({:.1} min)", p.wall_seconds, p.wall_seconds / 60.0), page,
    }
}

/// The page.
pub(crate) fn render(
    view: &View,
    figs: &Figures,
    samples: &[SampleGrid],
    prov: Option<&Provenance>,
    origin: &Origin,
) -> Result<String, StudyError> {
    let mut env = Environment::new();
    // the name ends in .html: minijinja escapes every value for HTML unless marked safe
    env.add_template("report.html", TEMPLATE).map_err(|e| template_error(&e))?;
    let counts = |s: &str| view.summary.claims.iter().filter(|c| c.status == s).count();
    let b64 = base64::engine::general_purpose::STANDARD;
    let ctx = context! {
        title => view.title,
        command => if view.command.is_empty() { prov.map_or(String::new(), |p| p.command.clone()) } else { view.command.clone() },
        settings => view.settings,
        counts => context! { pass => counts("pass"), fail => counts("fail"), na => counts("n/a") },
        claims => claims(view),
        correlations => correlations(view),
        paired => paired(view),
        cost => cost(view),
        metrics => view.metrics().map(|m| m.to_string()).collect::<Vec<_>>(),
        rows => rows(view),
        failed => view.failed,
        skipped => view.skipped,
        n_per_metric => view.n_per_metric.iter().map(|(m, t)| (m.to_string(), t.clone())).collect::<Vec<_>>(),
        test_functions => view.test_functions.iter().map(|(m, t)| (m.to_string(), t.clone())).collect::<Vec<_>>(),
        samples => samples.iter().map(|s| context! {
            // base64 needs no escaping (minijinja would write its '/' as an entity)
            model => s.model, uri => Value::from_safe_string(format!("data:image/png;base64,{}", b64.encode(&s.png))),
        }).collect::<Vec<_>>(),
        figure_note => figs.note,
        figs => context! {
            training => section(figs, Section::Training), agreement => section(figs, Section::Agreement),
            cost => section(figs, Section::Cost), monitor => section(figs, Section::Monitor),
            scatter => section(figs, Section::Scatter), profiles => section(figs, Section::Profiles),
        },
        prov => provenance(view, prov, origin),
    };
    let tmpl = env.get_template("report.html").map_err(|e| template_error(&e))?;
    tmpl.render(ctx).map_err(|e| template_error(&e))
}

fn template_error(e: &minijinja::Error) -> StudyError {
    StudyError::Template { message: format!("{e:#}") }
}
