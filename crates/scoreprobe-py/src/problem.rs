//! Schedules and problem specs from Python.

use crate::arrays::points;
use crate::errors::{msg_to_py, to_py};

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use rand::SeedableRng;
use scoreprobe_core::schedule::ScheduleSpec;
use scoreprobe_core::spec::{ModelSpec, ProblemSpec};
use scoreprobe_nn::ResolvedProblem;

/// A noise schedule: the continuous VP-SDE or the discrete DDPM schedule embedded in continuous
/// time t ∈ (0, 1] (its grid time t = (k+1)/K carries exactly the discrete ᾱ_k).
#[pyclass(module = "scoreprobe._core", name = "Schedule", frozen)]
pub struct PySchedule {
    pub spec: ScheduleSpec,
    pub schedule: scoreprobe_core::Schedule,
}

impl PySchedule {
    pub fn from_spec(spec: ScheduleSpec) -> PyResult<Self> {
        let schedule = scoreprobe_core::Schedule::from_spec(&spec).map_err(to_py)?;
        Ok(Self { spec, schedule })
    }
}

/// Applies `f` to a float or elementwise to a numpy array of floats.
fn map_time<'py>(py: Python<'py>, t: &Bound<'py, PyAny>, f: impl Fn(f64) -> f64) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(v) = t.extract::<f64>() {
        return Ok(f(v).into_pyobject(py)?.into_any());
    }
    let a = t.cast::<numpy::PyArrayDyn<f64>>().map_err(|_| {
        PyTypeError::new_err(format!("t: expected a float or a float64 array, got an {}", crate::arrays::describe(t)))
    })?;
    Ok(PyArray1::from_iter(py, a.readonly().as_array().iter().map(|&v| f(v))).reshape(a.shape())?.into_any())
}

#[pymethods]
impl PySchedule {
    /// The VP-SDE, β(t) = β_min + t(β_max − β_min).
    #[staticmethod]
    #[pyo3(signature = (beta_min = 0.1, beta_max = 20.0))]
    fn vp(beta_min: f64, beta_max: f64) -> PyResult<Self> {
        Self::from_spec(ScheduleSpec::Vp { beta_min, beta_max })
    }

    /// The DDPM schedule: K steps, β_k linear from beta_start to beta_end.
    #[staticmethod]
    #[pyo3(signature = (steps = 1000, beta_start = 1e-4, beta_end = 0.02))]
    fn ddpm(steps: usize, beta_start: f64, beta_end: f64) -> PyResult<Self> {
        Self::from_spec(ScheduleSpec::Ddpm { steps, beta_start, beta_end })
    }

    /// "vp" or "ddpm".
    #[getter]
    fn kind(&self) -> &'static str {
        match self.spec {
            ScheduleSpec::Vp { .. } => "vp",
            ScheduleSpec::Ddpm { .. } => "ddpm",
        }
    }

    /// β(t) (a float, or elementwise on an array).
    fn beta<'py>(&self, py: Python<'py>, t: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        map_time(py, t, |v| self.schedule.beta(v))
    }

    /// α_t = √ᾱ(t), the signal scale of x_t = α_t x₀ + σ_t ε.
    fn alpha<'py>(&self, py: Python<'py>, t: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        map_time(py, t, |v| self.schedule.alpha(v))
    }

    /// σ_t = √(1 − ᾱ(t)), the noise scale.
    fn sigma<'py>(&self, py: Python<'py>, t: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        map_time(py, t, |v| self.schedule.sigma(v))
    }

    /// For DDPM, the discrete step index k whose grid time (k+1)/K is nearest to t (what a network
    /// trained on integer timesteps takes); for VP, t itself.
    fn timestep<'py>(&self, py: Python<'py>, t: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        match self.schedule.discrete_steps() {
            Some(k) => map_time(py, t, |v| ((v * k as f64).round() - 1.0).clamp(0.0, (k - 1) as f64)),
            None => map_time(py, t, |v| v),
        }
    }

    /// Sampler steps by default (1000, or K for DDPM).
    #[getter]
    fn default_steps(&self) -> usize {
        self.schedule.default_steps()
    }

    /// End time of sampling by default (1e-3 for VP, 0 for DDPM).
    #[getter]
    fn default_t_min(&self) -> f64 {
        self.schedule.default_t_min()
    }

    /// The schedule as a problem-spec dict (the `schedule` entry of a spec).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::convert::json_to_py(py, &serde_json::to_value(&self.spec).expect("a schedule serialises"))
    }

    fn __repr__(&self) -> String {
        match self.spec {
            ScheduleSpec::Vp { beta_min, beta_max } => format!("Schedule.vp(beta_min={beta_min}, beta_max={beta_max})"),
            ScheduleSpec::Ddpm { steps, beta_start, beta_end } => {
                format!("Schedule.ddpm(steps={steps}, beta_start={beta_start}, beta_end={beta_end})")
            }
        }
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<PySchedule>().map(|o| o.get().spec == self.spec).unwrap_or(false)
    }
}

/// A problem spec: an exact-score target, its schedule and a model (exact, a synthetic error, or
/// a scoreprobe checkpoint), as the CLI's ``--spec`` files.
#[pyclass(module = "scoreprobe._core", name = "Problem", frozen)]
pub struct PyProblem {
    pub spec: ProblemSpec,
    pub resolved: ResolvedProblem,
    pub schedule: Py<PySchedule>,
}

#[pymethods]
impl PyProblem {
    /// A problem from a JSON file path, a JSON string, or a dict with the same content.
    #[staticmethod]
    fn from_json(py: Python<'_>, spec: &Bound<'_, PyAny>) -> PyResult<Self> {
        let (text, origin) = if spec.is_instance_of::<PyDict>() {
            let json = py.import("json")?.call_method1("dumps", (spec,))?;
            (json.extract::<String>()?, "problem dict".to_string())
        } else if spec.is_instance_of::<PyString>() && spec.extract::<String>()?.trim_start().starts_with('{') {
            (spec.extract::<String>()?, "problem JSON".to_string())
        } else {
            let path: std::path::PathBuf = spec.extract().map_err(|_| {
                PyTypeError::new_err(format!(
                    "Problem.from_json: expected a path, a JSON string or a dict, got an {}",
                    crate::arrays::describe(spec)
                ))
            })?;
            let text = std::fs::read_to_string(&path).map_err(|e| {
                let msg = format!("{}: cannot read spec: {e}", path.display());
                if e.kind() == std::io::ErrorKind::NotFound {
                    pyo3::exceptions::PyFileNotFoundError::new_err(msg)
                } else {
                    pyo3::exceptions::PyOSError::new_err(msg)
                }
            })?;
            (text, path.display().to_string())
        };
        let parsed = ProblemSpec::from_json(&text, &origin).map_err(to_py)?;
        let resolved = py.detach(|| scoreprobe_nn::resolve(&parsed)).map_err(to_py)?;
        let schedule = Py::new(py, PySchedule::from_spec(parsed.schedule.clone())?)?;
        Ok(Self { spec: parsed, resolved, schedule })
    }

    /// Dimension of the target and the model.
    #[getter]
    fn dim(&self) -> usize {
        self.resolved.target.dim()
    }

    /// The spec's schedule.
    #[getter]
    fn schedule(&self, py: Python<'_>) -> Py<PySchedule> {
        self.schedule.clone_ref(py)
    }

    /// The model's description.
    #[getter]
    fn model(&self) -> String {
        self.resolved.model.describe()
    }

    /// The model's kind: exact, affine_error, solenoidal, gradient or checkpoint.
    #[getter]
    fn model_kind(&self) -> &'static str {
        match self.spec.model {
            ModelSpec::Exact => "exact",
            ModelSpec::AffineError { .. } => "affine_error",
            ModelSpec::Solenoidal { .. } => "solenoidal",
            ModelSpec::Gradient { .. } => "gradient",
            ModelSpec::Checkpoint { .. } => "checkpoint",
        }
    }

    /// ``n`` seeded draws of the target p₀, shape (n, dim).
    #[pyo3(signature = (n, seed = 0))]
    fn sample_data<'py>(&self, py: Python<'py>, n: usize, seed: u64) -> Bound<'py, PyArray2<f64>> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let x = py.detach(|| self.resolved.target.sample(n, &mut rng));
        PyArray2::from_owned_array(py, x)
    }

    /// The exact score ∇log p_t of the target at the rows of ``x`` (n, dim), time ``t``.
    fn target_score<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>, t: f64) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let x = points(x, "x")?;
        let v = x.view();
        if v.ncols() != self.dim() {
            return Err(msg_to_py(format!("x: has {} columns, the target has dimension {}", v.ncols(), self.dim())));
        }
        let (target, schedule) = (&self.resolved.target, &self.resolved.schedule);
        let s = py.detach(|| target.marginal(schedule, t).score(v));
        Ok(PyArray2::from_owned_array(py, s))
    }

    /// The spec as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::convert::json_to_py(py, &serde_json::to_value(&self.spec).expect("a spec serialises"))
    }

    fn __repr__(&self) -> String {
        format!("Problem(dim={}, model={})", self.dim(), self.resolved.model.describe())
    }
}
