"""A good Python citizen: the callable's own exceptions, clear errors for bad returns, batches of
at most batch_size rows, Ctrl-C within one batch, a progress bar on stderr."""

from __future__ import annotations

import signal
import threading
import time
import traceback

import numpy as np
import pytest

import scoreprobe as sp

SCHEDULE = sp.Schedule.vp()
DATA = np.random.default_rng(0).normal(size=(500, 2))


def zero_score(x, t):
    return -x


def test_an_exception_in_the_callable_comes_out_of_siem_as_itself():
    def broken(x, t):
        return 1 / 0

    model = sp.ScoreFunction(broken, dim=2, parameterization="score", schedule=SCHEDULE)
    with pytest.raises(ZeroDivisionError) as info:
        sp.siem(model, DATA, window="90..99", n=50, steps=100, progress=False)
    frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert "broken" in frames  # the callable's own frame is in the traceback

    class Custom(Exception):
        pass

    def custom(x, t):
        raise Custom("model fell over at t=%.3f" % t[0])

    with pytest.raises(Custom, match="model fell over"):
        sp.sample(sp.ScoreFunction(custom, 2, "score", schedule=SCHEDULE), n=10, steps=10, progress=False)


@pytest.mark.parametrize(
    "ret, match",
    [
        (lambda x: np.zeros((x.shape[0], 3)), r"shape \(\d+, 3\), expected \(\d+, 2\)"),
        (lambda x: np.full(x.shape, np.nan), r"non-finite"),
        (lambda x: np.zeros(x.shape, dtype=np.int64), r"dtype.*int64.*float32 or float64"),
        (lambda x: x.tolist(), r"list.*expected a numpy array"),
        (lambda x: np.zeros(x.shape[0]), r"shape \(\d+,\)"),
    ],
)
def test_a_wrong_return_is_a_value_error_naming_it(ret, match):
    model = sp.ScoreFunction(lambda x, t: ret(x), dim=2, parameterization="score", name="badfn", schedule=SCHEDULE)
    with pytest.raises(ValueError, match=match) as info:
        sp.siem(model, DATA, window="90..99", n=50, steps=100, progress=False)
    assert "badfn" in str(info.value)
    with pytest.raises(ValueError, match=match):
        sp.sample(model, n=20, steps=10, progress=False)


def test_the_callable_sees_batches_of_at_most_batch_size_rows_with_the_gil_held():
    sizes = []

    def fn(x, t):
        sizes.append(x.shape[0])
        return -x

    sp.sample(sp.ScoreFunction(fn, 2, "score", batch_size=64, schedule=SCHEDULE), n=150, steps=5, progress=False)
    assert sizes == [64, 64, 22] * 5


def test_ctrl_c_stops_a_long_run_within_one_batch():
    calls = []
    interrupted_at = []

    def slow(x, t):
        calls.append(time.perf_counter())
        time.sleep(0.02)
        return -x

    def interrupt():
        time.sleep(0.5)
        interrupted_at.append(time.perf_counter())
        signal.raise_signal(signal.SIGINT)

    model = sp.ScoreFunction(slow, 2, "score", batch_size=10, schedule=SCHEDULE)
    # A process started in the background by a non-interactive shell (CI runners, `nohup ... &`)
    # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler: install it.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    th = threading.Thread(target=interrupt)
    th.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            sp.sample(model, n=100, steps=10_000, progress=False)  # would take ~2000 s
    finally:
        th.join()
        signal.signal(signal.SIGINT, previous)
    assert time.perf_counter() - t0 < 5
    after = [c for c in calls if c > interrupted_at[0] + 0.06]  # allow the poll interval and one batch
    assert len(after) <= 1, len(after)


def test_progress_bar_on_stderr_and_progress_false_hides_it(capfd):
    model = sp.ScoreFunction(lambda x, t: (time.sleep(0.002), -x)[1], 2, "score", schedule=SCHEDULE)
    sp.sample(model, n=10, steps=200)
    err = capfd.readouterr().err
    assert "sample" in err
    sp.sample(model, n=10, steps=200, progress=False)
    assert capfd.readouterr().err == ""


def test_other_threads_run_while_a_long_siem_runs():
    ticks = []
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.001)

    th = threading.Thread(target=count)
    th.start()
    sp.siem(sp.Problem.from_json({"target": {"kind": "named", "name": "ring8"}}), window="0..199", n=2000, steps=200,
            progress=False)
    stop.set()
    th.join()
    assert len(ticks) > 20


def test_a_model_must_be_a_score_function_or_a_problem():
    with pytest.raises(TypeError, match="ScoreFunction"):
        sp.sample(zero_score, n=10)
    with pytest.raises(ValueError, match="schedule"):
        sp.sample(sp.ScoreFunction(zero_score, 2, "score"), n=10)
    with pytest.raises(ValueError, match="data"):
        sp.siem(sp.ScoreFunction(zero_score, 2, "score", schedule=SCHEDULE), None)
    with pytest.raises(ValueError, match="parameterization"):
        sp.ScoreFunction(zero_score, 2, "velocity")
