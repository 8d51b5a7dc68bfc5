//! KL bounds of the reverse-SDE sampler over [t_min, T] (SPEC §6).
//!
//!   Girsanov: KL(p_tmin‖q_tmin) ≤ KL(p_T‖π) + ∫ ½β(t)‖e_t‖² dt
//!   marginal: KL(p_tmin‖q_tmin) ≤ KL(p_T‖π) + ∫ ½β(t)‖∇φ_t‖² dt
//! The integrals use [`crate::quadrature::log_simpson`] (error estimate by halving) on the per-time
//! values of one Hodge estimator; Monte-Carlo SEs of the nodes are propagated. The exact KL is
//! given where one exists: Gaussian target + affine score (core moment ODEs, from the prior π).
//! For d = 2 mixtures the grid Fokker–Planck solve of the generated density is not implemented:
//! the exact KL is null there and the report says so.

use crate::error::HodgeError;
use crate::estimate::HodgePoint;
use crate::kind::EstimatorKind;
use crate::problem::{check_applies, HodgeEstimator, Problem};
use crate::quadrature::log_simpson;
use ndarray::{Array1, Array2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use scoreprobe_core::distribution::standard_normal;
use scoreprobe_core::exact::{generated_law, Dynamics, Init};
use scoreprobe_core::linalg::gaussian_kl;
use scoreprobe_core::schedule::T_END;
use scoreprobe_core::shard::Shard;
use scoreprobe_core::{Purpose, SeedStream};
use serde::{Deserialize, Serialize};
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct BoundsConfig {
    /// Lower end of the integration window (the sampler's end time).
    pub t_min: f64,
    /// Simpson panels in ln t (a multiple of 4): panels + 1 estimator calls.
    pub panels: usize,
    /// Monte-Carlo samples for KL(p_T‖π) when p_T is a mixture.
    pub prior_n: usize,
    /// RK4 substeps of the exact moment ODEs.
    pub exact_substeps: usize,
}

impl Default for BoundsConfig {
    fn default() -> Self {
        Self { t_min: 1e-3, panels: 32, prior_n: 100_000, exact_substeps: 4000 }
    }
}

/// The bounds, their error estimates, the exact reference and the per-node integrands.
#[derive(Clone, Debug, Serialize)]
pub struct BoundsReport {
    pub estimator: String,
    pub model: String,
    pub t_min: f64,
    /// KL(p_T‖π) + ∫ ½β‖e_t‖² dt (nats).
    pub girsanov: f64,
    /// KL(p_T‖π) + ∫ ½β‖∇φ_t‖² dt (nats).
    pub marginal: f64,
    /// KL(p_tmin‖q_tmin) of the continuous reverse SDE from π, where known.
    pub exact_kl: Option<f64>,
    pub exact_kl_method: String,
    /// KL(p_T‖π), π = N(0, I) (exact, or an upper bound: see `prior`).
    pub prior_kl: f64,
    pub prior: PriorKl,
    /// ∫ ½β‖r_t‖² dt = girsanov − marginal (the path-space cost the marginal bound removes).
    pub path_cost: f64,
    /// |fine − coarse| of the halving rule, per integral.
    pub girsanov_quad_err: f64,
    pub marginal_quad_err: f64,
    /// Monte-Carlo standard errors of the bounds (nodes and prior KL).
    pub girsanov_se: f64,
    pub marginal_se: f64,
    pub quadrature: String,
    pub times: Vec<f64>,
    /// ½β(t)‖e_t‖² and ½β(t)‖∇φ_t‖² at the nodes.
    pub integrand_l2: Vec<f64>,
    pub integrand_gradient: Vec<f64>,
    pub units: &'static str,
    pub seconds: f64,
    pub samples: usize,
}

/// KL(p_T‖π), π = N(0, I), with how it was obtained.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PriorKl {
    /// The value used in the bounds.
    pub value: f64,
    /// Its Monte-Carlo standard error (0 when exact).
    pub se: f64,
    /// Exact lower and upper bounds on KL(p_T‖π) (equal to `value` for Gaussians).
    pub lower: f64,
    pub upper: f64,
    pub samples: usize,
    pub method: String,
}

/// KL(p_T‖N(0, I)).
/// - Gaussians: exact.
/// - Mixtures: Monte Carlo under π of KL = E_π[r log r − r + 1], r = p_T/π, whose control variate
///   r − 1 has mean 0: the integrand is ≈ (r − 1)²/2 ≥ 0, so the relative SE is O(1/√n) even
///   though KL = O(α_T⁴) (plain E_p[log r] fluctuates at O(α_T²) and is useless). Clamped to the
///   exact sandwich [moment-matched Gaussian KL (a Gaussian has maximal entropy at given moments
///   and log π is quadratic), Σ_k w_k KL(N_k,T‖π) (joint convexity)].
/// - Data sets (p_T unknown): the convexity upper bound E_x₀ KL(N(α_T x₀, σ_T² I)‖π) over the
///   rows, so the bounds stay bounds.
pub fn prior_kl(problem: &Problem, n: usize, seed: u64) -> Result<PriorKl, HodgeError> {
    let sched = problem.schedule;
    let d = problem.dim();
    let eye = Array2::<f64>::eye(d);
    let zero = Array1::<f64>::zeros(d);
    let kl_to_prior = |m: &Array1<f64>, c: &Array2<f64>| gaussian_kl(m.view(), c.view(), zero.view(), eye.view());
    let (a, s2) = (sched.alpha(T_END), sched.sigma2(T_END));
    match problem.target() {
        Some(g) => {
            let (m, c) = g.moments_at(sched, T_END);
            let lower = kl_to_prior(&m, &c)?;
            if g.is_gaussian() {
                let method = "exact (Gaussian)".into();
                return Ok(PriorKl { value: lower, se: 0.0, lower, upper: lower, samples: 0, method });
            }
            let mut upper = 0.0;
            for ((w, mk), ck) in g.weights().iter().zip(g.means()).zip(g.covs()) {
                upper += w * kl_to_prior(&(mk * a), &(ck * (a * a) + &eye * s2))?;
            }
            if n < 2 {
                return Err(HodgeError::invalid("prior KL", format!("need at least 2 Monte-Carlo samples, got {n}")));
            }
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let x = standard_normal(n, d, &mut rng);
            let logp = g.marginal(sched, T_END).log_density(x.view());
            let logpi = x.mapv(|v| -0.5 * v * v).sum_axis(Axis(1)) - 0.5 * d as f64 * std::f64::consts::TAU.ln();
            // r log r − r + 1 with l = log r, m = r − 1: l(1 + m) − m
            let terms = (&logp - &logpi).mapv(|l| {
                let m = l.exp_m1();
                l * (1.0 + m) - m
            });
            let est = crate::problem::mean_se(terms.iter().copied());
            Ok(PriorKl {
                value: est.value.clamp(lower, upper.max(lower)),
                se: est.se,
                lower,
                upper,
                samples: n,
                method: format!(
                    "mixture: Monte Carlo under π with control variate ({n} draws), clamped to exact bounds"
                ),
            })
        }
        None => {
            let crate::Data::Samples(x0) = problem.data else { unreachable!("no target means samples") };
            let per = x0.rows().into_iter().map(|r| 0.5 * (a * a * r.dot(&r) + d as f64 * (s2 - 1.0 - s2.ln())));
            let value = crate::problem::mean_se(per).value;
            Ok(PriorKl {
                value,
                se: 0.0,
                lower: 0.0,
                upper: value,
                samples: 0,
                method: "data set: upper bound E_x₀ KL(N(α_T x₀, σ_T² I)‖π) over the rows (p_T unknown)".into(),
            })
        }
    }
}

/// The exact KL(p_tmin‖q_tmin) of the continuous reverse SDE started at π, where one exists.
pub fn exact_kl(problem: &Problem, t_min: f64, substeps: usize) -> (Option<f64>, String) {
    let Some(oracle) = problem.oracle else {
        return (None, "none: the model is not synthetic".into());
    };
    if oracle.affine_form(0.5).is_some() {
        return match generated_law(oracle, Dynamics::ReverseSde, Init::Prior, t_min, substeps) {
            Ok(law) => (Some(law.kl), format!("Gaussian moment ODEs (RK4, {substeps} steps)")),
            Err(e) => (None, e.to_string()),
        };
    }
    let why = if problem.dim() <= 2 {
        "none: the grid Fokker–Planck solve of the generated density (d ≤ 2 mixtures) is not implemented yet"
    } else {
        "none: no exact generated law for a non-Gaussian target in d > 2"
    };
    (None, why.into())
}

/// Girsanov and marginal bounds with the per-time values of `estimator`.
pub fn kl_bounds(
    estimator: &dyn HodgeEstimator,
    problem: &Problem,
    cfg: &BoundsConfig,
    seed: u64,
    available: &[&dyn HodgeEstimator],
) -> Result<BoundsReport, HodgeError> {
    bounds_part(estimator, problem, cfg, seed, available, Shard::WHOLE)?.report()
}

/// What the bounds are computed from: the Hodge points at the quadrature nodes (a shard's: at
/// its block of the nodes), with the prior's KL and the exact KL (computed by shard 0 only).
/// Node i is seeded by its index, so the nodes of K shards are exactly the whole run's.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BoundsPart {
    pub estimator: EstimatorKind,
    pub model: String,
    pub t_min: f64,
    pub panels: usize,
    /// The points at this part's nodes, and ½β(t) at each.
    pub points: Vec<HodgePoint>,
    pub half_beta: Vec<f64>,
    /// KL(p_T‖π) and the exact KL with its method (shard 0's part only).
    pub prior: Option<PriorKl>,
    pub exact: Option<(Option<f64>, String)>,
    pub seconds: f64,
}

/// [`kl_bounds`]'s inputs at `shard`'s block of the quadrature nodes.
pub fn bounds_part(
    estimator: &dyn HodgeEstimator,
    problem: &Problem,
    cfg: &BoundsConfig,
    seed: u64,
    available: &[&dyn HodgeEstimator],
    shard: Shard,
) -> Result<BoundsPart, HodgeError> {
    check_applies(estimator, problem, available)?;
    if !(cfg.t_min > 0.0 && cfg.t_min < T_END) {
        return Err(HodgeError::invalid(
            "t_min",
            format!("must lie in (0, 1) (the Girsanov integrand can diverge at t = 0), got {}", cfg.t_min),
        ));
    }
    let start = Instant::now();
    let q = log_simpson(cfg.t_min, T_END, cfg.panels)?;
    let mut points = Vec::with_capacity(q.times.len());
    for i in shard.range(q.times.len()) {
        points.push(estimator.point(problem, q.times[i], SeedStream::new(seed).derive(Purpose::Time(i as u64)))?);
    }
    let half_beta = points.iter().map(|p| 0.5 * problem.schedule.beta(p.t)).collect();
    let (prior, exact) = match shard.index {
        0 => (
            Some(prior_kl(problem, cfg.prior_n, SeedStream::new(seed).derive(Purpose::PriorKl))?),
            Some(exact_kl(problem, cfg.t_min, cfg.exact_substeps)),
        ),
        _ => (None, None),
    };
    let (estimator, model) = (estimator.kind(), problem.model.describe());
    let seconds = start.elapsed().as_secs_f64();
    Ok(BoundsPart { estimator, model, t_min: cfg.t_min, panels: cfg.panels, points, half_beta, prior, exact, seconds })
}

impl BoundsPart {
    /// The parts of K shards (in shard order) as the whole run's.
    pub fn merge(parts: Vec<BoundsPart>) -> Result<BoundsPart, HodgeError> {
        let mut it = parts.into_iter();
        let mut all = it.next().ok_or_else(|| HodgeError::invalid("merge", "no bounds parts"))?;
        for p in it {
            all.points.extend(p.points);
            all.half_beta.extend(p.half_beta);
            all.seconds += p.seconds;
        }
        Ok(all)
    }

    /// The bounds from the points at every node (a whole run's part, or the merge of its shards').
    pub fn report(&self) -> Result<BoundsReport, HodgeError> {
        // the nodes are counted before the rule is built: `panels` may come from a damaged state
        let nodes = self.panels.saturating_add(1);
        if self.points.len() != nodes || self.half_beta.len() != self.points.len() {
            let why =
                format!("{} of the {nodes} quadrature nodes are computed", self.points.len().min(self.half_beta.len()));
            return Err(HodgeError::invalid("bounds", why));
        }
        let q = log_simpson(self.t_min, T_END, self.panels)?;
        let (Some(prior), Some((exact, exact_method))) = (self.prior.clone(), self.exact.clone()) else {
            return Err(HodgeError::invalid("bounds", "the part of shard 0 (the prior's KL) is missing"));
        };
        let col = |f: &dyn Fn(&HodgePoint) -> f64| -> Vec<f64> {
            self.points.iter().zip(&self.half_beta).map(|(p, hb)| hb * f(p)).collect()
        };
        let (fl, fg, fr) = (col(&|p| p.l2.value), col(&|p| p.gradient.value), col(&|p| p.solenoidal.value));
        let (il, el, sel) = q.integrate(&fl, &col(&|p| p.l2.se));
        let (ig, eg, seg) = q.integrate(&fg, &col(&|p| p.gradient.se));
        let (ir, _, _) = q.integrate(&fr, &vec![0.0; fr.len()]);
        let samples = self.points.iter().fold(prior.samples, |a, p| a.saturating_add(p.samples));
        let prior_se = prior.se;
        Ok(BoundsReport {
            estimator: self.estimator.name().into(),
            model: self.model.clone(),
            t_min: self.t_min,
            girsanov: prior.value + il,
            marginal: prior.value + ig,
            exact_kl: exact,
            exact_kl_method: exact_method,
            prior_kl: prior.value,
            prior,
            path_cost: ir,
            girsanov_quad_err: el,
            marginal_quad_err: eg,
            girsanov_se: (sel * sel + prior_se * prior_se).sqrt(),
            marginal_se: (seg * seg + prior_se * prior_se).sqrt(),
            quadrature: format!(
                "composite Simpson in ln t on [{}, 1], {} panels ({} nodes); error = |fine − every-other-node rule|",
                self.t_min,
                self.panels,
                q.times.len()
            ),
            times: q.times.clone(),
            integrand_l2: fl,
            integrand_gradient: fg,
            units: "nats",
            seconds: self.seconds,
            samples,
        })
    }
}
