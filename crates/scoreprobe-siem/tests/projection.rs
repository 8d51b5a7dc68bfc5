//! The projection form (SPEC §7) on a 2-D Gaussian target, where m_c(t) has a closed form for
//! affine errors (`projection::oracle`): zero within its standard error for the exact model, the
//! closed form for an affine error, the λ² law, blindness to solenoidal errors (which the particle
//! form with the exact field sees), standard errors against the spread over seeds, common random
//! numbers, and its cost.
//!
//! The issue-14 criteria: the exact model is zero within its SE; SIEM^proj(λ = 1)/SIEM^proj(0.3)
//! is within 10 % of 1/0.09 = 11.1; a solenoidal model is zero within its SE while the particle
//! form with the oracle field is not.
//!
//! Tolerances are in units of the estimator's own standard error (4 SE: a 6e-5 two-sided chance of
//! a false failure under normality) unless stated.

use ndarray::{array, Array2};
use scoreprobe_core::model::synthetic::{ErrorField, SyntheticModel};
use scoreprobe_core::window::Window;
use scoreprobe_core::{GaussianMixture, Schedule};
use scoreprobe_siem::projection::oracle::exact_projection;
use scoreprobe_siem::projection::paired_jackknife_se;
use scoreprobe_siem::recipe::Draws;
use scoreprobe_siem::*;

fn target() -> GaussianMixture {
    GaussianMixture::from_vecs(&[1.0], &[vec![0.5, -1.0]], &[vec![vec![1.0, 0.3], vec![0.3, 0.5]]], "gaussian2d")
        .unwrap()
}

fn model(error: ErrorField) -> SyntheticModel {
    SyntheticModel { target: target(), schedule: Schedule::vp_default(), error }
}

/// The gaussian2d study's affine error at scale λ: E = λ[[0.5, 0.2], [0, −0.3]], b = λ(0.3, −0.2).
fn affine(lambda: f64) -> SyntheticModel {
    model(ErrorField::Affine { e: array![[0.5, 0.2], [0.0, -0.3]] * lambda, b: array![0.3, -0.2] * lambda })
}

fn solenoidal(lambda: f64) -> SyntheticModel {
    model(ErrorField::Solenoidal { a: array![[0.0, 1.0], [-1.0, 0.0]], lambda })
}

fn draws() -> Draws {
    let t = target();
    Box::new(move |n, rng| t.sample(n, rng))
}

/// K = 8 centres at seeded target points, on `window` of 1000 steps.
fn config(window: &str, n: usize, seed: u64) -> ProjectionConfig {
    let mut cfg = ProjectionConfig::new(2, 1000, 1e-3, n, seed);
    cfg.window = Window::parse(window).unwrap();
    cfg.test_fn.centers = centers_from_draws(&mut draws(), 8, 0);
    cfg
}

fn run(m: &SyntheticModel, cfg: &ProjectionConfig) -> ProjectionReport {
    estimate_projection(m, &m.schedule, &mut draws(), cfg).unwrap()
}

/// The closed-form SIEM^proj on the report's own times, weights and bandwidths.
fn exact(m: &SyntheticModel, r: &ProjectionReport) -> f64 {
    let steps: Vec<(f64, f64)> = r.profile.iter().map(|p| (p.t, p.beta2 * p.dt)).collect();
    let centers =
        Array2::from_shape_vec((r.test_fn.k, 2), r.test_fn.centers.iter().flatten().copied().collect::<Vec<f64>>())
            .unwrap();
    exact_projection(m, &steps, centers.view(), &r.test_fn.bandwidths, |t| m.target.moments_at(&m.schedule, t))
        .unwrap()
        .expect("affine")
        .siem
}

#[test]
fn exact_model_is_zero_within_its_standard_error() {
    for window in ["900..999", "0..999"] {
        // n = 2000: the exact model's SE (degenerate U-statistic) falls as 1/n; the plug-in
        // square's bias, Σ_t w_t tr Cov(G_t)/(Kn), would be ≈ 20 of these SEs on 100 times
        let r = run(&model(ErrorField::Exact), &config(window, 2000, 1));
        eprintln!("exact, {window}: {:.3e} ± {:.2e} (jackknife {:.2e})", r.siem, r.siem_se, r.siem_se_jackknife);
        assert!(r.siem_se > 0.0, "the draws' noise gives a positive SE");
        assert!(r.siem.abs() <= 4.0 * r.siem_se, "{window}: {} ± {}", r.siem, r.siem_se);
        // and it is small next to a modest affine error's value on the same draws
        let a = run(&affine(0.3), &config(window, 2000, 1));
        assert!(a.siem > 10.0 * r.siem_se, "{window}: affine-0.3 {} vs exact SE {}", a.siem, r.siem_se);
    }
}

#[test]
fn an_affine_error_matches_the_closed_form() {
    for (lambda, window) in [(1.0, "900..999"), (0.3, "900..999"), (1.0, "0..999")] {
        let m = affine(lambda);
        let r = run(&m, &config(window, 2000, 2));
        let want = exact(&m, &r);
        eprintln!("affine λ={lambda} {window}: {:.5e} ± {:.2e}, closed form {want:.5e}", r.siem, r.siem_se);
        assert!((r.siem - want).abs() < 4.0 * r.siem_se, "λ={lambda} {window}: {} ± {} vs {want}", r.siem, r.siem_se);
        // resolved: the 4-SE band excludes 0, so a wrong closed form or estimator shows
        assert!(r.siem_se < 0.2 * want, "resolved: SE {} vs {want}", r.siem_se);
    }
}

/// SIEM^proj(λ)/SIEM^proj(0.3λ) = 1/0.09 = 11.1: within 10 % (the criterion) and within
/// 4 jackknife SE of the ratio (both models on the same draws).
#[test]
fn an_affine_error_scaled_by_lambda_grows_as_lambda_squared() {
    for window in ["900..999", "0..999"] {
        let cfg = config(window, 2000, 3);
        let (big, small) = (run(&affine(1.0), &cfg), run(&affine(0.3), &cfg));
        let ratio = big.siem / small.siem;
        let loo: Vec<f64> = big.leave_one_out.iter().zip(&small.leave_one_out).map(|(a, b)| a / b).collect();
        let n = loo.len() as f64;
        let mean = loo.iter().sum::<f64>() / n;
        let se = ((n - 1.0) / n * loo.iter().map(|v| (v - mean).powi(2)).sum::<f64>()).sqrt();
        let want = 1.0 / 0.09;
        eprintln!("{window}: ratio {ratio:.3} ± {se:.3} (want {want:.3})");
        assert!((ratio - want).abs() < 0.1 * want, "{window}: ratio {ratio}");
        assert!((ratio - want).abs() < 4.0 * se, "{window}: ratio {ratio} ± {se}");
    }
}

/// A p_t-solenoidal error: SIEM^proj is zero within its SE at every λ, while the particle form
/// with the exact field sees it (SPEC §4: the generated law is exact).
#[test]
fn solenoidal_errors_are_invisible_to_the_projection_but_not_to_the_particle_oracle() {
    for lambda in [1.0, 3.0] {
        let m = solenoidal(lambda);
        let r = run(&m, &config("0..999", 400, 4));
        assert!(exact(&m, &r).abs() < 1e-20, "the closed form is 0 for a solenoidal error");
        let mut pcfg = SiemConfig::new(2, 1000, 1e-3, 400, 4);
        pcfg.test_fn.centers = centers_from_draws(&mut draws(), 8, 0);
        let p = estimate_siem(&m, &m.schedule, &mut OracleSource::synthetic(m.clone()), &pcfg).unwrap();
        eprintln!(
            "solenoidal λ={lambda}: projection {:.3e} ± {:.2e}; particle oracle {:.3e} ± {:.2e}",
            r.siem, r.siem_se, p.siem, p.siem_se
        );
        assert!(r.siem.abs() <= 4.0 * r.siem_se, "projection {} ± {}", r.siem, r.siem_se);
        assert!(p.siem > 10.0 * p.siem_se, "particle {} ± {}", p.siem, p.siem_se);
        assert!(p.siem > 100.0 * r.siem_se, "the particle value dwarfs the projection's noise");
    }
}

/// Over 60 seeds the reported SE² averages to the variance of the estimates: at m = 0 (exact
/// model, the degenerate U-statistic) and m ≠ 0. The jackknife is conservative (≥ the spread).
#[test]
fn the_standard_error_matches_the_spread_over_seeds() {
    let reps = 60;
    for (name, m) in [("exact", model(ErrorField::Exact)), ("affine-0.5", affine(0.5))] {
        let (mut vals, mut se2, mut jack2) = (vec![], vec![], vec![]);
        // a fixed bandwidth, so that every seed estimates the same quantity
        let cfg = |seed| {
            let mut c = config("980..999", 100, seed);
            c.test_fn.bandwidth = BandwidthRule::Fixed(1.2);
            c
        };
        for seed in 0..reps {
            let r = run(&m, &cfg(100 + seed));
            vals.push(r.siem);
            se2.push(r.siem_se * r.siem_se);
            jack2.push(r.siem_se_jackknife * r.siem_se_jackknife);
        }
        let r = reps as f64;
        let mean = vals.iter().sum::<f64>() / r;
        let spread = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (r - 1.0);
        let mse = se2.iter().sum::<f64>() / r;
        let mjack = jack2.iter().sum::<f64>() / r;
        eprintln!("{name}: Var over seeds {spread:.3e}, mean SE² {mse:.3e}, mean jackknife² {mjack:.3e}");
        // the sample variance of 60 values has relative SE √(2/59) ≈ 0.18 (more with heavy tails):
        // a band of ±45 % is ≈ 2.5 of those
        assert!((mse / spread - 1.0).abs() < 0.45, "{name}: mean SE² {mse} vs Var {spread}");
        assert!(mjack > 0.8 * spread && mjack < 2.6 * spread, "{name}: jackknife {mjack} vs {spread}");
        // unbiased: the mean of the estimates is the closed form (exact: 0) within 4 SE of the mean
        let want = exact(&m, &run(&m, &cfg(100)));
        assert!((mean - want).abs() < 4.0 * (spread / r).sqrt(), "{name}: mean {mean} vs {want}");
    }
}

/// The same seed gives every model the same draws: the paired SE of a difference between two
/// nearby models is far below the unpaired one, and the difference matches the closed form.
#[test]
fn common_random_numbers_pair_the_models() {
    let cfg = config("900..999", 1000, 5);
    let (a, b) = (affine(1.0), affine(0.9));
    let (ra, rb) = (run(&a, &cfg), run(&b, &cfg));
    assert_eq!(ra.test_fn.bandwidths, rb.test_fn.bandwidths, "the bandwidth does not depend on the model");
    let paired = paired_jackknife_se(&ra.leave_one_out, &rb.leave_one_out).unwrap();
    let unpaired = (ra.siem_se.powi(2) + rb.siem_se.powi(2)).sqrt();
    let diff = ra.siem - rb.siem;
    let want = exact(&a, &ra) - exact(&b, &rb);
    eprintln!("Δ = {diff:.4e} ± {paired:.2e} paired ({unpaired:.2e} unpaired); closed form {want:.4e}");
    assert!(paired < 0.5 * unpaired, "paired {paired} vs unpaired {unpaired}");
    assert!((diff - want).abs() < 4.0 * paired, "{diff} ± {paired} vs {want}");
    assert!(diff > 4.0 * paired, "the difference is resolved");
}

/// The default test functions (median bandwidth pooled over the full grid's pilot, centres from
/// the test seed) are the same for a window and the full run, so the window's value is the full
/// run's restricted to its steps (SPEC §7).
#[test]
fn a_window_is_the_full_grid_restricted_and_costs_one_evaluation_per_draw_and_time() {
    let m = affine(0.5);
    let (full, win) = (config("0..999", 50, 6), config("900..999", 50, 6));
    let (rf, rw) = (run(&m, &full), run(&m, &win));
    assert_eq!(rf.test_fn, rw.test_fn, "same centres, same bandwidths");
    let restricted: f64 = rf.profile[..100].iter().map(|p| p.beta2 * p.dt * p.m2).sum();
    eprintln!("window {:.15e}, full restricted {restricted:.15e}", rw.siem);
    assert!((rw.siem - restricted).abs() <= 1e-12 * restricted.abs(), "{} vs {restricted}", rw.siem);
    assert_eq!(
        (rw.form, rw.nfe, rw.score_evals, rw.nfe_full, rw.profile.len()),
        (SiemForm::Projection, 100, 5000, 1000, 100)
    );
    assert_eq!((rf.nfe, rf.score_evals), (1000, 50_000));
    // the first 100 steps of the full window's profile are the window's, draw for draw
    assert_eq!(rf.profile[..100], rw.profile[..]);
    assert_eq!(rw.profile[0].index, 999);
    assert!(rw.profile.iter().all(|p| p.t > 0.9));
    let json = serde_json::to_value(&rw).unwrap();
    assert_eq!(json["form"], "projection");
    assert!(json.get("leave_one_out").is_none() && json.get("state").is_none());
}

#[test]
fn bad_inputs_are_refused() {
    let m = affine(0.5);
    let e = estimate_projection(&m, &m.schedule, &mut draws(), &config("900..999", 3, 0)).unwrap_err();
    assert!(e.to_string().contains("at least 4 draws"), "{e}");
    let mut cfg = config("900..999", 10, 0);
    cfg.window = Window { lo: 900, hi: 1000 };
    assert!(estimate_projection(&m, &m.schedule, &mut draws(), &cfg).is_err());
    let mut wrong: Draws = Box::new(|n, _| Array2::zeros((n, 3)));
    let e = estimate_projection(&m, &m.schedule, &mut wrong, &config("900..999", 10, 0)).unwrap_err();
    // the pilot's 256 draws per time come first
    assert!(e.to_string().contains("data draws") && e.to_string().contains("expected (256, 2)"), "{e}");
}

/// The SE is honest for the metric as defined: with the default test functions (fixed by the test
/// seed, whatever the sampling seed), the spread of SIEM^proj over 40 sampling seeds is within
/// 25 % of the mean reported SE (the issue-21 criterion; with φ drawn from the sampling seed the
/// spread was 9–14× the SE). The sample std of 40 values has relative SE ≈ 1/√78 ≈ 11 %.
#[test]
fn calibration_the_spread_over_sampling_seeds_matches_the_reported_se() {
    let m = affine(0.5);
    let reference = SiemReference::Exact { target: &m.target, synthetic: Some(&m) };
    let (mut vals, mut ses, mut hashes) = (vec![], vec![], vec![]);
    for seed in 0..40 {
        let opts = SiemOptions {
            form: Some(SiemForm::Projection),
            window: Some("900..999".parse().unwrap()),
            n: 200,
            seed: 1000 + seed,
            ..Default::default()
        };
        let r = run_projection(&m, &m.schedule, reference, &opts).unwrap();
        vals.push(r.siem);
        ses.push(r.siem_se);
        hashes.push((r.test_fn.centers_hash.clone(), r.test_fn.bandwidths.clone()));
    }
    assert!(hashes.windows(2).all(|w| w[0] == w[1]), "every seed uses the same test functions");
    let r = vals.len() as f64;
    let mean = vals.iter().sum::<f64>() / r;
    let spread = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (r - 1.0)).sqrt();
    let mean_se = ses.iter().sum::<f64>() / r;
    eprintln!("40 seeds: mean {mean:.4e}, spread {spread:.3e}, mean SE {mean_se:.3e}, ratio {:.3}", spread / mean_se);
    assert!((spread / mean_se - 1.0).abs() < 0.25, "spread {spread} vs mean SE {mean_se}");
}

/// `center` alone with the projection form is one test function (K = 1) there, and matches the
/// closed form.
#[test]
fn a_centre_alone_is_one_test_function_and_matches_the_closed_form() {
    let m = affine(1.0);
    let reference = SiemReference::Exact { target: &m.target, synthetic: Some(&m) };
    let opts = SiemOptions {
        form: Some(SiemForm::Projection),
        window: Some("900..999".parse().unwrap()),
        center: Some(vec![0.8, -0.4]),
        n: 2000,
        seed: 12,
        ..Default::default()
    };
    let r = run_projection(&m, &m.schedule, reference, &opts).unwrap();
    assert_eq!((r.test_fn.k, r.test_fn.centers.clone()), (1, vec![vec![0.8, -0.4]]));
    let want = exact(&m, &r);
    eprintln!("K = 1 at (0.8, -0.4): {:.5e} ± {:.2e}, closed form {want:.5e}", r.siem, r.siem_se);
    assert!((r.siem - want).abs() < 4.0 * r.siem_se, "{} ± {} vs {want}", r.siem, r.siem_se);
    assert!(r.siem_se < 0.2 * want, "resolved");
}

/// The test seed, not the sampling seed, draws the centres and the pilot bandwidth.
#[test]
fn the_test_functions_follow_the_test_seed_only() {
    let m = affine(0.5);
    let reference = SiemReference::Exact { target: &m.target, synthetic: Some(&m) };
    let run = |seed, test_seed| {
        let opts = SiemOptions {
            form: Some(SiemForm::Projection),
            window: Some("990..999".parse().unwrap()),
            n: 20,
            seed,
            test_seed,
            ..Default::default()
        };
        run_projection(&m, &m.schedule, reference, &opts).unwrap().test_fn
    };
    let (a, b, c) = (run(1, 0), run(2, 0), run(1, 3));
    assert_eq!(a, b);
    assert_ne!(a.centers_hash, c.centers_hash);
    assert_ne!(a.bandwidths, c.bandwidths);
    assert_eq!((a.test_seed, c.test_seed, a.k), (0, 3, 8));
}
