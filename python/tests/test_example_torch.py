"""examples/python/torch_ring8.py, where PyTorch is installed (never a test dependency)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO

pytest.importorskip("torch")


def test_torch_ring8_example_trains_and_ranks_checkpoints(tmp_path):
    out = subprocess.run(
        [sys.executable, str(REPO / "examples" / "python" / "torch_ring8.py"), "--quick", "--log-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900,
    )
    assert out.returncode == 0, out.stderr
    assert "monitor: best step" in out.stdout and (tmp_path / "monitor.jsonl").is_file()
    table = out.stdout.split("ranked by SIEM")[1].strip().splitlines()[2:]
    assert len(table) == 2
    steps = {int(line.split()[1]) for line in table}
    assert steps == {100, 300}
    for line in table:
        siem, w2 = float(line.split()[2]), float(line.split()[5])
        assert siem > 0 and w2 > 0
