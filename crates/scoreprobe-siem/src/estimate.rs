//! The SIEM estimator (SPEC §7): SIEM_W = ∫_{t∈W} β(t)² E_{X~q_t}[(ê_t(X)·∇φ(X))²] dt by a Riemann
//! sum over the window's steps, on the model's own reverse-SDE trajectories.
//!
//! Step k of the window runs from t_{k+1} down to t_k; the sampler evaluates the score at the
//! state X_{t_{k+1}}, and the observer sees exactly that state and score, so SIEM costs no score
//! evaluation beyond sampling. The run stops after the window (`stop_after_window`): the
//! high-noise window 900..999 of 1000 steps executes 100 steps.
//!
//! Per trajectory i, S_i = Σ_{k∈W} β(t_{k+1})² (t_{k+1} − t_k) · (1/K) Σ_c (ê·∇φ_c)²(X^i_{t_{k+1}}).
//! The S_i are i.i.d. over trajectories, so SIEM = mean S_i with SE = sd(S)/√n.
//!
//! Memory: the radial summaries (ρ, a) of every state and centre are kept until the bandwidth
//! is known: 16·n·|W|·K bytes.
//!
//! Failures: a score model that fails stops the sampler ([`SiemError::Core`] holding
//! `CoreError::Sampling`); an error source that fails stops it too, at that step (the sampler's
//! observer breaks), and its error is returned as is.

use crate::error::SiemError;
use crate::form::SiemForm;
use crate::source::{AuxCost, ErrorSource, FloorFacts, PrepareContext, SourceBand};
use crate::testfn::{median, radial_distances, BandwidthRule, RadialTestFn, TestFnSpec};
use ndarray::{Array2, ArrayView2};
use scoreprobe_core::options::OptionError;
use scoreprobe_core::sampler::{prior_rows, sample_with_observer, SampleOutput, SamplerConfig, SamplerKind};
use scoreprobe_core::window::Window;
use scoreprobe_core::{Schedule, ScoreModel};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::ops::{ControlFlow, Range};
use std::time::Instant;

/// One SIEM run.
#[derive(Clone, Debug)]
pub struct SiemConfig {
    /// Steps of the sampler's grid in the metric (index k: step from t_{k+1} to t_k).
    pub window: Window,
    /// Sampler steps K on [t_min, 1].
    pub steps: usize,
    pub t_min: f64,
    /// Number of trajectories.
    pub n: usize,
    pub seed: u64,
    /// A reverse-SDE sampler: `Em` (default) or `Ancestral`.
    pub sampler: SamplerKind,
    pub test_fn: TestFnSpec,
    /// The seed the front end drew the centres with (recorded in the report; never `seed`).
    pub test_seed: u64,
}

impl SiemConfig {
    /// Full window, Euler–Maruyama, the paper's test function.
    pub fn new(dim: usize, steps: usize, t_min: f64, n: usize, seed: u64) -> Self {
        Self {
            window: Window::full(steps),
            steps,
            t_min,
            n,
            seed,
            sampler: SamplerKind::Em,
            test_fn: TestFnSpec::paper(dim),
            test_seed: 0,
        }
    }

    pub(crate) fn sampler_config(&self) -> SamplerConfig {
        let mut cfg = SamplerConfig::new(self.sampler, self.steps, self.t_min, self.seed);
        cfg.window = Some(self.window);
        cfg.stop_after_window = true;
        cfg
    }

    pub fn validate(&self, dim: usize) -> Result<(), SiemError> {
        if self.n < 2 {
            let why = format!("SIEM needs at least 2 trajectories for its standard error, got {}", self.n);
            return Err(OptionError::new("n", why).into());
        }
        if !self.sampler.is_stochastic() {
            return Err(SiemError::invalid(
                format!("sampler '{}'", self.sampler.name()),
                "SIEM is defined on reverse-SDE trajectories; use em or ancestral",
            ));
        }
        self.sampler_config().validate()?;
        self.test_fn.validate(dim)
    }
}

/// One step of the per-step profile.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProfilePoint {
    /// Step index k (from t_{k+1} = `t` down to t_k).
    pub index: usize,
    /// Time at which the state and score are evaluated.
    pub t: f64,
    pub dt: f64,
    pub beta2: f64,
    /// E_{q_t}[(ê·∇φ)²], averaged over the test functions.
    pub mean_sq: f64,
}

/// The test functions a run used: part of the metric's definition, so every output names them.
/// (Deserialize: a shard's state file carries its report.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestFnReport {
    /// The family: a radial profile (gaussian, imq, bump) or `quadratic`.
    pub kind: Cow<'static, str>,
    /// `fixed`, `median-pooled`, `median-first-step`; `none` for the quadratic family.
    pub bandwidth_rule: Cow<'static, str>,
    /// One bandwidth per centre (none for the quadratic family).
    pub bandwidths: Vec<f64>,
    /// The centres (the quadratic family: its one reference point c₀, c_t = α_t c₀).
    pub centers: Vec<Vec<f64>>,
    /// [`crate::testfn::centers_hash`] of `centers`: equal hashes, equal centres.
    pub centers_hash: String,
    /// The seed the centres and the pilot bandwidth were drawn with (never the sampling seed).
    pub test_seed: u64,
    /// Number of test functions K (1: the paper's metric when the centre is 0; the quadratic
    /// family: d + d(d+1)/2, the dimension of its basis).
    pub k: usize,
}

impl TestFnReport {
    /// The report of radial test functions `spec` with the bandwidths they were built with.
    pub fn radial(spec: &TestFnSpec, bandwidths: Vec<f64>, test_seed: u64) -> Self {
        TestFnReport {
            kind: spec.kind.name().into(),
            bandwidth_rule: spec.bandwidth.name().into(),
            bandwidths,
            centers: spec.centers.rows().into_iter().map(|r| r.to_vec()).collect(),
            centers_hash: crate::testfn::centers_hash(spec.centers.view()),
            test_seed,
            k: spec.centers.nrows(),
        }
    }
}

/// The particle form's report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SiemReport {
    /// Always [`SiemForm::Particle`].
    pub form: SiemForm,
    pub siem: f64,
    /// Monte-Carlo standard error over trajectories.
    pub siem_se: f64,
    pub window: String,
    pub error_field: String,
    pub test_fn: TestFnReport,
    /// Per-step profile, in sampling order (from noise towards data).
    pub profile: Vec<ProfilePoint>,
    /// SIEM of each test function (their mean is `siem`).
    pub per_center: Vec<f64>,
    /// Σ_j (m_{j+1} − m_j)², m_j = (1/n) Σ_i φ(X^i) at successive states (window states and the
    /// state after the last step), averaged over test functions. A diagnostic only.
    pub empirical_qv: f64,
    /// The part of `empirical_qv` expected from the sampler's own Brownian increments:
    /// Σ_k β Δt E|∇φ|² / n. At finite n the empirical QV is dominated by it.
    pub qv_noise_floor: f64,
    /// Score evaluations per trajectory, auxiliary cost included (`nfe_sampler` + `nfe_aux`).
    pub nfe: usize,
    pub nfe_sampler: usize,
    /// Auxiliary score evaluations (e.g. trajectories to train a classifier), per SIEM trajectory.
    pub nfe_aux: usize,
    /// NFE of a full sampling run on the same grid (one score per step), for the cost ratio.
    pub nfe_full: usize,
    /// Auxiliary-network passes (rows), training and evaluation.
    pub aux_evals: usize,
    pub n: usize,
    pub steps: usize,
    pub steps_run: usize,
    pub t_min: f64,
    pub sampler: &'static str,
    pub seed: u64,
    pub seconds: f64,
    /// Source-specific facts (e.g. the classifier's held-out accuracy).
    pub source: serde_json::Value,
    /// A source fitted per time band (the critic): every band with its held-out objective and
    /// whether its fit was kept. Absent for other sources.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bands: Vec<SourceBand>,
    /// The bands whose fit was dropped (their error field is zero, so they add nothing to SIEM);
    /// present, maybe empty, whenever `bands` is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped_bands: Option<Vec<String>>,
    /// A source with a floor (the classifier): the same estimator with nothing to find, integrated
    /// along the same trajectories with the same test functions. Absent for other sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor: Option<SiemFloor>,
    /// The per-trajectory sums S_i (SIEM = their mean); not serialised.
    #[serde(skip)]
    pub trajectory_sums: Vec<f64>,
    /// A shard's part of the run, kept for its state file (`state_out`); not serialised.
    #[serde(skip)]
    pub part: Option<Box<ParticlePart>>,
}

/// SIEM's floor beside the model's value: what "no difference" reads as with this estimator.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SiemFloor {
    /// How the floor's field was obtained, and its held-out accuracy (chance when it works).
    #[serde(flatten)]
    pub facts: FloorFacts,
    /// SIEM of the floor's field on the model's trajectories, and its SE over trajectories.
    pub siem: f64,
    pub siem_se: f64,
    /// SIEM − floor on the same trajectories, and its paired SE (conditional on both fitted
    /// fields: a refit with another seed moves both by more than this).
    pub excess: f64,
    pub excess_se: f64,
}

/// Mean and standard error (sd/√n) of per-trajectory values.
fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|s| (s - mean) * (s - mean)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

/// The floor's SIEM from its per-trajectory sums `floor`, paired with the model's `sums`.
fn siem_floor(facts: FloorFacts, sums: &[f64], floor: &[f64]) -> SiemFloor {
    let (siem, siem_se) = mean_se(floor);
    let diff: Vec<f64> = sums.iter().zip(floor).map(|(s, f)| s - f).collect();
    let (excess, excess_se) = mean_se(&diff);
    SiemFloor { facts, siem, siem_se, excess, excess_se }
}

/// Runs the model's sampler over the window and estimates SIEM_W with the given error source.
pub fn estimate_siem(
    model: &dyn ScoreModel,
    schedule: &Schedule,
    source: &mut dyn ErrorSource,
    cfg: &SiemConfig,
) -> Result<SiemReport, SiemError> {
    let part = estimate_part(model, schedule, source, cfg, 0..cfg.n)?;
    finish_siem(cfg, vec![part])
}

/// One observed step of the window: (step index k, t = t_{k+1}, t_next = t_k, β(t)).
pub type ObservedStep = (usize, f64, f64, f64);

/// What a part of a particle-form run keeps (trajectories `rows` of 0..n; the whole run is one
/// part): everything SIEM is computed from, so that the parts of a sharded run, put together
/// ([`finish_siem`]), give the single run's report bit for bit. Trajectory i's randomness is
/// keyed by (seed, i), so a part's trajectories are the whole run's. Size: 16·rows·|W|·K bytes
/// (the radial summaries) plus the final states.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParticlePart {
    pub rows: Range<usize>,
    pub dim: usize,
    /// Number of test functions K.
    pub kc: usize,
    pub steps: Vec<ObservedStep>,
    /// (ρ, a) per state, layout [observed step][centre][row of the part].
    pub rho: Vec<f64>,
    pub proj: Vec<f64>,
    /// The floor field's a per state, same layout, for a source with a floor (the classifier's).
    #[serde(default)]
    pub floor_proj: Option<Vec<f64>>,
    /// The floor's facts (the same in every part: each prepares the same floor).
    #[serde(default)]
    pub floor_facts: Option<FloorFacts>,
    /// The source's time bands (the critic's; the same in every part).
    #[serde(default)]
    pub bands: Vec<SourceBand>,
    /// The states after the window's last step (rows × d, row-major).
    pub x_end: Vec<f64>,
    pub nfe: usize,
    pub steps_run: usize,
    /// The error source's preparation (fit) cost: the same in every part, each prepares the same
    /// field.
    pub aux_score_evals: usize,
    pub aux_evals: usize,
    /// Auxiliary-network rows evaluated on this part's trajectories.
    pub eval_cost: usize,
    pub error_field: String,
    pub source: serde_json::Value,
    pub seconds: f64,
}

/// Samples trajectories `rows` of the run (prepared source, keyed streams) and keeps their part.
pub fn estimate_part(
    model: &dyn ScoreModel,
    schedule: &Schedule,
    source: &mut dyn ErrorSource,
    cfg: &SiemConfig,
    rows: Range<usize>,
) -> Result<ParticlePart, SiemError> {
    let start = Instant::now();
    cfg.validate(model.dim())?;
    if rows.is_empty() || rows.end > cfg.n {
        let why =
            format!("trajectories {rows:?} of {}: a part needs at least one (fewer shards than trajectories)", cfg.n);
        return Err(OptionError::new("shard", why).into());
    }
    let mut scfg = cfg.sampler_config();
    let aux: AuxCost = source.prepare(&PrepareContext { model, schedule, sampler: &scfg, n: cfg.n })?;
    scfg.first_trajectory = rows.start;
    let (states, out) = observe_window(model, schedule, source, cfg, &scfg, rows.clone())?;
    Ok(ParticlePart {
        rows,
        dim: model.dim(),
        kc: states.kc,
        steps: states.steps,
        rho: states.rho,
        proj: states.proj,
        floor_proj: states.floor_proj,
        floor_facts: source.floor_facts(),
        bands: source.bands(),
        x_end: out.x.iter().copied().collect(),
        nfe: out.nfe,
        steps_run: out.steps_run,
        aux_score_evals: aux.score_evals,
        aux_evals: aux.aux_evals,
        eval_cost: source.eval_cost(),
        error_field: source.name().to_string(),
        source: source.details(),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The report of a run from its parts, in trajectory order (one part: the whole run; the parts
/// of a sharded run: the same report, bit for bit, except `seconds`, the parts' sum, and the
/// source's details, the first part's). A single part of a sharded run gives its partial report.
pub fn finish_siem(cfg: &SiemConfig, parts: Vec<ParticlePart>) -> Result<SiemReport, SiemError> {
    let start = Instant::now();
    let p0 = parts.first().ok_or_else(|| SiemError::invalid("siem", "no trajectories"))?;
    let (error_field, source, nfe, steps_run) = (p0.error_field.clone(), p0.source.clone(), p0.nfe, p0.steps_run);
    let (aux_score_evals, aux_evals) = (p0.aux_score_evals, p0.aux_evals);
    let (floor_facts, bands) = (p0.floor_facts.clone(), p0.bands.clone());
    let seconds: f64 = parts.iter().map(|p| p.seconds).sum();
    // counts read from state files: saturating, never an overflow
    let eval_cost: usize = parts.iter().fold(0usize, |a, p| a.saturating_add(p.eval_cost));
    let (states, x_end) = gather(parts)?;
    let bandwidths = bandwidths(&cfg.test_fn, &states)?;
    let fns = cfg.test_fn.build(&bandwidths)?;
    let rates = integrate_window(&states, &states.proj, &fns);
    let (n, kc) = (states.n, states.kc);
    let empirical_qv = empirical_qv(&fns, &states.rho, x_end.view(), n, states.steps.len()) / kc as f64;
    let floor = match (&states.floor_proj, floor_facts) {
        (Some(proj), Some(facts)) => Some(siem_floor(facts, &rates.sums, &integrate_window(&states, proj, &fns).sums)),
        _ => None,
    };
    let dropped_bands =
        (!bands.is_empty()).then(|| bands.iter().filter(|b| !b.kept).map(|b| b.steps.clone()).collect());

    let sums = rates.sums;
    let (siem, siem_se) = mean_se(&sums);
    let nfe_aux = aux_score_evals.div_ceil(cfg.n);
    Ok(SiemReport {
        form: SiemForm::Particle,
        siem,
        siem_se,
        window: cfg.window.to_string(),
        error_field,
        test_fn: TestFnReport::radial(&cfg.test_fn, bandwidths, cfg.test_seed),
        profile: rates.profile,
        per_center: rates.per_center,
        empirical_qv,
        qv_noise_floor: rates.floor,
        nfe: nfe.saturating_add(nfe_aux),
        nfe_sampler: nfe,
        nfe_aux,
        nfe_full: cfg.steps,
        aux_evals: aux_evals.saturating_add(eval_cost),
        n,
        steps: cfg.steps,
        steps_run,
        t_min: cfg.t_min,
        sampler: cfg.sampler.name(),
        seed: cfg.seed,
        seconds: seconds + start.elapsed().as_secs_f64(),
        source,
        bands,
        dropped_bands,
        floor,
        trajectory_sums: sums,
        part: None,
    })
}

/// The parts' states as one run's, in trajectory order: each (step, centre) block is the parts'
/// blocks concatenated, so the layout is exactly the single run's.
fn gather(mut parts: Vec<ParticlePart>) -> Result<(WindowStates, Array2<f64>), SiemError> {
    let (d, kc, steps) = (parts[0].dim, parts[0].kc, parts[0].steps.clone());
    let mut next = parts[0].rows.start;
    for p in &parts {
        let r = p.rows.len();
        let floor_ok = match (&p.floor_proj, &parts[0].floor_proj) {
            (Some(f), Some(_)) => f.len() == p.rho.len(),
            (None, None) => true,
            _ => false,
        };
        // (the sizes come from files: products checked, a reversed range refused)
        let sizes_ok = steps.len().checked_mul(kc).and_then(|v| v.checked_mul(r)) == Some(p.rho.len())
            && p.proj.len() == p.rho.len()
            && r.checked_mul(d) == Some(p.x_end.len())
            && floor_ok;
        if p.rows.start != next
            || p.rows.start > p.rows.end
            || p.dim != d
            || p.kc != kc
            || p.steps != steps
            || !sizes_ok
        {
            let why = format!(
                "trajectories {:?} do not continue the parts before them (from {next}) with their shape",
                p.rows
            );
            return Err(SiemError::invalid("merge", why));
        }
        next = p.rows.end;
    }
    let n = next - parts[0].rows.start;
    if parts.len() == 1 {
        let p = parts.pop().expect("one part");
        let x_end = Array2::from_shape_vec((n, d), p.x_end).expect("checked size");
        return Ok((WindowStates { n, kc, rho: p.rho, proj: p.proj, floor_proj: p.floor_proj, steps }, x_end));
    }
    let (mut rho, mut proj) = (Vec::with_capacity(steps.len() * kc * n), Vec::with_capacity(steps.len() * kc * n));
    let mut floor_proj = parts[0].floor_proj.as_ref().map(|_| Vec::with_capacity(steps.len() * kc * n));
    for block in 0..steps.len() * kc {
        for p in &parts {
            let r = p.rows.len();
            rho.extend_from_slice(&p.rho[block * r..(block + 1) * r]);
            proj.extend_from_slice(&p.proj[block * r..(block + 1) * r]);
            if let (Some(all), Some(f)) = (floor_proj.as_mut(), p.floor_proj.as_ref()) {
                all.extend_from_slice(&f[block * r..(block + 1) * r]);
            }
        }
    }
    let x_end: Vec<f64> = parts.iter().flat_map(|p| p.x_end.iter().copied()).collect();
    let x_end = Array2::from_shape_vec((n, d), x_end).expect("checked sizes");
    Ok((WindowStates { n, kc, rho, proj, floor_proj, steps }, x_end))
}

/// The radial summaries of every state of the window, kept until the bandwidths are known.
struct WindowStates {
    n: usize,
    kc: usize,
    /// (ρ, a) per state, layout [observed step][centre][trajectory]
    rho: Vec<f64>,
    proj: Vec<f64>,
    /// The floor field's a, same layout, for a source with a floor.
    floor_proj: Option<Vec<f64>>,
    /// (step index, t, t_next, β(t)) of each observed step
    steps: Vec<ObservedStep>,
}

impl WindowStates {
    /// The n values of centre `c` at observed step `j`.
    fn range(&self, j: usize, c: usize) -> std::ops::Range<usize> {
        let base = (j * self.kc + c) * self.n;
        base..base + self.n
    }
}

/// Samples over the window, keeping (ρ, a) of every state and centre; the first failure of the
/// error source stops the run (the observer breaks) and is returned.
fn observe_window(
    model: &dyn ScoreModel,
    schedule: &Schedule,
    source: &mut dyn ErrorSource,
    cfg: &SiemConfig,
    scfg: &SamplerConfig,
    rows: Range<usize>,
) -> Result<(WindowStates, SampleOutput), SiemError> {
    let (n, d) = (rows.len(), model.dim());
    let centers = &cfg.test_fn.centers;
    let kc = centers.nrows();
    let w = cfg.window.len();
    let mut states = WindowStates {
        n,
        kc,
        rho: Vec::with_capacity(w * kc * n),
        proj: Vec::with_capacity(w * kc * n),
        floor_proj: None,
        steps: Vec::with_capacity(w),
    };
    let mut failure: Option<SiemError> = None;
    let mut observe = |v: &scoreprobe_core::sampler::StepView| -> Result<(), SiemError> {
        let a = source.projections(v.x, v.t, v.score, centers.view())?;
        check_projections(&a, (kc, n), source.name(), v.t)?;
        if let Some(f) = source.floor_projections(v.x, v.t, v.score, centers.view())? {
            check_projections(&f, (kc, n), source.name(), v.t)?;
            states.floor_proj.get_or_insert_with(|| Vec::with_capacity(w * kc * n)).extend(f.iter().copied());
        }
        states.steps.push((v.index, v.t, v.t_next, schedule.beta(v.t)));
        for (c, arow) in centers.rows().into_iter().zip(a.rows()) {
            states.rho.extend(radial_distances(v.x, c));
            states.proj.extend(arow.iter().copied());
        }
        Ok(())
    };
    let x0 = prior_rows(rows, d, cfg.seed);
    let out = sample_with_observer(model, schedule, scfg, x0, &mut |v| match observe(v) {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => {
            failure = Some(e);
            ControlFlow::Break(())
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    debug_assert_eq!(states.steps.len(), w);
    Ok((states, out))
}

/// A source's projections (K × n, row-major as stored) have the expected shape and are finite.
fn check_projections(
    a: &ndarray::Array2<f64>,
    want: (usize, usize),
    field: &'static str,
    t: f64,
) -> Result<(), SiemError> {
    if a.dim() != want {
        return Err(SiemError::Shape { field, got: a.dim(), expected: want });
    }
    if let Some(((_, row), _)) = a.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(SiemError::NonFiniteField { field, t, row });
    }
    Ok(())
}

/// The bandwidth of each centre under the test functions' rule.
fn bandwidths(test_fn: &TestFnSpec, states: &WindowStates) -> Result<Vec<f64>, SiemError> {
    let (n, kc, w) = (states.n, states.kc, states.steps.len());
    let rho = &states.rho;
    (0..kc)
        .map(|c| {
            let h = match test_fn.bandwidth {
                BandwidthRule::Fixed(h) => h,
                BandwidthRule::MedianPooled => {
                    let mut v: Vec<f64> =
                        (0..w).flat_map(|j| rho[(j * kc + c) * n..(j * kc + c + 1) * n].iter().copied()).collect();
                    median(&mut v)
                }
                BandwidthRule::MedianFirstStep => median(&mut rho[c * n..(c + 1) * n].to_vec()),
            };
            if h > 0.0 && h.is_finite() {
                Ok(h)
            } else {
                Err(SiemError::Bandwidth { rule: test_fn.bandwidth.name(), h, center: c })
            }
        })
        .collect()
}

/// The Riemann sum over the window: per-trajectory sums S_i, per-centre SIEM, the per-step
/// profile and the QV noise floor.
struct WindowRates {
    sums: Vec<f64>,
    per_center: Vec<f64>,
    profile: Vec<ProfilePoint>,
    floor: f64,
}

/// `proj` holds the field's a = ê·(x − c) in the layout of `states.proj` (the model's field, or
/// a floor's).
fn integrate_window(states: &WindowStates, proj: &[f64], fns: &[RadialTestFn]) -> WindowRates {
    let (n, kc) = (states.n, states.kc);
    let mut rates = WindowRates {
        sums: vec![0.0; n],
        per_center: vec![0.0; kc],
        profile: Vec::with_capacity(states.steps.len()),
        floor: 0.0,
    };
    for (j, &(index, t, t_next, beta)) in states.steps.iter().enumerate() {
        let dt = t - t_next;
        let weight = beta * beta * dt;
        let mut mean_sq = 0.0;
        for (c, f) in fns.iter().enumerate() {
            let (r, a) = (&states.rho[states.range(j, c)], &proj[states.range(j, c)]);
            let mut acc = 0.0;
            let mut g2 = 0.0;
            for i in 0..n {
                let q = f.directional(r[i], a[i]);
                let q2 = q * q;
                rates.sums[i] += weight * q2 / kc as f64;
                acc += q2;
                g2 += f.grad_norm2(r[i]);
            }
            rates.per_center[c] += weight * acc / n as f64;
            mean_sq += acc / (n * kc) as f64;
            rates.floor += beta * dt * g2 / (n * n * kc) as f64;
        }
        rates.profile.push(ProfilePoint { index, t, dt, beta2: beta * beta, mean_sq });
    }
    rates
}

/// Σ over test functions of the squared increments of m_j = mean_i φ(X^i_j), over the window's
/// states followed by the final state `x_end`.
fn empirical_qv(fns: &[RadialTestFn], rho: &[f64], x_end: ArrayView2<f64>, n: usize, w: usize) -> f64 {
    let kc = fns.len();
    let mut total = 0.0;
    for (c, f) in fns.iter().enumerate() {
        let h = f.bandwidth;
        let mut m: Vec<f64> = (0..w)
            .map(|j| {
                rho[(j * kc + c) * n..(j * kc + c + 1) * n].iter().map(|r| f.kind.psi(r / h)).sum::<f64>() / n as f64
            })
            .collect();
        m.push(f.value(x_end).mean().unwrap_or(f64::NAN));
        total += m.windows(2).map(|p| (p[1] - p[0]) * (p[1] - p[0])).sum::<f64>();
    }
    total
}
