"""Shared fixtures: the repository root, the CLI binary and the shared data folder.

Tests compare the Python module with the CLI on the same inputs. The CLI binary is
``$SCOREPROBE_BIN``, else ``target/{debug,release}/scoreprobe`` (what ``cargo test --workspace``
builds). Shared data is ``$SCOREPROBE_DATA`` or ``../shared/data`` relative to the repository
root (or one or two levels further up, as the Rust loaders look). When ``CI`` is set, a missing binary or data folder fails the test loudly instead of
skipping it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(what: str) -> None:
    if ci():
        pytest.fail(f"CI is set but {what} is missing", pytrace=False)
    pytest.skip(f"{what} is missing (set CI=true to make this a failure)")


@pytest.fixture(scope="session")
def cli_bin() -> Path:
    env = os.environ.get("SCOREPROBE_BIN")
    if env:
        candidates = [Path(env)]
    else:
        candidates = [REPO / "target" / "debug" / "scoreprobe", REPO / "target" / "release" / "scoreprobe"]
    found = [p for p in candidates if p.is_file()]
    if not found:
        missing("the scoreprobe CLI binary (run `cargo build -p scoreprobe-cli` or set SCOREPROBE_BIN)")
    # the most recently built one
    return max(found, key=lambda p: p.stat().st_mtime)


@pytest.fixture(scope="session")
def cli(cli_bin):
    """Runs the CLI with ``--json`` and returns the parsed output."""

    def run(*args: str) -> dict:
        out = subprocess.run(
            [str(cli_bin), *map(str, args), "--json"], capture_output=True, text=True, cwd=REPO, timeout=1800
        )
        if out.returncode != 0:
            raise AssertionError(f"scoreprobe {' '.join(map(str, args))} failed:\n{out.stderr}")
        return json.loads(out.stdout)

    return run


@pytest.fixture(scope="session")
def shared_data() -> Path:
    env = os.environ.get("SCOREPROBE_DATA")
    # like the Rust loaders: ../shared/data from the repository root (or one or two levels up)
    candidates = [Path(env)] if env else [p / "shared" / "data" for p in list(REPO.parents)[:3]]
    for root in candidates:
        if root.is_dir():
            return root
    missing(f"the shared data folder ({candidates[0]}; set SCOREPROBE_DATA)")


def rel_close(a: float, b: float, rel: float = 1e-12) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)
