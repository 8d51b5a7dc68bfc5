use ndarray::array;
use scoreprobe_core::model::synthetic::{ErrorField, SyntheticModel};
use scoreprobe_core::schedule::Schedule;
use scoreprobe_core::target::GaussianMixture;
use scoreprobe_hodge::random_features::{critic_value, CriticForm, RfConfig};
use scoreprobe_hodge::Problem;
use std::time::Instant;
fn main() {
    let g =
        GaussianMixture::from_vecs(&[1.0], &[vec![0.5, -1.0]], &[vec![vec![1.0, 0.3], vec![0.3, 0.5]]], "t").unwrap();
    let m = SyntheticModel {
        target: g,
        schedule: Schedule::vp_default(),
        error: ErrorField::Affine { e: array![[0.3, 0.0], [0.1, -0.2]], b: array![0.2, 0.0] },
    };
    let p = Problem::synthetic(&m);
    for form in [CriticForm::Gradient, CriticForm::Vector] {
        for ridge in [None, Some(1e-3)] {
            let st = Instant::now();
            let f = critic_value(&p, 0.5, form, &RfConfig { ridge, ..Default::default() }, 1).unwrap();
            println!("{form:?} {ridge:?} {:.3}s {:?}", st.elapsed().as_secs_f64(), f.value);
        }
    }
}
