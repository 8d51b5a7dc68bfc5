//! Python's keyword options into the runs' options structs (the same structs the CLI flattens):
//! `siem(model, data, **options)` deserialises `options` into `SiemOptions` with `pythonize`, so
//! an option declared in the struct is an option here, with the struct's default.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyRange, PyString};
use scoreprobe_core::options::{option_specs, FrontEnd, OptionError};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The options of `run` from its keyword arguments. An unknown name is a `TypeError` (as for any
/// Python function); a bad value a `ValueError` naming the option.
pub fn from_kwargs<T>(run: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<T>
where
    T: DeserializeOwned + clap::Args + Serialize + Default,
{
    let Some(kwargs) = kwargs else { return Ok(T::default()) };
    let known = T::augment_args(clap::Command::new("options"));
    let clean = PyDict::new(kwargs.py());
    for (key, value) in kwargs.iter() {
        let name: String = key.extract()?;
        if !known.get_arguments().any(|a| a.get_id() == name.as_str()) {
            return Err(PyTypeError::new_err(format!("{run}() got an unexpected keyword argument '{name}'")));
        }
        let value = plain(&name, &value)?;
        // each option alone first, so that a bad value is reported with its name
        let one = PyDict::new(kwargs.py());
        one.set_item(&name, &value)?;
        if let Err(e) = pythonize::depythonize::<T>(one.as_any()) {
            return Err(option_error(&OptionError::new(name, e.to_string())));
        }
        clean.set_item(&name, value)?;
    }
    pythonize::depythonize::<T>(clean.as_any()).map_err(|e| PyValueError::new_err(format!("{run}: {e}")))
}

/// A value as serde reads it: a `range` of steps as its (first, last) pair (a window), a numpy
/// array or scalar as the list or number it holds, a path as its text.
fn plain<'py>(name: &str, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(r) = value.cast::<PyRange>() {
        let (start, stop, step): (i64, i64, i64) =
            (r.getattr("start")?.extract()?, r.getattr("stop")?.extract()?, r.getattr("step")?.extract()?);
        if step != 1 || stop <= start {
            let why = format!("a range of steps must be non-empty with step 1, got range({start}, {stop}, {step})");
            return Err(option_error(&OptionError::new(name, why)));
        }
        return (start, stop - 1).into_pyobject(value.py()).map(|t| t.into_any());
    }
    // a path (`state_out=Path(...)`) as its text
    if !value.is_instance_of::<PyString>() && value.hasattr("__fspath__")? {
        return value.call_method0("__fspath__");
    }
    if !value.is_instance_of::<PyString>() && value.hasattr("tolist")? {
        return value.call_method0("tolist");
    }
    Ok(value.clone())
}

/// An option error as Python shows it (`bandwidth_rule: …`).
pub fn option_error(e: &OptionError) -> PyErr {
    PyValueError::new_err(e.message(FrontEnd::Python))
}

/// `{run: [{name, default, help}]}`: every run's options as its struct declares them (what the
/// signatures of `scoreprobe.siem` & co. are built from, and what the tests check the CLI's help
/// and the stubs against).
#[pyfunction]
pub fn _options_schema(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    fn specs<T: clap::Args + Serialize + Default>() -> PyResult<serde_json::Value> {
        let specs = option_specs::<T>().map_err(PyValueError::new_err)?;
        serde_json::to_value(specs).map_err(|e| PyValueError::new_err(e.to_string()))
    }
    let schema = serde_json::json!({
        "sample": specs::<scoreprobe_core::sampler::SampleOptions>()?,
        "siem": specs::<scoreprobe_siem::SiemOptions>()?,
        "hodge": specs::<scoreprobe_hodge::HodgeOptions>()?,
        "bounds": specs::<scoreprobe_hodge::BoundsOptions>()?,
        "metrics": specs::<scoreprobe_metrics::MetricsOptions>()?,
    });
    crate::convert::json_to_py(py, &schema)
}
