//! Rust errors out as Python exceptions.
//!
//! A Python exception raised inside a score callable travels through the Rust layers as the boxed
//! source of `ModelError::Failed` (never stringified); [`recover`] walks `source()` and gives the
//! original exception object back, so Python sees the same exception with its own traceback.
//! Everything else becomes a `ValueError` (bad input: shapes, values, file contents) or a
//! `FileNotFoundError`, with the library's message.

use pyo3::exceptions::{PyFileNotFoundError, PyValueError};
use pyo3::prelude::*;
use std::error::Error;

/// The Python exception in `err`'s source chain, if there is one.
pub fn recover(py: Python<'_>, err: &(dyn Error + 'static)) -> Option<PyErr> {
    let mut cur: Option<&(dyn Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(pe) = e.downcast_ref::<PyErr>() {
            return Some(pe.clone_ref(py));
        }
        cur = e.source();
    }
    None
}

fn not_found(err: &(dyn Error + 'static)) -> bool {
    let mut cur: Option<&(dyn Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::NotFound;
        }
        cur = e.source();
    }
    false
}

/// A typed library error (its `Display` already says everything, sources included): the Python
/// exception a callable raised comes back as itself, a missing file is a `FileNotFoundError`, the
/// rest a `ValueError`.
pub fn to_py(err: impl Error + 'static) -> PyErr {
    let root: &(dyn Error + 'static) = &err;
    if let Some(pe) = Python::attach(|py| recover(py, root)) {
        return pe;
    }
    if not_found(root) {
        PyFileNotFoundError::new_err(err.to_string())
    } else {
        PyValueError::new_err(err.to_string())
    }
}

/// A plain message from a library that reports errors as strings.
pub fn msg_to_py(msg: String) -> PyErr {
    PyValueError::new_err(msg)
}
