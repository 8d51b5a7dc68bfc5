"""The bad-input matrix of the Python module: every entry point against every class of bad input.

Each case must raise an ordinary Python exception (never pyo3's ``PanicException``, never a
crash) whose message names the input. The matrix is written as markdown to
``$SCOREPROBE_PY_BAD_INPUT_REPORT`` when set (docs/reliability.md shows it).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

import scoreprobe as sp

REPO = Path(__file__).resolve().parents[2]
RING8 = REPO / "examples" / "specs" / "ring8-exact.json"


def fixtures(tmp: Path) -> dict:
    pts = np.linspace(-1, 1, 80).reshape(40, 2)
    nan, inf = pts.copy(), pts.copy()
    nan[3, 1], inf[5, 0] = np.nan, np.inf
    stats = sp.FeatureStats(2)
    stats.update(pts)
    stats.save(tmp / "good.npz")
    good = (tmp / "good.npz").read_bytes()
    (tmp / "empty.npz").write_bytes(b"")
    (tmp / "truncated.npz").write_bytes(good[: len(good) // 2])
    with open(tmp / "magic.npz", "wb") as fh:
        np.save(fh, pts)  # an .npy under an .npz name: wrong magic
    (tmp / "malformed.json").write_text('{"target": {"kind": "named", "name": "ring8"')
    (tmp / "empty-dir").mkdir()
    (tmp / "bad-images").mkdir()
    (tmp / "bad-images" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return {"pts": pts, "nan": nan, "inf": inf, "wide": np.ones((40, 3)), "tmp": tmp}


def cases(f: dict):
    """(entry point, bad input, callable, text the message must contain)."""
    tmp, pts = f["tmp"], f["pts"]
    ring8 = sp.Problem.from_json(RING8)
    vp = sp.Schedule.vp()
    ok_fn = sp.ScoreFunction(lambda x, t: np.zeros_like(x), dim=2, name="zeros", schedule=vp)
    wrong_shape = sp.ScoreFunction(lambda x, t: np.zeros((len(x), 3)), dim=2, name="wrong-shape", schedule=vp)
    return [
        ("FeatureStats.load", "missing file", lambda: sp.FeatureStats.load(tmp / "absent.npz"), "absent.npz"),
        ("FeatureStats.load", "empty file", lambda: sp.FeatureStats.load(tmp / "empty.npz"), "empty.npz"),
        ("FeatureStats.load", "truncated file", lambda: sp.FeatureStats.load(tmp / "truncated.npz"), "truncated.npz"),
        ("FeatureStats.load", "wrong magic", lambda: sp.FeatureStats.load(tmp / "magic.npz"), "magic.npz"),
        ("FeatureStats.update", "dimension mismatch", lambda: sp.FeatureStats(2).update(f["wide"]), "3"),
        ("FeatureStats.update", "NaN value", lambda: sp.FeatureStats(2).update(f["nan"]), "NaN"),
        ("FeatureStats", "non-positive n", lambda: sp.FeatureStats(0), "dim"),
        ("frechet_distance", "missing file", lambda: sp.frechet_distance(tmp / "absent.npz", pts), "absent.npz"),
        ("frechet_distance", "NaN value", lambda: sp.frechet_distance(pts, f["nan"]), "NaN"),
        ("frechet_distance", "dimension mismatch", lambda: sp.frechet_distance(pts, f["wide"]), "3"),
        ("kid", "Inf value", lambda: sp.kid(pts, f["inf"], subset_size=10), "inf"),
        ("kid", "non-positive n", lambda: sp.kid(pts, pts, subset_size=0), "subset"),
        ("wasserstein2", "unknown option value", lambda: sp.wasserstein2(pts, pts, method="l1"), "l1"),
        ("wasserstein2", "dimension mismatch", lambda: sp.wasserstein2(pts, f["wide"]), "3"),
        ("wasserstein2", "no rows", lambda: sp.wasserstein2(pts[:0], pts), "empty"),
        ("wasserstein2", "wrong shape (1-d)", lambda: sp.wasserstein2(pts[:, 0], pts), "2-D"),
        ("prdc", "non-positive n", lambda: sp.prdc(pts, pts, k=0), "k"),
        ("load_images", "missing file", lambda: sp.load_images(tmp / "absent-dir"), "absent-dir"),
        ("load_images", "empty folder", lambda: sp.load_images(tmp / "empty-dir"), "empty-dir"),
        ("load_images", "truncated image", lambda: sp.load_images(tmp / "bad-images"), "a.png"),
        ("extract_features", "unknown option value", lambda: sp.extract_features(np.zeros((2, 1, 28, 28)), "resnet"), "resnet"),
        ("Problem.from_json", "missing file", lambda: sp.Problem.from_json(tmp / "absent.json"), "absent.json"),
        ("Problem.from_json", "malformed JSON", lambda: sp.Problem.from_json(tmp / "malformed.json"), "malformed.json"),
        ("Problem.from_json", "unknown field value", lambda: sp.Problem.from_json({"target": {"kind": "named", "name": "ring9"}}), "ring9"),
        ("ScoreFunction", "non-positive n", lambda: sp.ScoreFunction(lambda x, t: x, dim=0), "dim"),
        ("ScoreFunction", "unknown option value", lambda: sp.ScoreFunction(lambda x, t: x, dim=2, parameterization="velocity"), "velocity"),
        ("sample", "non-positive n", lambda: sp.sample(ring8, n=0), "n"),
        ("sample", "unknown option value", lambda: sp.sample(ring8, n=10, sampler="rk9"), "rk9"),
        ("sample", "wrong shape from the model", lambda: sp.sample(wrong_shape, n=10, steps=5), "wrong-shape"),
        ("siem", "empty window", lambda: sp.siem(ring8, steps=100, window="60..50", n=10), "60..50"),
        ("siem", "non-positive n", lambda: sp.siem(ring8, n=0), "n"),
        ("siem", "NaN value", lambda: sp.siem(ok_fn, data=f["nan"], n=10, steps=10), "NaN"),
        ("hodge", "unknown option value", lambda: sp.hodge(ring8, estimator="magic"), "magic"),
        ("hodge", "dimension mismatch", lambda: sp.hodge(ok_fn, data=f["wide"], n=100), "3"),
        ("bounds", "non-positive n", lambda: sp.bounds(ring8, panels=0), "panels"),
        ("bounds", "Inf value", lambda: sp.bounds(ok_fn, data=f["inf"], n=100), "inf"),
    ]


def test_every_entry_point_refuses_every_class_of_bad_input_without_a_panic(tmp_path):
    rows, failures = [], []
    for name, klass, call, needle in cases(fixtures(tmp_path)):
        try:
            call()
            verdict, message = "succeeded", ""
        except BaseException as e:  # noqa: BLE001 - a PanicException is a BaseException
            kind = type(e).__name__
            message = f"{kind}: {e}".splitlines()[0].replace(str(tmp_path), "$TMP")
            if kind == "PanicException" or not isinstance(e, Exception):
                verdict = "PANIC"
            elif needle.lower() not in str(e).lower():
                verdict = f"message does not name the input ({needle!r})"
            else:
                verdict = "ok"
        if verdict != "ok":
            failures.append(f"{name} [{klass}]: {verdict}: {message}")
        short = message.replace("|", "\\|")
        short = short if len(short) <= 140 else short[:137] + "..."
        rows.append(f"| `{name}` | {klass} | {short} | {verdict} |")
    table = "| entry point | bad input | exception (first line) | verdict |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"
    out = os.environ.get("SCOREPROBE_PY_BAD_INPUT_REPORT")
    if out:
        Path(out).write_text(table)
    assert not failures, "\n".join(failures)
