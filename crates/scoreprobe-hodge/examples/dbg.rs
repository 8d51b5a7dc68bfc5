use ndarray::array;
use scoreprobe_core::model::synthetic::{ErrorField, SyntheticModel};
use scoreprobe_core::schedule::Schedule;
use scoreprobe_core::target::GaussianMixture;
use scoreprobe_hodge::closed_form::ClosedForm;
use scoreprobe_hodge::grid::{grid_split, GridConfig};
use scoreprobe_hodge::{HodgeEstimator, Problem};
fn main() {
    let g =
        GaussianMixture::from_vecs(&[1.0], &[vec![0.5, -1.0]], &[vec![vec![1.0, 0.3], vec![0.3, 0.5]]], "t").unwrap();
    let m = SyntheticModel {
        target: g,
        schedule: Schedule::vp_default(),
        error: ErrorField::Affine { e: array![[0.1, 0.8], [-0.6, 0.0]], b: array![-0.1, 0.3] },
    };
    let p = Problem::synthetic(&m);
    for &t in &[0.001, 0.01, 0.1, 0.3, 0.6, 1.0] {
        let cf = ClosedForm.point(&p, t, 0).unwrap();
        for cps in [2.0, 3.0, 4.0, 6.0, 8.0] {
            for tol in [1e-9, 1e-12] {
                let s = grid_split(
                    &m.target,
                    &m,
                    &m.schedule,
                    t,
                    &GridConfig { cells_per_std: cps, tol, ..Default::default() },
                )
                .unwrap();
                println!(
                    "t={t} cps={cps} tol={tol}: dl2 {:.2e} dg {:.2e} it {} res {:.1e}",
                    s.l2 - cf.l2.value,
                    s.gradient - cf.gradient.value,
                    s.iterations,
                    s.residual
                );
            }
        }
    }
}
