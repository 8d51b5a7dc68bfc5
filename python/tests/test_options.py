"""Each run's options are declared once, in its Rust options struct (the CLI flattens the same struct;
its ``--help`` is checked against it in crates/scoreprobe-cli/src/main.rs). Here: the Python
signatures and the stubs name the same options with the same defaults, Python's spellings of a
window all mean the same window, and a bad option is named the Python way.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

import scoreprobe as sp
from scoreprobe import _core

REPO = Path(__file__).resolve().parents[2]
STUBS = REPO / "python" / "scoreprobe" / "_core.pyi"
RUNS = ("sample", "siem", "hodge", "bounds")
# Python's own arguments, not options of a run
OWN = {"model", "data", "schedule", "progress", "influence"}
REQUIRED = object()


def schema(run: str) -> dict:
    return {o["name"]: o["default"] for o in _core._options_schema()[run]}


def signature_options(run: str) -> dict:
    params = inspect.signature(getattr(sp, run)).parameters.values()
    return {p.name: (REQUIRED if p.default is p.empty else p.default) for p in params if p.name not in OWN}


def stub_options(run: str, text: str) -> dict:
    fn = next(n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef) and n.name == run)
    args = fn.args
    positional = args.posonlyargs + args.args
    pos_defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    pairs = list(zip(positional, pos_defaults)) + list(zip(args.kwonlyargs, args.kw_defaults))
    return {
        a.arg: (REQUIRED if d is None else ast.literal_eval(d)) for a, d in pairs if a.arg not in OWN
    }


def mismatches(want: dict, got: dict, where: str) -> list:
    out = [f"{where}: missing option {k!r} (default {v!r})" for k, v in want.items() if k not in got]
    out += [f"{where}: option {k!r} is not in the options struct" for k in got if k not in want]
    out += [
        f"{where}: {k!r} defaults to {got[k]!r}, the options struct to {v!r}"
        for k, v in want.items()
        if k in got and (got[k] is REQUIRED or got[k] != v or (type(got[k]) is bool) != (type(v) is bool))
    ]
    return out


@pytest.mark.parametrize("run", RUNS)
def test_signature_and_stubs_name_the_struct_s_options_with_its_defaults(run):
    want = schema(run)
    assert want, f"{run}: the options struct declares no option"
    problems = mismatches(want, signature_options(run), f"scoreprobe.{run} signature")
    problems += mismatches(want, stub_options(run, STUBS.read_text()), f"_core.pyi {run}")
    assert not problems, "\n".join(problems)


def test_the_check_fails_when_an_option_is_added_or_changed_in_one_place_only():
    text = STUBS.read_text()
    want = schema("siem")
    assert not mismatches(want, stub_options("siem", text), "stubs")
    extra = text.replace("    classifier_steps: int = 1500,\n", "    classifier_steps: int = 1500,\n    extra: int = 1,\n", 1)
    assert any("'extra'" in m for m in mismatches(want, stub_options("siem", extra), "stubs"))
    drifted = text.replace('bandwidth_rule: Literal["median-pooled", "median-first-step"] = "median-pooled"',
                           'bandwidth_rule: str = "median-first-step"')
    assert any("'bandwidth_rule'" in m for m in mismatches(want, stub_options("siem", drifted), "stubs"))
    assert any("'new_option'" in m for m in mismatches({**want, "new_option": 3}, signature_options("siem"), "sig"))


def test_the_drifted_hodge_default_is_the_cli_s():
    # Python's hodge defaulted to the critic, the CLI (and bounds) to auto: the CLI's is the truth
    assert inspect.signature(sp.hodge).parameters["estimator"].default == "auto"
    assert schema("hodge")["estimator"] == schema("bounds")["estimator"] == "auto"


RING8 = REPO / "examples" / "specs" / "ring8-exact.json"


def test_a_window_is_a_pair_a_range_or_its_text():
    problem = sp.Problem.from_json(RING8)
    run = lambda w: sp.siem(problem, window=w, form="projection", n=100, steps=100, seed=2, progress=False)  # noqa: E731
    text = run("90..99")
    for w in [(90, 99), [90, 99], range(90, 100), np.array([90, 99])]:
        r = run(w)
        assert (r["window"], r["siem"], r["siem_se"]) == (text["window"], text["siem"], text["siem_se"]), w
    with pytest.raises(ValueError, match="window"):
        run(range(90, 100, 2))
    with pytest.raises(ValueError, match="window.*60..50"):
        run((60, 50))


def test_bad_options_are_named_the_python_way():
    problem = sp.Problem.from_json(RING8)
    with pytest.raises(ValueError, match="^bandwidth_rule: .*median-middle"):
        sp.siem(problem, bandwidth_rule="median-middle", progress=False)
    with pytest.raises(ValueError, match="^n: "):
        sp.siem(problem, n=-1, progress=False)
    with pytest.raises(ValueError, match="error_field: .*projection form"):
        sp.siem(problem, form="projection", error_field="oracle", n=10, progress=False)
    with pytest.raises(TypeError, match="bandwith"):
        sp.siem(problem, bandwith=1.0, progress=False)
    with pytest.raises(TypeError, match="bandwith"):
        _core.siem(problem, bandwith=1.0)
    with pytest.raises(ValueError, match="^identity: "):
        sp.hodge(problem, identity="green", progress=False)
