//! Samplers with the exact score reproduce their targets, within tolerances derived from the
//! Monte-Carlo error of the sample moments; discretisation error shrinks with the step count.

use ndarray::{array, Array1, Array2, ArrayView2, Axis};
use scoreprobe_core::distribution::named_target;
use scoreprobe_core::exact::{euler_maruyama_law, generated_law, Dynamics, Init};
use scoreprobe_core::model::synthetic::{ErrorField, SyntheticModel};
use scoreprobe_core::sampler::{prior_init, sample_trajectory, sample_with_observer, SamplerConfig, SamplerKind};
use scoreprobe_core::window::Window;
use scoreprobe_core::{CoreError, GaussianMixture, ModelError, Schedule, ScoreModel};
use std::ops::ControlFlow::{self, Break, Continue};

fn gaussian() -> GaussianMixture {
    GaussianMixture::from_vecs(&[1.0], &[vec![0.5, -1.0]], &[vec![vec![1.0, 0.3], vec![0.3, 0.5]]], "t").unwrap()
}

fn run(model: &SyntheticModel, kind: SamplerKind, n: usize, steps: usize, seed: u64) -> Array2<f64> {
    let cfg = SamplerConfig::new(kind, steps, 1e-3, seed);
    let x0 = prior_init(n, model.target.dim(), seed);
    sample_with_observer(model, &model.schedule, &cfg, x0, &mut |_| Continue(())).unwrap().x
}

fn moments(x: &Array2<f64>) -> (Array1<f64>, Array2<f64>) {
    let m = x.mean_axis(Axis(0)).unwrap();
    let c = x - &m.view().insert_axis(Axis(0));
    (m, c.t().dot(&c) / (x.nrows() - 1) as f64)
}

/// Asserts sample moments match (mean, cov) within `z` standard errors plus a bias allowance.
/// SE(mean_i) = √(C_ii/n); for Gaussian data SE(cov_ij) = √((C_ii C_jj + C_ij²)/n).
fn assert_moments(x: &Array2<f64>, mean: &Array1<f64>, cov: &Array2<f64>, z: f64, bias: f64, what: &str) {
    let n = x.nrows() as f64;
    let (m, c) = moments(x);
    for i in 0..mean.len() {
        let se = (cov[[i, i]] / n).sqrt();
        assert!((m[i] - mean[i]).abs() < z * se + bias, "{what}: mean[{i}] {} vs {} (se {se})", m[i], mean[i]);
        for j in 0..mean.len() {
            let se = ((cov[[i, i]] * cov[[j, j]] + cov[[i, j]].powi(2)) / n).sqrt();
            assert!(
                (c[[i, j]] - cov[[i, j]]).abs() < z * se + bias,
                "{what}: cov[{i},{j}] {} vs {} (se {se})",
                c[[i, j]],
                cov[[i, j]]
            );
        }
    }
}

#[test]
fn em_matches_its_exact_chain_law() {
    // the EM chain's own law is exact (affine recursion): only Monte-Carlo error remains
    let model = SyntheticModel {
        target: gaussian(),
        schedule: Schedule::vp_default(),
        error: ErrorField::Affine { e: array![[0.3, 0.0], [0.1, -0.2]], b: array![0.2, 0.0] },
    };
    let law = euler_maruyama_law(&model, Init::Prior, 1e-3, 200).unwrap();
    let x = run(&model, SamplerKind::Em, 20_000, 200, 11);
    assert_moments(&x, &law.mean, &law.cov, 4.5, 0.0, "em vs chain law");
}

#[test]
fn every_sampler_reproduces_a_gaussian() {
    let model = SyntheticModel::exact(gaussian(), Schedule::vp_default());
    let (m, c) = model.target.moments_at(&model.schedule, 1e-3);
    for kind in [SamplerKind::Em, SamplerKind::Ancestral, SamplerKind::OdeEuler, SamplerKind::OdeHeun] {
        let x = run(&model, kind, 20_000, 500, 3);
        // discretisation bias at 500 steps is O(1e-3) (first-order schemes), below 1 SE here
        assert_moments(&x, &m, &c, 4.5, 2e-3, kind.name());
    }
}

#[test]
fn ddpm_ancestral_on_its_own_grid() {
    let spec = scoreprobe_core::schedule::ScheduleSpec::Ddpm { steps: 1000, beta_start: 1e-4, beta_end: 0.02 };
    let sched = Schedule::from_spec(&spec).unwrap();
    let model = SyntheticModel::exact(gaussian(), sched.clone());
    let cfg = SamplerConfig::new(SamplerKind::Ancestral, 1000, 0.0, 5);
    let out = sample_with_observer(&model, &sched, &cfg, prior_init(20_000, 2, 5), &mut |_| Continue(())).unwrap();
    assert_eq!(out.nfe, 1000);
    let (m, c) = model.target.moments_at(&sched, 0.0);
    assert_moments(&out.x, &m, &c, 4.5, 2e-3, "ddpm ancestral");
}

#[test]
fn ode_discretisation_error_shrinks_with_steps() {
    // deterministic: compare each grid against a fine Heun solution from the same starting points
    let model = SyntheticModel::exact(named_target("ring8").unwrap(), Schedule::vp_default());
    let reference = run(&model, SamplerKind::OdeHeun, 200, 2000, 9);
    let err = |kind, steps| (run(&model, kind, 200, steps, 9) - &reference).mapv(f64::abs).mean().unwrap();
    let (e1, e2) = (err(SamplerKind::OdeEuler, 50), err(SamplerKind::OdeEuler, 200));
    assert!(e2 < e1 / 3.0, "Euler (first order): {e1} -> {e2}");
    let (h1, h2) = (err(SamplerKind::OdeHeun, 50), err(SamplerKind::OdeHeun, 200));
    assert!(h2 < h1 / 6.0 && h1 < e1, "Heun (second order): {h1} -> {h2}");
}

#[test]
fn samplers_reproduce_ring8() {
    // mode occupancy (a χ² goodness-of-fit with 7 d.o.f.) and within-mode spread
    let model = SyntheticModel::exact(named_target("ring8").unwrap(), Schedule::vp_default());
    for kind in [SamplerKind::Em, SamplerKind::OdeHeun] {
        let n = 8000;
        let x = run(&model, kind, n, 1000, 21);
        let means = model.target.means().to_vec();
        let mut counts = [0usize; 8];
        let mut sq = 0.0;
        for row in x.rows() {
            let (k, d2) = means
                .iter()
                .enumerate()
                .map(|(k, m)| (k, (&row - m).mapv(|v| v * v).sum()))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap();
            counts[k] += 1;
            sq += d2;
        }
        let e = n as f64 / 8.0;
        let chi2: f64 = counts.iter().map(|c| (*c as f64 - e).powi(2) / e).sum();
        assert!(chi2 < 24.3, "{}: chi2={chi2} counts={counts:?}", kind.name()); // 99.9% quantile of χ²₇
                                                                                // E|x − m_k|² = 2(0.01α² + σ²) at t_min ≈ 0.0204; SE from the χ²₂ spread ≈ 0.0204/√n
        let want = 2.0 * (0.01 * model.schedule.alpha(1e-3).powi(2) + model.schedule.sigma2(1e-3));
        let got = sq / n as f64;
        assert!((got - want).abs() < 5.0 * want / (n as f64).sqrt() + 1e-3, "{}: spread {got} vs {want}", kind.name());
    }
}

#[test]
fn nfe_windows_and_determinism() {
    let model = SyntheticModel::exact(gaussian(), Schedule::vp_default());
    let mut cfg = SamplerConfig::new(SamplerKind::Em, 1000, 1e-3, 7);
    let full =
        sample_with_observer(&model, &model.schedule, &cfg, prior_init(64, 2, 7), &mut |_| Continue(())).unwrap();
    assert_eq!((full.nfe, full.steps_run), (1000, 1000));
    let again =
        sample_with_observer(&model, &model.schedule, &cfg, prior_init(64, 2, 7), &mut |_| Continue(())).unwrap();
    assert_eq!(full.x, again.x);

    cfg.window = Some(Window::parse("900..999").unwrap());
    cfg.stop_after_window = true;
    let mut seen = vec![];
    let w = sample_with_observer(&model, &model.schedule, &cfg, prior_init(64, 2, 7), &mut |v| {
        seen.push(v.index);
        Continue(())
    })
    .unwrap();
    assert_eq!((w.nfe, w.steps_run), (100, 100));
    assert_eq!(seen, (900..1000).rev().collect::<Vec<_>>());
    // the windowed run is a prefix of the full run: same noise, same states
    let (_, states, times) = sample_trajectory(&model, &model.schedule, &cfg, prior_init(64, 2, 7)).unwrap();
    assert_eq!(states.len(), 101);
    assert_eq!(states[100], w.x);
    assert!((times[0] - 1.0).abs() < 1e-12 && (times[100] - cfg.grid()[900]).abs() < 1e-12);

    cfg.stop_after_window = false;
    cfg.window = Some(Window::parse("100..199").unwrap());
    let (out, states, _) = sample_trajectory(&model, &model.schedule, &cfg, prior_init(64, 2, 7)).unwrap();
    assert_eq!(out.x, full.x);
    assert_eq!(states.len(), 101);

    let heun = SamplerConfig::new(SamplerKind::OdeHeun, 100, 1e-3, 0);
    let h = sample_with_observer(&model, &model.schedule, &heun, prior_init(4, 2, 0), &mut |_| Continue(())).unwrap();
    assert_eq!(h.nfe, 200);

    cfg.window = Some(Window::parse("900..1000").unwrap());
    assert!(sample_with_observer(&model, &model.schedule, &cfg, prior_init(4, 2, 0), &mut |_| Continue(()))
        .unwrap_err()
        .to_string()
        .contains("outside"));
}

#[test]
fn solenoidal_family_generates_the_target() {
    // L² error grows like λ² while the continuous-time generated law stays the target. Large λ makes
    // the drift rotate at rate ~λβ, so Euler–Maruyama carries an O(λ²βh) bias: the sampler is
    // checked against the exact law of its own chain (Monte-Carlo error only), and that chain law
    // is checked to converge to the target as the step count grows.
    let target = gaussian();
    let sched = Schedule::vp_default();
    let mut l2 = vec![];
    for lambda in [0.0, 1.0, 3.0, 10.0] {
        let model = SyntheticModel {
            target: target.clone(),
            schedule: sched.clone(),
            error: ErrorField::Solenoidal { a: array![[0.0, 1.0], [-1.0, 0.0]], lambda },
        };
        let law = generated_law(&model, Dynamics::ReverseSde, Init::Prior, 1e-3, 4000).unwrap();
        assert!(law.kl < 1e-3, "lambda={lambda}: exact kl={}", law.kl);
        let steps = ((10.0 * lambda * lambda * 20.0) as usize).max(500);
        let chain = euler_maruyama_law(&model, Init::Prior, 1e-3, steps).unwrap();
        let finer = euler_maruyama_law(&model, Init::Prior, 1e-3, 4 * steps).unwrap();
        assert!(
            chain.kl < 0.02 && finer.kl < chain.kl.max(2e-4),
            "lambda={lambda}: chain kl {} -> {}",
            chain.kl,
            finer.kl
        );
        let x = run(&model, SamplerKind::Em, 3000, steps, 13);
        assert_moments(&x, &chain.mean, &chain.cov, 4.5, 0.0, &format!("solenoidal lambda={lambda}"));
        l2.push(model.l2_error_mc(0.5, 20_000, 1));
    }
    // ‖e‖² = λ²‖A∇log p‖²: the ratio to λ = 1 is λ² up to Monte-Carlo error (same draws: exact ratio)
    for (i, lambda) in [0.0f64, 1.0, 3.0, 10.0].iter().enumerate() {
        assert!((l2[i].0 - lambda * lambda * l2[1].0).abs() < 1e-9 * (1.0 + l2[i].0), "{:?}", l2);
    }
}

/// The exact model of a target, except that from `bad_below` downwards in t it misbehaves.
struct Faulty {
    inner: SyntheticModel,
    bad_below: f64,
    fault: Fault,
}

#[derive(Clone, Copy)]
enum Fault {
    Nan,
    Inf,
    WrongShape,
    Fails,
}

/// A user's own error type, to be found again through `source()`.
#[derive(Debug, PartialEq)]
struct Overheated(u32);
impl std::fmt::Display for Overheated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "accelerator overheated at {} degrees", self.0)
    }
}
impl std::error::Error for Overheated {}

impl ScoreModel for Faulty {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn score(&self, x: ArrayView2<f64>, t: f64) -> Result<Array2<f64>, ModelError> {
        let mut s = self.inner.score(x, t)?;
        if t < self.bad_below {
            match self.fault {
                Fault::Nan => s[[x.nrows() - 1, 1]] = f64::NAN,
                Fault::Inf => s[[0, 0]] = f64::NEG_INFINITY,
                Fault::WrongShape => return Ok(Array2::zeros((x.nrows(), x.ncols() + 1))),
                Fault::Fails => return Err(ModelError::failed(self.describe(), Overheated(97))),
            }
        }
        Ok(s)
    }
    fn describe(&self) -> String {
        "faulty-net".into()
    }
}

fn faulty(fault: Fault) -> Faulty {
    // 100 steps on [1e-3, 1]: step k evaluates at t_{k+1} = 1e-3 + 0.999 (k + 1)/100; t < 0.5 first at k = 48
    Faulty { inner: SyntheticModel::exact(gaussian(), Schedule::vp_default()), bad_below: 0.5, fault }
}

fn sampling_error(model: &Faulty, kind: SamplerKind) -> CoreError {
    let cfg = SamplerConfig::new(kind, 100, 1e-3, 1);
    sample_with_observer(model, &model.inner.schedule, &cfg, prior_init(8, 2, 1), &mut |_| Continue(())).unwrap_err()
}

#[test]
fn a_model_returning_nan_stops_sampling_at_that_step() {
    for kind in [SamplerKind::Em, SamplerKind::Ancestral, SamplerKind::OdeEuler] {
        let err = sampling_error(&faulty(Fault::Nan), kind);
        let msg = err.to_string();
        assert!(
            msg.contains("step 48")
                && msg.contains("faulty-net")
                && msg.contains("non-finite")
                && msg.contains("row 7"),
            "{msg}"
        );
        match err {
            CoreError::Sampling { step, t, source: ModelError::NonFinite { row, col, .. } } => {
                assert_eq!((step, row, col), (48, 7, 1));
                assert!((t - (1e-3 + 0.999 * 0.49)).abs() < 1e-12, "t = {t}");
            }
            other => panic!("not a sampling error: {other:?}"),
        }
    }
    let msg = sampling_error(&faulty(Fault::Inf), SamplerKind::Em).to_string();
    assert!(msg.contains("step 48") && msg.contains("(row 0, column 0)"), "{msg}");
    // Heun evaluates a second time at t_k: step 49's predictor lands on t_49 = 0.49051 < 0.5
    let err = sampling_error(&faulty(Fault::Nan), SamplerKind::OdeHeun);
    assert!(matches!(err, CoreError::Sampling { step: 49, .. }), "{err}");
}

#[test]
fn a_wrong_shape_is_an_error_not_a_panic() {
    let err = sampling_error(&faulty(Fault::WrongShape), SamplerKind::Em);
    assert!(
        matches!(
            err,
            CoreError::Sampling { step: 48, source: ModelError::Shape { got: (8, 3), expected: (8, 2), .. }, .. }
        ),
        "{err}"
    );
}

#[test]
fn a_failing_model_keeps_its_own_error_as_the_source() {
    let err = sampling_error(&faulty(Fault::Fails), SamplerKind::Em);
    assert!(err.to_string().contains("accelerator overheated"), "{err}");
    let mut found = None;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = cause {
        if let Some(o) = e.downcast_ref::<Overheated>() {
            found = Some(o);
        }
        cause = e.source();
    }
    assert_eq!(found, Some(&Overheated(97)));
}

#[test]
fn the_observer_can_stop_a_run() {
    let model = SyntheticModel::exact(gaussian(), Schedule::vp_default());
    let mut cfg = SamplerConfig::new(SamplerKind::Em, 100, 1e-3, 2);
    cfg.window = Some(Window::parse("0..99").unwrap());
    let mut seen = 0;
    let mut stop_at_third = |_: &scoreprobe_core::sampler::StepView| -> ControlFlow<()> {
        seen += 1;
        if seen == 3 {
            Break(())
        } else {
            Continue(())
        }
    };
    let out = sample_with_observer(&model, &model.schedule, &cfg, prior_init(8, 2, 2), &mut stop_at_third).unwrap();
    assert!(out.stopped_by_observer);
    assert_eq!((out.nfe, out.steps_run), (3, 2));
    // the returned states are the ones the observer saw last: those after two steps of the full run
    let mut two = cfg.clone();
    two.window = Some(Window::parse("98..99").unwrap());
    two.stop_after_window = true;
    let after_two = sample_with_observer(&model, &model.schedule, &two, prior_init(8, 2, 2), &mut |_| Continue(()));
    assert_eq!(out.x, after_two.unwrap().x);
    assert!((out.t_end - cfg.grid()[98]).abs() < 1e-15);
}

/// Trajectory i's randomness is keyed by (seed, i): sampling rows in any partition (shards,
/// batches) gives every row the values of the whole run, bit for bit, for every sampler.
#[test]
fn any_partition_of_the_trajectories_gives_the_same_rows() {
    let model = SyntheticModel::exact(gaussian(), Schedule::vp_default());
    for kind in [SamplerKind::Em, SamplerKind::Ancestral, SamplerKind::OdeEuler, SamplerKind::OdeHeun] {
        let cfg = SamplerConfig::new(kind, 50, 1e-3, 9);
        let run = |rows: std::ops::Range<usize>| {
            let mut c = cfg.clone();
            c.first_trajectory = rows.start;
            let x0 = scoreprobe_core::sampler::prior_rows(rows, 2, 9);
            sample_with_observer(&model, &model.schedule, &c, x0, &mut |_| Continue(())).unwrap().x
        };
        let whole = run(0..13);
        assert_eq!(
            whole,
            sample_with_observer(&model, &model.schedule, &cfg, prior_init(13, 2, 9), &mut |_| Continue(())).unwrap().x
        );
        for cuts in [vec![0, 13], vec![0, 1, 13], vec![0, 5, 6, 12, 13], (0..=13).collect::<Vec<_>>()] {
            let parts: Vec<_> = cuts.windows(2).map(|w| run(w[0]..w[1])).collect();
            let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
            assert_eq!(ndarray::concatenate(ndarray::Axis(0), &views).unwrap(), whole, "{kind:?} {cuts:?}");
        }
        // a longer run's first rows are the shorter run's
        assert_eq!(run(0..20).slice(ndarray::s![..13, ..]), whole, "{kind:?}");
        // and the thread count plays no part (the noise rows are drawn in parallel)
        let pool = |threads| rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        for threads in [1, 3] {
            assert_eq!(pool(threads).install(|| run(0..1100)).slice(ndarray::s![..13, ..]), whole, "{kind:?}");
        }
    }
}
