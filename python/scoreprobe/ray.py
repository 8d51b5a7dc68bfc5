"""scoreprobe's sharded runs as Ray tasks: K tasks each run one shard (``shard=(i, K)``,
``state_out=``), the driver merges their states (:func:`scoreprobe.merge`), so the result is the
dict of the unsharded run (to 1e-12 relative; see docs/distributed.md), or for :func:`sample` its
array, bit for bit.

:func:`feature_stats` shards the images instead: each task embeds its block and saves its
``FeatureStats``; the driver merges them exactly (Chan's update, in block order).

``model_factory`` is a zero-argument callable that builds the model (a ``ScoreFunction`` or a
``Problem``) inside each task, so that a PyTorch model is built on the worker's own device. A task
that fails is retried once by Ray (``max_retries=1``), then reported with its shard number.

Ray is an optional extra: ``pip install .[ray]`` (or ``pip install ray``). This module imports
without it and says what to install when one of its functions is called.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import numpy as np

from . import _core

__all__ = ["siem", "hodge", "bounds", "sample", "feature_stats"]

INSTALL = "scoreprobe.ray needs Ray: pip install 'scoreprobe[ray]' (from a checkout: pip install '.[ray]')"


def _ray():
    try:
        import ray
    except ImportError as e:
        raise ImportError(INSTALL) from e
    return ray


def _portable(obj: Any) -> Any:
    """What crosses to a task: a Schedule or a Problem as its dict (they are Rust objects), arrays as they are."""
    if isinstance(obj, (_core.Schedule, _core.Problem)):
        return (type(obj).__name__, obj.to_dict())
    return obj


def _rebuilt(obj: Any) -> Any:
    if isinstance(obj, tuple) and len(obj) == 2 and obj[0] in ("Schedule", "Problem"):
        kind, spec = obj
        if kind == "Problem":
            return _core.Problem.from_json(spec)
        if spec["kind"] == "vp":
            return _core.Schedule.vp(spec["beta_min"], spec["beta_max"])
        return _core.Schedule.ddpm(spec["steps"], spec["beta_start"], spec["beta_end"])
    return obj


def _shard(run: str, model_factory, data, schedule, index: int, shards: int, path: str, options: Dict[str, Any]):
    import scoreprobe as sp

    fn = getattr(sp, run)
    if run == "sample":  # no data; its schedule is keyword-only
        fn(model_factory(), schedule=_rebuilt(schedule), shard=(index, shards), state_out=path, progress=False,
           **options)
        return path
    fn(model_factory(), _rebuilt(data), _rebuilt(schedule), shard=(index, shards), state_out=path, progress=False,
       **options)
    return path


def _sharded(run: str, model_factory: Callable[[], Any], data, schedule, shards: int, state_dir, options):
    ray = _ray()
    if not callable(model_factory):
        raise TypeError(f"model_factory: expected a zero-argument callable that builds the model, "
                        f"got {model_factory!r}")
    if not isinstance(shards, int) or shards < 1:
        raise ValueError(f"shards: need a whole number ≥ 1, got {shards!r}")
    for own in ("shard", "state_out", "progress"):
        if own in options:
            raise TypeError(f"scoreprobe.ray.{run}() sets {own} itself")
    if not ray.is_initialized():
        ray.init()
    folder = Path(state_dir) if state_dir is not None else Path(tempfile.mkdtemp(prefix=f"scoreprobe-{run}-"))
    folder.mkdir(parents=True, exist_ok=True)
    task = ray.remote(max_retries=1, retry_exceptions=True)(_shard)
    data, schedule = _portable(data), _portable(schedule)
    refs = [
        task.remote(run, model_factory, data, schedule, i, shards, str(folder / f"{run}-{i}-of-{shards}.json"), options)
        for i in range(shards)
    ]
    paths = []
    for i, ref in enumerate(refs):
        try:
            paths.append(ray.get(ref))
        except Exception as e:  # Ray wraps the task's exception
            raise RuntimeError(f"scoreprobe.ray.{run}: shard {i}/{shards} failed after one retry: {e}") from e
    return _core.merge(paths)


def siem(model_factory: Callable[[], Any], data: Optional[np.ndarray] = None, schedule=None, *, shards: int,
         state_dir=None, **options: Any) -> Dict[str, Any]:
    """``scoreprobe.siem`` over ``shards`` Ray tasks (either form: a block of the window's times in the
    projection form, of the trajectories in the particle form; see docs/distributed.md)."""
    return _sharded("siem", model_factory, data, schedule, shards, state_dir, options)


def hodge(model_factory: Callable[[], Any], data: Optional[np.ndarray] = None, schedule=None, *, shards: int,
          state_dir=None, **options: Any) -> Dict[str, Any]:
    """``scoreprobe.hodge`` over ``shards`` Ray tasks (a block of the times each)."""
    return _sharded("hodge", model_factory, data, schedule, shards, state_dir, options)


def bounds(model_factory: Callable[[], Any], data: Optional[np.ndarray] = None, schedule=None, *, shards: int,
           state_dir=None, **options: Any) -> Dict[str, Any]:
    """``scoreprobe.bounds`` over ``shards`` Ray tasks (a block of the quadrature nodes each)."""
    return _sharded("bounds", model_factory, data, schedule, shards, state_dir, options)


def sample(model_factory: Callable[[], Any], schedule=None, *, shards: int, state_dir=None,
           **options: Any) -> np.ndarray:
    """``scoreprobe.sample`` over ``shards`` Ray tasks (a block of the samples each): the unsharded
    run's (n, dim) array, bit for bit (each sample's randomness is keyed by (seed, index))."""
    return _sharded("sample", model_factory, None, schedule, shards, state_dir, options)


def _block(n: int, index: int, shards: int) -> slice:
    """Rows of block ``index`` of ``shards`` (the CLI's ``--shard I/K`` partition)."""
    return slice(index * n // shards, (index + 1) * n // shards)


def _feature_stats_shard(images, extractor: str, weights, index: int, shards: int, path: str) -> Optional[str]:
    import scoreprobe as sp

    x = sp.load_images(images) if isinstance(images, (str, Path)) else images
    block = x[_block(len(x), index, shards)]
    if len(block) == 0:
        return None
    features = sp.extract_features(block, extractor, weights=weights)
    stats = sp.FeatureStats(features.shape[1])
    stats.update(features)
    stats.save(path)
    return path


def feature_stats(images, extractor: str = "identity", *, shards: int, weights=None,
                  state_dir=None) -> "_core.FeatureStats":
    """The ``FeatureStats`` (mean, covariance; pytorch-fid ``.npz`` with ``save``) of ``images``'
    features, embedded by ``shards`` Ray tasks, a block of the images each, and merged exactly.

    ``images``: an array (N, C, H, W) or (N, H, W), shipped to the tasks, or a folder, IDX file,
    ``.npy`` or data set name that each task loads itself (nothing large crosses to the workers).
    ``extractor`` and ``weights`` as in :func:`scoreprobe.extract_features`.
    """
    ray = _ray()
    if not isinstance(shards, int) or shards < 1:
        raise ValueError(f"shards: need a whole number ≥ 1, got {shards!r}")
    if not isinstance(images, (str, Path)):
        images = np.asarray(images)
        if images.ndim not in (3, 4) or len(images) == 0:
            raise ValueError(f"images: expected a non-empty (N, C, H, W) or (N, H, W) array, got shape {images.shape}")
    if not ray.is_initialized():
        ray.init()
    folder = Path(state_dir) if state_dir is not None else Path(tempfile.mkdtemp(prefix="scoreprobe-features-"))
    folder.mkdir(parents=True, exist_ok=True)
    task = ray.remote(max_retries=1, retry_exceptions=True)(_feature_stats_shard)
    shipped = ray.put(images) if isinstance(images, np.ndarray) else str(images)
    refs = [task.remote(shipped, extractor, weights, i, shards, str(folder / f"features-{i}-of-{shards}.npz"))
            for i in range(shards)]
    merged = None
    for i, ref in enumerate(refs):
        try:
            path = ray.get(ref)
        except Exception as e:  # Ray wraps the task's exception
            raise RuntimeError(f"scoreprobe.ray.feature_stats: shard {i}/{shards} failed after one retry: {e}") from e
        if path is None:
            continue
        part = _core.FeatureStats.load(path)
        if merged is None:
            merged = part
        else:
            merged.merge(part)
    return merged
