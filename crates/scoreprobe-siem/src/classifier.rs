//! The `classifier` error field (SPEC §7): a time-conditioned classifier d(x, t) separating
//! forward-noised data (label 1) from the model's own trajectory states at the same t (label 0);
//! ê_t = −∇ₓ logit d.
//!
//! With balanced classes the optimal logit is log p_t − log q_t, so ê_t → ∇log q_t − ∇log p_t:
//! the error as it shows in the generated marginals (a solenoidal error that leaves q_t = p_t is
//! invisible to it, unlike the oracle's s_θ − ∇log p_t).
//!
//! Training states come from an auxiliary run of the model's sampler over the same window (own
//! seed, counted in NFE); 20% of its trajectories and of the data draws are held out for the
//! reported accuracy. ê enters SIEM only through ê·(x − c) (see [`crate::testfn`]), so the
//! classifier is evaluated with one forward-mode tangent per centre, never a full input gradient.
//!
//! The floor (SPEC §7): the same estimator run data against data. A second classifier, with the
//! same architecture, initialisation, steps and split, is trained to separate the same data draws
//! (label 1) from m paths of the forward process from a second, independent draw of the data,
//! at the same times (label 0): the exact model's trajectories have that law, so the second class
//! has the model states' structure (m correlated paths, not m·|W| independent states). It has nothing to find, so its held-out accuracy is chance and its field is pure fit
//! noise; SIEM of that field along the same trajectories, with the same test functions, is what
//! "no difference" reads as, reported beside the model's value with the paired SE of the excess.

use crate::error::SiemError;
use crate::source::{AuxCost, ErrorSource, FloorFacts, PrepareContext};
use candle_core::{DType, Device, Tensor};
use ndarray::{Array2, ArrayView2, Axis};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use scoreprobe_core::denoise::noised;
use scoreprobe_core::sampler::{prior_init, sample_with_observer};
use scoreprobe_core::{GaussianMixture, Purpose, SeedStream};
use scoreprobe_nn::adamw::{AdamW, AdamWConfig};
use scoreprobe_nn::{JvpMlp, JvpScalar, MlpSpec};
use std::time::Instant;

/// Draws n data points x₀ (rows) with the given RNG.
pub type DataSampler = Box<dyn FnMut(usize, &mut ChaCha8Rng) -> Array2<f64> + Send>;

#[derive(Clone, Debug, PartialEq)]
pub struct ClassifierConfig {
    pub hidden: usize,
    pub depth: usize,
    /// Optimiser steps.
    pub train_steps: usize,
    /// Rows per step (half data, half model states).
    pub batch: usize,
    pub lr: f64,
    /// Auxiliary trajectories of the model for training and held-out accuracy (None: the SIEM run's n).
    pub fit_trajectories: Option<usize>,
    /// Fraction of those trajectories (and of the data draws) held out.
    pub holdout: f64,
    pub seed: u64,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        Self {
            hidden: 64,
            depth: 3,
            train_steps: 1500,
            batch: 512,
            lr: 2e-3,
            fit_trajectories: None,
            holdout: 0.2,
            seed: 0,
        }
    }
}

const FIELD: &str = "classifier";

fn net_err<E: Into<scoreprobe_nn::NnError>>(e: E) -> SiemError {
    SiemError::Network { field: FIELD, source: Box::new(e.into()) }
}

pub struct ClassifierSource {
    config: ClassifierConfig,
    data: DataSampler,
    device: Device,
    net: Option<JvpMlp>,
    /// The floor's classifier (data against data) and its facts, after prepare().
    floor: Option<(JvpMlp, FloorFacts)>,
    report: serde_json::Value,
    eval_rows: usize,
}

/// One class of training states: per window step j, an m × d block; the times of the steps.
struct Pool {
    states: Vec<Array2<f64>>,
    times: Vec<f64>,
}

impl Pool {
    /// A batch of `b` rows drawn from trajectories [lo, hi) at random steps.
    fn draw(&self, b: usize, lo: usize, hi: usize, rng: &mut ChaCha8Rng) -> (Vec<f32>, Vec<f32>) {
        let d = self.states[0].ncols();
        let mut xs = Vec::with_capacity(b * d);
        let mut ts = Vec::with_capacity(b);
        for _ in 0..b {
            let j = rng.random_range(0..self.times.len());
            let i = rng.random_range(lo..hi);
            xs.extend(self.states[j].row(i).iter().map(|v| *v as f32));
            ts.push(self.times[j] as f32);
        }
        (xs, ts)
    }
}

impl ClassifierSource {
    pub fn new(data: DataSampler, config: ClassifierConfig) -> Self {
        Self {
            config,
            data,
            device: scoreprobe_nn::default_device(),
            net: None,
            floor: None,
            report: serde_json::Value::Null,
            eval_rows: 0,
        }
    }

    /// Data drawn from a mixture target.
    pub fn for_target(target: GaussianMixture, config: ClassifierConfig) -> Self {
        Self::new(Box::new(move |n, rng| target.sample(n, rng)), config)
    }

    fn tensor(&self, v: Vec<f32>, shape: (usize, usize)) -> Result<Tensor, SiemError> {
        Tensor::from_vec(v, shape, &self.device).map_err(net_err)
    }

    /// Logits (n,) of the classifier at rows `xs` (flattened n × d) and times `ts`.
    fn logits(&self, net: &JvpMlp, xs: Vec<f32>, ts: Vec<f32>, d: usize) -> Result<Tensor, SiemError> {
        let n = ts.len();
        let x = self.tensor(xs, (n, d))?;
        let t = Tensor::from_vec(ts, n, &self.device).map_err(net_err)?;
        net.value(&x, &t).map_err(net_err)
    }

    /// Per trajectory i in `range`, the fraction of its window states (one per step) that the
    /// classifier puts in class `label`. Every state is evaluated once: no draws, no seed.
    fn correct_by_trajectory(
        &self,
        net: &JvpMlp,
        pool: &Pool,
        range: (usize, usize),
        label: bool,
    ) -> Result<Vec<f64>, SiemError> {
        let d = pool.states[0].ncols();
        let mut correct = vec![0usize; range.1 - range.0];
        for (states, &t) in pool.states.iter().zip(&pool.times) {
            let rows = states.slice(ndarray::s![range.0..range.1, ..]);
            let xs: Vec<f32> = rows.iter().map(|v| *v as f32).collect();
            let l: Vec<f32> = self.logits(net, xs, vec![t as f32; rows.nrows()], d)?.to_vec1().map_err(net_err)?;
            correct.iter_mut().zip(&l).filter(|(_, v)| (**v > 0.0) == label).for_each(|(c, _)| *c += 1);
        }
        Ok(correct.into_iter().map(|c| c as f64 / pool.times.len() as f64).collect())
    }

    /// Root mean square of the logits at every state of trajectories `range` of both pools: for
    /// the floor, whose true logit is 0, the size of the fitted logit's noise.
    fn logit_rms(&self, net: &JvpMlp, pools: [&Pool; 2], range: (usize, usize)) -> Result<f64, SiemError> {
        let (mut sum, mut count) = (0.0, 0usize);
        for pool in pools {
            let d = pool.states[0].ncols();
            for (states, &t) in pool.states.iter().zip(&pool.times) {
                let rows = states.slice(ndarray::s![range.0..range.1, ..]);
                let xs: Vec<f32> = rows.iter().map(|v| *v as f32).collect();
                let l: Vec<f32> = self.logits(net, xs, vec![t as f32; rows.nrows()], d)?.to_vec1().map_err(net_err)?;
                sum += l.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
                count += l.len();
            }
        }
        Ok((sum / count.max(1) as f64).sqrt())
    }

    /// Balanced accuracy (data and model states weigh equally) on trajectories `range` of both
    /// pools, with its standard error.
    fn accuracy(&self, net: &JvpMlp, real: &Pool, fake: &Pool, range: (usize, usize)) -> Result<Accuracy, SiemError> {
        let on_real = self.correct_by_trajectory(net, real, range, true)?;
        let on_fake = self.correct_by_trajectory(net, fake, range, false)?;
        Ok(Accuracy::from_clusters(&on_real, &on_fake))
    }
}

/// A balanced accuracy and its standard error. A model trajectory's states are one draw, not
/// one per step, so the SE is taken over trajectories (cluster means). Data rows at different
/// steps are independent draws; clustering them by row index as well only makes the SE
/// conservative.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Accuracy {
    pub value: f64,
    /// NaN with a single trajectory (no spread to estimate it from).
    pub se: f64,
}

impl Accuracy {
    fn from_clusters(on_real: &[f64], on_fake: &[f64]) -> Self {
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let var_of_mean = |v: &[f64]| {
            let m = mean(v);
            v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / ((v.len() - 1) as f64 * v.len() as f64)
        };
        let value = 0.5 * (mean(on_real) + mean(on_fake));
        let se = if on_real.len() < 2 { f64::NAN } else { 0.5 * (var_of_mean(on_real) + var_of_mean(on_fake)).sqrt() };
        Accuracy { value, se }
    }

    /// The normal-approximation 95 % interval (None without an SE).
    pub fn ci95(&self) -> Option<(f64, f64)> {
        self.se.is_finite().then_some((self.value - 1.96 * self.se, self.value + 1.96 * self.se))
    }

    fn ci95_json(&self) -> Option<[f64; 2]> {
        self.ci95().map(|(lo, hi)| [lo, hi])
    }

    /// Why the floor's accuracy (data against data) is suspect, if it is: an interval that
    /// excludes chance means the two draws of the same data were told apart.
    fn floor_warning(&self) -> Option<String> {
        match self.ci95() {
            Some((lo, hi)) if !(lo <= 0.5 && 0.5 <= hi) => Some(format!(
                "classifier floor: data against data reads held-out accuracy {:.3} (95 % CI {lo:.3}..{hi:.3}), which excludes chance: the floor's two data draws were told apart (too few distinct data rows?), so the floor is not what no difference reads as",
                self.value
            )),
            _ => None,
        }
    }

    /// Why this accuracy does not show a detected difference, if it does not.
    fn warning(&self) -> Option<String> {
        match self.ci95() {
            None => Some("classifier: one held-out trajectory gives no confidence interval for the accuracy; raise --n or the holdout".into()),
            Some((lo, hi)) if lo <= 0.5 && 0.5 <= hi => Some(format!(
                "classifier: held-out accuracy {:.3} (95 % CI {lo:.3}..{hi:.3}) contains chance (0.5): the classifier does not tell the model's states from data, and its error field is noise",
                self.value
            )),
            Some(_) => None,
        }
    }
}

impl ClassifierSource {
    /// The seed of the classifier's own sampling run (independent of the SIEM run's).
    fn states_seed(&self, ctx: &PrepareContext) -> u64 {
        SeedStream::new(ctx.sampler.seed).derive(Purpose::ClassifierStates { classifier_seed: self.config.seed })
    }

    /// The two classes over the window: label 0, the model's own states from an independently
    /// seeded run of m trajectories; label 1, forward-noised data at the same times, m draws per
    /// time. Returns them with the run's NFE and the stream the data draws came from (training
    /// goes on drawing from it).
    fn labelled_states(
        &mut self,
        ctx: &PrepareContext,
        m: usize,
        d: usize,
    ) -> Result<(Pool, Pool, usize, ChaCha8Rng), SiemError> {
        let mut scfg = ctx.sampler.clone();
        scfg.seed = self.states_seed(ctx);
        let states = SeedStream::new(scfg.seed);
        let mut fake = Pool { states: Vec::new(), times: Vec::new() };
        let out = sample_with_observer(ctx.model, ctx.schedule, &scfg, prior_init(m, d, scfg.seed), &mut |v| {
            fake.states.push(v.x.to_owned());
            fake.times.push(v.t);
            std::ops::ControlFlow::Continue(())
        })?;
        let mut rng = states.rng(Purpose::ClassifierData);
        let mut real = Pool { states: Vec::with_capacity(fake.times.len()), times: fake.times.clone() };
        for &t in &fake.times {
            let x0 = (self.data)(m, &mut rng);
            if x0.dim() != (m, d) {
                return Err(SiemError::invalid(
                    FIELD,
                    format!("the data sampler returned shape {:?}, expected ({m}, {d})", x0.dim()),
                ));
            }
            let z = scoreprobe_core::distribution::standard_normal(m, d, &mut rng);
            real.states.push(noised(x0.view(), z.view(), ctx.schedule.alpha(t), ctx.schedule.sigma(t)));
        }
        Ok((fake, real, out.nfe, rng))
    }

    /// The floor's second class: m paths of the forward process from independent data draws,
    /// observed at `times` (the exact model's trajectories have this law, time reversed), from the
    /// floor's own stream; returns it with that stream (the floor's training goes on drawing from
    /// it). Paths, not independent draws per time, because the model's states come in
    /// trajectories too: a classifier overfits m correlated paths differently from m·|W|
    /// independent states, and the floor must be the same estimator.
    fn floor_states(
        &mut self,
        ctx: &PrepareContext,
        times: &[f64],
        m: usize,
        d: usize,
    ) -> Result<(Pool, ChaCha8Rng), SiemError> {
        let mut rng = SeedStream::new(self.states_seed(ctx)).rng(Purpose::ClassifierFloor);
        let x0 = (self.data)(m, &mut rng);
        if x0.dim() != (m, d) {
            return Err(SiemError::invalid(
                FIELD,
                format!("the data sampler returned shape {:?}, expected ({m}, {d})", x0.dim()),
            ));
        }
        // forward in t (the window's times come in sampling order, from noise): x_t from x₀ at
        // the lowest time, then the exact Gaussian transition x_t' = r x_t + √(σ_t'² − r²σ_t²) z,
        // r = α_t'/α_t, between consecutive times
        let mut order: Vec<usize> = (0..times.len()).collect();
        order.sort_by(|&a, &b| times[a].total_cmp(&times[b]));
        let mut states = vec![Array2::zeros((0, d)); times.len()];
        let mut prev: Option<(f64, Array2<f64>)> = None;
        for j in order {
            let t = times[j];
            let z = scoreprobe_core::distribution::standard_normal(m, d, &mut rng);
            let (alpha, sigma) = (ctx.schedule.alpha(t), ctx.schedule.sigma(t));
            let x = match &prev {
                None => noised(x0.view(), z.view(), alpha, sigma),
                Some((tp, xp)) => {
                    let r = alpha / ctx.schedule.alpha(*tp);
                    let s = (sigma * sigma - r * r * ctx.schedule.sigma2(*tp)).max(0.0).sqrt();
                    xp * r + &z * s
                }
            };
            states[j] = x.clone();
            prev = Some((t, x));
        }
        Ok((Pool { states, times: times.to_vec() }, rng))
    }

    /// a[c, i] = ê(x_i)·(x_i − c) for the classifier `net`: one forward-mode tangent per centre.
    fn tangent_projections(
        &self,
        net: &JvpMlp,
        x: ArrayView2<f64>,
        t: f64,
        centers: ArrayView2<f64>,
    ) -> Result<Array2<f64>, SiemError> {
        let (n, d) = x.dim();
        let xt = self.tensor(x.iter().map(|v| *v as f32).collect(), (n, d))?;
        let tt = Tensor::full(t as f32, n, &self.device).map_err(net_err)?;
        let dirs = centers
            .rows()
            .into_iter()
            .map(|c| {
                let diff = &x - &c.insert_axis(Axis(0));
                self.tensor(diff.iter().map(|v| *v as f32).collect(), (n, d))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (_, tans) = net.forward_with_tangents(&xt, &tt, &dirs).map_err(net_err)?;
        let mut a = Array2::zeros((centers.nrows(), n));
        for (mut row, tan) in a.rows_mut().into_iter().zip(&tans) {
            let v: Vec<f32> = tan.to_vec1().map_err(net_err)?;
            // ê·(x − c) = −(x − c)·∇ₓ logit d
            row.iter_mut().zip(v).for_each(|(r, s)| *r = -(s as f64));
        }
        Ok(a)
    }

    /// The floor: the same classifier trained on the data draws against a second, independent
    /// draw of the data (trajectories `train` of both), with its held-out accuracy.
    fn fit_floor(
        &mut self,
        ctx: &PrepareContext,
        real: &Pool,
        split: ((usize, usize), (usize, usize)),
        d: usize,
    ) -> Result<(JvpMlp, Accuracy, f64), SiemError> {
        let (train, held) = split;
        let (other, mut rng) = self.floor_states(ctx, &real.times, train.1, d)?;
        let (net, _) = self.fit(real, &other, train, d, &mut rng)?;
        let acc = self.accuracy(&net, real, &other, held)?;
        let rms = self.logit_rms(&net, [real, &other], held)?;
        Ok((net, acc, rms))
    }

    /// Trains the classifier (label 1: data) on trajectories `train.0..train.1` of both pools;
    /// returns it with its last loss.
    fn fit(
        &self,
        real: &Pool,
        fake: &Pool,
        train: (usize, usize),
        d: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<(JvpMlp, f64), SiemError> {
        let c = &self.config;
        let net = JvpMlp::new(&MlpSpec::scalar(d, c.hidden, c.depth), c.seed, &self.device).map_err(net_err)?;
        let mut opt = AdamW::new(net.params(), AdamWConfig::default()).map_err(net_err)?;
        let half = c.batch / 2;
        let labels = Tensor::cat(
            &[
                Tensor::ones(half, DType::F32, &self.device).map_err(net_err)?,
                Tensor::zeros(half, DType::F32, &self.device).map_err(net_err)?,
            ],
            0,
        )
        .map_err(net_err)?;
        let mut last_loss = f64::NAN;
        for step in 0..c.train_steps {
            let (mut xs, mut ts) = real.draw(half, train.0, train.1, rng);
            let (xf, tf) = fake.draw(half, train.0, train.1, rng);
            xs.extend(xf);
            ts.extend(tf);
            let logit = self.logits(&net, xs, ts, d)?;
            let loss = bce_with_logits(&logit, &labels)?;
            last_loss = loss.to_scalar::<f32>().map_err(net_err)? as f64;
            if !last_loss.is_finite() {
                return Err(net_err(scoreprobe_nn::NnError::Diverged {
                    what: "classifier training",
                    step: step as u64,
                    quantity: "loss",
                    value: last_loss,
                }));
            }
            let grads = loss.backward().map_err(net_err)?;
            let g = AdamW::collect_grads(net.params(), &grads).map_err(net_err)?;
            // cosine decay to 10% of the learning rate
            let lr = c.lr * (0.55 + 0.45 * (std::f64::consts::PI * step as f64 / c.train_steps as f64).cos());
            opt.step(net.params(), &g, lr).map_err(net_err)?;
        }
        Ok((net, last_loss))
    }
}

fn finite_or_null(v: f64) -> serde_json::Value {
    if v.is_finite() {
        serde_json::json!(v)
    } else {
        serde_json::Value::Null
    }
}

/// Mean binary cross-entropy with logits: softplus(l) − y·l, softplus(l) = relu(l) + log(1 + e^{−|l|}).
fn bce_with_logits(logit: &Tensor, labels: &Tensor) -> Result<Tensor, SiemError> {
    let softplus = (logit.relu().map_err(net_err)?
        + ((logit.abs().map_err(net_err)?.neg().map_err(net_err)?.exp().map_err(net_err)? + 1.0)
            .map_err(net_err)?
            .log()
            .map_err(net_err)?))
    .map_err(net_err)?;
    (softplus - (logit * labels).map_err(net_err)?).map_err(net_err)?.mean_all().map_err(net_err)
}

impl ErrorSource for ClassifierSource {
    fn name(&self) -> &'static str {
        "classifier"
    }

    fn prepare(&mut self, ctx: &PrepareContext) -> Result<AuxCost, SiemError> {
        let start = Instant::now();
        let c = self.config.clone();
        let d = ctx.model.dim();
        let m = c.fit_trajectories.unwrap_or(ctx.n);
        let n_hold = ((m as f64 * c.holdout).round() as usize).clamp(1, m.saturating_sub(1));
        if m < 2 || !(c.holdout > 0.0 && c.holdout < 1.0) || c.train_steps == 0 || c.batch < 2 {
            return Err(SiemError::invalid(
                FIELD,
                format!("need >= 2 fit trajectories, 0 < holdout < 1, steps and batch > 0: {c:?}"),
            ));
        }
        let (fake, real, nfe, mut rng) = self.labelled_states(ctx, m, d)?;
        let train = (n_hold, m);
        let (net, last_loss) = self.fit(&real, &fake, train, d, &mut rng)?;
        let heldout = self.accuracy(&net, &real, &fake, (0, n_hold))?;
        let train_acc = self.accuracy(&net, &real, &fake, train)?;
        let (floor_net, floor_acc, floor_logit_rms) = self.fit_floor(ctx, &real, (train, (0, n_hold)), d)?;
        let seconds = start.elapsed().as_secs_f64();
        // The field is experimental (SPEC §7): a classifier near chance gives a noise field whose
        // SIEM is not zero, so the output says how well it separates and warns when it does not.
        self.report = serde_json::json!({
            "experimental": true,
            "heldout_accuracy": heldout.value, "heldout_accuracy_se": finite_or_null(heldout.se),
            "heldout_accuracy_ci95": heldout.ci95_json(),
            "train_accuracy": train_acc.value, "final_loss": last_loss,
            "fit_trajectories": m, "heldout_trajectories": n_hold, "train_steps": c.train_steps,
            "batch": c.batch, "hidden": c.hidden, "depth": c.depth, "train_seconds": seconds,
            "warnings": heldout.warning().into_iter().chain(floor_acc.floor_warning()).collect::<Vec<_>>(),
        });
        self.net = Some(net);
        let facts = FloorFacts {
            what: "the same classifier trained on the data draws against forward-process paths of a second, independent draw of the data".into(),
            heldout_accuracy: floor_acc.value,
            heldout_accuracy_se: floor_acc.se.is_finite().then_some(floor_acc.se),
            heldout_accuracy_ci95: floor_acc.ci95_json(),
            logit_rms: Some(floor_logit_rms),
        };
        self.floor = Some((floor_net, facts));
        // both classifiers' training and accuracy passes (the floor draws no model states)
        let accuracy_rows = 2 * m * real.times.len();
        Ok(AuxCost { score_evals: m * nfe, aux_evals: 2 * (c.train_steps * c.batch + accuracy_rows), seconds })
    }

    fn error(&mut self, x: ArrayView2<f64>, t: f64, _score: ArrayView2<f64>) -> Result<Array2<f64>, SiemError> {
        let net = self.net.as_ref().ok_or_else(|| SiemError::invalid(FIELD, "used before prepare()"))?;
        let (n, d) = x.dim();
        let xt = self.tensor(x.iter().map(|v| *v as f32).collect(), (n, d))?;
        let tt = Tensor::full(t as f32, n, &self.device).map_err(net_err)?;
        let g: Vec<f32> = net
            .input_gradient(&xt, &tt)
            .map_err(net_err)?
            .flatten_all()
            .map_err(net_err)?
            .to_vec1()
            .map_err(net_err)?;
        self.eval_rows += n;
        Ok(Array2::from_shape_vec((n, d), g.into_iter().map(|v| -(v as f64)).collect()).expect("an n × d gradient"))
    }

    fn projections(
        &mut self,
        x: ArrayView2<f64>,
        t: f64,
        _score: ArrayView2<f64>,
        centers: ArrayView2<f64>,
    ) -> Result<Array2<f64>, SiemError> {
        let net = self.net.as_ref().ok_or_else(|| SiemError::invalid(FIELD, "used before prepare()"))?;
        let a = self.tangent_projections(net, x, t, centers)?;
        self.eval_rows += x.nrows();
        Ok(a)
    }

    fn floor_projections(
        &mut self,
        x: ArrayView2<f64>,
        t: f64,
        _score: ArrayView2<f64>,
        centers: ArrayView2<f64>,
    ) -> Result<Option<Array2<f64>>, SiemError> {
        let Some((net, _)) = self.floor.as_ref() else { return Ok(None) };
        let a = self.tangent_projections(net, x, t, centers)?;
        self.eval_rows += x.nrows();
        Ok(Some(a))
    }

    fn floor_facts(&self) -> Option<FloorFacts> {
        self.floor.as_ref().map(|(_, facts)| facts.clone())
    }

    fn eval_cost(&self) -> usize {
        self.eval_rows
    }

    fn details(&self) -> serde_json::Value {
        self.report.clone()
    }
}
