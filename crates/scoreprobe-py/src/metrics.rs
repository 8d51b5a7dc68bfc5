//! Reference metrics on numpy arrays (scoreprobe-metrics): the same routines, seeds and
//! subsampling as the CLI's `metrics`, so the numbers agree to rounding.

use crate::arrays::{points, Points};
use crate::errors::{msg_to_py, to_py};
use numpy::{PyArray1, PyArray2};
use pyo3::exceptions::{PyTypeError, PyUserWarning, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use scoreprobe_metrics as m;
use std::path::PathBuf;

/// Issues each library warning as a Python `UserWarning`.
pub fn warn_all(py: Python<'_>, warnings: &[impl ToString]) -> PyResult<()> {
    let category = py.get_type::<PyUserWarning>();
    for w in warnings {
        PyErr::warn(py, &category, &std::ffi::CString::new(w.to_string()).unwrap_or_default(), 1)?;
    }
    Ok(())
}

/// Streaming feature statistics: f64 count, mean and scatter, mergeable exactly.
///
/// ``update(x)`` adds the rows of an (N, D) array; ``merge(other)`` adds another accumulator (from
/// another chunk, process or machine); the result does not depend on the chunking (Chan et al.'s
/// pairwise update, to rounding). ``save(path)`` writes a pytorch-fid compatible ``.npz`` (``mu``,
/// ``sigma``) that also holds ``n`` and ``scatter`` so that ``FeatureStats.load`` can merge it.
#[pyclass(module = "scoreprobe._core", name = "FeatureStats")]
#[derive(Clone)]
pub struct FeatureStats {
    pub acc: m::MomentAccumulator,
}

#[pymethods]
impl FeatureStats {
    #[new]
    fn new(dim: usize) -> PyResult<Self> {
        if dim == 0 {
            return Err(PyValueError::new_err("FeatureStats: dim must be at least 1"));
        }
        Ok(Self { acc: m::MomentAccumulator::new(dim) })
    }

    /// Adds the rows of ``x`` (N, dim), float32 or float64.
    fn update(&mut self, py: Python<'_>, x: &Bound<'_, PyAny>) -> PyResult<()> {
        let x = points(x, "FeatureStats.update: x")?;
        let view = x.view();
        let acc = &mut self.acc;
        py.detach(|| acc.push(view)).map_err(to_py)
    }

    /// Adds the statistics of ``other`` (same dim) to these.
    fn merge(slf: &Bound<'_, Self>, other: &Bound<'_, Self>) -> PyResult<()> {
        let o = other.borrow().acc.clone();
        slf.borrow_mut().acc.merge(&o).map_err(to_py)
    }

    /// Number of rows seen.
    #[getter]
    fn n(&self) -> usize {
        self.acc.count()
    }

    /// Feature dimension.
    #[getter]
    fn dim(&self) -> usize {
        self.acc.dim()
    }

    /// Mean, shape (dim,), float64.
    #[getter]
    fn mean<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_owned_array(py, self.acc.mean().to_owned())
    }

    /// Unbiased covariance (1/(n−1), as ``np.cov`` and pytorch-fid), shape (dim, dim); needs n ≥ 2.
    #[getter]
    fn cov<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        Ok(PyArray2::from_owned_array(py, self.acc.covariance().map_err(to_py)?))
    }

    /// Writes a pytorch-fid compatible ``.npz`` (``mu``, ``sigma``, plus ``n`` and ``scatter``).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let acc = &self.acc;
        py.detach(|| m::write_moments_npz(&path, acc)).map_err(to_py)
    }

    /// Reads statistics written by :meth:`save`.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let acc = py.detach(|| m::read_moments_npz(&path)).map_err(to_py)?;
        Ok(Self { acc })
    }

    fn __repr__(&self) -> String {
        format!("FeatureStats(dim={}, n={})", self.acc.dim(), self.acc.count())
    }

    fn __copy__(&self) -> Self {
        self.clone()
    }

    // Pickling (multiprocessing, Ray): the exact state (n, mean, scatter).
    fn __getnewargs__(&self) -> (usize,) {
        (self.acc.dim(),)
    }

    fn __getstate__<'py>(&self, py: Python<'py>) -> (usize, Bound<'py, PyArray1<f64>>, Bound<'py, PyArray2<f64>>) {
        (
            self.acc.count(),
            PyArray1::from_owned_array(py, self.acc.mean().to_owned()),
            PyArray2::from_owned_array(py, self.acc.scatter().to_owned()),
        )
    }

    fn __setstate__(
        &mut self,
        state: (usize, numpy::PyReadonlyArray1<'_, f64>, numpy::PyReadonlyArray2<'_, f64>),
    ) -> PyResult<()> {
        let (n, mean, scatter) = state;
        self.acc = m::MomentAccumulator::from_parts(n, mean.as_array().to_owned(), scatter.as_array().to_owned())
            .map_err(to_py)?;
        Ok(())
    }
}

/// One side of a Fréchet distance, free of Python handles.
enum Side<'a> {
    Points(ndarray::ArrayView2<'a, f64>),
    Stats(m::GaussianStats),
}

/// One side of a Fréchet distance: points, or Gaussian statistics.
enum FdInput<'py> {
    Points(Points<'py>),
    Stats(m::GaussianStats),
}

fn side<'a>(s: &'a FdInput<'_>) -> Side<'a> {
    match s {
        FdInput::Points(p) => Side::Points(p.view()),
        FdInput::Stats(st) => Side::Stats(st.clone()),
    }
}

fn fd_input<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<FdInput<'py>> {
    if let Ok(s) = obj.cast::<FeatureStats>() {
        return Ok(FdInput::Stats(s.borrow().acc.stats().map_err(to_py)?));
    }
    if obj.is_instance_of::<pyo3::types::PyString>() || obj.hasattr("__fspath__")? {
        let path: PathBuf = obj.extract()?;
        return Ok(FdInput::Stats(m::read_stats_npz(&path).map_err(to_py)?));
    }
    match points(obj, name) {
        Ok(p) => Ok(FdInput::Points(p)),
        Err(e) if e.is_instance_of::<PyTypeError>(obj.py()) => Err(PyTypeError::new_err(format!(
            "{name}: expected an (N, D) array, a FeatureStats or the path of a .npz stats file, got an {}",
            crate::arrays::describe(obj)
        ))),
        Err(e) => Err(e),
    }
}

/// Fréchet distance between two point sets or their statistics (FID on Inception features).
#[pyfunction]
pub fn frechet_distance(py: Python<'_>, a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<f64> {
    let (a, b) = (fd_input(a, "a")?, fd_input(b, "b")?);
    let method = m::TraceMethod::default();
    // borrowed views and statistics only: the GIL-bound handles stay on this side
    let (sa, sb) = (side(&a), side(&b));
    let r = py
        .detach(|| match (&sa, &sb) {
            (Side::Points(x), Side::Points(y)) => m::frechet_distance_points(x.view(), y.view(), method),
            _ => {
                let stats = |s: &Side| match s {
                    Side::Stats(st) => Ok(st.clone()),
                    Side::Points(p) => m::gaussian_stats(p.view()),
                };
                m::frechet_distance_stats(&stats(&sa)?, &stats(&sb)?, method)
            }
        })
        .map_err(to_py)?;
    warn_all(py, &r.warnings)?;
    Ok(r.fd)
}

/// Kernel Inception Distance: (mean, std) of the unbiased MMD² (cubic kernel) over random subsets.
#[pyfunction]
#[pyo3(signature = (a, b, subsets = 100, subset_size = 1000, seed = 0))]
pub fn kid(
    py: Python<'_>,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    subsets: usize,
    subset_size: usize,
    seed: u64,
) -> PyResult<(f64, f64)> {
    let (a, b) = (points(a, "a")?, points(b, "b")?);
    let opts = m::KidOptions { n_subsets: subsets, subset_size, seed };
    let (va, vb) = (a.view(), b.view());
    let r = py.detach(|| m::kid(va, vb, &opts)).map_err(to_py)?;
    if r.subset_size < subset_size {
        warn_all(py, &[format!("kid: subset size reduced to {} (smaller set)", r.subset_size)])?;
    }
    if r.subset_size == va.nrows() && r.subset_size == vb.nrows() && subsets > 1 {
        warn_all(
            py,
            &[format!(
                "kid: every subset is the whole set ({} points), so std is rounding noise; KID's standard error is {:.3e}",
                r.subset_size, r.se
            )],
        )?;
    }
    Ok((r.mean, r.std))
}

/// W2 (the square root of the optimal mean |x − y|² cost) by one of four methods.
#[pyfunction]
#[pyo3(signature = (a, b, method = "exact", seed = 0, epsilon = None, projections = 256))]
pub fn wasserstein2(
    py: Python<'_>,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    method: &str,
    seed: u64,
    epsilon: Option<f64>,
    projections: usize,
) -> PyResult<f64> {
    let (a, b) = (points(a, "a")?, points(b, "b")?);
    let (va, vb) = (a.view(), b.view());
    let (w2, warnings) = match method {
        "exact" => {
            let r = py.detach(|| m::w2_exact_paired(va, vb, seed)).map_err(to_py)?;
            let w =
                r.subsampled.then(|| format!("w2: exact W2 needs equal sizes; both sets subsampled to {} points", r.n));
            (r.result.w2, w.into_iter().collect())
        }
        "sinkhorn" => {
            m::check_dense(va.nrows(), vb.nrows(), "w2-sinkhorn").map_err(to_py)?;
            let opts = m::SinkhornOptions { epsilon, ..Default::default() };
            let r = py.detach(|| m::sinkhorn_divergence(va, vb, &opts)).map_err(to_py)?;
            let mut w = Vec::new();
            if !r.converged {
                w.push(format!(
                    "w2-sinkhorn: did not converge in {} iterations (marginal errors {:.1e}, {:.1e}, {:.1e}); raise epsilon",
                    opts.max_iter, r.ab.marginal_error, r.aa.marginal_error, r.bb.marginal_error
                ));
            }
            (r.w2, w)
        }
        "sliced" => {
            let opts = m::SlicedOptions { n_projections: projections, seed };
            (py.detach(|| m::w2_sliced(va, vb, &opts)).map_err(to_py)?.w2, Vec::new())
        }
        "bures" => {
            let r = py.detach(|| m::bures_w2(va, vb)).map_err(to_py)?;
            (r.w2, r.warnings.iter().map(ToString::to_string).collect())
        }
        other => {
            return Err(msg_to_py(format!(
                "wasserstein2: unknown method '{other}'; choose one of exact, sinkhorn, sliced, bures"
            )))
        }
    };
    warn_all(py, &warnings)?;
    Ok(w2)
}

/// Precision, recall, density and coverage of ``fake`` against ``real``.
#[pyfunction]
#[pyo3(signature = (real, fake, k = None, k_pr = 3, k_dc = 5))]
pub fn prdc<'py>(
    py: Python<'py>,
    real: &Bound<'py, PyAny>,
    fake: &Bound<'py, PyAny>,
    k: Option<usize>,
    k_pr: usize,
    k_dc: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let (a, b) = (points(real, "real")?, points(fake, "fake")?);
    let opts = match k {
        Some(k) => m::PrdcOptions { k_pr: k, k_dc: k },
        None => m::PrdcOptions { k_pr, k_dc },
    };
    let (va, vb) = (a.view(), b.view());
    let r = py.detach(|| m::prdc(va, vb, &opts)).map_err(to_py)?;
    let d = PyDict::new(py);
    d.set_item("precision", r.precision)?;
    d.set_item("recall", r.recall)?;
    d.set_item("density", r.density)?;
    d.set_item("coverage", r.coverage)?;
    Ok(d)
}
