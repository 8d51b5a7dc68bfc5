//! Fréchet distance between Gaussian fits of two feature sets (FID when the features are
//! Inception's): FD = |μ₁ − μ₂|² + tr Σ₁ + tr Σ₂ − 2 tr √(Σ₁Σ₂).
//!
//! Σ₁Σ₂ is not symmetric, and pytorch-fid's `scipy.linalg.sqrtm` of it can return complex parts
//! or NaN. Here the trace term is always computed from the eigenvalues of a symmetric PSD matrix
//! that is similar to Σ₁Σ₂, each clamped at 0 before the square root, so FD is real and finite:
//! - [`TraceMethod::Cholesky`] (default, fastest): Σ₁ = LLᵀ, eig(LᵀΣ₂L) = eig(Σ₁Σ₂): one
//!   Cholesky, two triangular products, one eigenvalues-only solve. When Σ₁ is singular
//!   (Cholesky fails) L is replaced by U√Λ₊ from Σ₁'s eigendecomposition.
//! - [`TraceMethod::SymmetricSqrt`]: eig(√Σ₁ Σ₂ √Σ₁), the textbook symmetric form (slower: a full
//!   eigendecomposition plus dense products).
//!
//! Both covariances are scaled by one power of two (exact in binary) so that the largest variance
//! is near 1 before any product: features of magnitude 1e±30 (and far beyond) neither overflow nor
//! underflow the fourth powers that LᵀΣ₂L holds. The linear algebra runs on faer matrices end to
//! end (no element-wise conversions).

use crate::error::{check_pair, invalid, Result};
use crate::gemm;
use crate::moments::{GaussianStats, MomentAccumulator};
use crate::warning::{MetricWarning, Set};
use faer::{Mat, MatRef, Side};
use ndarray::{ArrayView1, ArrayView2};

/// How tr √(Σ₁Σ₂) is computed (both give the same number up to rounding).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TraceMethod {
    /// eig(LᵀΣ₂L) with Σ₁ = LLᵀ (eigendecomposition fallback when Σ₁ is singular).
    #[default]
    Cholesky,
    /// eig(√Σ₁ Σ₂ √Σ₁).
    SymmetricSqrt,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FrechetResult {
    /// The Fréchet distance (a squared distance in feature units; clamped at 0).
    pub fd: f64,
    /// |μ₁ − μ₂|².
    pub mean_term: f64,
    /// tr Σ₁ + tr Σ₂.
    pub trace_sum: f64,
    /// tr √(Σ₁Σ₂).
    pub trace_sqrt_product: f64,
    /// Route actually taken: "cholesky", "eigen-fallback" or "symmetric-sqrt".
    pub method: &'static str,
    /// Conditions that make the number less trustworthy (rank deficiency, clamped eigenvalues,
    /// constant features); print them with `Display`.
    pub warnings: Vec<MetricWarning>,
}

/// Relative size below which negative eigenvalues of a PSD product are rounding noise.
const NEG_EIG_TOL: f64 = 1e-8;

/// A symmetric d × d matrix held as one contiguous buffer (row- and column-major alike), times a
/// power-of-two `scale` chosen by the caller.
struct SymMat {
    d: usize,
    data: Vec<f64>,
}

impl SymMat {
    fn faer(&self) -> MatRef<'_, f64> {
        MatRef::from_column_major_slice(&self.data, self.d, self.d)
    }

    fn trace(&self) -> f64 {
        (0..self.d).map(|i| self.data[i * self.d + i]).sum()
    }
}

/// Checks a Gaussian (shapes, finite, symmetric to 1e-6 relative, non-negative variances) and
/// returns its covariance's symmetric part (Σ + Σᵀ)/2 times `scale`, in one tiled pass.
fn check_gaussian(mu: ArrayView1<f64>, sigma: ArrayView2<f64>, scale: f64, what: &str) -> Result<SymMat> {
    // Small tiles: the transposed reads have a stride of D doubles, a power of two for typical
    // feature widths, so more than ~8 of those lines at once would evict each other from L1.
    const TILE: usize = 8;
    let d = mu.len();
    if d == 0 {
        return Err(invalid(format!("{what}: empty mean vector")));
    }
    if sigma.dim() != (d, d) {
        return Err(invalid(format!(
            "{what}: covariance has shape {:?}, expected ({d}, {d}) to match the mean",
            sigma.dim()
        )));
    }
    let nonfinite = || invalid(format!("{what}: mean or covariance contains NaN or infinite values"));
    if !mu.iter().all(|v| v.is_finite()) {
        return Err(nonfinite());
    }
    let s = sigma.as_standard_layout();
    let s = s.as_slice().expect("standard layout");
    let mut data = vec![0.0; d * d];
    let (mut asym, mut top, mut finite) = (0.0f64, 0.0f64, true);
    for ib in (0..d).step_by(TILE) {
        for jb in (0..=ib).step_by(TILE) {
            for i in ib..(ib + TILE).min(d) {
                for j in jb..(jb + TILE).min(i + 1) {
                    let (x, y) = (s[i * d + j], s[j * d + i]);
                    finite &= x.is_finite() & y.is_finite();
                    asym = asym.max((x - y).abs());
                    top = top.max(x.abs());
                    let v = 0.5 * (x + y) * scale;
                    data[i * d + j] = v;
                    data[j * d + i] = v;
                }
            }
        }
    }
    if !finite {
        return Err(nonfinite());
    }
    let asym = asym / top.max(1e-300);
    if asym > 1e-6 {
        return Err(invalid(format!("{what}: covariance is not symmetric (max relative |s_ij - s_ji| = {asym:.3e})")));
    }
    if (0..d).any(|i| data[i * d + i] < 0.0) {
        return Err(invalid(format!("{what}: covariance has a negative diagonal entry")));
    }
    Ok(SymMat { d, data })
}

/// 2^k with 2^k · `x` in [1, 2) (1 when `x` is 0 or not finite): an exact rescaling.
fn pow2_scale(x: f64) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return 1.0;
    }
    2f64.powi(-(x.log2().floor() as i32))
}

/// Eigenvalues of the symmetric matrix whose lower triangle `m` holds.
fn eigenvalues_lower(m: MatRef<'_, f64>) -> Vec<f64> {
    m.self_adjoint_eigenvalues(Side::Lower).expect("eigenvalues of a finite symmetric matrix")
}

/// tr √(Σ₁Σ₂) for symmetric PSD Σ₁, Σ₂ (faer views; only used as symmetric), with the route
/// taken and warnings. Inputs must already be scaled to moderate magnitudes.
fn trace_sqrt_product_faer(
    s1: MatRef<'_, f64>,
    s2: MatRef<'_, f64>,
    method: TraceMethod,
) -> (f64, &'static str, Vec<MetricWarning>) {
    let mut warnings = Vec::new();
    // (U, U √Λ₊) from Σ₁'s eigendecomposition: the second is a (non-triangular) factor of Σ₁.
    let eigen_factor = |s1: MatRef<'_, f64>| -> (Mat<f64>, Mat<f64>) {
        let evd = s1.self_adjoint_eigen(Side::Lower).expect("eigendecomposition of a finite symmetric matrix");
        let (u, lam) = (evd.U(), evd.S().column_vector());
        (u.to_owned(), Mat::from_fn(u.nrows(), u.ncols(), |i, j| u[(i, j)] * lam[j].max(0.0).sqrt()))
    };
    let (eigs, used) = match method {
        TraceMethod::SymmetricSqrt => {
            // √Σ₁ = U √Λ₊ Uᵀ (symmetric), then eig(√Σ₁ Σ₂ √Σ₁).
            let (u, b) = eigen_factor(s1);
            let mut r = Mat::<f64>::zeros(s1.nrows(), s1.nrows());
            gemm::matmul_faer(r.as_mut(), b.as_ref(), u.transpose());
            (eigenvalues_lower(gemm::congruence_faer(r.as_ref(), s2, false).as_ref()), "symmetric-sqrt")
        }
        TraceMethod::Cholesky => match s1.llt(Side::Lower) {
            Ok(llt) => (eigenvalues_lower(gemm::congruence_faer(llt.L(), s2, true).as_ref()), "cholesky"),
            Err(_) => {
                warnings.push(MetricWarning::SingularFirstCovariance);
                let (_, b) = eigen_factor(s1);
                (eigenvalues_lower(gemm::congruence_faer(b.as_ref(), s2, false).as_ref()), "eigen-fallback")
            }
        },
    };
    let top = eigs.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let lowest = eigs.iter().fold(f64::INFINITY, |m, &v| m.min(v));
    if lowest < -NEG_EIG_TOL * top {
        warnings.push(MetricWarning::ClampedEigenvalues { lowest, largest: top });
    }
    (eigs.iter().map(|v| v.max(0.0).sqrt()).sum(), used, warnings)
}

/// tr √(Σ₁Σ₂) for symmetric PSD Σ₁, Σ₂ (not validated here, symmetrised), with the route taken
/// and warnings (clamped eigenvalues are reported in the units of the inputs).
pub fn trace_sqrt_product(
    s1: ArrayView2<f64>,
    s2: ArrayView2<f64>,
    method: TraceMethod,
) -> (f64, &'static str, Vec<MetricWarning>) {
    let scale = pow2_scale(s1.diag().iter().chain(s2.diag().iter()).fold(0.0f64, |m, v| m.max(v.abs())));
    let sym = |s: ArrayView2<f64>| {
        let d = s.nrows();
        SymMat { d, data: (0..d * d).map(|k| 0.5 * (s[[k / d, k % d]] + s[[k % d, k / d]]) * scale).collect() }
    };
    let (a, b) = (sym(s1), sym(s2));
    unscale(trace_sqrt_product_faer(a.faer(), b.faer(), method), scale)
}

/// Undoes the power-of-two scaling of the covariances on a trace term (√ of a product: 1/scale).
fn unscale(
    (tr, used, mut warnings): (f64, &'static str, Vec<MetricWarning>),
    scale: f64,
) -> (f64, &'static str, Vec<MetricWarning>) {
    for w in &mut warnings {
        if let MetricWarning::ClampedEigenvalues { lowest, largest } = w {
            *lowest /= scale * scale;
            *largest /= scale * scale;
        }
    }
    (tr / scale, used, warnings)
}

/// Constant columns: zero variance on the diagonal of a (scaled) covariance.
fn constant_features(s: &SymMat, set: Set) -> Option<MetricWarning> {
    let zero: Vec<usize> = (0..s.d).filter(|&i| s.data[i * s.d + i] == 0.0).collect();
    zero.first().map(|&first| MetricWarning::ConstantFeatures { set, count: zero.len(), first })
}

/// FD between two Gaussians given by mean and covariance.
pub fn frechet_distance(
    mu1: ArrayView1<f64>,
    sigma1: ArrayView2<f64>,
    mu2: ArrayView1<f64>,
    sigma2: ArrayView2<f64>,
    method: TraceMethod,
) -> Result<FrechetResult> {
    // One power of two for both covariances (the trace term is homogeneous of degree 1).
    let max_var = |s: ArrayView2<f64>| {
        let d = s.nrows().min(s.ncols());
        (0..d).map(|i| s[[i, i]].abs()).filter(|v| v.is_finite()).fold(0.0f64, f64::max)
    };
    let scale = pow2_scale(max_var(sigma1).max(max_var(sigma2)));
    let s1 = check_gaussian(mu1, sigma1, scale, "FD: first Gaussian")?;
    let s2 = check_gaussian(mu2, sigma2, scale, "FD: second Gaussian")?;
    if mu1.len() != mu2.len() {
        return Err(crate::MetricsError::DimensionMismatch {
            what: "FD: feature dimension of the two Gaussians".into(),
            left: mu1.len(),
            right: mu2.len(),
        });
    }
    let dm = &mu1 - &mu2;
    let mean_term = dm.dot(&dm);
    let trace_sum = (s1.trace() + s2.trace()) / scale;
    let (tr, used, mut warnings) = unscale(trace_sqrt_product_faer(s1.faer(), s2.faer(), method), scale);
    warnings.extend(constant_features(&s1, Set::First));
    warnings.extend(constant_features(&s2, Set::Second));
    let fd = (mean_term + trace_sum - 2.0 * tr).max(0.0);
    Ok(FrechetResult { fd, mean_term, trace_sum, trace_sqrt_product: tr, method: used, warnings })
}

/// Warnings for Gaussians fitted on N ≤ D samples.
pub(crate) fn rank_warnings(a: &GaussianStats, b: &GaussianStats) -> Vec<MetricWarning> {
    [(Set::First, a), (Set::Second, b)]
        .into_iter()
        .filter_map(|(set, s)| match s.n {
            Some(n) if n <= s.mu.len() => Some(MetricWarning::RankDeficient { set, n, dim: s.mu.len() }),
            _ => None,
        })
        .collect()
}

/// FD between two [`GaussianStats`]; warns when either was fitted on N ≤ D samples.
pub fn frechet_distance_stats(a: &GaussianStats, b: &GaussianStats, method: TraceMethod) -> Result<FrechetResult> {
    let mut r = frechet_distance(a.mu.view(), a.sigma.view(), b.mu.view(), b.sigma.view(), method)?;
    let mut warnings = rank_warnings(a, b);
    warnings.append(&mut r.warnings);
    r.warnings = warnings;
    Ok(r)
}

/// FD between the Gaussian fits (mean, unbiased covariance) of two point sets (N, D).
pub fn frechet_distance_points(a: ArrayView2<f64>, b: ArrayView2<f64>, method: TraceMethod) -> Result<FrechetResult> {
    check_pair(a, b, "FD")?;
    let sa = MomentAccumulator::from_points(a)?.stats()?;
    let sb = MomentAccumulator::from_points(b)?.stats()?;
    frechet_distance_stats(&sa, &sb, method)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array1, Array2, Axis};
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    use scoreprobe_core::linalg;

    fn gaussian_samples(n: usize, mean: &Array1<f64>, chol: &Array2<f64>, seed: u64) -> Array2<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let d = mean.len();
        let z = Array2::from_shape_fn((n, d), |_| StandardNormal.sample(&mut rng));
        z.dot(&chol.t()) + mean.view().insert_axis(Axis(0))
    }

    fn random_spd(d: usize, seed: u64) -> Array2<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let a = Array2::from_shape_fn((d, d), |_| StandardNormal.sample(&mut rng));
        a.dot(&a.t()) / d as f64 + Array2::<f64>::eye(d) * 0.1
    }

    #[test]
    fn one_dimensional_closed_form() {
        // FD(N(0,1), N(1,4)) = 1 + 1 + 4 − 2·2 = 2.
        for m in [TraceMethod::Cholesky, TraceMethod::SymmetricSqrt] {
            let r =
                frechet_distance(array![0.0].view(), array![[1.0]].view(), array![1.0].view(), array![[4.0]].view(), m)
                    .unwrap();
            assert!((r.fd - 2.0).abs() < 1e-12);
        }
    }

    #[test]
    fn routes_agree_and_match_bures() {
        let (s1, s2) = (random_spd(40, 1), random_spd(40, 2));
        let mu1 = Array1::linspace(0.0, 1.0, 40);
        let mu2 = Array1::linspace(0.5, -1.0, 40);
        let a = frechet_distance(mu1.view(), s1.view(), mu2.view(), s2.view(), TraceMethod::Cholesky).unwrap();
        let b = frechet_distance(mu1.view(), s1.view(), mu2.view(), s2.view(), TraceMethod::SymmetricSqrt).unwrap();
        let c = linalg::gaussian_w2_squared(mu1.view(), s1.view(), mu2.view(), s2.view());
        assert_eq!(a.method, "cholesky");
        // Well-conditioned 40×40: both routes are backward stable, agreement to ~1e-12 relative.
        assert!((a.fd - b.fd).abs() < 1e-10 * b.fd, "{} vs {}", a.fd, b.fd);
        assert!((a.fd - c).abs() < 1e-10 * c);
        assert!(a.warnings.is_empty());
    }

    #[test]
    fn identical_sets_give_zero() {
        let x = gaussian_samples(500, &Array1::zeros(5), &random_spd(5, 3), 4);
        let r = frechet_distance_points(x.view(), x.view(), TraceMethod::Cholesky).unwrap();
        // tr Σ ≈ 5: cancellation of O(10) terms leaves ~1e-13; 1e-9 is generous.
        assert!(r.fd.abs() < 1e-9, "{}", r.fd);
    }

    #[test]
    fn large_samples_recover_known_gaussians() {
        // Two known Gaussians in d = 4; the exact FD is the Bures formula. With N = 200k per set
        // the plug-in estimate has bias ≈ (tr Σ1 + tr Σ2)·O(d/N) and MC s.d. ≈ O(√(FD/N)) ≈ 1e-2;
        // 0.05 absolute is ~5 s.d.
        let d = 4;
        let (s1, s2) = (random_spd(d, 10), random_spd(d, 11));
        let mu1 = array![0.0, 1.0, -1.0, 0.5];
        let mu2 = array![0.5, 0.0, -1.0, 1.5];
        let exact = frechet_distance(mu1.view(), s1.view(), mu2.view(), s2.view(), TraceMethod::Cholesky).unwrap().fd;
        let l1 = linalg::cholesky(s1.view(), "s1").unwrap();
        let l2 = linalg::cholesky(s2.view(), "s2").unwrap();
        let a = gaussian_samples(200_000, &mu1, &l1, 12);
        let b = gaussian_samples(200_000, &mu2, &l2, 13);
        let est = frechet_distance_points(a.view(), b.view(), TraceMethod::Cholesky).unwrap().fd;
        assert!((est - exact).abs() < 0.05, "estimate {est} vs exact {exact}");
    }

    #[test]
    fn rank_deficient_is_finite_with_warning() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let a = Array2::from_shape_fn((10, 30), |_| StandardNormal.sample(&mut rng));
        let b = Array2::from_shape_fn((12, 30), |_| StandardNormal.sample(&mut rng));
        for m in [TraceMethod::Cholesky, TraceMethod::SymmetricSqrt] {
            let r = frechet_distance_points(a.view(), b.view(), m).unwrap();
            assert!(r.fd.is_finite() && r.fd > 0.0);
            assert!(r.warnings.iter().any(|w| matches!(w, MetricWarning::RankDeficient { n: 10, dim: 30, .. })));
            assert!(r.warnings.iter().any(|w| w.to_string().contains("rank-deficient")), "{:?}", r.warnings);
        }
        let r1 = frechet_distance_points(a.view(), b.view(), TraceMethod::Cholesky).unwrap();
        let r2 = frechet_distance_points(a.view(), b.view(), TraceMethod::SymmetricSqrt).unwrap();
        assert!((r1.fd - r2.fd).abs() < 1e-8 * r2.fd, "{} vs {}", r1.fd, r2.fd);
        // An exactly singular Σ1 (zero variance in one coordinate) takes the eigen fallback.
        let s1 = array![[1.0, 0.0], [0.0, 0.0]];
        let s2 = array![[2.0, 0.3], [0.3, 1.0]];
        let r = frechet_distance(
            array![0.0, 0.0].view(),
            s1.view(),
            array![0.0, 0.0].view(),
            s2.view(),
            TraceMethod::Cholesky,
        )
        .unwrap();
        assert_eq!(r.method, "eigen-fallback");
        let want = 1.0 + 3.0 - 2.0 * 2f64.sqrt();
        assert!((r.fd - want).abs() < 1e-12, "{} vs {want}", r.fd);
    }

    #[test]
    fn refuses_bad_input() {
        let e = |r: Result<FrechetResult>| r.unwrap_err().to_string();
        let ok = array![[1.0, 0.0], [0.0, 1.0]];
        let msg = e(frechet_distance(
            array![0.0].view(),
            ok.view(),
            array![0.0, 0.0].view(),
            ok.view(),
            TraceMethod::Cholesky,
        ));
        assert!(msg.contains("shape"), "{msg}");
        let msg = e(frechet_distance(
            array![0.0, f64::NAN].view(),
            ok.view(),
            array![0.0, 0.0].view(),
            ok.view(),
            TraceMethod::Cholesky,
        ));
        assert!(msg.contains("NaN"), "{msg}");
        let asym = array![[1.0, 0.5], [0.0, 1.0]];
        let msg = e(frechet_distance(
            array![0.0, 0.0].view(),
            asym.view(),
            array![0.0, 0.0].view(),
            ok.view(),
            TraceMethod::Cholesky,
        ));
        assert!(msg.contains("symmetric"), "{msg}");
        let msg = e(frechet_distance_points(
            Array2::zeros((0, 2)).view(),
            Array2::zeros((3, 2)).view(),
            TraceMethod::Cholesky,
        ));
        assert!(msg.contains("empty"), "{msg}");
        let msg = e(frechet_distance_points(
            Array2::zeros((3, 2)).view(),
            Array2::zeros((3, 3)).view(),
            TraceMethod::Cholesky,
        ));
        assert!(msg.contains("mismatch"), "{msg}");
        let msg = e(frechet_distance_points(
            Array2::zeros((1, 2)).view(),
            Array2::zeros((3, 2)).view(),
            TraceMethod::Cholesky,
        ));
        assert!(msg.contains("at least") || msg.contains("more than"), "{msg}");
    }
}
