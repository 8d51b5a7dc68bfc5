//! The projection form's settings ([`ProjectionConfig`], [`TestFamily`]) and its report
//! ([`ProjectionReport`]), with the report's estimate from a radial or quadratic state.

use super::moments::{ProjectionState, ProjectionStep};
use super::quadratic::{QuadraticParts, QuadraticState};
use crate::error::SiemError;
use crate::estimate::TestFnReport;
use crate::form::SiemForm;
use crate::recipe::Draws;
use crate::testfn::TestFnSpec;
use ndarray::{Array1, Array2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use scoreprobe_core::options::OptionError;
use scoreprobe_core::sampler::{SamplerConfig, SamplerKind};
use scoreprobe_core::shard::Shard;
use scoreprobe_core::window::Window;
use serde::{Deserialize, Serialize};

/// The projection form's test functions.
#[derive(Clone, Debug, PartialEq)]
pub enum TestFamily {
    /// K radial functions, [`ProjectionConfig::test_fn`].
    Radial,
    /// The quadratic family centred at c_t = α_t c₀, with c₀ = `data_mean` (None: the mean of
    /// [`super::quadratic::MEAN_PILOT`] draws of the data under the test seed).
    Quadratic { data_mean: Option<Array1<f64>> },
}

/// Default number of test functions of the projection form (radial, at seeded data points).
pub const DEFAULT_CENTERS: usize = 8;
/// Default pilot draws per window time for the bandwidth.
pub const DEFAULT_PILOT: usize = 256;

/// One projection-form run.
#[derive(Clone, Debug)]
pub struct ProjectionConfig {
    /// Steps of the grid in the metric (index k: the time t_{k+1}, weight β(t_{k+1})²(t_{k+1} − t_k)).
    pub window: Window,
    /// Steps K of the grid on [t_min, 1] (the sampler's grid of the particle form).
    pub steps: usize,
    pub t_min: f64,
    /// Draws per window time (n ≥ 4).
    pub n: usize,
    /// The draws' seed (data draws and noise at every time).
    pub seed: u64,
    /// The test functions' seed: the pilot draws that set the bandwidth (and the quadratic
    /// family's centre when no data mean is given). Centres K > 1 are the caller's, drawn with it.
    pub test_seed: u64,
    /// Radial (with `test_fn`) or quadratic.
    pub family: TestFamily,
    /// Radial test functions; their bandwidth rule is applied to the pilot draws of the full grid.
    pub test_fn: TestFnSpec,
    /// Pilot draws per window time for a median bandwidth rule.
    pub pilot: usize,
    /// The part of the window's times to compute (in sampling order; [`Shard::WHOLE`]: all). A
    /// time's draws come from its own stream keyed by (seed, step index), so a shard's times are
    /// exactly the whole run's; shards split times, not draws, because the jackknife needs every
    /// draw's sum over all times (see [`crate::shard`]).
    pub shard: Shard,
}

impl ProjectionConfig {
    /// Full window, the paper's single test function (set `test_fn.centers` for K > 1, e.g. with
    /// [`centers_from_draws`]).
    pub fn new(dim: usize, steps: usize, t_min: f64, n: usize, seed: u64) -> Self {
        Self {
            window: Window::full(steps),
            steps,
            t_min,
            n,
            seed,
            test_seed: 0,
            family: TestFamily::Radial,
            test_fn: TestFnSpec::paper(dim),
            pilot: DEFAULT_PILOT,
            shard: Shard::WHOLE,
        }
    }

    pub(crate) fn grid(&self) -> Vec<f64> {
        SamplerConfig::new(SamplerKind::Em, self.steps, self.t_min, self.seed).grid()
    }

    pub fn validate(&self, dim: usize) -> Result<(), SiemError> {
        if self.n < 4 {
            let why =
                format!("the projection form needs at least 4 draws per time for its standard error, got {}", self.n);
            return Err(OptionError::new("n", why).into());
        }
        if self.pilot < 2 {
            return Err(
                OptionError::new("pilot", format!("needs at least 2 draws per time, got {}", self.pilot)).into()
            );
        }
        let mut s = SamplerConfig::new(SamplerKind::Em, self.steps, self.t_min, self.seed);
        s.window = Some(self.window);
        s.validate()?;
        self.test_fn.validate(dim)
    }
}

/// K seeded data points as centres: the first K draws of `draws` under `test_seed` (pass the test
/// seed, never the sampling seed: the centres are part of the metric).
pub fn centers_from_draws(draws: &mut Draws, k: usize, test_seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(test_seed ^ 0xce47_e125);
    draws(k, &mut rng)
}

/// (Deserialize: a shard's state file carries its report, see [`crate::shard`].)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectionReport {
    /// Always [`SiemForm::Projection`].
    pub form: SiemForm,
    pub siem: f64,
    /// From the U-statistics' unbiased variance estimates (independent draws per time).
    pub siem_se: f64,
    /// The jackknife over draw indices (conservative); paired differences use its leave-one-out values.
    pub siem_se_jackknife: f64,
    pub window: String,
    pub test_fn: TestFnReport,
    /// The quadratic family's mean and covariance parts (None for radial test functions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quadratic: Option<QuadraticParts>,
    /// Per window time, in sampling order (from noise towards data).
    pub profile: Vec<ProjectionStep>,
    /// SIEM of each radial test function (their mean is `siem`); empty for the quadratic family.
    pub per_center: Vec<f64>,
    /// Score evaluations per draw index: one per window time.
    pub nfe: usize,
    /// All score evaluations (n × |W|).
    pub score_evals: usize,
    /// NFE of a full sampling run on the same grid, for the cost ratio.
    pub nfe_full: usize,
    /// Draws per time, and pilot draws per time for the bandwidth.
    pub n: usize,
    pub pilot: usize,
    pub steps: usize,
    pub t_min: f64,
    pub seed: u64,
    pub seconds: f64,
    /// The leave-one-out values of the jackknife (mean `siem`); not serialised.
    #[serde(skip)]
    pub leave_one_out: Vec<f64>,
    /// The mergeable state the estimate came from (radial test functions); not serialised.
    #[serde(skip)]
    pub state: Option<ProjectionState>,
    /// The quadratic family's mergeable state; not serialised.
    #[serde(skip)]
    pub quadratic_state: Option<QuadraticState>,
}

impl ProjectionReport {
    /// The estimate, its parts and profile from a quadratic-family state (a whole run's, or the
    /// merge of its shards'), which the report then keeps.
    pub fn finish_quadratic(&mut self, state: &QuadraticState, center_from_pilot: bool) {
        let q = state.finish(center_from_pilot);
        (self.siem, self.siem_se, self.siem_se_jackknife) = (q.siem, q.se, q.se_jackknife);
        self.quadratic = Some(q.parts);
        self.profile = q.profile;
        self.leave_one_out = q.leave_one_out;
        self.quadratic_state = Some(q.state);
    }

    /// The estimate, its profile and per-centre values from a radial state (a whole run's, or
    /// the merge of its shards'), which the report then keeps.
    pub fn finish_radial(&mut self, state: ProjectionState) -> Result<(), SiemError> {
        let est = state.estimate()?;
        self.profile = state
            .steps
            .iter()
            .map(|s| ProjectionStep {
                index: s.index,
                t: s.t,
                dt: s.dt,
                beta2: s.beta2,
                m2: s.moments.mean_m2(),
                m2_se: s.moments.variance().max(0.0).sqrt(),
            })
            .collect();
        (self.siem, self.siem_se, self.siem_se_jackknife) = (est.siem, est.se, est.se_jackknife);
        self.per_center = est.per_center;
        self.leave_one_out = est.leave_one_out;
        self.state = Some(state);
        Ok(())
    }
}
