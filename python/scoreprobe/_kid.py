"""KID's estimator (SPEC section 8: unbiased MMD^2 with the cubic kernel (x.y/d + 1)^3) between
generated samples and fixed reference rows, with per-sample influence terms for paired
differences (``sp.Monitor``'s ``kid`` metric).

With the reference Y fixed, MMD^2_u = sum_{i != j} k(x_i, x_j)/(m(m - 1)) - 2 mean k(x_i, y_j) + C_YY
is a degree-2 U-statistic in the generated samples plus a linear term; sample i's influence is
psi_i = 2(a_i - mean a) - 2(b_i - mean b), a_i = sum_{j != i} k(x_i, x_j)/(m - 1),
b_i = mean_j k(x_i, y_j), and SE^2 = sum psi_i^2 / (m(m - 1)) (the reference's own noise is not in
it: Y is the same at every evaluation). Samples drawn from the same prior draws and Brownian
increments at two checkpoints pair index by index, like the projection form's draws.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np


def _kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a @ b.T / a.shape[1] + 1.0) ** 3


class PairedKid:
    """The estimator against ``reference`` (at most ``rows`` rows, chosen once with ``seed``)."""

    def __init__(self, reference: np.ndarray, rows: int, seed: int) -> None:
        y = reference
        if y.shape[0] > rows:
            idx = np.sort(np.random.default_rng(seed ^ 0x4B4944).choice(y.shape[0], rows, replace=False))
            y = y[idx]
        if y.shape[0] < 2:
            raise ValueError(f"reference: KID needs at least 2 rows, got {y.shape[0]}")
        self.y = np.ascontiguousarray(y)
        kyy = _kernel(self.y, self.y)
        n = kyy.shape[0]
        self.c_yy = float((kyy.sum() - np.trace(kyy)) / (n * (n - 1)))

    def __call__(self, x: np.ndarray) -> Tuple[float, np.ndarray]:
        """MMD^2_u and the per-sample influence terms of the (m, d) samples ``x``."""
        m = x.shape[0]
        kxx = _kernel(x, x)
        a = (kxx.sum(axis=1) - np.diag(kxx)) / (m - 1)
        b = _kernel(x, self.y).mean(axis=1)
        value = float(a.mean() - 2.0 * b.mean() + self.c_yy)
        return value, 2.0 * (a - a.mean()) - 2.0 * (b - b.mean())
