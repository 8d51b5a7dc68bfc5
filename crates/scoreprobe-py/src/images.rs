//! Images and feature spaces (scoreprobe-data, scoreprobe-features), as the CLI's `metrics
//! --features` uses them.

use crate::arrays::image_array;
use crate::errors::to_py;
use numpy::{PyArray2, PyArray4, PyArrayMethods};
use pyo3::exceptions::{PyDeprecationWarning, PyValueError};
use pyo3::prelude::*;
use scoreprobe_data::{ImageSet, NpyDtype};

/// A folder of PNG/JPEG (recursive, sorted paths), an IDX file, a ``.npy`` image array, or a data
/// set name (``mnist``, ``cifar10-test``, ``fashion-mnist``), as float32 (N, C, H, W) in [0, 1].
#[pyfunction]
#[pyo3(signature = (path, limit = None))]
pub fn load_images<'py>(
    py: Python<'py>,
    path: &Bound<'py, PyAny>,
    limit: Option<usize>,
) -> PyResult<Bound<'py, PyArray4<f32>>> {
    let set = load_set(py, path, limit)?;
    Ok(PyArray4::from_owned_array(py, set.images))
}

fn load_set(py: Python<'_>, path: &Bound<'_, PyAny>, limit: Option<usize>) -> PyResult<ImageSet> {
    let name: std::path::PathBuf = path.extract()?;
    let name = name.to_string_lossy().into_owned();
    py.detach(|| scoreprobe_data::load_dataset(&name, limit)).map_err(|e| {
        // not an existing path (nor a data set that loaded): a missing file, as Python says it
        if !std::path::Path::new(&name).exists() {
            return pyo3::exceptions::PyFileNotFoundError::new_err(e.to_string());
        }
        to_py(e)
    })
}

/// Features of ``images`` in a feature space: ``identity`` (flattened pixels), ``mnist-cnn``
/// (256-d), ``mobilenet`` (1024-d) or ``inception`` (2048-d; ``inception01``, ``inception255``
/// for networks that take [0, 1] or bytes), with the network's file in ``weights`` (``inception``:
/// a user-supplied ONNX file, required; ``mnist-cnn``, ``mobilenet``: default the shared data's).
/// ``extractor="inception:PATH"`` is the deprecated spelling of ``weights=PATH``.
#[pyfunction]
#[pyo3(signature = (images, extractor = "identity", *, weights = None))]
pub fn extract_features<'py>(
    py: Python<'py>,
    images: &Bound<'py, PyAny>,
    extractor: &str,
    weights: Option<std::path::PathBuf>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let name = extractor_name(py, extractor, weights)?;
    let set = image_set(py, images)?;
    let x = py
        .detach(|| -> Result<_, scoreprobe_features::FeaturesError> {
            let e = scoreprobe_features::extractor_from_name(&name, None)?;
            e.extract(&set)
        })
        .map_err(to_py)?;
    Ok(PyArray2::from_owned_array(py, x))
}

/// The bytes the ``mobilenet`` feature space feeds its network for each image of ``images`` (a
/// path or data set name as in :func:`load_images`, or an image array as in
/// :func:`extract_features`): uint8 (N, 224, 224, 3), NHWC, the TFLite model's input. Another
/// runtime given these bytes (e.g. LiteRT) sees exactly scoreprobe's input; fed back to
/// ``extract_features`` as (N, 3, 224, 224) uint8 they give the same features.
#[pyfunction]
pub fn mobilenet_input<'py>(py: Python<'py>, images: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray4<u8>>> {
    let set = image_set(py, images)?;
    let bytes = py.detach(|| scoreprobe_features::mobilenet_input_bytes(&set)).map_err(to_py)?;
    Ok(PyArray4::from_owned_array(py, bytes))
}

/// An image set from a path / data set name or from an image array (uint8 in 0..255, float in [0, 1]).
fn image_set(py: Python<'_>, images: &Bound<'_, PyAny>) -> PyResult<ImageSet> {
    if images.is_instance_of::<pyo3::types::PyString>() || images.hasattr("__fspath__")? {
        return load_set(py, images, None);
    }
    if let Ok(a) = images.cast::<numpy::PyArrayDyn<u8>>() {
        // bytes straight to f32 (no f64 copy of what may be gigabytes of 224 × 224 images)
        let ro = a.readonly();
        let view = ro.as_array();
        return py.detach(|| scoreprobe_data::images_from_u8(view, "images")).map_err(to_py);
    }
    let (a, is_u8) = image_array(images, "images")?;
    let dtype = if is_u8 { NpyDtype::U8 } else { NpyDtype::F64 };
    scoreprobe_data::images_from_array(a, dtype, "images").map_err(to_py)
}

/// The feature space's name as `scoreprobe_features::extractor_from_name` reads it (`KIND:PATH`),
/// from ``extractor`` and ``weights``; the old spelling ``"KIND:PATH"`` warns.
fn extractor_name(py: Python<'_>, extractor: &str, weights: Option<std::path::PathBuf>) -> PyResult<String> {
    let kind = extractor.split_once(':').map_or(extractor, |(k, _)| k).to_ascii_lowercase();
    let needs_file = kind.starts_with("inception");
    match weights {
        Some(_) if extractor.contains(':') => Err(PyValueError::new_err(format!(
            "weights: given twice, as weights= and inside extractor='{extractor}'; pass extractor='{kind}', weights=PATH"
        ))),
        Some(_) if matches!(kind.as_str(), "identity" | "pixels") => {
            Err(PyValueError::new_err(format!("weights: the '{kind}' feature space has no network, so no weights")))
        }
        Some(w) => Ok(format!("{extractor}:{}", w.display())),
        None if extractor.contains(':') => {
            let msg = format!(
                "extract_features(extractor='{extractor}') is deprecated and stops working in the next release: \
                 pass extractor='{kind}', weights=PATH"
            );
            let msg = std::ffi::CString::new(msg).map_err(|e| PyValueError::new_err(format!("extractor: {e}")))?;
            PyErr::warn(py, &py.get_type::<PyDeprecationWarning>(), &msg, 1)?;
            Ok(extractor.to_string())
        }
        None if needs_file => Err(PyValueError::new_err(format!(
            "weights: extractor='{kind}' needs the network's ONNX file: extract_features(images, '{kind}', weights=PATH)"
        ))),
        None => Ok(extractor.to_string()),
    }
}
