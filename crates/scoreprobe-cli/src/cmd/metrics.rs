//! `scoreprobe metrics`: reference metrics between two point/feature sets (scoreprobe-metrics).

use crate::io::{print_json, print_text};
use anyhow::{bail, Context, Result};
use ndarray::{Array2, ArrayView2};
use scoreprobe_core::shard::Shard;
use scoreprobe_core::state::{ShardSet, StateFile, StateKind};
use scoreprobe_features::FeatureExtractor;
use scoreprobe_metrics as m;
use scoreprobe_metrics::report::{json_f, points_report, Report};
use scoreprobe_metrics::{Metric, MetricsOptions};
use serde_json::{json, Value};
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

pub fn run(args: Args) -> Result<()> {
    let metrics = checked_metrics(&args)?;
    // Build the feature space (loading its model) before reading any input.
    let extractor = scoreprobe_features::extractor_from_name(&args.opts.features, None)
        .with_context(|| format!("--features {}", args.opts.features))?;
    let (shard, state_out) = args.opts.shard.checked()?;
    if state_out.is_some() {
        check_shardable(&args)?;
    }
    let start = std::time::Instant::now();
    let (a, na_total) = load(&args.a, "--a", extractor.as_ref(), args.opts.n, args.opts.seed, shard)?;
    let (b, nb_total) = load(&args.b, "--b", extractor.as_ref(), args.opts.n, args.opts.seed.wrapping_add(1), shard)?;
    if let (Some(path), Input::Points(xa), Input::Points(xb)) = (state_out, &a, &b) {
        let totals = Totals { a: na_total.unwrap_or(0), b: nb_total.unwrap_or(0) };
        write_state(&args, &metrics, shard, path, (xa.view(), xb.view()), totals, start)?;
        if !shard.is_whole() {
            return Ok(());
        }
    }
    if matches!(a, Input::Stats(_)) || matches!(b, Input::Stats(_)) {
        let mut report = Report::default();
        report.value("features", json!(args.opts.features));
        report.value("cost", json!("|x-y|^2"));
        fd_of_stats(a, b, &metrics, &mut report)?;
        return finish(report.into_value(), args.json);
    }
    let (Input::Points(xa), Input::Points(xb)) = (a, b) else { unreachable!("stats handled above") };
    let report = points_report(xa.view(), xb.view(), &args.opts, (na_total, nb_total))?;
    finish(report.into_value(), args.json)
}

/// A shard's state holds points or their moments: `.npz` statistics cannot be split.
fn check_shardable(args: &Args) -> Result<()> {
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

/// The settings two metrics states must share to merge, and the rows of each set the shards
/// partition.
fn state_settings(args: &Args, totals: &Totals, dim: usize) -> (BTreeMap<String, Value>, usize, usize) {
    let used = |total: usize| args.opts.n.map_or(total, |n| n.min(total));
    let (na, nb) = (used(totals.a), used(totals.b));
    let settings = BTreeMap::from([
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

/// A shard's state: the moments of its rows of each set when FD is the only metric (their size
/// does not grow with n), else its rows themselves (KID, W2 and PRDC need every point at once).
fn write_state(
    args: &Args,
    metrics: &[Metric],
    shard: Shard,
    path: &Path,
    (a, b): (ArrayView2<f64>, ArrayView2<f64>),
    totals: Totals,
    start: std::time::Instant,
) -> Result<()> {
    if a.ncols() != b.ncols() {
        bail!("--a has {} feature dimensions, --b has {}: compare sets in the same space", a.ncols(), b.ncols());
    }
    let (mut settings, na, nb) = state_settings(args, &totals, a.ncols());
    let seconds = start.elapsed().as_secs_f64();
    let state = if metrics == [Metric::Fd] {
        settings.insert("metric".into(), json!("fd"));
        let (ma, mb) = (m::MomentAccumulator::from_points(a)?, m::MomentAccumulator::from_points(b)?);
        StateFile::new(StateKind::MetricsFd, shard, na + nb, settings, &m::FdState::new(&ma, &mb, seconds))?
    } else {
        let names: Vec<&str> = metrics.iter().map(|m| m.name()).collect();
        settings.insert("metric".into(), json!(names));
        settings.insert("options".into(), m::points_state::recorded_options(&args.opts));
        StateFile::new(StateKind::MetricsPoints, shard, na + nb, settings, &m::PointsState::new(a, b, seconds))?
    };
    state.write(path)?;
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

/// `scoreprobe merge` of metrics states: what the unsharded `metrics` prints.
pub fn print_merged(set: &ShardSet, json: bool) -> Result<()> {
    let report = match set.kind {
        StateKind::MetricsPoints => m::points_state::merge_points(set)?,
        _ => m::fd_state::merge_fd(set)?,
    };
    finish(report, json)
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

/// Prints a report (`Report::into_value`'s shape): as JSON, or its values one per line and then
/// its warnings.
fn finish(report: Value, as_json: bool) -> Result<()> {
    if as_json {
        print_json(&report);
        return Ok(());
    }
    let out = report.as_object().expect("a report is an object");
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
    for w in out["warnings"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        print_text(&format!("warning: {w}"));
    }
    Ok(())
}
