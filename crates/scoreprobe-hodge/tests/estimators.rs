//! The estimators against each other and against exact values (SPEC §5).
//! Tolerances: grid vs closed form to discretisation accuracy; Monte-Carlo estimators within a
//! few of their own standard errors (held-out values are biased low by the fitting error, which
//! the relative tolerances below also bound).

use ndarray::{array, Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use scoreprobe_core::distribution::{named_target, GaussianMixture};
use scoreprobe_core::model::synthetic::{ErrorField, PotentialField, SyntheticModel};
use scoreprobe_core::schedule::Schedule;
use scoreprobe_hodge::closed_form::ClosedForm;
use scoreprobe_hodge::grid::{grid_split, Grid, GridConfig};
use scoreprobe_hodge::random_features::{critic_value, CriticForm, L2Source, RandomFeatures, RfConfig};
use scoreprobe_hodge::{HodgeEstimator, Problem};

fn gaussian2() -> GaussianMixture {
    GaussianMixture::from_vecs(&[1.0], &[vec![0.5, -1.0]], &[vec![vec![1.0, 0.3], vec![0.3, 0.5]]], "t").unwrap()
}

fn model(target: GaussianMixture, error: ErrorField) -> SyntheticModel {
    SyntheticModel { target, schedule: Schedule::vp_default(), error }
}

/// Several affine-score errors on a 2-D Gaussian: general, symmetric, rotation-like, shift only,
/// and a quadratic-potential gradient error.
fn affine_cases() -> Vec<ErrorField> {
    vec![
        ErrorField::Affine { e: array![[0.3, 0.0], [0.1, -0.2]], b: array![0.2, 0.0] },
        ErrorField::Affine { e: array![[0.5, 0.2], [0.2, 0.1]], b: array![0.0, 0.0] },
        ErrorField::Affine { e: array![[0.1, 0.8], [-0.6, 0.0]], b: array![-0.1, 0.3] },
        ErrorField::Affine { e: Array2::zeros((2, 2)), b: array![0.4, -0.3] },
        ErrorField::Gradient {
            potential: PotentialField::Quadratic { q: array![[0.5, 0.1], [0.1, 0.2]], center: array![1.0, 0.0] },
            lambda: 0.7,
        },
    ]
}

#[test]
fn grid_matches_closed_form_in_2d() {
    let cfg = GridConfig { cells_per_std: 8.0, ..Default::default() };
    for (i, error) in affine_cases().into_iter().enumerate() {
        let m = model(gaussian2(), error);
        let p = Problem::synthetic(&m);
        for &t in &[0.01, 0.3, 0.9] {
            let cf = ClosedForm.point(&p, t, 0).unwrap();
            let g = grid_split(&m.target, &m, &m.schedule, t, &cfg).unwrap();
            // midpoint rules on Gaussian integrands converge faster than any power of h (l2 error
            // ~1e-7, from the box truncation at ±6 std); the discrete projection converges at
            // O(h⁴) (below), ≲ 1e-6 of ‖e‖² at 8 cells/std
            let tol = 2e-6 * (1.0 + cf.l2.value);
            assert!((g.l2 - cf.l2.value).abs() < tol, "t={t}: grid l2 {} vs {}", g.l2, cf.l2.value);
            assert!(
                (g.gradient - cf.gradient.value).abs() < tol,
                "t={t}: grid {} vs {}",
                g.gradient,
                cf.gradient.value
            );
            if i == 2 && t == 0.3 {
                // refinement: the error falls at least 4× per halving of h (observed ≈ 15×)
                let errs: Vec<f64> = [2.0, 4.0, 8.0]
                    .iter()
                    .map(|&c| {
                        let s =
                            grid_split(&m.target, &m, &m.schedule, t, &GridConfig { cells_per_std: c, ..cfg.clone() });
                        (s.unwrap().gradient - cf.gradient.value).abs()
                    })
                    .collect();
                eprintln!("grid error at 2, 4, 8 cells/std: {errs:?}");
                assert!(errs[1] < errs[0] / 4.0 && errs[2] < errs[1] / 4.0, "{errs:?}");
            }
        }
    }
}

#[test]
fn grid_converges_under_refinement_on_a_mixture() {
    // ring8 with a solenoidal error: the exact gradient part is 0; the discrete one must shrink
    // at least like h² (observed: ≈ h⁴) while the L² error agrees with the oracle's Monte Carlo
    let m = model(
        named_target("ring8").unwrap(),
        ErrorField::Solenoidal { a: array![[0.0, 1.0], [-1.0, 0.0]], lambda: 2.0 },
    );
    let t = 0.05;
    let g: Vec<_> = [2.0, 4.0, 8.0]
        .iter()
        .map(|&c| {
            grid_split(&m.target, &m, &m.schedule, t, &GridConfig { cells_per_std: c, ..Default::default() }).unwrap()
        })
        .collect();
    for w in g.windows(2) {
        assert!(w[1].gradient < w[0].gradient / 4.0, "no h² convergence: {} -> {}", w[0].gradient, w[1].gradient);
    }
    assert!(g[2].gradient < 1e-5 * g[2].l2, "gradient {} vs l2 {}", g[2].gradient, g[2].l2);
    let (mc, se) = m.l2_error_mc(t, 40_000, 1);
    assert!((g[2].l2 - mc).abs() < 4.0 * se, "grid l2 {} vs MC {mc} ± {se}", g[2].l2);
    // in d = 1 every field is a gradient: the projection keeps all of the error
    let g1 =
        GaussianMixture::from_vecs(&[0.3, 0.7], &[vec![-1.0], vec![1.0]], &[vec![vec![0.2]], vec![vec![0.5]]], "t")
            .unwrap();
    let bump = PotentialField::RadialBump { center: array![0.3], width: 0.5, height: 1.0 };
    let m1 = model(g1, ErrorField::Gradient { potential: bump, lambda: 1.0 });
    let s = grid_split(&m1.target, &m1, &m1.schedule, 0.1, &GridConfig::default()).unwrap();
    assert!(s.l2 > 0.01 && (s.gradient - s.l2).abs() < 1e-8 * s.l2, "1-D: {} vs {}", s.gradient, s.l2);
}

#[test]
fn random_features_match_closed_form_in_2d() {
    let rf = RandomFeatures { config: RfConfig { n: 40_000, ..Default::default() } };
    // Fourier features only (no polynomial potentials) on one case, to test the features themselves
    let rf_fourier = RandomFeatures { config: RfConfig { n: 40_000, poly_degree: Some(0), ..Default::default() } };
    for (i, error) in affine_cases().into_iter().enumerate() {
        let m = model(gaussian2(), error);
        let p = Problem::synthetic(&m);
        for &t in &[0.4, 0.9] {
            let cf = ClosedForm.point(&p, t, 0).unwrap().gradient.value;
            for (name, est) in [("rf", &rf), ("rf-fourier", &rf_fourier)] {
                if name == "rf-fourier" && i != 0 {
                    continue;
                }
                let got = est.point(&p, t, 7 + i as u64).unwrap().gradient;
                let rel = (got.value - cf) / cf;
                eprintln!("case {i} t={t} {name}: closed {cf:.5} rf {:.5} ± {:.5} rel {rel:+.4}", got.value, got.se);
                assert!((got.value - cf).abs() < 4.0 * got.se + 0.01 * cf, "case {i} t={t} {name}: {got:?} vs {cf}");
                assert!(rel.abs() < 0.05, "case {i} t={t} {name}: relative error {rel}");
            }
        }
    }
}

#[test]
fn random_features_match_closed_form_in_10d_and_vector_critic_gives_l2() {
    let d = 10;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let a = Array2::from_shape_fn((d, d), |_| rng.random::<f64>() - 0.5);
    let cov = a.dot(&a.t()) * 0.5 + Array2::<f64>::eye(d) * 0.3;
    let mean = Array1::from_shape_fn(d, |_| rng.random::<f64>() - 0.5);
    let target = GaussianMixture::new(Array1::ones(1), vec![mean], vec![cov], "t").unwrap();
    let cfg = RfConfig { n: 30_000, features: 32, l2: L2Source::VectorFeatures, ..Default::default() };
    for k in 0..2 {
        let e = Array2::from_shape_fn((d, d), |_| (rng.random::<f64>() - 0.5) * 0.4);
        let b = Array1::from_shape_fn(d, |_| (rng.random::<f64>() - 0.5) * 0.3 * k as f64);
        let m = model(target.clone(), ErrorField::Affine { e, b });
        let p = Problem::synthetic(&m);
        let t = 0.6;
        let cf = ClosedForm.point(&p, t, 0).unwrap();
        let got = RandomFeatures { config: cfg.clone() }.point(&p, t, 11 + k).unwrap();
        for (what, g, c) in [("gradient", got.gradient, cf.gradient.value), ("l2", got.l2, cf.l2.value)] {
            eprintln!("10-d case {k} {what}: closed {c:.5} rf {:.5} ± {:.5}", g.value, g.se);
            assert!((g.value - c).abs() < 4.0 * g.se + 0.01 * c, "10-d {what}: {g:?} vs {c}");
            assert!(((g.value - c) / c).abs() < 0.05);
        }
    }
}

#[test]
fn random_features_match_grid_on_a_mixture_with_a_gradient_error() {
    let bump = PotentialField::RadialBump { center: array![0.0, 0.0], width: 0.7, height: 1.0 };
    let m = model(named_target("ring8").unwrap(), ErrorField::Gradient { potential: bump, lambda: 0.5 });
    let p = Problem::synthetic(&m);
    let rf = RandomFeatures { config: RfConfig { n: 40_000, l2: L2Source::VectorFeatures, ..Default::default() } };
    for &t in &[0.5, 0.9] {
        let grid = Grid::default().point(&p, t, 0).unwrap();
        let got = rf.point(&p, t, 3).unwrap();
        eprintln!(
            "ring8 bump t={t}: grid {:.5} rf {:.5} ± {:.5}",
            grid.gradient.value, got.gradient.value, got.gradient.se
        );
        assert!((got.gradient.value - grid.gradient.value).abs() < 4.0 * got.gradient.se + 0.02 * grid.gradient.value);
        // a pure gradient error: everything is gradient (grid), and the vector critic agrees
        assert!((grid.gradient.value - grid.l2.value).abs() < 1e-6 * grid.l2.value);
        assert!((got.l2.value - grid.l2.value).abs() < 4.0 * got.l2.se + 0.02 * grid.l2.value);
    }
}

#[test]
fn held_out_critic_is_not_biased_high_on_pure_noise() {
    // exact model: e = 0, so σ²‖∇φ‖² = 0; the held-out value must not be significantly positive
    let m = SyntheticModel::exact(gaussian2(), Schedule::vp_default());
    let p = Problem::synthetic(&m);
    for form in [CriticForm::Gradient, CriticForm::Vector] {
        for &t in &[0.1, 0.7] {
            let f =
                critic_value(&p, t, form, &RfConfig { n: 20_000, ridge: Some(1e-6), ..Default::default() }, 5).unwrap();
            assert!(f.value.value < 3.0 * f.value.se + 1e-12, "{form:?} t={t}: {:?}", f.value);
        }
    }
}
