//! Fitting the dual critics of SPEC §5 (a) with first-order autodiff over the parameters only.
//!
//! A fit sees draws (x, t, w) with E[w | x, t] = σ_t e_t(x), e_t = s_θ − ∇log p_t, x ~ p_t:
//! - denoising form (no true score): x = α_t x₀ + σ_t ξ, w = ξ + σ_t s_θ(x, t) — by Tweedie,
//!   E[ξ | x_t] = −σ_t ∇log p_t(x_t), i.e. E[∇log p_t(x_t)·g(x_t)] = E[−ξ/σ_t·g(x_t)];
//! - oracle form (exact error known): w = σ_t e_t(x), the same mean without the noise of ξ.
//!
//! For a scalar critic χ the objective
//!   J(χ) = E[2 w·∇ₓχ − |∇ₓχ|²] = 2σ_t E_p[e·∇χ] − E_p|∇χ|² = σ_t²‖∇φ_t‖² − ‖∇χ − σ_t∇φ_t‖²
//! (E_p[e·∇χ] = E_p[∇φ·∇χ]: ∇φ_t is the L²(p_t) projection of e_t onto gradients) is maximised at
//! ∇χ* = σ_t∇φ_t with value G_t = σ_t²‖∇φ_t‖² (ε-units; ∇φ_t = ∇χ*/σ_t in score units). For an
//! unconstrained vector critic h, E[2 w·h − |h|²] = σ_t²‖e_t‖² − ‖h − σ_t e_t‖², maximised at
//! h* = σ_t e_t with value σ_t²‖e_t‖².
//!
//! ∇ₓχ enters exactly when d ≤ `exact_max_dim` (default [`EXACT_MAX_DIM`]); above it through k
//! fresh Rademacher directions v per row (E[vvᵀ] = I, one random bit per sign),
//! (1/k)Σ_j [2(v_j·w)(v_j·∇χ) − (v_j·∇χ)²], which is unbiased for 2w·∇χ − |∇χ|² (in training and
//! in held-out values alike; the SE of the latter then includes the directions' noise). On the CPU
//! ∇ₓχ and the parameter gradient of the objective come from the fused MLP passes
//! ([`crate::cpu::critic`]: one reverse pass and its hand-written double backward); elsewhere
//! from candle's autograd through the forward-mode tangents of [`JvpScalar`] (candle's backprop
//! detaches input gradients), which is also the tests' reference. Every step draws a fresh batch
//! (or, with `pool`, a minibatch of a fixed pool drawn up front); AdamW with a cosine decay of
//! the learning rate to 10%. Inputs are standardised (y = (x − c)/s, c and s from the first
//! batch), so ∇ₓχ = ∇_yχ/s (the tangent along v in x is the tangent along v/s in y).
//!
//! A fitted critic is suboptimal, so its objective on fresh (held-out) draws is biased low by the
//! fitting error ‖∇χ − σ∇φ‖², never high; on the training draws it would be biased high.

use crate::adamw::{AdamW, AdamWConfig, Grads};
use crate::cpu::critic::{vector_upstream, Directions, ScalarObjective};
use crate::cpu::{self, MlpKernel};
use crate::error::{ensure, NnError, Result};
use crate::jvp::{JvpMlp, JvpScalar};
use crate::mlp::{Mlp, MlpSpec};
use candle_core::{Device, Tensor};
use ndarray::{s, Array1, Array2, ArrayView2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use scoreprobe_core::{ModelError, Purpose, SeedStream};
use std::time::Instant;

mod file;

/// Default largest dimension for exact |∇χ|² and w·∇χ from the d unit directions; above it,
/// random Rademacher directions.
pub const EXACT_MAX_DIM: usize = 64;
/// Rows per forward pass when evaluating on large sets.
const EVAL_CHUNK: usize = 4096;

/// The draws a fit starts from: one batch, or the whole pool drawn in chunks of `batch` (each chunk
/// one call of `draw`, so a drawer that spreads a batch over a few random times covers many).
fn initial_draws(cfg: &CriticFitConfig, draw: &mut DrawBatch, rng: &mut ChaCha8Rng) -> Result<CriticBatch> {
    let Some(total) = cfg.pool else { return Ok(draw(cfg.batch, rng)?) };
    let chunks = (0..total.div_ceil(cfg.batch))
        .map(|i| draw(cfg.batch.min(total - i * cfg.batch), rng))
        .collect::<Result<Vec<CriticBatch>, ModelError>>()?;
    Ok(CriticBatch::concat(&chunks))
}

/// One batch of draws: rows x (n, d), one time per row, and w (n, d) with E[w | x, t] = σ_t e_t(x).
#[derive(Clone, Debug)]
pub struct CriticBatch {
    pub x: Array2<f64>,
    pub t: Vec<f64>,
    pub w: Array2<f64>,
}

impl CriticBatch {
    fn check(&self, d: usize) -> Result<()> {
        let n = self.x.nrows();
        if !(self.x.dim() == (n, d) && self.w.dim() == (n, d) && self.t.len() == n) {
            return Err(NnError::invalid(
                "critic batch",
                format!(
                    "x {:?}, w {:?} and {} times do not match dimension {d}",
                    self.x.dim(),
                    self.w.dim(),
                    self.t.len()
                ),
            ));
        }
        if let Some(row) = (0..n).find(|&i| {
            !(self.t[i].is_finite()
                && self.x.row(i).iter().all(|v| v.is_finite())
                && self.w.row(i).iter().all(|v| v.is_finite()))
        }) {
            return Err(NnError::invalid(
                "critic batch",
                format!("row {row} has a non-finite state, time or target (is the model's score finite?)"),
            ));
        }
        Ok(())
    }

    /// The rows at `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> CriticBatch {
        CriticBatch {
            x: self.x.select(Axis(0), idx),
            t: idx.iter().map(|&i| self.t[i]).collect(),
            w: self.w.select(Axis(0), idx),
        }
    }

    /// The batches' rows one after another.
    pub fn concat(parts: &[CriticBatch]) -> CriticBatch {
        let xs: Vec<_> = parts.iter().map(|p| p.x.view()).collect();
        let ws: Vec<_> = parts.iter().map(|p| p.w.view()).collect();
        CriticBatch {
            x: ndarray::concatenate(Axis(0), &xs).expect("equal widths"),
            t: parts.iter().flat_map(|p| p.t.iter().copied()).collect(),
            w: ndarray::concatenate(Axis(0), &ws).expect("equal widths"),
        }
    }

    /// Rows [lo, hi).
    pub fn rows(&self, lo: usize, hi: usize) -> CriticBatch {
        CriticBatch {
            x: self.x.slice(s![lo..hi, ..]).to_owned(),
            t: self.t[lo..hi].to_vec(),
            w: self.w.slice(s![lo..hi, ..]).to_owned(),
        }
    }
}

/// Network and optimiser options of a critic fit.
#[derive(Clone, Debug, PartialEq)]
pub struct CriticFitConfig {
    /// Width of each hidden layer (SiLU MLP).
    pub hidden: usize,
    /// Number of hidden layers.
    pub depth: usize,
    /// Optimiser steps, each on a fresh batch.
    pub steps: usize,
    pub batch: usize,
    /// Peak learning rate (cosine decay to 10%).
    pub lr: f64,
    pub weight_decay: f64,
    /// Largest d with exact gradients from the d unit directions.
    pub exact_max_dim: usize,
    /// Random directions per row when d > `exact_max_dim`.
    pub directions: usize,
    /// Train on a fixed pool of this many draws (drawn up front in chunks of `batch`, then
    /// minibatches sampled from it) instead of a fresh batch every step. A fresh batch costs
    /// `batch` score evaluations per step, which for an image U-Net dominates everything
    /// (1000 steps × 512 rows = 512k network calls per fit); a pool costs its size once. The
    /// held-out value stays unbiased-low: a critic that overfits the pool only scores lower on
    /// fresh draws.
    pub pool: Option<usize>,
}

impl Default for CriticFitConfig {
    fn default() -> Self {
        Self {
            hidden: 64,
            depth: 2,
            steps: 1000,
            batch: 512,
            lr: 2e-3,
            weight_decay: 0.0,
            exact_max_dim: EXACT_MAX_DIM,
            directions: 16,
            pool: None,
        }
    }
}

impl CriticFitConfig {
    pub fn validate(&self) -> Result<()> {
        if self.hidden == 0 || self.depth == 0 || self.steps == 0 || self.batch < 2 || self.directions == 0 {
            return Err(NnError::invalid(
                "critic",
                format!("hidden, depth, steps, directions must be > 0 and batch ≥ 2: {self:?}"),
            ));
        }
        if let Some(p) = self.pool {
            if p < self.batch {
                return Err(NnError::invalid(
                    "critic",
                    format!("the draw pool ({p}) must hold at least one batch ({})", self.batch),
                ));
            }
        }
        if !(self.lr > 0.0 && self.lr.is_finite() && self.weight_decay >= 0.0) {
            return Err(NnError::invalid("critic", format!("need lr > 0 and weight_decay ≥ 0: {self:?}")));
        }
        Ok(())
    }

    /// Forward passes with tangents per training row: d unit directions, or k random ones.
    pub fn tangents_per_row(&self, d: usize) -> usize {
        if d <= self.exact_max_dim {
            d
        } else {
            self.directions
        }
    }
}

/// The learning rate at `step` of `steps`: cosine decay from `lr` to 10% of it.
pub fn cosine_lr(lr: f64, step: usize, steps: usize) -> f64 {
    lr * (0.55 + 0.45 * (std::f64::consts::PI * step as f64 / steps.max(1) as f64).cos())
}

/// y = (x − c)/s with c the mean row and s the root mean coordinate variance of a batch.
#[derive(Clone, Debug)]
struct Standardize {
    center: Array1<f64>,
    scale: f64,
}

impl Standardize {
    fn of(x: ArrayView2<f64>) -> Self {
        let center = x.mean_axis(Axis(0)).expect("non-empty batch");
        let var = if x.nrows() > 1 { x.var_axis(Axis(0), 1.0).mean().unwrap_or(1.0) } else { 1.0 };
        let scale = if var > 1e-24 && var.is_finite() { var.sqrt() } else { 1.0 };
        Self { center, scale }
    }

    fn apply(&self, x: ArrayView2<f64>) -> Vec<f32> {
        let c = self.center.view().insert_axis(Axis(0));
        ((&x - &c) / self.scale).iter().map(|v| *v as f32).collect()
    }
}

fn f32_tensor(v: Vec<f32>, shape: &[usize], device: &Device) -> Result<Tensor> {
    Ok(Tensor::from_vec(v, shape, device)?)
}

fn inputs(st: &Standardize, x: ArrayView2<f64>, t: &[f64], device: &Device) -> Result<(Tensor, Tensor)> {
    let (n, d) = x.dim();
    let xt = f32_tensor(st.apply(x), &[n, d], device)?;
    let tt = f32_tensor(t.iter().map(|v| *v as f32).collect(), &[n], device)?;
    Ok((xt, tt))
}

/// One fit step's objective: a candle tensor of per-row terms (autograd), or the fused CPU
/// pass's mean objective (its flat parameter gradient, of the loss −objective, in
/// [`StepBuffers::grad`]).
enum StepObjective {
    Terms(Tensor),
    Fused(f64),
}

/// The rows of one fit step: a fresh batch, or rows of the pool (gathered without a copy of the
/// f64 pool rows).
#[derive(Clone, Copy)]
enum StepRows<'a> {
    Batch(&'a CriticBatch),
    Pool(&'a CriticBatch, &'a [usize]),
}

impl StepRows<'_> {
    fn len(&self) -> usize {
        match self {
            StepRows::Batch(b) => b.x.nrows(),
            StepRows::Pool(_, idx) => idx.len(),
        }
    }

    /// The rows as one batch (a copy for pool rows; the candle path).
    fn to_batch(self) -> std::borrow::Cow<'static, CriticBatch> {
        match self {
            StepRows::Batch(b) => std::borrow::Cow::Owned(b.clone()),
            StepRows::Pool(p, idx) => std::borrow::Cow::Owned(p.select(idx)),
        }
    }
}

/// Reusable buffers of the fused steps (nothing is allocated per step once they have grown).
#[derive(Default)]
struct StepBuffers {
    /// Standardised rows (n × d), times (n), targets (n × d), all f32.
    x: Vec<f32>,
    t: Vec<f32>,
    w: Vec<f32>,
    dirs: Option<Directions>,
    /// Flat parameter gradient of the loss.
    grad: Vec<f32>,
}

impl StepBuffers {
    /// Fills x (standardised), t and w from the step's rows.
    fn gather(&mut self, st: &Standardize, rows: StepRows) {
        let (src, n): (&CriticBatch, usize) = match rows {
            StepRows::Batch(b) => (b, b.x.nrows()),
            StepRows::Pool(p, idx) => (p, idx.len()),
        };
        let d = src.x.ncols();
        for v in [&mut self.x, &mut self.w] {
            v.clear();
            v.reserve(n * d);
        }
        self.t.clear();
        let center = st.center.as_slice().expect("a fresh vector is contiguous");
        for r in 0..n {
            let i = match rows {
                StepRows::Batch(_) => r,
                StepRows::Pool(_, idx) => idx[r],
            };
            let (xr, wr) = (src.x.row(i), src.w.row(i));
            match (xr.as_slice(), wr.as_slice()) {
                (Some(xr), Some(wr)) => {
                    self.x.extend(xr.iter().zip(center).map(|(v, c)| ((v - c) / st.scale) as f32));
                    self.w.extend(wr.iter().map(|v| *v as f32));
                }
                _ => {
                    self.x.extend(xr.iter().zip(center).map(|(v, c)| ((v - c) / st.scale) as f32));
                    self.w.extend(wr.iter().map(|v| *v as f32));
                }
            }
            self.t.push(src.t[i] as f32);
        }
    }
}

/// A fitted scalar critic χ(x, t) (ε-units: ∇χ* = σ_t∇φ_t).
pub struct ScalarCritic {
    net: JvpMlp,
    st: Standardize,
    device: Device,
    exact_max_dim: usize,
    directions: usize,
}

/// What a fit did.
#[derive(Clone, Debug, PartialEq)]
pub struct FitLog {
    pub steps: usize,
    /// Training rows drawn (each needs one score evaluation in the denoising form).
    pub rows: usize,
    /// Mean training objective over the last 10% of steps (ε-units; biased high, in-sample).
    pub final_objective: f64,
    pub seconds: f64,
}

impl ScalarCritic {
    /// The critic network's CPU engine (`None` where candle runs it).
    fn engine(&self) -> Option<MlpKernel<'_>> {
        let mlp = self.net.mlp();
        cpu::mlp(mlp.spec(), mlp.params())
    }

    pub fn dim(&self) -> usize {
        self.st.center.len()
    }

    /// Tangents v·∇ₓχ (k, n) along the directions `dirs` (k, n, d), given in x-space.
    fn tangents(&self, x: &Tensor, t: &Tensor, dirs_x: Tensor) -> Result<Tensor> {
        // χ(x) = net((x − c)/s): the tangent of χ along v is the tangent of net along v/s.
        let dy = (dirs_x / self.st.scale)?;
        Ok(self.net.forward_stacked(x, t, &dy)?.1)
    }

    /// The random directions of a batch of n rows (none at or below the exact dimension), drawn
    /// into `dirs` (reusing its storage).
    fn directions(&self, n: usize, rng: &mut ChaCha8Rng, dirs: &mut Option<Directions>) {
        let d = self.dim();
        if d > self.exact_max_dim {
            dirs.get_or_insert_with(Directions::default).redraw(self.directions, n, d, rng);
        } else {
            *dirs = None;
        }
    }

    /// One step's objective: the fused pass on the CPU, candle's autograd through tangents
    /// elsewhere.
    fn step_objective(&self, rows: StepRows, rng: &mut ChaCha8Rng, bufs: &mut StepBuffers) -> Result<StepObjective> {
        let kernel = self.engine();
        let Some(kernel) = kernel else {
            return Ok(StepObjective::Terms(self.objective_terms(&rows.to_batch(), rng)?));
        };
        let n = rows.len();
        bufs.gather(&self.st, rows);
        self.directions(n, rng, &mut bufs.dirs);
        let obj = ScalarObjective { w: &bufs.w, d: self.dim(), scale: self.st.scale as f32, dirs: bufs.dirs.as_ref() };
        bufs.grad.resize(kernel.layout().total, 0.0);
        let loss = kernel.input_grad_loss_and_grad(&bufs.x, &bufs.t, obj.upstream(n), &mut bufs.grad);
        Ok(StepObjective::Fused(-loss))
    }

    /// Per-row objective terms (n,) as a candle tensor (differentiable in the parameters through
    /// forward-mode tangents; the reference for the fused pass, and its fallback off the CPU).
    pub fn objective_terms(&self, b: &CriticBatch, rng: &mut ChaCha8Rng) -> Result<Tensor> {
        let (n, d) = b.x.dim();
        let (x, t) = inputs(&self.st, b.x.view(), &b.t, &self.device)?;
        if d <= self.exact_max_dim {
            let eye = Tensor::eye(d, candle_core::DType::F32, &self.device)?
                .unsqueeze(1)?
                .broadcast_as((d, n, d))?
                .contiguous()?;
            let tan = self.tangents(&x, &t, eye)?; // (d, n): ∂_k χ
            let wt = f32_tensor(b.w.t().iter().map(|v| *v as f32).collect(), &[d, n], &self.device)?;
            Ok(((&wt * &tan)? * 2.0 - tan.sqr()?)?.sum(0)?)
        } else {
            let k = self.directions;
            let v = Directions::draw(k, n, d, rng).to_vec();
            // (v_j·w_i) for each direction set
            let mut vw = vec![0f32; k * n];
            for j in 0..k {
                for i in 0..n {
                    let base = (j * n + i) * d;
                    vw[j * n + i] = (0..d).map(|l| v[base + l] as f64 * b.w[[i, l]]).sum::<f64>() as f32;
                }
            }
            let dirs = f32_tensor(v, &[k, n, d], &self.device)?;
            let tan = self.tangents(&x, &t, dirs)?;
            let vw = f32_tensor(vw, &[k, n], &self.device)?;
            Ok((((&vw * &tan)? * 2.0 - tan.sqr()?)?.sum(0)? / k as f64)?)
        }
    }

    /// Held-out per-row terms 2w·∇χ − |∇χ|² (ε-units; exact for d ≤ `exact_max_dim`, else
    /// unbiased with random directions drawn from `rng`). Their mean estimates J(χ) ≤ G_t.
    pub fn terms(&self, b: &CriticBatch, rng: &mut ChaCha8Rng) -> Result<Vec<f64>> {
        b.check(self.dim())?;
        let n = b.x.nrows();
        let mut out = Vec::with_capacity(n);
        let kernel = self.engine();
        for lo in (0..n).step_by(EVAL_CHUNK) {
            let hi = (lo + EVAL_CHUNK).min(n);
            let part = b.rows(lo, hi);
            match &kernel {
                Some(k) => {
                    let mut bufs = StepBuffers::default();
                    bufs.gather(&self.st, StepRows::Batch(&part));
                    self.directions(hi - lo, rng, &mut bufs.dirs);
                    let obj = ScalarObjective {
                        w: &bufs.w,
                        d: self.dim(),
                        scale: self.st.scale as f32,
                        dirs: bufs.dirs.as_ref(),
                    };
                    out.extend(obj.terms(k, &bufs.x, &bufs.t));
                }
                None => {
                    let v: Vec<f32> = self.objective_terms(&part, rng)?.to_vec1()?;
                    out.extend(v.into_iter().map(f64::from));
                }
            }
        }
        Ok(out)
    }

    /// ∇ₓχ (n, d) by the fused reverse pass (`None` off the CPU).
    fn fused_gradient(&self, x: ArrayView2<f64>, t: &[f64]) -> Option<Vec<f32>> {
        let kernel = self.engine()?;
        let (n, d) = x.dim();
        let (xs, ts) = (self.st.apply(x), t.iter().map(|v| *v as f32).collect::<Vec<_>>());
        let mut g = vec![0f32; n * d];
        kernel.input_grad(&xs, &ts, &mut g);
        let inv = 1.0 / self.st.scale as f32;
        g.iter_mut().for_each(|v| *v *= inv);
        Some(g)
    }

    /// v·∇ₓχ(x, t) (k, n) for each direction field in `dirs` (each (n, d), x-space).
    pub fn directional(&self, x: ArrayView2<f64>, t: &[f64], dirs: &[Array2<f64>]) -> Result<Array2<f64>> {
        let (n, d) = x.dim();
        ensure!(d == self.dim() && t.len() == n && !dirs.is_empty(), "critic: bad shapes for directional derivatives");
        if let Some(g) = self.fused_gradient(x, t) {
            let mut out = Array2::zeros((dirs.len(), n));
            for (j, v) in dirs.iter().enumerate() {
                ensure!(v.dim() == (n, d), "critic: direction of shape {:?}, expected ({n}, {d})", v.dim());
                for (i, row) in v.outer_iter().enumerate() {
                    out[[j, i]] = row.iter().zip(&g[i * d..(i + 1) * d]).map(|(a, b)| a * *b as f64).sum();
                }
            }
            return Ok(out);
        }
        let (xt, tt) = inputs(&self.st, x, t, &self.device)?;
        let mut flat = Vec::with_capacity(dirs.len() * n * d);
        for (i, v) in dirs.iter().enumerate() {
            if v.dim() != (n, d) {
                return Err(NnError::invalid(
                    "critic",
                    format!("direction {i} has shape {:?}, expected ({n}, {d})", v.dim()),
                ));
            }
            flat.extend(v.iter().map(|a| *a as f32));
        }
        let tan = self.tangents(&xt, &tt, f32_tensor(flat, &[dirs.len(), n, d], &self.device)?)?;
        let v: Vec<f32> = tan.flatten_all()?.to_vec1()?;
        Ok(Array2::from_shape_vec((dirs.len(), n), v.into_iter().map(f64::from).collect()).expect("k × n tangents"))
    }

    /// ∇ₓχ(x, t) (n, d) from the d unit directions (in chunks of rows).
    pub fn gradient(&self, x: ArrayView2<f64>, t: &[f64]) -> Result<Array2<f64>> {
        let (n, d) = x.dim();
        ensure!(d == self.dim() && t.len() == n, "critic: bad shapes for the gradient");
        if let Some(g) = self.fused_gradient(x, t) {
            return Ok(Array2::from_shape_vec((n, d), g.into_iter().map(f64::from).collect()).expect("n × d gradients"));
        }
        let mut g = Array2::zeros((n, d));
        let chunk = (EVAL_CHUNK / d.max(1)).max(16);
        for lo in (0..n).step_by(chunk) {
            let hi = (lo + chunk).min(n);
            let m = hi - lo;
            let (xt, tt) = inputs(&self.st, x.slice(s![lo..hi, ..]), &t[lo..hi], &self.device)?;
            let eye = Tensor::eye(d, candle_core::DType::F32, &self.device)?
                .unsqueeze(1)?
                .broadcast_as((d, m, d))?
                .contiguous()?;
            let tan: Vec<f32> = self.tangents(&xt, &tt, eye)?.flatten_all()?.to_vec1()?; // (d, m)
            for k in 0..d {
                for i in 0..m {
                    g[[lo + i, k]] = tan[k * m + i] as f64;
                }
            }
        }
        Ok(g)
    }
}

/// A fitted vector critic h(x, t) (ε-units: h* = σ_t e_t).
pub struct VectorCritic {
    net: Mlp,
    st: Standardize,
    device: Device,
}

impl VectorCritic {
    pub fn dim(&self) -> usize {
        self.st.center.len()
    }

    /// One step's objective: the fused pass on the CPU, candle's autograd elsewhere.
    fn step_objective(&self, rows: StepRows, bufs: &mut StepBuffers) -> Result<StepObjective> {
        let kernel = cpu::mlp(self.net.spec(), self.net.params());
        let Some(kernel) = kernel else { return Ok(StepObjective::Terms(self.objective_terms(&rows.to_batch())?)) };
        let n = rows.len();
        bufs.gather(&self.st, rows);
        bufs.grad.resize(kernel.layout().total, 0.0);
        let loss = kernel.loss_and_grad(&bufs.x, &bufs.t, vector_upstream(&bufs.w, self.dim(), n), &mut bufs.grad);
        Ok(StepObjective::Fused(-loss))
    }

    fn objective_terms(&self, b: &CriticBatch) -> Result<Tensor> {
        let (n, d) = b.x.dim();
        let (x, t) = inputs(&self.st, b.x.view(), &b.t, &self.device)?;
        let h = self.net.forward(&x, &t)?;
        let w = f32_tensor(b.w.iter().map(|v| *v as f32).collect(), &[n, d], &self.device)?;
        Ok(((&w * &h)? * 2.0 - h.sqr()?)?.sum(1)?)
    }

    /// Held-out per-row terms 2w·h − |h|² (ε-units); their mean estimates J(h) ≤ σ_t²‖e_t‖².
    pub fn terms(&self, b: &CriticBatch) -> Result<Vec<f64>> {
        b.check(self.dim())?;
        let n = b.x.nrows();
        let mut out = Vec::with_capacity(n);
        for lo in (0..n).step_by(EVAL_CHUNK) {
            let hi = (lo + EVAL_CHUNK).min(n);
            let v: Vec<f32> = self.objective_terms(&b.rows(lo, hi))?.to_vec1()?;
            out.extend(v.into_iter().map(f64::from));
        }
        Ok(out)
    }

    /// h(x, t) (n, d).
    pub fn field(&self, x: ArrayView2<f64>, t: &[f64]) -> Result<Array2<f64>> {
        let (n, d) = x.dim();
        if !(d == self.dim() && t.len() == n) {
            return Err(NnError::invalid(
                "vector critic",
                format!("bad shapes: x {:?}, {} times (critic dimension {})", x.dim(), t.len(), self.dim()),
            ));
        }
        let (xt, tt) = inputs(&self.st, x, t, &self.device)?;
        let v: Vec<f32> = self.net.eval(&xt, &tt)?.flatten_all()?.to_vec1()?;
        Ok(Array2::from_shape_vec((n, d), v.into_iter().map(f64::from).collect()).expect("n × d outputs"))
    }
}

/// Draws a batch of `n` rows with the given RNG; evaluating the model under test may fail.
pub type DrawBatch<'a> = dyn FnMut(usize, &mut ChaCha8Rng) -> Result<CriticBatch, ModelError> + 'a;

/// The shared loop: `step_objective` gives a batch's objective (per-row terms or the fused pass);
/// AdamW maximises its mean.
fn optimise(
    params: &crate::params::ParamStore,
    cfg: &CriticFitConfig,
    d: usize,
    first: CriticBatch,
    draw: &mut DrawBatch,
    rng: &mut ChaCha8Rng,
    step_objective: &mut dyn FnMut(StepRows, &mut ChaCha8Rng, &mut StepBuffers) -> Result<StepObjective>,
) -> Result<FitLog> {
    let start = Instant::now();
    let mut opt = AdamW::new(params, AdamWConfig { weight_decay: cfg.weight_decay, ..Default::default() })?;
    let tail = (cfg.steps / 10).max(1);
    let (mut acc, mut rows) = (0.0, 0usize);
    // with a pool, `first` is the pool (checked and counted once); else the first fresh batch
    let (pool, mut next) = if cfg.pool.is_some() { (Some(first), None) } else { (None, Some(first)) };
    if let Some(p) = &pool {
        p.check(d)?;
        rows = p.x.nrows();
    }
    let mut bufs = StepBuffers::default();
    for step in 0..cfg.steps {
        let (fresh, idx);
        let step_rows = match &pool {
            Some(p) => {
                idx = rand::seq::index::sample(rng, p.x.nrows(), cfg.batch).into_vec();
                StepRows::Pool(p, &idx)
            }
            None => {
                fresh = match next.take() {
                    Some(b) => b,
                    None => draw(cfg.batch, rng)?,
                };
                fresh.check(d)?;
                rows += fresh.x.nrows();
                StepRows::Batch(&fresh)
            }
        };
        let lr = cosine_lr(cfg.lr, step, cfg.steps);
        match step_objective(step_rows, rng, &mut bufs)? {
            StepObjective::Terms(terms) => {
                let objective = terms.mean_all()?;
                let value = objective.to_scalar::<f32>()? as f64;
                if !value.is_finite() {
                    return Err(NnError::Diverged {
                        what: "critic training",
                        step: step as u64,
                        quantity: "objective",
                        value,
                    });
                }
                if step >= cfg.steps - tail {
                    acc += value;
                }
                let grads = objective.neg()?.backward()?;
                let g = AdamW::collect_grads(params, &grads)?;
                opt.step(params, &g, lr)?;
            }
            StepObjective::Fused(objective) => {
                if !objective.is_finite() {
                    return Err(NnError::Diverged {
                        what: "critic training",
                        step: step as u64,
                        quantity: "objective",
                        value: objective,
                    });
                }
                if step >= cfg.steps - tail {
                    acc += objective;
                }
                opt.update(params, Grads::Flat(&bufs.grad), 1.0, lr, None)?;
            }
        }
    }
    Ok(FitLog { steps: cfg.steps, rows, final_objective: acc / tail as f64, seconds: start.elapsed().as_secs_f64() })
}

/// Fits a scalar critic χ(x, t) on fresh batches from `draw` (seeded by `seed`), maximising
/// E[2w·∇χ − |∇χ|²]. The batches may mix times (a time-conditioned critic) or hold one.
pub fn fit_scalar_critic(
    d: usize,
    cfg: &CriticFitConfig,
    seed: u64,
    device: &Device,
    draw: &mut DrawBatch,
) -> Result<(ScalarCritic, FitLog)> {
    cfg.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let first = initial_draws(cfg, draw, &mut rng)?;
    first.check(d)?;
    let init = SeedStream::new(seed).derive(Purpose::ScalarCriticInit);
    let net = JvpMlp::new(&MlpSpec::scalar(d, cfg.hidden, cfg.depth), init, device)?;
    let critic = ScalarCritic {
        net,
        st: Standardize::of(first.x.view()),
        device: device.clone(),
        exact_max_dim: cfg.exact_max_dim,
        directions: cfg.directions,
    };
    let log = optimise(critic.net.params(), cfg, d, first, draw, &mut rng, &mut |b, r, bufs| {
        critic.step_objective(b, r, bufs)
    })?;
    Ok((critic, log))
}

/// Fits a vector critic h(x, t) (an MLP with d outputs, ordinary forward) maximising E[2w·h − |h|²].
pub fn fit_vector_critic(
    d: usize,
    cfg: &CriticFitConfig,
    seed: u64,
    device: &Device,
    draw: &mut DrawBatch,
) -> Result<(VectorCritic, FitLog)> {
    cfg.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let first = initial_draws(cfg, draw, &mut rng)?;
    first.check(d)?;
    let spec = MlpSpec { dim: d, out_dim: d, hidden: cfg.hidden, depth: cfg.depth, time_dim: 64 };
    let net = Mlp::new(&spec, SeedStream::new(seed).derive(Purpose::VectorCriticInit), device)?;
    let critic = VectorCritic { net, st: Standardize::of(first.x.view()), device: device.clone() };
    let log =
        optimise(critic.net.params(), cfg, d, first, draw, &mut rng, &mut |b, _, bufs| critic.step_objective(b, bufs))?;
    Ok((critic, log))
}
