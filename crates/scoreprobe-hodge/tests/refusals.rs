//! Bad input: estimators that do not apply are refused with a message naming those that do.

use ndarray::{array, Array1, Array2};
use scoreprobe_core::distribution::{named_target, GaussianMixture};
use scoreprobe_core::model::synthetic::{ErrorField, PotentialField, SyntheticModel};
use scoreprobe_core::schedule::Schedule;
use scoreprobe_hodge::critic::CriticConfig;
use scoreprobe_hodge::grid::{grid_split, GridConfig};
use scoreprobe_hodge::random_features::RfConfig;
use scoreprobe_hodge::{estimator, estimators, kl_bounds, profile, BoundsConfig, EstimatorKind, HodgeConfig, Problem};
use scoreprobe_nn::critic_fit::CriticFitConfig;

fn refusal(kind: EstimatorKind, m: &SyntheticModel) -> String {
    let cfg = HodgeConfig::default();
    let all = estimators(&cfg);
    let refs: Vec<_> = all.iter().map(|e| e.as_ref()).collect();
    let est = estimator(kind, &cfg);
    profile(est.as_ref(), &Problem::synthetic(m), &[0.5], 0, &refs).unwrap_err().to_string()
}

#[test]
fn estimators_that_do_not_apply_name_the_ones_that_do() {
    let ring = SyntheticModel::exact(named_target("ring8").unwrap(), Schedule::vp_default());
    let e = refusal(EstimatorKind::ClosedForm, &ring);
    assert!(e.contains("Gaussian target") && e.contains("estimators that apply here: grid, random-features"), "{e}");

    let bump = PotentialField::RadialBump { center: Array1::zeros(2), width: 0.5, height: 1.0 };
    let gauss_bump = SyntheticModel {
        error: ErrorField::Gradient { potential: bump, lambda: 1.0 },
        ..SyntheticModel::exact(
            GaussianMixture::from_vecs(&[1.0], &[vec![0.0, 0.0]], &[vec![vec![1.0, 0.0], vec![0.0, 1.0]]], "t")
                .unwrap(),
            Schedule::vp_default(),
        )
    };
    let e = refusal(EstimatorKind::ClosedForm, &gauss_bump);
    assert!(e.contains("affine") && e.contains("grid, random-features"), "{e}");

    let d = 3;
    let g3 = GaussianMixture::new(Array1::ones(1), vec![Array1::zeros(d)], vec![Array2::eye(d)], "t").unwrap();
    let m3 = SyntheticModel {
        error: ErrorField::Affine { e: Array2::eye(d) * 0.1, b: Array1::zeros(d) },
        ..SyntheticModel::exact(g3, Schedule::vp_default())
    };
    let e = refusal(EstimatorKind::Grid, &m3);
    assert!(e.contains("d ≤ 2") && e.contains("closed-form, random-features"), "{e}");
    assert!(grid_split(&m3.target, &m3, &m3.schedule, 0.5, &GridConfig::default())
        .unwrap_err()
        .to_string()
        .contains("d ≤ 2"));

    // the neural critic applies everywhere (denoising form on data sets without scores)
    let critic = estimator(EstimatorKind::Critic, &HodgeConfig::default());
    assert!(critic.applies(&Problem::synthetic(&ring)).is_ok() && critic.applies(&Problem::synthetic(&m3)).is_ok());
    assert!("teleport"
        .parse::<EstimatorKind>()
        .unwrap_err()
        .to_string()
        .contains("closed-form, grid, random-features, critic"));
}

#[test]
fn bad_times_and_options_are_refused() {
    let m = SyntheticModel {
        error: ErrorField::Affine { e: array![[0.1, 0.0], [0.0, 0.2]], b: array![0.0, 0.1] },
        ..SyntheticModel::exact(
            GaussianMixture::from_vecs(&[1.0], &[vec![0.0, 0.0]], &[vec![vec![1.0, 0.0], vec![0.0, 1.0]]], "t")
                .unwrap(),
            Schedule::vp_default(),
        )
    };
    let p = Problem::synthetic(&m);
    let mut cfg = HodgeConfig::default();
    let cf = estimator(EstimatorKind::ClosedForm, &cfg);
    for t in [0.0, -0.1, 1.5, f64::NAN] {
        assert!(profile(cf.as_ref(), &p, &[t], 0, &[]).unwrap_err().to_string().contains("time t"), "t={t}");
    }
    assert!(profile(cf.as_ref(), &p, &[], 0, &[]).unwrap_err().to_string().contains("no times"));
    for t_min in [0.0, 1.0, -1e-3] {
        let e =
            kl_bounds(cf.as_ref(), &p, &BoundsConfig { t_min, ..Default::default() }, 0, &[]).unwrap_err().to_string();
        assert!(e.contains("t_min"), "{e}");
    }
    let e =
        kl_bounds(cf.as_ref(), &p, &BoundsConfig { panels: 10, ..Default::default() }, 0, &[]).unwrap_err().to_string();
    assert!(e.contains("multiple of 4"), "{e}");
    cfg.random_features = RfConfig { n: 5, ..Default::default() };
    let rf = estimator(EstimatorKind::RandomFeatures, &cfg);
    assert!(profile(rf.as_ref(), &p, &[0.5], 0, &[]).unwrap_err().to_string().contains("n ≥"));
    cfg.random_features = RfConfig { lengthscales: (1.0, 0.5), ..Default::default() };
    let rf = estimator(EstimatorKind::RandomFeatures, &cfg);
    assert!(profile(rf.as_ref(), &p, &[0.5], 0, &[]).unwrap_err().to_string().contains("lengthscales"));
    cfg.critic = CriticConfig { n: 1, ..Default::default() };
    let critic = estimator(EstimatorKind::Critic, &cfg);
    assert!(profile(critic.as_ref(), &p, &[0.5], 0, &[]).unwrap_err().to_string().contains("n ≥ 2"));
    cfg.critic = CriticConfig { fit: CriticFitConfig { steps: 0, ..Default::default() }, ..Default::default() };
    let critic = estimator(EstimatorKind::Critic, &cfg);
    assert!(profile(critic.as_ref(), &p, &[0.5], 0, &[]).unwrap_err().to_string().contains("steps"));
    let e = grid_split(&m.target, &m, &m.schedule, 0.5, &GridConfig { cells_per_std: 0.0, ..Default::default() });
    assert!(e.unwrap_err().to_string().contains("cells_per_std"));
}
