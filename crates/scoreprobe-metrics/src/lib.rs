//! Reference metrics between two sample or feature sets (SPEC §8), in f64 throughout.
//!
//! Inputs are `ndarray` views of shape (N, D), one row per point. Every stochastic routine takes a
//! seed (same seed, same result); bad input (empty sets, mismatched widths, NaN/Inf rows) is an
//! `Err`, never a panic.
//!
//! Conventions stated once: transport costs are |x − y|² (not ½|x − y|²) and every W2 the crate
//! reports is the distance, √(optimal mean cost); FD is a squared quantity (it equals the Bures W2²
//! between the Gaussian fits); covariances are unbiased (1/(N−1)) as in `np.cov` and pytorch-fid.

mod assignment;
pub mod error;
pub mod fd_state;
pub mod frechet;
mod gemm;
pub mod kid;
pub mod moments;
pub mod moments_file;
pub mod options;
pub mod pairs;
pub mod points_state;
pub mod prdc;
pub mod rank;
pub mod report;
pub mod sinkhorn;
pub mod stats_io;
pub mod warning;
pub mod wasserstein;

pub use error::{MetricsError, Result};
pub use fd_state::{FdState, MomentState};
pub use frechet::{frechet_distance, frechet_distance_points, frechet_distance_stats, FrechetResult, TraceMethod};
pub use kid::{kid, KidOptions, KidResult};
pub use moments::{gaussian_stats, GaussianStats, MomentAccumulator};
pub use moments_file::{read_moments_npz, write_moments_npz};
pub use options::{Metric, MetricsOptions};
pub use pairs::{check_dense, subsample_indices, subsample_rows, w2_exact_paired, PairedW2, MAX_DENSE_POINTS};
pub use points_state::PointsState;
pub use prdc::{prdc, Prdc, PrdcOptions};
pub use rank::{kendall_ci, kendall_tau_b, pearson, pearson_ci, spearman, spearman_ci, BootstrapOptions, Correlation};
pub use sinkhorn::{sinkhorn_divergence, SinkhornOptions, SinkhornResult};
pub use stats_io::{read_points_npy, read_stats_npz, write_points_npy, write_stats_npz};
pub use warning::{MetricWarning, Set};
pub use wasserstein::{bures_w2, w2_exact, w2_sliced, BuresW2, ExactW2, SlicedOptions, SlicedW2};

/// Exact optimal assignment (used by [`w2_exact`]); exposed for callers with their own costs.
pub fn linear_assignment(cost: ndarray::ArrayView2<f64>) -> Result<(Vec<usize>, f64)> {
    if cost.nrows() != cost.ncols() || cost.nrows() == 0 {
        return Err(error::invalid(format!("assignment: needs a non-empty square cost matrix, got {:?}", cost.dim())));
    }
    if cost.iter().any(|v| !v.is_finite()) {
        return Err(error::invalid("assignment: cost matrix contains NaN or infinite entries"));
    }
    Ok(assignment::solve(cost))
}
