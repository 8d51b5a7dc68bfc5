//! The ``progress=`` argument of the long runs: ``True`` (the default) draws the bar of
//! ``scoreprobe._progress`` with the run's total computed here, from the run's options (the
//! score-model calls the run will make: `SamplerConfig::nfe`, `SiemOptions::score_calls`);
//! ``False`` or ``None`` draws nothing; a callable ``progress(calls, rows)`` is called as it is.

use crate::arrays::describe;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBool;

/// What ``progress=`` asked for.
pub enum ProgressArg<'py> {
    Bar,
    Off,
    Call(Bound<'py, PyAny>),
}

impl<'a, 'py> FromPyObject<'a, 'py> for ProgressArg<'py> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if obj.is_none() {
            return Ok(ProgressArg::Off);
        }
        if let Ok(b) = obj.cast::<PyBool>() {
            return Ok(if b.is_true() { ProgressArg::Bar } else { ProgressArg::Off });
        }
        if obj.is_callable() {
            return Ok(ProgressArg::Call(obj.to_owned()));
        }
        Err(PyTypeError::new_err(format!(
            "progress: expected True, False or a callable progress(calls, rows), got an {}",
            describe(&obj)
        )))
    }
}

/// The progress sink of one run; a bar made here is closed when the run ends, however it ends.
pub struct Progress<'py> {
    sink: Option<Bound<'py, PyAny>>,
    owned: bool,
}

impl<'py> Progress<'py> {
    /// The sink ``arg`` asks for; a bar is labelled `desc` and counts to `total` score-model calls
    /// (None: a counter without a total).
    pub fn start(py: Python<'py>, arg: ProgressArg<'py>, desc: &str, total: Option<usize>) -> PyResult<Self> {
        match arg {
            ProgressArg::Off => Ok(Progress { sink: None, owned: false }),
            ProgressArg::Call(f) => Ok(Progress { sink: Some(f), owned: false }),
            ProgressArg::Bar => {
                let bar = py.import("scoreprobe._progress")?.getattr("make")?.call1((true, desc, total))?;
                Ok(Progress { sink: (!bar.is_none()).then_some(bar), owned: true })
            }
        }
    }

    /// What `watch::run_watched` reports to.
    pub fn sink(&self) -> Option<&Bound<'py, PyAny>> {
        self.sink.as_ref()
    }
}

impl Drop for Progress<'_> {
    fn drop(&mut self) {
        if let (true, Some(bar)) = (self.owned, &self.sink) {
            // a bar that fails to close must not replace the run's own result or exception
            if let Err(e) = bar.call_method0("close") {
                e.write_unraisable(bar.py(), Some(bar));
            }
        }
    }
}
