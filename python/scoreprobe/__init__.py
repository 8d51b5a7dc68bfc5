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

from typing import Any, Dict, Optional, Sequence, Union

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


def sample(
    model: Model,
    n: int,
    schedule: Optional[Schedule] = None,
    sampler: str = "em",
    steps: Optional[int] = None,
    seed: int = 0,
    *,
    t_min: Optional[float] = None,
    progress: bool = True,
):
    """Draws ``n`` samples from ``model`` with a sampler; returns an (n, dim) float64 array.

    ``sampler`` is ``em`` (reverse-SDE Euler-Maruyama), ``ancestral`` (DDPM), ``ode-euler`` or
    ``ode-heun`` (probability-flow ODE); ``steps`` defaults to the schedule's (1000, or K for DDPM)
    and ``t_min`` to 1e-3 (VP) or 0 (DDPM). ``schedule`` is required for a ``ScoreFunction`` and
    taken from the spec for a ``Problem``. Same seed, same samples.
    """
    sched = schedule if schedule is not None else getattr(model, "schedule", None)
    total = steps if steps is not None else (sched.default_steps if sched is not None else None)
    if total is not None and sampler == "ode-heun":
        total = 2 * total - 1
    return _run(_core.sample, "sample", progress, total, model, n, schedule, sampler, steps, seed, t_min=t_min)


def siem(
    model: Model,
    data: Any = None,
    schedule: Optional[Schedule] = None,
    window: Optional[str] = None,
    error_field: Optional[str] = None,
    n: int = 1000,
    steps: Optional[int] = None,
    seed: int = 0,
    *,
    progress: bool = True,
    **options: Any,
) -> Dict[str, Any]:
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
    of sampler steps such as ``"900..999"`` (the first 100 steps from noise of 1000). ``n`` is the
    number of trajectories (particle) or of draws per window time (projection).

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
    """
    return _run(
        _core.siem, "siem", progress, None, model, data, schedule, window, error_field, n, steps, seed, **options
    )


def hodge(
    model: Model,
    data: Any = None,
    schedule: Optional[Schedule] = None,
    times: Optional[Sequence[float]] = None,
    estimator: str = "critic",
    seed: int = 0,
    *,
    progress: bool = True,
    **options: Any,
) -> Dict[str, Any]:
    """The Helmholtz-Hodge split of the score error e_t = s_theta - grad log p_t at each time.

    Returns the CLI's ``hodge --json`` report: ``times``, ``l2`` (the L2(p_t) error), ``gradient``
    (its gradient part, what the generated law can see), ``solenoidal`` (the rest), each with its
    standard error (``*_se``), in score units, and the same in epsilon units (``eps_units``).
    ``estimator`` is ``critic`` (a neural critic: any dimension, data samples suffice),
    ``random-features``, ``grid`` (dimension <= 3), ``closed-form`` (affine errors) or ``auto``.
    ``times`` defaults to (0.05, 0.2, 0.5, 0.9). Options: ``n`` (samples per time), ``n_times``,
    ``critic_steps``, ``critic_denoising``, ``vector_l2``, ``features``, ``ridge``, ``identity``,
    ``grid_cells_per_std``, ``grid_max_cells``.
    """
    if times is not None:
        times = [float(t) for t in times]
    return _run(_core.hodge, "hodge", progress, None, model, data, schedule, times, estimator, seed, **options)


def bounds(
    model: Model,
    data: Any = None,
    schedule: Optional[Schedule] = None,
    seed: int = 0,
    *,
    progress: bool = True,
    **options: Any,
) -> Dict[str, Any]:
    """Girsanov and marginal (gradient-only) KL bounds of the reverse-SDE sampler over [t_min, 1].

    Returns the CLI's ``bounds --json`` report (``girsanov``, ``marginal``, their standard errors,
    ``exact_kl`` where a closed form exists, ``prior_kl``, ...). Options: ``estimator`` (default
    ``auto``), ``t_min`` (1e-3), ``panels`` (Simpson panels in ln t, a multiple of 4), ``n``
    (samples per node), ``prior_n`` and the estimator options of :func:`hodge`.
    """
    return _run(_core.bounds, "bounds", progress, None, model, data, schedule, seed, **options)
