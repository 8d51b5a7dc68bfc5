//! `scoreprobe metrics`: reference metrics between two point/feature sets (scoreprobe-metrics).

use crate::io::{print_json, print_text};
use anyhow::{bail, Context, Result};
use ndarray::{Array2, ArrayView2};
use scoreprobe_core::shard::Shard;
use scoreprobe_core::state::{ShardSet, StateFile, StateKind};
use scoreprobe_core::OptionError;
use scoreprobe_features::FeatureExtractor;
use scoreprobe_metrics as m;
use scoreprobe_metrics::{Metric, MetricsOptions};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// Reference ("real") set: .npy (N, D) float32/float64 points, .npz stats with `mu`, `sigma` (FD
    /// only), or images: a folder of PNG/JPEG, an IDX file, a .npy image array (N, H, W) / (N, C, H, W)
    /// / (N, H, W, C) (with a model --features), or a data set name (mnist, cifar10-test, fashion-mnist).
    #[arg(long)]
    a: PathBuf,
    /// Compared ("generated") set, same formats as --a.
    #[arg(long)]
    b: PathBuf,
    #[command(flatten)]
    opts: MetricsOptions,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// A loaded input: points (features), or pytorch-fid statistics.
enum Input {
    Points(Array2<f64>),
    Stats(m::GaussianStats),
}

/// Where the points of an input come from.
enum Kind {
    /// A `.npy` (N, D) point set (identity features).
    Points,
    /// A `.npz` statistics file.
    Stats,
    /// Images (folder, IDX, `.npy` image array, data set name) mapped through the extractor.
    Images,
}

fn kind_of(path: &Path, features: &str) -> Kind {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "npz" => Kind::Stats,
        "npy" if features == "identity" => Kind::Points,
        _ => Kind::Images,
    }
}

/// Loads one input. Point sets and images are subsampled to `--n` (seeded) before any feature
/// extraction; returns the input and its size before subsampling.
/// With a shard, only its part of the (subsampled) rows is kept, before feature extraction.
fn load(
    path: &Path,
    flag: &str,
    extractor: &dyn FeatureExtractor,
    n: Option<usize>,
    seed: u64,
    shard: Shard,
) -> Result<(Input, Option<usize>)> {
    match kind_of(path, &extractor.name()) {
        Kind::Stats => Ok((Input::Stats(m::read_stats_npz(path).with_context(|| flag.to_string())?), None)),
        Kind::Points => {
            let x = m::read_points_npy(path).with_context(|| flag.to_string())?;
            if x.nrows() == 0 || x.ncols() == 0 {
                bail!("{flag} {}: empty point set (shape {:?})", path.display(), x.dim());
            }
            if let Some(row) = x.outer_iter().position(|r| r.iter().any(|v| !v.is_finite())) {
                bail!("{flag} {}: row {row} contains NaN or infinite values", path.display());
            }
            let total = x.nrows();
            let x = match n {
                Some(n) => m::subsample_rows(x.view(), n, seed),
                None => x,
            };
            let x = if shard.is_whole() { x } else { x.slice(ndarray::s![shard.range(x.nrows()), ..]).to_owned() };
            Ok((Input::Points(x), Some(total)))
        }
        Kind::Images => {
            let name = path.to_string_lossy();
            let set = scoreprobe_data::load_dataset(&name, None).with_context(|| format!("{flag} {name}"))?;
            let total = set.len();
            let set = match n {
                Some(n) if n < total => set.select(&m::subsample_indices(total, n, seed)),
                _ => set,
            };
            let set = if shard.is_whole() { set } else { set.select(&shard.range(set.len()).collect::<Vec<_>>()) };
            let x =
                extractor.extract(&set).with_context(|| format!("{flag} {name}: --features {}", extractor.name()))?;
            Ok((Input::Points(x), Some(total)))
        }
    }
}

fn json_f(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// What `metrics` prints: the values, their details and warnings, in insertion order.
#[derive(Default)]
struct Report {
    out: Map<String, Value>,
    details: Map<String, Value>,
    warnings: Vec<String>,
}

impl Report {
    fn value(&mut self, key: &str, v: Value) {
        self.out.insert(key.into(), v);
    }

    fn detail(&mut self, key: &str, v: Value) {
        self.details.insert(key.into(), v);
    }

    fn warn_all<W: ToString>(&mut self, warnings: &[W]) {
        self.warnings.extend(warnings.iter().map(ToString::to_string));
    }
}

pub fn run(args: Args) -> Result<()> {
    let metrics = checked_metrics(&args)?;
    // Build the feature space (loading its model) before reading any input.
    let extractor = scoreprobe_features::extractor_from_name(&args.opts.features, None)
        .with_context(|| format!("--features {}", args.opts.features))?;
    let (shard, state_out) = args.opts.shard.checked()?;
    if state_out.is_some() {
        check_shardable(&args, &metrics)?;
    }
    let start = std::time::Instant::now();
    let (a, na_total) = load(&args.a, "--a", extractor.as_ref(), args.opts.n, args.opts.seed, shard)?;
    let (b, nb_total) = load(&args.b, "--b", extractor.as_ref(), args.opts.n, args.opts.seed.wrapping_add(1), shard)?;
    if let (Some(path), Input::Points(xa), Input::Points(xb)) = (state_out, &a, &b) {
        let totals = Totals { a: na_total.unwrap_or(0), b: nb_total.unwrap_or(0) };
        write_fd_state(&args, shard, path, (xa.view(), xb.view()), totals, start)?;
        if !shard.is_whole() {
            return Ok(());
        }
    }
    let mut report = Report::default();
    report.value("features", json!(args.opts.features));
    report.value("cost", json!("|x-y|^2"));

    if matches!(a, Input::Stats(_)) || matches!(b, Input::Stats(_)) {
        fd_of_stats(a, b, &metrics, &mut report)?;
        return finish(report.out, report.details, report.warnings, args.json);
    }

    let (Input::Points(xa), Input::Points(xb)) = (a, b) else { unreachable!("stats handled above") };
    if xa.ncols() != xb.ncols() {
        bail!("--a has {} feature dimensions, --b has {}: compare sets in the same space", xa.ncols(), xb.ncols());
    }
    let (a, b) = (xa.view(), xb.view());
    points_header(&mut report, (a.nrows(), b.nrows()), (na_total, nb_total), a.ncols());
    for metric in metrics {
        measure(metric, a, b, &args, &mut report)?;
    }
    report.warnings.dedup();
    finish(report.out, report.details, report.warnings, args.json)
}

/// The sizes of two point sets in the report (the same for a run and a merge of its shards).
fn points_header(report: &mut Report, used: (usize, usize), totals: (Option<usize>, Option<usize>), dim: usize) {
    report.value("n_a", json!(used.0));
    report.value("n_b", json!(used.1));
    report.detail("n_a_total", json!(totals.0));
    report.detail("n_b_total", json!(totals.1));
    report.detail("dim", json!(dim));
}

/// FD from the moments of the two sets, into the report (through the report a merge of FD
/// states prints, `scoreprobe_metrics::fd_state::fd_report`).
fn fd_of_moments(a: &m::MomentAccumulator, b: &m::MomentAccumulator, report: &mut Report) -> Result<()> {
    let r = m::fd_state::fd_report(a, b, "", (None, None))?;
    report.value("fd", r["fd"].clone());
    report.detail("fd", r["details"]["fd"].clone());
    report.warn_all(&r["warnings"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>());
    Ok(())
}

/// Only FD between point sets (or images) has a mergeable state.
fn check_shardable(args: &Args, metrics: &[Metric]) -> Result<()> {
    if metrics != [Metric::Fd] {
        let names: Vec<&str> = metrics.iter().map(|m| m.name()).collect();
        let why = format!(
            "{}: only --metric fd has a mergeable state (KID, W2 and PRDC need every point at once)",
            names.join(",")
        );
        return Err(OptionError::new("metric", why).into());
    }
    for (flag, p) in [("--a", &args.a), ("--b", &args.b)] {
        if matches!(kind_of(p, &args.opts.features), Kind::Stats) {
            bail!("{flag} {}: a .npz holds finished statistics, a shard needs the points or images", p.display());
        }
    }
    Ok(())
}

/// The sizes of the two inputs before any subsampling.
struct Totals {
    a: usize,
    b: usize,
}

/// The settings two FD states must share to merge, and the rows of each set the shards partition.
fn fd_settings(args: &Args, totals: &Totals, dim: usize) -> (BTreeMap<String, Value>, usize, usize) {
    let used = |total: usize| args.opts.n.map_or(total, |n| n.min(total));
    let (na, nb) = (used(totals.a), used(totals.b));
    let settings = BTreeMap::from([
        ("metric".to_string(), json!("fd")),
        ("a".to_string(), json!(args.a.display().to_string())),
        ("b".to_string(), json!(args.b.display().to_string())),
        ("features".to_string(), json!(args.opts.features)),
        ("n".to_string(), json!(args.opts.n)),
        ("seed".to_string(), json!(args.opts.seed)),
        ("dim".to_string(), json!(dim)),
        ("n_a".to_string(), json!(na)),
        ("n_b".to_string(), json!(nb)),
        ("n_a_total".to_string(), json!(totals.a)),
        ("n_b_total".to_string(), json!(totals.b)),
    ]);
    (settings, na, nb)
}

/// A shard's FD state: the moments of its rows of each set.
fn write_fd_state(
    args: &Args,
    shard: Shard,
    path: &Path,
    (a, b): (ArrayView2<f64>, ArrayView2<f64>),
    totals: Totals,
    start: std::time::Instant,
) -> Result<()> {
    if a.ncols() != b.ncols() {
        bail!("--a has {} feature dimensions, --b has {}: compare sets in the same space", a.ncols(), b.ncols());
    }
    let (ma, mb) = (m::MomentAccumulator::from_points(a)?, m::MomentAccumulator::from_points(b)?);
    let (settings, na, nb) = fd_settings(args, &totals, a.ncols());
    let payload = m::FdState::new(&ma, &mb, start.elapsed().as_secs_f64());
    StateFile::new(StateKind::MetricsFd, shard, na + nb, settings, &payload)?.write(path)?;
    if !shard.is_whole() {
        eprintln!(
            "shard {shard}: {} of {na} rows of --a, {} of {nb} of --b; state {}",
            a.nrows(),
            b.nrows(),
            path.display()
        );
    }
    Ok(())
}

/// `scoreprobe merge` of FD states: what the unsharded `metrics --metric fd` prints.
pub fn print_merged(set: &ShardSet, json: bool) -> Result<()> {
    let Value::Object(mut out) = m::fd_state::merge_fd(set)? else { unreachable!("the report is an object") };
    let details = match out.remove("details") {
        Some(Value::Object(d)) => d,
        _ => Map::new(),
    };
    let warnings = match out.remove("warnings") {
        Some(Value::Array(w)) => w.into_iter().filter_map(|v| v.as_str().map(String::from)).collect(),
        _ => vec![],
    };
    finish(out, details, warnings, json)
}

/// The metrics asked for (adjacent repeats dropped), after the checks that need no input read.
fn checked_metrics(args: &Args) -> Result<Vec<Metric>> {
    if args.opts.metric.is_empty() {
        bail!("--metric: give at least one of fd,kid,w2,w2-sinkhorn,w2-sliced,bures,prdc");
    }
    let mut metrics = args.opts.metric.clone();
    metrics.dedup();
    if args.opts.n == Some(0) {
        bail!("--n: must be at least 1");
    }
    let stats_given = [&args.a, &args.b].iter().any(|p| matches!(kind_of(p, &args.opts.features), Kind::Stats));
    if stats_given && args.opts.features != "identity" {
        bail!(
            "--features {}: .npz stats are already in their feature space; use --features identity",
            args.opts.features
        );
    }
    Ok(metrics)
}

/// FD when either input is a statistics file (the only metric a `.npz` of μ, Σ supports).
fn fd_of_stats(a: Input, b: Input, metrics: &[Metric], report: &mut Report) -> Result<()> {
    let not_fd: Vec<&str> = metrics.iter().filter(|&&x| x != Metric::Fd).map(|&x| x.name()).collect();
    if !not_fd.is_empty() {
        bail!(
            "--metric {}: needs point sets, but a .npz stats file was given; metrics that apply to .npz stats: fd",
            not_fd.join(",")
        );
    }
    let stats = |inp: Input, flag: &str| -> Result<(m::GaussianStats, Option<usize>)> {
        match inp {
            Input::Stats(s) => Ok((s, None)),
            Input::Points(x) => Ok((m::gaussian_stats(x.view()).with_context(|| flag.to_string())?, Some(x.nrows()))),
        }
    };
    let (sa, na) = stats(a, "--a")?;
    let (sb, nb) = stats(b, "--b")?;
    let r = m::frechet_distance_stats(&sa, &sb, m::TraceMethod::default())?;
    report.value("n_a", json!(na));
    report.value("n_b", json!(nb));
    report.value("fd", json_f(r.fd));
    report.detail("fd", json!({"method": r.method, "trace_sqrt_product": r.trace_sqrt_product}));
    report.warn_all(&r.warnings);
    Ok(())
}

/// One metric between two point sets, into the report.
fn measure(metric: Metric, a: ArrayView2<f64>, b: ArrayView2<f64>, args: &Args, report: &mut Report) -> Result<()> {
    match metric {
        Metric::Fd => {
            // through the accumulators a shard's state holds, so a merge prints the same numbers
            let (ma, mb) = (m::MomentAccumulator::from_points(a)?, m::MomentAccumulator::from_points(b)?);
            fd_of_moments(&ma, &mb, report)?;
        }
        Metric::Kid => {
            let opts = m::KidOptions {
                n_subsets: args.opts.kid_subsets,
                subset_size: args.opts.kid_subset_size,
                seed: args.opts.seed,
            };
            let r = m::kid(a, b, &opts)?;
            report.value("kid", json!({"mean": json_f(r.mean), "std": json_f(r.std), "se": json_f(r.se)}));
            report.detail("kid", json!({"subsets": opts.n_subsets, "subset_size": r.subset_size}));
            if r.subset_size == a.nrows() && r.subset_size == b.nrows() && opts.n_subsets > 1 {
                report.warnings.push(format!(
                    "kid: every subset is the whole set ({} points), so std is rounding noise; se is KID's standard error",
                    r.subset_size
                ));
            }
            if r.subset_size < args.opts.kid_subset_size {
                report.warnings.push(format!("kid: subset size reduced to {} (smaller set)", r.subset_size));
            }
        }
        Metric::W2 => {
            let r = m::w2_exact_paired(a, b, args.opts.seed)?;
            if r.subsampled {
                report.warnings.push(format!("w2: exact W2 needs equal sizes; both sets subsampled to {} points", r.n));
            }
            report.value("w2", json_f(r.result.w2));
            report.detail("w2", json!({"n": r.n, "w2_squared": json_f(r.result.w2_squared)}));
        }
        Metric::W2Sinkhorn => sinkhorn(a, b, args, report)?,
        Metric::W2Sliced => {
            let opts = m::SlicedOptions { n_projections: args.opts.projections, seed: args.opts.seed };
            let r = m::w2_sliced(a, b, &opts)?;
            report.value("w2_sliced", json_f(r.w2));
            report.detail(
                "w2_sliced",
                json!({"projections": r.n_projections, "w2_squared": json_f(r.w2_squared), "std_err_squared": json_f(r.std_err_squared)}),
            );
        }
        Metric::Bures => {
            let r = m::bures_w2(a, b)?;
            report.value("bures", json_f(r.w2));
            report.warn_all(&r.warnings);
        }
        Metric::Prdc => {
            let r = m::prdc(a, b, &m::PrdcOptions::default())?;
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

fn sinkhorn(a: ArrayView2<f64>, b: ArrayView2<f64>, args: &Args, report: &mut Report) -> Result<()> {
    m::check_dense(a.nrows(), b.nrows(), "w2-sinkhorn")?;
    let opts = m::SinkhornOptions { epsilon: args.opts.epsilon, ..Default::default() };
    let r = m::sinkhorn_divergence(a, b, &opts)?;
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
            opts.max_iter, r.ab.marginal_error, r.aa.marginal_error, r.bb.marginal_error
        ));
    }
    Ok(())
}

fn finish(
    mut out: Map<String, Value>,
    details: Map<String, Value>,
    warnings: Vec<String>,
    as_json: bool,
) -> Result<()> {
    out.insert("warnings".into(), json!(warnings));
    out.insert("details".into(), Value::Object(details));
    if as_json {
        print_json(&Value::Object(out));
        return Ok(());
    }
    const ORDER: [&str; 14] = [
        "n_a",
        "n_b",
        "features",
        "cost",
        "fd",
        "kid",
        "w2",
        "w2_sinkhorn",
        "w2_sliced",
        "bures",
        "precision",
        "recall",
        "density",
        "coverage",
    ];
    for k in ORDER {
        let Some(v) = out.get(k) else { continue };
        let text = match v {
            Value::Object(o) => o.iter().map(|(k2, v2)| format!("{k2} {v2}")).collect::<Vec<_>>().join(", "),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        print_text(&format!("{k:<12} {text}"));
    }
    for w in &warnings {
        print_text(&format!("warning: {w}"));
    }
    Ok(())
}
