//! Rust errors out as Python exceptions.
//!
//! A Python exception raised inside a score callable travels through the Rust layers as the boxed
//! source of `ModelError::Failed` (never stringified); [`recover`] walks `source()` and gives the
//! original exception object back, so Python sees the same exception with its own traceback.
//! An operating-system failure (a missing file, a full disk, a permission) becomes the `OSError`
//! Python would raise for that errno (`FileNotFoundError`, `PermissionError`, `OSError` with
//! `errno == ENOSPC`, ...); everything else a `ValueError` (bad input: shapes, values, file
//! contents). The library's message is kept whole.

use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyValueError};
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

/// The operating system's error in `err`'s source chain, if there is one.
fn io_error<'a>(err: &'a (dyn Error + 'static)) -> Option<&'a std::io::Error> {
    let mut cur: Option<&(dyn Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = e.source();
    }
    None
}

/// A typed library error (its `Display` already says everything, sources included): the Python
/// exception a callable raised comes back as itself, an operating-system failure is the `OSError`
/// of its errno, the rest a `ValueError`.
pub fn to_py(err: impl Error + 'static) -> PyErr {
    let root: &(dyn Error + 'static) = &err;
    if let Some(pe) = Python::attach(|py| recover(py, root)) {
        return pe;
    }
    match io_error(root) {
        // OSError(errno, message) is built as the errno's own subclass, as Python's `open` does
        Some(io) if io.raw_os_error().is_some() => PyOSError::new_err((io.raw_os_error(), err.to_string())),
        Some(io) if io.kind() == std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(err.to_string()),
        _ => PyValueError::new_err(err.to_string()),
    }
}

/// A plain message from a library that reports errors as strings.
pub fn msg_to_py(msg: String) -> PyErr {
    PyValueError::new_err(msg)
}
