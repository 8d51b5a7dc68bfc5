//! Numerical robustness of the metrics (issue 17 item 4): singular covariances (N < D), features
//! of magnitude 1e±30, and constant feature columns give finite, correct numbers, with a typed
//! warning where the number is less trustworthy.

use ndarray::{s, Array2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use scoreprobe_metrics::*;

fn cloud(n: usize, d: usize, shift: f64, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((n, d), |(_, j)| {
        let z: f64 = StandardNormal.sample(&mut rng);
        shift * (j % 2) as f64 + z * (1.0 + 0.2 * j as f64)
    })
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(f64::MIN_POSITIVE)
}

#[test]
fn fd_with_fewer_points_than_dimensions_is_finite_non_negative_and_warns() {
    for (na, nb, d) in [(10, 12, 30), (2, 3, 50), (40, 40, 64)] {
        let a = cloud(na, d, 0.0, 1);
        let b = cloud(nb, d, 0.4, 2);
        for method in [TraceMethod::Cholesky, TraceMethod::SymmetricSqrt] {
            let r = frechet_distance_points(a.view(), b.view(), method).unwrap();
            assert!(r.fd.is_finite() && r.fd >= 0.0, "{method:?} {na}/{nb}x{d}: {}", r.fd);
            assert!(r.trace_sqrt_product.is_finite() && r.trace_sqrt_product >= 0.0);
            for (set, n) in [(Set::First, na), (Set::Second, nb)] {
                assert!(
                    r.warnings.contains(&MetricWarning::RankDeficient { set, n, dim: d }),
                    "{method:?}: {:?}",
                    r.warnings
                );
            }
            // The singular first covariance takes the eigendecomposition route (the warning says so).
            if method == TraceMethod::Cholesky {
                assert_eq!(r.method, "eigen-fallback");
                assert!(r.warnings.contains(&MetricWarning::SingularFirstCovariance));
            }
            // Identical singular sets: still (numerically) zero, never negative or NaN.
            let same = frechet_distance_points(a.view(), a.view(), method).unwrap();
            assert!(same.fd >= 0.0 && same.fd <= 1e-8 * same.trace_sum, "{method:?}: {}", same.fd);
        }
        // Both routes agree on the singular case too, to the square root of rounding: the d − N
        // zero eigenvalues of Σ1Σ2 come out as ±1e-16 λ_max and each adds up to √(1e-16 λ_max).
        let r1 = frechet_distance_points(a.view(), b.view(), TraceMethod::Cholesky).unwrap().fd;
        let r2 = frechet_distance_points(a.view(), b.view(), TraceMethod::SymmetricSqrt).unwrap().fd;
        assert!(rel(r1, r2) < 1e-6, "{r1} vs {r2}");
        // Bures W2 carries the same warnings.
        let bw = bures_w2(a.view(), b.view()).unwrap();
        assert!(bw.w2.is_finite() && (bw.w2_squared - r1).abs() <= 1e-12 * r1);
        assert!(bw.warnings.iter().any(|w| matches!(w, MetricWarning::RankDeficient { .. })));
        // Warnings print as sentences a caller can show.
        assert!(bw.warnings.iter().all(|w| !w.to_string().is_empty()));
    }
}

/// Unbiased MMD² with kernel k (m points each), straight from the definition.
fn mmd2(x: &Array2<f64>, y: &Array2<f64>, k: impl Fn(f64) -> f64) -> f64 {
    let (m, d) = (x.nrows() as f64, x.ncols() as f64);
    let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
    for i in 0..x.nrows() {
        for j in 0..x.nrows() {
            if i != j {
                sxx += k(x.row(i).dot(&x.row(j)) / d);
                syy += k(y.row(i).dot(&y.row(j)) / d);
            }
            sxy += k(x.row(i).dot(&y.row(j)) / d);
        }
    }
    (sxx + syy) / (m * (m - 1.0)) - 2.0 * sxy / (m * m)
}

#[test]
fn extreme_magnitudes_neither_overflow_nor_underflow() {
    let (n, d) = (60, 4);
    let a = cloud(n, d, 0.0, 3);
    let b = cloud(n, d, 1.5, 4);
    let fd0 = frechet_distance_points(a.view(), b.view(), TraceMethod::Cholesky).unwrap().fd;
    let w0 = w2_exact(a.view(), b.view()).unwrap().w2_squared;
    let s0 = sinkhorn_divergence(a.view(), b.view(), &SinkhornOptions { tol: 1e-10, ..Default::default() }).unwrap();
    let sl0 = w2_sliced(a.view(), b.view(), &SlicedOptions::default()).unwrap().w2_squared;
    let bw0 = bures_w2(a.view(), b.view()).unwrap().w2_squared;
    let opts = KidOptions { n_subsets: 3, subset_size: n, seed: 5 };
    for c in [1e30, 1e-30, 1e150, 1e-150] {
        let (ca, cb) = (a.mapv(|v| c * v), b.mapv(|v| c * v));
        let c2 = c * c;
        // FD, exact, entropic (relative ε), sliced and Bures W2² are homogeneous of degree 2.
        for method in [TraceMethod::Cholesky, TraceMethod::SymmetricSqrt] {
            let fd = frechet_distance_points(ca.view(), cb.view(), method).unwrap().fd;
            assert!(rel(fd / c2, fd0) < 1e-9, "c={c:e} {method:?}: {fd:e} vs {:e}", fd0 * c2);
        }
        let w = w2_exact(ca.view(), cb.view()).unwrap().w2_squared;
        assert!(rel(w / c2, w0) < 1e-9, "c={c:e}: exact W2² {w:e}");
        let s =
            sinkhorn_divergence(ca.view(), cb.view(), &SinkhornOptions { tol: 1e-10, ..Default::default() }).unwrap();
        assert!(s.converged && rel(s.divergence / c2, s0.divergence) < 1e-7, "c={c:e}: S {:e}", s.divergence);
        let sl = w2_sliced(ca.view(), cb.view(), &SlicedOptions::default()).unwrap().w2_squared;
        assert!(rel(sl / c2, sl0) < 1e-9, "c={c:e}: sliced {sl:e}");
        let bw = bures_w2(ca.view(), cb.view()).unwrap().w2_squared;
        assert!(rel(bw / c2, bw0) < 1e-9, "c={c:e}: Bures {bw:e}");
        if !(1e-100..=1e100).contains(&c) {
            continue; // KID's kernel has degree 6 in the data: 1e±30 is its range, not 1e±150.
        }
        // KID is not homogeneous, (t + 1)³ with t = xᵀy/d. At 1e30 the t³ term is all that is
        // left; at 1e-30 the 3t term (a linear-kernel MMD, ~1e-60), which the constant 1 would
        // have swallowed. Both against the definition, subset by subset (one subset = all points).
        let one = KidOptions { n_subsets: 1, subset_size: n, seed: 0 };
        let big = kid(ca.view(), cb.view(), &one).unwrap().mean;
        let small_c = if c > 1.0 { 1.0 / c } else { c };
        let tiny = kid(a.mapv(|v| small_c * v).view(), b.mapv(|v| small_c * v).view(), &one).unwrap().mean;
        if c > 1.0 {
            let want = mmd2(&a, &b, |t| t * t * t) * c2 * c2 * c2;
            assert!(big.is_finite() && rel(big, want) < 1e-9, "c={c:e}: KID {big:e} vs {want:e}");
        }
        let want_tiny = mmd2(&a, &b, |t| 3.0 * t) * small_c * small_c;
        assert!(tiny != 0.0 && rel(tiny, want_tiny) < 1e-9, "KID at {small_c:e}: {tiny:e} vs {want_tiny:e}");
        let r = kid(ca.view(), cb.view(), &opts).unwrap();
        assert!(r.mean.is_finite() && r.std.is_finite());
    }
}

#[test]
fn constant_feature_columns_are_handled() {
    let (n, d) = (200, 3);
    let base_a = cloud(n, d, 0.0, 6);
    let base_b = cloud(n, d, 0.8, 7);
    // Append a constant column: 0.1 in the first set, 0.1 or 2.6 in the second (0.1 is not exact
    // in binary: a naive mean leaves a tiny spurious variance).
    let with_const = |x: &Array2<f64>, c: f64| {
        let mut y = Array2::from_elem((x.nrows(), d + 1), c);
        y.slice_mut(s![.., ..d]).assign(x);
        y
    };
    for cb in [0.1, 2.6] {
        let a = with_const(&base_a, 0.1);
        let b = with_const(&base_b, cb);
        let gap = (cb - 0.1) * (cb - 0.1);
        // The moments see an exactly constant column: mean exact, variance exactly 0.
        let stats = gaussian_stats(a.view()).unwrap();
        assert_eq!(stats.mu[d], 0.1);
        assert!(stats.sigma.row(d).iter().all(|&v| v == 0.0) && stats.sigma.column(d).iter().all(|&v| v == 0.0));
        // FD: the constant column adds (c_a − c_b)² and nothing else; warned about.
        let fd0 = frechet_distance_points(base_a.view(), base_b.view(), TraceMethod::Cholesky).unwrap().fd;
        for method in [TraceMethod::Cholesky, TraceMethod::SymmetricSqrt] {
            let r = frechet_distance_points(a.view(), b.view(), method).unwrap();
            assert!((r.fd - (fd0 + gap)).abs() < 1e-9 * (fd0 + gap), "{method:?}: {} vs {}", r.fd, fd0 + gap);
            for set in [Set::First, Set::Second] {
                assert!(
                    r.warnings.contains(&MetricWarning::ConstantFeatures { set, count: 1, first: d }),
                    "{:?}",
                    r.warnings
                );
            }
        }
        // Every cost |x − y|² gains (c_a − c_b)²: exact, entropic (fixed ε) and Bures W2² gain it.
        let w0 = w2_exact(base_a.view(), base_b.view()).unwrap().w2_squared;
        let w = w2_exact(a.view(), b.view()).unwrap().w2_squared;
        assert!((w - (w0 + gap)).abs() < 1e-10 * (w0 + gap), "{w} vs {}", w0 + gap);
        let so = SinkhornOptions { epsilon: Some(0.2), tol: 1e-10, ..Default::default() };
        let s0 = sinkhorn_divergence(base_a.view(), base_b.view(), &so).unwrap().divergence;
        let sv = sinkhorn_divergence(a.view(), b.view(), &so).unwrap().divergence;
        assert!((sv - (s0 + gap)).abs() < 1e-7 * (s0 + gap + 1.0), "{sv} vs {}", s0 + gap);
        let bw = bures_w2(a.view(), b.view()).unwrap().w2_squared;
        assert!((bw - (fd0 + gap)).abs() < 1e-9 * (fd0 + gap));
        // KID and sliced W2 stay finite.
        let k = kid(a.view(), b.view(), &KidOptions { n_subsets: 5, subset_size: 100, seed: 1 }).unwrap();
        assert!(k.mean.is_finite() && k.std.is_finite());
        assert!(w2_sliced(a.view(), b.view(), &SlicedOptions::default()).unwrap().w2.is_finite());
    }
    // All columns constant, both sets the same point: FD = 0 exactly, and the singular route.
    let p = Array2::from_elem((10, 4), 0.3);
    let r = frechet_distance_points(p.view(), p.view(), TraceMethod::Cholesky).unwrap();
    assert_eq!(r.fd, 0.0);
    assert!(r.warnings.contains(&MetricWarning::ConstantFeatures { set: Set::First, count: 4, first: 0 }));
    // Sets that differ only by a constant offset in one column: FD = offset².
    let mut q = p.clone();
    q.column_mut(2).fill(1.3);
    let r = frechet_distance_points(p.view(), q.view(), TraceMethod::Cholesky).unwrap();
    assert!((r.fd - 1.0).abs() < 1e-12, "{}", r.fd);
    let _ = p.sum_axis(Axis(0));
}
