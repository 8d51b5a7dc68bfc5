//! 2-Wasserstein distances between point clouds, always with the cost |x − y|² (not ½|x − y|²).
//! Every function reports W2 itself, the square root of the optimal mean cost; the squared value
//! is alongside as `w2_squared`.
//!
//! - [`w2_exact`]: equal-size uniform clouds, optimal assignment (exact, O(n³)).
//! - [`crate::sinkhorn::sinkhorn_divergence`]: entropic, debiased (any sizes).
//! - [`w2_sliced`]: sliced W2, random directions on the sphere, exact 1-D W2 per direction.
//! - [`bures_w2`]: W2 between the Gaussian fits (mean, unbiased covariance) — the square root of
//!   the Fréchet distance, computed by it.

use crate::assignment;
use crate::error::{check_pair, invalid, MetricsError, Result};
use crate::frechet::{frechet_distance_stats, TraceMethod};
use crate::gemm;
use crate::moments::MomentAccumulator;
use crate::warning::MetricWarning;
use ndarray::{Array2, ArrayView2, Axis};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Squared Euclidean distances |a_i − b_j|² (clamped ≥ 0). Both sets are first shifted by their
/// pooled mean so that the Gram-matrix form |a|² + |b|² − 2a·b does not cancel catastrophically
/// for data far from the origin. With `same`, `a` and `b` are the same set and the diagonal is 0.
pub(crate) fn sq_dists(a: ArrayView2<f64>, b: ArrayView2<f64>, same: bool) -> Array2<f64> {
    let (na, nb) = (a.nrows() as f64, b.nrows() as f64);
    let shift = (a.sum_axis(Axis(0)) + b.sum_axis(Axis(0))) / (na + nb);
    let ac = &a - &shift.view().insert_axis(Axis(0));
    let bc = &b - &shift.view().insert_axis(Axis(0));
    let an: Vec<f64> = ac.outer_iter().map(|r| r.dot(&r)).collect();
    let bn: Vec<f64> = bc.outer_iter().map(|r| r.dot(&r)).collect();
    let mut c = gemm::matmul_nt(ac.view(), bc.view());
    c.axis_iter_mut(Axis(0)).into_par_iter().enumerate().for_each(|(i, mut row)| {
        for (j, v) in row.iter_mut().enumerate() {
            *v = if same && i == j { 0.0 } else { (an[i] + bn[j] - 2.0 * *v).max(0.0) };
        }
    });
    c
}

#[derive(Clone, Debug, PartialEq)]
pub struct ExactW2 {
    /// W2 = √(min over permutations of mean |a_i − b_σ(i)|²).
    pub w2: f64,
    pub w2_squared: f64,
    /// Optimal matching: row i of `a` goes to row `assignment[i]` of `b`.
    pub assignment: Vec<usize>,
}

/// Exact W2 between two equal-size uniform clouds (N, D) via optimal assignment. O(N³) time and
/// O(N²) memory: practical to a few thousand points.
pub fn w2_exact(a: ArrayView2<f64>, b: ArrayView2<f64>) -> Result<ExactW2> {
    check_pair(a, b, "exact W2")?;
    if a.nrows() != b.nrows() {
        return Err(MetricsError::DimensionMismatch {
            what: "exact W2: needs equal numbers of points (subsample, or use Sinkhorn/sliced W2)".into(),
            left: a.nrows(),
            right: b.nrows(),
        });
    }
    let c = sq_dists(a, b, false);
    let (assignment, total) = assignment::solve(c.view());
    let w2_squared = total / a.nrows() as f64;
    Ok(ExactW2 { w2: w2_squared.sqrt(), w2_squared, assignment })
}

/// Exact W2² between two 1-D empirical measures with uniform weights (any sizes). Sorts in place.
/// Integrates (F⁻¹(t) − G⁻¹(t))² over the merged quantile breakpoints i/n and j/m.
pub fn w2_1d_squared(x: &mut [f64], y: &mut [f64]) -> f64 {
    x.sort_unstable_by(f64::total_cmp);
    y.sort_unstable_by(f64::total_cmp);
    let (n, m) = (x.len(), y.len());
    if n == m {
        return x.iter().zip(y.iter()).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / n as f64;
    }
    let (mut i, mut j, mut total) = (0usize, 0usize, 0.0f64);
    let mut t_prev = 0usize; // current breakpoint, in units of 1/(n·m)
    while i < n && j < m {
        // Next breakpoints (i+1)/n and (j+1)/m in the same integer units.
        let (ti, tj) = ((i + 1) * m, (j + 1) * n);
        let t_next = ti.min(tj);
        let diff = x[i] - y[j];
        total += (t_next - t_prev) as f64 * diff * diff;
        t_prev = t_next;
        if ti == t_next {
            i += 1;
        }
        if tj == t_next {
            j += 1;
        }
    }
    total / (n * m) as f64
}

#[derive(Clone, Debug, PartialEq)]
pub struct SlicedOptions {
    /// Random directions (default 256).
    pub n_projections: usize,
    pub seed: u64,
}

impl Default for SlicedOptions {
    fn default() -> Self {
        Self { n_projections: 256, seed: 0 }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct SlicedW2 {
    /// SW2 = √(mean over directions θ of W2²(θ·a, θ·b)).
    pub w2: f64,
    pub w2_squared: f64,
    /// Monte-Carlo standard error of `w2_squared` over directions.
    pub std_err_squared: f64,
    pub n_projections: usize,
}

/// Sliced W2 with directions drawn uniformly on the unit sphere (seeded).
pub fn w2_sliced(a: ArrayView2<f64>, b: ArrayView2<f64>, opts: &SlicedOptions) -> Result<SlicedW2> {
    check_pair(a, b, "sliced W2")?;
    if opts.n_projections == 0 {
        return Err(invalid("sliced W2: needs n_projections >= 1"));
    }
    let d = a.ncols();
    let l = opts.n_projections;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
    let mut theta = Array2::<f64>::from_shape_fn((d, l), |_| StandardNormal.sample(&mut rng));
    for mut col in theta.axis_iter_mut(Axis(1)) {
        let norm = col.dot(&col).sqrt();
        col /= norm;
    }
    // Projections as (L, N) rows so that each direction's values are contiguous.
    let pa = gemm::matmul(theta.t(), a.t());
    let pb = gemm::matmul(theta.t(), b.t());
    let per: Vec<f64> = (0..l)
        .into_par_iter()
        .map(|k| {
            let mut x = pa.row(k).to_vec();
            let mut y = pb.row(k).to_vec();
            w2_1d_squared(&mut x, &mut y)
        })
        .collect();
    let mean = per.iter().sum::<f64>() / l as f64;
    let var = if l > 1 { per.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (l - 1) as f64 } else { 0.0 };
    Ok(SlicedW2 { w2: mean.sqrt(), w2_squared: mean, std_err_squared: (var / l as f64).sqrt(), n_projections: l })
}

#[derive(Clone, Debug, PartialEq)]
pub struct BuresW2 {
    /// W2 between N(μ_a, Σ_a) and N(μ_b, Σ_b) fitted to the two sets.
    pub w2: f64,
    pub w2_squared: f64,
    pub warnings: Vec<MetricWarning>,
}

/// W2 between the Gaussian fits (mean, unbiased covariance) of two point sets: the Bures formula
/// |μ_a − μ_b|² + tr Σ_a + tr Σ_b − 2 tr (Σ_a^{1/2} Σ_b Σ_a^{1/2})^{1/2}, which is the Fréchet
/// distance; computed by [`frechet_distance_stats`] (Cholesky route), so W2² = FD exactly.
pub fn bures_w2(a: ArrayView2<f64>, b: ArrayView2<f64>) -> Result<BuresW2> {
    check_pair(a, b, "Bures W2")?;
    let sa = MomentAccumulator::from_points(a)?.stats()?;
    let sb = MomentAccumulator::from_points(b)?.stats()?;
    let r = frechet_distance_stats(&sa, &sb, TraceMethod::Cholesky)?;
    Ok(BuresW2 { w2: r.fd.sqrt(), w2_squared: r.fd, warnings: r.warnings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frechet::frechet_distance_points;
    use ndarray::array;

    fn cloud(n: usize, d: usize, seed: u64) -> Array2<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_fn((n, d), |_| StandardNormal.sample(&mut rng))
    }

    #[test]
    fn one_dimensional_cases() {
        let mut x = vec![3.0, 1.0, 2.0];
        let mut y = vec![0.0, 2.0, 4.0];
        assert!((w2_1d_squared(&mut x, &mut y) - (1.0 + 0.0 + 1.0) / 3.0).abs() < 1e-15);
        // Unequal sizes: {0} vs {−1, 1}: W2² = ½·1 + ½·1 = 1; {0, 1} vs {0, 0, 3}.
        assert!((w2_1d_squared(&mut [0.0], &mut [-1.0, 1.0]) - 1.0).abs() < 1e-15);
        // Quantiles: x = 0 on [0,½), 1 on [½,1); y = 0 on [0,⅔), 3 on [⅔,1):
        // ∫ = ⅙·1 + ⅓·4 = 1.5.
        assert!((w2_1d_squared(&mut [1.0, 0.0], &mut [0.0, 3.0, 0.0]) - 1.5).abs() < 1e-15);
        // Exact W2 in 1-D equals the sorted matching.
        let a = array![[3.0], [1.0], [2.0]];
        let b = array![[0.0], [2.0], [4.0]];
        let r = w2_exact(a.view(), b.view()).unwrap();
        assert!((r.w2_squared - 2.0 / 3.0).abs() < 1e-14);
        assert_eq!(r.assignment, vec![2, 0, 1]);
    }

    #[test]
    fn translation_and_ordering_of_distances() {
        // Shifting a cloud by v: exact W2² ≤ |v|² (identity matching) and Bures W2² = |v|² exactly.
        let a = cloud(200, 3, 1);
        let v = array![1.0, -2.0, 0.5];
        let b = &a + &v.view().insert_axis(Axis(0));
        let exact = w2_exact(a.view(), b.view()).unwrap();
        assert!((exact.w2_squared - 5.25).abs() < 1e-9, "{}", exact.w2_squared);
        let bures = bures_w2(a.view(), b.view()).unwrap();
        assert!((bures.w2_squared - 5.25).abs() < 1e-9);
        // Sliced ≤ exact (each projection is 1-Lipschitz), for any clouds.
        let c = cloud(200, 3, 2).mapv(|x| 2.0 * x);
        let e = w2_exact(a.view(), c.view()).unwrap();
        let s = w2_sliced(a.view(), c.view(), &SlicedOptions::default()).unwrap();
        assert!(s.w2 <= e.w2 + 1e-12 && s.w2 > 0.0);
        // Sliced of a pure translation: E_θ (θ·v)² = |v|²/d.
        let st = w2_sliced(a.view(), b.view(), &SlicedOptions { n_projections: 4000, seed: 3 }).unwrap();
        assert!((st.w2_squared - 5.25 / 3.0).abs() < 4.0 * st.std_err_squared, "{st:?}");
        // Same seed, same result; Bures² = FD.
        assert_eq!(w2_sliced(a.view(), c.view(), &SlicedOptions::default()).unwrap(), s);
        let fd = frechet_distance_points(a.view(), c.view(), TraceMethod::Cholesky).unwrap().fd;
        let bw = bures_w2(a.view(), c.view()).unwrap();
        assert!((bw.w2_squared - fd).abs() < 1e-10 * fd);
    }

    #[test]
    fn refuses_bad_input() {
        let a = cloud(5, 2, 1);
        let msg = w2_exact(a.view(), cloud(6, 2, 2).view()).unwrap_err().to_string();
        assert!(msg.contains("equal numbers"), "{msg}");
        assert!(w2_sliced(a.view(), cloud(5, 3, 2).view(), &SlicedOptions::default()).is_err());
        assert!(w2_sliced(a.view(), a.view(), &SlicedOptions { n_projections: 0, seed: 0 }).is_err());
        assert!(bures_w2(a.view(), Array2::zeros((0, 2)).view()).is_err());
    }
}
