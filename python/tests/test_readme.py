"""The README's Python example runs as written, from a fresh clone (no shared data, no PyTorch),
and shows what it says it shows."""

import re

import numpy as np

from conftest import REPO


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    python = text[text.index("## Python") :]
    return re.search(r"```python\n(.*?)```", python, re.S).group(1)


def test_the_readme_python_example_runs(tmp_path, monkeypatch):
    code = readme_example()
    assert "shared/data" not in code and "import torch" not in code
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    r, feats = scope["r"], scope["feats"]
    assert r["form"] == "projection" and r["window"] == "900..999" and r["siem_se"] > 0
    assert feats.shape == (8, 3 * 32 * 32) and np.isfinite(feats).all()
    assert (tmp_path / "a.npz").is_file()
