//! numpy arrays in: (N, D) float32/float64 point sets with any strides, viewed in place when they
//! are float64 and converted (one copy) only when they are float32; anything else is a clear
//! `TypeError`/`ValueError` naming the argument.

use ndarray::{Array2, ArrayD, ArrayView2};
use numpy::{PyArrayDyn, PyArrayMethods, PyReadonlyArray2, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// A 2-D float64 view of a numpy argument: borrowed when it already is float64, else a copy.
pub enum Points<'py> {
    Borrowed(PyReadonlyArray2<'py, f64>),
    Owned(Array2<f64>),
}

impl Points<'_> {
    pub fn view(&self) -> ArrayView2<'_, f64> {
        match self {
            Points::Borrowed(a) => a.as_array(),
            Points::Owned(a) => a.view(),
        }
    }
}

/// What an object is, in words, for error messages: "ndarray of shape (3, 2) and dtype int64".
pub fn describe(obj: &Bound<'_, PyAny>) -> String {
    if let Ok(a) = obj.cast::<PyUntypedArray>() {
        let shape: Vec<String> = a.shape().iter().map(|s| s.to_string()).collect();
        let shape = if shape.len() == 1 { format!("({},)", shape[0]) } else { format!("({})", shape.join(", ")) };
        let dtype = a.dtype().str().map(|s| s.to_string()).unwrap_or_else(|_| "?".into());
        return format!("ndarray of shape {shape} and dtype {dtype}");
    }
    obj.get_type().name().map(|n| format!("object of type {n}")).unwrap_or_else(|_| "an object".into())
}

/// An (N, D) float32 or float64 numpy array; `name` names the argument in errors.
pub fn points<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Points<'py>> {
    if let Ok(a) = obj.cast::<numpy::PyArray2<f64>>() {
        let a = a.readonly();
        if a.as_array().is_empty() {
            // an empty numpy view keeps its strides, and ndarray's `to_owned` of such a view
            // trips a debug assertion (a panic); an empty owned array is refused cleanly later
            return Ok(Points::Owned(Array2::zeros(a.as_array().dim())));
        }
        return Ok(Points::Borrowed(a));
    }
    if let Ok(a) = obj.cast::<numpy::PyArray2<f32>>() {
        return Ok(Points::Owned(a.readonly().as_array().mapv(f64::from)));
    }
    let what = describe(obj);
    if obj.cast::<PyUntypedArray>().is_ok() {
        return Err(PyValueError::new_err(format!(
            "{name}: expected a 2-D (N, D) array of float32 or float64, got an {what}"
        )));
    }
    Err(PyTypeError::new_err(format!(
        "{name}: expected a numpy array of shape (N, D) (float32 or float64), got an {what}; use np.asarray(...)"
    )))
}

/// Any-dimensional numeric array as float64, with whether it was uint8 (images): for the image
/// functions, which accept uint8 pixels as well as floats in [0, 1].
pub fn image_array(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<(ArrayD<f64>, bool)> {
    if let Ok(a) = obj.cast::<PyArrayDyn<u8>>() {
        return Ok((a.readonly().as_array().mapv(f64::from), true));
    }
    if let Ok(a) = obj.cast::<PyArrayDyn<f32>>() {
        return Ok((a.readonly().as_array().mapv(f64::from), false));
    }
    if let Ok(a) = obj.cast::<PyArrayDyn<f64>>() {
        return Ok((a.readonly().as_array().to_owned(), false));
    }
    Err(PyTypeError::new_err(format!(
        "{name}: expected a numpy array of images (uint8, or float32/float64 in [0, 1]), got an {}",
        describe(obj)
    )))
}
