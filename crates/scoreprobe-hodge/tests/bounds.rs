//! The impossibility family, the KL bounds and their ordering (SPEC §4, §6).

use ndarray::array;
use scoreprobe_core::distribution::{named_target, GaussianMixture};
use scoreprobe_core::model::synthetic::{ErrorField, PotentialField, SyntheticModel};
use scoreprobe_core::schedule::Schedule;
use scoreprobe_hodge::closed_form::ClosedForm;
use scoreprobe_hodge::grid::{Grid, GridConfig};
use scoreprobe_hodge::random_features::{RandomFeatures, RfConfig};
use scoreprobe_hodge::{kl_bounds, BoundsConfig, BoundsReport, HodgeEstimator, Problem};

fn gaussian2() -> GaussianMixture {
    GaussianMixture::from_vecs(&[1.0], &[vec![0.5, -1.0]], &[vec![vec![1.0, 0.3], vec![0.3, 0.5]]], "t").unwrap()
}

fn model(target: GaussianMixture, error: ErrorField) -> SyntheticModel {
    SyntheticModel { target, schedule: Schedule::vp_default(), error }
}

fn rot() -> ndarray::Array2<f64> {
    array![[0.0, 1.0], [-1.0, 0.0]]
}

fn bounds(est: &dyn HodgeEstimator, m: &SyntheticModel, panels: usize) -> BoundsReport {
    let cfg = BoundsConfig { panels, prior_n: 20_000, ..Default::default() };
    kl_bounds(est, &Problem::synthetic(m), &cfg, 1, &[]).unwrap()
}

/// exact ≤ marginal ≤ Girsanov up to the stated errors (quadrature halving + 3 MC SEs).
fn assert_ordering(r: &BoundsReport, what: &str) {
    let slack_m = r.marginal_quad_err + 3.0 * r.marginal_se + 1e-9;
    let slack_g = r.girsanov_quad_err + 3.0 * r.girsanov_se + 1e-9;
    if let Some(kl) = r.exact_kl {
        assert!(kl <= r.marginal + slack_m, "{what}: exact {kl} > marginal {}", r.marginal);
    }
    assert!(r.marginal <= r.girsanov + slack_m + slack_g, "{what}: marginal {} > Girsanov {}", r.marginal, r.girsanov);
}

#[test]
fn solenoidal_family_gradient_zero_l2_quadratic_bounds_split() {
    let t = 0.5;
    let mut l2_unit = None;
    let mut rows = vec![];
    for lambda in [0.0, 1.0, 3.0, 10.0] {
        let m = model(gaussian2(), ErrorField::Solenoidal { a: rot(), lambda });
        let p = Problem::synthetic(&m);
        let cf = ClosedForm.point(&p, t, 0).unwrap();
        assert!(cf.gradient.value.abs() < 1e-12 * (1.0 + cf.l2.value), "λ={lambda}: gradient {}", cf.gradient.value);
        if lambda > 0.0 {
            let unit = cf.l2.value / (lambda * lambda);
            let u0 = *l2_unit.get_or_insert(unit);
            assert!((unit - u0).abs() < 1e-10 * u0, "l2 not ∝ λ²: {unit} vs {u0}");
        }
        let r = bounds(&ClosedForm, &m, 32);
        // marginal bound = prior KL exactly (the integrand is 0); Girsanov grows like λ²
        assert!((r.marginal - r.prior_kl).abs() < 1e-12, "λ={lambda}: marginal {} prior {}", r.marginal, r.prior_kl);
        let kl = r.exact_kl.unwrap();
        assert!(kl < 1e-3, "λ={lambda}: exact KL {kl}");
        assert_ordering(&r, &format!("solenoidal λ={lambda}"));
        rows.push((lambda, cf.l2.value, r.girsanov, r.marginal, kl, r.girsanov_quad_err));
    }
    let (g1, g10) = (rows[1].2 - rows[1].3, rows[3].2 - rows[3].3);
    assert!(((g10 / g1) / 100.0 - 1.0).abs() < 1e-6, "Girsanov excess not ∝ λ²: {g1} {g10}");
    for r in &rows {
        eprintln!(
            "λ={:>4}: l2(t=0.5)={:.4} Girsanov={:.5} marginal={:.3e} exact={:.3e} quad_err={:.1e}",
            r.0, r.1, r.2, r.3, r.4, r.5
        );
    }
}

#[test]
fn solenoidal_family_on_a_mixture_grid_and_random_features_see_no_gradient() {
    let grid = Grid { config: GridConfig { cells_per_std: 6.0, ..Default::default() } };
    let rf = RandomFeatures { config: RfConfig { n: 30_000, ..Default::default() } };
    let mut prev_l2 = 0.0;
    for lambda in [1.0, 3.0, 10.0] {
        let m = model(named_target("ring8").unwrap(), ErrorField::Solenoidal { a: rot(), lambda });
        let p = Problem::synthetic(&m);
        let g = grid.point(&p, 0.5, 0).unwrap();
        assert!(g.gradient.value < 1e-5 * g.l2.value, "grid λ={lambda}: {} vs {}", g.gradient.value, g.l2.value);
        let unit = g.l2.value / (lambda * lambda);
        if prev_l2 > 0.0 {
            assert!((unit / prev_l2 - 1.0).abs() < 1e-9, "l2 not ∝ λ²");
        }
        prev_l2 = unit;
        let r = rf.point(&p, 0.5, 2).unwrap();
        eprintln!("ring8 λ={lambda}: rf gradient {:.5} ± {:.5}, l2 {:.3}", r.gradient.value, r.gradient.se, r.l2.value);
        assert!(r.gradient.value.abs() <= 3.0 * r.gradient.se + 1e-3, "rf λ={lambda}: {:?}", r.gradient);
    }
}

#[test]
fn bounds_ordering_on_gaussian_oracles() {
    let cases = vec![
        ("exact", ErrorField::Exact),
        ("affine", ErrorField::Affine { e: array![[0.3, 0.0], [0.1, -0.2]], b: array![0.2, 0.0] }),
        ("rotation-like affine", ErrorField::Affine { e: array![[0.1, 0.8], [-0.6, 0.0]], b: array![-0.1, 0.3] }),
        ("solenoidal", ErrorField::Solenoidal { a: rot(), lambda: 3.0 }),
        (
            "quadratic gradient",
            ErrorField::Gradient {
                potential: PotentialField::Quadratic { q: array![[0.5, 0.1], [0.1, 0.2]], center: array![1.0, 0.0] },
                lambda: 0.7,
            },
        ),
    ];
    for (name, error) in cases {
        let m = model(gaussian2(), error);
        let r = bounds(&ClosedForm, &m, 32);
        let fine = bounds(&ClosedForm, &m, 64);
        eprintln!(
            "{name}: exact {:.5} marginal {:.5} Girsanov {:.5} (quad err {:.1e}, 64-panel Girsanov {:.5})",
            r.exact_kl.unwrap(),
            r.marginal,
            r.girsanov,
            r.girsanov_quad_err,
            fine.girsanov
        );
        assert_ordering(&r, name);
        // the halving estimate bounds the actual quadrature error (checked against 64 panels)
        assert!((r.girsanov - fine.girsanov).abs() <= r.girsanov_quad_err + 1e-12, "{name}");
        assert!((r.marginal - fine.marginal).abs() <= r.marginal_quad_err + 1e-12, "{name}");
        // the grid estimator gives the same bounds in 2-D
        let g = bounds(&Grid { config: GridConfig { cells_per_std: 3.0, ..Default::default() } }, &m, 16);
        let c16 = bounds(&ClosedForm, &m, 16);
        // (3 cells/std: the grid's O(h⁴) discretisation error is ~5e-5 of ‖e‖² per node)
        assert!(
            (g.marginal - c16.marginal).abs() < 5e-4 * (1e-3 + c16.girsanov),
            "{name}: grid {} cf {}",
            g.marginal,
            c16.marginal
        );
    }
}

#[test]
fn bounds_on_a_mixture_with_grid_and_monte_carlo_prior() {
    let bump = PotentialField::RadialBump { center: array![0.0, 0.0], width: 0.7, height: 1.0 };
    let m = model(named_target("ring8").unwrap(), ErrorField::Gradient { potential: bump, lambda: 0.5 });
    let grid = Grid { config: GridConfig { cells_per_std: 3.0, ..Default::default() } };
    let r = bounds(&grid, &m, 16);
    assert!(r.exact_kl.is_none() && r.exact_kl_method.contains("not implemented"));
    // Monte Carlo with the control variate: a small relative SE, inside the exact sandwich
    let pk = &r.prior;
    eprintln!("ring8 prior KL {:.4e} ± {:.1e} in [{:.3e}, {:.3e}]", pk.value, pk.se, pk.lower, pk.upper);
    assert!(pk.lower > 0.0 && pk.lower <= pk.value && pk.value <= pk.upper && pk.se < 0.05 * pk.value);
    // a pure gradient error: the two bounds coincide (up to the grid's discrete projection)
    assert!((r.girsanov - r.marginal).abs() < 1e-4 * r.girsanov, "{} vs {}", r.girsanov, r.marginal);
    assert_ordering(&r, "ring8 bump");
    // a solenoidal error on the mixture: marginal stays at the prior KL, Girsanov does not
    let m = model(named_target("ring8").unwrap(), ErrorField::Solenoidal { a: rot(), lambda: 1.0 });
    let r = bounds(&grid, &m, 16);
    eprintln!("ring8 solenoidal λ=1: marginal {:.3e} prior {:.3e} Girsanov {:.3}", r.marginal, r.prior_kl, r.girsanov);
    assert!(r.marginal - r.prior_kl < 1e-3 * (r.girsanov - r.prior_kl));
    assert!(r.girsanov > 1.0);
}
