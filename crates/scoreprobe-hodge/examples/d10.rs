use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use scoreprobe_core::model::synthetic::{ErrorField, SyntheticModel};
use scoreprobe_core::schedule::Schedule;
use scoreprobe_core::target::GaussianMixture;
use scoreprobe_hodge::closed_form::{affine_error, gaussian_split};
use scoreprobe_hodge::random_features::{critic_value, CriticForm, RfConfig};
use scoreprobe_hodge::Problem;
use std::time::Instant;
fn main() {
    let d = 10;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let a = Array2::from_shape_fn((d, d), |_| rng.random::<f64>() - 0.5);
    let cov = a.dot(&a.t()) * 0.5 + Array2::<f64>::eye(d) * 0.3;
    let mean = Array1::from_shape_fn(d, |_| rng.random::<f64>() - 0.5);
    let g = GaussianMixture::new(Array1::ones(1), vec![mean], vec![cov], "t").unwrap();
    let e = Array2::from_shape_fn((d, d), |_| (rng.random::<f64>() - 0.5) * 0.3);
    let b = Array1::from_shape_fn(d, |_| (rng.random::<f64>() - 0.5) * 0.3);
    let m = SyntheticModel { target: g, schedule: Schedule::vp_default(), error: ErrorField::Affine { e, b } };
    let p = Problem::synthetic(&m);
    for &t in &[0.3, 0.6, 0.9] {
        let (ee, bb, _, s) = affine_error(&m, t).unwrap();
        let (l2, gr, _) = gaussian_split(&ee, &bb, &s);
        for (feat, n) in [(64, 40000), (0, 40000), (128, 40000)] {
            let st = Instant::now();
            let cfg = RfConfig { features: feat, n, ..Default::default() };
            let f = critic_value(&p, t, CriticForm::Gradient, &cfg, 1).unwrap();
            let v = f.value.scaled(1.0 / m.schedule.sigma2(t));
            let fv = critic_value(&p, t, CriticForm::Vector, &cfg, 2).unwrap().value.scaled(1.0 / m.schedule.sigma2(t));
            println!("t={t} J={feat} n={n}: cf {gr:.5} rf {:.5} ± {:.5} rel {:+.3} z {:+.2} ridges {:?} | l2 {l2:.5} vec {:.5} ± {:.5} z {:+.2} {:.2}s", v.value, v.se, v.value / gr - 1.0, (v.value - gr) / v.se, f.ridges, fv.value, fv.se, (fv.value - l2) / fv.se, st.elapsed().as_secs_f64());
        }
    }
}
