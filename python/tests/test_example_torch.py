"""examples/python/torch_ring8.py, where PyTorch is installed (never a test dependency).

One --quick run (three checkpoints, seconds) and checks of what the example must teach: the monitor's
paired records and best step, both SIEM windows with their SEs beside W2 and FD with theirs, the
rank correlations with CIs and how they were computed, and the explanation quoting this run's numbers.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO

pytest.importorskip("torch")

NUM = r"[-+]?\d+(?:\.\d+)?(?:e[-+]\d+)?"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("monitor")
    out = subprocess.run(
        [sys.executable, str(REPO / "examples" / "python" / "torch_ring8.py"), "--quick", "--log-dir", str(log_dir)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout, log_dir


def section(text: str, start: str, end: str) -> str:
    assert start in text and end in text.split(start, 1)[1], f"missing section {start!r} .. {end!r}"
    return text.split(start, 1)[1].split(end, 1)[0]


def table_rows(stdout: str) -> dict:
    """step -> the numbers of its row in the checkpoint table."""
    body = section(stdout, "checkpoints in training order", "\n exact ").strip().splitlines()
    header, lines = body[1], body[2:]
    assert "SIEM 900..999" in header and "SIEM 0..999" in header and "W2" in header and "FD" in header
    rows = {}
    siem, ref = rf"({NUM}) ± ({NUM})", rf"\s+({NUM}) ± ({NUM})"
    pattern = rf"\s*(\d+) {siem} {siem}\s+({NUM}) %\s+({NUM}){ref}{ref}"
    for line in lines:
        m = re.fullmatch(pattern, line)
        assert m, f"not a table row: {line!r}"
        v = [float(x) for x in m.groups()]
        keys = ["win", "win_se", "full", "full_se", "share", "grad", "w2", "w2_se", "fd", "fd_se"]
        rows[int(v[0])] = dict(zip(keys, v[1:]))
    return rows


def test_the_monitor_runs_in_the_loop_and_prints_the_best_step(run):
    stdout, log_dir = run
    assert (log_dir / "monitor.jsonl").is_file()
    monitored = [int(s) for s in re.findall(r"monitor step\s+(\d+)\s+projection SIEM", stdout)]
    assert monitored == [100, 200, 300]
    # every record after the first has its paired change
    assert len(re.findall(rf"change {NUM} ± {NUM} \(paired\)", stdout)) == 2
    best = re.search(r"monitor: best step (\d+)", stdout)
    assert best and int(best.group(1)) in monitored


def test_the_table_has_both_windows_and_every_metric_with_its_se(run):
    rows = table_rows(run[0])
    assert sorted(rows) == [75, 150, 300]
    for r in rows.values():
        assert r["win"] > 0 and r["full"] > 0 and r["win_se"] > 0 and r["full_se"] > 0
        # the window is the full run's first 100 steps (one seed): a part of it
        assert r["win"] < r["full"] and r["share"] == pytest.approx(100 * r["win"] / r["full"], abs=0.06)
        assert r["grad"] > 0 and r["w2"] > 0 and r["fd"] > 0 and r["w2_se"] > 0 and r["fd_se"] > 0
    assert re.search(r"\n exact\s+" + NUM + " ± " + NUM, run[0]), "the references' floor row"
    # one test function for every checkpoint and both windows, and the output says which
    assert re.search(rf"one bandwidth h = {NUM} \(the exact model's median rule over 0..999\)", run[0])


def test_rank_correlations_are_printed_with_cis_and_their_method(run):
    stdout = run[0]
    block = section(stdout, "Spearman rank correlation across the 3 checkpoints", "CI: percentile bootstrap")
    for name in ("SIEM 900..999", "SIEM 0..999", "Hodge grad"):
        line = next(line for line in block.splitlines() if line.strip().startswith(name))
        cells = re.findall(rf"({NUM}) \[({NUM}), ({NUM})\]", line)
        assert len(cells) == 2, f"{name}: a rho [lo, hi] against W2 and against FD: {line!r}"
        for rho, lo, hi in cells:
            assert -1 <= float(lo) <= float(hi) <= 1 and -1 <= float(rho) <= 1
    assert "resamples the checkpoints with replacement" in stdout


def test_the_explanation_says_what_to_expect_and_quotes_this_run(run):
    stdout = run[0]
    for heading in ("What agreement to expect.", "Why the 10 % window may disagree", "Why a 2-D FD may disagree."):
        assert heading in stdout
    text = " ".join(stdout.split("What agreement to expect.", 1)[1].split())
    # whether W2 falls over the sweep is measured and said, not assumed
    verdict = r"(Quality improves over this sweep|WARNING: W2 does not clearly fall)"
    assert re.search(rf"{verdict}.*rho\(step, W2\) = {NUM}", text)
    # the numbers it quotes are the table's, not hard-coded
    rows = table_rows(stdout)
    floor_w2, floor_fd = re.search(rf"\n exact\s+({NUM}) ± {NUM}\s+({NUM}) ±", stdout).groups()
    assert f"W2 {floor_w2}, FD {floor_fd}" in text
    first, last = rows[75], rows[300]
    falls = re.search(rf"the window's SIEM falls ({NUM})x and the full trajectory's ({NUM})x", text)
    assert falls, "the window's and the full trajectory's improvement"
    assert float(falls.group(1)) == pytest.approx(first["win"] / last["win"], rel=0.01, abs=0.06)
    assert float(falls.group(2)) == pytest.approx(first["full"] / last["full"], rel=0.01, abs=0.06)
    assert f"step 75: {first['share']:.1f} %" in text


def test_spearman_and_its_bootstrap_ci(monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("torch_ring8", REPO / "examples" / "python" / "torch_ring8.py")
    ex = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "torch_ring8", ex)  # its dataclass looks its module up there
    spec.loader.exec_module(ex)
    assert ex.ranks(np.array([3.0, 1.0, 1.0, 2.0])).tolist() == [3.0, 0.5, 0.5, 2.0]
    # one swapped pair of 4: 1 - 6 * 2 / (4 * 15)
    assert ex.spearman(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 4.0])) == pytest.approx(0.8)
    rng = np.random.default_rng(0)
    exact = [{"step": s, "a": s, "a_se": 0.0, "b": -s, "b_se": 0.0} for s in range(6)]
    assert ex.spearman_ci(exact, "a", "b", 500, rng) == (-1.0, -1.0, -1.0)
    # values far inside their SEs: the interval must open up around 0
    noisy = [dict(r, a_se=100.0, b_se=100.0) for r in exact]
    rho, lo, hi = ex.spearman_ci(noisy, "a", "b", 500, rng)
    assert rho == -1.0 and lo < -0.5 and hi > 0.5
