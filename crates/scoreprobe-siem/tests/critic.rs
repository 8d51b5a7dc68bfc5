//! The `critic` error field (ê_t = ∇χ*_t/σ_t, SPEC §5/§7; needs the `nn` feature): ≈ 0 for the
//! exact model, the oracle's value for a pure gradient error, its cost in the NFE, and its
//! forward-mode projections equal to its input gradient.
#![cfg(feature = "nn")]

use ndarray::{array, Array2};
use scoreprobe_core::distribution::named_target;
use scoreprobe_core::model::synthetic::{ErrorField, PotentialField, SyntheticModel};
use scoreprobe_core::sampler::{SamplerConfig, SamplerKind};
use scoreprobe_core::window::Window;
use scoreprobe_core::Schedule;
use scoreprobe_nn::critic_fit::CriticFitConfig;
use scoreprobe_siem::critic::{CriticSource, CriticSourceConfig};
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
