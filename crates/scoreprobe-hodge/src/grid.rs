//! Grid oracle (SPEC §5, d ≤ 2): finite-volume solve of ∇·(p_t∇φ) = ∇·(p_t e_t).
//!
//! Cells of a box covering p_t (± `half_width_std` component standard deviations) carry φ; each
//! interior face f carries the density p_f and the normal error component e_f at its midpoint.
//! With the face differences (Dφ)_f = (φ_right − φ_left)/h and face weights W_f = p_f·|cell|,
//! the discrete gradient part is the W-weighted least-squares projection of e onto the range of
//! D: minimise Σ_f W_f ((Dφ)_f − e_f)², i.e. DᵀWD φ = DᵀW e — the finite-volume weighted Poisson
//! equation with zero flux through the box boundary (no boundary faces). The constant is fixed
//! by taking the mean-zero solution. Solved by conjugate gradients with a Jacobi preconditioner.
//!
//! ‖e‖² ≈ Σ_f W_f e_f² and ‖∇φ‖² ≈ Σ_f W_f (Dφ)_f² (midpoint quadrature per face direction), so
//! the discrete split is itself an orthogonal decomposition: 0 ≤ gradient ≤ l2 always. Both are
//! second-order accurate in h; refinement is tested against the Gaussian closed form.

use crate::error::{HodgeError, NotApplicable};
use crate::problem::{check_time, EstimatorKind, HodgeEstimator, Problem};
use crate::{Estimate, HodgePoint};
use ndarray::Array2;
use scoreprobe_core::distribution::GaussianMixture;
use scoreprobe_core::linalg::sym_eigenvalues;
use scoreprobe_core::model::score_checked;
use scoreprobe_core::schedule::Schedule;
use scoreprobe_core::ScoreModel;

#[derive(Clone, Debug)]
pub struct GridConfig {
    /// Cells per smallest component standard deviation of p_t (sets h).
    pub cells_per_std: f64,
    /// Cap on cells per axis (h grows beyond it; reported).
    pub max_cells_per_axis: usize,
    /// Half-width of the box around each component, in its standard deviations along the axis.
    pub half_width_std: f64,
    /// Relative residual tolerance of preconditioned CG.
    pub tol: f64,
    pub max_iter: usize,
    /// Faces where p_t < density_cutoff · max p_t are dropped.
    pub density_cutoff: f64,
}

impl Default for GridConfig {
    fn default() -> Self {
        Self {
            cells_per_std: 8.0,
            max_cells_per_axis: 640,
            half_width_std: 6.0,
            tol: 1e-9,
            max_iter: 20_000,
            density_cutoff: 1e-13,
        }
    }
}

/// The result of one grid solve.
#[derive(Clone, Debug)]
pub struct GridSolution {
    /// ‖e_t‖² by face-midpoint quadrature.
    pub l2: f64,
    /// ‖∇φ_t‖² of the discrete projection.
    pub gradient: f64,
    /// Cells per axis (1 on the second axis in d = 1).
    pub cells: [usize; 2],
    pub h: [f64; 2],
    pub lo: [f64; 2],
    pub iterations: usize,
    /// Final relative preconditioned residual.
    pub residual: f64,
    /// φ on the cells, row-major (i along axis 0 is the slow index), mean zero.
    pub phi: Vec<f64>,
}

/// Box and spacing covering p_t for a d ≤ 2 mixture.
fn layout(target: &GaussianMixture, schedule: &Schedule, t: f64, cfg: &GridConfig) -> ([usize; 2], [f64; 2], [f64; 2]) {
    let d = target.dim();
    let (a, s2) = (schedule.alpha(t), schedule.sigma2(t));
    let mut lo = [0.0, 0.0];
    let mut hi = [0.0, 0.0];
    let mut min_std = f64::INFINITY;
    for (k, (m, c)) in target.means().iter().zip(target.covs()).enumerate() {
        let ct = c * (a * a) + Array2::<f64>::eye(d) * s2;
        let lam = sym_eigenvalues(ct.view());
        min_std = min_std.min(lam[0].max(0.0).sqrt());
        for ax in 0..d {
            let sd = ct[[ax, ax]].sqrt();
            let (l, u) = (a * m[ax] - cfg.half_width_std * sd, a * m[ax] + cfg.half_width_std * sd);
            if k == 0 || l < lo[ax] {
                lo[ax] = l;
            }
            if k == 0 || u > hi[ax] {
                hi[ax] = u;
            }
        }
    }
    let h_want = min_std / cfg.cells_per_std;
    let mut cells = [1, 1];
    let mut h = [1.0, 1.0];
    for ax in 0..d {
        let n = ((hi[ax] - lo[ax]) / h_want).ceil().max(4.0) as usize;
        cells[ax] = n.min(cfg.max_cells_per_axis);
        h[ax] = (hi[ax] - lo[ax]) / cells[ax] as f64;
    }
    (cells, h, lo)
}

/// Solves the weighted Poisson problem for the error e = s_θ − ∇log p_t of `model` on `target`.
pub fn grid_split(
    target: &GaussianMixture,
    model: &dyn ScoreModel,
    schedule: &Schedule,
    t: f64,
    cfg: &GridConfig,
) -> Result<GridSolution, HodgeError> {
    check_time(t)?;
    let d = check_inputs(target, model, cfg)?;
    let (cells, h, lo) = layout(target, schedule, t, cfg);
    let faces = Faces::new(cells, h, d);
    let vol = if d == 2 { h[0] * h[1] } else { h[0] };
    let marg = target.marginal(schedule, t);

    let pts = faces.midpoints(lo);
    let logp = marg.log_density(pts.view());
    let err = score_checked(model, pts.view(), t).map_err(HodgeError::model_at(t))? - marg.score(pts.view());
    // W_f and e_f per face; faces with negligible density are dropped (weight 0): they carry no
    // L² mass, and keeping them would only leave φ undetermined (huge, round-off-dominated) there
    let lmax = logp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let cut = lmax + cfg.density_cutoff.ln();
    let w: Vec<f64> = logp.iter().map(|&l| if l >= cut { l.exp() * vol } else { 0.0 }).collect();
    let ef: Vec<f64> = (0..faces.count()).map(|r| err[[r, if r < faces.nf0 { 0 } else { 1 }]]).collect();
    let l2: f64 = w.iter().zip(&ef).map(|(w, e)| w * e * e).sum();

    let (b, diag) = faces.rhs_and_diagonal(&w, &ef);
    let coef: Vec<f64> = (0..faces.count()).map(|r| w[r] / (faces.ends(r).2 * faces.ends(r).2)).collect();
    let apply = |x: &[f64], y: &mut [f64]| faces.apply(&coef, x, y);
    let inv_diag: Vec<f64> = diag.iter().map(|v| if *v > 0.0 { 1.0 / v } else { 0.0 }).collect();
    let (mut phi, iterations, residual) = pcg(&apply, &b, &inv_diag, cfg.tol, cfg.max_iter);
    let nc = faces.cells();
    let mean_phi = phi.iter().sum::<f64>() / nc as f64;
    phi.iter_mut().for_each(|v| *v -= mean_phi);

    // value 2bᵀφ − φᵀAφ: a lower bound that converges quadratically in the solver error
    let mut aphi = vec![0.0; nc];
    apply(&phi, &mut aphi);
    let btphi: f64 = b.iter().zip(&phi).map(|(x, y)| x * y).sum();
    let phiaphi: f64 = phi.iter().zip(&aphi).map(|(x, y)| x * y).sum();
    let gradient = (2.0 * btphi - phiaphi).clamp(0.0, l2);
    Ok(GridSolution { l2, gradient, cells, h, lo, iterations, residual, phi })
}

/// The dimension of the problem, once the target, the model and the options fit a grid solve.
fn check_inputs(target: &GaussianMixture, model: &dyn ScoreModel, cfg: &GridConfig) -> Result<usize, HodgeError> {
    let d = target.dim();
    if d > 2 {
        return Err(HodgeError::invalid("grid", format!("the grid solve needs d ≤ 2, got d = {d}")));
    }
    if model.dim() != d {
        return Err(HodgeError::invalid(
            "grid",
            format!("the model has dimension {} but the target has dimension {d}", model.dim()),
        ));
    }
    if !(cfg.cells_per_std > 0.0
        && cfg.half_width_std > 0.0
        && cfg.max_cells_per_axis >= 4
        && (0.0..1.0).contains(&cfg.density_cutoff))
    {
        return Err(HodgeError::invalid(
            "grid",
            format!(
                "need cells_per_std > 0, half_width_std > 0, max_cells_per_axis ≥ 4, 0 ≤ density_cutoff < 1: {cfg:?}"
            ),
        ));
    }
    Ok(d)
}

/// The faces between cells of an n0 × n1 grid (n1 = 1 in 1-D): axis-0 faces (n0−1)·n1 first,
/// then axis-1 faces n0·(n1−1).
struct Faces {
    n0: usize,
    n1: usize,
    nf0: usize,
    nf1: usize,
    h: [f64; 2],
    d: usize,
}

impl Faces {
    fn new([n0, n1]: [usize; 2], h: [f64; 2], d: usize) -> Self {
        Faces { n0, n1, nf0: (n0 - 1) * n1, nf1: if d == 2 { n0 * (n1 - 1) } else { 0 }, h, d }
    }

    fn count(&self) -> usize {
        self.nf0 + self.nf1
    }

    fn cells(&self) -> usize {
        self.n0 * self.n1
    }

    /// The midpoint of every face, in face order.
    fn midpoints(&self, lo: [f64; 2]) -> Array2<f64> {
        let (n0, n1, h, d) = (self.n0, self.n1, self.h, self.d);
        let mut pts = Array2::<f64>::zeros((self.count(), d));
        for i in 0..n0 - 1 {
            for j in 0..n1 {
                let r = i * n1 + j;
                pts[[r, 0]] = lo[0] + (i + 1) as f64 * h[0];
                if d == 2 {
                    pts[[r, 1]] = lo[1] + (j as f64 + 0.5) * h[1];
                }
            }
        }
        for i in 0..n0 {
            for j in 0..n1.saturating_sub(1) {
                let r = self.nf0 + i * (n1 - 1) + j;
                pts[[r, 0]] = lo[0] + (i as f64 + 0.5) * h[0];
                pts[[r, 1]] = lo[1] + (j + 1) as f64 * h[1];
            }
        }
        pts
    }

    /// Face r's lower cell, upper cell and spacing.
    fn ends(&self, r: usize) -> (usize, usize, f64) {
        let n1 = self.n1;
        if r < self.nf0 {
            let (i, j) = (r / n1, r % n1);
            (i * n1 + j, (i + 1) * n1 + j, self.h[0])
        } else {
            let q = r - self.nf0;
            let (i, j) = (q / (n1 - 1), q % (n1 - 1));
            (i * n1 + j, i * n1 + j + 1, self.h[1])
        }
    }

    /// The right-hand side b = DᵀW e (centred: the Neumann problem's compatibility) and the
    /// Jacobi diagonal of A = DᵀWD.
    fn rhs_and_diagonal(&self, w: &[f64], ef: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let nc = self.cells();
        let mut b = vec![0.0; nc];
        let mut diag = vec![0.0; nc];
        for r in 0..self.count() {
            let (l, u, hf) = self.ends(r);
            let flux = w[r] * ef[r] / hf;
            b[u] += flux;
            b[l] -= flux;
            let c = w[r] / (hf * hf);
            diag[l] += c;
            diag[u] += c;
        }
        let mean_b = b.iter().sum::<f64>() / nc as f64;
        b.iter_mut().for_each(|v| *v -= mean_b);
        (b, diag)
    }

    /// y = A x with face coefficients `coef` = W_f / h_f².
    fn apply(&self, coef: &[f64], x: &[f64], y: &mut [f64]) {
        let (n0, n1, nf0) = (self.n0, self.n1, self.nf0);
        y.iter_mut().for_each(|v| *v = 0.0);
        for i in 0..n0 {
            for j in 0..n1 {
                let c = i * n1 + j;
                let mut acc = 0.0;
                if i + 1 < n0 {
                    acc += coef[i * n1 + j] * (x[c] - x[c + n1]);
                }
                if i > 0 {
                    acc += coef[(i - 1) * n1 + j] * (x[c] - x[c - n1]);
                }
                if self.d == 2 {
                    if j + 1 < n1 {
                        acc += coef[nf0 + i * (n1 - 1) + j] * (x[c] - x[c + 1]);
                    }
                    if j > 0 {
                        acc += coef[nf0 + i * (n1 - 1) + j - 1] * (x[c] - x[c - 1]);
                    }
                }
                y[c] = acc;
            }
        }
    }
}

/// Jacobi-preconditioned conjugate gradients from zero: (x, iterations, relative residual).
fn pcg(
    apply: &dyn Fn(&[f64], &mut [f64]),
    b: &[f64],
    inv_diag: &[f64],
    tol: f64,
    max_iter: usize,
) -> (Vec<f64>, usize, f64) {
    let n = b.len();
    let dot = |a: &[f64], c: &[f64]| a.iter().zip(c).map(|(x, y)| x * y).sum::<f64>();
    let mut x = vec![0.0; n];
    let mut r = b.to_vec();
    let mut z: Vec<f64> = r.iter().zip(inv_diag).map(|(r, m)| r * m).collect();
    let mut p = z.clone();
    let mut rz = dot(&r, &z);
    let rz0 = rz.max(f64::MIN_POSITIVE);
    let mut ap = vec![0.0; n];
    let mut it = 0;
    while it < max_iter && rz > tol * tol * rz0 {
        apply(&p, &mut ap);
        let pap = dot(&p, &ap);
        if pap <= 0.0 {
            break;
        }
        let alpha = rz / pap;
        for i in 0..n {
            x[i] += alpha * p[i];
            r[i] -= alpha * ap[i];
            z[i] = r[i] * inv_diag[i];
        }
        let rz_new = dot(&r, &z);
        let beta = rz_new / rz;
        rz = rz_new;
        for i in 0..n {
            p[i] = z[i] + beta * p[i];
        }
        it += 1;
    }
    (x, it, (rz.max(0.0) / rz0).sqrt())
}

/// The `grid` estimator.
#[derive(Clone, Debug, Default)]
pub struct Grid {
    pub config: GridConfig,
}

impl HodgeEstimator for Grid {
    fn kind(&self) -> EstimatorKind {
        EstimatorKind::Grid
    }

    fn applies(&self, problem: &Problem) -> Result<(), NotApplicable> {
        let target = problem
            .target()
            .ok_or_else(|| NotApplicable("it needs an exact-score target (p_t and e_t on the grid)".into()))?;
        if target.dim() > 2 {
            return Err(NotApplicable(format!("it needs dimension d ≤ 2, and this problem has d = {}", target.dim())));
        }
        Ok(())
    }

    fn point(&self, problem: &Problem, t: f64, _seed: u64) -> Result<HodgePoint, HodgeError> {
        self.applies(problem).map_err(|why| HodgeError::invalid("grid", why.0))?;
        let target = problem.target().expect("checked");
        let sol = grid_split(target, problem.model, problem.schedule, t, &self.config)?;
        let cells = sol.cells[0] * sol.cells[1];
        let mut p = HodgePoint::new(
            t,
            problem.schedule.sigma2(t),
            Estimate { value: sol.l2, se: 0.0, samples: cells },
            Estimate { value: sol.gradient, se: 0.0, samples: cells },
            "grid face-midpoint quadrature",
        );
        p.samples = cells;
        Ok(p)
    }
}
