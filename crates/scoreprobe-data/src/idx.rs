//! IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or not.
//!
//! Layout: two zero bytes, a type code (`0x08` = unsigned byte, the only type MNIST uses and the
//! only one read here), the number of dimensions, then each dimension as a big-endian `u32`,
//! then the data in row-major order. Compression is detected from the gzip magic bytes, not
//! from the file name.

use std::io::Read;
use std::path::Path;

use crate::error::{DataError, Result};
use ndarray::Array4;

use crate::ImageSet;

/// Raw contents of an unsigned-byte IDX file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimensions, outermost first (e.g. `[10000, 28, 28]` for MNIST test images).
    pub dims: Vec<usize>,
    /// Row-major data, `dims.iter().product()` bytes.
    pub data: Vec<u8>,
}

/// Reads the bytes of `path`, gunzipping when the file starts with the gzip magic bytes.
pub(crate) fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>> {
    let raw =
        std::fs::read(path).map_err(|source| DataError::Io { path: path.into(), action: "cannot read", source })?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out).map_err(|source| DataError::Io {
            path: path.into(),
            action: "gzip stream is corrupt or truncated",
            source,
        })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parses IDX bytes; `path` is only used in error messages.
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray> {
    let bad = |problem: String| Err(DataError::format(path, problem));
    if bytes.len() < 4 {
        return bad(format!("not an IDX file (only {} bytes, shorter than the 4-byte magic number)", bytes.len()));
    }
    if !(bytes[0] == 0 && bytes[1] == 0) {
        return bad(format!(
            "not an IDX file (magic number starts with {:#04x} {:#04x}, expected 0x00 0x00)",
            bytes[0], bytes[1]
        ));
    }
    let type_code = bytes[2];
    if type_code != 0x08 {
        return bad(format!("IDX data type {type_code:#04x} is not supported (only 0x08, unsigned byte)"));
    }
    let ndim = bytes[3] as usize;
    if !(1..=4).contains(&ndim) {
        return bad(format!("IDX file declares {ndim} dimensions (expected 1 to 4)"));
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return bad(format!("truncated IDX header ({} bytes, expected at least {header})", bytes.len()));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| {
            let b = &bytes[4 + 4 * i..8 + 4 * i];
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        })
        .collect();
    let Some(expected) = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)) else {
        return bad(format!("IDX dimensions {dims:?} overflow"));
    };
    let found = bytes.len() - header;
    if found < expected {
        return bad(format!("truncated IDX file: dimensions {dims:?} need {expected} data bytes, found {found}"));
    }
    if found != expected {
        return bad(format!(
            "IDX file has {} trailing bytes after the {expected} data bytes of dimensions {dims:?}",
            found - expected
        ));
    }
    Ok(IdxArray { dims, data: bytes[header..].to_vec() })
}

/// Reads an unsigned-byte IDX file (gzip or not).
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    let bytes = read_maybe_gzip(path)?;
    parse_idx(&bytes, path)
}

/// Reads an IDX image file of dimensions `(N, H, W)` into `(N, 1, H, W)` values in `[0, 1]`
/// (byte / 255).
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<Array4<f32>> {
    let path = path.as_ref();
    let arr = read_idx(path)?;
    if arr.dims.len() != 3 {
        return Err(DataError::format(
            path,
            format!("expected an IDX image file with 3 dimensions (N, H, W), found dimensions {:?}", arr.dims),
        ));
    }
    let (n, h, w) = (arr.dims[0], arr.dims[1], arr.dims[2]);
    if !(n > 0 && h > 0 && w > 0) {
        return Err(DataError::format(path, format!("IDX image file is empty (dimensions {:?})", arr.dims)));
    }
    let data: Vec<f32> = arr.data.iter().map(|&b| b as f32 / 255.0).collect();
    Ok(Array4::from_shape_vec((n, 1, h, w), data).expect("length checked by parse_idx"))
}

/// Reads an IDX label file of dimension `(N,)`.
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    let arr = read_idx(path)?;
    if arr.dims.len() != 1 {
        return Err(DataError::format(
            path,
            format!("expected an IDX label file with 1 dimension, found dimensions {:?}", arr.dims),
        ));
    }
    Ok(arr.data)
}

/// Reads an IDX image file and, optionally, its label file; the counts must agree.
pub fn load_idx_pair(images: impl AsRef<Path>, labels: Option<&Path>) -> Result<ImageSet> {
    let images_path = images.as_ref();
    let imgs = read_idx_images(images_path)?;
    let labels = match labels {
        Some(lp) => {
            let l = read_idx_labels(lp)?;
            if l.len() != imgs.shape()[0] {
                return Err(DataError::format(
                    lp,
                    format!("holds {} labels but {} holds {} images", l.len(), images_path.display(), imgs.shape()[0]),
                ));
            }
            Some(l)
        }
        None => None,
    };
    Ok(ImageSet { images: imgs, labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn parses_small_file() {
        let b = idx_bytes(&[2, 2, 3], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
        let a = parse_idx(&b, Path::new("x.idx")).unwrap();
        assert_eq!(a.dims, vec![2, 2, 3]);
        assert_eq!(a.data.len(), 12);
    }

    #[test]
    fn rejects_bad_magic_type_and_length() {
        let p = Path::new("bad.idx");
        let e = parse_idx(&[1, 0, 8, 1, 0, 0, 0, 0], p).unwrap_err();
        assert!(e.to_string().contains("bad.idx") && e.to_string().contains("magic"));
        let e = parse_idx(&[0, 0, 0x0d, 1, 0, 0, 0, 0], p).unwrap_err();
        assert!(e.to_string().contains("not supported"));
        let b = idx_bytes(&[4, 3], &[0; 11]);
        let e = parse_idx(&b, p).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        let b = idx_bytes(&[4, 3], &[0; 13]);
        assert!(parse_idx(&b, p).unwrap_err().to_string().contains("trailing"));
        let e = parse_idx(&[0, 0, 8, 3, 0, 0], p).unwrap_err();
        assert!(e.to_string().contains("header"), "{e}");
    }
}
