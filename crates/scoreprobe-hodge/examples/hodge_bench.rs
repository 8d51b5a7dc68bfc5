//! Cost of one Hodge split per time point for each estimator, next to the closed form it is
//! checked against (values printed so a slow-but-wrong estimator cannot pass unnoticed).
//!
//! `cargo run --release -p scoreprobe-hodge --example hodge_bench`

use ndarray::{array, Array1, Array2};
use rand::{Rng, SeedableRng};
use scoreprobe_core::distribution::GaussianMixture;
use scoreprobe_core::model::synthetic::{ErrorField, PotentialField, SyntheticModel};
use scoreprobe_core::schedule::Schedule;
use scoreprobe_hodge::{estimator, EstimatorKind, HodgeConfig, HodgeEstimator, Problem};
use std::time::Instant;

fn run(label: &str, model: &SyntheticModel, kinds: &[EstimatorKind], t: f64) {
    let problem = Problem::synthetic(model);
    let config = HodgeConfig::default();
    for &kind in kinds {
        let est: Box<dyn HodgeEstimator> = estimator(kind, &config);
        let start = Instant::now();
        match est.point(&problem, t, 1) {
            Ok(p) => println!(
                "{label:<34} t={t:<4} {:<16} {:>8.3} s   gradient {:.5} ± {:.5}   l2 {:.5}",
                kind.to_string(),
                start.elapsed().as_secs_f64(),
                p.gradient.value,
                p.gradient.se,
                p.l2.value
            ),
            Err(e) => println!("{label:<34} t={t:<4} {:<16} refused: {e}", kind.to_string()),
        }
    }
}

fn main() {
    println!("threads: {}", rayon::current_num_threads());
    let all = [EstimatorKind::ClosedForm, EstimatorKind::Grid, EstimatorKind::RandomFeatures, EstimatorKind::Critic];
    let g2 = GaussianMixture::from_vecs(&[1.0], &[vec![0.5, -1.0]], &[vec![vec![1.0, 0.3], vec![0.3, 0.5]]], "g2")
        .expect("valid Gaussian");
    let affine2 = SyntheticModel {
        target: g2,
        schedule: Schedule::vp_default(),
        error: ErrorField::Affine { e: array![[0.3, 0.0], [0.1, -0.2]], b: array![0.2, 0.0] },
    };
    for t in [0.05, 0.5] {
        run("gaussian d=2, affine error", &affine2, &all, t);
    }

    let d = 10;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let a = Array2::from_shape_fn((d, d), |_| rng.random::<f64>() - 0.5);
    let cov = a.dot(&a.t()) * 0.5 + Array2::<f64>::eye(d) * 0.3;
    let mean = Array1::from_shape_fn(d, |_| rng.random::<f64>() - 0.5);
    let g10 = GaussianMixture::new(Array1::ones(1), vec![mean], vec![cov], "g10").expect("valid Gaussian");
    let e = Array2::from_shape_fn((d, d), |_| (rng.random::<f64>() - 0.5) * 0.3);
    let b = Array1::from_shape_fn(d, |_| (rng.random::<f64>() - 0.5) * 0.3);
    let affine10 = SyntheticModel { target: g10, schedule: Schedule::vp_default(), error: ErrorField::Affine { e, b } };
    run("gaussian d=10, affine error", &affine10, &all, 0.5);

    let ring8 = scoreprobe_core::distribution::named_target("ring8").expect("named target");
    let bump = SyntheticModel {
        target: ring8,
        schedule: Schedule::vp_default(),
        error: ErrorField::Gradient {
            potential: PotentialField::RadialBump { center: Array1::zeros(2), width: 1.0, height: 1.0 },
            lambda: 1.0,
        },
    };
    run("ring8, radial-bump gradient error", &bump, &all[1..], 0.2);
}
