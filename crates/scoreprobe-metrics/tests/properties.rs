//! Property tests (proptest) of the metrics' invariances (issue 17 item 2): FD symmetric, zero on
//! identical sets, invariant under row permutation and a common translation, scaling as c²; the
//! four W2s symmetric and translation-covariant; KID unbiased on identical distributions; the
//! streaming moments' merge associative and commutative. Case counts are kept small so that each
//! property runs in about a second; the seed is fixed so that CI runs are reproducible
//! (PROPTEST_RNG_SEED / PROPTEST_CASES override it locally for longer searches).

use ndarray::{Array1, Array2, Axis};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use scoreprobe_metrics::*;

fn config(cases: u32) -> Config {
    let mut c = Config::with_cases(cases);
    if std::env::var("PROPTEST_RNG_SEED").is_err() {
        c.rng_seed = RngSeed::Fixed(0x5c0e_9b0b);
    }
    if let Ok(n) = std::env::var("PROPTEST_CASES") {
        c.cases = n.parse().expect("PROPTEST_CASES");
    }
    c.failure_persistence = None;
    c
}

/// n × d Gaussian cloud with per-column scales and a shift, drawn from `seed`.
fn cloud(n: usize, d: usize, shift: f64, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((n, d), |(_, j)| {
        let z: f64 = StandardNormal.sample(&mut rng);
        shift + z * (1.0 + 0.3 * j as f64)
    })
}

fn translate(x: &Array2<f64>, t: &Array1<f64>) -> Array2<f64> {
    x + &t.view().insert_axis(Axis(0))
}

fn permute_rows(x: &Array2<f64>, seed: u64) -> Array2<f64> {
    let mut idx: Vec<usize> = (0..x.nrows()).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    x.select(Axis(0), &idx)
}

fn fd(a: &Array2<f64>, b: &Array2<f64>) -> FrechetResult {
    frechet_distance_points(a.view(), b.view(), TraceMethod::Cholesky).unwrap()
}

/// Rounding scale of an FD: its terms are O(|μ|² + tr Σ), and FD is their difference.
fn fd_tol(r: &FrechetResult) -> f64 {
    1e-9 * (r.mean_term + r.trace_sum + 1e-300)
}

/// Shapes with N > D + 1 (full-rank covariances; the rank-deficient case has its own tests).
fn sizes() -> impl Strategy<Value = (usize, usize)> {
    (1usize..6).prop_flat_map(|d| (d + 3..d + 40, Just(d)))
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn fd_symmetric_zero_on_identical_permutation_and_translation_invariant(
        (n, d) in sizes(), m in 5usize..40, shift in -2.0f64..2.0, seed in any::<u64>(),
        t in prop::collection::vec(-1e3f64..1e3, 6),
    ) {
        let a = cloud(n, d, 0.0, seed);
        let b = cloud(m.max(d + 2), d, shift, seed ^ 1);
        let ab = fd(&a, &b);
        let ba = fd(&b, &a);
        prop_assert!((ab.fd - ba.fd).abs() <= fd_tol(&ab), "{} vs {}", ab.fd, ba.fd);
        let aa = fd(&a, &a);
        prop_assert!(aa.fd >= 0.0 && aa.fd <= fd_tol(&aa), "FD(a, a) = {}", aa.fd);
        let pa = fd(&permute_rows(&a, seed ^ 2), &b);
        prop_assert!((pa.fd - ab.fd).abs() <= fd_tol(&ab), "{} vs {}", pa.fd, ab.fd);
        // A common translation (up to 1e3, far larger than the spread) leaves FD unchanged; the
        // rounding of the translated points themselves bounds the agreement.
        let t = Array1::from(t[..d].to_vec());
        let shifted = fd(&translate(&a, &t), &translate(&b, &t));
        let tol = fd_tol(&ab) + 1e-12 * t.dot(&t) * (n + m) as f64;
        prop_assert!((shifted.fd - ab.fd).abs() <= tol, "{} vs {}", shifted.fd, ab.fd);
    }

    #[test]
    fn fd_scales_as_c_squared((n, d) in sizes(), shift in -2.0f64..2.0, seed in any::<u64>(), log_c in -8.0f64..8.0) {
        let a = cloud(n, d, 0.0, seed);
        let b = cloud(n + 3, d, shift, seed ^ 1);
        let c = 10f64.powf(log_c);
        let base = fd(&a, &b);
        let scaled = fd(&a.mapv(|v| c * v), &b.mapv(|v| c * v));
        prop_assert!((scaled.fd / (c * c) - base.fd).abs() <= fd_tol(&base), "{} vs {}", scaled.fd / (c * c), base.fd);
    }

    #[test]
    fn w2_symmetric_and_translation_covariant(
        n in 3usize..40, d in 1usize..4, shift in -2.0f64..2.0, seed in any::<u64>(),
        t in prop::collection::vec(-3.0f64..3.0, 3),
    ) {
        // W2²(a + t, b) = W2²(a, b) + |t|² + 2 t·(ā − b̄) for every coupling, hence for the optimum
        // of exact, entropic and Gaussian OT alike (and for a common translation the change is 0).
        let a = cloud(n, d, 0.0, seed);
        let b = cloud(n, d, shift, seed ^ 1);
        let t = Array1::from(t[..d].to_vec());
        let at = translate(&a, &t);
        let dm = a.mean_axis(Axis(0)).unwrap() - b.mean_axis(Axis(0)).unwrap();
        let change = t.dot(&t) + 2.0 * t.dot(&dm);
        let scale = 1.0 + t.dot(&t) + dm.dot(&dm) + d as f64;

        let e = w2_exact(a.view(), b.view()).unwrap().w2_squared;
        prop_assert!((w2_exact(b.view(), a.view()).unwrap().w2_squared - e).abs() <= 1e-10 * scale);
        let et = w2_exact(at.view(), b.view()).unwrap().w2_squared;
        prop_assert!((et - (e + change)).abs() <= 1e-10 * scale, "{et} vs {}", e + change);

        let bw = bures_w2(a.view(), b.view()).unwrap().w2_squared;
        prop_assert!((bures_w2(b.view(), a.view()).unwrap().w2_squared - bw).abs() <= 1e-9 * scale);
        let bt = bures_w2(at.view(), b.view()).unwrap().w2_squared;
        prop_assert!((bt - (bw + change)).abs() <= 1e-9 * scale, "{bt} vs {}", bw + change);

        // Sinkhorn at a fixed ε (the relative default would move with the translation): 0.1 × the
        // mean cost of (a, b), large enough for the iteration to converge fast on every draw
        // (at ε ~ max C / 150 a 9-point problem can need > 10⁵ iterations), solved to 1e-10
        // marginal error: values agree to ~1e-10 of the cost scale, checked at 1e-7.
        let mean_cost = a.rows().into_iter().flat_map(|x| b.rows().into_iter().map(move |y| (&x - &y).mapv(|v| v * v).sum())).sum::<f64>() / (n * n) as f64;
        let opts = SinkhornOptions { epsilon: Some(0.1 * mean_cost), tol: 1e-10, max_iter: 100_000, ..Default::default() };
        let s = sinkhorn_divergence(a.view(), b.view(), &opts).unwrap();
        prop_assert!(s.converged);
        let sba = sinkhorn_divergence(b.view(), a.view(), &opts).unwrap().divergence;
        prop_assert!((sba - s.divergence).abs() <= 1e-7 * scale, "{sba} vs {}", s.divergence);
        let st = sinkhorn_divergence(at.view(), b.view(), &opts).unwrap().divergence;
        prop_assert!((st - (s.divergence + change)).abs() <= 1e-7 * scale, "{st} vs {}", s.divergence + change);

        // Sliced: each projection shifts both clouds alike under a common translation, and its 1-D
        // W2 is symmetric; the same seed draws the same directions.
        let so = SlicedOptions { n_projections: 64, seed };
        let sl = w2_sliced(a.view(), b.view(), &so).unwrap().w2_squared;
        prop_assert!((w2_sliced(b.view(), a.view(), &so).unwrap().w2_squared - sl).abs() <= 1e-12 * scale);
        let slt = w2_sliced(at.view(), translate(&b, &t).view(), &so).unwrap().w2_squared;
        prop_assert!((slt - sl).abs() <= 1e-10 * scale, "{slt} vs {sl}");
    }

    #[test]
    fn moments_merge_is_associative_and_commutative(
        sizes in prop::collection::vec(1usize..300, 3), d in 1usize..8, offset in -1e6f64..1e6, seed in any::<u64>(),
    ) {
        let parts: Vec<Array2<f64>> =
            sizes.iter().enumerate().map(|(k, &n)| cloud(n, d, offset, seed ^ k as u64)).collect();
        let acc = |x: &Array2<f64>| MomentAccumulator::from_points(x.view()).unwrap();
        let merged = |order: [usize; 3], left_first: bool| {
            let [i, j, k] = order;
            if left_first {
                let mut ij = acc(&parts[i]);
                ij.merge(&acc(&parts[j])).unwrap();
                ij.merge(&acc(&parts[k])).unwrap();
                ij
            } else {
                let mut jk = acc(&parts[j]);
                jk.merge(&acc(&parts[k])).unwrap();
                let mut all = acc(&parts[i]);
                all.merge(&jk).unwrap();
                all
            }
        };
        let reference = merged([0, 1, 2], true);
        let cov = reference.covariance_ddof(0).unwrap();
        let scale = cov.diag().iter().fold(0.0f64, |m, v| m.max(*v));
        for (order, left) in [([0, 1, 2], false), ([2, 1, 0], true), ([1, 2, 0], false), ([2, 0, 1], true)] {
            let other = merged(order, left);
            prop_assert_eq!(other.count(), reference.count());
            let dmean = (&other.mean() - &reference.mean()).iter().fold(0.0f64, |m, v| m.max(v.abs()));
            prop_assert!(dmean <= 1e-12 * (offset.abs() + 1.0), "means differ by {}", dmean);
            let dcov = (&other.covariance_ddof(0).unwrap() - &cov).iter().fold(0.0f64, |m, v| m.max(v.abs()));
            prop_assert!(dcov <= 1e-11 * scale, "covariances differ by {} (scale {})", dcov, scale);
        }
    }
}

proptest! {
    #![proptest_config(config(6))]

    /// On two independent samples of one law the unbiased MMD² has mean 0. Over 300 replicates the
    /// mean of the estimates is within 4.5 standard errors of 0 (a false alarm once in ~10⁵
    /// cases). It fails for a biased estimator: with the diagonal terms kept, the mean is
    /// E k(x, x)/m − E k(x, y)/m > 0, tens of standard errors away.
    #[test]
    fn kid_is_unbiased_on_identical_distributions(d in 1usize..6, scale in 0.3f64..3.0, uniform in any::<bool>(), seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let m = 24;
        let draw = |rng: &mut ChaCha8Rng| {
            Array2::from_shape_fn((m, d), |_| {
                let z: f64 = if uniform { rand::Rng::random_range(rng, -1.7..1.7) } else { StandardNormal.sample(rng) };
                scale * z + 0.5
            })
        };
        let opts = KidOptions { n_subsets: 1, subset_size: m, seed: 0 };
        let values: Vec<f64> = (0..300)
            .map(|_| {
                let (x, y) = (draw(&mut rng), draw(&mut rng));
                kid(x.view(), y.view(), &opts).unwrap().mean
            })
            .collect();
        let k = values.len() as f64;
        let mean = values.iter().sum::<f64>() / k;
        let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (k - 1.0)).sqrt();
        prop_assert!(mean.abs() <= 4.5 * sd / k.sqrt(), "mean {} se {}", mean, sd / k.sqrt());
    }
}
