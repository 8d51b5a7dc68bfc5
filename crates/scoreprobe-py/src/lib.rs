//! `scoreprobe._core`: the compiled half of the Python module `scoreprobe` (the pure-Python
//! package in `python/scoreprobe` re-exports it with docs and stubs).
//!
//! Every function takes numpy arrays and keyword options named like the CLI's flags, releases
//! the GIL while the Rust work runs, and raises Python exceptions (never panics across the
//! boundary).

mod arrays;
mod convert;
mod errors;
mod images;
mod merge;
mod metrics;
mod model;
mod options;
mod problem;
mod progress;
mod run;
mod watch;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<metrics::FeatureStats>()?;
    m.add_class::<problem::PySchedule>()?;
    m.add_class::<problem::PyProblem>()?;
    m.add_class::<model::ScoreFunction>()?;
    m.add_function(wrap_pyfunction!(metrics::frechet_distance, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::kid, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::wasserstein2, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::prdc, m)?)?;
    m.add_function(wrap_pyfunction!(images::load_images, m)?)?;
    m.add_function(wrap_pyfunction!(images::extract_features, m)?)?;
    m.add_function(wrap_pyfunction!(images::mobilenet_input, m)?)?;
    m.add_function(wrap_pyfunction!(run::sample, m)?)?;
    m.add_function(wrap_pyfunction!(run::siem, m)?)?;
    m.add_function(wrap_pyfunction!(run::default_test_fn, m)?)?;
    m.add_function(wrap_pyfunction!(run::hodge, m)?)?;
    m.add_function(wrap_pyfunction!(run::bounds, m)?)?;
    m.add_function(wrap_pyfunction!(options::_options_schema, m)?)?;
    m.add_function(wrap_pyfunction!(merge::merge, m)?)?;
    Ok(())
}
