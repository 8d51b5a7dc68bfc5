//! The `critic` error field (ê_t = ∇χ*_t/σ_t, SPEC §5/§7; needs the `nn` feature): ≈ 0 for the
//! exact model, the oracle's value for a pure gradient error, its cost in the NFE, its
//! forward-mode projections equal to its input gradient, and its fit per time band (a band
//! without error dropped, one with a gradient error kept, not worse than one fit over the window).
#![cfg(feature = "nn")]

use ndarray::{array, Array2, ArrayView2};
use scoreprobe_core::distribution::named_target;
use scoreprobe_core::model::synthetic::{ErrorField, PotentialField, SyntheticModel};
use scoreprobe_core::sampler::{SamplerConfig, SamplerKind};
use scoreprobe_core::window::Window;
use scoreprobe_core::{ModelError, Schedule, ScoreModel};
use scoreprobe_nn::critic_fit::CriticFitConfig;
use scoreprobe_siem::critic::{CriticSource, CriticSourceConfig, KEEP_Z};
use scoreprobe_siem::*;
use std::time::Instant;

fn bump(lambda: f64) -> SyntheticModel {
    SyntheticModel {
        target: named_target("ring8").unwrap(),
        schedule: Schedule::vp_default(),
        error: ErrorField::Gradient {
            potential: PotentialField::RadialBump { center: array![0.0, 0.0], width: 0.7, height: 1.0 },
            lambda,
        },
    }
}

fn small(steps: usize) -> CriticSourceConfig {
    CriticSourceConfig {
        fit: CriticFitConfig { hidden: 32, depth: 2, steps, batch: 256, lr: 3e-3, ..Default::default() },
        times_per_batch: 4,
        holdout: 8192,
        band_steps: 100,
        seed: 0,
        ..Default::default()
    }
}

#[test]
fn critic_source_is_zero_for_the_exact_model_and_sees_a_gradient_error() {
    let (n, steps) = (300, 600);
    let mut cfg = SiemConfig::new(2, 1000, 1e-3, n, 1);
    cfg.window = Window::parse("900..999").unwrap();
    let run = |lambda: f64| {
        let s = Instant::now();
        let m = bump(lambda);
        let mut src = CriticSource::for_target(m.target.clone(), small(steps));
        let r = estimate_siem(&m, &m.schedule, &mut src, &cfg).unwrap();
        eprintln!(
            "λ={lambda}: critic SIEM {:.4e} ± {:.2e} ({:.1} s) {}",
            r.siem,
            r.siem_se,
            s.elapsed().as_secs_f64(),
            r.source
        );
        r
    };
    let (exact, wrong) = (run(0.0), run(1.0));
    let m = bump(1.0);
    let oracle = estimate_siem(&m, &m.schedule, &mut OracleSource::synthetic(m.clone()), &cfg).unwrap();
    eprintln!("λ=1: oracle SIEM {:.4e} ± {:.2e}", oracle.siem, oracle.siem_se);
    for r in [&exact, &wrong] {
        assert_eq!(r.error_field, "critic");
        // every score evaluation of the critic's training and held-out draws is in the NFE
        let aux_rows = steps * 256 + 8192;
        assert_eq!((r.nfe_sampler, r.nfe_aux, r.nfe_full), (100, aux_rows.div_ceil(n), 1000));
        assert_eq!(r.nfe, r.nfe_sampler + r.nfe_aux);
        assert!(r.aux_evals >= aux_rows, "{}", r.aux_evals);
    }
    // exact model: E[w | x] = 0, so the critic fits noise only; ≈ 0 within its SE, with an
    // allowance of 5% of the erroneous model's oracle SIEM for a noise critic that beat χ = 0
    assert!(exact.siem <= 3.0 * exact.siem_se + 0.05 * oracle.siem, "exact: {} ± {}", exact.siem, exact.siem_se);
    // a pure gradient error: ê = ∇φ_t = e_t, so the critic's SIEM is the oracle's, up to noise and
    // an allowance of 25% (the critic is fitted on p_t but evaluated on the model's q_t, and is
    // biased low by its fitting error)
    assert_eq!(wrong.source["used"], "fitted critic");
    assert!(wrong.siem > 3.0 * wrong.siem_se + exact.siem, "{} ± {} vs {}", wrong.siem, wrong.siem_se, exact.siem);
    let tol = 0.25 * oracle.siem + 4.0 * (wrong.siem_se + oracle.siem_se);
    assert!((wrong.siem - oracle.siem).abs() < tol, "critic {} vs oracle {} (tol {tol})", wrong.siem, oracle.siem);
}

#[test]
fn critic_projections_agree_with_its_gradient() {
    let m = bump(1.0);
    let mut sampler = SamplerConfig::new(SamplerKind::Em, 1000, 1e-3, 3);
    sampler.window = Some(Window::parse("990..999").unwrap());
    sampler.stop_after_window = true;
    let mut src = CriticSource::for_target(m.target.clone(), small(200));
    let z = Array2::zeros((2, 2));
    assert!(src.error(z.view(), 0.5, z.view()).unwrap_err().to_string().contains("before prepare"));
    let ctx = PrepareContext { model: &m, schedule: &m.schedule, sampler: &sampler, n: 50 };
    let cost = src.prepare(&ctx).unwrap();
    assert_eq!(cost.score_evals, 200 * 256 + 8192);
    assert!(src.uses_fitted_critic(), "{}", src.details());
    let x = array![[0.3, -0.2], [1.2, 0.4], [-0.7, 1.1]];
    let centers = array![[0.0, 0.0], [1.0, -0.5]];
    let e = src.error(x.view(), 0.995, x.view()).unwrap();
    let a = src.projections(x.view(), 0.995, x.view(), centers.view()).unwrap();
    assert!(e.iter().any(|v| v.abs() > 1e-6));
    for (c, row) in centers.rows().into_iter().zip(a.rows()) {
        for ((xi, ei), ai) in x.rows().into_iter().zip(e.rows()).zip(row) {
            let want: f64 = (&xi - &c).dot(&ei);
            assert!((ai - want).abs() < 1e-5 * (1.0 + want.abs()), "{ai} vs {want}");
        }
    }
}

/// The exact ring8 score below `switch`, the bump error λ∇V from it on: an error that changes
/// over the window (active only in its noisier part).
struct Gated {
    wrong: SyntheticModel,
    exact: SyntheticModel,
    switch: f64,
}

impl ScoreModel for Gated {
    fn dim(&self) -> usize {
        2
    }
    fn score(&self, x: ArrayView2<f64>, t: f64) -> Result<Array2<f64>, ModelError> {
        if t >= self.switch {
            self.wrong.score(x, t)
        } else {
            self.exact.score(x, t)
        }
    }
    fn describe(&self) -> String {
        format!("ring8, bump error from t = {}", self.switch)
    }
}

/// |SIEM_a − SIEM_b| and the paired SE of the difference (same trajectories).
fn paired(a: &SiemReport, b: &SiemReport) -> (f64, f64) {
    let d: Vec<f64> = a.trajectory_sums.iter().zip(&b.trajectory_sums).map(|(x, y)| x - y).collect();
    let n = d.len() as f64;
    let m = d.iter().sum::<f64>() / n;
    let var = d.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1.0);
    (m.abs(), (var / n).sqrt())
}

#[test]
fn a_band_without_error_is_dropped_one_with_a_gradient_error_kept_and_bands_beat_one_fit() {
    // window 800..999 of 1000 steps: step k evaluates the score at t_{k+1}, so band 900..999 sees
    // t ∈ [0.9011, 1] (error λ = 1) and band 800..899 sees t ∈ [0.8012, 0.9001] (no error at all)
    let m = Gated { wrong: bump(1.0), exact: bump(0.0), switch: 0.9005 };
    let schedule = Schedule::vp_default();
    let mut cfg = SiemConfig::new(2, 1000, 1e-3, 300, 1);
    cfg.window = Window::parse("800..999").unwrap();
    let target = named_target("ring8").unwrap();
    let run = |band_steps: usize| {
        let mut src = CriticSource::for_target(target.clone(), CriticSourceConfig { band_steps, ..small(600) });
        let r = estimate_siem(&m, &schedule, &mut src, &cfg).unwrap();
        eprintln!("bands of {band_steps}: SIEM {:.4e} ± {:.2e} {:?} {}", r.siem, r.siem_se, r.bands, r.source);
        r
    };
    let mut oracle = OracleSource::for_target(target.clone(), schedule.clone());
    let oracle = estimate_siem(&m, &schedule, &mut oracle, &cfg).unwrap();
    eprintln!("oracle SIEM {:.4e} ± {:.2e}", oracle.siem, oracle.siem_se);
    let (banded, whole) = (run(100), run(1000));

    // the band without error is dropped (its field is zero, so it adds exactly nothing), the band
    // with the error kept, and both are named
    let named: Vec<(&str, bool)> = banded.bands.iter().map(|b| (b.steps.as_str(), b.kept)).collect();
    assert_eq!(named, vec![("900..999", true), ("800..899", false)]);
    assert_eq!(banded.dropped_bands, Some(vec!["800..899".to_string()]));
    let b = &banded.bands[0];
    assert!(b.heldout_objective > KEEP_Z * b.heldout_objective_se, "{b:?}");
    assert!(banded.profile.iter().filter(|p| p.index < 900).all(|p| p.mean_sq == 0.0));
    assert!(banded.profile.iter().filter(|p| p.index >= 900).all(|p| p.mean_sq > 0.0));
    assert_eq!(banded.source["used"], "fitted critic in 1 of 2 bands, zero error field in the others");
    // every band's training and held-out draws are in the NFE
    assert_eq!(banded.nfe_aux, (2usize * (600 * 256 + 8192)).div_ceil(300));
    // one fit over the window: one band, kept (half its times carry the error)
    assert_eq!(whole.bands.len(), 1);
    assert_eq!(whole.dropped_bands, Some(vec![]));

    // not worse than one fit: the distance to the oracle's SIEM (same trajectories, so the paired
    // SEs are the Monte-Carlo error of each distance)
    let ((db, sb), (dw, sw)) = (paired(&banded, &oracle), paired(&whole, &oracle));
    eprintln!("|bands − oracle| {db:.4e} ± {sb:.2e}, |one fit − oracle| {dw:.4e} ± {sw:.2e}");
    assert!(db <= dw + 3.0 * (sb + sw), "bands {db} ± {sb} vs one fit {dw} ± {sw}");
    // and the band-wise value is the oracle's within the allowance of the single-band test above
    let tol = 0.25 * oracle.siem + 4.0 * sb;
    assert!(db < tol, "bands {} vs oracle {} (tol {tol})", banded.siem, oracle.siem);
}

#[test]
fn a_band_is_the_same_fit_whatever_the_window_around_it() {
    // the band's draws depend on its place on the grid only, so 990..999 fitted alone and as the
    // last band of 980..999 is the same critic (the window is the full run restricted to it)
    let m = bump(1.0);
    let mut sampler = SamplerConfig::new(SamplerKind::Em, 1000, 1e-3, 3);
    let mut fit = |window: &str| {
        sampler.window = Some(Window::parse(window).unwrap());
        sampler.stop_after_window = true;
        let mut src = CriticSource::for_target(m.target.clone(), CriticSourceConfig { band_steps: 10, ..small(100) });
        let ctx = PrepareContext { model: &m, schedule: &m.schedule, sampler: &sampler, n: 50 };
        src.prepare(&ctx).unwrap();
        src
    };
    let (mut alone, mut within) = (fit("990..999"), fit("980..999"));
    assert_eq!(within.bands().len(), 2);
    assert_eq!(alone.bands()[0], within.bands()[0]);
    let x = array![[0.3, -0.2], [1.2, 0.4]];
    assert_eq!(alone.error(x.view(), 0.995, x.view()).unwrap(), within.error(x.view(), 0.995, x.view()).unwrap());
    // a time outside every band is refused, not extrapolated
    assert!(alone.error(x.view(), 0.5, x.view()).unwrap_err().to_string().contains("none of the fitted bands"));
}
