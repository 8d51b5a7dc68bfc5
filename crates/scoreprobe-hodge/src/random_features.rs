//! Linear-in-parameters critics in the denoising (dual) form (SPEC §5 (b)).
//!
//! With x_t = α_t x₀ + σ_t ξ and u = ξ − ε_θ(x_t, t) = ξ + σ_t s_θ(x_t, t), E[u | x_t] = σ_t e_t(x_t),
//! so for a scalar critic χ = Σ_j a_j φ_j
//!   G_t = σ_t²‖∇φ_t‖² = sup_a 2aᵀc − aᵀMa,  c_j = E[u·∇φ_j],  M_jl = E[∇φ_j·∇φ_l],
//! with maximiser a* = M⁻¹c (ridge-regularised) — no true score is needed. An unconstrained vector
//! critic h = Σ_j a_j ψ_j (ψ_j = e_k·f_j) gives σ_t²‖e_t‖² by the same formula.
//!
//! Features: random Fourier φ_j(x) = cos(ω_j·y + b_j) on the standardised y = x − x̄ with
//! multi-scale frequencies ω_j ~ N(0, ℓ_j⁻²I), ℓ_j log-uniform in `lengthscales`·s (s the
//! per-coordinate std of x_t), plus polynomial potentials (degree 1, and 2 when d is small).
//!
//! Held out by two-fold cross-fitting: a fitted on fold A is evaluated on fold B and vice versa;
//! the reported value is the mean of the per-sample terms 2u·h − |h|² (h = Σ a_j∇φ_j) over both
//! folds, and its standard error their standard deviation / √n. A fitted critic is suboptimal for
//! the true objective, so the held-out value is biased low (never high) by the fitting error; an
//! in-sample evaluation would be biased high.

use crate::error::{HodgeError, NotApplicable};
use crate::problem::{check_time, mean_se, EstimatorKind, HodgeEstimator, Problem};
use crate::{Estimate, HodgePoint};
use ndarray::parallel::prelude::*;
use ndarray::{s, Array1, Array2, ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use scoreprobe_core::denoise::{denoising_target, NoisedBatch};
use scoreprobe_core::distribution::standard_normal;
use scoreprobe_core::linalg::{cholesky, symmetrize};
use scoreprobe_core::{ModelError, Purpose, SeedStream};

/// Where ‖e_t‖² comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L2Source {
    /// The oracle's exact error by Monte Carlo when the model is synthetic, else vector features.
    Auto,
    /// Always the vector random-feature critic (denoising form, no true score).
    VectorFeatures,
}

#[derive(Clone, Debug)]
pub struct RfConfig {
    /// Samples per time for the gradient part (split into two folds); the L² part uses as many again.
    pub n: usize,
    /// Random Fourier features.
    pub features: usize,
    /// Range of lengthscales, in units of the per-coordinate std of x_t (log-uniform).
    pub lengthscales: (f64, f64),
    /// Polynomial potentials added to the features: None = 2 for d ≤ 16, else 1.
    pub poly_degree: Option<usize>,
    /// Relative ridge ρ/(tr M/dim M); None = chosen by 5-fold cross-validation inside each fit fold.
    pub ridge: Option<f64>,
    pub identity: Identity,
    pub l2: L2Source,
}

impl RfConfig {
    pub fn validate(&self) -> Result<(), HodgeError> {
        let (lo, hi) = self.lengthscales;
        if self.n < 4 * INNER {
            return Err(HodgeError::invalid(
                "random-features",
                format!("need n ≥ {} samples, got {}", 4 * INNER, self.n),
            ));
        }
        if !(lo > 0.0 && hi >= lo && hi.is_finite()) {
            return Err(HodgeError::invalid(
                "random-features",
                format!("need 0 < lengthscales.0 ≤ lengthscales.1, got ({lo}, {hi})"),
            ));
        }
        if let Some(r) = self.ridge {
            if !(r >= 0.0 && r.is_finite()) {
                return Err(HodgeError::invalid("random-features", format!("ridge must be ≥ 0, got {r}")));
            }
        }
        Ok(())
    }
}

impl Default for RfConfig {
    fn default() -> Self {
        Self {
            n: 40_000,
            features: 128,
            lengthscales: (0.25, 2.0),
            poly_degree: None,
            ridge: None,
            identity: Identity::Denoising,
            l2: L2Source::Auto,
        }
    }
}

/// A dictionary of scalar features on R^d.
#[derive(Clone, Debug)]
pub struct Features {
    center: Array1<f64>,
    scale: f64,
    /// (J, d) frequencies and (J,) phases.
    omega: Array2<f64>,
    phase: Array1<f64>,
    poly: usize,
}

impl Features {
    /// Draws the dictionary for data like `x` (rows).
    pub fn new<R: Rng + ?Sized>(x: ArrayView2<f64>, cfg: &RfConfig, rng: &mut R) -> Self {
        let d = x.ncols();
        let center = x.mean_axis(Axis(0)).expect("non-empty");
        let var = x.var_axis(Axis(0), 0.0).mean().unwrap_or(1.0);
        let scale = if var > 0.0 && var.is_finite() { var.sqrt() } else { 1.0 };
        let (lo, hi) = (cfg.lengthscales.0.ln(), cfg.lengthscales.1.ln());
        let j = cfg.features;
        let z = standard_normal(j, d, rng);
        let mut omega = Array2::zeros((j, d));
        for (mut row, zr) in omega.rows_mut().into_iter().zip(z.rows()) {
            let ell = scale * (lo + (hi - lo) * rng.random::<f64>()).exp();
            row.assign(&(&zr / ell));
        }
        let phase = Array1::from_shape_fn(j, |_| rng.random::<f64>() * std::f64::consts::TAU);
        let poly = cfg.poly_degree.unwrap_or(if d <= 16 { 2 } else { 1 });
        Self { center, scale, omega, phase, poly }
    }

    pub fn dim(&self) -> usize {
        self.center.len()
    }

    /// Number of scalar potentials.
    pub fn len(&self) -> usize {
        let d = self.dim();
        self.omega.nrows() + if self.poly >= 1 { d } else { 0 } + if self.poly >= 2 { d * (d + 1) / 2 } else { 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Which basis functions of a critic form are random Fourier features (the rest are polynomial).
    pub fn fourier_columns(&self, form: CriticForm) -> Vec<bool> {
        let (j, nf) = (self.omega.nrows(), self.basis_len(form));
        match form {
            CriticForm::Gradient => (0..nf).map(|c| c < j).collect(),
            CriticForm::Vector => (0..nf).map(|c| c >= nf - j).collect(),
        }
    }

    /// Number of basis functions for a critic form.
    pub fn basis_len(&self, form: CriticForm) -> usize {
        match form {
            CriticForm::Gradient => self.len(),
            CriticForm::Vector => 1 + self.dim() + self.omega.nrows(),
        }
    }

    /// Gradients of every potential at each row: (m·d, F), row i·d + k holds ∂_k φ_·(x_i); with
    /// `laplacian`, also Δφ_· at each row (m, F).
    pub fn gradients(&self, x: ArrayView2<f64>, laplacian: bool) -> (Array2<f64>, Option<Array2<f64>>) {
        let (m, d) = x.dim();
        let y = &x - &self.center.view().insert_axis(Axis(0));
        let arg = y.dot(&self.omega.t()) + self.phase.view().insert_axis(Axis(0)); // (m, J)
        let j = self.omega.nrows();
        let nf = self.len();
        let mut g = Array2::zeros((m * d, nf));
        let sin = arg.mapv(f64::sin);
        for k in 0..d {
            let mut gk = g.slice_mut(s![k..;d, ..j]);
            gk.assign(&sin);
            gk *= &self.omega.column(k).mapv(|w| -w).view().insert_axis(Axis(0));
        }
        let mut lap = laplacian.then(|| Array2::zeros((m, nf)));
        if let Some(l) = lap.as_mut() {
            let w2 = self.omega.mapv(|w| w * w).sum_axis(Axis(1)).mapv(|w| -w);
            l.slice_mut(s![.., ..j]).assign(&(arg.mapv(f64::cos) * w2.view().insert_axis(Axis(0))));
        }
        let (s1, s2) = (1.0 / self.scale, 1.0 / (self.scale * self.scale));
        let mut col = j;
        if self.poly >= 1 {
            for k in 0..d {
                g.slice_mut(s![k..;d, col]).fill(s1);
                col += 1;
            }
        }
        if self.poly >= 2 {
            for k in 0..d {
                for l in k..d {
                    // φ = y_k y_l / s² (k < l), y_k² / (2s²) (k = l); Δφ = 1/s² when k = l
                    g.slice_mut(s![k..;d, col]).scaled_add(s2, &y.column(l));
                    if l != k {
                        g.slice_mut(s![l..;d, col]).scaled_add(s2, &y.column(k));
                    } else if let Some(lp) = lap.as_mut() {
                        lp.column_mut(col).fill(s2);
                    }
                    col += 1;
                }
            }
        }
        (g, lap)
    }

    /// Values of the scalar basis for vector critics, (m, 1 + d + J) = [1, y/s, cos(ω·y + b)];
    /// with `derivs`, also ∂_k f_j as (m, (1 + d + J)·d), column j·d + k.
    pub fn values(&self, x: ArrayView2<f64>, derivs: bool) -> (Array2<f64>, Option<Array2<f64>>) {
        let (m, d) = x.dim();
        let y = &x - &self.center.view().insert_axis(Axis(0));
        let arg = y.dot(&self.omega.t()) + self.phase.view().insert_axis(Axis(0));
        let nf = 1 + d + self.omega.nrows();
        let mut v = Array2::zeros((m, nf));
        v.column_mut(0).fill(1.0);
        v.slice_mut(s![.., 1..1 + d]).assign(&(&y / self.scale));
        v.slice_mut(s![.., 1 + d..]).assign(&arg.mapv(f64::cos));
        let dv = derivs.then(|| {
            let mut dv = Array2::zeros((m, nf * d));
            for i in 0..m {
                for k in 0..d {
                    dv[[i, (1 + k) * d + k]] = 1.0 / self.scale;
                }
                for (jj, a) in arg.row(i).iter().enumerate() {
                    let sn = a.sin();
                    for k in 0..d {
                        dv[[i, (1 + d + jj) * d + k]] = -sn * self.omega[[jj, k]];
                    }
                }
            }
            dv
        });
        (v, dv)
    }
}

/// How features enter: scalar potentials (gradient part) or a vector field (full error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CriticForm {
    Gradient,
    Vector,
}

/// Which identity removes the unknown true score from E_p[e·h] (as an option: `denoising` | `ibp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Identity {
    /// SPEC §5: E_p[e·h] = E[(s_θ(x_t) + ξ/σ_t)·h(x_t)] over x_t = α_t x₀ + σ_t ξ (the default).
    Denoising,
    /// Integration by parts (Hyvärinen): E_p[e·h] = E_p[s_θ·h + ∇·h]; no ξ, so no posterior noise
    /// Cov(ξ | x_t) ≈ I at small t — far lower variance there. Needs ∇·h, exact for these features.
    #[serde(rename = "ibp")]
    #[value(name = "ibp")]
    IntegrationByParts,
}

impl Identity {
    pub fn name(self) -> &'static str {
        match self {
            Identity::Denoising => "denoising",
            Identity::IntegrationByParts => "integration-by-parts",
        }
    }
}

const CHUNK: usize = 1024;
/// Sub-blocks per fold for the inner cross-validation of the ridge.
const INNER: usize = 5;
/// Relative ridge candidates ρ/(tr M/dim M); `None` is the zero critic (ρ = ∞).
const RIDGES: [Option<f64>; 12] = [
    Some(1e-9),
    Some(1e-7),
    Some(1e-5),
    Some(1e-4),
    Some(1e-3),
    Some(1e-2),
    Some(0.1),
    Some(1.0),
    Some(10.0),
    Some(100.0),
    Some(1e4),
    None,
];

/// Per-chunk design: g (m·d, F) for gradient critics or (m, F) for vector critics, and the linear
/// terms ℓ (m, F·q) with c = E[ℓ] (q = 1 or d): ℓ_i = gᵢᵀwᵢ (+ σ·divergence terms for IBP), where
/// w = u = ξ + σs_θ (denoising) or w = σs_θ (integration by parts).
fn chunk_design(
    f: &Features,
    form: CriticForm,
    id: Identity,
    sigma: f64,
    x: ArrayView2<f64>,
    w: ArrayView2<f64>,
) -> (Array2<f64>, Array2<f64>) {
    let (m, d) = x.dim();
    let ibp = id == Identity::IntegrationByParts;
    match form {
        CriticForm::Gradient => {
            let (g, lap) = f.gradients(x, ibp);
            let nf = g.ncols();
            let mut ell = lap.unwrap_or_else(|| Array2::zeros((m, nf)));
            if ibp {
                ell *= sigma;
            }
            for k in 0..d {
                ell += &(&g.slice(s![k..;d, ..]) * &w.column(k).insert_axis(Axis(1)));
            }
            (g, ell)
        }
        CriticForm::Vector => {
            let (v, dv) = f.values(x, ibp);
            let nf = v.ncols();
            let outer = &v.view().insert_axis(Axis(2)) * &w.insert_axis(Axis(1)); // (m, nf, d)
            let outer = if outer.is_standard_layout() { outer } else { outer.as_standard_layout().into_owned() };
            let mut ell = outer.into_shape_with_order((m, nf * d)).expect("standard layout");
            if let Some(dv) = dv {
                ell.scaled_add(sigma, &dv);
            }
            (v, ell)
        }
    }
}

/// Sufficient statistics of a block of samples: M = E[gᵀg] (F, F), C = E[ℓ] as (F, q).
struct Block {
    m: Array2<f64>,
    c: Array2<f64>,
}

fn block_stats(
    f: &Features,
    form: CriticForm,
    id: Identity,
    sigma: f64,
    x: ArrayView2<f64>,
    w: ArrayView2<f64>,
) -> Block {
    let nf = f.basis_len(form);
    let q = if form == CriticForm::Gradient { 1 } else { x.ncols() };
    let zero = || (Array2::<f64>::zeros((nf, nf)), Array1::<f64>::zeros(nf * q));
    // Chunks in parallel, their sums added in chunk order (a parallel reduce would add them in an
    // order that depends on work stealing: same seed, different last bits).
    let parts: Vec<(Array2<f64>, Array1<f64>)> = x
        .axis_chunks_iter(Axis(0), CHUNK)
        .into_par_iter()
        .zip(w.axis_chunks_iter(Axis(0), CHUNK))
        .map(|(xc, wc)| {
            let (g, ell) = chunk_design(f, form, id, sigma, xc, wc);
            (g.t().dot(&g), ell.sum_axis(Axis(0)))
        })
        .collect();
    let (m, c) = parts.into_iter().fold(zero(), |(m1, c1), (m2, c2)| (m1 + m2, c1 + c2));
    let n = x.nrows().max(1) as f64;
    Block { m: m / n, c: (c / n).into_shape_with_order((nf, q)).expect("contiguous") }
}

/// a = (M + R)⁻¹C, R diagonal: ρ = rel·(mean Fourier diagonal of M) on the Fourier columns and
/// 1e-10·M_jj on the polynomial ones (left essentially free: the few low-order potentials are
/// well determined, and shrinking them would bias the estimate low); `None` gives a = 0.
fn ridge_solve(
    m: &Array2<f64>,
    c: &Array2<f64>,
    fourier: &[bool],
    rel: Option<f64>,
) -> Result<Array2<f64>, HodgeError> {
    let Some(rel) = rel else { return Ok(Array2::zeros(c.raw_dim())) };
    let k = m.nrows();
    let nfour = fourier.iter().filter(|f| **f).count().max(1);
    let scale = (0..k).filter(|&j| fourier[j]).map(|j| m[[j, j]]).sum::<f64>() / nfour as f64;
    let mut reg = symmetrize(m.view());
    for j in 0..k {
        reg[[j, j]] += if fourier[j] { rel * scale } else { 1e-10 * m[[j, j]] } + 1e-300;
    }
    let l = cholesky(reg.view(), "random-feature Gram matrix")?;
    Ok(cholesky_solve(&l, c))
}

/// Solves L Lᵀ a = c column by column (L lower triangular).
fn cholesky_solve(l: &Array2<f64>, c: &Array2<f64>) -> Array2<f64> {
    let k = l.nrows();
    let ls = l.as_standard_layout();
    let ls = ls.as_slice().expect("standard layout");
    let mut out = Array2::zeros(c.raw_dim());
    for col in 0..c.ncols() {
        let mut y: Vec<f64> = c.column(col).to_vec();
        for i in 0..k {
            let row = &ls[i * k..i * k + i];
            let acc: f64 = row.iter().zip(&y[..i]).map(|(a, b)| a * b).sum();
            y[i] = (y[i] - acc) / ls[i * k + i];
        }
        for i in (0..k).rev() {
            let mut acc = 0.0;
            for (r, yr) in y.iter().enumerate().skip(i + 1) {
                acc += ls[r * k + i] * yr;
            }
            y[i] = (y[i] - acc) / ls[i * k + i];
        }
        out.column_mut(col).assign(&Array1::from(y));
    }
    out
}

/// The objective 2 tr(aᵀC) − tr(aᵀMa) of coefficients `a` on a block's statistics.
fn objective(b: &Block, a: &Array2<f64>) -> f64 {
    2.0 * (a * &b.c).sum() - (a * &b.m.dot(a)).sum()
}

fn mean_block(blocks: &[&Block]) -> Block {
    let k = blocks.len() as f64;
    let mut m = blocks[0].m.clone();
    let mut c = blocks[0].c.clone();
    for b in &blocks[1..] {
        m += &b.m;
        c += &b.c;
    }
    Block { m: m / k, c: c / k }
}

/// Fits on equally sized blocks: the ridge (if not given) by inner cross-validation over the
/// blocks, then the coefficients on all of them. Returns (a, relative ridge or None for a = 0).
fn fit(blocks: &[Block], fourier: &[bool], ridge: Option<f64>) -> Result<(Array2<f64>, Option<f64>), HodgeError> {
    let all = mean_block(&blocks.iter().collect::<Vec<_>>());
    let rel = match ridge {
        Some(r) => Some(r),
        None => {
            let mut best = (f64::NEG_INFINITY, None);
            for cand in RIDGES {
                let mut score = 0.0;
                for k in 0..blocks.len() {
                    let rest: Vec<&Block> =
                        blocks.iter().enumerate().filter(|(i, _)| *i != k).map(|(_, b)| b).collect();
                    let train = mean_block(&rest);
                    score += objective(&blocks[k], &ridge_solve(&train.m, &train.c, fourier, cand)?);
                }
                if score > best.0 {
                    best = (score, cand);
                }
            }
            best.1
        }
    };
    Ok((ridge_solve(&all.m, &all.c, fourier, rel)?, rel))
}

/// Per-sample held-out terms 2ℓᵢ·a − |hᵢ|² with hᵢ the critic's field at xᵢ.
#[allow(clippy::too_many_arguments)]
fn heldout_terms(
    f: &Features,
    form: CriticForm,
    id: Identity,
    sigma: f64,
    x: ArrayView2<f64>,
    w: ArrayView2<f64>,
    a: &Array2<f64>,
) -> Vec<f64> {
    let d = x.ncols();
    let flat_a = a.iter().copied().collect::<Array1<f64>>();
    x.axis_chunks_iter(Axis(0), CHUNK)
        .into_par_iter()
        .zip(w.axis_chunks_iter(Axis(0), CHUNK))
        .flat_map_iter(|(xc, wc)| {
            let (g, ell) = chunk_design(f, form, id, sigma, xc, wc);
            let h = match form {
                CriticForm::Gradient => g.dot(a).into_shape_with_order((xc.nrows(), d)).expect("contiguous"),
                CriticForm::Vector => g.dot(a),
            };
            let lin = ell.dot(&flat_a);
            let hh = h.mapv(|v| v * v).sum_axis(Axis(1));
            (0..xc.nrows()).map(move |i| 2.0 * lin[i] - hh[i]).collect::<Vec<_>>()
        })
        .collect()
}

/// Samples at time t: x_t ~ p_t, and w = ξ + σ_t s_θ(x_t) (denoising) or σ_t s_θ(x_t) (IBP).
pub fn critic_samples(
    problem: &Problem,
    t: f64,
    n: usize,
    id: Identity,
    rng: &mut ChaCha8Rng,
) -> Result<(Array2<f64>, Array2<f64>), ModelError> {
    let x0 = problem.draw_x0(n, rng);
    let xi = standard_normal(n, problem.dim(), rng);
    let noised = NoisedBatch::new(x0.view(), xi, problem.schedule, t);
    let s = noised.scaled_score(problem.model)?;
    let w = match id {
        Identity::Denoising => denoising_target(noised.xi, s),
        Identity::IntegrationByParts => s,
    };
    Ok((noised.x, w))
}

/// A held-out critic value in ε-units with what went into it.
#[derive(Clone, Debug)]
pub struct CriticFit {
    /// σ_t²‖∇φ_t‖² (gradient form) or σ_t²‖e_t‖² (vector form), with SE over the held-out terms.
    pub value: Estimate,
    /// Relative ridges chosen on the two folds (None: the zero critic won).
    pub ridges: [Option<f64>; 2],
    pub features: usize,
}

/// The held-out critic value in ε-units (σ_t²‖∇φ_t‖² or σ_t²‖e_t‖²) at time t, with its SE.
pub fn critic_value(
    problem: &Problem,
    t: f64,
    form: CriticForm,
    cfg: &RfConfig,
    seed: u64,
) -> Result<CriticFit, HodgeError> {
    check_time(t)?;
    cfg.validate()?;
    let sigma = problem.schedule.sigma(t);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (xt, w) = critic_samples(problem, t, cfg.n, cfg.identity, &mut rng).map_err(HodgeError::model_at(t))?;
    let feats = Features::new(xt.view(), cfg, &mut rng);
    // 2 folds × INNER blocks of equal size (a remainder of < 2·INNER samples is dropped)
    let bs = cfg.n / (2 * INNER);
    let blocks: Vec<Block> = (0..2 * INNER)
        .map(|b| {
            let r = s![b * bs..(b + 1) * bs, ..];
            block_stats(&feats, form, cfg.identity, sigma, xt.slice(r), w.slice(r))
        })
        .collect();
    let fourier = feats.fourier_columns(form);
    let (a_a, r_a) = fit(&blocks[..INNER], &fourier, cfg.ridge)?;
    let (a_b, r_b) = fit(&blocks[INNER..], &fourier, cfg.ridge)?;
    let (fa, fb) = (s![..INNER * bs, ..], s![INNER * bs..2 * INNER * bs, ..]);
    let mut terms = heldout_terms(&feats, form, cfg.identity, sigma, xt.slice(fb), w.slice(fb), &a_a);
    terms.extend(heldout_terms(&feats, form, cfg.identity, sigma, xt.slice(fa), w.slice(fa), &a_b));
    Ok(CriticFit { value: mean_se(terms), ridges: [r_a, r_b], features: feats.basis_len(form) })
}

/// The `random-features` estimator.
#[derive(Clone, Debug, Default)]
pub struct RandomFeatures {
    pub config: RfConfig,
}

impl HodgeEstimator for RandomFeatures {
    fn kind(&self) -> EstimatorKind {
        EstimatorKind::RandomFeatures
    }

    fn applies(&self, _problem: &Problem) -> Result<(), NotApplicable> {
        Ok(())
    }

    fn point(&self, problem: &Problem, t: f64, seed: u64) -> Result<HodgePoint, HodgeError> {
        let sigma2 = problem.schedule.sigma2(t);
        let g = critic_value(problem, t, CriticForm::Gradient, &self.config, seed)?.value.scaled(1.0 / sigma2);
        let l2_seed = SeedStream::new(seed).derive(Purpose::L2);
        let (l2, method) = match (self.config.l2, problem.oracle) {
            (L2Source::Auto, Some(oracle)) => {
                let (v, se) = oracle.l2_error_mc(t, self.config.n, l2_seed);
                (Estimate { value: v, se, samples: self.config.n }, "oracle Monte Carlo (exact e_t)")
            }
            _ => (
                critic_value(problem, t, CriticForm::Vector, &self.config, l2_seed)?.value.scaled(1.0 / sigma2),
                match self.config.identity {
                    Identity::Denoising => "vector random features (denoising identity)",
                    Identity::IntegrationByParts => "vector random features (integration by parts)",
                },
            ),
        };
        Ok(HodgePoint::new(t, sigma2, l2, g, method))
    }
}
