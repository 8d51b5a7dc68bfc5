"""scoreprobe: how good is a diffusion checkpoint, really?

Reference metrics (FD, KID, W2, PRDC), SIEM, the Helmholtz-Hodge split of the score error and
KL bounds, on any score model: a Python callable (a PyTorch network through a three-line adapter)
or a problem spec, with the work done in Rust with the GIL released.

Quick start::

    import numpy as np, scoreprobe as sp
    a, b = np.random.randn(2000, 8), np.random.randn(2000, 8) + 0.1
    sp.frechet_distance(a, b)

    def fn(x, t):                       # x float32 (n, d), t float64 (n,) -> (n, d)
        return -x                       # the exact score of N(0, I) under the VP-SDE
    model = sp.ScoreFunction(fn, dim=8, parameterization="score")
    sp.siem(model, a, sp.Schedule.vp(), window="900..999", n=500)["siem"]

Every function takes keyword options named like the CLI's flags (``--error-field`` is
``error_field=``); the dicts returned by ``siem``, ``hodge`` and ``bounds`` carry the same keys
and numbers as the CLI's ``--json`` output.
"""

from __future__ import annotations

import inspect
from typing import Any, Dict, List, Optional, Sequence, Union

from . import _core, _progress
from ._core import (
    FeatureStats,
    Problem,
    Schedule,
    ScoreFunction,
    extract_features,
    frechet_distance,
    kid,
    load_images,
    merge,
    prdc,
    wasserstein2,
)
from .monitor import Monitor

__version__ = _core.__version__

__all__ = [
    "FeatureStats",
    "Monitor",
    "Problem",
    "Schedule",
    "ScoreFunction",
    "bounds",
    "extract_features",
    "frechet_distance",
    "hodge",
    "kid",
    "load_images",
    "merge",
    "prdc",
    "sample",
    "siem",
    "wasserstein2",
]

Model = Union[ScoreFunction, Problem]


def _run(fn, desc: str, progress: bool, total: Optional[int], *args, **kwargs):
    bar = _progress.make(progress, desc, total)
    try:
        return fn(*args, progress=bar, **kwargs)
    finally:
        if bar is not None:
            bar.close()


# Each run's options are declared once, in its Rust options struct (the CLI's flags are the same
# struct); the signatures below are built from it, so an option added there is an option here.
_OPTIONS = _core._options_schema()

# Today's positional order of each run (the arguments after it are keyword-only): the front end's
# own arguments (model, data, schedule) and the options that were positional before the options
# were declared once.
_POSITIONAL = {
    "sample": ("model", "n", "schedule", "sampler", "steps", "seed"),
    "siem": ("model", "data", "schedule", "window", "error_field", "n", "steps", "seed"),
    "hodge": ("model", "data", "schedule", "times", "estimator", "seed"),
    "bounds": ("model", "data", "schedule", "seed"),
}
# Python's own arguments (not options of the run): their defaults.
_OWN = {"data": None, "schedule": None, "influence": False, "progress": True}
_EMPTY = inspect.Parameter.empty


def _signature(run: str, extra: Sequence[str]) -> inspect.Signature:
    defaults = {o["name"]: o["default"] for o in _OPTIONS[run]}
    positional = _POSITIONAL[run]
    params = [
        inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=defaults.get(p, _OWN.get(p, _EMPTY)))
        for p in positional
    ]
    keyword = [o for o in defaults if o not in positional] + list(extra)
    kw_only = inspect.Parameter.KEYWORD_ONLY
    params += [inspect.Parameter(k, kw_only, default=defaults.get(k, _OWN.get(k))) for k in keyword]
    return inspect.Signature(params)


def _frontend(run: str, doc: str, total=None, extra: Sequence[str] = ("progress",)):
    """``scoreprobe.<run>``: binds the call to the run's signature (today's spellings, Python's own
    errors for unknown or doubled arguments) and hands the options given to the compiled run, which
    reads them into its options struct (defaults are the struct's)."""
    sig = _signature(run, extra)
    core = getattr(_core, run)
    own = [p for p in ("model", "data", "schedule") if p in sig.parameters]

    def fn(*args: Any, **kwargs: Any) -> Any:
        given = dict(sig.bind(*args, **kwargs).arguments)
        progress = given.pop("progress", True)
        head = [given.pop(p, _OWN.get(p)) for p in own]
        bar_total = total(head, given) if total is not None else None
        return _run(core, run, progress, bar_total, *head, **given)

    fn.__name__ = fn.__qualname__ = run
    fn.__doc__ = doc
    fn.__signature__ = sig  # type: ignore[attr-defined]
    return fn


def _sample_total(head: List[Any], given: Dict[str, Any]) -> Optional[int]:
    model, schedule = head
    sched = schedule if schedule is not None else getattr(model, "schedule", None)
    steps = given.get("steps")
    total = steps if steps is not None else (sched.default_steps if sched is not None else None)
    if total is not None and given.get("sampler") == "ode-heun":
        total = 2 * total - 1
    return total


sample = _frontend(
    "sample",
    """Draws ``n`` samples from ``model`` with a sampler; returns an (n, dim) float64 array.

    ``sampler`` is ``em`` (reverse-SDE Euler-Maruyama), ``ancestral`` (DDPM), ``ode-euler`` or
    ``ode-heun`` (probability-flow ODE); ``steps`` defaults to the schedule's (1000, or K for DDPM)
    and ``t_min`` to 1e-3 (VP) or 0 (DDPM). ``schedule`` is required for a ``ScoreFunction`` and
    taken from the spec for a ``Problem``. Same seed, same samples.
    """,
    total=_sample_total,
)


siem = _frontend(
    "siem",
    """SIEM: the quadratic variation of the score error over a window of the sampling process.

    Two forms (SPEC section 7), chosen with ``form=``:

    - ``"projection"`` (the default against data samples): SIEM = integral over W of
      beta(t)^2 (1/K) sum_c m_c(t)^2 dt with m_c(t) = E_{p_t}[s . grad phi_c + laplacian phi_c], on
      forward-noised draws of the data: no sampler run, no fitted error field, K = 8 radial test
      functions at data points drawn with ``test_seed``. It sees only the gradient part of the score
      error (radial functions: its radial part; ``test_fn="quadratic"``: its affine part).
    - ``"particle"`` (the default with an exact target): beta(t)^2 E[(e_t . grad phi)^2] along the
      model's own reverse-SDE trajectories, with an error field ``error_field`` = ``oracle`` (exact
      target only), ``critic`` or ``classifier`` (experimental).

    ``data`` is the reference p0: an (N, D) array of data samples, or a ``Problem`` whose exact
    target is the reference; with a ``Problem`` as ``model`` it may be omitted. ``window`` is a range
    of sampler steps: ``(900, 999)``, ``range(900, 1000)`` or ``"900..999"`` (the first 100 steps
    from noise of 1000). ``n`` is the number of trajectories (particle) or of draws per window time
    (projection).

    Options (the CLI's flags): ``form``, ``test_fn`` (gaussian | imq | bump, or ``"quadratic"``:
    every test function of degree <= 2 at once, projection form, reported as a mean part and a
    covariance part under ``quadratic``), ``test_seed`` (default 0: the seed of the test functions'
    centres and pilot bandwidth, part of the metric and independent of ``seed``), ``bandwidth``,
    ``bandwidth_rule`` (median-pooled | median-first-step), ``center`` (alone: one test function
    there), ``centers`` (default 8 for the projection form, 1 for the particle form), ``pilot``
    (projection: draws per grid time that set the median bandwidth), ``t_min``, ``sampler``
    (em | ancestral; particle), ``classifier_steps``. Returns the CLI's ``siem --json`` report:
    ``form``, ``siem``, ``siem_se``, ``window``, ``test_fn`` (with ``centers_hash`` and
    ``test_seed``), ``profile``, ``nfe``, ``seconds``, and ``error_field`` for the particle form.
    ``influence=True`` (projection form) adds ``influence``: the per-draw influence terms psi_i
    (``siem_se_jackknife`` = sqrt(sum psi_i^2 / (n (n - 1)))); two models measured with the same
    ``seed``, ``n`` and ``window`` use the same draws, and the SE of their difference is the same
    formula on the differences of their terms (what :class:`Monitor` reports).
    """,
    extra=("influence", "progress"),
)

hodge = _frontend(
    "hodge",
    """The Helmholtz-Hodge split of the score error e_t = s_theta - grad log p_t at each time.

    Returns the CLI's ``hodge --json`` report: ``times``, ``l2`` (the L2(p_t) error), ``gradient``
    (its gradient part, what the generated law can see), ``solenoidal`` (the rest), each with its
    standard error (``*_se``), in score units, and the same in epsilon units (``eps_units``).
    ``estimator`` is ``auto`` (the default, as the CLI's: the first of closed-form, grid,
    random-features that applies), ``critic`` (a neural critic: any dimension, data samples suffice),
    ``random-features``, ``grid`` (dimension <= 3), or ``closed-form`` (affine errors).
    ``times`` defaults to (0.05, 0.2, 0.5, 0.9). Options: ``n`` (samples per time), ``n_times``,
    ``critic_steps``, ``critic_denoising``, ``vector_l2``, ``features``, ``ridge``, ``identity``,
    ``grid_cells_per_std``, ``grid_max_cells``.
    """,
)

bounds = _frontend(
    "bounds",
    """Girsanov and marginal (gradient-only) KL bounds of the reverse-SDE sampler over [t_min, 1].

    Returns the CLI's ``bounds --json`` report (``girsanov``, ``marginal``, their standard errors,
    ``exact_kl`` where a closed form exists, ``prior_kl``, ...). Options: ``estimator`` (default
    ``auto``), ``t_min`` (1e-3), ``panels`` (Simpson panels in ln t, a multiple of 4), ``n``
    (samples per node), ``prior_n`` and the estimator options of :func:`hodge`.
    """,
)
