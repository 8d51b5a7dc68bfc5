"""Numerical and runtime faults in the middle of a run (issue 27, item 4): a model that starts
returning NaN or +-inf part-way through sampling stops the run with an error naming the sampler
step, the time and the model; a callable that raises on its 1000th call stops every entry point
with that very exception, at once (no further call), and leaves no partial output behind."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

import scoreprobe as sp

SCHEDULE = sp.Schedule.vp()
DATA = np.random.default_rng(0).normal(size=(400, 2))
FAIL_AT = 1000


class Boom(Exception):
    """The callable's own exception type: it must come out unchanged."""


class CountingScore:
    """-x (the exact score of N(0, I) under the VP-SDE) until call ``fail_at``, where it raises
    ``Boom`` (``fault="raise"``) or returns ``fault`` values (NaN or +-inf) from then on."""

    def __init__(self, fail_at: int, fault="raise"):
        self.fail_at, self.fault, self.calls = fail_at, fault, 0

    def __call__(self, x, t):
        self.calls += 1
        if self.calls >= self.fail_at:
            if self.fault == "raise":
                raise Boom(f"call {self.calls}")
            return np.full(x.shape, self.fault, dtype=x.dtype)
        return -x


def entry_points():
    """Each Python entry point that calls the model, with work for well over 1000 calls of a
    batch of 4 rows (name, call)."""
    return [
        ("sample", lambda m: sp.sample(m, n=40, steps=200, progress=False)),
        ("siem-projection", lambda m: sp.siem(m, DATA, window="0..199", n=40, steps=200,
                                              form="projection", progress=False)),
        ("siem-particle", lambda m: sp.siem(m, DATA, window="0..199", n=40, steps=200,
                                            form="particle", error_field="critic", progress=False)),
        ("hodge", lambda m: sp.hodge(m, DATA, estimator="critic", n=400, critic_steps=50,
                                     progress=False)),
        ("bounds", lambda m: sp.bounds(m, DATA, estimator="critic", n=400, critic_steps=50,
                                       progress=False)),
    ]  # fmt: skip


@pytest.mark.parametrize("name, run", entry_points(), ids=[e[0] for e in entry_points()])
def test_a_callable_raising_on_its_1000th_call_stops_the_run_with_that_exception(name, run):
    fn = CountingScore(FAIL_AT)
    model = sp.ScoreFunction(fn, dim=2, parameterization="score", batch_size=4, name="flaky", schedule=SCHEDULE)
    with pytest.raises(Boom, match=f"call {FAIL_AT}$"):
        run(model)
    # stopped at once: the failing call was the last one
    assert fn.calls == FAIL_AT, f"{name}: {fn.calls} calls"


@pytest.mark.parametrize("fault", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_a_non_finite_score_mid_sampling_names_the_step_the_time_and_the_model(fault):
    steps, batch, n = 100, 10, 30  # 3 calls per step: call 151 is the first batch of step 49
    fn = CountingScore(151, fault)
    model = sp.ScoreFunction(
        fn, dim=2, parameterization="score", batch_size=batch, name="drifting-net", schedule=SCHEDULE
    )
    with pytest.raises(ValueError) as info:
        sp.sample(model, n=n, steps=steps, progress=False)
    msg = str(info.value)
    assert "drifting-net" in msg and "non-finite" in msg, msg
    # steps run from noise: the 51st step executed is step index 100 - 51 = 49, from its grid time
    step = re.search(r"step (\d+) at t = ([0-9.eE+-]+)", msg)
    assert step is not None, msg
    t_min = 1e-3
    want_t = t_min + (1.0 - t_min) * 50 / steps
    assert int(step.group(1)) == 49 and abs(float(step.group(2)) - want_t) < 1e-9, msg
    assert fn.calls == 151


def test_a_monitor_step_that_raises_leaves_its_logs_as_they_were(tmp_path):
    ref = np.random.default_rng(1).normal(size=(200, 2))
    mon = sp.Monitor(ref, SCHEDULE, every=1, n=32, window="90..99", log_dir=tmp_path, tensorboard=False, wandb=False,
                     max_budget=None)
    good = sp.ScoreFunction(lambda x, t: -x, dim=2, parameterization="score")
    mon.step(1, good)
    files = {p: (tmp_path / p).read_bytes() for p in os.listdir(tmp_path)}
    bad = CountingScore(3)
    with pytest.raises(Boom):
        mon.step(2, sp.ScoreFunction(bad, dim=2, parameterization="score", batch_size=8))
    mon.close()
    after = {p: (tmp_path / p).read_bytes() for p in os.listdir(tmp_path)}
    assert after == files, "the failed evaluation wrote to the monitor's logs"
    # and the run resumes from the last good record: step 2 is still due
    again = sp.Monitor(ref, SCHEDULE, every=1, n=32, window="90..99", log_dir=tmp_path, tensorboard=False,
                       wandb=False)  # fmt: skip
    assert again.due(2) and not again.due(1)
    assert [json.loads(line)["step"] for line in (tmp_path / "monitor.jsonl").read_text().splitlines()] == [1]
    again.close()
