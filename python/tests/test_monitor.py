"""sp.Monitor on a numpy score model whose error is controlled: the exact score of Gaussian data
under the VP-SDE plus lam times a gradient error, lam set per training "step"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import scoreprobe as sp

SCHEDULE = sp.Schedule.vp()
MU = np.array([1.0, -0.5])
SD = np.array([0.7, 1.3])
DATA = np.random.default_rng(0).normal(size=(4000, 2)) * SD + MU
# small settings: 64 draws at each of the last 50 window times
# max_budget=None: nothing trains between these calls, so every evaluation would count as over budget
KW = dict(every=1, n=64, window="950..999", seed=3, max_budget=None)


def model_at(lam: float):
    """The exact score of p_t = N(alpha mu, alpha^2 SD^2 + sigma^2) times (1 + lam): a scale error of
    relative size lam, a gradient field (what the projection form sees), zero for lam = 0."""

    def fn(x, t):
        a = np.asarray(SCHEDULE.alpha(t))[:, None]
        s = np.asarray(SCHEDULE.sigma(t))[:, None]
        return -(x - a * MU) / (a**2 * SD**2 + s**2) * (1.0 + lam)

    return sp.ScoreFunction(fn, dim=2, parameterization="score", schedule=SCHEDULE)


def read_jsonl(log_dir):
    with open(os.path.join(log_dir, "monitor.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_the_value_sees_the_error_and_the_paired_se_is_below_the_unpaired(tmp_path):
    m = sp.Monitor(DATA, SCHEDULE, log_dir=tmp_path, **KW)
    exact = m.step(1, model_at(0.0))
    assert exact["diff"] is None and exact["budget"] is None
    assert abs(exact["value"]) < 4 * exact["se"], exact
    r1 = m.step(2, model_at(0.5))
    assert r1["value"] > 4 * r1["se"], r1
    r2 = m.step(3, model_at(0.45))
    assert r2["diff"] == pytest.approx(r2["value"] - r1["value"], rel=1e-12)
    unpaired = np.hypot(r1["se"], r2["se"])
    ratio = r2["diff_se"] / unpaired
    print(f"paired SE {r2['diff_se']:.3g}, unpaired {unpaired:.3g}, ratio {ratio:.3f}, z {r2['diff_z']:.2f}")
    assert ratio < 0.5
    # the error shrank by 10 %: the paired difference sees it
    assert r2["diff_z"] < -3
    assert r2["budget"] is not None and 0 < r2["budget"] <= 1
    assert m.best_step == 1


def test_records_round_trip_through_monitor_jsonl_and_name_the_best_step(tmp_path):
    m = sp.Monitor(DATA, SCHEDULE, log_dir=tmp_path, **{**KW, "every": 10})
    assert m.step(5, model_at(0.6)) is None  # not due
    recs = [m.step(s, model_at(lam)) for s, lam in [(10, 0.6), (20, 0.3), (30, 0.5)]]
    back = read_jsonl(tmp_path)
    assert back == recs
    assert [r["best_step"] for r in back] == [10, 20, 20]
    keys = {"step", "metric", "value", "se", "diff", "diff_se", "diff_z", "best_step", "best_value", "seconds",
            "budget", "window", "n", "seed", "test_fn", "wall_time"}  # fmt: skip
    assert all(set(r) == keys for r in back)
    assert back[0]["test_fn"] == "gaussian"  # d = 2: the radial default (sp._core.default_test_fn)


def test_tensorboard_reads_the_events_back(tmp_path):
    ea_mod = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    with sp.Monitor(DATA, SCHEDULE, log_dir=tmp_path, **KW) as m:
        recs = [m.step(s, model_at(lam)) for s, lam in [(1, 0.6), (2, 0.4), (3, 0.2)]]
    acc = ea_mod.EventAccumulator(str(tmp_path))
    acc.Reload()
    events = acc.Scalars("scoreprobe/siem-projection")
    assert [e.step for e in events] == [1, 2, 3]
    np.testing.assert_allclose([e.value for e in events], [r["value"] for r in recs], rtol=1e-6)
    z = acc.Scalars("scoreprobe/siem-projection/diff_z")
    assert [e.step for e in z] == [2, 3]  # no difference at the first evaluation


def test_a_monitor_rebuilt_after_a_kill_continues_with_the_same_draws(tmp_path):
    lams = {1: 0.6, 2: 0.5, 3: 0.55, 4: 0.3}
    whole = sp.Monitor(DATA, SCHEDULE, log_dir=tmp_path / "whole", **KW)
    want = [whole.step(s, model_at(lam)) for s, lam in lams.items()]
    # a training process that records steps 1 and 2, then dies by SIGKILL (no cleanup of any kind)
    killed = tmp_path / "killed"
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        import scoreprobe as sp
        from test_monitor import DATA, SCHEDULE, KW, model_at
        m = sp.Monitor(DATA, SCHEDULE, log_dir={str(killed)!r}, **KW)
        m.step(1, model_at(0.6)); m.step(2, model_at(0.5))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert out.returncode == -9, out.stderr
    again = sp.Monitor(DATA, SCHEDULE, log_dir=killed, **KW)
    assert again.step(2, model_at(0.5)) is None  # already recorded: not written twice
    assert again.best_step == 2
    got = read_jsonl(killed)[:2] + [again.step(s, model_at(lams[s])) for s in (3, 4)]
    assert [r["step"] for r in read_jsonl(killed)] == [1, 2, 3, 4]
    for w, g in zip(want, got):
        for k in ("value", "se", "diff", "diff_se", "diff_z", "best_step", "best_value"):
            assert g[k] == w[k], (k, w["step"], g[k], w[k])


def test_a_resumed_log_dir_with_other_settings_is_refused(tmp_path):
    sp.Monitor(DATA, SCHEDULE, log_dir=tmp_path, **KW).step(1, model_at(0.5))
    with pytest.raises(ValueError, match="not comparable"):
        sp.Monitor(DATA, SCHEDULE, log_dir=tmp_path, **{**KW, "n": 32})


def test_an_unwritable_log_dir_fails_at_construction(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError, match="log_dir"):
        sp.Monitor(DATA, SCHEDULE, log_dir=blocker / "logs", **KW)


def test_bad_settings_fail_at_construction(tmp_path):
    with pytest.raises(ValueError, match="window"):
        sp.Monitor(DATA, SCHEDULE, log_dir=tmp_path, **{**KW, "window": "900..2000"})
    with pytest.raises(ValueError, match="metrics"):
        sp.Monitor(DATA, SCHEDULE, log_dir=tmp_path, metrics=["fid"])
    with pytest.raises(ValueError, match="reference"):
        sp.Monitor(DATA[:, 0], SCHEDULE, log_dir=tmp_path)


def test_a_model_error_surfaces_at_step_and_the_callers_random_state_is_kept(tmp_path):
    class ModelFellOver(Exception):
        pass

    def broken(x, t):
        np.random.normal()  # a model may draw from the global RNG (dropout, noise)
        raise ModelFellOver("at step 2")

    def noisy(x, t):
        np.random.normal(size=3)
        return model_at(0.2).fn(x, t)

    m = sp.Monitor(DATA, SCHEDULE, log_dir=tmp_path, **KW)
    np.random.seed(123)
    before = np.random.get_state()
    m.step(1, noisy)  # a plain callable is wrapped as a ScoreFunction(fn, dim, "eps")
    with pytest.raises(ModelFellOver, match="at step 2"):
        m.step(2, sp.ScoreFunction(broken, 2, "score"))
    after = np.random.get_state()
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]
    assert m.step(3, model_at(0.2))["step"] == 3  # the monitor goes on after the model's failure
    assert [r["step"] for r in read_jsonl(tmp_path)] == [1, 3]


def test_several_metrics_write_a_line_each(tmp_path):
    m = sp.Monitor(DATA, SCHEDULE, log_dir=tmp_path, metrics=["siem-radial", "siem-quadratic"], **KW)
    first = m.step(1, model_at(0.5))
    assert first["metric"] == "siem-radial"
    assert m.last_records["siem-quadratic"]["test_fn"] == "quadratic"
    assert [(r["metric"], r["test_fn"]) for r in read_jsonl(tmp_path)] == [
        ("siem-radial", "gaussian"),
        ("siem-quadratic", "quadratic"),
    ]
    assert sp._core.default_test_fn(64) == "gaussian" and sp._core.default_test_fn(65) == "quadratic"


def test_an_active_wandb_run_gets_the_scalars(tmp_path, monkeypatch):
    """wandb itself is not a test dependency: a stand-in module with an active run records the calls."""
    import types

    calls = []
    fake = types.SimpleNamespace(run=None, log=lambda data, step=None: calls.append((step, data)))
    monkeypatch.setitem(sys.modules, "wandb", fake)
    m = sp.Monitor(DATA, SCHEDULE, log_dir=tmp_path, **KW)
    m.step(1, model_at(0.5))
    assert calls == []  # imported but no active run
    fake.run = object()
    rec = m.step(2, model_at(0.4))
    assert [s for s, _ in calls] == [2]
    assert calls[0][1]["scoreprobe/siem-projection"] == rec["value"]
    assert calls[0][1]["scoreprobe/siem-projection/diff_z"] == rec["diff_z"]


def test_a_damaged_record_file_is_named(tmp_path):
    (tmp_path / "monitor.jsonl").write_text('{"step": 1, "value": 0.5}\n{"step": "two"}\n')
    with pytest.raises(ValueError, match=r"monitor.jsonl: line 2"):
        sp.Monitor(DATA, SCHEDULE, log_dir=tmp_path, **KW)
    # a last line cut short (no newline) is dropped, the records before it kept
    (tmp_path / "monitor.jsonl").write_text('{"step": 1, "metric": "x", "value": 0.5}\n{"step": 2, "val')
    m = sp.Monitor(DATA, SCHEDULE, log_dir=tmp_path, **KW)
    m.step(3, model_at(0.5))
    assert [r["step"] for r in read_jsonl(tmp_path)] == [1, 3]


def test_kid_on_paired_samples(tmp_path):
    """KID of the built-in sampler's samples (the same prior draws and noise at every evaluation)
    against an independent numpy computation, and its paired SE below the unpaired one."""
    m = sp.Monitor(DATA, SCHEDULE, log_dir=tmp_path, metrics=["kid"], sample_n=200, sample_steps=50, **KW)
    r1 = m.step(1, model_at(1.0))
    r2 = m.step(2, model_at(0.9))
    assert r1["test_fn"] == "cubic-kernel" and r1["n"] == 200
    assert r1["value"] > 4 * r1["se"], r1  # a score twice too large is visible in the samples
    x = sp.sample(model_at(0.9), n=200, steps=50, seed=KW["seed"], progress=False)
    y = m._kid.y
    k = lambda a, b: (a @ b.T / 2 + 1) ** 3  # noqa: E731
    kxx, kyy = k(x, x), k(y, y)
    mmd = (kxx.sum() - np.trace(kxx)) / (200 * 199) - 2 * k(x, y).mean() + (kyy.sum() - np.trace(kyy)) / (
        len(y) * (len(y) - 1)
    )
    assert r2["value"] == pytest.approx(mmd, rel=1e-9)
    ratio = r2["diff_se"] / np.hypot(r1["se"], r2["se"])
    print(f"KID paired SE ratio {ratio:.3f}, z {r2['diff_z']:.2f}")
    assert ratio < 0.5 and r2["diff"] < 0
    # a sampler callable gets the model as it was passed to step
    seen = []
    own = lambda mod: seen.append(mod) or x  # noqa: E731
    m2 = sp.Monitor(DATA, SCHEDULE, log_dir=tmp_path / "own", metrics=["kid"], sampler=own, **KW)
    model = model_at(0.9)
    assert m2.step(1, model)["value"] == pytest.approx(mmd, rel=1e-9) and seen == [model]


def test_torch_state_is_saved_and_restored_when_the_caller_uses_torch(tmp_path, monkeypatch):
    """torch is not a test dependency: a stand-in module records what the monitor does with it."""
    import contextlib
    import types

    log = []

    @contextlib.contextmanager
    def no_grad():
        log.append("no_grad enter")
        yield
        log.append("no_grad exit")

    fake = types.SimpleNamespace(
        random=types.SimpleNamespace(get_rng_state=lambda: "state-0", set_rng_state=lambda s: log.append(("set", s))),
        cuda=types.SimpleNamespace(is_available=lambda: False),
        no_grad=no_grad,
    )
    monkeypatch.setitem(sys.modules, "torch", fake)
    m = sp.Monitor(DATA, SCHEDULE, log_dir=tmp_path, **KW)

    def model(x, t):
        log.append("model")
        return model_at(0.1).fn(x, t)

    m.step(1, sp.ScoreFunction(model, 2, "score"))
    assert log[0] == "no_grad enter" and set(log[-2:]) == {"no_grad exit", ("set", "state-0")}, log
    assert "model" in log


def _mutate_json(value, rng):
    """``value`` with one leaf (or the whole) replaced by a value of another type or range."""
    odd = [None, True, -1, 0, 2**70, 1e308, float("nan"), "x", [], [1, "a"], {}, [[0.5, 0.5]], {"step": 1}]
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = list(value)[rng.integers(len(value))]
        if rng.random() < 0.1:
            return {k: v for k, v in value.items() if k != key}
        return {**value, key: _mutate_json(value[key], rng)}
    if isinstance(value, list) and value and rng.random() < 0.7:
        i = int(rng.integers(len(value)))
        if rng.random() < 0.2:
            return value[:i] + value[i + 1 :]
        return value[:i] + [_mutate_json(value[i], rng)] + value[i + 1 :]
    return odd[rng.integers(len(odd))]


def _mutate(data: bytes, rng) -> bytes:
    """One damage of a monitor file: a JSON-level change of one line (what reaches the checks past
    the parser) or a byte-level one (flips, cuts, inserted bytes, duplicated ranges)."""
    lines = data.split(b"\n")
    kind = rng.integers(5)
    if kind == 0:
        i = int(rng.integers(len(lines) - 1)) if len(lines) > 1 else 0
        lines[i] = json.dumps(_mutate_json(json.loads(lines[i]), rng)).encode()
        return b"\n".join(lines)
    a, b = sorted(int(v) for v in rng.integers(0, len(data) + 1, size=2))
    if kind == 1:
        out = bytearray(data)
        for j in rng.integers(0, len(data), size=int(rng.integers(1, 4))):
            out[j] ^= 1 << int(rng.integers(8))
        return bytes(out)
    if kind == 2:
        return data[:a] + data[b:]
    if kind == 3:
        return data[:a] + rng.choice(list(b'{}[]",:0-e.9\\\n\xff\xc3 '), size=int(rng.integers(1, 8))).astype(np.uint8).tobytes() + data[a:]
    return data[:b] + data[a:b] + data[b:]


def test_damaged_monitor_files_resume_or_fail_naming_the_file(tmp_path):
    """A seeded mutation fuzz of the two files a resuming Monitor reads (the Rust readers of the
    same files are the `monitor` fuzz target; Python's are pure Python, which no coverage-guided
    engine in CI instruments, so this is a fixed-seed random search instead). Every damaged case
    either resumes and measures the next step with finite numbers, or raises a ValueError naming
    the damaged file: never another exception."""
    src = tmp_path / "src"
    m = sp.Monitor(DATA, SCHEDULE, log_dir=src, tensorboard=False, **KW)
    for s, lam in ((1, 0.6), (2, 0.5)):
        m.step(s, model_at(lam))
    files = {name: (src / name).read_bytes() for name in ("monitor.jsonl", "monitor-state.json")}
    rng = np.random.default_rng(27)
    outcomes = {"refused": 0, "resumed": 0, "paired": 0}
    for case in range(240):
        name = list(files)[case % 2]
        d = tmp_path / f"case{case}"
        d.mkdir()
        for other, data in files.items():
            (d / other).write_bytes(_mutate(data, rng) if other == name else data)
        try:
            again = sp.Monitor(DATA, SCHEDULE, log_dir=d, tensorboard=False, **KW)
        except ValueError as e:
            assert name in str(e), (case, str(e))
            outcomes["refused"] += 1
            continue
        rec = again.step(3, model_at(0.55))
        if rec is not None:
            assert np.isfinite([rec["value"], rec["se"]]).all(), (case, rec)
            if rec["diff"] is not None:
                assert np.isfinite([rec["diff"], rec["diff_se"]]).all(), (case, rec)
                outcomes["paired"] += 1
        outcomes["resumed"] += 1
    print(outcomes)
    assert min(outcomes.values()) > 0, outcomes


def test_the_widening_rule_brings_the_measured_cost_under_max_budget():
    from scoreprobe.monitor import widened_stride

    # within the budget: unchanged; eval = train (budget 0.5): 49 x the spacing for 2 %
    assert widened_stride(1, 0.02, 0.02) == 1 and widened_stride(4, 0.01, 0.02) == 4
    assert widened_stride(1, 0.5, 0.02) == 49
    # budget 0.04 at factor 3: eval/train = 1/24 per 3 spacings -> 3 * 49 / 24 = 6.125 -> 7
    assert widened_stride(3, 0.04, 0.02) == 7
    for stride, budget, cap in [(1, 0.3, 0.05), (5, 0.021, 0.02), (2, 0.9, 0.1)]:
        k = widened_stride(stride, budget, cap)
        per_train = budget / (1 - budget) * stride  # the evaluation in units of one spacing's training
        assert per_train / k / (1 + per_train / k) <= cap + 1e-12 < per_train / (k - 1) / (1 + per_train / (k - 1))
    assert widened_stride(1, 1.0, 0.02) > 10**6  # nothing but evaluation: far apart, finite


def test_an_evaluation_over_max_budget_widens_the_spacing_and_warns(tmp_path):
    """Nothing trains between these calls, so the second evaluation takes nearly all the time
    since the first: the monitor must widen its spacing (a multiple of every), say so, and measure
    at a kept step exactly what a monitor without the budget measures there."""
    opts = {**KW, "every": 10, "max_budget": 0.02}
    m = sp.Monitor(DATA, SCHEDULE, log_dir=tmp_path / "thin", **opts)
    assert m.spacing == 10
    m.step(10, model_at(0.5))
    with pytest.warns(RuntimeWarning, match=r"evaluating every \d+ steps from now on") as caught:
        m.step(20, model_at(0.4))
    assert m.spacing > 10 and m.spacing % 10 == 0, m.spacing
    assert str(m.spacing) in str(caught[0].message)
    assert not m.due(30) and m.due(m.spacing * 2)
    kept = m.spacing * 2
    with pytest.warns(RuntimeWarning):  # still nothing trained in between: wider again
        thin = m.step(kept, model_at(0.3))
    full = sp.Monitor(DATA, SCHEDULE, log_dir=tmp_path / "full", **{**opts, "max_budget": None})
    for s in (10, 20, 30):
        full.step(s, model_at(0.4))
    assert full.spacing == 10 and full.due(40)
    assert full.step(kept, model_at(0.3))["value"] == thin["value"]
    with pytest.raises(ValueError, match="max_budget"):
        sp.Monitor(DATA, SCHEDULE, log_dir=tmp_path / "bad", **{**opts, "max_budget": 1.5})
    with pytest.raises(ValueError, match="max_budget"):
        sp.Monitor(DATA, SCHEDULE, log_dir=tmp_path / "bad", **{**opts, "max_budget": True})
