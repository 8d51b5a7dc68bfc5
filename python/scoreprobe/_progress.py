"""Progress bars for long runs, drawn on stderr.

A run with ``progress=True`` (the default) calls :func:`make` from Rust with the run's total: the
score-model calls it will make, computed from its options (None where a fitted estimator's calls
are not known in advance). The Rust side then reports running totals (score-model calls and rows
evaluated) every ~50 ms from the thread that called scoreprobe, and closes the bar when the run
ends; this module draws it: tqdm's bar when tqdm is installed, otherwise a one-line counter redrawn
in place. ``progress=False`` hides it.
"""

from __future__ import annotations

import sys
import time
from typing import Optional


class Progress:
    """A callable ``progress(calls, rows)`` drawing a bar of score-model calls on ``sys.stderr``."""

    def __init__(self, desc: str, total: Optional[int] = None, unit: str = "calls") -> None:
        self.desc = desc
        self.total = total
        self.unit = unit
        self.calls = 0
        self.rows = 0
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._bar = None
        try:  # tqdm draws nicer bars (and works in notebooks) when it is installed
            from tqdm.auto import tqdm  # type: ignore

            self._bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False)
        except Exception:
            self._bar = None

    def __call__(self, calls: int, rows: int) -> None:
        delta = calls - self.calls
        self.calls, self.rows = calls, rows
        if self._bar is not None:
            self._bar.update(delta)
            self._bar.set_postfix(rows=rows, refresh=False)
            return
        now = time.monotonic()
        if now - self._last_draw >= 0.1:
            self._last_draw = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._start, 1e-9)
        done = f"{self.calls}/{self.total}" if self.total else f"{self.calls}"
        sys.stderr.write(
            f"\r{self.desc}: {done} {self.unit}, {self.rows} rows [{elapsed:.1f} s, {self.calls / elapsed:.1f} {self.unit}/s]"
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            return
        if self.calls:
            self._draw(time.monotonic())
            sys.stderr.write("\n")
            sys.stderr.flush()


def make(progress, desc: str, total: Optional[int] = None) -> Optional[Progress]:
    """The bar for ``progress=`` (True: a bar; False/None: none)."""
    return Progress(desc, total) if progress else None
