"""A full disk (issue 27, item 3) from Python: ``FeatureStats.save`` and the training monitor on a
small tmpfs raise an exception naming the file and leave no truncated file behind (the previous
one stays whole). Mounting needs root: skipped with the reason where it is impossible."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile

import numpy as np
import pytest

import scoreprobe as sp


@pytest.fixture
def small_disk():
    """A 64 KiB tmpfs on a fresh folder, unmounted afterwards."""
    path = tempfile.mkdtemp(prefix="scoreprobe-full-disk-")
    try:
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", path], capture_output=True, text=True)
    except OSError as e:  # no mount binary
        os.rmdir(path)
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {e}")
    if res.returncode != 0:
        os.rmdir(path)
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {res.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", path], check=False)
        os.rmdir(path)


def test_feature_stats_save_on_a_full_disk_raises_naming_the_file_and_keeps_the_old_one(small_disk):
    rng = np.random.default_rng(0)
    small = sp.FeatureStats(8)
    small.update(rng.normal(size=(100, 8)))
    path = os.path.join(small_disk, "stats.npz")
    small.save(path)
    before = open(path, "rb").read()
    big = sp.FeatureStats(256)  # mu, sigma and the scatter: ~1 MB, far above 64 KiB
    big.update(rng.normal(size=(300, 256)))
    with pytest.raises(OSError) as info:
        big.save(path)
    assert "stats.npz" in str(info.value) and "No space left" in str(info.value), str(info.value)
    assert type(info.value).__name__ != "PanicException"
    assert os.listdir(small_disk) == ["stats.npz"], os.listdir(small_disk)  # no temporary left
    assert open(path, "rb").read() == before  # the previous statistics, whole
    again = sp.FeatureStats.load(path)
    assert again.n == 100 and np.allclose(again.mean, small.mean)


def test_the_monitor_on_a_full_disk_raises_and_resumes_from_its_last_whole_record(small_disk):
    ref = np.random.default_rng(1).normal(size=(200, 2))
    sched = sp.Schedule.vp()
    model = sp.ScoreFunction(lambda x, t: -x, dim=2, parameterization="score")
    opts = dict(every=1, n=16, window="90..99", log_dir=small_disk, tensorboard=False, wandb=False, max_budget=None)
    mon = sp.Monitor(ref, sched, **opts)
    mon.step(1, model)
    filler = os.path.join(small_disk, "filler")
    with pytest.raises(OSError):  # fill the disk to its last byte
        with open(filler, "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
    with pytest.raises(OSError) as info:
        mon.step(2, model)
    assert "No space left" in str(info.value) or info.value.errno == 28, info.value
    mon.close()
    os.remove(filler)
    again = sp.Monitor(ref, sched, **opts)
    assert again.due(2), "a step whose record was not written must still be due"
    again.step(2, model)
    again.close()
    lines = open(os.path.join(small_disk, "monitor.jsonl")).read().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2]
