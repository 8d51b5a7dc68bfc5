//! Two point sets compared the way every front end (the CLI's `metrics`, the Python module) does
//! it: the same subsampling seeds and size limits, so that both give the same numbers on the same
//! inputs.

use crate::error::{invalid, Result};
use crate::wasserstein::{w2_exact, ExactW2};
use ndarray::ArrayView2;
use rand::SeedableRng;

/// Exact W2 and Sinkhorn hold N_a × N_b matrices (and exact W2 is O(N³)): above this many points
/// per set they refuse and suggest a seeded subsample.
pub const MAX_DENSE_POINTS: usize = 5000;

/// Refuses point sets too large for a dense N_a × N_b method; `what` names the metric.
pub fn check_dense(a_rows: usize, b_rows: usize, what: &str) -> Result<()> {
    if a_rows.max(b_rows) > MAX_DENSE_POINTS {
        return Err(invalid(format!(
            "{what}: {a_rows} and {b_rows} points exceed the dense limit of {MAX_DENSE_POINTS} per set; \
             subsample to {MAX_DENSE_POINTS} points (CLI: --n {MAX_DENSE_POINTS})"
        )));
    }
    Ok(())
}

/// `n` distinct indices of `0..rows`, a seeded choice kept in increasing order; all of them when
/// `rows <= n`.
pub fn subsample_indices(rows: usize, n: usize, seed: u64) -> Vec<usize> {
    if rows <= n {
        return (0..rows).collect();
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut idx = rand::seq::index::sample(&mut rng, rows, n).into_vec();
    idx.sort_unstable();
    idx
}

/// At most `n` rows of `x`, drawn without replacement with a seeded RNG and kept in their original
/// order; all of `x` (a copy) when it has no more than `n` rows.
pub fn subsample_rows(x: ndarray::ArrayView2<f64>, n: usize, seed: u64) -> ndarray::Array2<f64> {
    if x.nrows() == 0 || n == 0 {
        // ndarray's `select` with no indices, and `to_owned` of an empty view with non-standard
        // strides (an empty numpy slice), trip debug assertions: panics in debug builds
        return ndarray::Array2::zeros((0, x.ncols()));
    }
    if x.nrows() <= n {
        return x.to_owned();
    }
    x.select(ndarray::Axis(0), &subsample_indices(x.nrows(), n, seed))
}

/// Exact W2 of two sets of possibly different sizes, as the front ends compute it.
#[derive(Clone, Debug, PartialEq)]
pub struct PairedW2 {
    pub result: ExactW2,
    /// Points per set that entered the assignment.
    pub n: usize,
    /// Whether the larger set was subsampled to the size of the smaller.
    pub subsampled: bool,
}

/// Exact W2 between `a` and `b`: the larger set is subsampled (seeded) to the size of the smaller,
/// since the optimal assignment needs equal sizes; refused above [`MAX_DENSE_POINTS`].
pub fn w2_exact_paired(a: ArrayView2<f64>, b: ArrayView2<f64>, seed: u64) -> Result<PairedW2> {
    check_dense(a.nrows(), b.nrows(), "w2")?;
    let n = a.nrows().min(b.nrows());
    let sa = subsample_rows(a, n, seed ^ 0x5eed);
    let sb = subsample_rows(b, n, seed ^ 0xb0b);
    let result = w2_exact(sa.view(), sb.view())?;
    Ok(PairedW2 { result, n, subsampled: a.nrows() != b.nrows() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn unequal_sets_are_subsampled_with_fixed_seeds_and_large_sets_refused() {
        let a = Array2::from_shape_fn((7, 2), |(i, j)| (i * 3 + j) as f64 * 0.1);
        let b = Array2::from_shape_fn((5, 2), |(i, j)| (i + 2 * j) as f64 * 0.2);
        let r = w2_exact_paired(a.view(), b.view(), 3).unwrap();
        assert_eq!((r.n, r.subsampled), (5, true));
        let sa = crate::subsample_rows(a.view(), 5, 3 ^ 0x5eed);
        assert_eq!(r.result, w2_exact(sa.view(), b.view()).unwrap());
        // equal sizes: no subsampling, the plain exact W2
        let r = w2_exact_paired(b.view(), b.view(), 9).unwrap();
        assert_eq!((r.n, r.subsampled), (5, false));
        assert!(r.result.w2 < 1e-6, "{}", r.result.w2);
        assert_eq!(subsample_indices(4, 10, 1), vec![0, 1, 2, 3]);
        let big = Array2::<f64>::zeros((MAX_DENSE_POINTS + 1, 1));
        let msg = w2_exact_paired(big.view(), b.view(), 0).unwrap_err().to_string();
        assert!(msg.contains("dense limit"), "{msg}");
        assert!(invalid("x").to_string() == "x");
    }

    /// Regression (found by the bad-input matrix): an empty set made the other one subsample to
    /// zero rows, which panicked inside ndarray's `select`; now the solver's refusal is returned.
    #[test]
    fn an_empty_set_is_an_error_not_a_panic() {
        let b = Array2::from_shape_fn((5, 2), |(i, j)| (i + 2 * j) as f64 * 0.2);
        let empty = Array2::<f64>::zeros((0, 2));
        let msg = w2_exact_paired(empty.view(), b.view(), 1).unwrap_err().to_string();
        assert!(msg.contains("empty"), "{msg}");
        assert_eq!(crate::subsample_rows(b.view(), 0, 1).dim(), (0, 2));
    }
}
