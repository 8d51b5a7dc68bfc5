//! Small dense linear algebra in f64 on ndarray matrices, backed by faer's factorisations.
//!
//! Everything statistical in scoreprobe holds matrices as `ndarray::Array2<f64>`; these helpers
//! convert to faer for the factorisations (Cholesky, self-adjoint eigendecomposition) and back.

use crate::error::{CoreError, MatrixProblem};
use faer::{Mat, MatRef, Side};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

pub fn to_faer(a: ArrayView2<f64>) -> Mat<f64> {
    Mat::from_fn(a.nrows(), a.ncols(), |i, j| a[[i, j]])
}

pub fn from_faer(m: MatRef<'_, f64>) -> Array2<f64> {
    Array2::from_shape_fn((m.nrows(), m.ncols()), |(i, j)| m[(i, j)])
}

/// Largest |a_ij − a_ji| relative to the largest |a_ij|.
pub fn asymmetry(a: ArrayView2<f64>) -> f64 {
    let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
    let mut worst = 0.0f64;
    for i in 0..a.nrows() {
        for j in 0..i {
            worst = worst.max((a[[i, j]] - a[[j, i]]).abs());
        }
    }
    worst / scale
}

/// (A + Aᵀ)/2.
pub fn symmetrize(a: ArrayView2<f64>) -> Array2<f64> {
    (&a + &a.t()) * 0.5
}

/// Self-adjoint eigendecomposition of a symmetric matrix: (eigenvalues ascending, eigenvectors as columns).
pub fn sym_eigen(a: ArrayView2<f64>) -> (Array1<f64>, Array2<f64>) {
    let n = a.nrows();
    if n == 0 {
        return (Array1::zeros(0), Array2::zeros((0, 0)));
    }
    let m = to_faer(symmetrize(a).view());
    let evd = m.self_adjoint_eigen(Side::Lower).expect("self-adjoint eigendecomposition of a finite symmetric matrix");
    let s = evd.S();
    let vals = Array1::from_shape_fn(n, |i| s[i]);
    let vecs = from_faer(evd.U());
    (vals, vecs)
}

/// Eigenvalues only (ascending) of a symmetric matrix.
pub fn sym_eigenvalues(a: ArrayView2<f64>) -> Array1<f64> {
    if a.nrows() == 0 {
        return Array1::zeros(0);
    }
    let m = to_faer(symmetrize(a).view());
    Array1::from(m.self_adjoint_eigenvalues(Side::Lower).expect("eigenvalues of a finite symmetric matrix"))
}

/// U f(Λ) Uᵀ for a symmetric matrix.
pub fn sym_apply(a: ArrayView2<f64>, f: impl Fn(f64) -> f64) -> Array2<f64> {
    let (vals, vecs) = sym_eigen(a);
    let scaled = &vecs * &vals.mapv(f).view().insert_axis(ndarray::Axis(0));
    scaled.dot(&vecs.t())
}

/// Principal square root of a positive semi-definite matrix (negative eigenvalues clamped to 0).
pub fn sqrtm_psd(a: ArrayView2<f64>) -> Array2<f64> {
    sym_apply(a, |v| v.max(0.0).sqrt())
}

/// Lower Cholesky factor of a symmetric positive-definite matrix, or an error naming `what`.
pub fn cholesky(a: ArrayView2<f64>, what: &str) -> Result<Array2<f64>, CoreError> {
    let refuse = |problem| CoreError::Matrix { input: what.to_string(), problem };
    if a.nrows() != a.ncols() {
        return Err(refuse(MatrixProblem::NotSquare { rows: a.nrows(), cols: a.ncols() }));
    }
    if a.iter().any(|v| !v.is_finite()) {
        return Err(refuse(MatrixProblem::NonFinite));
    }
    let asym = asymmetry(a);
    if asym > 1e-9 {
        return Err(refuse(MatrixProblem::NotSymmetric { asymmetry: asym }));
    }
    let m = to_faer(a);
    let llt = m.llt(Side::Lower).map_err(|_| refuse(MatrixProblem::NotPositiveDefinite))?;
    Ok(from_faer(llt.L()))
}

/// Inverse and log-determinant of a symmetric positive-definite matrix.
pub fn spd_inverse_logdet(a: ArrayView2<f64>, what: &str) -> Result<(Array2<f64>, f64), CoreError> {
    let l = cholesky(a, what)?;
    let n = a.nrows();
    let logdet = 2.0 * (0..n).map(|i| l[[i, i]].ln()).sum::<f64>();
    let linv = lower_triangular_inverse(l.view());
    Ok((linv.t().dot(&linv), logdet))
}

/// Inverse of a lower-triangular matrix by forward substitution (n is small: the dimension of a target).
fn lower_triangular_inverse(l: ArrayView2<f64>) -> Array2<f64> {
    let n = l.nrows();
    let mut inv = Array2::<f64>::zeros((n, n));
    for col in 0..n {
        for i in col..n {
            let mut s = if i == col { 1.0 } else { 0.0 };
            for k in col..i {
                s -= l[[i, k]] * inv[[k, col]];
            }
            inv[[i, col]] = s / l[[i, i]];
        }
    }
    inv
}

/// KL(N(m0, S0) ‖ N(m1, S1)) in nats.
pub fn gaussian_kl(
    m0: ArrayView1<f64>,
    s0: ArrayView2<f64>,
    m1: ArrayView1<f64>,
    s1: ArrayView2<f64>,
) -> Result<f64, CoreError> {
    let d = m0.len() as f64;
    let (s1inv, logdet1) = spd_inverse_logdet(s1, "KL: second covariance")?;
    let (_, logdet0) = spd_inverse_logdet(s0, "KL: first covariance")?;
    let dm = &m1 - &m0;
    let tr = (&s1inv * &s0).sum();
    let quad = dm.dot(&s1inv.dot(&dm));
    Ok(0.5 * (tr + quad - d + logdet1 - logdet0).max(0.0))
}

/// Squared 2-Wasserstein distance (cost |x − y|²) between two Gaussians (the Bures formula):
/// |m0 − m1|² + tr S0 + tr S1 − 2 tr (S0^{1/2} S1 S0^{1/2})^{1/2}.
pub fn gaussian_w2_squared(m0: ArrayView1<f64>, s0: ArrayView2<f64>, m1: ArrayView1<f64>, s1: ArrayView2<f64>) -> f64 {
    let dm = &m0 - &m1;
    let r0 = sqrtm_psd(s0);
    let cross = sym_eigenvalues(r0.dot(&s1).dot(&r0).view()).mapv(|v| v.max(0.0).sqrt()).sum();
    (dm.dot(&dm) + s0.diag().sum() + s1.diag().sum() - 2.0 * cross).max(0.0)
}

/// Solves the Lyapunov equation S Σ + Σ S = C for symmetric S, with Σ symmetric positive definite
/// and C symmetric: in Σ's eigenbasis the solution is (UᵀCU)_ij / (λ_i + λ_j).
pub fn solve_lyapunov(sigma: ArrayView2<f64>, c: ArrayView2<f64>) -> Array2<f64> {
    let (vals, u) = sym_eigen(sigma);
    let ct = u.t().dot(&c).dot(&u);
    let n = vals.len();
    let st = Array2::from_shape_fn((n, n), |(i, j)| ct[[i, j]] / (vals[i] + vals[j]));
    u.dot(&st).dot(&u.t())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn inverse_logdet_and_sqrt() {
        let a = array![[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.7]];
        let (inv, logdet) = spd_inverse_logdet(a.view(), "a").unwrap();
        let eye = a.dot(&inv);
        for i in 0..3 {
            for j in 0..3 {
                assert!((eye[[i, j]] - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
        let det = 2.0 * (1.0 * 0.7 - 0.04) - 0.3 * (0.3 * 0.7 + 0.02) + 0.1 * (-0.06 - 0.1);
        assert!((logdet - f64::ln(det)).abs() < 1e-12);
        let r = sqrtm_psd(a.view());
        assert!((r.dot(&r) - &a).iter().all(|v| v.abs() < 1e-12));
    }

    #[test]
    fn refuses_bad_covariances() {
        let refused = |a: Array2<f64>| cholesky(a.view(), "cov").unwrap_err().to_string();
        assert!(refused(array![[1.0, 0.5], [0.4, 1.0]]).contains("symmetric"));
        assert!(refused(array![[1.0, 2.0], [2.0, 1.0]]).contains("positive definite"));
        assert!(refused(array![[f64::NAN, 0.0], [0.0, 1.0]]).contains("NaN"));
        assert!(matches!(
            cholesky(array![[1.0, 2.0], [2.0, 1.0]].view(), "cov"),
            Err(CoreError::Matrix { problem: MatrixProblem::NotPositiveDefinite, .. })
        ));
    }

    #[test]
    fn lyapunov_solution_satisfies_equation() {
        let sigma = array![[1.5, 0.4], [0.4, 0.6]];
        let c = array![[0.3, -0.2], [-0.2, 1.1]];
        let s = solve_lyapunov(sigma.view(), c.view());
        let lhs = s.dot(&sigma) + sigma.dot(&s);
        assert!((lhs - &c).iter().all(|v| v.abs() < 1e-12));
    }

    #[test]
    fn kl_and_w2_of_known_pairs() {
        // 1-D: KL(N(0,1)‖N(1,4)) = ½(1/4 + 1/4 − 1 + ln 4)
        let kl =
            gaussian_kl(array![0.0].view(), array![[1.0]].view(), array![1.0].view(), array![[4.0]].view()).unwrap();
        assert!((kl - 0.5 * (0.25 + 0.25 - 1.0 + 4f64.ln())).abs() < 1e-12);
        // 1-D: W2² = (m0−m1)² + (s0−s1)²
        let w = gaussian_w2_squared(array![0.0].view(), array![[1.0]].view(), array![1.0].view(), array![[4.0]].view());
        assert!((w - 2.0).abs() < 1e-12);
    }
}
