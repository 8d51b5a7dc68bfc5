//! The file form of a [`MomentAccumulator`]: a pytorch-fid compatible `.npz`.
//!
//! Entries: `mu` (D,) and `sigma` (D, D), float64, exactly as pytorch-fid writes them (so
//! pytorch-fid, the CLI's `metrics` and [`crate::read_stats_npz`] read the file as statistics),
//! plus what exact merging needs and pytorch-fid ignores: `n` (the sample count, int64, 0-d),
//! `scatter` (the centred scatter matrix M₂ = Σ(x − μ)(x − μ)ᵀ, float64 (D, D)) and
//! `moments_version` (int64, 0-d, currently 1).

use crate::error::{MetricsError, Result};
use crate::moments::MomentAccumulator;
use ndarray::{arr0, Array0, Array1, Array2};
use ndarray_npy::NpzReader;
use std::fs::File;
use std::path::Path;

/// Version written into `moments_version`; readers refuse newer ones.
pub const MOMENTS_VERSION: i64 = 1;

fn file_err(path: &Path, msg: impl Into<String>) -> MetricsError {
    MetricsError::File { path: path.to_path_buf(), msg: msg.into() }
}

/// Writes the accumulator (N ≥ 2, for `sigma`) to `path`.
pub fn write_moments_npz(path: impl AsRef<Path>, acc: &MomentAccumulator) -> Result<()> {
    let path = path.as_ref();
    let sigma = acc.covariance().map_err(|e| file_err(path, format!("cannot save statistics: {e}")))?;
    // atomic: a kill or a full disk never leaves a torn file behind
    crate::stats_io::write_npz_atomic(path, |npz| {
        npz.add_array("mu", &acc.mean())?;
        npz.add_array("sigma", &sigma)?;
        npz.add_array("n", &arr0(acc.count() as i64))?;
        npz.add_array("scatter", &acc.scatter())?;
        npz.add_array("moments_version", &arr0(MOMENTS_VERSION))
    })
}

/// Reads an accumulator written by [`write_moments_npz`]. A pytorch-fid file (only `mu` and
/// `sigma`) is refused with a message saying why: without the sample count it cannot be merged.
pub fn read_moments_npz(path: impl AsRef<Path>) -> Result<MomentAccumulator> {
    let path = path.as_ref();
    let f = File::open(path).map_err(|e| file_err(path, format!("cannot open: {e}")))?;
    let mut npz = NpzReader::new(f)
        .map_err(|e| file_err(path, format!("not a valid .npz archive (truncated or corrupt?): {e}")))?;
    let names =
        npz.names().map_err(|e| file_err(path, format!("cannot list .npz entries (truncated or corrupt?): {e}")))?;
    let has = |k: &str| names.iter().any(|n| n == k || n == &format!("{k}.npy"));
    if !has("n") || !has("scatter") {
        return Err(file_err(
            path,
            format!(
                "holds no sample count and scatter matrix (entries: {}): statistics written by pytorch-fid can be \
                 used for a Fréchet distance but not merged; recompute them with scoreprobe to merge",
                names.join(", ")
            ),
        ));
    }
    let corrupt = |what: &str, e: ndarray_npy::ReadNpzError| file_err(path, format!("entry '{what}': {e}"));
    if has("moments_version") {
        let v: Array0<i64> = npz.by_name("moments_version").map_err(|e| corrupt("moments_version", e))?;
        let v = v.into_scalar();
        if v > MOMENTS_VERSION || v < 1 {
            return Err(file_err(path, format!("moments_version {v} is not supported (this build reads 1)")));
        }
    }
    let n: Array0<i64> = npz.by_name("n").map_err(|e| corrupt("n", e))?;
    let n = n.into_scalar();
    if n < 0 {
        return Err(file_err(path, format!("entry 'n' is negative ({n})")));
    }
    let mu: Array1<f64> = npz.by_name("mu").map_err(|e| corrupt("mu", e))?;
    let scatter: Array2<f64> = npz.by_name("scatter").map_err(|e| corrupt("scatter", e))?;
    MomentAccumulator::from_parts(n as usize, mu, scatter).map_err(|e| file_err(path, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats_io::{read_stats_npz, write_stats_npz};
    use ndarray::array;

    #[test]
    fn round_trips_exactly_and_reads_as_pytorch_fid_stats() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.npz");
        let x = array![[1.0, 2.0], [3.0, -1.0], [0.5, 0.25], [7.0, 1.0]];
        let acc = MomentAccumulator::from_points(x.view()).unwrap();
        write_moments_npz(&p, &acc).unwrap();
        let back = read_moments_npz(&p).unwrap();
        assert_eq!(back.count(), 4);
        assert_eq!(back.mean(), acc.mean());
        assert_eq!(back.scatter(), acc.scatter());
        let stats = read_stats_npz(&p).unwrap();
        assert_eq!(stats.sigma, acc.covariance().unwrap());
        assert_eq!(stats.mu, acc.mean());

        // a pytorch-fid file: readable as stats, refused as mergeable moments
        let fid = dir.path().join("fid.npz");
        write_stats_npz(&fid, &stats).unwrap();
        let msg = read_moments_npz(&fid).unwrap_err().to_string();
        assert!(msg.contains("fid.npz") && msg.contains("sample count"), "{msg}");
        // too few points for sigma
        let one = MomentAccumulator::from_points(array![[1.0, 2.0]].view()).unwrap();
        assert!(write_moments_npz(dir.path().join("one.npz"), &one).is_err());
    }
}
