//! What `scoreprobe metrics` reports between two point sets, built in one place so that the
//! unsharded run, `scoreprobe merge` of its shards' point-set states and Python's `merge` give the
//! same values, details and warnings.

use crate::error::Result;
use crate::options::{Metric, MetricsOptions};
use crate::{fd_state, kid, pairs, prdc, sinkhorn, wasserstein, MomentAccumulator};
use ndarray::ArrayView2;
use serde_json::{json, Map, Value};

/// A `metrics` report: the values, their details and warnings, in the order they were found.
#[derive(Default)]
pub struct Report {
    pub out: Map<String, Value>,
    pub details: Map<String, Value>,
    pub warnings: Vec<String>,
}

impl Report {
    pub fn value(&mut self, key: &str, v: Value) {
        self.out.insert(key.into(), v);
    }

    pub fn detail(&mut self, key: &str, v: Value) {
        self.details.insert(key.into(), v);
    }

    pub fn warn_all<W: ToString>(&mut self, warnings: &[W]) {
        self.warnings.extend(warnings.iter().map(ToString::to_string));
    }

    /// The report as `metrics --json` prints it: the values, `warnings` and `details`.
    pub fn into_value(mut self) -> Value {
        self.warnings.dedup();
        self.out.insert("warnings".into(), json!(self.warnings));
        self.out.insert("details".into(), Value::Object(self.details));
        Value::Object(self.out)
    }
}

/// A float as JSON (null when not finite, as `metrics --json` prints NaN).
pub fn json_f(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// Every metric of `opts.metric` (adjacent repeats dropped) between two point sets of the same
/// dimension; `totals` are the sets' sizes before any subsampling.
pub fn points_report(
    a: ArrayView2<f64>,
    b: ArrayView2<f64>,
    opts: &MetricsOptions,
    totals: (Option<usize>, Option<usize>),
) -> Result<Report> {
    if a.ncols() != b.ncols() {
        return Err(crate::error::invalid(format!(
            "--a has {} feature dimensions, --b has {}: compare sets in the same space",
            a.ncols(),
            b.ncols()
        )));
    }
    let mut report = Report::default();
    report.value("features", json!(opts.features));
    report.value("cost", json!("|x-y|^2"));
    report.value("n_a", json!(a.nrows()));
    report.value("n_b", json!(b.nrows()));
    report.detail("n_a_total", json!(totals.0));
    report.detail("n_b_total", json!(totals.1));
    report.detail("dim", json!(a.ncols()));
    let mut metrics = opts.metric.clone();
    metrics.dedup();
    for metric in metrics {
        measure(metric, a, b, opts, &mut report)?;
    }
    Ok(report)
}

/// One metric between two point sets, into the report.
fn measure(
    metric: Metric,
    a: ArrayView2<f64>,
    b: ArrayView2<f64>,
    opts: &MetricsOptions,
    report: &mut Report,
) -> Result<()> {
    match metric {
        Metric::Fd => fd(a, b, report)?,
        Metric::Kid => kid_into(a, b, opts, report)?,
        Metric::W2 => {
            let r = pairs::w2_exact_paired(a, b, opts.seed)?;
            if r.subsampled {
                report.warnings.push(format!("w2: exact W2 needs equal sizes; both sets subsampled to {} points", r.n));
            }
            report.value("w2", json_f(r.result.w2));
            report.detail("w2", json!({"n": r.n, "w2_squared": json_f(r.result.w2_squared)}));
        }
        Metric::W2Sinkhorn => sinkhorn_into(a, b, opts, report)?,
        Metric::W2Sliced => {
            let sliced = wasserstein::SlicedOptions { n_projections: opts.projections, seed: opts.seed };
            let r = wasserstein::w2_sliced(a, b, &sliced)?;
            report.value("w2_sliced", json_f(r.w2));
            report.detail(
                "w2_sliced",
                json!({"projections": r.n_projections, "w2_squared": json_f(r.w2_squared), "std_err_squared": json_f(r.std_err_squared)}),
            );
        }
        Metric::Bures => {
            let r = wasserstein::bures_w2(a, b)?;
            report.value("bures", json_f(r.w2));
            report.warn_all(&r.warnings);
        }
        Metric::Prdc => {
            let r = prdc::prdc(a, b, &prdc::PrdcOptions::default())?;
            for (k, v) in
                [("precision", r.precision), ("recall", r.recall), ("density", r.density), ("coverage", r.coverage)]
            {
                report.value(k, json_f(v));
            }
            report.detail(
                "prdc",
                json!({"k_precision_recall": 3, "k_density_coverage": 5, "real": "--a", "fake": "--b"}),
            );
        }
    }
    Ok(())
}

/// FD through the accumulators a shard's FD state holds, so a merge of FD states (fd_report)
/// prints the same numbers.
fn fd(a: ArrayView2<f64>, b: ArrayView2<f64>, report: &mut Report) -> Result<()> {
    let (ma, mb) = (MomentAccumulator::from_points(a)?, MomentAccumulator::from_points(b)?);
    let r = fd_state::fd_report(&ma, &mb, "", (None, None))?;
    report.value("fd", r["fd"].clone());
    report.detail("fd", r["details"]["fd"].clone());
    report.warn_all(&r["warnings"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>());
    Ok(())
}

fn kid_into(a: ArrayView2<f64>, b: ArrayView2<f64>, opts: &MetricsOptions, report: &mut Report) -> Result<()> {
    let kid_opts = kid::KidOptions { n_subsets: opts.kid_subsets, subset_size: opts.kid_subset_size, seed: opts.seed };
    let r = kid::kid(a, b, &kid_opts)?;
    report.value("kid", json!({"mean": json_f(r.mean), "std": json_f(r.std), "se": json_f(r.se)}));
    report.detail("kid", json!({"subsets": kid_opts.n_subsets, "subset_size": r.subset_size}));
    if r.subset_size == a.nrows() && r.subset_size == b.nrows() && kid_opts.n_subsets > 1 {
        report.warnings.push(format!(
            "kid: every subset is the whole set ({} points), so std is rounding noise; se is KID's standard error",
            r.subset_size
        ));
    }
    if r.subset_size < opts.kid_subset_size {
        report.warnings.push(format!("kid: subset size reduced to {} (smaller set)", r.subset_size));
    }
    Ok(())
}

fn sinkhorn_into(a: ArrayView2<f64>, b: ArrayView2<f64>, opts: &MetricsOptions, report: &mut Report) -> Result<()> {
    pairs::check_dense(a.nrows(), b.nrows(), "w2-sinkhorn")?;
    let sk = sinkhorn::SinkhornOptions { epsilon: opts.epsilon, ..Default::default() };
    let r = sinkhorn::sinkhorn_divergence(a, b, &sk)?;
    report.value("w2_sinkhorn", json_f(r.w2));
    report.detail(
        "w2_sinkhorn",
        json!({
            "epsilon": r.epsilon, "divergence": json_f(r.divergence), "converged": r.converged,
            "iterations": [r.ab.iterations, r.aa.iterations, r.bb.iterations],
            "marginal_error": [r.ab.marginal_error, r.aa.marginal_error, r.bb.marginal_error],
        }),
    );
    if !r.converged {
        report.warnings.push(format!(
            "w2-sinkhorn: did not converge in {} iterations (marginal errors {:.1e}, {:.1e}, {:.1e}); raise --epsilon",
            sk.max_iter, r.ab.marginal_error, r.aa.marginal_error, r.bb.marginal_error
        ));
    }
    Ok(())
}
