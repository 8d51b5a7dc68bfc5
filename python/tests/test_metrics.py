"""Reference metrics on numpy arrays: the CLI's numbers, exact streaming statistics, clear errors."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import scoreprobe as sp
from conftest import rel_close


def point_sets(tmp_path, n_a=300, n_b=300, d=5, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n_a, d)) @ rng.normal(size=(d, d)) + 3.0
    b = (rng.normal(size=(n_b, d)) * 1.3 + 2.5).astype(np.float32)  # float32 on purpose
    pa, pb = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(pa, a)
    np.save(pb, b)
    return a, b, pa, pb


def test_fd_kid_w2_prdc_equal_the_cli_on_the_same_npy_files(tmp_path, cli):
    a, b, pa, pb = point_sets(tmp_path)
    out = cli("metrics", "--a", pa, "--b", pb, "--metric", "fd,kid,w2,prdc", "--kid-subset-size", "100",
              "--kid-subsets", "20", "--seed", "3")
    assert rel_close(sp.frechet_distance(a, b), out["fd"])
    mean, std = sp.kid(a, b, subsets=20, subset_size=100, seed=3)
    assert rel_close(mean, out["kid"]["mean"]) and rel_close(std, out["kid"]["std"])
    assert rel_close(sp.wasserstein2(a, b, method="exact", seed=3), out["w2"])
    got = sp.prdc(a, b)
    for k in ("precision", "recall", "density", "coverage"):
        assert rel_close(got[k], out[k]), k
    # the metrics are not trivially equal to each other: a different set changes them
    assert not rel_close(sp.frechet_distance(a, b + 0.1), out["fd"], 1e-6)


def test_w2_of_unequal_sets_subsamples_like_the_cli_and_the_other_methods_agree(tmp_path, cli):
    a, b, pa, pb = point_sets(tmp_path, n_a=260, n_b=200)
    out = cli("metrics", "--a", pa, "--b", pb, "--metric", "w2,w2-sliced,bures", "--seed", "5")
    with pytest.warns(UserWarning, match="subsampled to 200"):
        w2 = sp.wasserstein2(a, b, seed=5)
    assert rel_close(w2, out["w2"])
    assert rel_close(sp.wasserstein2(a, b, method="sliced", seed=5), out["w2_sliced"])
    assert rel_close(sp.wasserstein2(a, b, method="bures"), out["bures"])
    assert rel_close(sp.wasserstein2(a, b, method="bures") ** 2, sp.frechet_distance(a, b), 1e-9)
    assert sp.wasserstein2(a, b, method="sinkhorn") > 0
    with pytest.raises(ValueError, match="unknown method 'l1'"):
        sp.wasserstein2(a, b, method="l1")


def chunked(x, k, dim):
    s = sp.FeatureStats(dim)
    for part in np.array_split(x, k):
        s.update(part)
    return s


def max_rel(x, y):
    return float(np.max(np.abs(x - y)) / np.max(np.abs(y)))


def test_feature_stats_are_the_same_in_1_3_and_7_chunks_and_merged_from_shards():
    rng = np.random.default_rng(1)
    d = 6
    x = rng.normal(size=(5001, d)) @ rng.normal(size=(d, d)) + 1e3  # far from 0: naive sums lose digits
    ref_mean, ref_cov = x.mean(axis=0), np.cov(x, rowvar=False)
    stats = [chunked(x, k, d) for k in (1, 3, 7)]
    shards = [chunked(part, 2, d) for part in np.array_split(x, 4)]
    merged = sp.FeatureStats(d)
    for s in shards:
        merged.merge(s)
    stats.append(merged)
    for s in stats:
        assert s.n == 5001
        assert max_rel(s.mean, ref_mean) < 1e-12
        assert max_rel(s.cov, ref_cov) < 1e-12
        assert max_rel(s.cov, stats[0].cov) < 1e-12
    # float32 input is accepted and converted
    s32 = sp.FeatureStats(d)
    s32.update(x[:100].astype(np.float32))
    assert s32.n == 100


def test_feature_stats_npz_is_pytorch_fid_stats_that_the_cli_reads(tmp_path, cli):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(800, 4)), rng.normal(size=(700, 4)) * 1.2 + 0.3
    s = sp.FeatureStats(4)
    s.update(x)
    path = tmp_path / "stats.npz"
    s.save(path)
    f = np.load(path)  # what pytorch-fid does
    assert f["mu"].shape == (4,) and f["sigma"].shape == (4, 4)
    assert max_rel(f["mu"], x.mean(axis=0)) < 1e-12 and max_rel(f["sigma"], np.cov(x, rowvar=False)) < 1e-12
    np.save(tmp_path / "y.npy", y)
    out = cli("metrics", "--a", path, "--b", tmp_path / "y.npy", "--metric", "fd")
    assert rel_close(out["fd"], sp.frechet_distance(s, y))
    assert rel_close(out["fd"], sp.frechet_distance(path, y))
    assert rel_close(out["fd"], sp.frechet_distance(x, y), 1e-10)
    # and it loads back exactly, mergeable
    back = sp.FeatureStats.load(path)
    assert back.n == 800 and np.array_equal(back.mean, s.mean) and np.array_equal(back.cov, s.cov)
    # a pytorch-fid file (mu, sigma only) is refused as mergeable state, with the reason
    np.savez(tmp_path / "fid.npz", mu=f["mu"], sigma=f["sigma"])
    with pytest.raises(ValueError, match="sample count"):
        sp.FeatureStats.load(tmp_path / "fid.npz")
    assert rel_close(sp.frechet_distance(tmp_path / "fid.npz", y), out["fd"], 1e-12)


def test_feature_stats_pickle():
    import pickle

    s = sp.FeatureStats(3)
    s.update(np.arange(30.0).reshape(10, 3) ** 1.5)
    t = pickle.loads(pickle.dumps(s))
    assert t.n == 10 and np.array_equal(t.cov, s.cov) and np.array_equal(t.mean, s.mean)


def test_bad_inputs_are_python_exceptions_naming_the_argument():
    good = np.zeros((10, 2))
    with pytest.raises(ValueError, match=r"a: .*int64"):
        sp.frechet_distance(np.zeros((10, 2), dtype=np.int64), good)
    with pytest.raises(TypeError, match="b: "):
        sp.kid(good, [[1.0, 2.0]])
    bad = np.ones((10, 2))
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match="row 4"):
        sp.frechet_distance(good + np.arange(10)[:, None], bad)
    with pytest.raises(ValueError, match="dimension"):
        sp.prdc(good, np.zeros((10, 3)))
    with pytest.raises(ValueError):
        sp.FeatureStats(3).update(np.zeros((4, 2)))


def test_strided_views_are_read_in_place_or_copied_correctly():
    rng = np.random.default_rng(4)
    big = rng.normal(size=(400, 10))
    a = big[::2, 1::2]  # non-contiguous
    b = np.asfortranarray(big[1::2, :5]) * 0.5
    assert rel_close(sp.frechet_distance(a, b), sp.frechet_distance(np.ascontiguousarray(a), np.ascontiguousarray(b)))


def test_another_python_thread_advances_while_a_long_kid_runs():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(3000, 64)), rng.normal(size=(3000, 64))
    ticks = []
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    th = threading.Thread(target=count)
    th.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    sp.kid(a, b, subsets=400, subset_size=1500)
    t1 = time.perf_counter()
    stop.set()
    th.join()
    during = [t for t in ticks if t0 < t < t1]
    assert t1 - t0 > 0.2, "the kid call was too short to tell"
    # with the GIL held the thread could not run at all during the call
    assert len(during) >= 0.2 * (t1 - t0) / 0.001 * 0.1, (len(during), t1 - t0)
