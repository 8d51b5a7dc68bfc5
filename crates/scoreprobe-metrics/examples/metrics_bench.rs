//! Wall time of the reference metrics, one workload at a time, for `bench/compare-metrics.sh` and
//! docs/benchmarks.md (median of repeats).
//!
//! ```sh
//! cargo run --release -p scoreprobe-metrics --example metrics_bench -- [--quick] [--reps N] [--data DIR] [--kid-subsets N] [WORKLOAD ...]
//! ```
//!
//! Prints one TSV row per workload: `workload<TAB>seconds<TAB>details` (the details end with the
//! CPU seconds of the median run, all threads: a check on wall times taken on a loaded machine). Without WORKLOAD all of
//! them run. With `--data DIR` the inputs are read from the `.npy`/`.npz` files that
//! `python3 bench/metrics_bench.py --make-data DIR` wrote, so scoreprobe and its Python peer time
//! the same numbers; without it the same shapes are drawn here.
//!
//! Workloads (shapes of issue 15): `moments` (mean + covariance of 10 000 × 2048), `fd-trace`
//! (FD from two 2048-wide covariances), `kid` (100 subsets × 1000, d = 2048), `w2-exact-1000`,
//! `w2-exact-2000`, `sinkhorn-1000`, `sinkhorn-2000` (d = 2, ε = 0.05 × mean cost, tol 1e-6),
//! and the extras `fd-trace-symmetric`, `sliced-2000`, `prdc-2000`.

use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use scoreprobe_metrics::*;
use std::path::PathBuf;
use std::time::Instant;

const ALL: &[&str] = &[
    "moments",
    "fd-trace",
    "kid",
    "w2-exact-1000",
    "w2-exact-2000",
    "sinkhorn-1000",
    "sinkhorn-2000",
    "fd-trace-symmetric",
    "sliced-2000",
    "prdc-2000",
];

fn normal(n: usize, d: usize, shift: f64, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((n, d), || {
        let z: f64 = StandardNormal.sample(&mut rng);
        z + shift
    })
}

/// CPU seconds (user + system, all threads) this process has used so far, from /proc (Linux);
/// 0 elsewhere. On a loaded machine it moves much less than the wall time.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest.split_whitespace().skip(11).take(2).filter_map(|v| v.parse().ok()).collect();
    f.iter().sum::<f64>() / 100.0 // USER_HZ, 100 on Linux
}

thread_local! {
    /// CPU seconds of the median run of the last [`time`] call.
    static LAST_CPU: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// Median wall seconds of `reps` runs of `f` (the CPU seconds of that run go to `LAST_CPU`).
fn time<T>(reps: usize, mut f: impl FnMut() -> T) -> f64 {
    let mut v: Vec<(f64, f64)> = (0..reps)
        .map(|_| {
            let (t, c) = (Instant::now(), cpu_seconds());
            std::hint::black_box(f());
            (t.elapsed().as_secs_f64(), cpu_seconds() - c)
        })
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (wall, cpu) = v[v.len() / 2];
    LAST_CPU.with(|c| c.set(cpu));
    wall
}

struct Inputs {
    data: Option<PathBuf>,
    quick: bool,
    /// KID subsets (default 100; fewer for instruction-count profiles).
    kid_subsets: usize,
}

impl Inputs {
    /// Feature sets (10 000 × 2048; 1000 × 512 with --quick): N(0, I) and N(0.1, I).
    fn features(&self) -> (Array2<f64>, Array2<f64>) {
        match &self.data {
            Some(dir) => (
                read_points_npy(dir.join("feat_a.npy")).expect("feat_a.npy"),
                read_points_npy(dir.join("feat_b.npy")).expect("feat_b.npy"),
            ),
            None => {
                let (n, d) = if self.quick { (1000, 512) } else { (10_000, 2048) };
                (normal(n, d, 0.0, 1), normal(n, d, 0.1, 2))
            }
        }
    }

    fn stats(&self) -> (GaussianStats, GaussianStats) {
        match &self.data {
            Some(dir) => (
                read_stats_npz(dir.join("stats_a.npz")).expect("stats_a.npz"),
                read_stats_npz(dir.join("stats_b.npz")).expect("stats_b.npz"),
            ),
            None => {
                let (a, b) = self.features();
                (gaussian_stats(a.view()).unwrap(), gaussian_stats(b.view()).unwrap())
            }
        }
    }

    /// 2-D clouds of n points: N(0, I) and N(0.5, I).
    fn points(&self, n: usize) -> (Array2<f64>, Array2<f64>) {
        match &self.data {
            Some(dir) => (
                read_points_npy(dir.join(format!("pts{n}_a.npy"))).expect("pts a"),
                read_points_npy(dir.join(format!("pts{n}_b.npy"))).expect("pts b"),
            ),
            None => {
                let n = if self.quick { n / 4 } else { n };
                (normal(n, 2, 0.0, 3), normal(n, 2, 0.5, 4))
            }
        }
    }
}

fn shape(x: ArrayView2<f64>) -> String {
    format!("{}x{}", x.nrows(), x.ncols())
}

fn run(w: &str, inp: &Inputs, reps: usize) -> Result<(f64, String)> {
    let n_of = |w: &str| w.rsplit('-').next().and_then(|s| s.parse::<usize>().ok()).expect("size suffix");
    Ok(match w {
        "moments" => {
            let (a, _) = inp.features();
            let t = time(reps, || gaussian_stats(a.view()).unwrap());
            (t, format!("mean + unbiased covariance of {}", shape(a.view())))
        }
        "fd-trace" | "fd-trace-symmetric" => {
            let (sa, sb) = inp.stats();
            let method = if w == "fd-trace" { TraceMethod::Cholesky } else { TraceMethod::SymmetricSqrt };
            let r = frechet_distance_stats(&sa, &sb, method)?;
            let t = time(reps, || frechet_distance_stats(&sa, &sb, method).unwrap());
            (t, format!("d={} fd={:.10e} route={}", sa.mu.len(), r.fd, r.method))
        }
        "kid" => {
            let (a, b) = inp.features();
            let opts = KidOptions { n_subsets: inp.kid_subsets, ..Default::default() };
            let r = kid(a.view(), b.view(), &opts)?;
            let t = time(reps, || kid(a.view(), b.view(), &opts).unwrap());
            (t, format!("{} subsets x {} of {} kid={:.6e}", opts.n_subsets, r.subset_size, shape(a.view()), r.mean))
        }
        _ if w.starts_with("w2-exact-") => {
            let (a, b) = inp.points(n_of(w));
            let r = w2_exact(a.view(), b.view())?;
            let t = time(reps, || w2_exact(a.view(), b.view()).unwrap());
            (t, format!("n={} w2^2={:.12e}", a.nrows(), r.w2_squared))
        }
        _ if w.starts_with("sinkhorn-") => {
            let (a, b) = inp.points(n_of(w));
            let opts = SinkhornOptions::default();
            let r = sinkhorn_divergence(a.view(), b.view(), &opts)?;
            let t = time(reps, || sinkhorn_divergence(a.view(), b.view(), &opts).unwrap());
            let cost_div = r.ab.transport_cost - 0.5 * (r.aa.transport_cost + r.bb.transport_cost);
            (
                t,
                format!(
                    "n={} eps={:.6e} S_eps={:.8e} transport-only={:.8e} iters={}/{}/{} marginal_l1={:.1e}/{:.1e}/{:.1e}",
                    a.nrows(),
                    r.epsilon,
                    r.divergence,
                    cost_div,
                    r.ab.iterations,
                    r.aa.iterations,
                    r.bb.iterations,
                    r.ab.marginal_error,
                    r.aa.marginal_error,
                    r.bb.marginal_error
                ),
            )
        }
        _ if w.starts_with("sliced-") => {
            let (a, b) = inp.points(n_of(w));
            let t = time(reps, || w2_sliced(a.view(), b.view(), &SlicedOptions::default()).unwrap());
            (t, format!("n={} 256 projections", a.nrows()))
        }
        _ if w.starts_with("prdc-") => {
            let (a, b) = inp.points(n_of(w));
            let t = time(reps, || prdc(a.view(), b.view(), &PrdcOptions::default()).unwrap());
            (t, format!("n={}", a.nrows()))
        }
        _ => return Err(MetricsError::Invalid(format!("unknown workload {w:?}; known: {}", ALL.join(", ")))),
    })
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut quick, mut reps, mut data, mut works) = (false, None, None, Vec::new());
    let mut kid_subsets = 100;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--reps" => reps = Some(args.next().and_then(|s| s.parse().ok()).expect("--reps N")),
            "--data" => data = Some(PathBuf::from(args.next().expect("--data DIR"))),
            "--kid-subsets" => kid_subsets = args.next().and_then(|s| s.parse().ok()).expect("--kid-subsets N"),
            _ => works.push(a),
        }
    }
    if works.is_empty() {
        works = ALL.iter().map(|s| s.to_string()).collect();
    }
    let reps = reps.unwrap_or(if quick { 1 } else { 3 });
    let inp = Inputs { data, quick, kid_subsets };
    eprintln!("threads: {}", rayon::current_num_threads());
    for w in &works {
        let (t, details) = run(w, &inp, reps)?;
        let cpu = LAST_CPU.with(|c| c.get());
        println!("{w}\t{t:.4}\t{details} cpu={cpu:.2}s");
    }
    Ok(())
}
