//! Any Python callable as a score model.
//!
//! `ScoreFunction(fn, dim, parameterization, schedule=…)` describes the callable and the schedule
//! it was trained with (what an ε-model's conversion s = −ε/σ_t needs); a run binds it to that
//! schedule and the run's [`Watch`] as a [`PyScoreModel`], the Rust `ScoreModel` the samplers and
//! estimators call. Each call: rows are split into batches of at most `batch_size`; for each
//! batch the run's cancel flag is checked, the GIL is taken, `fn(x, t)` is called with x float32
//! (m, d) and t float64 (m,), and its result is checked (a numpy array of float32/float64 and
//! shape (m, d)) and copied out; the GIL is released before the next batch. An exception raised
//! by `fn` is boxed, as it is, into `ModelError::Failed` and recovered at the boundary
//! (`errors::recover`), so Python sees the same exception object.

use crate::arrays::describe;
use crate::problem::PySchedule;
use crate::watch::Watch;
use ndarray::{s, Array2, ArrayView2};
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use scoreprobe_core::model::ModelError;
use scoreprobe_core::{Schedule, ScoreModel};

/// What the callable predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parameterization {
    /// ε-prediction: s = −ε/σ_t.
    Eps,
    /// The score ∇log p_t itself.
    Score,
}

impl Parameterization {
    fn parse(s: &str) -> PyResult<Self> {
        match s {
            "eps" | "epsilon" => Ok(Parameterization::Eps),
            "score" => Ok(Parameterization::Score),
            other => Err(PyValueError::new_err(format!(
                "parameterization: unknown '{other}'; choose 'eps' (ε-prediction) or 'score'"
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Parameterization::Eps => "eps",
            Parameterization::Score => "score",
        }
    }
}

/// A Python callable ``fn(x, t) -> array`` as a score model.
///
/// ``x`` is float32 of shape (n, dim), ``t`` float64 of shape (n,) (continuous time in (0, 1]; every
/// row of one call shares the same t), and the result an (n, dim) float32/float64 array: the noise
/// prediction ε (``parameterization="eps"``, converted by s = −ε/σ_t with ``schedule``) or the
/// score itself (``"score"``). ``schedule`` is the schedule the network was trained with; every run
/// samples and noises with it. The callable is called with the GIL held, in batches of at most
/// ``batch_size`` rows, possibly from a worker thread (put ``torch.no_grad()`` inside it).
#[pyclass(module = "scoreprobe._core", name = "ScoreFunction", frozen)]
pub struct ScoreFunction {
    pub func: Py<PyAny>,
    #[pyo3(get)]
    pub dim: usize,
    pub param: Parameterization,
    #[pyo3(get)]
    pub batch_size: usize,
    #[pyo3(get)]
    pub name: String,
    /// The schedule the network was trained with (None: the run's ``schedule=``, deprecated).
    #[pyo3(get)]
    pub schedule: Option<Py<PySchedule>>,
}

#[pymethods]
impl ScoreFunction {
    #[new]
    #[pyo3(signature = (fn_, dim, parameterization = "eps", batch_size = 4096, name = None, *, schedule = None))]
    fn new(
        fn_: &Bound<'_, PyAny>,
        dim: usize,
        parameterization: &str,
        batch_size: usize,
        name: Option<String>,
        schedule: Option<Bound<'_, PySchedule>>,
    ) -> PyResult<Self> {
        if !fn_.is_callable() {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "ScoreFunction: fn must be callable as fn(x, t), got an {}",
                describe(fn_)
            )));
        }
        if dim == 0 {
            return Err(PyValueError::new_err("ScoreFunction: dim must be at least 1"));
        }
        if batch_size == 0 {
            return Err(PyValueError::new_err("ScoreFunction: batch_size must be at least 1"));
        }
        let name = match name {
            Some(n) => n,
            None => fn_
                .getattr("__qualname__")
                .or_else(|_| fn_.getattr("__name__"))
                .and_then(|n| n.extract::<String>())
                .unwrap_or_else(|_| "callable".into()),
        };
        Ok(Self {
            func: fn_.clone().unbind(),
            dim,
            param: Parameterization::parse(parameterization)?,
            batch_size,
            name,
            schedule: schedule.map(Bound::unbind),
        })
    }

    /// "eps" or "score".
    #[getter]
    fn parameterization(&self) -> &'static str {
        self.param.name()
    }

    /// The wrapped callable.
    #[getter(r#fn)]
    fn get_fn(&self, py: Python<'_>) -> Py<PyAny> {
        self.func.clone_ref(py)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let schedule = match &self.schedule {
            Some(s) => format!(", schedule={}", s.bind(py).repr()?),
            None => String::new(),
        };
        Ok(format!(
            "ScoreFunction({}, dim={}, parameterization='{}', batch_size={}{schedule})",
            self.name,
            self.dim,
            self.param.name(),
            self.batch_size
        ))
    }
}

/// A [`ScoreFunction`] bound to a run's schedule and watch.
pub struct PyScoreModel<'a> {
    pub func: &'a ScoreFunction,
    pub schedule: &'a Schedule,
    pub watch: &'a Watch,
}

impl PyScoreModel<'_> {
    fn label(&self) -> String {
        format!("score function '{}'", self.func.name)
    }

    /// One batch through the callable (GIL held): the result as f64, shape checked.
    fn call_batch(&self, x: Array2<f32>, t: f64) -> Result<Array2<f64>, ModelError> {
        let (m, d) = x.dim();
        let failed = |e: PyErr| ModelError::Failed { model: self.label(), source: Box::new(e) };
        Python::attach(|py| {
            let xa = PyArray2::from_owned_array(py, x);
            let ta = PyArray1::from_owned_array(py, ndarray::Array1::from_elem(m, t));
            let r = self.func.func.bind(py).call1((xa, ta)).map_err(failed)?;
            let bad = |what: String| {
                failed(PyValueError::new_err(format!(
                    "{} returned {what}; expected a numpy array of shape ({m}, {d}) and dtype float32 or float64",
                    self.label()
                )))
            };
            let Ok(arr) = r.cast::<PyUntypedArray>() else {
                let hint =
                    if r.hasattr("detach").unwrap_or(false) { " (convert a tensor with .cpu().numpy())" } else { "" };
                return Err(bad(format!("an {}{hint}", describe(&r))));
            };
            if arr.ndim() != 2 {
                return Err(bad(format!("an {}", describe(&r))));
            }
            let got = (arr.shape()[0], arr.shape()[1]);
            if got != (m, d) {
                return Err(ModelError::Shape { model: self.label(), got, expected: (m, d) });
            }
            if let Ok(a) = r.cast::<PyArray2<f64>>() {
                Ok(a.readonly().as_array().to_owned())
            } else if let Ok(a) = r.cast::<PyArray2<f32>>() {
                Ok(a.readonly().as_array().mapv(f64::from))
            } else {
                Err(bad(format!("an {}", describe(&r))))
            }
        })
    }
}

impl ScoreModel for PyScoreModel<'_> {
    fn dim(&self) -> usize {
        self.func.dim
    }

    fn score(&self, x: ArrayView2<f64>, t: f64) -> Result<Array2<f64>, ModelError> {
        let (n, d) = x.dim();
        if d != self.func.dim {
            return Err(ModelError::Shape { model: self.label(), got: (n, d), expected: (n, self.func.dim) });
        }
        let mut out = Array2::<f64>::zeros((n, d));
        let scale = match self.func.param {
            Parameterization::Eps => {
                let sigma = self.schedule.sigma(t);
                if !(sigma > 0.0 && sigma.is_finite()) {
                    return Err(ModelError::Failed {
                        model: self.label(),
                        source: format!("ε-prediction needs σ_t > 0, got σ_t = {sigma} at t = {t}").into(),
                    });
                }
                -1.0 / sigma
            }
            Parameterization::Score => 1.0,
        };
        let mut start = 0;
        while start < n {
            let end = (start + self.func.batch_size).min(n);
            self.watch.check(&self.label())?;
            // f32 conversion outside the GIL
            let xb = x.slice(s![start..end, ..]).mapv(|v| v as f32);
            let r = self.call_batch(xb, t)?;
            if let Some(((row, col), _)) = r.indexed_iter().find(|(_, v)| !v.is_finite()) {
                return Err(ModelError::NonFinite { model: self.label(), t, row: start + row, col });
            }
            out.slice_mut(s![start..end, ..]).assign(&(r * scale));
            start = end;
        }
        // one score-model call (one sampler step), whatever the number of batches
        self.watch.count(n);
        Ok(out)
    }

    fn describe(&self) -> String {
        self.func.name.clone()
    }
}
