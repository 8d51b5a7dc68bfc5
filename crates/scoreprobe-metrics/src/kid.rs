//! Kernel Inception Distance (Bińkowski et al. 2018): the unbiased MMD² estimate with the cubic
//! polynomial kernel k(x, y) = (xᵀy/d + 1)³, averaged over random subsets.
//!
//! Per subset (m points drawn without replacement from each set):
//!   MMD²_u = Σ_{i≠j} k(xᵢ,xⱼ)/(m(m−1)) + Σ_{i≠j} k(yᵢ,yⱼ)/(m(m−1)) − 2 Σ_{i,j} k(xᵢ,yⱼ)/m²,
//! the estimator used by the reference KID code and torch-fidelity. It can be negative when the
//! sets are close. (The kernel's constant term cancels from it and is left out of the sums.) `std` is the population standard deviation over subsets (ddof = 0, as
//! torch-fidelity's `kid_std`).
//!
//! `std` is the spread of the subset estimates, not the uncertainty of KID: with subsets as large
//! as the sets every subset is the whole set and `std` is rounding noise (6e-15 at 1000 images).
//! `se` is the statistic's own standard error: the estimator on all points (`full`) is a two-sample
//! U-statistic, and its first-order Hoeffding variance is
//!   Σᵢ ψᵢ² / (n(n−1)) + Σⱼ φⱼ² / (m(m−1)),
//!   ψᵢ = 2(aᵢ − ā) − 2(bᵢ − b̄),  aᵢ = Σ_{i'≠i} k(xᵢ,x_{i'})/(n−1),  bᵢ = Σⱼ k(xᵢ,yⱼ)/m,
//! and φⱼ alike with the roles of x and y exchanged (the per-sample influence terms of
//! `python/scoreprobe/_kid.py`, with the reference's own noise added). It is calibrated where
//! the sets differ; when they come from one law the first-order terms vanish and the true SE is
//! of the second order, O(1/n), which this estimate also is but only approximately.

use crate::error::{check_min_rows, check_pair, invalid, Result};
use crate::gemm;
use ndarray::{s, Array2, ArrayView2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

#[derive(Clone, Debug, PartialEq)]
pub struct KidOptions {
    /// Number of random subsets (default 100).
    pub n_subsets: usize,
    /// Points per subset, capped at min(N_a, N_b) (default 1000).
    pub subset_size: usize,
    pub seed: u64,
}

impl Default for KidOptions {
    fn default() -> Self {
        Self { n_subsets: 100, subset_size: 1000, seed: 0 }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct KidResult {
    /// Mean of the per-subset unbiased MMD² estimates.
    pub mean: f64,
    /// Population standard deviation of the per-subset estimates.
    pub std: f64,
    /// Subset size actually used.
    pub subset_size: usize,
    /// Per-subset estimates, in draw order.
    pub values: Vec<f64>,
    /// The estimator on all points of both sets.
    pub full: f64,
    /// Standard error of `full` (first-order Hoeffding; see the module comment).
    pub se: f64,
}

/// The kernel less its constant: (t + 1)³ − 1 = t(3 + t(3 + t)) with t = xᵀy/d. The constant
/// cancels exactly in the unbiased MMD² (its three sums have the same weight), and leaving it out
/// keeps the small t of features near 1e-30 from vanishing next to 1 (and the sums from
/// cancelling to ~1e-16 of their size on ordinary data).
fn cubic(g: f64, d: f64) -> f64 {
    let t = g / d;
    t * (3.0 + t * (3.0 + t))
}

/// Unbiased MMD² between `x` and `y` (both m × d, m ≥ 2) with the cubic kernel.
pub fn mmd2_unbiased(x: ArrayView2<f64>, y: ArrayView2<f64>) -> f64 {
    let mut z = Array2::<f64>::zeros((x.nrows() + y.nrows(), x.ncols()));
    z.slice_mut(s![..x.nrows(), ..]).assign(&x);
    z.slice_mut(s![x.nrows().., ..]).assign(&y);
    mmd2_stacked(z.view(), x.nrows())
}

/// Unbiased MMD² of the first `m` rows of `z` (x) against the other m (y). One symmetric product
/// gives the lower triangle of Z Zᵀ = [[XXᵀ, ·], [YXᵀ, YYᵀ]]: the x–x and y–y sums are twice those
/// of the strict lower triangles of the diagonal blocks, the x–y sum that of the whole YXᵀ block.
/// Same work as three separate products with symmetry used (half of XXᵀ and YYᵀ), in one call.
fn mmd2_stacked(z: ArrayView2<f64>, m: usize) -> f64 {
    let d = z.ncols() as f64;
    let mut g = Array2::<f64>::zeros((2 * m, 2 * m));
    gemm::syrk_lower(&mut g, z, false);
    // Row sums in parallel, collected in row order and added in that order: a parallel reduce
    // would add them in an order that depends on work stealing (same seed, different last bits).
    let rows: Vec<(f64, f64, f64)> = g
        .axis_iter(Axis(0))
        .into_par_iter()
        .enumerate()
        .map(|(i, row)| {
            let row = row.as_slice().expect("standard layout");
            let sum = |r: &[f64]| r.iter().map(|&v| cubic(v, d)).sum::<f64>();
            if i < m {
                (sum(&row[..i]), 0.0, 0.0)
            } else {
                (0.0, sum(&row[m..i]), sum(&row[..m]))
            }
        })
        .collect();
    let (sxx, syy, sxy) = rows.iter().fold((0.0, 0.0, 0.0), |p, q| (p.0 + q.0, p.1 + q.1, p.2 + q.2));
    let mf = m as f64;
    2.0 * (sxx + syy) / (mf * (mf - 1.0)) - 2.0 * sxy / (mf * mf)
}

/// KID between point sets a (N_a, D) and b (N_b, D).
pub fn kid(a: ArrayView2<f64>, b: ArrayView2<f64>, opts: &KidOptions) -> Result<KidResult> {
    check_pair(a, b, "KID")?;
    check_min_rows(a, 2, "KID: first set")?;
    check_min_rows(b, 2, "KID: second set")?;
    if opts.n_subsets == 0 || opts.subset_size < 2 {
        return Err(invalid("KID: needs n_subsets >= 1 and subset_size >= 2"));
    }
    let m = opts.subset_size.min(a.nrows()).min(b.nrows());
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut values = Vec::with_capacity(opts.n_subsets);
    // One (2m × D) buffer for the subset pair, reused: rows 0..m from a, m..2m from b.
    let mut z = Array2::<f64>::zeros((2 * m, a.ncols()));
    for _ in 0..opts.n_subsets {
        let ia = rand::seq::index::sample(&mut rng, a.nrows(), m).into_vec();
        let ib = rand::seq::index::sample(&mut rng, b.nrows(), m).into_vec();
        let rows = ia.iter().map(|&i| a.row(i)).chain(ib.iter().map(|&i| b.row(i)));
        z.outer_iter_mut().zip(rows).for_each(|(mut dst, src)| dst.assign(&src));
        values.push(mmd2_stacked(z.view(), m));
    }
    let k = values.len() as f64;
    let mean = self::mean(&values);
    // Squares of deviations taken relative to the largest one: features near 1e30 give values
    // near 1e180, whose squares would overflow.
    let top = largest_deviation(&values);
    let std = if top > 0.0 { top * (centred_squares(&values, top) / k).sqrt() } else { 0.0 };
    let (full, se) = full_with_se(a, b);
    Ok(KidResult { mean, std, subset_size: m, values, full, se })
}

/// Rows of the Gram matrix computed at a time by [`kernel_row_sums`]: 512 rows of 20 000 columns
/// are 80 MB, and the products stay large enough for faer's blocking.
const GRAM_BLOCK: usize = 512;

/// For each row of `z` (x rows first, then y), the sums of the kernel against the other x rows and
/// against the other y rows, without materialising the (N × N) Gram matrix.
fn kernel_row_sums(z: ArrayView2<f64>, nx: usize) -> Vec<(f64, f64)> {
    let d = z.ncols() as f64;
    let mut sums = Vec::with_capacity(z.nrows());
    for start in (0..z.nrows()).step_by(GRAM_BLOCK) {
        let block = z.slice(s![start..(start + GRAM_BLOCK).min(z.nrows()), ..]);
        let g = gemm::matmul_nt(block, z);
        let rows: Vec<(f64, f64)> = g
            .axis_iter(Axis(0))
            .into_par_iter()
            .enumerate()
            .map(|(r, row)| {
                let i = start + r;
                let k = |j: usize| if j == i { 0.0 } else { cubic(row[j], d) };
                ((0..nx).map(k).sum::<f64>(), (nx..row.len()).map(k).sum::<f64>())
            })
            .collect();
        sums.extend(rows);
    }
    sums
}

/// The estimator on all points and its first-order Hoeffding standard error (module comment).
fn full_with_se(a: ArrayView2<f64>, b: ArrayView2<f64>) -> (f64, f64) {
    let (n, m) = (a.nrows(), b.nrows());
    let mut z = Array2::<f64>::zeros((n + m, a.ncols()));
    z.slice_mut(s![..n, ..]).assign(&a);
    z.slice_mut(s![n.., ..]).assign(&b);
    let sums = kernel_row_sums(z.view(), n);
    let (nf, mf) = (n as f64, m as f64);
    // Influence of x row i: twice its mean kernel with the other x rows less twice that with y.
    let psi: Vec<f64> = sums[..n].iter().map(|&(xx, xy)| 2.0 * xx / (nf - 1.0) - 2.0 * xy / mf).collect();
    let phi: Vec<f64> = sums[n..].iter().map(|&(yx, yy)| 2.0 * yy / (mf - 1.0) - 2.0 * yx / nf).collect();
    let sxx: f64 = sums[..n].iter().map(|s| s.0).sum();
    let syy: f64 = sums[n..].iter().map(|s| s.1).sum();
    let sxy: f64 = sums[..n].iter().map(|s| s.1).sum();
    let full = sxx / (nf * (nf - 1.0)) + syy / (mf * (mf - 1.0)) - 2.0 * sxy / (nf * mf);
    // Deviations are divided by the largest one before squaring: features near 1e30 give
    // influences near 1e180, whose squares would overflow.
    let top = largest_deviation(&psi).max(largest_deviation(&phi));
    if top == 0.0 {
        return (full, 0.0);
    }
    let var = centred_squares(&psi, top) / (nf * (nf - 1.0)) + centred_squares(&phi, top) / (mf * (mf - 1.0));
    (full, top * var.sqrt())
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn largest_deviation(v: &[f64]) -> f64 {
    let mean = mean(v);
    v.iter().fold(0.0f64, |t, x| t.max((x - mean).abs()))
}

/// Σ ((vᵢ − v̄)/scale)².
fn centred_squares(v: &[f64], scale: f64) -> f64 {
    let mean = mean(v);
    v.iter().map(|x| ((x - mean) / scale).powi(2)).sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, StandardNormal};

    fn normal(n: usize, d: usize, shift: f64, seed: u64) -> Array2<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_fn((n, d), |_| {
            shift + {
                let z: f64 = StandardNormal.sample(&mut rng);
                z
            }
        })
    }

    /// Direct double loop over the definition.
    fn brute(x: &Array2<f64>, y: &Array2<f64>) -> f64 {
        let (m, d) = (x.nrows(), x.ncols() as f64);
        let k = |u: ndarray::ArrayView1<f64>, v: ndarray::ArrayView1<f64>| (u.dot(&v) / d + 1.0).powi(3);
        let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
        for i in 0..m {
            for j in 0..m {
                if i != j {
                    sxx += k(x.row(i), x.row(j));
                    syy += k(y.row(i), y.row(j));
                }
                sxy += k(x.row(i), y.row(j));
            }
        }
        let mf = m as f64;
        (sxx + syy) / (mf * (mf - 1.0)) - 2.0 * sxy / (mf * mf)
    }

    #[test]
    fn matches_the_definition() {
        let x = normal(40, 6, 0.0, 1);
        let y = normal(40, 6, 0.3, 2);
        let want = brute(&x, &y);
        assert!((mmd2_unbiased(x.view(), y.view()) - want).abs() < 1e-12 * want.abs().max(1.0));
        // One subset of the full size is a permutation of all points: same value.
        let r = kid(x.view(), y.view(), &KidOptions { n_subsets: 1, subset_size: 1000, seed: 3 }).unwrap();
        assert_eq!(r.subset_size, 40);
        assert!((r.mean - want).abs() < 1e-12 * want.abs().max(1.0));
        assert_eq!(r.std, 0.0);
    }

    #[test]
    fn identical_distribution_is_zero_in_mean_and_shift_is_detected() {
        let x = normal(2000, 8, 0.0, 4);
        let y = normal(2000, 8, 0.0, 5);
        let opts = KidOptions { n_subsets: 50, subset_size: 200, seed: 6 };
        let se = |r: &KidResult| r.std / (opts.n_subsets as f64).sqrt();
        // Independent samples of one law: the estimator is unbiased, so the mean over subsets is
        // within a few standard errors of 0.
        let iid = kid(x.view(), y.view(), &opts).unwrap();
        assert!(iid.mean.abs() < 4.0 * se(&iid), "mean {} se {}", iid.mean, se(&iid));
        // The same finite set twice: subsets drawn without replacement from one population of N
        // points have expectation exactly 2/N·(mean off-diagonal k − mean diagonal k), an O(1/N)
        // bias that comes from x–y pairs hitting the same point. Check the mean against it.
        let n = x.nrows() as f64;
        let k = gemm::gram(x.view()).mapv(|g| cubic(g, 8.0));
        let diag = k.diag().sum();
        let bias = 2.0 / n * ((k.sum() - diag) / (n * (n - 1.0)) - diag / n);
        let same = kid(x.view(), x.view(), &opts).unwrap();
        assert!((same.mean - bias).abs() < 4.0 * se(&same), "mean {} bias {bias} se {}", same.mean, se(&same));
        assert!(bias.abs() < 0.01, "{bias}");
        let shifted = normal(2000, 8, 0.5, 7);
        let far = kid(x.view(), shifted.view(), &opts).unwrap();
        assert!(far.mean > 10.0 * se(&far));
        assert!(far.mean > 20.0 * iid.mean.abs());
        // Same seed, same result.
        assert_eq!(kid(x.view(), shifted.view(), &opts).unwrap(), far);
    }

    /// The estimator on all points by the definition, for sets of any sizes.
    fn brute_full(x: &Array2<f64>, y: &Array2<f64>) -> f64 {
        let d = x.ncols() as f64;
        let k = |u: ndarray::ArrayView1<f64>, v: ndarray::ArrayView1<f64>| (u.dot(&v) / d + 1.0).powi(3);
        let within = |z: &Array2<f64>| {
            let n = z.nrows();
            let pairs = (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)));
            pairs.map(|(i, j)| k(z.row(i), z.row(j))).sum::<f64>() / (n * (n - 1)) as f64
        };
        let across = x.outer_iter().flat_map(|u| y.outer_iter().map(move |v| k(u, v))).sum::<f64>();
        within(x) + within(y) - 2.0 * across / (x.nrows() * y.nrows()) as f64
    }

    #[test]
    fn the_full_estimator_matches_the_definition_across_gram_blocks() {
        // 700 + 450 rows span three Gram blocks of 512; unequal sizes exercise both normalisers.
        let x = normal(700, 5, 0.0, 11);
        let y = normal(450, 5, 0.2, 12);
        let r = kid(x.view(), y.view(), &KidOptions { n_subsets: 2, subset_size: 100, seed: 1 }).unwrap();
        let want = brute_full(&x, &y);
        assert!((r.full - want).abs() < 1e-10 * want.abs(), "{} vs {want}", r.full);
    }

    /// Over independent replicate pairs of sets, the spread of the full estimator is what `se`
    /// says it is. 300 replicates: the sample SD's own relative error is 1/√600 ≈ 4 %, and the
    /// tolerance (15 %) leaves room for the first-order approximation's O(1/n) remainder.
    #[test]
    fn the_standard_error_is_calibrated_where_the_sets_differ() {
        let opts = KidOptions { n_subsets: 1, subset_size: 2, seed: 0 };
        let runs: Vec<(f64, f64)> = (0..300u64)
            .map(|rep| {
                let x = normal(160, 4, 0.0, 1000 + rep);
                let y = normal(120, 4, 0.8, 5000 + rep);
                let r = kid(x.view(), y.view(), &opts).unwrap();
                (r.full, r.se)
            })
            .collect();
        let values: Vec<f64> = runs.iter().map(|r| r.0).collect();
        let spread = (centred_squares(&values, 1.0) / (values.len() - 1) as f64).sqrt();
        let mean_se = runs.iter().map(|r| r.1).sum::<f64>() / runs.len() as f64;
        eprintln!("spread over replicates {spread:.4e}, mean reported SE {mean_se:.4e}");
        assert!((spread / mean_se - 1.0).abs() < 0.15, "spread {spread} vs mean se {mean_se}");
        // and the shift is resolved: the effect is many SEs away from zero
        assert!(mean(&values) > 5.0 * mean_se, "mean {} se {mean_se}", mean(&values));
    }

    #[test]
    fn subsets_as_large_as_the_sets_have_rounding_noise_for_std_but_a_real_se() {
        let x = normal(300, 6, 0.0, 21);
        let y = normal(300, 6, 0.3, 22);
        let r = kid(x.view(), y.view(), &KidOptions { n_subsets: 20, subset_size: 1000, seed: 2 }).unwrap();
        assert!(r.std < 1e-12 * r.mean.abs(), "std {}", r.std);
        assert!((r.full - r.mean).abs() < 1e-12 * r.mean.abs());
        assert!(r.se > 1e-3 * r.mean.abs(), "se {} mean {}", r.se, r.mean);
    }

    #[test]
    fn refuses_bad_input() {
        let x = normal(5, 3, 0.0, 1);
        assert!(kid(x.view(), normal(5, 4, 0.0, 1).view(), &KidOptions::default()).is_err());
        assert!(kid(x.view(), normal(1, 3, 0.0, 1).view(), &KidOptions::default()).is_err());
        let mut bad = x.clone();
        bad[[2, 0]] = f64::INFINITY;
        let msg = kid(x.view(), bad.view(), &KidOptions::default()).unwrap_err().to_string();
        assert!(msg.contains("row 2"), "{msg}");
    }
}
