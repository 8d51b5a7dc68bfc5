"""scoreprobe.ray: K Ray tasks (on a local Ray with 2 CPUs) give the dict of the unsharded run,
a failing task is reported with its shard number, and without Ray the module imports and says
what to install."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import scoreprobe as sp
from conftest import REPO, rel_close

SPEC = str(REPO / "examples" / "specs" / "gaussian-affine.json")
OPTS = dict(form="projection", n=40, steps=100, window="80..99", centers=3)


def test_without_ray_the_module_imports_and_names_the_extra(monkeypatch):
    import scoreprobe.ray as spray

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'scoreprobe\[ray\]'"):
        spray.siem(lambda: sp.Problem.from_json(SPEC), shards=2, **OPTS)


def factories():
    """The model factories, defined in a function so that Ray ships them by value (workers cannot
    import this test module)."""
    spec = SPEC

    def problem():
        import scoreprobe as sp

        return sp.Problem.from_json(spec)

    def broken():
        raise RuntimeError("no GPU here")

    return problem, broken


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_siem_with_4_tasks_equals_sp_siem(local_ray, tmp_path):
    import scoreprobe.ray as spray

    problem, _ = factories()
    whole = sp.siem(problem(), progress=False, **OPTS)
    merged = spray.siem(problem, shards=4, state_dir=tmp_path, **OPTS)
    assert (merged["siem"], merged["siem_se"]) == (whole["siem"], whole["siem_se"])
    assert rel_close(merged["siem_se_jackknife"], whole["siem_se_jackknife"])
    assert merged["profile"] == whole["profile"] and len(list(tmp_path.glob("siem-*-of-4.json"))) == 4
    hodge = dict(estimator="critic", critic_steps=20, n=128, n_times=4)
    whole_hodge = sp.hodge(problem(), progress=False, **hodge)
    assert spray.hodge(problem, shards=2, **hodge)["gradient"] == whole_hodge["gradient"]


def test_ray_sample_and_particle_siem_equal_the_single_run(local_ray, tmp_path):
    import scoreprobe.ray as spray

    problem, _ = factories()
    opts = dict(n=21, steps=30, seed=3)
    whole = sp.sample(problem(), progress=False, **opts)
    merged = spray.sample(problem, shards=3, state_dir=tmp_path, **opts)
    assert isinstance(merged, np.ndarray) and np.array_equal(merged, whole)
    particle = dict(form="particle", n=21, steps=30, window="20..29")
    whole_siem = sp.siem(problem(), progress=False, **particle)
    merged_siem = spray.siem(problem, shards=3, **particle)
    assert (merged_siem["siem"], merged_siem["siem_se"]) == (whole_siem["siem"], whole_siem["siem_se"])


def test_a_failing_task_is_reported_with_its_shard(local_ray):
    import scoreprobe.ray as spray

    _, broken = factories()
    with pytest.raises(RuntimeError, match=r"(?s)shard 0/2 failed after one retry.*no GPU here"):
        spray.siem(broken, shards=2, **OPTS)


def test_ray_feature_stats_merge_to_the_stats_of_all_images(local_ray, tmp_path):
    import numpy as np
    import scoreprobe.ray as spray

    images = np.random.default_rng(3).random((37, 1, 6, 6), dtype=np.float32)
    whole = sp.FeatureStats(36)
    whole.update(sp.extract_features(images))
    for shards, x in ((4, images), (5, images[:3])):  # 5 blocks of 3 images: some are empty
        merged = spray.feature_stats(x, shards=shards, state_dir=tmp_path / f"k{shards}")
        want = whole if len(x) == 37 else sp.FeatureStats(36)
        if len(x) != 37:
            want.update(sp.extract_features(x))
        assert merged.n == len(x)
        assert np.allclose(merged.mean, want.mean, rtol=1e-12, atol=1e-15)
        assert np.allclose(merged.cov(), want.cov(), rtol=1e-12, atol=1e-15)
    npy = tmp_path / "images.npy"
    np.save(npy, images)
    from_file = spray.feature_stats(str(npy), shards=2)  # each task loads the file itself
    assert from_file.n == 37 and np.allclose(from_file.mean, whole.mean, rtol=1e-12, atol=1e-15)
