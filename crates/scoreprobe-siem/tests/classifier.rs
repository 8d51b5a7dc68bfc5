//! The `classifier` error field on synthetic models (needs the `nn` feature): it trains, reports
//! its held-out accuracy and cost, separates an erroneous model from the exact one, reports its
//! floor (the same estimator data against data: chance within its SE, far below an erroneous
//! model's value), and its forward-mode projections agree with its input gradient.
#![cfg(feature = "nn")]

use ndarray::{array, Array2};
use scoreprobe_core::distribution::named_target;
use scoreprobe_core::model::synthetic::{ErrorField, PotentialField, SyntheticModel};
use scoreprobe_core::sampler::{SamplerConfig, SamplerKind};
use scoreprobe_core::window::Window;
use scoreprobe_core::Schedule;
use scoreprobe_siem::classifier::{ClassifierConfig, ClassifierSource};
use scoreprobe_siem::*;

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

fn small() -> ClassifierConfig {
    ClassifierConfig { train_steps: 300, batch: 256, ..Default::default() }
}

#[test]
fn classifier_separates_an_erroneous_model_and_reports_its_cost() {
    let mut cfg = SiemConfig::new(2, 1000, 1e-3, 300, 1);
    cfg.window = Window::parse("900..999").unwrap();
    let run = |lambda: f64| {
        let m = bump(lambda);
        let mut src = ClassifierSource::for_target(m.target.clone(), small());
        estimate_siem(&m, &m.schedule, &mut src, &cfg).unwrap()
    };
    let (exact, wrong) = (run(0.0), run(1.0));
    for r in [&exact, &wrong] {
        assert_eq!(r.error_field, "classifier");
        // 100 window steps for the SIEM trajectories + 100 for the classifier's own (as many) trajectories
        assert_eq!((r.nfe, r.nfe_sampler, r.nfe_aux, r.nfe_full), (200, 100, 100, 1000));
        assert!(r.aux_evals >= 300 * 256);
        let acc = r.source["heldout_accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc), "{acc}");
    }
    // the exact model's states are indistinguishable from noised data: accuracy near chance
    // (60 held-out trajectories × 100 window states per class)
    let acc0 = exact.source["heldout_accuracy"].as_f64().unwrap();
    let acc1 = wrong.source["heldout_accuracy"].as_f64().unwrap();
    eprintln!(
        "held-out accuracy {acc0} ({}) / {acc1} ({}); SIEM {} ± {} / {} ± {}",
        exact.source["heldout_accuracy_ci95"],
        wrong.source["heldout_accuracy_ci95"],
        exact.siem,
        exact.siem_se,
        wrong.siem,
        wrong.siem_se
    );
    assert!(acc0 < 0.54 && acc1 > 0.55 && acc1 > acc0, "accuracies {acc0}, {acc1}");
    // the experimental field says so, and says when it cannot tell the model from data: the
    // exact model's interval contains chance (a warning), the erroneous model's does not
    let ci = |r: &SiemReport| -> (f64, f64) {
        let v = r.source["heldout_accuracy_ci95"].as_array().unwrap();
        (v[0].as_f64().unwrap(), v[1].as_f64().unwrap())
    };
    let warnings = |r: &SiemReport| {
        r.source["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w.as_str().unwrap().contains("contains chance"))
            .count()
    };
    assert!(exact.source["experimental"].as_bool().unwrap());
    let ((lo0, hi0), (lo1, _)) = (ci(&exact), ci(&wrong));
    assert!(lo0 <= 0.5 && 0.5 <= hi0 && lo0 <= acc0 && acc0 <= hi0, "{lo0}..{hi0}");
    assert!(lo1 > 0.5, "{lo1}");
    assert_eq!((warnings(&exact), warnings(&wrong)), (1, 0));
    assert!(exact.source["warnings"][0].as_str().unwrap().contains("contains chance"));
    // ê of the exact model is the classifier's noise only; the error makes it several times larger
    assert!(wrong.siem > 3.0 * exact.siem, "{} vs {}", wrong.siem, exact.siem);

    // the floor: the same classifier trained data against data has nothing to find, so its
    // held-out accuracy is chance within 3 of its SEs (60 held-out draws per class and time)...
    for r in [&exact, &wrong] {
        let f = r.floor.as_ref().expect("the classifier reports its floor");
        let se = f.facts.heldout_accuracy_se.unwrap();
        eprintln!(
            "floor: accuracy {:.4} ± {se:.4}, SIEM {:.4e} ± {:.2e}; model − floor {:.4e} ± {:.2e}",
            f.facts.heldout_accuracy, f.siem, f.siem_se, f.excess, f.excess_se
        );
        assert!((f.facts.heldout_accuracy - 0.5).abs() < 3.0 * se, "{f:?}");
        assert!(f.siem > 0.0 && f.siem_se > 0.0 && f.excess_se > 0.0, "{f:?}");
        assert!((f.excess - (r.siem - f.siem)).abs() < 1e-12 * r.siem.abs().max(1.0));
    }
    // ...and an erroneous model reads far above it (the paired excess over 3 of its SEs, and the
    // floor below a third of the model's value), while the exact model's value is floor-sized
    let f = wrong.floor.as_ref().unwrap();
    assert!(f.excess > 3.0 * f.excess_se && f.siem < wrong.siem / 3.0, "{f:?} vs {}", wrong.siem);
    let f0 = exact.floor.as_ref().unwrap();
    assert!(f0.siem > exact.siem / 10.0 && f0.siem < 10.0 * exact.siem, "{f0:?} vs {}", exact.siem);
    // other sources have no floor and no bands
    let m = bump(1.0);
    let oracle = estimate_siem(&m, &m.schedule, &mut OracleSource::synthetic(m.clone()), &cfg).unwrap();
    assert!(oracle.floor.is_none() && oracle.bands.is_empty() && oracle.dropped_bands.is_none());
    let json = serde_json::to_value(&oracle).unwrap();
    assert!(json.get("floor").is_none() && json.get("bands").is_none() && json.get("dropped_bands").is_none());
    let json = serde_json::to_value(&wrong).unwrap();
    assert!(json["floor"]["heldout_accuracy"].is_f64() && json["floor"]["excess_se"].is_f64());
}

#[test]
fn projections_agree_with_the_input_gradient() {
    let m = bump(1.0);
    let mut sampler = SamplerConfig::new(SamplerKind::Em, 1000, 1e-3, 3);
    sampler.window = Some(Window::parse("990..999").unwrap());
    sampler.stop_after_window = true;
    let mut src = ClassifierSource::for_target(m.target.clone(), ClassifierConfig { train_steps: 20, ..small() });
    assert!(src
        .error(Array2::zeros((2, 2)).view(), 0.5, Array2::zeros((2, 2)).view())
        .unwrap_err()
        .to_string()
        .contains("before prepare"));
    let ctx = PrepareContext { model: &m, schedule: &m.schedule, sampler: &sampler, n: 50 };
    let cost = src.prepare(&ctx).unwrap();
    assert_eq!(cost.score_evals, 50 * 10);
    let x = array![[0.3, -0.2], [1.2, 0.4], [-0.7, 1.1]];
    let centers = array![[0.0, 0.0], [1.0, -0.5]];
    let e = src.error(x.view(), 0.95, x.view()).unwrap();
    let a = src.projections(x.view(), 0.95, x.view(), centers.view()).unwrap();
    for (c, row) in centers.rows().into_iter().zip(a.rows()) {
        for ((xi, ei), ai) in x.rows().into_iter().zip(e.rows()).zip(row) {
            let want: f64 = (&xi - &c).dot(&ei);
            assert!((ai - want).abs() < 1e-5 * (1.0 + want.abs()), "{ai} vs {want}");
        }
    }
}
