"""``sp.Monitor``: a paired, cheap quality signal every N training steps (docs/monitor.md).

The monitor measures the projection form of SIEM (SPEC section 7) on the high-noise window: n
score evaluations per window time on forward-noised draws of the reference data, no sampling. It
draws its data rows, times and noise once, from ``seed`` (the projection form keys every draw by
(seed, time index)), so every evaluation sees the same draws and successive values are paired:
the difference from the previous evaluation has the standard error of the difference of the
per-draw influence terms (``scoreprobe_siem::monitor``), far below the unpaired one.

Each evaluation appends one JSON line per metric to ``log_dir/monitor.jsonl`` (the schema of
``scoreprobe train --monitor``), a scalar event to a TensorBoard file in ``log_dir`` and, when a
Weights & Biases run is active, a ``wandb.log`` call. The per-draw influence terms of the last
evaluation are kept in ``log_dir/monitor-state.json`` (replaced atomically), so a monitor rebuilt
with the same arguments after a kill continues the paired differences and the best step.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core
from ._core import Problem, Schedule, ScoreFunction
from ._kid import PairedKid
from ._tbevents import EventWriter

__all__ = ["Monitor", "METRICS"]

#: The metrics a monitor can evaluate. The SIEMs need only score evaluations on forward-noised
#: data; ``siem-projection`` uses the default test family for the data's dimension
#: (``_core.default_test_fn``: radial up to dimension 64, the quadratic family above). ``kid``
#: needs samples: the built-in reverse-SDE sampler's or those of the ``sampler`` callable.
METRICS = ("siem-projection", "siem-radial", "siem-quadratic", "kid")

JSONL = "monitor.jsonl"
STATE = "monitor-state.json"
# Keys of a record that must agree with earlier lines of the same metric for the values to be
# comparable (the same draws and test functions).
SETTINGS = ("window", "n", "seed", "test_fn")

Model = Union[ScoreFunction, Problem, Callable[..., Any]]


def _family(metric: str, dim: int) -> str:
    if metric == "kid":
        return "cubic-kernel"
    if metric == "siem-projection":
        return _core.default_test_fn(dim)
    return "gaussian" if metric == "siem-radial" else "quadratic"


def _finite_or_none(v: Optional[float]) -> Optional[float]:
    return v if v is not None and math.isfinite(v) else None


class Monitor:
    """Evaluates a training model every ``every`` steps on fixed draws of ``reference``.

    ``reference``: an (N, D) array of training data (the model's input space); at most
    ``reference_rows`` rows are kept, chosen once with ``seed``. ``schedule``: the schedule the
    model is trained with. ``metrics``: names from :data:`METRICS` (default the projection-form
    SIEM with the default test family for D). ``n``: draws per window time; ``window``: sampler
    steps, e.g. ``"900..999"`` (the high-noise 10 %). ``seed``: the draws (data rows, noise);
    ``test_seed``: the test functions (part of the metric, SPEC section 7). A plain callable model
    is wrapped as ``ScoreFunction(model, D, parameterization, batch_size, schedule=schedule)``; a
    ``ScoreFunction`` without a schedule is measured with ``schedule``, one (or a ``Problem``) that
    carries another schedule is refused.

    ``log_dir`` is created; one that cannot be written is an ``OSError`` here, not at the first
    evaluation. The settings are checked by one evaluation of a zero score on 4 draws.

    ``kid`` (KID's unbiased MMD^2, cubic kernel, on the data's own coordinates) compares samples
    with ``kid_reference_rows`` reference rows: ``sampler(model)`` returns them, or, without a
    sampler, ``sample_n`` samples of the built-in reverse-SDE sampler with ``sample_steps`` steps
    and the monitor's seed (the same prior draws and noise at every evaluation: paired). It costs
    ``sample_n * sample_steps`` score evaluations.

    ``max_budget`` (default 0.02): the largest share of the wall time the evaluations may take.
    Each record's ``budget`` is its evaluation's share of the time since the previous evaluation
    ended; when one exceeds ``max_budget``, the monitor evaluates from then on only at multiples
    of a larger spacing, ``every`` times the smallest integer that brings the measured cost under
    ``max_budget`` (a ``RuntimeWarning`` says so once per widening; :attr:`spacing` is the spacing
    in force). The steps stay on the ``every`` grid, and a value at a given step does not depend on
    the spacing. ``None`` (or 1) evaluates every ``every`` steps whatever it costs: pass it when
    nothing trains between calls (evaluating saved checkpoints), where the share is meaningless.
    ``scoreprobe train --monitor-max-budget`` is the same option.
    """

    def __init__(
        self,
        reference: Any,
        schedule: Schedule,
        every: int = 1000,
        metrics: Sequence[str] = ("siem-projection",),
        n: int = 256,
        window: str = "900..999",
        seed: int = 0,
        log_dir: Union[str, "os.PathLike[str]"] = "scoreprobe-monitor",
        *,
        test_seed: int = 0,
        parameterization: str = "eps",
        batch_size: int = 4096,
        reference_rows: int = 10000,
        sampler: Optional[Callable[[Any], Any]] = None,
        sample_n: int = 500,
        sample_steps: int = 100,
        kid_reference_rows: int = 2000,
        tensorboard: bool = True,
        wandb: bool = True,
        max_budget: Optional[float] = 0.02,
    ) -> None:
        self.metrics: List[str] = _checked_options(every, metrics, n, sampler, sample_n, sample_steps, max_budget)
        self.max_budget = None if max_budget is None or max_budget >= 1 else float(max_budget)
        self._stride = 1
        self.every, self.n, self.window, self.seed, self.test_seed = every, int(n), window, int(seed), int(test_seed)
        self.schedule = schedule
        self.parameterization, self.batch_size = parameterization, batch_size
        self.sampler, self.sample_n, self.sample_steps = sampler, int(sample_n), int(sample_steps)
        self.reference = self._reference(reference, reference_rows)
        self.dim = self.reference.shape[1]
        self.families = {m: _family(m, self.dim) for m in self.metrics}
        self._kid = PairedKid(self.reference, kid_reference_rows, self.seed) if "kid" in self.metrics else None
        self.log_dir = os.fspath(log_dir)
        self._open_logs(tensorboard)
        self._use_wandb = wandb
        self._dry_run()
        self.records: List[Dict[str, Any]] = []
        self.last_records: Dict[str, Dict[str, Any]] = {}
        self._prev: Dict[str, Dict[str, Any]] = {}
        self._best: Dict[str, Any] = {}
        self._last_step: Optional[int] = None
        self._last_end: Optional[float] = None
        self._resume()

    # -- construction ------------------------------------------------------------------------
    def _reference(self, reference: Any, rows: int) -> np.ndarray:
        x = np.asarray(reference, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"reference: expected an (N, D) array of data, got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("reference: contains a non-finite value")
        if rows < 1:
            raise ValueError(f"reference_rows: must be at least 1, got {rows}")
        if x.shape[0] > rows:
            # once, from the monitor's own generator: never the caller's global RNG
            idx = np.sort(np.random.default_rng(self.seed).choice(x.shape[0], rows, replace=False))
            x = x[idx]
        return np.ascontiguousarray(x)

    def _open_logs(self, tensorboard: bool) -> None:
        try:
            os.makedirs(self.log_dir, exist_ok=True)
            self._jsonl_path = os.path.join(self.log_dir, JSONL)
            _drop_partial_line(self._jsonl_path)
            with open(self._jsonl_path, "ab"):
                pass
            probe = os.path.join(self.log_dir, STATE + ".tmp")
            with open(probe, "w") as f:
                f.write("{}")
            os.remove(probe)
            self._tb = EventWriter(self.log_dir) if tensorboard else None
        except OSError as e:
            raise OSError(f"log_dir {self.log_dir!r}: cannot write the monitor's logs there: {e}") from e

    def _dry_run(self) -> None:
        """One evaluation of a zero score on 4 draws: bad settings fail now, not at step 10 000."""
        zero = ScoreFunction(
            lambda x, t: np.zeros_like(x), self.dim, "score", name="monitor settings check", schedule=self.schedule
        )
        for m in self.metrics:
            if m == "kid":
                continue  # needs samples; its options are checked above
            try:
                self._siem(zero, m, n=4)
            except ValueError as e:
                raise ValueError(f"Monitor({m}): {e}") from None

    def _resume(self) -> None:
        """Reads back earlier records of this log_dir: the last step, the best step, and (from the
        state file, when it matches the last line) the influence terms to pair the next value with."""
        lines = _read_records(self._jsonl_path)
        mine = {m: self._settings(m) for m in self.metrics}
        for r in lines:
            m = r.get("metric")
            if m in mine and any(r.get(k) != mine[m][k] for k in SETTINGS):
                got = {k: r.get(k) for k in SETTINGS}
                raise ValueError(
                    f"log_dir {self.log_dir!r}: {JSONL} holds {m} records measured with {got}, this monitor "
                    f"uses {mine[m]}: their values are not comparable; use another log_dir"
                )
        state = _read_state(os.path.join(self.log_dir, STATE))
        for r in lines:
            m = r.get("metric")
            if m not in mine:
                continue
            self._last_step = max(self._last_step or r["step"], r["step"])
            best = self._best.get(m)
            if best is None or r["value"] < best[1]:
                self._best[m] = (r["step"], r["value"])
            s = state.get(m)
            if s is not None and s.get("step") == r["step"]:
                self._prev[m] = {"step": r["step"], "value": r["value"], "influence": s["influence"]}
            else:
                # the state file lags the last line (killed between the two writes): no pairing
                self._prev.pop(m, None)

    def _settings(self, metric: str) -> Dict[str, Any]:
        if metric == "kid":
            window = "sampler" if self.sampler is not None else f"em sampler, {self.sample_steps} steps"
            return {"window": window, "n": self.sample_n, "seed": self.seed, "test_fn": self.families[metric]}
        return {"window": self.window, "n": self.n, "seed": self.seed, "test_fn": self.families[metric]}

    # -- evaluation --------------------------------------------------------------------------
    @property
    def best_step(self) -> Optional[int]:
        """The step with the lowest value of the first metric so far (None before any)."""
        best = self._best.get(self.metrics[0])
        return None if best is None else best[0]

    @property
    def spacing(self) -> int:
        """Steps between evaluations now: ``every``, times the factor ``max_budget`` imposed."""
        return self.every * self._stride

    def due(self, step: int) -> bool:
        """Whether ``step`` is evaluated: a multiple of :attr:`spacing` after the last recorded step."""
        return step % self.spacing == 0 and (self._last_step is None or step > self._last_step)

    def step(self, step: int, model: Model) -> Optional[Dict[str, Any]]:
        """Evaluates ``model`` when ``step`` is due (see :meth:`due`) and returns the first metric's
        record (all of them: :attr:`last_records`), else None. An exception raised by the model
        propagates unchanged; the caller's random state and gradient mode are left as they were."""
        if not self.due(step):
            return None
        fn = self._score_function(model)
        previous_end = self._last_end
        with _caller_state_kept():
            out = [self._evaluate(step, fn, model, m) for m in self.metrics]
        self._last_step = step
        if previous_end is not None and self._last_end is not None:
            seconds = sum(r["seconds"] for r in out)
            self._keep_budget(step, seconds, seconds / max(self._last_end - previous_end, 1e-12))
        return out[0]

    def _keep_budget(self, step: int, seconds: float, budget: float) -> None:
        """Widens the spacing when the evaluations at ``step`` (all metrics) took more than
        ``max_budget`` of the time since the previous ones ended."""
        if self.max_budget is None:
            return
        stride = widened_stride(self._stride, budget, self.max_budget)
        if stride > self._stride:
            self._stride = stride
            warnings.warn(
                f"Monitor: the evaluation at step {step} took {seconds:.3g} s, {100 * budget:.1f} % of the "
                f"time since the previous one (max_budget {100 * self.max_budget:g} %): evaluating every "
                f"{self.spacing} steps from now on (max_budget=None keeps every {self.every})",
                RuntimeWarning,
                stacklevel=3,
            )

    def _score_function(self, model: Model) -> Union[ScoreFunction, Problem]:
        """The model as a run takes it, carrying the monitor's schedule (a model that carries
        another one is refused: its numbers would not be the monitor's)."""
        if isinstance(model, ScoreFunction) and model.schedule is None:
            return ScoreFunction(
                model.fn, model.dim, model.parameterization, model.batch_size, model.name, schedule=self.schedule
            )
        if isinstance(model, (ScoreFunction, Problem)):
            if not model.schedule == self.schedule:
                raise ValueError(f"schedule: the model carries {model.schedule!r}, the monitor {self.schedule!r}")
            return model
        if not callable(model):
            raise TypeError(f"model: expected a ScoreFunction, a Problem or a callable fn(x, t), got {type(model)}")
        return ScoreFunction(
            model, self.dim, self.parameterization, self.batch_size, name="monitored model", schedule=self.schedule
        )

    def _siem(self, fn: Union[ScoreFunction, Problem], metric: str, n: int) -> Dict[str, Any]:
        return _core.siem(
            fn, self.reference, window=self.window, n=n, seed=self.seed, form="projection",
            test_fn=self.families[metric], test_seed=self.test_seed, influence=True, progress=False,
        )  # fmt: skip

    def _measure(self, fn: Union[ScoreFunction, Problem], model: Model, metric: str) -> Tuple[float, np.ndarray]:
        """The metric's value and per-draw influence terms."""
        if metric != "kid":
            rep = self._siem(fn, metric, self.n)
            return float(rep["siem"]), np.asarray(rep["influence"], dtype=np.float64)
        assert self._kid is not None, "built with the metric"
        if self.sampler is not None:
            x = np.asarray(self.sampler(model), dtype=np.float64)
        else:
            x = _core.sample(fn, n=self.sample_n, steps=self.sample_steps, seed=self.seed, progress=False)
        if x.ndim != 2 or x.shape[1] != self.dim or x.shape[0] < 4 or not np.isfinite(x).all():
            raise ValueError(f"kid: the samples must be a finite (m >= 4, {self.dim}) array, got shape {x.shape}")
        return self._kid(x)

    def _evaluate(self, step: int, fn: Union[ScoreFunction, Problem], model: Model, metric: str) -> Dict[str, Any]:
        start = time.perf_counter()
        value, psi = self._measure(fn, model, metric)
        seconds = time.perf_counter() - start
        se = float(np.sqrt(np.sum(psi**2) / (len(psi) * (len(psi) - 1))))
        rec: Dict[str, Any] = {"step": int(step), "metric": metric, "value": value, "se": se}
        rec.update(self._difference(metric, value, psi))
        best = self._best.get(metric)
        if best is None or value < best[1]:
            best = self._best[metric] = (int(step), value)
        now = time.perf_counter()
        budget = None if self._last_end is None else seconds / max(now - self._last_end, 1e-12)
        rec.update(best_step=best[0], best_value=best[1], seconds=seconds, budget=budget)
        rec.update(self._settings(metric), wall_time=time.time())
        self._prev[metric] = {"step": int(step), "value": value, "influence": psi}
        self._write(rec)
        if metric == self.metrics[-1]:
            self._last_end = time.perf_counter()
        self.records.append(rec)
        self.last_records[metric] = rec
        return rec

    def _difference(self, metric: str, value: float, psi: np.ndarray) -> Dict[str, Optional[float]]:
        prev = self._prev.get(metric)
        if prev is None or len(prev["influence"]) != len(psi):
            return {"diff": None, "diff_se": None, "diff_z": None}
        d = psi - prev["influence"]
        se = float(np.sqrt(np.sum(d**2) / (len(d) * (len(d) - 1))))
        diff = value - prev["value"]
        return {"diff": diff, "diff_se": se, "diff_z": diff / se if se > 0 else None}

    # -- logging -----------------------------------------------------------------------------
    def _write(self, rec: Dict[str, Any]) -> None:
        """The state file first (atomically), then the line: a kill between the two leaves a
        state newer than the last line, which resuming detects (no pairing across the gap)."""
        state = {m: {"step": p["step"], "influence": p["influence"].tolist()} for m, p in self._prev.items()}
        _write_atomic(os.path.join(self.log_dir, STATE), json.dumps(state))
        line = (json.dumps({k: _finite_or_none(v) if isinstance(v, float) else v for k, v in rec.items()}) + "\n")
        # one write of the whole line, then flushed to the disk
        fd = os.open(self._jsonl_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        tag = f"scoreprobe/{rec['metric']}"
        scalars = [(tag, rec["value"]), (f"{tag}/se", rec["se"]), (f"{tag}/diff_z", rec["diff_z"])]
        if rec["budget"] is not None:
            scalars.append(("scoreprobe/budget", rec["budget"]))
        if self._tb is not None:
            self._tb.scalars(rec["step"], scalars)
        self._log_wandb(rec["step"], scalars)

    def _log_wandb(self, step: int, scalars: List[Any]) -> None:
        # only a wandb the caller imported can hold an active run: never import it here (slow)
        wandb = sys.modules.get("wandb") if self._use_wandb else None
        if wandb is not None and getattr(wandb, "run", None) is not None:
            wandb.log({t: v for t, v in scalars if v is not None}, step=step)

    def close(self) -> None:
        """Closes the TensorBoard file (records are on disk after every evaluation anyway)."""
        if self._tb is not None:
            self._tb.close()

    def __enter__(self) -> "Monitor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def widened_stride(stride: int, budget: float, max_budget: float) -> int:
    """The spacing factor that brings a measured ``budget`` (evaluation / (training + evaluation)
    at factor ``stride``) under ``max_budget``, never below ``stride``: the evaluation's cost is
    fixed, the training time scales with the factor. The same rule as ``scoreprobe train``'s
    (``scoreprobe_siem::monitor::widened_stride``); ``max_budget`` >= 1 never widens."""
    if not budget > max_budget or max_budget >= 1:
        return stride
    b = min(budget, 1 - 1e-9)  # an evaluation is never more than the whole interval
    eval_per_train = b / (1 - b)
    need = stride * eval_per_train * (1 - max_budget) / max_budget
    return max(stride, math.ceil(need - 1e-9))


def _checked_options(
    every: int,
    metrics: Sequence[str],
    n: int,
    sampler: Any,
    sample_n: int,
    sample_steps: int,
    max_budget: Optional[float],
) -> List[str]:
    """The metrics as a list, once the options that need no data are checked."""
    if not isinstance(every, int) or every < 1:
        raise ValueError(f"every: must be an integer >= 1, got {every!r}")
    share = isinstance(max_budget, (int, float)) and not isinstance(max_budget, bool)
    if max_budget is not None and not (share and 0 < max_budget <= 1):
        raise ValueError(f"max_budget: a share of the wall time in (0, 1], or None (no limit), got {max_budget!r}")
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ValueError(f"metrics: unknown {unknown or 'empty list'}; choose from {', '.join(METRICS)}")
    if n < 4:
        raise ValueError(f"n: the projection form needs at least 4 draws per time, got {n}")
    if "kid" in metrics and (sample_n < 4 or sample_steps < 1):
        raise ValueError(f"kid: needs sample_n >= 4 and sample_steps >= 1, got {sample_n} and {sample_steps}")
    if sampler is not None and not callable(sampler):
        raise TypeError(f"sampler: expected a callable sampler(model) -> (m, D) array, got {type(sampler)}")
    return metrics


@contextlib.contextmanager
def _caller_state_kept() -> Iterator[None]:
    """numpy's global random state, torch's (CPU and CUDA) and torch's grad mode as they were.

    The monitor itself draws nothing from them; the model it calls may (dropout, noise), and a
    monitor must not shift the training run's random stream. torch is only touched when the
    caller has imported it."""
    np_state = np.random.get_state()
    torch = sys.modules.get("torch")
    with contextlib.ExitStack() as stack:
        if torch is not None:
            cpu = torch.random.get_rng_state()
            cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
            stack.enter_context(torch.no_grad())
        try:
            yield
        finally:
            np.random.set_state(np_state)
            if torch is not None:
                torch.random.set_rng_state(cpu)
                if cuda is not None:
                    torch.cuda.set_rng_state_all(cuda)


def _read_records(path: str) -> List[Dict[str, Any]]:
    """The records of a monitor.jsonl; a line that is not one is an error naming it."""
    out = []
    with open(path, "rb") as f:
        for i, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
                if not line.strip():
                    continue
                r = json.loads(line)
                if not isinstance(r, dict) or type(r.get("step")) is not int or not isinstance(r.get("value"), float):
                    raise ValueError("expected an object with an integer step and a number value")
                if not isinstance(r.get("metric", ""), str):
                    raise ValueError("its metric is not a name")
            except ValueError as e:  # UnicodeDecodeError and json's errors included
                raise ValueError(f"{path}: line {i} is not a monitor record ({e})") from None
            out.append(r)
    return out


def _write_atomic(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read_state(path: str) -> Dict[str, Dict[str, Any]]:
    """The pairing state: metric -> {"step": int, "influence": 1-D finite float array}; anything
    else is an error naming the file (it is only ever written whole by :meth:`Monitor._write`)."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
        if not isinstance(raw, dict):
            raise ValueError("expected an object keyed by metric")
        state = {}
        for m, s in raw.items():
            if not isinstance(s, dict) or type(s.get("step")) is not int or not isinstance(s.get("influence"), list):
                raise ValueError(f"{m}: expected an integer step and a list of influence terms")
            psi = np.asarray(s["influence"])
            if psi.ndim != 1 or psi.dtype.kind not in "if" or not np.isfinite(psi).all():
                raise ValueError(f"{m}: the influence terms are not a list of finite numbers")
            state[m] = {"step": s["step"], "influence": psi.astype(np.float64)}
        return state
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: unreadable monitor state ({e}); delete it to restart the pairing") from None


def _drop_partial_line(path: str) -> None:
    """Cuts a last line without its newline (a write cut short by a power loss), so the next
    record starts on a line of its own."""
    try:
        with open(path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
    except FileNotFoundError:
        pass
