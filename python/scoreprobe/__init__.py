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
    model = sp.ScoreFunction(fn, dim=8, parameterization="score", schedule=sp.Schedule.vp())
    sp.siem(model, a, window=(900, 999), n=500)["siem"]

The functions are the compiled module's (``scoreprobe._core``, typed by its stubs ``_core.pyi``):
everything after ``(model, data)`` is a keyword option named like the CLI's flag (``--error-field``
is ``error_field=``), declared once in the run's Rust options struct; the dicts returned by
``siem``, ``hodge`` and ``bounds`` carry the same keys and numbers as the CLI's ``--json`` output.
This package adds what is Python's own: the runs' signatures and option lists for ``help()``, the
previous release's spellings (with a ``DeprecationWarning``), progress bars and :class:`Monitor`.
"""

from . import _core
from ._core import (
    FeatureStats,
    Problem,
    Schedule,
    ScoreFunction,
    bounds,
    extract_features,
    frechet_distance,
    hodge,
    kid,
    load_images,
    merge,
    mobilenet_input,
    prdc,
    sample,
    siem,
    wasserstein2,
)
from ._frontend import frontend as _wrap
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
    "mobilenet_input",
    "prdc",
    "sample",
    "siem",
    "wasserstein2",
]

# The previous release's positional order after (model, data), accepted with a DeprecationWarning.
sample = _wrap(sample, legacy=("n", "schedule", "sampler", "steps", "seed"))
siem = _wrap(siem, legacy=("schedule", "window", "error_field", "n", "steps", "seed"))
hodge = _wrap(hodge, legacy=("schedule", "times", "estimator", "seed"))
bounds = _wrap(bounds, legacy=("schedule", "seed"))
