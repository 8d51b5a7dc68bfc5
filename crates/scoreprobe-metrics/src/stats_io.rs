//! Files: pytorch-fid style `.npz` statistics (`mu` (D,), `sigma` (D, D)) and `.npy` point sets
//! (through scoreprobe-data's `.npy` reader and writer). Every error names the file; every write
//! is atomic.

use crate::error::{MetricsError, Result};
use crate::moments::GaussianStats;
use ndarray::{Array1, Array2, ArrayView2, Dimension};
use ndarray_npy::{NpzReader, NpzWriter, ReadNpyError, ReadNpzError, WriteNpzError};
use std::fs::File;
use std::io::{BufWriter, Read, Seek};
use std::path::Path;

fn file_err(path: &Path, msg: impl Into<String>) -> MetricsError {
    MetricsError::File { path: path.to_path_buf(), msg: msg.into() }
}

/// An `.npz` writer whose bytes depend on the arrays only: entries stored uncompressed (as
/// `np.savez`) and stamped 1980-01-01 rather than with the current time, which zip's `time`
/// feature would otherwise write (same arrays, same file hash).
pub(crate) fn npz_writer<W: std::io::Write + Seek>(w: W) -> NpzWriter<W> {
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default());
    NpzWriter::new_with_options(w, options)
}

fn npy_msg(e: &ReadNpyError) -> String {
    match e {
        ReadNpyError::MissingData => "file is truncated (the header promises more data than the file holds)".into(),
        ReadNpyError::WrongDescriptor(d) => format!("unsupported element type {d} (expected float32 or float64)"),
        ReadNpyError::WrongNdim(want, got) => {
            format!("array has {got} dimensions, expected {}", want.map_or("?".into(), |w| w.to_string()))
        }
        other => format!("not a readable .npy array: {other}"),
    }
}

/// A point set (N, D) from a `.npy` file of float64, float32 or uint8: non-empty, every value
/// finite (`scoreprobe_data::load_matrix`).
pub fn read_points_npy(path: impl AsRef<Path>) -> Result<Array2<f64>> {
    Ok(scoreprobe_data::load_matrix(path)?)
}

/// Writes a point set as float64 `.npy`, atomically (`scoreprobe_data::write_npy`).
pub fn write_points_npy(path: impl AsRef<Path>, x: ArrayView2<f64>) -> Result<()> {
    Ok(scoreprobe_data::write_npy(path, &x)?)
}

fn npz_entry<R: Read + Seek, D: Dimension>(
    npz: &mut NpzReader<R>,
    name: &str,
    path: &Path,
) -> Result<ndarray::Array<f64, D>> {
    let read = |npz: &mut NpzReader<R>| -> std::result::Result<ndarray::Array<f64, D>, ReadNpzError> {
        match npz.by_name::<ndarray::OwnedRepr<f64>, D>(name) {
            Err(ReadNpzError::Npy(ReadNpyError::WrongDescriptor(_))) => {
                npz.by_name::<ndarray::OwnedRepr<f32>, D>(name).map(|a| a.mapv(f64::from))
            }
            r => r,
        }
    };
    read(npz).map_err(|e| match e {
        ReadNpzError::Npy(inner) => file_err(path, format!("entry '{name}': {}", npy_msg(&inner))),
        other => file_err(path, format!("entry '{name}': {other} (truncated or corrupt archive?)")),
    })
}

/// Reads pytorch-fid style statistics: entries `mu` (D,) and `sigma` (D, D), float64 or float32.
pub fn read_stats_npz(path: impl AsRef<Path>) -> Result<GaussianStats> {
    let path = path.as_ref();
    let f = File::open(path).map_err(|e| file_err(path, format!("cannot open: {e}")))?;
    let mut npz = NpzReader::new(f)
        .map_err(|e| file_err(path, format!("not a valid .npz archive (truncated or corrupt?): {e}")))?;
    let names =
        npz.names().map_err(|e| file_err(path, format!("cannot list .npz entries (truncated or corrupt?): {e}")))?;
    for key in ["mu", "sigma"] {
        if !names.iter().any(|n| n == key) {
            return Err(file_err(
                path,
                format!("missing entry '{key}' (pytorch-fid stats need 'mu' and 'sigma'; found: {})", names.join(", ")),
            ));
        }
    }
    let mu: Array1<f64> = npz_entry(&mut npz, "mu", path)?;
    let sigma: Array2<f64> = npz_entry(&mut npz, "sigma", path)?;
    let d = mu.len();
    if sigma.dim() != (d, d) {
        return Err(file_err(path, format!("'sigma' has shape {:?} but 'mu' has length {d}", sigma.dim())));
    }
    if mu.iter().chain(sigma.iter()).any(|v| !v.is_finite()) {
        return Err(file_err(path, "'mu' or 'sigma' contains NaN or infinite values"));
    }
    Ok(GaussianStats { mu, sigma, n: None })
}

/// Writes statistics as float64 `mu`, `sigma` (readable by pytorch-fid's `np.load`), atomically
/// (`scoreprobe_core::fsio`).
pub fn write_stats_npz(path: impl AsRef<Path>, stats: &GaussianStats) -> Result<()> {
    write_npz_atomic(path.as_ref(), |npz| {
        npz.add_array("mu", &stats.mu)?;
        npz.add_array("sigma", &stats.sigma)
    })
}

/// Writes an `.npz` whose entries `fill` adds, atomically (temporary file, `fsync`, rename). A
/// failure keeps the operating system's error as [`MetricsError::Io`]: a full disk is reported as
/// one, not as a malformed archive.
pub(crate) fn write_npz_atomic(
    path: &Path,
    fill: impl FnOnce(&mut NpzWriter<BufWriter<File>>) -> std::result::Result<(), WriteNpzError>,
) -> Result<()> {
    let io = |action: &'static str| move |source| MetricsError::Io { path: path.to_path_buf(), action, source };
    scoreprobe_core::fsio::write_atomic_with(path, |tmp| -> Result<()> {
        let mut npz = npz_writer(BufWriter::new(File::create(tmp).map_err(io("cannot create"))?));
        fill(&mut npz).map_err(|e| npz_write_err(path, e))?;
        let buffered = npz.finish().map_err(|e| npz_write_err(path, e))?;
        let file = buffered.into_inner().map_err(|e| io("cannot flush")(e.into_error()))?;
        file.sync_all().map_err(io("cannot flush to disk"))
    })?;
    Ok(())
}

/// An `.npz` write error: the operating system's error when one is underneath.
fn npz_write_err(path: &Path, e: WriteNpzError) -> MetricsError {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = cur {
        if let Some(os) = err.downcast_ref::<std::io::Error>() {
            let source = match os.raw_os_error() {
                Some(code) => std::io::Error::from_raw_os_error(code),
                None => std::io::Error::new(os.kind(), os.to_string()),
            };
            return MetricsError::Io { path: path.to_path_buf(), action: "cannot write .npz", source };
        }
        cur = err.source();
    }
    file_err(path, format!("cannot write .npz: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use ndarray_npy::WriteNpyExt;

    #[test]
    fn round_trips_and_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("stats.npz");
        let s = GaussianStats { mu: array![1.0, 2.0], sigma: array![[2.0, 0.1], [0.1, 1.0]], n: Some(9) };
        write_stats_npz(&p, &s).unwrap();
        let back = read_stats_npz(&p).unwrap();
        assert_eq!(back.mu, s.mu);
        assert_eq!(back.sigma, s.sigma);

        // Truncated archive: the error names the file.
        let bytes = std::fs::read(&p).unwrap();
        let t = dir.path().join("truncated.npz");
        std::fs::write(&t, &bytes[..bytes.len() / 2]).unwrap();
        let msg = read_stats_npz(&t).unwrap_err().to_string();
        assert!(msg.contains("truncated.npz") && msg.contains("truncated"), "{msg}");

        // Missing key.
        let m = dir.path().join("nosigma.npz");
        let mut npz = NpzWriter::new(File::create(&m).unwrap());
        npz.add_array("mu", &s.mu).unwrap();
        npz.finish().unwrap();
        let msg = read_stats_npz(&m).unwrap_err().to_string();
        assert!(msg.contains("nosigma.npz") && msg.contains("missing entry 'sigma'"), "{msg}");

        // Missing file.
        let msg = read_stats_npz(dir.path().join("absent.npz")).unwrap_err().to_string();
        assert!(msg.contains("absent.npz"), "{msg}");

        // Points: f32 and f64 both read; truncated and wrong-rank files are refused by name.
        let x32 = array![[1.0f32, 2.0], [3.0, 4.5]];
        let p32 = dir.path().join("x32.npy");
        x32.write_npy(File::create(&p32).unwrap()).unwrap();
        assert_eq!(read_points_npy(&p32).unwrap(), array![[1.0, 2.0], [3.0, 4.5]]);
        let p64 = dir.path().join("x64.npy");
        write_points_npy(&p64, array![[1.0, -2.0]].view()).unwrap();
        assert_eq!(read_points_npy(&p64).unwrap(), array![[1.0, -2.0]]);
        let bytes = std::fs::read(&p64).unwrap();
        let tr = dir.path().join("cut.npy");
        std::fs::write(&tr, &bytes[..bytes.len() - 3]).unwrap();
        let msg = read_points_npy(&tr).unwrap_err().to_string();
        assert!(msg.contains("cut.npy") && msg.contains("truncated"), "{msg}");
        let p1 = dir.path().join("vec.npy");
        array![1.0, 2.0].write_npy(File::create(&p1).unwrap()).unwrap();
        let msg = read_points_npy(&p1).unwrap_err().to_string();
        assert!(msg.contains("vec.npy") && msg.contains("dimensions"), "{msg}");
    }
}
