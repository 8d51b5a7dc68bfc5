"""Sharded runs from Python (``shard=``, ``state_out=``) and ``scoreprobe.merge``: K = 1, 2, 4 and
7 shards merge into the unsharded run's dict (to 1e-12 relative, wall time aside), states the CLI
wrote merge with Python's, and bad shards or states are refused with the option or file named."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

import scoreprobe as sp
from conftest import REPO, rel_close

SPEC = REPO / "examples" / "specs" / "gaussian-affine.json"
OPTS = dict(form="projection", n=40, steps=100, window="80..99", centers=3, progress=False)


def assert_close(a, b, where="report"):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            if k != "seconds":
                assert_close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (u, v) in enumerate(zip(a, b)):
            assert_close(u, v, f"{where}[{i}]")
    elif isinstance(a, float) and not isinstance(b, bool):
        assert rel_close(a, b), f"{where}: {a} vs {b}"
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


def shards(problem, k, tmp: Path, tag="s", **extra):
    paths = []
    for i in range(k):
        path = tmp / f"{tag}-{i}-of-{k}.json"
        sp.siem(problem, shard=(i, k) if i % 2 else f"{i}/{k}", state_out=path, **{**OPTS, **extra})
        paths.append(path)
    return paths


def test_python_shards_merge_to_the_single_run(tmp_path):
    problem = sp.Problem.from_json(SPEC)
    whole = sp.siem(problem, **OPTS)
    assert abs(whole["siem"]) > 0
    for k in (1, 2, 4, 7):
        merged = sp.merge(shards(problem, k, tmp_path))
        assert_close(whole, merged)
        assert (merged["siem"], merged["siem_se"]) == (whole["siem"], whole["siem_se"])
    # the comparison fails on a shard's own partial report
    part = sp.siem(problem, shard="0/2", state_out=tmp_path / "part.json", **OPTS)
    with pytest.raises(AssertionError):
        assert_close(whole, part)


def test_states_written_by_the_cli_merge_with_python_s(tmp_path, cli_bin):
    problem = sp.Problem.from_json(SPEC)
    paths = shards(problem, 3, tmp_path)
    flags = ["--form", "projection", "--n", "40", "--steps", "100", "--window", "80..99", "--centers", "3"]
    cli_state = tmp_path / "cli-1.json"
    subprocess.run([str(cli_bin), "siem", "--spec", str(SPEC), *flags, "--shard", "1/3", "--state-out", str(cli_state)],
                   check=True, capture_output=True)
    assert_close(sp.merge(paths), sp.merge([paths[0], cli_state, paths[2]]))


def test_fd_states_merge_in_python(tmp_path, cli_bin):
    rng = np.random.default_rng(1)
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, rng.normal(size=(120, 3)))
    np.save(b, rng.normal(size=(90, 3)) * 1.5 + 0.3)
    whole = subprocess.run([str(cli_bin), "metrics", "--a", str(a), "--b", str(b), "--json"],
                           check=True, capture_output=True, text=True).stdout
    states = []
    for i in range(4):
        states.append(tmp_path / f"fd-{i}.json")
        subprocess.run([str(cli_bin), "metrics", "--a", str(a), "--b", str(b), "--shard", f"{i}/4",
                        "--state-out", str(states[-1])], check=True, capture_output=True)
    import json

    assert_close(json.loads(whole), sp.merge(states))
    assert rel_close(sp.merge(states)["fd"], sp.frechet_distance(np.load(a), np.load(b)))


def test_point_set_states_merge_in_python_to_the_cli_s_report(tmp_path, cli_bin):
    import json

    rng = np.random.default_rng(2)
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, rng.normal(size=(80, 3)))
    np.save(b, rng.normal(size=(70, 3)) * 1.2)
    flags = ["--a", str(a), "--b", str(b), "--metric", "kid,w2,prdc", "--kid-subsets", "5", "--kid-subset-size", "40"]
    whole = json.loads(subprocess.run([str(cli_bin), "metrics", *flags, "--json"],
                                      check=True, capture_output=True, text=True).stdout)
    states = [tmp_path / f"points-{i}.json" for i in range(3)]
    for i, path in enumerate(states):
        subprocess.run([str(cli_bin), "metrics", *flags, "--shard", f"{i}/3", "--state-out", str(path)],
                       check=True, capture_output=True)
    merged = sp.merge(states)
    # the metrics run once on the gathered rows: the same numbers, bit for bit
    assert merged == whole
    assert rel_close(merged["kid"]["mean"], sp.kid(np.load(a), np.load(b), subsets=5, subset_size=40)[0])


def test_hodge_shards_merge_in_python(tmp_path):
    problem = sp.Problem.from_json(SPEC)
    opts = dict(estimator="critic", critic_steps=20, n=128, n_times=5, progress=False)
    whole = sp.hodge(problem, **opts)
    paths = [tmp_path / f"h{i}.json" for i in range(4)]
    for i, p in enumerate(paths):
        sp.hodge(problem, shard=(i, 4), state_out=p, **opts)
    merged = sp.merge(paths)
    assert_close(whole, merged)
    assert merged["gradient"] == whole["gradient"]


def test_bounds_shards_merge_in_python(tmp_path):
    problem = sp.Problem.from_json(SPEC)
    opts = dict(estimator="critic", critic_steps=20, n=128, panels=8, progress=False)
    whole = sp.bounds(problem, **opts)
    paths = [tmp_path / f"b{i}.json" for i in range(3)]
    parts = [sp.bounds(problem, shard=(i, 3), state_out=p, **opts) for i, p in enumerate(paths)]
    assert "girsanov" not in parts[1] and len(parts[1]["points"]) == 3  # a part, not the bounds
    merged = sp.merge(paths)
    assert_close(whole, merged)
    assert merged["girsanov"] == whole["girsanov"]


def test_bad_shards_and_states_are_named(tmp_path):
    problem = sp.Problem.from_json(SPEC)
    for bad, why in [("5/4", "out of range"), ("0/0", "at least 1"), ("x/2", "index 'x'"), ((3, 2), "out of range")]:
        with pytest.raises(ValueError, match=f"^shard: .*{why}"):
            sp.siem(problem, shard=bad, state_out=tmp_path / "x.json", **OPTS)
    with pytest.raises(ValueError, match="^state_out: shard 1/2"):
        sp.siem(problem, shard="1/2", **OPTS)
    with pytest.raises(ValueError, match="^state_out: shard 1/2"):
        sp.sample(problem, shard="1/2", n=10, progress=False)
    paths = shards(problem, 3, tmp_path)
    with pytest.raises(ValueError, match="missing shard 1 of 3"):
        sp.merge([paths[0], paths[2]])
    with pytest.raises(ValueError, match="shard 2/3 is given twice"):
        sp.merge(paths + [paths[2]])
    other = shards(problem, 3, tmp_path, tag="o", seed=4)
    with pytest.raises(ValueError, match="states differ in seed: .*/o-1-of-3.json has 4"):
        sp.merge([paths[0], other[1], paths[2]])
    cut = tmp_path / "cut.json"
    cut.write_bytes(paths[1].read_bytes()[:-30])
    with pytest.raises(ValueError, match="cut.json: truncated or corrupt"):
        sp.merge([paths[0], cut, paths[2]])


def test_sample_shards_merge_to_the_single_run_bit_for_bit(tmp_path):
    problem = sp.Problem.from_json(SPEC)
    for sampler in ("em", "ancestral", "ode-heun"):
        opts = dict(n=23, steps=40, seed=5, sampler=sampler, progress=False)
        whole = sp.sample(problem, **opts)
        for k in (1, 2, 4, 7):
            paths = [tmp_path / f"{sampler}-{i}-of-{k}.json" for i in range(k)]
            parts = [sp.sample(problem, shard=(i, k), state_out=p, **opts) for i, p in enumerate(paths)]
            assert np.array_equal(np.concatenate(parts), whole), (sampler, k)
            merged = sp.merge(paths[::-1])
            assert merged.dtype == np.float64 and np.array_equal(merged, whole), (sampler, k)


def test_particle_siem_shards_merge_in_python(tmp_path):
    problem = sp.Problem.from_json(SPEC)
    opts = dict(form="particle", n=23, steps=60, window="45..59", progress=False)
    whole = sp.siem(problem, **opts)
    for k in (1, 2, 4, 7):
        paths = [tmp_path / f"p-{i}-of-{k}.json" for i in range(k)]
        for i, p in enumerate(paths):
            sp.siem(problem, shard=(i, k), state_out=p, **opts)
        merged = sp.merge(paths)
        assert_close(whole, merged)
        assert (merged["siem"], merged["siem_se"]) == (whole["siem"], whole["siem_se"])


def test_a_saved_critic_gives_the_fitted_run_s_siem_and_a_mismatch_is_refused(tmp_path):
    problem = sp.Problem.from_json(SPEC)
    opts = dict(form="particle", error_field="critic", n=23, steps=60, window="45..59", seed=2, progress=False)
    field = tmp_path / "critic.safetensors"
    fitted = sp.siem(problem, error_field_out=str(field), **opts)
    assert field.is_file() and (tmp_path / "critic.json").is_file()
    loaded = sp.siem(problem, error_field_in=field, **opts)
    assert (loaded["siem"], loaded["siem_se"]) == (fitted["siem"], fitted["siem_se"])
    assert (loaded["bands"], loaded["dropped_bands"]) == (fitted["bands"], fitted["dropped_bands"])
    paths = [tmp_path / f"c-{i}.json" for i in range(3)]
    for i, p in enumerate(paths):
        sp.siem(problem, shard=(i, 3), state_out=p, error_field_in=field, **opts)
    assert sp.merge(paths)["siem"] == fitted["siem"]
    with pytest.raises(ValueError, match="^error_field_in: .*fitted with window"):
        sp.siem(problem, error_field_in=field, **{**opts, "window": "40..59"})
    with pytest.raises(ValueError, match="^error_field_in: .*fitted with band_steps 100"):
        sp.siem(problem, error_field_in=field, **{**opts, "critic_band_steps": 5})
