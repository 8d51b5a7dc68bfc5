use ndarray::array;
use scoreprobe_core::model::synthetic::{ErrorField, SyntheticModel};
use scoreprobe_core::schedule::Schedule;
use scoreprobe_core::target::GaussianMixture;
use scoreprobe_hodge::critic::{Critic, CriticConfig};
use scoreprobe_hodge::{HodgeEstimator, Problem};
use scoreprobe_nn::critic_fit::CriticFitConfig;
use std::time::Instant;

#[test]
fn bench() {
    let g = GaussianMixture::from_vecs(&[1.0], &[vec![0.5, -1.0]], &[vec![vec![1.0, 0.3], vec![0.3, 0.5]]], "t").unwrap();
    let m = SyntheticModel { target: g, schedule: Schedule::vp_default(), error: ErrorField::Affine { e: array![[0.3, 0.0], [0.1, -0.2]], b: array![0.2, 0.0] } };
    let p = Problem::synthetic(&m);
    for (h, b) in [(64, 512), (64, 256), (32, 512), (128,512)] {
        let s = Instant::now();
        let c = Critic { config: CriticConfig { n: 1000, fit: CriticFitConfig { steps: 200, hidden: h, batch: b, ..Default::default() }, ..Default::default() } };
        let _ = c.point(&p, 0.5, 1).unwrap();
        eprintln!("hidden {h} batch {b}: {:.2} ms/step", s.elapsed().as_secs_f64() * 1000.0 / 200.0);
    }
}
