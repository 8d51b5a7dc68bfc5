//! `sample`, `siem`, `hodge` and `bounds` on any score model: a `ScoreFunction` (a Python callable)
//! or a `Problem` (a spec's synthetic model or checkpoint). They run the same library functions as
//! the CLI's commands (`scoreprobe_siem::run_siem`, `scoreprobe_hodge::{run_hodge, run_bounds}`),
//! on a worker thread with the GIL released (`watch::run_watched`), and return the CLI's `--json`
//! reports as dicts. Their options arrive as keyword arguments and become the runs' options
//! structs (`crate::options`).

use crate::arrays::points;
use crate::convert::json_to_py;
use crate::errors::{msg_to_py, recover};
use crate::model::{PyScoreModel, ScoreFunction};
use crate::options::from_kwargs;
use crate::problem::{PyProblem, PySchedule};
use crate::progress::{Progress, ProgressArg};
use crate::watch::{run_watched, Watch, Watched};
use ndarray::Array2;
use numpy::PyArray2;
use pyo3::exceptions::PyTypeError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use scoreprobe_core::options::{FrontEnd, OptionError};
use scoreprobe_core::sample_state::{self, SampleShard};
use scoreprobe_core::sampler::{prior_rows, sample_with_observer, SampleOptions};
use scoreprobe_core::{GaussianMixture, Schedule, ScoreModel};
use scoreprobe_hodge::{BoundsOptions, HodgeOptions, Problem};
use scoreprobe_siem::options::SiemRun;
use scoreprobe_siem::{SiemOptions, SiemReference};
use std::error::Error;
use std::sync::Arc;

/// The model argument.
enum ModelArg<'py> {
    Func(Bound<'py, ScoreFunction>),
    Problem(Bound<'py, PyProblem>),
}

fn model_arg<'py>(obj: &Bound<'py, PyAny>) -> PyResult<ModelArg<'py>> {
    if let Ok(f) = obj.cast::<ScoreFunction>() {
        return Ok(ModelArg::Func(f.clone()));
    }
    if let Ok(p) = obj.cast::<PyProblem>() {
        return Ok(ModelArg::Problem(p.clone()));
    }
    let hint = if obj.is_callable() { " (wrap a callable: sp.ScoreFunction(fn, dim))" } else { "" };
    Err(PyTypeError::new_err(format!(
        "model: expected a ScoreFunction or a Problem, got an {}{hint}",
        crate::arrays::describe(obj)
    )))
}

/// The data argument: the reference distribution p₀.
enum DataArg<'py> {
    /// Not given: the model's own problem target.
    None,
    Rows(Arc<Array2<f64>>),
    Target(Bound<'py, PyProblem>),
}

fn data_arg<'py>(obj: Option<&Bound<'py, PyAny>>) -> PyResult<DataArg<'py>> {
    match obj {
        None => Ok(DataArg::None),
        Some(o) if o.is_none() => Ok(DataArg::None),
        Some(o) => {
            if let Ok(p) = o.cast::<PyProblem>() {
                return Ok(DataArg::Target(p.clone()));
            }
            let rows = points(o, "data")?.view().to_owned();
            // refused here for every entry point (siem used to run on NaN rows without a word)
            let bad = rows
                .rows()
                .into_iter()
                .enumerate()
                .find_map(|(i, r)| r.iter().find(|v| !v.is_finite()).map(|v| (i, *v)));
            if let Some((i, v)) = bad {
                return Err(msg_to_py(format!("data: row {i} contains a non-finite value ({v})")));
            }
            Ok(DataArg::Rows(Arc::new(rows)))
        }
    }
}

/// The run's schedule: the model's own (a problem's, or the one a `ScoreFunction` carries), else
/// the run's `schedule=` (the deprecated spelling for a `ScoreFunction`), else the data problem's.
fn schedule_arg<'py>(
    schedule: Option<&Bound<'py, PySchedule>>,
    model: &ModelArg<'py>,
    data: &DataArg<'py>,
) -> PyResult<Bound<'py, PySchedule>> {
    let carried = match model {
        ModelArg::Problem(p) => Some(("the problem's model is defined with", p.get().schedule.bind(p.py()).clone())),
        ModelArg::Func(f) => f.get().schedule.as_ref().map(|s| ("the ScoreFunction carries", s.bind(f.py()).clone())),
    };
    let from_data = match data {
        DataArg::Target(p) => Some(p.get().schedule.bind(p.py()).clone()),
        _ => None,
    };
    match (schedule, carried) {
        (Some(s), Some((who, o))) if s.get().spec != o.get().spec => {
            Err(msg_to_py(format!("schedule: {who} its own schedule {}; leave schedule=None", o.repr()?)))
        }
        (Some(s), _) => Ok(s.clone()),
        (None, Some((_, o))) => Ok(o),
        (None, None) => from_data.ok_or_else(|| {
            msg_to_py(
                "schedule: a ScoreFunction needs the schedule it was trained with: \
                 sp.ScoreFunction(fn, dim, parameterization, schedule=sp.Schedule.vp())"
                    .to_string(),
            )
        }),
    }
}

/// Borrowed parts of the arguments, shareable with the worker thread.
struct Parts<'a> {
    func: Option<&'a ScoreFunction>,
    problem: Option<&'a PyProblem>,
    schedule: &'a Schedule,
}

impl<'a> Parts<'a> {
    fn new(model: &'a ModelArg<'_>, schedule: &'a Bound<'_, PySchedule>) -> Self {
        match model {
            ModelArg::Func(f) => Parts { func: Some(f.get()), problem: None, schedule: &schedule.get().schedule },
            ModelArg::Problem(p) => Parts { func: None, problem: Some(p.get()), schedule: &schedule.get().schedule },
        }
    }

    fn dim(&self) -> usize {
        match (self.func, self.problem) {
            (Some(f), _) => f.dim,
            (_, Some(p)) => p.resolved.model.dim(),
            _ => unreachable!("one of the two is set"),
        }
    }

    /// The model as the library sees it, watched by `watch`.
    fn with_model<T>(&self, watch: &Watch, f: impl FnOnce(&dyn ScoreModel) -> T) -> T {
        match (self.func, self.problem) {
            (Some(func), _) => f(&PyScoreModel { func, schedule: self.schedule, watch }),
            (_, Some(p)) => f(&Watched { inner: p.resolved.model.as_ref(), watch }),
            _ => unreachable!("one of the two is set"),
        }
    }
}

/// Draws ``n`` samples from ``model`` with a sampler; returns an (n, dim) float64 array.
///
/// ``sampler`` is ``em`` (reverse-SDE Euler-Maruyama), ``ancestral`` (DDPM), ``ode-euler`` or
/// ``ode-heun`` (probability-flow ODE); ``steps`` defaults to the schedule's (1000, or K for DDPM)
/// and ``t_min`` to 1e-3 (VP) or 0 (DDPM). The schedule is the model's own (a ``ScoreFunction``'s
/// ``schedule=``, a ``Problem``'s spec). Same seed, same samples. ``progress``: ``True`` draws a bar
/// counting to the sampler's score evaluations, ``False`` none, a callable ``progress(calls, rows)``
/// is called with the running totals. The options are `SampleOptions`'s fields (the CLI's flags).
/// With ``shard="I/K"`` (or ``(I, K)``) and ``state_out=PATH`` only samples I·n/K to (I+1)·n/K
/// are drawn (returned, and written to the state); ``scoreprobe.merge`` of the K states returns
/// the unsharded run's array, bit for bit (each sample's randomness is keyed by (seed, index)).
#[pyfunction]
#[pyo3(signature = (model, *, schedule = None, progress = ProgressArg::Bar, **options))]
pub fn sample<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    schedule: Option<&Bound<'py, PySchedule>>,
    progress: ProgressArg<'py>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let opts: SampleOptions = from_kwargs("sample", options)?;
    let model = model_arg(model)?;
    let schedule = schedule_arg(schedule, &model, &DataArg::None)?;
    let parts = Parts::new(&model, &schedule);
    let (shard, state_out) = opts.shard.checked().map_err(|e| run_error(py, e))?;
    let rows = shard.range(opts.n);
    let mut cfg = opts.config(parts.schedule).map_err(|e| run_error(py, e))?;
    cfg.first_trajectory = rows.start;
    cfg.validate().map_err(|e| run_error(py, e))?;
    let (d, seed) = (parts.dim(), opts.seed);
    let bar = Progress::start(py, progress, "sample", Some(cfg.nfe()))?;
    let start = std::time::Instant::now();
    let x0 = prior_rows(rows.clone(), d, seed);
    let out = run_watched(py, bar.sink(), |watch| {
        parts.with_model(watch, |m| {
            sample_with_observer(m, parts.schedule, &cfg, x0, &mut |_| std::ops::ControlFlow::Continue(()))
        })
    })?;
    let out = out.map_err(|e| run_error(py, e))?;
    if let Some(path) = state_out {
        let part = SampleShard {
            rows,
            dim: d,
            x: sample_state::flat(&out.x),
            trajectory: None,
            report: serde_json::json!({}),
            seconds: start.elapsed().as_secs_f64(),
        };
        let extra = serde_json::json!({
            "model": model_id(&model, &DataArg::None, d).fingerprint, "dim": d, "init": "prior",
            "steps": cfg.steps, "t_min": cfg.t_min, "front_end": "python",
        });
        let extra = extra.as_object().map(|o| o.clone().into_iter().collect()).unwrap_or_default();
        sample_state::write(path, shard, opts.n, sample_state::settings(&opts, extra), &part)
            .map_err(|e| run_error(py, e))?;
    }
    Ok(PyArray2::from_owned_array(py, out.x))
}

/// SIEM: the quadratic variation of the score error over a window of the sampling process.
///
/// Two forms (SPEC section 7), chosen with ``form=``:
///
/// - ``"projection"`` (the default against data samples): SIEM = integral over W of
///   beta(t)^2 (1/K) sum_c m_c(t)^2 dt with m_c(t) = E_{p_t}[s . grad phi_c + laplacian phi_c], on
///   forward-noised draws of the data: no sampler run, no fitted error field, K = 8 radial test
///   functions at data points drawn with ``test_seed``. It sees only the gradient part of the score
///   error (radial functions: its radial part; ``test_fn="quadratic"``: its affine part).
/// - ``"particle"`` (the default with an exact target): beta(t)^2 E[(e_t . grad phi)^2] along the
///   model's own reverse-SDE trajectories, with an error field ``error_field`` = ``oracle`` (exact
///   target only), ``critic`` or ``classifier`` (experimental).
///
/// ``data`` is the reference p0: an (N, D) array of data samples, or a ``Problem`` whose exact
/// target is the reference; with a ``Problem`` as ``model`` it may be omitted. ``window`` is a range
/// of sampler steps: ``(900, 999)``, ``range(900, 1000)`` or ``"900..999"`` (the first 100 steps
/// from noise of 1000). ``n`` is the number of trajectories (particle) or of draws per window time
/// (projection). Returns the CLI's ``siem --json`` report (``SiemProjectionResult`` or
/// ``SiemParticleResult`` in the stubs). ``influence=True`` (projection form) adds ``influence``:
/// the per-draw influence terms psi_i (``siem_se_jackknife`` = sqrt(sum psi_i^2 / (n (n - 1))));
/// two models measured with the same ``seed``, ``n`` and ``window`` use the same draws, and the SE
/// of their difference is the same formula on the differences of their terms (what ``Monitor``
/// reports). ``progress`` as for ``sample`` (the bar counts to the run's score-model calls). The
/// options are `SiemOptions`'s fields (the CLI's flags).
#[pyfunction]
#[pyo3(signature = (model, data = None, *, schedule = None, influence = false, progress = ProgressArg::Bar, **options))]
pub fn siem<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    data: Option<&Bound<'py, PyAny>>,
    schedule: Option<&Bound<'py, PySchedule>>,
    influence: bool,
    progress: ProgressArg<'py>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let opts: SiemOptions = from_kwargs("siem", options)?;
    let model = model_arg(model)?;
    let data = data_arg(data)?;
    let schedule = schedule_arg(schedule, &model, &data)?;
    let parts = Parts::new(&model, &schedule);
    let reference = match (&data, parts.problem) {
        (DataArg::Rows(rows), _) => SiemReference::Samples(rows),
        (DataArg::Target(p), _) => SiemReference::Exact { target: &p.get().resolved.target, synthetic: None },
        (DataArg::None, Some(p)) => {
            SiemReference::Exact { target: &p.resolved.target, synthetic: p.resolved.synthetic.as_ref() }
        }
        (DataArg::None, None) => return Err(no_data()),
    };
    let total = opts.score_calls(parts.schedule, reference.has_exact_score());
    let bar = Progress::start(py, progress, "siem", total)?;
    let report = run_watched(py, bar.sink(), |watch| {
        parts.with_model(watch, |m| scoreprobe_siem::run_siem(m, parts.schedule, reference, &opts))
    })?
    .map_err(|e| run_error(py, e))?;
    if opts.shard.state_out.is_some() {
        let id = model_id(&model, &data, parts.dim());
        scoreprobe_siem::shard::write_state(&report, &opts, &id, parts.dim()).map_err(|e| run_error(py, e))?;
    }
    let out = json_to_py(py, &serde_json::to_value(&report).expect("a report serialises"))?;
    if influence {
        add_influence(&out, &report)?;
    }
    Ok(out)
}

/// What a state records of the model and the data it was measured on: a spec's fingerprint (the
/// CLI's for the same spec), the data rows' own; a Python callable has none to take (states of two
/// callables with the same dimension and settings are not told apart).
fn model_id(model: &ModelArg<'_>, data: &DataArg<'_>, dim: usize) -> scoreprobe_core::state::ModelId {
    use scoreprobe_core::state::fingerprint;
    let (mut id, label) = match model {
        ModelArg::Problem(p) => {
            (p.get().spec.fingerprint(), format!("Problem(dim={dim}, model={})", p.get().resolved.model.describe()))
        }
        ModelArg::Func(_) => ("python-callable".to_string(), format!("ScoreFunction(dim={dim})")),
    };
    match data {
        DataArg::None => {}
        DataArg::Target(p) => id = format!("{id} on {}", p.get().spec.fingerprint()),
        DataArg::Rows(rows) => {
            let bytes: Vec<u8> = rows.iter().flat_map(|v| v.to_le_bytes()).collect();
            id = format!("{id} on {:?} rows {}", rows.dim(), fingerprint(&bytes));
        }
    }
    scoreprobe_core::state::ModelId { fingerprint: id, label }
}

/// `influence`: the projection form's per-draw influence terms ψᵢ (what a monitor pairs two
/// checkpoints' estimates with, `scoreprobe_siem::monitor`); the particle form has none.
fn add_influence(out: &Bound<'_, PyAny>, report: &SiemRun) -> PyResult<()> {
    let SiemRun::Projection(r) = report else {
        return Err(msg_to_py("influence: only the projection form has per-draw influence terms".into()));
    };
    let psi = scoreprobe_siem::monitor::influence(r.siem, &r.leave_one_out);
    out.set_item("influence", numpy::PyArray1::from_vec(out.py(), psi))
}

/// The default test family of the projection form for data of dimension `dim` (radial Gaussian
/// up to `scoreprobe_siem::monitor::RADIAL_MAX_DIM`, the quadratic family above).
#[pyfunction]
pub fn default_test_fn(dim: usize) -> &'static str {
    scoreprobe_siem::monitor::default_test_fn(dim).name()
}

fn no_data() -> PyErr {
    msg_to_py(
        "data: a ScoreFunction is measured against data: an (N, D) array of samples of p₀, or a Problem with an exact target"
            .into(),
    )
}

/// The reference of a Hodge run, free of Python handles (it crosses to the worker thread).
enum HodgeData<'a> {
    Rows(ndarray::ArrayView2<'a, f64>),
    /// An exact target, with the synthetic model when the model is the spec's own.
    Target(&'a GaussianMixture, Option<&'a scoreprobe_core::model::synthetic::SyntheticModel>),
}

fn hodge_data<'a>(parts: &Parts<'a>, data: &'a DataArg<'_>) -> HodgeData<'a> {
    match (data, parts.problem) {
        (DataArg::Rows(rows), _) => HodgeData::Rows(rows.view()),
        (DataArg::Target(p), _) => HodgeData::Target(&p.get().resolved.target, None),
        (DataArg::None, Some(p)) => HodgeData::Target(&p.resolved.target, p.resolved.synthetic.as_ref()),
        (DataArg::None, None) => unreachable!("checked before the run"),
    }
}

/// The Hodge problem of the arguments, handed to `f` with the watched model.
fn with_hodge_problem<T>(parts: &Parts<'_>, data: &HodgeData<'_>, watch: &Watch, f: impl FnOnce(&Problem) -> T) -> T {
    parts.with_model(watch, |model| {
        let problem = match data {
            HodgeData::Rows(rows) => Problem::on_samples(model, rows.view(), parts.schedule),
            HodgeData::Target(t, oracle) => Problem { oracle: *oracle, ..Problem::on_target(model, t, parts.schedule) },
        };
        f(&problem)
    })
}

fn check_data(parts: &Parts<'_>, data: &DataArg<'_>) -> PyResult<()> {
    let d = match data {
        DataArg::Rows(r) => r.ncols(),
        DataArg::Target(p) => p.get().resolved.target.dim(),
        DataArg::None if parts.problem.is_some() => return Ok(()),
        DataArg::None => return Err(no_data()),
    };
    if d != parts.dim() {
        return Err(msg_to_py(format!("data: has dimension {d}, the model {}", parts.dim())));
    }
    Ok(())
}

/// The Helmholtz-Hodge split of the score error e_t = s_theta - grad log p_t at each time.
///
/// Returns the CLI's ``hodge --json`` report: ``times``, ``l2`` (the L2(p_t) error), ``gradient``
/// (its gradient part, what the generated law can see), ``solenoidal`` (the rest), each with its
/// standard error (``*_se``), in score units, and the same in epsilon units (``eps_units``).
/// ``estimator`` is ``auto`` (the first of closed-form, grid, random-features that applies),
/// ``critic`` (a neural critic: any dimension, data samples suffice), ``random-features``, ``grid``
/// (dimension <= 3), or ``closed-form`` (affine errors); ``times`` defaults to (0.05, 0.2, 0.5, 0.9).
/// ``data`` and ``progress`` as for ``siem``. The options are `HodgeOptions`'s fields.
#[pyfunction]
#[pyo3(signature = (model, data = None, *, schedule = None, progress = ProgressArg::Bar, **options))]
pub fn hodge<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    data: Option<&Bound<'py, PyAny>>,
    schedule: Option<&Bound<'py, PySchedule>>,
    progress: ProgressArg<'py>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let opts: HodgeOptions = from_kwargs("hodge", options)?;
    let model = model_arg(model)?;
    let data = data_arg(data)?;
    let schedule = schedule_arg(schedule, &model, &data)?;
    let parts = Parts::new(&model, &schedule);
    check_data(&parts, &data)?;
    let reference = hodge_data(&parts, &data);
    // the estimators' calls depend on what they fit: a counter without a total
    let bar = Progress::start(py, progress, "hodge", None)?;
    let profile = run_watched(py, bar.sink(), |watch| {
        with_hodge_problem(&parts, &reference, watch, |p| scoreprobe_hodge::hodge_profile(p, &opts))
    })?
    .map_err(|e| run_error(py, e))?;
    if opts.shard.state_out.is_some() {
        let id = model_id(&model, &data, parts.dim());
        scoreprobe_hodge::shard::write_state(&profile, &opts, &id).map_err(|e| run_error(py, e))?;
    }
    json_to_py(py, &serde_json::to_value(profile.report()).expect("a report serialises"))
}

/// Girsanov and marginal (gradient-only) KL bounds of the reverse-SDE sampler over [t_min, 1].
///
/// Returns the CLI's ``bounds --json`` report (``girsanov``, ``marginal``, their standard errors,
/// ``exact_kl`` where a closed form exists, ``prior_kl``, ...). ``t_min`` (1e-3), ``panels``
/// (Simpson panels in ln t, a multiple of 4), ``n`` (samples per node), ``prior_n`` and the
/// estimator options of ``hodge``. ``data`` and ``progress`` as for ``siem``. The options are
/// `BoundsOptions`'s fields.
#[pyfunction]
#[pyo3(signature = (model, data = None, *, schedule = None, progress = ProgressArg::Bar, **options))]
pub fn bounds<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    data: Option<&Bound<'py, PyAny>>,
    schedule: Option<&Bound<'py, PySchedule>>,
    progress: ProgressArg<'py>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let opts: BoundsOptions = from_kwargs("bounds", options)?;
    let model = model_arg(model)?;
    let data = data_arg(data)?;
    let schedule = schedule_arg(schedule, &model, &data)?;
    let parts = Parts::new(&model, &schedule);
    check_data(&parts, &data)?;
    let reference = hodge_data(&parts, &data);
    // the estimators' calls depend on what they fit: a counter without a total
    let bar = Progress::start(py, progress, "bounds", None)?;
    let part = run_watched(py, bar.sink(), |watch| {
        with_hodge_problem(&parts, &reference, watch, |p| scoreprobe_hodge::bounds_part_of(p, &opts))
    })?
    .map_err(|e| run_error(py, e))?;
    if opts.shard.state_out.is_some() {
        let id = model_id(&model, &data, parts.dim());
        scoreprobe_hodge::shard::write_bounds_state(&part, &opts, &id).map_err(|e| run_error(py, e))?;
    }
    // a shard other than the whole run returns its part (the bounds need every node: merge)
    let value = match opts.shard.shard.filter(|s| !s.is_whole()) {
        Some(_) => serde_json::to_value(&part),
        None => serde_json::to_value(part.report().map_err(|e| run_error(py, e))?),
    };
    json_to_py(py, &value.expect("a report serialises"))
}

/// The error of a model run (`sample`, `siem`, `hodge`, `bounds`): the score callable's own
/// exception when it raised one (recovered from the source chain), a `KeyboardInterrupt` when the
/// run was interrupted, else a `ValueError` with the library's message (a wrong shape, dtype or a
/// non-finite value returned by the model, bad options, …).
pub fn run_error<E: Error + 'static>(py: Python<'_>, err: E) -> PyErr {
    if let Some(pe) = recover(py, &err) {
        return pe;
    }
    let mut cur: Option<&(dyn Error + 'static)> = Some(&err);
    while let Some(e) = cur {
        if e.downcast_ref::<crate::watch::Cancelled>().is_some() {
            return pyo3::exceptions::PyKeyboardInterrupt::new_err(err.to_string());
        }
        cur = e.source();
    }
    // an option error names its field as Python does (the same rule the CLI spells flags with)
    let text = err.to_string();
    match OptionError::find(&err) {
        Some(o) => PyValueError::new_err(o.respell(&text, FrontEnd::Python)),
        None => PyValueError::new_err(text),
    }
}
