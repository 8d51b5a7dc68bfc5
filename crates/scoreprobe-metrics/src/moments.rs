//! Streaming, mergeable mean and covariance in f64 (Chan, Golub & LeVeque's parallel update).
//!
//! Each pushed chunk is reduced to its own (count, mean, centred scatter matrix) and combined with
//! the running totals by
//!   n = n_a + n_b,  δ = μ_b − μ_a,  μ = μ_a + δ n_b/n,  M₂ = M₂a + M₂b + δδᵀ n_a n_b/n,
//! so the result does not depend on how the data were split (up to rounding), accumulators built
//! on different threads or machines can be merged, and no chunk is ever centred at a far-away
//! mean (no catastrophic cancellation of the naive Σxxᵀ − nμμᵀ).

use crate::error::{check_points, invalid, MetricsError, Result};
use crate::gemm;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, ShapeBuilder};
use rayon::prelude::*;

/// Rows reduced per block inside `push`: bounds the temporary centred copy (block × D f64; 64 MiB
/// at D = 2048). Larger blocks feed the rank-k update better; 4096 is past the knee.
const BLOCK_ROWS: usize = 4096;

/// Gaussian summary of a feature set, as stored in pytorch-fid `.npz` files.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianStats {
    /// Mean, shape (D,).
    pub mu: Array1<f64>,
    /// Covariance with the unbiased 1/(N−1) normalisation (as `np.cov`), shape (D, D).
    pub sigma: Array2<f64>,
    /// Number of samples behind the statistics, when known (not stored in `.npz` files).
    pub n: Option<usize>,
}

/// Running count, mean and centred scatter matrix M₂ = Σ (x − μ)(x − μ)ᵀ.
#[derive(Clone, Debug)]
pub struct MomentAccumulator {
    n: usize,
    mean: Array1<f64>,
    /// M₂, lower triangle only (the strict upper triangle stays 0): each update is a symmetric
    /// rank-k product, so only half of it is computed; the full matrix is formed on read-out.
    m2: Array2<f64>,
}

impl MomentAccumulator {
    /// An empty accumulator for D-dimensional points.
    pub fn new(dim: usize) -> Self {
        Self { n: 0, mean: Array1::zeros(dim), m2: Array2::zeros((dim, dim)) }
    }

    /// Accumulator over all rows of `x` (N, D).
    pub fn from_points(x: ArrayView2<f64>) -> Result<Self> {
        let mut acc = Self::new(x.ncols());
        acc.push(x)?;
        Ok(acc)
    }

    /// An accumulator from its state: count, mean (D,) and centred scatter matrix M₂ (D, D), as
    /// saved by [`crate::write_moments_npz`]. Refuses inconsistent shapes and non-finite values.
    pub fn from_parts(n: usize, mean: Array1<f64>, m2: Array2<f64>) -> Result<Self> {
        let d = mean.len();
        if m2.dim() != (d, d) {
            return Err(invalid(format!("moments: scatter matrix has shape {:?}, the mean has length {d}", m2.dim())));
        }
        if mean.iter().chain(m2.iter()).any(|v| !v.is_finite()) {
            return Err(invalid("moments: mean or scatter matrix contains NaN or infinite values"));
        }
        if n == 0 && (mean.iter().any(|&v| v != 0.0) || m2.iter().any(|&v| v != 0.0)) {
            return Err(invalid("moments: an empty accumulator (n = 0) must have a zero mean and scatter"));
        }
        Ok(Self { n, mean, m2 })
    }

    /// The centred scatter matrix M₂ = Σ (x − μ)(x − μ)ᵀ (what exact merging needs beside n and μ).
    pub fn scatter(&self) -> ArrayView2<'_, f64> {
        self.m2.view()
    }

    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    pub fn count(&self) -> usize {
        self.n
    }

    /// Adds the rows of `chunk` (M, D). An empty chunk (M = 0) is a no-op; NaN/Inf rows are refused
    /// and leave the accumulator unchanged.
    pub fn push(&mut self, chunk: ArrayView2<f64>) -> Result<()> {
        if chunk.ncols() != self.dim() {
            return Err(MetricsError::DimensionMismatch {
                what: "moments: chunk width vs accumulator dimension".into(),
                left: chunk.ncols(),
                right: self.dim(),
            });
        }
        if chunk.nrows() == 0 {
            return Ok(());
        }
        check_points(chunk, "moments: chunk")?;
        let mut buf = Vec::new();
        for block in chunk.axis_chunks_iter(Axis(0), BLOCK_ROWS) {
            let mean = block_mean(block);
            let centred = centre_column_major(block, mean.view(), std::mem::take(&mut buf));
            // The block's own scatter goes straight into M₂ (lower triangle), then the Chan term.
            gemm::syrk_lower_t(&mut self.m2, centred.view(), true);
            self.combine_means(block.nrows(), mean.view());
            buf = centred.into_raw_vec_and_offset().0;
        }
        Ok(())
    }

    /// Merges another accumulator (same dimension) into this one.
    pub fn merge(&mut self, other: &MomentAccumulator) -> Result<()> {
        if other.dim() != self.dim() {
            return Err(MetricsError::DimensionMismatch {
                what: "moments: merging accumulators".into(),
                left: self.dim(),
                right: other.dim(),
            });
        }
        if other.n > 0 {
            self.m2 += &other.m2;
            self.combine_means(other.n, other.mean.view());
        }
        Ok(())
    }

    /// Count and mean of the union with a set of `nb` points of mean `mean_b`, and the cross term
    /// δδᵀ n_a n_b / n of M₂ (lower triangle); the other set's own M₂ has already been added.
    fn combine_means(&mut self, nb: usize, mean_b: ArrayView1<f64>) {
        if self.n == 0 {
            self.n = nb;
            self.mean.assign(&mean_b);
            return;
        }
        let (na_f, nb_f) = (self.n as f64, nb as f64);
        let n_f = na_f + nb_f;
        let delta = &mean_b - &self.mean;
        let w = na_f * nb_f / n_f;
        let d = self.dim();
        let m2 = self.m2.as_slice_mut().expect("standard layout");
        let dl = delta.as_slice().expect("contiguous");
        m2.par_chunks_mut(d).enumerate().for_each(|(i, row)| {
            let di = dl[i] * w;
            row[..=i].iter_mut().zip(&dl[..=i]).for_each(|(r, dj)| *r += di * dj);
        });
        self.mean.scaled_add(nb_f / n_f, &delta);
        self.n += nb;
    }

    pub fn mean(&self) -> ArrayView1<'_, f64> {
        self.mean.view()
    }

    /// Covariance with `ddof` (1: unbiased, as `np.cov` and pytorch-fid; 0: maximum likelihood).
    pub fn covariance_ddof(&self, ddof: usize) -> Result<Array2<f64>> {
        if self.n <= ddof {
            return Err(invalid(format!(
                "moments: covariance with ddof={ddof} needs more than {ddof} points, got {}",
                self.n
            )));
        }
        let mut c = &self.m2 / (self.n - ddof) as f64;
        gemm::mirror_lower(&mut c);
        Ok(c)
    }

    /// Unbiased covariance (1/(N−1)); needs N ≥ 2.
    pub fn covariance(&self) -> Result<Array2<f64>> {
        self.covariance_ddof(1)
    }

    /// Mean and unbiased covariance.
    pub fn stats(&self) -> Result<GaussianStats> {
        Ok(GaussianStats { mu: self.mean.clone(), sigma: self.covariance()?, n: Some(self.n) })
    }
}

/// Column means of a non-empty block, corrected by a second pass (μ += Σ(x − μ)/m): the rounding
/// error of the sum is removed, and a constant column gets its value back exactly, so that its
/// centred values, and its variance, are exactly 0.
fn block_mean(x: ArrayView2<f64>) -> Array1<f64> {
    let m = x.nrows() as f64;
    let mut mean = x.sum_axis(Axis(0)) / m;
    let mut corr = Array1::<f64>::zeros(x.ncols());
    for row in x.rows() {
        ndarray::Zip::from(&mut corr).and(&row).and(&mean).for_each(|c, &r, &mu| *c += r - mu);
    }
    mean.zip_mut_with(&corr, |mu, &c| *mu += c / m);
    mean
}

/// `x − mean` (row by row) as a column-major array, written into `buf`'s allocation. The rank-k
/// update Xᵀ X runs about twice as fast from a column-major X as from ndarray's row-major one
/// (faer's kernels then read both operands along the summed dimension), and centring is a
/// pass over the block anyway, so it writes the transpose (in 8 × 8 tiles, in parallel: the
/// strides are often powers of two, and wider tiles would thrash one L1 set).
fn centre_column_major(x: ArrayView2<f64>, mean: ArrayView1<f64>, mut buf: Vec<f64>) -> Array2<f64> {
    const TILE: usize = 8;
    let (m, d) = x.dim();
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let mu = mean.as_slice().expect("contiguous mean");
    buf.clear();
    buf.resize(m * d, 0.0);
    buf.par_chunks_mut(TILE * m).enumerate().for_each(|(t, cols)| {
        let j0 = t * TILE;
        let width = cols.len() / m;
        for i0 in (0..m).step_by(TILE) {
            for jj in 0..width {
                let (j, col) = (j0 + jj, &mut cols[jj * m..(jj + 1) * m]);
                for i in i0..(i0 + TILE).min(m) {
                    col[i] = xs[i * d + j] - mu[j];
                }
            }
        }
    });
    Array2::from_shape_vec((m, d).f(), buf).expect("m × d buffer")
}

/// Mean and unbiased covariance of the rows of `x` (N ≥ 2).
pub fn gaussian_stats(x: ArrayView2<f64>) -> Result<GaussianStats> {
    if x.nrows() == 0 || x.ncols() == 0 {
        check_points(x, "moments")?; // the empty-input error
    }
    MomentAccumulator::from_points(x)?.stats() // `push` refuses NaN/Inf rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};

    fn data(n: usize, d: usize, seed: u64) -> Array2<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let nd = Normal::new(0.0, 1.0).unwrap();
        // Far from the origin, correlated: a naive Σxxᵀ − nμμᵀ would lose digits here.
        Array2::from_shape_fn((n, d), |(_, j)| 1e3 + j as f64 + nd.sample(&mut rng) * (1.0 + j as f64))
    }

    fn naive_cov(x: &Array2<f64>) -> (Array1<f64>, Array2<f64>) {
        let mu = x.mean_axis(Axis(0)).unwrap();
        let c = x - &mu.view().insert_axis(Axis(0));
        (mu, c.t().dot(&c) / (x.nrows() - 1) as f64)
    }

    fn max_rel(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
        let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        (a - b).iter().fold(0.0f64, |m, v| m.max(v.abs())) / scale
    }

    #[test]
    fn chunking_and_merging_do_not_change_the_result() {
        let x = data(5000, 7, 1);
        let (mu, cov) = naive_cov(&x);
        let whole = MomentAccumulator::from_points(x.view()).unwrap();
        let mut chunked = MomentAccumulator::new(7);
        for c in [1usize, 2, 3, 500, 1000, 1234, 2260] {
            let start = chunked.count();
            chunked.push(x.slice(ndarray::s![start..start + c, ..])).unwrap();
        }
        assert_eq!(chunked.count(), 5000);
        let mut left = MomentAccumulator::from_points(x.slice(ndarray::s![..1777, ..])).unwrap();
        let right = MomentAccumulator::from_points(x.slice(ndarray::s![1777.., ..])).unwrap();
        left.merge(&right).unwrap();
        left.merge(&MomentAccumulator::new(7)).unwrap();
        for acc in [&whole, &chunked, &left] {
            // All three and the two-pass reference agree to rounding: 1e-12 relative.
            assert!(max_rel(&acc.covariance().unwrap(), &cov) < 1e-12);
            let dm = (&acc.mean() - &mu).iter().fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(dm < 1e-12 * 1e3, "mean differs by {dm}");
        }
        assert!(max_rel(&chunked.covariance().unwrap(), &whole.covariance().unwrap()) < 1e-12);
    }

    #[test]
    fn refuses_bad_input() {
        let mut acc = MomentAccumulator::new(3);
        assert!(acc.push(Array2::zeros((2, 4)).view()).is_err());
        let mut bad = Array2::<f64>::zeros((3, 3));
        bad[[1, 2]] = f64::NAN;
        let err = acc.push(bad.view()).unwrap_err().to_string();
        assert!(err.contains("row 1"), "{err}");
        assert_eq!(acc.count(), 0);
        acc.push(Array2::zeros((1, 3)).view()).unwrap();
        assert!(acc.covariance().is_err());
        assert!(gaussian_stats(Array2::zeros((0, 3)).view()).is_err());
        assert!(MomentAccumulator::new(2).merge(&MomentAccumulator::new(3)).is_err());
    }
}
