"""Every result dict is typed in the stubs by a TypedDict (``_core.pyi``) whose keys are exactly
the keys the compiled function returns: each case below runs a small computation and compares the
keys it got, at every level the stubs type (nested TypedDicts, lists of them), with the declared
ones; a ``NotRequired`` key may be absent, but some case must show it. A key added to or dropped
from a Rust report without its TypedDict fails here.
"""

import ast
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

import scoreprobe as sp

REPO = Path(__file__).resolve().parents[2]
STUBS = REPO / "python" / "scoreprobe" / "_core.pyi"
RING8 = REPO / "examples" / "specs" / "ring8-exact.json"

# a TypedDict's fields: key -> (required, the TypedDict its value is, or a list of; None: a leaf)
Fields = Dict[str, Tuple[bool, Optional[str]]]


def _nested(annotation: ast.expr, typed: set) -> Optional[str]:
    """The TypedDict an annotation names, directly or as List[...] / Optional[...] / NotRequired[...]."""
    if isinstance(annotation, ast.Name):
        return annotation.id if annotation.id in typed else None
    if isinstance(annotation, ast.Subscript) and isinstance(annotation.value, ast.Name):
        if annotation.value.id in ("List", "Optional", "NotRequired"):
            return _nested(annotation.slice, typed)
    return None


def typed_dicts(text: str) -> Dict[str, Fields]:
    """The TypedDicts of the stubs, read with ast (the stubs are never executed)."""
    classes = [
        n
        for n in ast.parse(text).body
        if isinstance(n, ast.ClassDef) and any(isinstance(b, ast.Name) and b.id == "TypedDict" for b in n.bases)
    ]
    names = {c.name for c in classes}
    out: Dict[str, Fields] = {}
    for c in classes:
        fields: Fields = {}
        for item in c.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                ann = item.annotation
                required = not (isinstance(ann, ast.Subscript) and getattr(ann.value, "id", "") == "NotRequired")
                fields[item.target.id] = (required, _nested(ann, names))
        out[c.name] = fields
    return out


def mismatches(value: Any, name: str, typed: Dict[str, Fields], seen: Dict[str, set], path: str) -> List[str]:
    """How ``value`` differs from the TypedDict ``name`` (recursively); records the keys seen."""
    if isinstance(value, list):
        return [m for i, v in enumerate(value) for m in mismatches(v, name, typed, seen, f"{path}[{i}]")]
    if not isinstance(value, dict):
        return [f"{path}: a {type(value).__name__}, the stubs say {name}"]
    fields = typed[name]
    seen.setdefault(name, set()).update(value)
    out = [f"{path}: key {k!r} is not in {name}" for k in value if k not in fields]
    out += [f"{path}: {name} key {k!r} is missing" for k, (req, _) in fields.items() if req and k not in value]
    for k, (_, inner) in fields.items():
        if inner is not None and value.get(k) is not None:
            out += mismatches(value[k], inner, typed, seen, f"{path}.{k}")
    return out


def cases() -> List[Tuple[str, str, Callable[[], Any]]]:
    problem = lambda: sp.Problem.from_json(RING8)  # noqa: E731
    gaussian_spec = {"target": {"kind": "gaussian", "mean": [0.5, -1.0], "cov": [[1.0, 0.3], [0.3, 0.5]]}}
    gaussian = lambda: sp.Problem.from_json(gaussian_spec)  # noqa: E731
    model = lambda: sp.ScoreFunction(lambda x, t: -x, 2, "score", schedule=sp.Schedule.vp())  # noqa: E731
    data = np.random.default_rng(0).normal(size=(300, 2))
    small = dict(window=(90, 99), steps=100, n=40, progress=False)
    return [
        ("siem projection", "SiemProjectionResult", lambda: sp.siem(model(), data, **small)),
        ("siem projection, influence", "SiemProjectionResult",
         lambda: sp.siem(model(), data, influence=True, **small)),
        ("siem quadratic", "SiemProjectionResult", lambda: sp.siem(model(), data, test_fn="quadratic", **small)),
        ("siem particle", "SiemParticleResult", lambda: sp.siem(problem(), **small)),
        # a critic per band of 5 steps (two bands: `bands`, `dropped_bands`) and the classifier's floor
        ("siem critic", "SiemParticleResult",
         lambda: sp.siem(problem(), error_field="critic", critic_band_steps=5, **small)),
        ("siem classifier", "SiemParticleResult",
         lambda: sp.siem(problem(), error_field="classifier", classifier_steps=20, **small)),
        ("hodge", "HodgeResult", lambda: sp.hodge(problem(), estimator="grid", times=[0.5], n=400, progress=False)),
        ("bounds", "BoundsResult",
         lambda: sp.bounds(gaussian(), estimator="closed-form", panels=4, n=200, prior_n=1000, progress=False)),
        ("prdc", "PrdcResult", lambda: sp.prdc(data[:150], data[150:], k=3)),
    ]  # fmt: skip


def test_each_result_has_exactly_the_keys_of_its_typed_dict():
    typed = typed_dicts(STUBS.read_text())
    seen: Dict[str, set] = {}
    problems = []
    for what, name, run in cases():
        problems += mismatches(run(), name, typed, seen, what)
    assert not problems, "\n".join(problems)
    # every declared key, optional ones included, was returned by some case
    unseen = [f"{n}.{k}" for n in seen for k in typed[n] if k not in seen[n]]
    assert not unseen, f"keys no case returned (give them a case, or drop them): {unseen}"
    untested = {n for n in typed if n.endswith("Result")} - seen.keys()
    assert not untested, f"result types without a case: {untested}"


def test_the_check_sees_a_missing_an_extra_and_a_nested_key():
    typed = typed_dicts(STUBS.read_text())
    r = {"precision": 1.0, "recall": 1.0, "density": 1.0}
    assert mismatches(r, "PrdcResult", typed, {}, "r") == ["r: PrdcResult key 'coverage' is missing"]
    r = {**r, "coverage": 1.0, "f1": 1.0}
    assert mismatches(r, "PrdcResult", typed, {}, "r") == ["r: key 'f1' is not in PrdcResult"]
    h = sp.hodge(sp.Problem.from_json(RING8), estimator="grid", times=[0.5], n=400, progress=False)
    h["eps_units"]["extra"] = 0.0
    assert mismatches(h, "HodgeResult", typed, {}, "h") == ["h.eps_units: key 'extra' is not in HodgeEpsUnits"]
    assert typed["SiemProjectionResult"]["quadratic"] == (False, "SiemQuadratic")
    assert typed["SiemProjectionResult"]["profile"] == (True, "SiemProjectionStep")
