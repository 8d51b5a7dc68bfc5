"""Type stubs of the compiled module scoreprobe._core (crates/scoreprobe-py)."""

from os import PathLike
from typing import Any, Callable, Dict, List, Literal, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

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

def prdc(
    real: _Points, fake: _Points, k: Optional[int] = None, k_pr: int = 3, k_dc: int = 5
) -> Dict[str, float]:
    """Precision, recall (k_pr neighbours), density and coverage (k_dc); ``k`` sets both."""

def merge(states: Sequence[_Path]) -> Dict[str, Any]:
    """The state files of every shard of one run (``shard=``, ``state_out=``) merged into the dict
    the unsharded run returns (``siem``'s; FD states: ``scoreprobe metrics --json``'s)."""

def load_images(path: _Path, limit: Optional[int] = None) -> npt.NDArray[np.float32]:
    """Images (folder, IDX, .npy, data set name) as float32 (N, C, H, W) in [0, 1]."""

def extract_features(
    images: Union[npt.NDArray[Any], _Path], extractor: str = "identity"
) -> npt.NDArray[np.float64]:
    """Features (N, D) in ``identity``, ``mnist-cnn``, ``mobilenet`` or ``inception:PATH`` space."""

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
        parameterization: str = "eps",
        batch_size: int = 4096,
        name: Optional[str] = None,
    ) -> None: ...
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

_Progress = Optional[Callable[[int, int], None]]

# The options of sample, siem, hodge and bounds are declared once, in the runs' Rust options
# structs (the CLI's flags); their blocks below are generated from them (scoreprobe/_stubs.py).

def sample(
    model: Union[ScoreFunction, Problem],
    schedule: Optional[Schedule] = None,
    *,
    # options of sample: generated from its Rust options struct (python -m scoreprobe._stubs)
    n: int = 1000,
    sampler: Literal["em", "ancestral", "ode-euler", "ode-heun"] = "em",
    steps: Optional[int] = None,
    t_min: Optional[float] = None,
    seed: int = 0,
    shard: Union[str, Tuple[int, int], None] = None,
    state_out: Optional[_Path] = None,
    # end of the options of sample
    progress: _Progress = None,
) -> npt.NDArray[np.float64]: ...
def siem(
    model: Union[ScoreFunction, Problem],
    data: Union[_Points, Problem, None] = None,
    schedule: Optional[Schedule] = None,
    *,
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
    shard: Union[str, Tuple[int, int], None] = None,
    state_out: Optional[_Path] = None,
    # end of the options of siem
    influence: bool = False,
    progress: _Progress = None,
) -> Dict[str, Any]: ...
def default_test_fn(dim: int) -> str: ...
def hodge(
    model: Union[ScoreFunction, Problem],
    data: Union[_Points, Problem, None] = None,
    schedule: Optional[Schedule] = None,
    *,
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
    progress: _Progress = None,
) -> Dict[str, Any]: ...
def bounds(
    model: Union[ScoreFunction, Problem],
    data: Union[_Points, Problem, None] = None,
    schedule: Optional[Schedule] = None,
    *,
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
    progress: _Progress = None,
) -> Dict[str, Any]: ...
def _options_schema() -> Dict[str, List[Dict[str, Any]]]:
    """Every run's options (name, default, help, python_type) as its Rust options struct declares them."""
