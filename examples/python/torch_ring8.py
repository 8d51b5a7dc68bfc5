"""Train a small PyTorch DDPM on ring8, keep checkpoints, rank them with scoreprobe.

    python examples/python/torch_ring8.py            # a few minutes of CPU
    python examples/python/torch_ring8.py --quick    # seconds (the test's setting)

The network is an epsilon-prediction MLP in continuous time t in (0, 1] on scoreprobe's VP schedule
(beta from 0.1 to 20), trained by denoising score matching. Each kept checkpoint becomes a
scoreprobe score model through the three-line adapter below, and is measured by

- SIEM on the high-noise window 900..999 with the exact error field (ring8 has an exact score),
- the Hodge split at a few times (gradient part of the score error, grid estimator in 2-D),
- W2 and FD between its samples and fresh ring8 draws,

printed as a table ranked by SIEM. During training, ``sp.Monitor`` measures the projection-form
SIEM every few hundred steps on fixed draws of the data (paired values, records in
``--log-dir``/monitor.jsonl and TensorBoard events) and the best step is printed at the end.
PyTorch is needed here only; scoreprobe never imports it.
"""

from __future__ import annotations

import argparse
import copy
import math
import tempfile
import time

import numpy as np
import torch
from torch import nn

import scoreprobe as sp


class EpsMLP(nn.Module):
    def __init__(self, dim: int = 2, hidden: int = 128, emb: int = 32):
        super().__init__()
        self.freqs = nn.Parameter(torch.exp(torch.linspace(0.0, math.log(1000.0), emb // 2)), requires_grad=False)
        self.net = nn.Sequential(
            nn.Linear(dim + emb, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, dim),
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = t[:, None] * self.freqs[None, :]
        return self.net(torch.cat([x, torch.sin(a), torch.cos(a)], dim=1))


def train(data: np.ndarray, schedule: sp.Schedule, steps: int, keep: list, monitor: sp.Monitor, seed: int = 0):
    torch.manual_seed(seed)
    net = EpsMLP()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    x0_all = torch.from_numpy(data).float()
    kept = {}
    start = time.time()
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(x0_all), (256,))
        x0 = x0_all[idx]
        t = torch.rand(256) * (1 - 1e-3) + 1e-3
        t64 = t.double().numpy()
        alpha = torch.from_numpy(np.asarray(schedule.alpha(t64))).float()
        sigma = torch.from_numpy(np.asarray(schedule.sigma(t64))).float()
        eps = torch.randn_like(x0)
        xt = alpha[:, None] * x0 + sigma[:, None] * eps
        loss = ((net(xt, t) - eps) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        # the monitor: a no-op unless the step is due; never touches torch's RNG or grad mode
        rec = monitor.step(step, as_score_function(net, schedule))
        if rec is not None:
            print(f"  monitor step {step:5d}  SIEM {rec['value']:.3e} ± {rec['se']:.1e}  ({rec['seconds']:.1f} s)")
        if step in keep:
            kept[step] = copy.deepcopy(net).eval()
            print(f"  step {step:5d}  loss {loss.item():.4f}  ({time.time() - start:.0f} s)", flush=True)
    return kept


def as_score_function(net: nn.Module, schedule: sp.Schedule, device: str = "cpu") -> sp.ScoreFunction:
    # The three-line adapter: numpy in, numpy out, the network on any device; the model carries the
    # schedule it was trained with (its eps-prediction becomes a score with it).
    @torch.no_grad()
    def fn(x, t):
        return net(torch.from_numpy(x).to(device), torch.from_numpy(t).float().to(device)).cpu().numpy()

    return sp.ScoreFunction(fn, dim=2, parameterization="eps", schedule=schedule)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny run (seconds), for the test")
    ap.add_argument("--log-dir", help="the monitor's records and TensorBoard events (default: a new temp folder)")
    args = ap.parse_args()
    # a new folder per run: a monitor given a folder with records resumes them (docs/monitor.md)
    log_dir = args.log_dir or tempfile.mkdtemp(prefix="torch_ring8-monitor-")
    train_steps, keep = (300, [100, 300]) if args.quick else (6000, [250, 1000, 2500, 6000])
    n_eval, n_samples, sample_steps = (200, 400, 200) if args.quick else (1000, 2000, 1000)

    ring8 = sp.Problem.from_json({"target": {"kind": "named", "name": "ring8"}})
    schedule = ring8.schedule
    data = ring8.sample_data(20_000, seed=1)
    print(f"training an eps-prediction MLP on ring8 for {train_steps} steps")
    every, n_monitor = (100, 64) if args.quick else (500, 256)
    monitor = sp.Monitor(data, schedule, every=every, n=n_monitor, seed=5, log_dir=log_dir)
    kept = train(data, schedule, train_steps, keep, monitor)
    print(f"monitor: best step {monitor.best_step} (records in {log_dir}/monitor.jsonl)")

    reference = ring8.sample_data(n_samples, seed=2)
    rows = []
    for step, net in kept.items():
        model = as_score_function(net, schedule)
        s = sp.siem(model, ring8, window=(900, 999), error_field="oracle", n=n_eval, seed=3, progress=False)
        h = sp.hodge(model, ring8, times=[0.05, 0.2, 0.5], estimator="grid", progress=False)
        x = sp.sample(model, n=n_samples, steps=sample_steps, seed=4, progress=False)
        rows.append({
            "step": step,
            "siem": s["siem"],
            "siem_se": s["siem_se"],
            "gradient": float(np.mean(h["gradient"])),
            "w2": sp.wasserstein2(x, reference),
            "fd": sp.frechet_distance(x, reference),
        })

    print("\ncheckpoints ranked by SIEM (window 900..999, oracle error field); lower is better")
    print(f"{'rank':>4} {'step':>6} {'SIEM':>12} {'± se':>10} {'Hodge grad':>11} {'W2':>8} {'FD':>9}")
    for rank, r in enumerate(sorted(rows, key=lambda r: r["siem"]), 1):
        print(f"{rank:>4} {r['step']:>6} {r['siem']:>12.4e} {r['siem_se']:>10.2e} {r['gradient']:>11.4f} "
              f"{r['w2']:>8.4f} {r['fd']:>9.5f}")


if __name__ == "__main__":
    main()
