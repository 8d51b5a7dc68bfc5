//! Wall time of the reference metrics on this machine (median of repeats), for docs/benchmarks.md.
//!
//! `cargo run --release -p scoreprobe-metrics --example bench [-- --quick]`
//!
//! The peer numbers come from `python3 bench/metrics_bench.py` (scipy's sqrtm FD as in pytorch-fid,
//! POT's emd2 and sinkhorn2) on the same data sizes.

use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use scoreprobe_metrics::*;
use std::time::Instant;

fn normal(n: usize, d: usize, shift: f64, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((n, d), || {
        let z: f64 = StandardNormal.sample(&mut rng);
        z + shift
    })
}

/// Median wall seconds of `reps` runs of `f`.
fn time<T>(reps: usize, mut f: impl FnMut() -> T) -> f64 {
    let mut v: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64()
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let reps = if quick { 1 } else { 3 };
    println!("threads: {}", rayon::current_num_threads());
    for &(n, d) in &[(10_000usize, 2048usize), (2_000, 256)] {
        let (n, d) = if quick { (n / 10, d / 4) } else { (n, d) };
        let a = normal(n, d, 0.0, 1);
        let b = normal(n, d, 0.1, 2);
        let stats_a = gaussian_stats(a.view())?;
        let stats_b = gaussian_stats(b.view())?;
        let t_stats = time(reps, || gaussian_stats(a.view()).unwrap());
        let t_chol = time(reps, || frechet_distance_stats(&stats_a, &stats_b, TraceMethod::Cholesky).unwrap());
        let t_sym = time(reps, || frechet_distance_stats(&stats_a, &stats_b, TraceMethod::SymmetricSqrt).unwrap());
        println!("fd n={n} d={d}: moments {t_stats:.3} s per set; trace term cholesky {t_chol:.3} s, symmetric-sqrt {t_sym:.3} s");
        let t_kid = time(reps, || kid(a.view(), b.view(), &KidOptions::default()).unwrap());
        println!("kid n={n} d={d} (100 subsets x 1000): {t_kid:.3} s");
    }
    for &n in &[1000usize, 2000] {
        let n = if quick { n / 4 } else { n };
        let a = normal(n, 2, 0.0, 3);
        let b = normal(n, 2, 0.5, 4);
        let t_exact = time(reps, || w2_exact(a.view(), b.view()).unwrap());
        let t_sink = time(reps, || sinkhorn_divergence(a.view(), b.view(), &SinkhornOptions::default()).unwrap());
        let t_sliced = time(reps, || w2_sliced(a.view(), b.view(), &SlicedOptions::default()).unwrap());
        let t_prdc = time(reps, || prdc(a.view(), b.view(), &PrdcOptions::default()).unwrap());
        println!(
            "w2 n={n} d=2: exact {t_exact:.3} s, sinkhorn divergence {t_sink:.3} s, sliced (256) {t_sliced:.4} s, prdc {t_prdc:.3} s"
        );
    }
    Ok(())
}
