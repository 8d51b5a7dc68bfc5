#!/usr/bin/env python3
"""Peer timings for `cargo run --release -p scoreprobe-metrics --example bench`:
the pytorch-fid trace term (scipy.linalg.sqrtm), POT's exact emd2 and debiased sinkhorn
(epsilon = 0.05 x mean cost, as scoreprobe's default) on the same sizes, 2 threads.

    OMP_NUM_THREADS=2 python3 bench/metrics_bench.py
"""
import time

import numpy as np
import ot
import scipy.linalg


def median_time(f, reps=3):
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return sorted(ts)[len(ts) // 2]


def fd_pytorch_fid(mu1, s1, mu2, s2):
    covmean, _ = scipy.linalg.sqrtm(s1.dot(s2), disp=False)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    diff = mu1 - mu2
    return diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


rng = np.random.default_rng(0)
for n, d in [(10_000, 2048), (2_000, 256)]:
    a = rng.standard_normal((n, d))
    b = rng.standard_normal((n, d)) + 0.1
    t_stats = median_time(lambda: (a.mean(0), np.cov(a, rowvar=False)))
    mu1, s1 = a.mean(0), np.cov(a, rowvar=False)
    mu2, s2 = b.mean(0), np.cov(b, rowvar=False)
    t_fd = median_time(lambda: fd_pytorch_fid(mu1, s1, mu2, s2), reps=1 if d > 1000 else 3)
    print(f"fd n={n} d={d}: moments {t_stats:.3f} s per set; scipy sqrtm trace term {t_fd:.3f} s")

for n in [1000, 2000]:
    a = rng.standard_normal((n, 2))
    b = rng.standard_normal((n, 2)) + 0.5
    w = np.full(n, 1.0 / n)
    t_emd = median_time(lambda: ot.emd2(w, w, ot.dist(a, b)))
    m = ot.dist(a, b)
    eps = 0.05 * m.mean()
    t_sink = median_time(
        lambda: ot.bregman.empirical_sinkhorn_divergence(a, b, eps, numIterMax=10000, stopThr=1e-6)
    )
    print(f"w2 n={n} d=2: POT emd2 {t_emd:.3f} s, POT sinkhorn divergence {t_sink:.3f} s")
