use ndarray::array;
use scoreprobe_core::model::synthetic::{ErrorField, PotentialField, SyntheticModel};
use scoreprobe_core::schedule::Schedule;
use scoreprobe_core::target::{named_target, GaussianMixture};
use scoreprobe_hodge::closed_form::{affine_error, gaussian_split};
use scoreprobe_hodge::grid::{grid_split, GridConfig};
use scoreprobe_hodge::random_features::{critic_value, CriticForm, Identity, RfConfig};
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
    for &t in &[0.001, 0.05, 0.5, 0.9] {
        let (e, b, _, s) = affine_error(&m, t).unwrap();
        let (l2, gr, _) = gaussian_split(&e, &b, &s);
        print!("t={t} closed l2={l2:.6} grad={gr:.6}");
        for cps in [4.0, 8.0, 16.0] {
            let st = Instant::now();
            let sol =
                grid_split(&m.target, &m, &m.schedule, t, &GridConfig { cells_per_std: cps, ..Default::default() })
                    .unwrap();
            print!(
                " | cps{cps}: l2 {:.2e} g {:.2e} it {} cells {:?} {:.2}s",
                sol.l2 - l2,
                sol.gradient - gr,
                sol.iterations,
                sol.cells,
                st.elapsed().as_secs_f64()
            );
        }
        println!();
        let p = Problem::synthetic(&m);
        let st = Instant::now();
        let cfg = RfConfig::default();
        for id in [Identity::Denoising, Identity::IntegrationByParts] {
            let cfg = RfConfig { identity: id, ..cfg.clone() };
            let f = critic_value(&p, t, CriticForm::Gradient, &cfg, 1).unwrap();
            let est = f.value.scaled(1.0 / m.schedule.sigma2(t));
            let estv =
                critic_value(&p, t, CriticForm::Vector, &cfg, 2).unwrap().value.scaled(1.0 / m.schedule.sigma2(t));
            println!(
                "   {id:?} rf grad {:.5} ± {:.5} (rel {:.3}) ridges {:?}, vec l2 {:.5} ± {:.5}  {:.2}s",
                est.value,
                est.se,
                (est.value - gr) / gr,
                f.ridges,
                estv.value,
                estv.se,
                st.elapsed().as_secs_f64()
            );
            let cfg0 = RfConfig { poly_degree: Some(0), ..cfg.clone() };
            let f = critic_value(&p, t, CriticForm::Gradient, &cfg0, 1).unwrap();
            let est = f.value.scaled(1.0 / m.schedule.sigma2(t));
            println!(
                "   rf(no poly) grad {:.5} ± {:.5} (rel {:.3}) {:?}",
                est.value,
                est.se,
                (est.value - gr) / gr,
                f.ridges
            );
        }
    }
    let ring = named_target("ring8").unwrap();
    for err in [
        ErrorField::Solenoidal { a: array![[0.0, 1.0], [-1.0, 0.0]], lambda: 3.0 },
        ErrorField::Gradient {
            potential: PotentialField::RadialBump { center: array![0.0, 0.0], width: 0.7, height: 1.0 },
            lambda: 0.5,
        },
    ] {
        let m = SyntheticModel { target: ring.clone(), schedule: Schedule::vp_default(), error: err };
        for &t in &[0.001, 0.05, 0.5, 0.9] {
            print!("ring t={t}");
            for cps in [4.0, 8.0, 16.0] {
                let st = Instant::now();
                let sol =
                    grid_split(&m.target, &m, &m.schedule, t, &GridConfig { cells_per_std: cps, ..Default::default() })
                        .unwrap();
                print!(
                    " | cps{cps}: l2 {:.5} g {:.6} it {} cells {:?} {:.2}s",
                    sol.l2,
                    sol.gradient,
                    sol.iterations,
                    sol.cells,
                    st.elapsed().as_secs_f64()
                );
            }
            let (l2, se) = m.l2_error_mc(t, 100000, 3);
            println!(" mc l2 {l2:.5}±{se:.5}");
            let p = Problem::synthetic(&m);
            for id in [Identity::Denoising, Identity::IntegrationByParts] {
                let cfg = RfConfig { identity: id, ..Default::default() };
                let f = critic_value(&p, t, CriticForm::Gradient, &cfg, 1).unwrap();
                let est = f.value.scaled(1.0 / m.schedule.sigma2(t));
                let estv =
                    critic_value(&p, t, CriticForm::Vector, &cfg, 2).unwrap().value.scaled(1.0 / m.schedule.sigma2(t));
                println!(
                    "   {id:?} rf grad {:.5} ± {:.5} {:?} vec l2 {:.5} ± {:.5}",
                    est.value, est.se, f.ridges, estv.value, estv.se
                );
            }
        }
    }
}
