//! `scoreprobe metrics`: reference metrics between two point/feature sets (scoreprobe-metrics).

use crate::io::{print_json, print_text};
use anyhow::{bail, Context, Result};
use ndarray::{Array2, ArrayView2};
use scoreprobe_features::FeatureExtractor;
use scoreprobe_metrics as m;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Metric {
    /// Fréchet distance between Gaussian fits (a squared quantity; FID on Inception features).
    Fd,
    /// Kernel Inception Distance: unbiased MMD², cubic kernel, mean and std over subsets.
    Kid,
    /// Exact W2 by optimal assignment (equal sizes; unequal sets are subsampled to the smaller).
    W2,
    /// Debiased Sinkhorn divergence, reported as its square root.
    W2Sinkhorn,
    /// Sliced W2 over random directions.
    W2Sliced,
    /// W2 between the Gaussian fits (√FD).
    Bures,
    /// Precision, recall (k = 3), density, coverage (k = 5).
    Prdc,
}

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
    /// Comma-separated metrics: fd,kid,w2,w2-sinkhorn,w2-sliced,bures,prdc.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "fd")]
    metric: Vec<Metric>,
    /// Use at most N points of each set (seeded subsample without replacement). Default: all.
    #[arg(long)]
    n: Option<usize>,
    /// Seed for subsampling, KID subsets and sliced directions (same seed, same numbers).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Feature space of the metrics: identity (points as given; images as flattened pixels in [0, 1]),
    /// mnist-cnn (256-d), mobilenet (1024-d) or inception:PATH (a user-supplied Inception-v3 ONNX,
    /// 2048-d). Model feature spaces read images: folders, IDX files, .npy image arrays.
    #[arg(long, default_value = "identity")]
    features: String,
    /// Sinkhorn ε in units of |x-y|² (default: 0.05 × mean cost between the sets).
    #[arg(long)]
    epsilon: Option<f64>,
    /// KID: number of subsets.
    #[arg(long, default_value_t = 100)]
    kid_subsets: usize,
    /// KID: points per subset (capped at the smaller set).
    #[arg(long, default_value_t = 1000)]
    kid_subset_size: usize,
    /// Sliced W2: number of random directions.
    #[arg(long, default_value_t = 256)]
    projections: usize,
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
fn load(
    path: &Path,
    flag: &str,
    extractor: &dyn FeatureExtractor,
    n: Option<usize>,
    seed: u64,
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
    let extractor = scoreprobe_features::extractor_from_name(&args.features, None)
        .with_context(|| format!("--features {}", args.features))?;
    let (a, na_total) = load(&args.a, "--a", extractor.as_ref(), args.n, args.seed)?;
    let (b, nb_total) = load(&args.b, "--b", extractor.as_ref(), args.n, args.seed.wrapping_add(1))?;
    let mut report = Report::default();
    report.value("features", json!(args.features));
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
    report.value("n_a", json!(a.nrows()));
    report.value("n_b", json!(b.nrows()));
    report.detail("n_a_total", json!(na_total));
    report.detail("n_b_total", json!(nb_total));
    report.detail("dim", json!(a.ncols()));
    for metric in metrics {
        measure(metric, a, b, &args, &mut report)?;
    }
    report.warnings.dedup();
    finish(report.out, report.details, report.warnings, args.json)
}

/// The metrics asked for (adjacent repeats dropped), after the checks that need no input read.
fn checked_metrics(args: &Args) -> Result<Vec<Metric>> {
    if args.metric.is_empty() {
        bail!("--metric: give at least one of fd,kid,w2,w2-sinkhorn,w2-sliced,bures,prdc");
    }
    let mut metrics = args.metric.clone();
    metrics.dedup();
    if args.n == Some(0) {
        bail!("--n: must be at least 1");
    }
    let stats_given = [&args.a, &args.b].iter().any(|p| matches!(kind_of(p, &args.features), Kind::Stats));
    if stats_given && args.features != "identity" {
        bail!("--features {}: .npz stats are already in their feature space; use --features identity", args.features);
    }
    Ok(metrics)
}

fn metric_name(metric: Metric) -> &'static str {
    match metric {
        Metric::Kid => "kid",
        Metric::W2 => "w2",
        Metric::W2Sinkhorn => "w2-sinkhorn",
        Metric::W2Sliced => "w2-sliced",
        Metric::Bures => "bures",
        Metric::Prdc => "prdc",
        Metric::Fd => "fd",
    }
}

/// FD when either input is a statistics file (the only metric a `.npz` of μ, Σ supports).
fn fd_of_stats(a: Input, b: Input, metrics: &[Metric], report: &mut Report) -> Result<()> {
    let not_fd: Vec<&str> = metrics.iter().filter(|&&x| x != Metric::Fd).map(|&x| metric_name(x)).collect();
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
            let r = m::frechet_distance_points(a, b, m::TraceMethod::default())?;
            report.value("fd", json_f(r.fd));
            report.detail("fd", json!({"method": r.method, "trace_sqrt_product": r.trace_sqrt_product}));
            report.warn_all(&r.warnings);
        }
        Metric::Kid => {
            let opts =
                m::KidOptions { n_subsets: args.kid_subsets, subset_size: args.kid_subset_size, seed: args.seed };
            let r = m::kid(a, b, &opts)?;
            report.value("kid", json!({"mean": json_f(r.mean), "std": json_f(r.std)}));
            report.detail("kid", json!({"subsets": opts.n_subsets, "subset_size": r.subset_size}));
            if r.subset_size < args.kid_subset_size {
                report.warnings.push(format!("kid: subset size reduced to {} (smaller set)", r.subset_size));
            }
        }
        Metric::W2 => {
            let r = m::w2_exact_paired(a, b, args.seed)?;
            if r.subsampled {
                report.warnings.push(format!("w2: exact W2 needs equal sizes; both sets subsampled to {} points", r.n));
            }
            report.value("w2", json_f(r.result.w2));
            report.detail("w2", json!({"n": r.n, "w2_squared": json_f(r.result.w2_squared)}));
        }
        Metric::W2Sinkhorn => sinkhorn(a, b, args, report)?,
        Metric::W2Sliced => {
            let opts = m::SlicedOptions { n_projections: args.projections, seed: args.seed };
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
    let opts = m::SinkhornOptions { epsilon: args.epsilon, ..Default::default() };
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
