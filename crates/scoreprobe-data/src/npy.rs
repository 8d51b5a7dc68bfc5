//! `.npy` files, the workspace's one reader and one writer: feature / sample matrices `(N, D)`
//! and image arrays.
//!
//! [`read_npy`] accepts little- or big-endian `f64`, `f32` and `u8` arrays, C or Fortran order.
//! [`write_npy`] writes any array atomically through `scoreprobe_core::fsio` (temporary file in
//! the destination folder, flushed to disk, renamed into place), so readers never see a
//! half-written file; [`save_matrix_f32`] stores features as `float32` (what pytorch-fid and numpy
//! users expect).

use std::io::Write;
use std::path::Path;

use ndarray::{Array2, Array4, ArrayBase, ArrayD, ArrayViewD, Axis, Data, Dimension, Ix2};
use ndarray_npy::{ReadNpyError, ReadNpyExt, WritableElement, WriteNpyExt};

use crate::error::{DataError, Result};
use crate::ImageSet;

/// Element type found in a `.npy` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NpyDtype {
    F64,
    F32,
    U8,
}

/// Reads any supported `.npy` array (`f64`, `f32` or `u8`) as `f64`, with the dtype the file held.
/// Errors name the file and say what is wrong (missing, truncated, unsupported dtype, not `.npy`).
pub fn read_npy(path: impl AsRef<Path>) -> Result<(ArrayD<f64>, NpyDtype)> {
    let path = path.as_ref();
    let bytes =
        std::fs::read(path).map_err(|source| DataError::Io { path: path.into(), action: "cannot read", source })?;
    let explain = |e: ReadNpyError| -> DataError {
        match e {
            ReadNpyError::MissingData => {
                DataError::format(path, "truncated .npy file (the header describes more data than the file holds)")
            }
            ReadNpyError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                DataError::format(path, format!("truncated .npy file ({io})"))
            }
            ReadNpyError::WrongDescriptor(d) => {
                DataError::format(path, format!("unsupported .npy dtype {d} (supported: float64, float32, uint8)"))
            }
            source => DataError::Npy { path: path.into(), source },
        }
    };
    match ArrayD::<f64>::read_npy(&bytes[..]) {
        Ok(a) => return Ok((a, NpyDtype::F64)),
        Err(ReadNpyError::WrongDescriptor(_)) => {}
        Err(e) => return Err(explain(e)),
    }
    match ArrayD::<f32>::read_npy(&bytes[..]) {
        Ok(a) => return Ok((a.mapv(f64::from), NpyDtype::F32)),
        Err(ReadNpyError::WrongDescriptor(_)) => {}
        Err(e) => return Err(explain(e)),
    }
    match ArrayD::<u8>::read_npy(&bytes[..]) {
        Ok(a) => Ok((a.mapv(f64::from), NpyDtype::U8)),
        Err(e) => Err(explain(e)),
    }
}

/// Errors naming the first row (sample) of `a` that contains a NaN or an infinity.
fn check_finite(a: &ArrayD<f64>, path: &Path) -> Result<()> {
    if a.iter().all(|v| v.is_finite()) {
        return Ok(());
    }
    for (i, row) in a.axis_iter(Axis(0)).enumerate() {
        if let Some((j, v)) = row.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(DataError::format(
                path,
                format!("row {i} contains a non-finite value ({v} at flat position {j} of that row)"),
            ));
        }
    }
    unreachable!("a non-finite value exists")
}

/// Reads an `(N, D)` matrix (`f64`, `f32` or `u8`) as `f64`. Empty, truncated or non-finite
/// arrays are errors naming the file (and, for NaN/inf, the row).
pub fn load_matrix(path: impl AsRef<Path>) -> Result<Array2<f64>> {
    let path = path.as_ref();
    let (a, _) = read_npy(path)?;
    if a.ndim() != 2 {
        return Err(DataError::format(
            path,
            format!("expected a 2-D (N, D) array, found an array with {} dimensions, shape {:?}", a.ndim(), a.shape()),
        ));
    }
    if a.is_empty() {
        return Err(DataError::format(path, format!("array is empty (shape {:?})", a.shape())));
    }
    check_finite(&a, path)?;
    Ok(a.into_dimensionality::<Ix2>().expect("ndim checked"))
}

/// Reads an image array as an [`ImageSet`] without labels; see [`images_from_array`] for the
/// accepted shapes and value ranges.
pub fn load_images_npy(path: impl AsRef<Path>) -> Result<ImageSet> {
    let path = path.as_ref();
    let (a, dtype) = read_npy(path)?;
    images_from_array(a, dtype, &path.display().to_string())
}

/// An image array (values as `f64`, `dtype` the element type it came in) as an [`ImageSet`]
/// without labels; `name` names the array in errors (a file, a Python argument). Accepted shapes:
/// `(N, H, W)` (grayscale), `(N, C, H, W)` with `C` in {1, 3}, or channel-last `(N, H, W, C)` with
/// `C` in {1, 3} when the second axis is not 1 or 3. `u8` arrays are divided by 255; float arrays
/// must already lie in `[0, 1]` (values within 1e-4 outside are clamped; anything further is an
/// error suggesting the rescaling, e.g. `(x + 1) / 2` for `[-1, 1]` samples).
pub fn images_from_array(a: ArrayD<f64>, dtype: NpyDtype, name: &str) -> Result<ImageSet> {
    let path = Path::new(name);
    if a.is_empty() {
        return Err(DataError::format(path, format!("array is empty (shape {:?})", a.shape())));
    }
    check_finite(&a, path)?;
    let a4 = to_nchw(a, path)?;
    let images = if dtype == NpyDtype::U8 {
        a4.mapv(|v| (v / 255.0) as f32)
    } else {
        let (lo, hi) = a4.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
        if !(lo >= -1e-4 && hi <= 1.0 + 1e-4) {
            return Err(DataError::format(
                path,
                format!(
                    "float images must lie in [0, 1], found values in [{lo}, {hi}] \
                     (rescale first, e.g. (x + 1) / 2 for samples in [-1, 1], or x / 255)"
                ),
            ));
        }
        a4.mapv(|v| v.clamp(0.0, 1.0) as f32)
    };
    Ok(ImageSet { images: images.as_standard_layout().into_owned(), labels: None })
}

/// A `u8` image array as an [`ImageSet`]: [`images_from_array`] for bytes (the same shapes and
/// the same `f32` values, `(v / 255.0) as f32` in `f64`), without its `f64` copy, in parallel.
pub fn images_from_u8(a: ArrayViewD<'_, u8>, name: &str) -> Result<ImageSet> {
    let path = Path::new(name);
    if a.is_empty() {
        return Err(DataError::format(path, format!("array is empty (shape {:?})", a.shape())));
    }
    let a4 = to_nchw(a, path)?;
    let lut: [f32; 256] = std::array::from_fn(|v| (v as f64 / 255.0) as f32);
    let mut images = Array4::<f32>::zeros(a4.dim());
    ndarray::Zip::from(&mut images).and(&a4).par_for_each(|d, &v| *d = lut[usize::from(v)]);
    Ok(ImageSet { images, labels: None })
}

/// An image array of 3 or 4 axes as `(N, C, H, W)` (see [`images_from_array`] for the shapes).
fn to_nchw<S: ndarray::RawData>(a: ArrayBase<S, ndarray::IxDyn>, path: &Path) -> Result<ArrayBase<S, ndarray::Ix4>> {
    Ok(match a.ndim() {
        3 => a.insert_axis(Axis(1)).into_dimensionality().expect("4-D"),
        4 => {
            let s = a.shape().to_vec();
            let a4 = a.into_dimensionality::<ndarray::Ix4>().expect("4-D");
            if s[1] == 1 || s[1] == 3 {
                a4
            } else if s[3] == 1 || s[3] == 3 {
                a4.permuted_axes([0, 3, 1, 2])
            } else {
                return Err(DataError::format(
                    path,
                    format!("shape {s:?} has neither 1 nor 3 channels on axis 1 (N, C, H, W) or axis 3 (N, H, W, C)"),
                ));
            }
        }
        2 => {
            return Err(DataError::format(
                path,
                format!(
                    "a 2-D array of shape {:?} is a matrix, not images \
                     (load it with load_matrix / the identity feature space)",
                    a.shape()
                ),
            ))
        }
        _ => {
            return Err(DataError::format(
                path,
                format!("expected images of shape (N, H, W), (N, C, H, W) or (N, H, W, C), found {:?}", a.shape()),
            ))
        }
    })
}

/// Writes any array as `.npy` (ndarray-npy's format: little-endian, C order) atomically: a
/// temporary file in the destination folder, flushed to disk, then renamed over `path`.
pub fn write_npy<S, D, A>(path: impl AsRef<Path>, array: &ArrayBase<S, D>) -> Result<()>
where
    S: Data<Elem = A>,
    D: Dimension,
    A: WritableElement,
{
    let path = path.as_ref();
    scoreprobe_core::fsio::write_atomic_with(path, |tmp| -> Result<()> {
        let io = |action| move |source| DataError::Io { path: tmp.into(), action, source };
        let file = std::fs::File::create(tmp).map_err(io("cannot create"))?;
        let mut w = std::io::BufWriter::new(file);
        array.write_npy(&mut w).map_err(|source| DataError::NpyWrite { path: path.into(), source })?;
        w.flush().map_err(io("cannot write"))?;
        w.get_ref().sync_all().map_err(io("cannot flush to disk"))
    })?;
    Ok(())
}

/// Writes an `(N, D)` matrix as a little-endian `float32` `.npy`, atomically ([`write_npy`]).
/// Values that do not fit in `f32` (or are not finite) are an error naming the file and row.
pub fn save_matrix_f32(path: impl AsRef<Path>, m: &Array2<f64>) -> Result<()> {
    let path = path.as_ref();
    let m32 = m.mapv(|v| v as f32);
    if let Some((i, _)) = m32.axis_iter(Axis(0)).enumerate().find(|(_, r)| r.iter().any(|v| !v.is_finite())) {
        return Err(DataError::format(path, format!("cannot save: row {i} has a value that is not finite in float32")));
    }
    write_npy(path, &m32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte path gives the `f64` path's images, for every accepted shape and all 256 values.
    #[test]
    fn images_from_u8_equals_the_f64_path() {
        for shape in [vec![2, 16, 16], vec![2, 3, 8, 8], vec![2, 8, 8, 3], vec![1, 1, 16, 16]] {
            let n: usize = shape.iter().product();
            let bytes: Vec<u8> = (0..n).map(|i| (i * 7 % 256) as u8).collect();
            let a = ArrayD::from_shape_vec(shape.clone(), bytes).unwrap();
            let fast = images_from_u8(a.view(), "x").unwrap();
            let slow = images_from_array(a.mapv(f64::from), NpyDtype::U8, "x").unwrap();
            assert_eq!(fast.images, slow.images, "{shape:?}");
        }
        let bad = ArrayD::<u8>::zeros(vec![2, 5, 5, 5]);
        assert!(images_from_u8(bad.view(), "x").is_err());
    }
}
