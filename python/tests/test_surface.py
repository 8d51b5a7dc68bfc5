"""The Python surface (issue 23, item 5): the package re-exports the compiled functions under
``__all__`` and nothing else as its own; everything after ``(model, data)`` is keyword-only (in the
signatures and in the stubs); a ``ScoreFunction`` carries its schedule; ``extract_features`` takes
``weights=``; the progress bar's total comes from Rust; and the previous release's spellings still
work, each with a ``DeprecationWarning``, giving the same numbers as the new ones.
"""

import ast
import inspect
import types
from pathlib import Path

import numpy as np
import pytest

import scoreprobe as sp
from scoreprobe import _core

REPO = Path(__file__).resolve().parents[2]
STUBS = REPO / "python" / "scoreprobe" / "_core.pyi"
RING8 = REPO / "examples" / "specs" / "ring8-exact.json"
RUNS = {"sample": ("model",), "siem": ("model", "data"), "hodge": ("model", "data"), "bounds": ("model", "data")}
VP = sp.Schedule.vp()
DATA = np.random.default_rng(0).normal(size=(400, 2))


def minus_x(x, t):
    return -x


# --- the namespace -----------------------------------------------------------------------------


def test_the_package_s_own_names_are_exactly_all_plus_its_submodules():
    public = {n for n in dir(sp) if not n.startswith("_")}
    submodules = {n for n in public if isinstance(getattr(sp, n), types.ModuleType)}
    assert all(getattr(sp, n).__name__.startswith("scoreprobe.") for n in submodules), submodules
    assert public - submodules == set(sp.__all__)
    for leaked in ("Any", "Dict", "Optional", "Union", "List", "annotations", "inspect", "warnings"):
        assert not hasattr(sp, leaked), leaked
    namespace: dict = {}
    exec("from scoreprobe import *", namespace)
    assert {n for n in namespace if n != "__builtins__"} == set(sp.__all__)


def test_the_functions_are_the_compiled_ones():
    for name in ("extract_features", "frechet_distance", "kid", "load_images", "prdc", "wasserstein2"):
        assert getattr(sp, name) is getattr(_core, name), name
    for cls in ("FeatureStats", "Problem", "Schedule", "ScoreFunction"):
        assert getattr(sp, cls) is getattr(_core, cls), cls
    for run in RUNS:  # wrapped only for their Python signature and the old spellings
        assert getattr(sp, run).__wrapped__ is getattr(_core, run), run


# --- keyword-only, in the signatures and in the stubs --------------------------------------------


@pytest.mark.parametrize("run", RUNS)
def test_everything_after_model_and_data_is_keyword_only(run):
    for where, params in (
        (f"sp.{run}", inspect.signature(getattr(sp, run)).parameters.values()),
        (f"_core.{run} (compiled)", inspect.signature(getattr(_core, run)).parameters.values()),
    ):
        positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
        assert tuple(positional) == RUNS[run], where
        assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in params if p.name not in RUNS[run]), where
    fn = next(n for n in ast.parse(STUBS.read_text()).body if isinstance(n, ast.FunctionDef) and n.name == run)
    assert tuple(a.arg for a in fn.args.posonlyargs + fn.args.args) == RUNS[run], "_core.pyi"
    assert fn.args.vararg is None and len(fn.args.kwonlyargs) > 3


def test_one_positional_argument_too_many_is_a_type_error_and_a_doubled_one_too():
    problem = sp.Problem.from_json(RING8)
    with pytest.raises(TypeError, match="positional"):
        sp.siem(problem, None, VP, "90..99", None, 10, 100, 0, "extra")
    with pytest.raises(TypeError, match="multiple values for argument 'window'"):
        sp.siem(problem, None, VP, "90..99", window="90..99")


@pytest.mark.parametrize("run", RUNS)
def test_the_python_signature_is_the_compiled_one_with_the_options_spelled_out(run):
    compiled = inspect.signature(getattr(_core, run)).parameters.values()
    own = [(p.name, p.kind) for p in compiled if p.kind is not p.VAR_KEYWORD]
    options = {o["name"] for o in _core._options_schema()[run]}
    python = inspect.signature(getattr(sp, run)).parameters.values()
    assert [(p.name, p.kind) for p in python if p.name not in options] == own
    assert {p.name for p in python} >= options


def test_help_lists_every_option_of_the_struct():
    doc = sp.siem.__doc__
    for o in _core._options_schema()["siem"]:
        assert f"``{o['name']}``" in doc, o["name"]
    assert doc.startswith(_core.siem.__doc__.strip()[:40])


# --- old spellings: same numbers, one DeprecationWarning ----------------------------------------


def test_positional_options_warn_and_give_the_keyword_result():
    model = sp.ScoreFunction(minus_x, 2, "score", schedule=VP)
    new = sp.siem(model, DATA, window=(90, 99), n=50, steps=100, seed=2, progress=False)
    with pytest.warns(DeprecationWarning, match=r"siem\(\): passing schedule, window, error_field, n, steps, seed by"):
        old = sp.siem(model, DATA, None, "90..99", None, 50, 100, 2, progress=False)
    assert (old["siem"], old["siem_se"], old["window"]) == (new["siem"], new["siem_se"], new["window"])
    with pytest.warns(DeprecationWarning, match=r"sample\(\): passing n by position"):
        old_sample = sp.sample(model, 20, steps=10, progress=False)
    assert np.array_equal(old_sample, sp.sample(model, n=20, steps=10, progress=False))


def test_a_score_function_carries_its_schedule_and_the_run_s_schedule_warns():
    schedule = sp.Schedule.vp(beta_min=0.2, beta_max=10.0)

    def eps(x, t):  # the eps-prediction of N(0, I): eps = sigma_t x (conversion needs the schedule)
        return np.asarray(schedule.sigma(t))[:, None] * x

    carried = sp.ScoreFunction(eps, 2, "eps", schedule=schedule)
    assert carried.schedule == schedule and "schedule=Schedule.vp(beta_min=0.2" in repr(carried)
    new = sp.sample(carried, n=50, steps=20, progress=False)
    bare = sp.ScoreFunction(eps, 2, "eps")
    assert bare.schedule is None
    with pytest.warns(DeprecationWarning, match=r"sample\(schedule=\.\.\.\) is deprecated"):
        old = sp.sample(bare, n=50, schedule=schedule, steps=20, progress=False)
    assert np.array_equal(new, old)
    with pytest.warns(DeprecationWarning, match="by position"):  # the old positional order too, one warning
        assert np.array_equal(new, sp.sample(bare, 50, schedule, steps=20, progress=False))
    # the carried schedule is the one used: another one gives other samples
    other = sp.sample(sp.ScoreFunction(eps, 2, "eps", schedule=VP), n=50, steps=20, progress=False)
    assert not np.allclose(new, other)
    with pytest.raises(ValueError, match=r"^schedule: the ScoreFunction carries its own schedule"):
        with pytest.warns(DeprecationWarning):
            sp.sample(carried, n=5, schedule=VP, progress=False)
    with pytest.raises(ValueError, match=r"^schedule: .*ScoreFunction\(fn, dim, parameterization, schedule="):
        sp.sample(bare, n=5, progress=False)
    with pytest.raises(TypeError, match="schedule"):
        sp.ScoreFunction(eps, 2, "eps", schedule="vp")


def test_extract_features_takes_weights_and_the_old_spelling_warns(tmp_path):
    images = np.zeros((2, 3, 8, 8), dtype=np.float32)
    absent = tmp_path / "absent.onnx"
    with pytest.raises((ValueError, OSError)) as new:
        sp.extract_features(images, "inception", weights=absent)
    with pytest.warns(DeprecationWarning, match=r"extractor='inception', weights=PATH"):
        with pytest.raises((ValueError, OSError)) as old:
            sp.extract_features(images, f"inception:{absent}")
    assert str(absent) in str(new.value) and str(new.value) == str(old.value)
    with pytest.raises(ValueError, match=r"^weights: extractor='inception' needs"):
        sp.extract_features(images, "inception")
    with pytest.raises(ValueError, match=r"^weights: the 'identity' feature space has no network"):
        sp.extract_features(images, "identity", weights=absent)
    with pytest.raises(ValueError, match=r"^weights: given twice"):
        sp.extract_features(images, f"inception:{absent}", weights=absent)
    assert sp.extract_features(images, "identity").shape == (2, 3 * 8 * 8)


def test_extract_features_weights_match_the_old_spelling_on_a_real_network(shared_data):
    weights = shared_data / "models" / "mnist-cnn.onnx"
    if not weights.is_file():
        pytest.skip(f"{weights} is missing")
    images = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    new = sp.extract_features(images, "mnist-cnn", weights=weights)
    with pytest.warns(DeprecationWarning):
        old = sp.extract_features(images, f"mnist-cnn:{weights}")
    assert new.shape == (4, 256) and np.array_equal(new, old)


# --- the progress bar's total is Rust's --------------------------------------------------------


class Bars:
    """Stands in for scoreprobe._progress.make: records each bar's total, its last count, its close."""

    def __init__(self):
        self.made = []

    def make(self, progress, desc, total=None):
        bar = {"desc": desc, "total": total, "calls": 0, "closed": 0}
        self.made.append(bar)

        class Bar:
            def __call__(self, calls, rows):
                bar["calls"] = calls

            def close(self):
                bar["closed"] += 1

        return Bar()


@pytest.fixture
def bars(monkeypatch):
    from scoreprobe import _progress

    b = Bars()
    monkeypatch.setattr(_progress, "make", b.make)
    return b


def test_the_progress_total_is_the_run_s_score_calls_computed_in_rust(bars):
    vp = sp.ScoreFunction(minus_x, 2, "score", schedule=VP)
    ddpm = sp.ScoreFunction(minus_x, 2, "score", schedule=sp.Schedule.ddpm(steps=30))
    problem = sp.Problem.from_json(RING8)
    sp.sample(vp, n=5, steps=20)
    sp.sample(vp, n=5, steps=20, sampler="ode-heun")  # t_min = 1e-3: two calls on every step
    sp.sample(ddpm, n=5, sampler="ode-heun")  # t_min = 0: the last step makes one call
    sp.siem(vp, DATA, window=range(90, 100), steps=100, n=20)  # projection: one call per window time
    sp.siem(problem, window=(40, 49), steps=50, n=20)  # particle with the oracle: steps down to the window
    sp.hodge(problem, estimator="grid", times=[0.5], n=200)  # no total known in advance
    got = [(b["desc"], b["total"], b["calls"], b["closed"]) for b in bars.made]
    assert got == [
        ("sample", 20, 20, 1),
        ("sample", 40, 40, 1),
        ("sample", 59, 59, 1),
        ("siem", 10, 10, 1),
        ("siem", 10, 10, 1),
        ("hodge", None, got[-1][2], 1),
    ]


def test_the_bar_is_closed_when_the_run_fails_and_progress_takes_a_callable_or_false(bars):
    def broken(x, t):
        raise ZeroDivisionError("boom")

    with pytest.raises(ZeroDivisionError):
        sp.sample(sp.ScoreFunction(broken, 2, "score", schedule=VP), n=5, steps=10)
    assert [(b["total"], b["closed"]) for b in bars.made] == [(10, 1)]
    seen = []
    model = sp.ScoreFunction(minus_x, 2, "score", schedule=VP)
    sp.sample(model, n=5, steps=10, progress=lambda c, r: seen.append((c, r)))
    sp.sample(sp.ScoreFunction(minus_x, 2, "score", schedule=VP), n=5, steps=10, progress=False)
    assert len(bars.made) == 1 and seen[-1] == (10, 50)
    with pytest.raises(TypeError, match="progress"):
        sp.sample(sp.ScoreFunction(minus_x, 2, "score", schedule=VP), n=5, progress="yes")


def test_the_monitor_gives_a_bare_score_function_its_schedule_and_refuses_another(tmp_path):
    mon = sp.Monitor(
        DATA, VP, every=1, n=16, window="90..99", log_dir=tmp_path, tensorboard=False, wandb=False, max_budget=None
    )
    bare = mon.step(1, sp.ScoreFunction(minus_x, 2, "score"))
    carried = mon.step(2, sp.ScoreFunction(minus_x, 2, "score", schedule=VP))
    assert bare["value"] == carried["value"]
    with pytest.raises(ValueError, match=r"^schedule: the model carries Schedule.vp\(beta_min=0.1, beta_max=5"):
        mon.step(3, sp.ScoreFunction(minus_x, 2, "score", schedule=sp.Schedule.vp(beta_max=5.0)))
