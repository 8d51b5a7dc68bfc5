"""Type stubs of the compiled module scoreprobe._core (crates/scoreprobe-py): the one typed surface
of ``scoreprobe``, which re-exports these functions. The runs' option blocks are generated from
their Rust options structs (``python -m scoreprobe._stubs python/scoreprobe/_core.pyi``); each
result dict is a TypedDict whose keys python/tests/test_results.py checks against real runs.
"""

from os import PathLike
from typing import Any, Callable, Dict, List, Literal, Optional, Sequence, Tuple, TypedDict, Union

import numpy as np
import numpy.typing as npt
from typing_extensions import NotRequired

__version__: str

_Points = npt.NDArray[Union[np.float32, np.float64]]
_Path = Union[str, "PathLike[str]"]

class FeatureStats:
    """Streaming f64 mean and covariance, mergeable exactly; saves pytorch-fid compatible .npz."""

    def __init__(self, dim: int) -> None: ...
    def update(self, x: _Points) -> None:
        """Adds the rows of ``x`` (N, dim)."""
    def merge(self, other: "FeatureStats") -> None:
        """Adds the statistics of ``other`` (same dim)."""
    @property
    def n(self) -> int: ...
    @property
    def dim(self) -> int: ...
    @property
    def mean(self) -> npt.NDArray[np.float64]: ...
    @property
    def cov(self) -> npt.NDArray[np.float64]:
        """Unbiased covariance (1/(n-1)); needs n >= 2."""
    def save(self, path: _Path) -> None:
        """Writes ``mu``, ``sigma`` (pytorch-fid) plus ``n``, ``scatter`` (exact merging)."""
    @staticmethod
    def load(path: _Path) -> "FeatureStats": ...

def frechet_distance(
    a: Union[_Points, FeatureStats, _Path], b: Union[_Points, FeatureStats, _Path]
) -> float:
    """Frechet distance between two point sets (N, D), FeatureStats or pytorch-fid .npz files."""

def kid(
    a: _Points, b: _Points, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> Tuple[float, float]:
    """Kernel Inception Distance: (mean, std) of the unbiased MMD^2 over random subsets."""

def wasserstein2(
    a: _Points,
    b: _Points,
    method: str = "exact",
    seed: int = 0,
    epsilon: Optional[float] = None,
    projections: int = 256,
) -> float:
    """W2 (sqrt of the optimal mean |x-y|^2) by ``exact``, ``sinkhorn``, ``sliced`` or ``bures``."""

class PrdcResult(TypedDict):
    precision: float
    recall: float
    density: float
    coverage: float

def prdc(
    real: _Points, fake: _Points, k: Optional[int] = None, k_pr: int = 3, k_dc: int = 5
) -> PrdcResult:
    """Precision, recall (k_pr neighbours), density and coverage (k_dc); ``k`` sets both."""

def merge(states: Sequence[_Path]) -> Any:
    """The state files of every shard of one run (``shard=``, ``state_out=``) merged into the dict
    the unsharded run returns (``siem``'s; FD states: ``scoreprobe metrics --json``'s); ``sample``
    states merge into the unsharded ``sample``'s (n, dim) float64 array."""

def load_images(path: _Path, limit: Optional[int] = None) -> npt.NDArray[np.float32]:
    """Images (folder, IDX, .npy, data set name) as float32 (N, C, H, W) in [0, 1]."""

def extract_features(
    images: Union[npt.NDArray[Any], _Path],
    extractor: Literal["identity", "mnist-cnn", "mobilenet", "inception", "inception01", "inception255"] = "identity",
    *,
    weights: Optional[_Path] = None,
) -> npt.NDArray[np.float64]:
    """Features (N, D) in ``identity``, ``mnist-cnn``, ``mobilenet`` or ``inception`` space; ``weights``
    is the network's file (required for ``inception``: a user-supplied ONNX file). The spelling
    ``extractor="inception:PATH"`` still works, with a DeprecationWarning."""

def mobilenet_input(images: Union[npt.NDArray[Any], _Path]) -> npt.NDArray[np.uint8]:
    """The ``mobilenet`` space's network input for each image: uint8 (N, 224, 224, 3), NHWC, the
    bytes another runtime (LiteRT) needs to see exactly scoreprobe's input."""

class Schedule:
    """A noise schedule: VP-SDE or DDPM embedded in continuous time t in (0, 1]."""

    @staticmethod
    def vp(beta_min: float = 0.1, beta_max: float = 20.0) -> "Schedule": ...
    @staticmethod
    def ddpm(steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> "Schedule": ...
    @property
    def kind(self) -> str: ...
    @property
    def default_steps(self) -> int: ...
    @property
    def default_t_min(self) -> float: ...
    def beta(self, t: Union[float, npt.NDArray[np.float64]]) -> Any: ...
    def alpha(self, t: Union[float, npt.NDArray[np.float64]]) -> Any: ...
    def sigma(self, t: Union[float, npt.NDArray[np.float64]]) -> Any: ...
    def timestep(self, t: Union[float, npt.NDArray[np.float64]]) -> Any:
        """DDPM: the discrete step k with grid time (k+1)/K nearest to t; VP: t."""
    def to_dict(self) -> Dict[str, Any]: ...

class Problem:
    """A problem spec: exact-score target, schedule and model (synthetic error or checkpoint)."""

    @staticmethod
    def from_json(spec: Union[_Path, str, Dict[str, Any]]) -> "Problem": ...
    @property
    def dim(self) -> int: ...
    @property
    def schedule(self) -> Schedule: ...
    @property
    def model(self) -> str: ...
    @property
    def model_kind(self) -> str: ...
    def sample_data(self, n: int, seed: int = 0) -> npt.NDArray[np.float64]: ...
    def target_score(self, x: _Points, t: float) -> npt.NDArray[np.float64]: ...
    def to_dict(self) -> Dict[str, Any]: ...

class ScoreFunction:
    """A Python callable fn(x, t) -> (n, dim) array as a score model."""

    def __init__(
        self,
        fn_: Callable[[npt.NDArray[np.float32], npt.NDArray[np.float64]], npt.NDArray[Any]],
        dim: int,
        parameterization: Literal["eps", "epsilon", "score"] = "eps",
        batch_size: int = 4096,
        name: Optional[str] = None,
        *,
        schedule: Optional[Schedule] = None,
    ) -> None:
        """``schedule``: the schedule the network was trained with (an ε-model's conversion
        s = -eps/sigma_t and every run's sampler use it)."""
    @property
    def fn(self) -> Callable[..., Any]: ...
    @property
    def dim(self) -> int: ...
    @property
    def parameterization(self) -> str: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def schedule(self) -> Optional[Schedule]: ...

# True: a bar on stderr counting to the run's score-model calls; False/None: none; a callable
# progress(calls, rows): called with the running totals.
_Progress = Union[bool, Callable[[int, int], None], None]

class SiemTestFn(TypedDict):
    kind: str
    bandwidth_rule: str
    bandwidths: List[float]
    centers: List[List[float]]
    centers_hash: str
    test_seed: int
    k: int

class SiemQuadratic(TypedDict):
    mean_part: float
    mean_part_se: float
    cov_part: float
    cov_part_se: float
    center_from_pilot: bool

class SiemProjectionStep(TypedDict):
    index: int
    t: float
    dt: float
    beta2: float
    m2: float
    m2_se: float

class SiemProjectionResult(TypedDict):
    """``siem`` in the projection form (``siem --json``)."""

    form: Literal["projection"]
    siem: float
    siem_se: float
    siem_se_jackknife: float
    window: str
    test_fn: SiemTestFn
    quadratic: NotRequired[SiemQuadratic]
    profile: List[SiemProjectionStep]
    per_center: List[float]
    nfe: int
    score_evals: int
    nfe_full: int
    n: int
    pilot: int
    steps: int
    t_min: float
    seed: int
    seconds: float
    influence: NotRequired[npt.NDArray[np.float64]]

class SiemParticleStep(TypedDict):
    index: int
    t: float
    dt: float
    beta2: float
    mean_sq: float

class SiemBand(TypedDict):
    steps: str
    heldout_objective: float
    heldout_objective_se: float
    kept: bool

class SiemFloor(TypedDict):
    what: str
    heldout_accuracy: float
    heldout_accuracy_se: Optional[float]
    heldout_accuracy_ci95: Optional[List[float]]
    logit_rms: Optional[float]
    siem: float
    siem_se: float
    excess: float
    excess_se: float

class SiemParticleResult(TypedDict):
    """``siem`` in the particle form (``siem --json``)."""

    form: Literal["particle"]
    siem: float
    siem_se: float
    window: str
    error_field: str
    test_fn: SiemTestFn
    profile: List[SiemParticleStep]
    per_center: List[float]
    empirical_qv: float
    qv_noise_floor: float
    nfe: int
    nfe_sampler: int
    nfe_aux: int
    nfe_full: int
    aux_evals: int
    n: int
    steps: int
    steps_run: int
    t_min: float
    sampler: str
    seed: int
    seconds: float
    source: Any
    bands: NotRequired[List[SiemBand]]
    dropped_bands: NotRequired[List[str]]
    floor: NotRequired[SiemFloor]

SiemResult = Union[SiemProjectionResult, SiemParticleResult]

class HodgeEpsUnits(TypedDict):
    sigma2: List[float]
    l2: List[float]
    gradient: List[float]
    solenoidal: List[float]
    gradient_se: List[float]

class HodgeResult(TypedDict):
    """``hodge --json``."""

    estimator: str
    model: str
    units: str
    times: List[float]
    l2: List[float]
    gradient: List[float]
    solenoidal: List[float]
    l2_se: List[float]
    gradient_se: List[float]
    solenoidal_se: List[float]
    l2_method: List[str]
    eps_units: HodgeEpsUnits
    seconds: float
    samples: int

class BoundsPrior(TypedDict):
    value: float
    se: float
    lower: float
    upper: float
    samples: int
    method: str

class BoundsResult(TypedDict):
    """``bounds --json``."""

    estimator: str
    model: str
    t_min: float
    girsanov: float
    marginal: float
    exact_kl: Optional[float]
    exact_kl_method: str
    prior_kl: float
    prior: BoundsPrior
    path_cost: float
    girsanov_quad_err: float
    marginal_quad_err: float
    girsanov_se: float
    marginal_se: float
    quadrature: str
    times: List[float]
    integrand_l2: List[float]
    integrand_gradient: List[float]
    units: str
    seconds: float
    samples: int

# The options of sample, siem, hodge and bounds are declared once, in the runs' Rust options
# structs (the CLI's flags); their blocks below are generated from them (scoreprobe/_stubs.py).
# ``schedule=`` is the previous release's spelling (the model carries its schedule): it still
# works, with a DeprecationWarning.

def sample(
    model: Union[ScoreFunction, Problem],
    *,
    schedule: Optional[Schedule] = None,
    # options of sample: generated from its Rust options struct (python -m scoreprobe._stubs)
    n: int = 1000,
    sampler: Literal["em", "ancestral", "ode-euler", "ode-heun"] = "em",
    steps: Optional[int] = None,
    t_min: Optional[float] = None,
    seed: int = 0,
    shard: Union[str, Tuple[int, int], None] = None,
    state_out: Optional[_Path] = None,
    # end of the options of sample
    progress: _Progress = True,
) -> npt.NDArray[np.float64]:
    # docstring of sample: generated from its Rust doc comment (python -m scoreprobe._stubs)
    """Draws ``n`` samples from ``model`` with a sampler; returns an (n, dim) float64 array.

    ``sampler`` is ``em`` (reverse-SDE Euler-Maruyama), ``ancestral`` (DDPM), ``ode-euler`` or
    ``ode-heun`` (probability-flow ODE); ``steps`` defaults to the schedule's (1000, or K for DDPM)
    and ``t_min`` to 1e-3 (VP) or 0 (DDPM). The schedule is the model's own (a ``ScoreFunction``'s
    ``schedule=``, a ``Problem``'s spec). Same seed, same samples. ``progress``: ``True`` draws a bar
    counting to the sampler's score evaluations, ``False`` none, a callable ``progress(calls, rows)``
    is called with the running totals. The options are `SampleOptions`'s fields (the CLI's flags).
    With ``shard="I/K"`` (or ``(I, K)``) and ``state_out=PATH`` only samples I·n/K to (I+1)·n/K
    are drawn (returned, and written to the state); ``scoreprobe.merge`` of the K states returns
    the unsharded run's array, bit for bit (each sample's randomness is keyed by (seed, index)).
    """
    # end of the docstring of sample
def siem(
    model: Union[ScoreFunction, Problem],
    data: Union[_Points, Problem, None] = None,
    *,
    schedule: Optional[Schedule] = None,
    # options of siem: generated from its Rust options struct (python -m scoreprobe._stubs)
    form: Optional[Literal["projection", "particle"]] = None,
    error_field: Optional[Literal["oracle", "classifier", "critic"]] = None,
    window: Union[str, Tuple[int, int], range, None] = None,
    test_fn: Literal["gaussian", "imq", "bump", "quadratic"] = "gaussian",
    test_seed: int = 0,
    bandwidth: Optional[float] = None,
    bandwidth_rule: Literal["median-pooled", "median-first-step"] = "median-pooled",
    center: Optional[Sequence[float]] = None,
    centers: Optional[int] = None,
    n: int = 1000,
    pilot: int = 256,
    steps: Optional[int] = None,
    t_min: Optional[float] = None,
    sampler: Literal["em", "ancestral", "ode-euler", "ode-heun"] = "em",
    seed: int = 0,
    classifier_steps: int = 1500,
    critic_band_steps: int = 100,
    error_field_out: Optional[_Path] = None,
    error_field_in: Optional[_Path] = None,
    shard: Union[str, Tuple[int, int], None] = None,
    state_out: Optional[_Path] = None,
    # end of the options of siem
    influence: bool = False,
    progress: _Progress = True,
) -> SiemResult:
    # docstring of siem: generated from its Rust doc comment (python -m scoreprobe._stubs)
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
    (projection). Returns the CLI's ``siem --json`` report (``SiemProjectionResult`` or
    ``SiemParticleResult`` in the stubs). ``influence=True`` (projection form) adds ``influence``:
    the per-draw influence terms psi_i (``siem_se_jackknife`` = sqrt(sum psi_i^2 / (n (n - 1))));
    two models measured with the same ``seed``, ``n`` and ``window`` use the same draws, and the SE
    of their difference is the same formula on the differences of their terms (what ``Monitor``
    reports). ``progress`` as for ``sample`` (the bar counts to the run's score-model calls). The
    options are `SiemOptions`'s fields (the CLI's flags).
    """
    # end of the docstring of siem
def default_test_fn(dim: int) -> str: ...
def hodge(
    model: Union[ScoreFunction, Problem],
    data: Union[_Points, Problem, None] = None,
    *,
    schedule: Optional[Schedule] = None,
    # options of hodge: generated from its Rust options struct (python -m scoreprobe._stubs)
    estimator: Literal["auto", "closed-form", "grid", "random-features", "critic"] = "auto",
    grid_cells_per_std: float = 8.0,
    grid_max_cells: int = 640,
    features: int = 128,
    ridge: Optional[float] = None,
    identity: Literal["denoising", "ibp"] = "denoising",
    vector_l2: bool = False,
    critic_denoising: bool = False,
    critic_steps: int = 4000,
    times: Optional[Sequence[float]] = None,
    n_times: Optional[int] = None,
    n: int = 40000,
    seed: int = 0,
    shard: Union[str, Tuple[int, int], None] = None,
    state_out: Optional[_Path] = None,
    # end of the options of hodge
    progress: _Progress = True,
) -> HodgeResult:
    # docstring of hodge: generated from its Rust doc comment (python -m scoreprobe._stubs)
    """The Helmholtz-Hodge split of the score error e_t = s_theta - grad log p_t at each time.

    Returns the CLI's ``hodge --json`` report: ``times``, ``l2`` (the L2(p_t) error), ``gradient``
    (its gradient part, what the generated law can see), ``solenoidal`` (the rest), each with its
    standard error (``*_se``), in score units, and the same in epsilon units (``eps_units``).
    ``estimator`` is ``auto`` (the first of closed-form, grid, random-features that applies),
    ``critic`` (a neural critic: any dimension, data samples suffice), ``random-features``, ``grid``
    (dimension <= 3), or ``closed-form`` (affine errors); ``times`` defaults to (0.05, 0.2, 0.5, 0.9).
    ``data`` and ``progress`` as for ``siem``. The options are `HodgeOptions`'s fields.
    """
    # end of the docstring of hodge
def bounds(
    model: Union[ScoreFunction, Problem],
    data: Union[_Points, Problem, None] = None,
    *,
    schedule: Optional[Schedule] = None,
    # options of bounds: generated from its Rust options struct (python -m scoreprobe._stubs)
    estimator: Literal["auto", "closed-form", "grid", "random-features", "critic"] = "auto",
    grid_cells_per_std: float = 8.0,
    grid_max_cells: int = 640,
    features: int = 128,
    ridge: Optional[float] = None,
    identity: Literal["denoising", "ibp"] = "denoising",
    vector_l2: bool = False,
    critic_denoising: bool = False,
    critic_steps: int = 4000,
    t_min: float = 0.001,
    panels: int = 32,
    n: int = 20000,
    prior_n: int = 100000,
    seed: int = 0,
    shard: Union[str, Tuple[int, int], None] = None,
    state_out: Optional[_Path] = None,
    # end of the options of bounds
    progress: _Progress = True,
) -> BoundsResult:
    # docstring of bounds: generated from its Rust doc comment (python -m scoreprobe._stubs)
    """Girsanov and marginal (gradient-only) KL bounds of the reverse-SDE sampler over [t_min, 1].

    Returns the CLI's ``bounds --json`` report (``girsanov``, ``marginal``, their standard errors,
    ``exact_kl`` where a closed form exists, ``prior_kl``, ...). ``t_min`` (1e-3), ``panels``
    (Simpson panels in ln t, a multiple of 4), ``n`` (samples per node), ``prior_n`` and the
    estimator options of ``hodge``. ``data`` and ``progress`` as for ``siem``. The options are
    `BoundsOptions`'s fields.
    """
    # end of the docstring of bounds
def _options_schema() -> Dict[str, List[Dict[str, Any]]]:
    """Every run's options (name, default, help, python_type) as its Rust options struct declares them."""
