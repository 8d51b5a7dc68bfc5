//! Replicate studies combined: the same models measured with the same settings under R different
//! seeds (fresh samples, fresh SIEM draws, fresh critic fits). A single study's Spearman CI is a
//! bootstrap over its handful of models and ignores that each value is itself noisy; across
//! replicates the whole pipeline's noise shows. Per model and metric: the mean over replicates and
//! its between-replicate SE; per (cheap, reference) pair within each group of models (the
//! checkpoints, a family): Spearman in each
//! replicate, their mean with a Student-t 95 % CI over replicates, and Spearman of the means.

use super::records;
use crate::error::StudyError;
use crate::metric::{MetricId, Role};
use crate::models::ModelGroup;
use crate::runner::StudyResults;
use crate::settings::StudySettings;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One model's metric over the replicates.
#[derive(Clone, Debug, Serialize)]
pub struct ReplicateValue {
    pub model: String,
    pub metric: MetricId,
    /// Per replicate, in the order of the studies given.
    pub values: Vec<f64>,
    pub mean: f64,
    /// sd over replicates / √R: the SE of `mean`, every source of noise included.
    pub se_between: f64,
    /// √(Σ se_r²)/R: what the studies' own SEs predict for `mean` (None when a study gave none).
    pub se_within: Option<f64>,
}

/// Spearman between a cheap metric and a reference within one group of models, over replicates.
#[derive(Clone, Debug, Serialize)]
pub struct ReplicateRank {
    pub cheap: MetricId,
    pub reference: MetricId,
    pub group: ModelGroup,
    /// Models of the group with both values in every replicate.
    pub models: usize,
    pub per_replicate: Vec<f64>,
    pub mean: f64,
    /// mean ± t_{R−1, 0.975}·sd/√R, clipped to [−1, 1].
    pub ci_low: f64,
    pub ci_high: f64,
    /// Spearman of the replicate means.
    pub of_means: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Replicates {
    pub studies: Vec<PathBuf>,
    pub seeds: Vec<u64>,
    pub values: Vec<ReplicateValue>,
    pub ranks: Vec<ReplicateRank>,
}

/// Reads the `metrics.json` of each study folder and combines them. The studies must hold the
/// same models (names, in order) and the same settings apart from the seed, with distinct seeds.
pub fn combine(dirs: &[PathBuf]) -> Result<Replicates, StudyError> {
    if dirs.len() < 2 {
        return Err(StudyError::Setting {
            setting: "replicates",
            message: format!("needs at least 2 study folders, got {}", dirs.len()),
        });
    }
    let mut studies = Vec::with_capacity(dirs.len());
    for dir in dirs {
        studies.push(records::read(&dir.join("metrics.json"))?);
    }
    check_compatible(dirs, &studies)?;
    let tables: Vec<&StudyResults> = studies.iter().map(|(r, _)| r).collect();
    let values = replicate_values(&tables);
    let ranks = replicate_ranks(&tables);
    Ok(Replicates { studies: dirs.to_vec(), seeds: studies.iter().map(|(_, s)| s.seed).collect(), values, ranks })
}

fn check_compatible(dirs: &[PathBuf], studies: &[(StudyResults, StudySettings)]) -> Result<(), StudyError> {
    let (first, first_settings) = &studies[0];
    let names = |r: &StudyResults| r.rows.iter().map(|(e, _)| e.name.clone()).collect::<Vec<_>>();
    let unseeded = |s: &StudySettings| serde_json::to_value(StudySettings { seed: 0, ..s.clone() }).ok();
    let mut seeds = vec![first_settings.seed];
    for (dir, (r, s)) in dirs.iter().zip(studies).skip(1) {
        let bad = |message: String| StudyError::Input { path: dir.join("metrics.json"), message };
        if names(r) != names(first) {
            return Err(bad(format!("models {:?} differ from {:?} in {}", names(r), names(first), dirs[0].display())));
        }
        if unseeded(s) != unseeded(first_settings) {
            return Err(bad(format!("settings other than the seed differ from those in {}", dirs[0].display())));
        }
        if seeds.contains(&s.seed) {
            return Err(bad(format!("seed {} appears twice: replicates need distinct seeds", s.seed)));
        }
        seeds.push(s.seed);
    }
    Ok(())
}

fn replicate_values(tables: &[&StudyResults]) -> Vec<ReplicateValue> {
    let mut out = vec![];
    for (i, (entry, _)) in tables[0].rows.iter().enumerate() {
        for &metric in MetricId::all() {
            let records: Option<Vec<_>> = tables.iter().map(|t| t.rows[i].1.get(metric)).collect();
            let Some(records) = records else { continue };
            let values: Vec<f64> = records.iter().map(|r| r.value).collect();
            let (mean, sd) = mean_sd(&values);
            let r = values.len() as f64;
            let se_within = records.iter().map(|rec| rec.se.map(|s| s * s)).sum::<Option<f64>>().map(|v| v.sqrt() / r);
            out.push(ReplicateValue {
                model: entry.name.clone(),
                metric,
                values,
                mean,
                se_between: sd / r.sqrt(),
                se_within,
            });
        }
    }
    out
}

/// Every group with at least 3 models, every (cheap, reference) pair.
fn replicate_ranks(tables: &[&StudyResults]) -> Vec<ReplicateRank> {
    let mut groups: Vec<ModelGroup> = tables[0].rows.iter().map(|(e, _)| e.group).collect();
    groups.sort();
    groups.dedup();
    groups.into_iter().flat_map(|g| group_ranks(tables, g)).collect()
}

fn group_ranks(tables: &[&StudyResults], group: ModelGroup) -> Vec<ReplicateRank> {
    let of_role = |role: Role| MetricId::all().iter().copied().filter(move |m| m.role() == role);
    let mut out = vec![];
    for cheap in of_role(Role::Cheap) {
        for reference in of_role(Role::Reference) {
            let cols = paired_columns(tables, group, cheap, reference);
            let n = cols[0].0.len();
            if n < 3 {
                continue;
            }
            let per: Option<Vec<f64>> =
                cols.iter().map(|(x, y)| scoreprobe_metrics::spearman(x, y).ok().filter(|v| v.is_finite())).collect();
            let Some(per) = per else { continue };
            let of_means =
                scoreprobe_metrics::spearman(&column_means(&cols, 0), &column_means(&cols, 1)).unwrap_or(f64::NAN);
            let (mean, sd) = mean_sd(&per);
            let half = student_t_975(per.len() - 1) * sd / (per.len() as f64).sqrt();
            out.push(ReplicateRank {
                cheap,
                reference,
                group,
                models: n,
                per_replicate: per,
                mean,
                ci_low: (mean - half).max(-1.0),
                ci_high: (mean + half).min(1.0),
                of_means,
            });
        }
    }
    out
}

/// Per replicate, the (cheap, reference) values of the group's models that have both, finite, in
/// every replicate: the same models in the same order in each column (the studies hold the same
/// models in the same order, [`check_compatible`]).
fn paired_columns(
    tables: &[&StudyResults],
    group: ModelGroup,
    cheap: MetricId,
    reference: MetricId,
) -> Vec<(Vec<f64>, Vec<f64>)> {
    let value = |t: &StudyResults, i: usize, m: MetricId| t.rows[i].1.get(m).map(|r| r.value).filter(|v| v.is_finite());
    let kept: Vec<usize> = (0..tables[0].rows.len())
        .filter(|&i| tables[0].rows[i].0.group == group)
        .filter(|&i| tables.iter().all(|t| value(t, i, cheap).is_some() && value(t, i, reference).is_some()))
        .collect();
    let column = |t: &StudyResults, m: MetricId| kept.iter().filter_map(|&i| value(t, i, m)).collect::<Vec<f64>>();
    tables.iter().map(|t| (column(t, cheap), column(t, reference))).collect()
}

/// The mean over replicates of each model's value in column `which` (0: x, 1: y).
fn column_means(cols: &[(Vec<f64>, Vec<f64>)], which: usize) -> Vec<f64> {
    let pick = |c: &(Vec<f64>, Vec<f64>)| if which == 0 { c.0.clone() } else { c.1.clone() };
    let picked: Vec<Vec<f64>> = cols.iter().map(pick).collect();
    (0..picked[0].len()).map(|i| picked.iter().map(|c| c[i]).sum::<f64>() / picked.len() as f64).collect()
}

/// Mean and sample standard deviation (n − 1).
fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

/// The 97.5 % quantile of Student's t with `df` degrees of freedom: P(|T| > t) = I_x(df/2, 1/2)
/// with x = df/(df + t²).
pub fn student_t_975(df: usize) -> f64 {
    let nu = df.max(1) as f64;
    let x = puruspe::invbetai(0.05, nu / 2.0, 0.5);
    (nu * (1.0 - x) / x).sqrt()
}

/// `replicates.md`: the table of means ± SE and the rank agreement over replicates.
pub fn markdown(r: &Replicates) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Replicate seeds combined\n");
    let _ = writeln!(
        s,
        "{} studies, seeds {:?}: {}.\n",
        r.studies.len(),
        r.seeds,
        r.studies.iter().map(|p| format!("`{}`", p.display())).collect::<Vec<_>>().join(", ")
    );
    let _ = writeln!(s, "## Values: mean over replicates ± between-replicate SE (within-study SE)\n");
    let metrics: Vec<MetricId> =
        MetricId::all().iter().copied().filter(|m| r.values.iter().any(|v| v.metric == *m)).collect();
    let _ = writeln!(s, "| model | {} |", metrics.iter().map(|m| m.name()).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(s, "|---|{}", "---|".repeat(metrics.len()));
    let mut models: Vec<&str> = r.values.iter().map(|v| v.model.as_str()).collect();
    models.dedup();
    for model in models {
        let cells: Vec<String> = metrics
            .iter()
            .map(|m| match r.values.iter().find(|v| v.model == model && v.metric == *m) {
                None => "–".into(),
                Some(v) => match v.se_within {
                    Some(w) => format!("{:.4e} ± {:.1e} ({:.1e})", v.mean, v.se_between, w),
                    None => format!("{:.4e} ± {:.1e}", v.mean, v.se_between),
                },
            })
            .collect();
        let _ = writeln!(s, "| {model} | {} |", cells.join(" | "));
    }
    let _ = writeln!(s, "\n## Spearman within each group of models, over replicates\n");
    let _ = writeln!(
        s,
        "| group | cheap | reference | models | per replicate | mean [95 % CI, t over replicates] | of the means |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|");
    for k in &r.ranks {
        let per: Vec<String> = k.per_replicate.iter().map(|v| format!("{v:.2}")).collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {:.2} [{:.2}, {:.2}] | {:.2} |",
            k.group,
            k.cheap,
            k.reference,
            k.models,
            per.join(", "),
            k.mean,
            k.ci_low,
            k.ci_high,
            k.of_means
        );
    }
    s
}

/// Writes `replicates.json` and `replicates.md` into `out`.
pub fn write(r: &Replicates, out: &Path) -> Result<Vec<PathBuf>, StudyError> {
    std::fs::create_dir_all(out).map_err(|e| StudyError::Write { path: out.to_path_buf(), source: Box::new(e) })?;
    let json = serde_json::to_string_pretty(r).map_err(|source| StudyError::Json { what: "replicates", source })?;
    let mut written = vec![];
    for (name, text) in [("replicates.json", json), ("replicates.md", markdown(r))] {
        let path = out.join(name);
        scoreprobe_core::fsio::write_atomic(&path, text.as_bytes())
            .map_err(|e| StudyError::Write { path: path.clone(), source: e.into() })?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn student_t_quantiles_match_the_tables() {
        for (df, t) in [(1, 12.7062), (2, 4.3027), (4, 2.7764), (30, 2.0423), (1000, 1.9623)] {
            assert!((student_t_975(df) - t).abs() < 1e-3, "df {df}: {} vs {t}", student_t_975(df));
        }
    }

    #[test]
    fn mean_sd_is_the_sample_one() {
        let (m, s) = mean_sd(&[1.0, 2.0, 6.0]);
        assert_eq!(m, 3.0);
        assert!((s - 7.0f64.sqrt()).abs() < 1e-12);
    }
}
