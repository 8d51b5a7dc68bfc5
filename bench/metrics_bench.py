#!/usr/bin/env python3
"""Python peers of `cargo run --release -p scoreprobe-metrics --example metrics_bench`, workload by workload.

    python3 bench/metrics_bench.py --make-data DIR            # the inputs both sides read
    python3 bench/metrics_bench.py --data DIR [--reps N] WORKLOAD ...

Prints one TSV row per workload: `workload<TAB>peer<TAB>seconds<TAB>details<TAB>blas` (median of N
runs, default 3; the details end with that run's CPU seconds, all threads; blas is the BLAS library
and kernel the peer ran, e.g. `openblas:SkylakeX`, read with threadpoolctl after the run). Run it with OMP_NUM_THREADS=2 (bench/compare-metrics.sh sets every thread variable).

Peers (same inputs, same conventions: cost |x - y|^2, unbiased covariances, f64 throughout):
  moments            x.mean(0) and np.cov(x, rowvar=False) of 10 000 x 2048
  fd-trace           one np.linalg.eigh of a 2048 x 2048 covariance (the floor of the eigenvalue route)
  fd-trace-sqrtm     pytorch-fid's trace term, scipy.linalg.sqrtm(sigma1 @ sigma2) (slow: ~10x eigh)
  kid                torch-fidelity's kid_features_to_metric (100 subsets x 1000; --kid-subsets) on float64 tensors;
                     needs torch + torch-fidelity (bench/compare-metrics.sh runs it with $TORCH_PYTHON).
                     Without torch-fidelity the same numpy computation is timed (peer "numpy-kid").
  w2-exact-N         POT ot.emd2(a, b, ot.dist(x, y)) (network simplex, exact), N = 1000 or 2000
  sinkhorn-N         POT ot.bregman.empirical_sinkhorn_divergence(x, y, eps, stopThr=1e-6) with
                     eps = 0.05 x mean cost (scoreprobe's default), d = 2
"""
import argparse
import sys
import time

import numpy as np


LAST_CPU = [0.0]


def median_time(f, reps):
    """Median wall seconds of `reps` runs; the CPU seconds (all threads) of that run go to LAST_CPU."""
    ts = []
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        f()
        ts.append((time.perf_counter() - t, time.process_time() - c))
    wall, cpu = sorted(ts)[len(ts) // 2]
    LAST_CPU[0] = cpu
    return wall


def blas_kernel():
    """The BLAS libraries loaded in this process and their kernels (`threadpoolctl`), e.g.
    `openblas:SkylakeX` or `mkl:avx512`; `unknown` without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown(pip install threadpoolctl)"
    libs = [f"{i.get('internal_api')}:{i.get('architecture') or i.get('threading_layer') or '?'}"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    return ",".join(sorted(set(libs))) or "none"


def make_data(d):
    """Feature sets N(0, I) vs N(0.1, I) (10 000 x 2048), their stats, and 2-D clouds N(0, I) vs N(0.5, I)."""
    rng = np.random.default_rng(0)
    for name, shift in [("a", 0.0), ("b", 0.1)]:
        x = rng.standard_normal((10_000, 2048)) + shift
        np.save(f"{d}/feat_{name}.npy", x)
        np.savez(f"{d}/stats_{name}.npz", mu=x.mean(0), sigma=np.cov(x, rowvar=False))
    for n in [1000, 2000]:
        np.save(f"{d}/pts{n}_a.npy", rng.standard_normal((n, 2)))
        np.save(f"{d}/pts{n}_b.npy", rng.standard_normal((n, 2)) + 0.5)


def run(w, d, reps, kid_subsets=100):
    if w == "moments":
        x = np.load(f"{d}/feat_a.npy")
        t = median_time(lambda: (x.mean(0), np.cov(x, rowvar=False)), reps)
        return "numpy.cov", t, f"{x.shape[0]}x{x.shape[1]}"
    if w == "fd-trace":
        s = np.load(f"{d}/stats_a.npz")["sigma"]
        t = median_time(lambda: np.linalg.eigh(s), reps)
        return "numpy.linalg.eigh", t, f"d={s.shape[0]}"
    if w == "fd-trace-sqrtm":
        import scipy.linalg

        fa, fb = np.load(f"{d}/stats_a.npz"), np.load(f"{d}/stats_b.npz")
        mu1, s1, mu2, s2 = fa["mu"], fa["sigma"], fb["mu"], fb["sigma"]

        def fd():
            covmean, _ = scipy.linalg.sqrtm(s1.dot(s2), disp=False)
            diff = mu1 - mu2
            return diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real)

        value = fd()
        return "scipy.linalg.sqrtm", median_time(fd, reps), f"d={s1.shape[0]} fd={value:.10e}"
    if w == "kid":
        a, b = np.load(f"{d}/feat_a.npy"), np.load(f"{d}/feat_b.npy")
        try:
            import torch
            from torch_fidelity.metric_kid import kid_features_to_metric

            torch.set_num_threads(2)
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)  # float64, like scoreprobe
            f = lambda: kid_features_to_metric(ta, tb, kid_subsets=kid_subsets, kid_subset_size=1000, verbose=False)
            peer = "torch-fidelity"
        except ImportError:
            f = lambda: numpy_kid(a, b, kid_subsets, 1000)
            peer = "numpy-kid"
        value = f()
        value = value["kernel_inception_distance_mean"] if isinstance(value, dict) else value
        return peer, median_time(f, reps), f"{kid_subsets} subsets x 1000 of {a.shape[0]}x{a.shape[1]} kid={value:.6e}"
    if w.startswith("w2-exact-"):
        import ot

        n = int(w.rsplit("-", 1)[1])
        x, y = np.load(f"{d}/pts{n}_a.npy"), np.load(f"{d}/pts{n}_b.npy")
        u = np.full(n, 1.0 / n)
        f = lambda: ot.emd2(u, u, ot.dist(x, y), numItermax=10_000_000)
        return "ot.emd2", median_time(f, reps), f"n={n} w2^2={f():.12e}"
    if w.startswith("sinkhorn-"):
        import ot

        n = int(w.rsplit("-", 1)[1])
        x, y = np.load(f"{d}/pts{n}_a.npy"), np.load(f"{d}/pts{n}_b.npy")
        eps = 0.05 * ot.dist(x, y).mean()
        div = ot.bregman.empirical_sinkhorn_divergence
        f = lambda: div(x, y, eps, numIterMax=10_000, stopThr=1e-6)
        value, log = div(x, y, eps, numIterMax=10_000, stopThr=1e-6, log=True)
        iters = "/".join(str(log[k]["niter"]) for k in ["log_sinkhorn_ab", "log_sinkhorn_a", "log_sinkhorn_b"])
        details = f"n={n} eps={eps:.6e} transport-only={float(value):.8e} iters={iters}"
        return "ot.empirical_sinkhorn_divergence", median_time(f, reps), details
    sys.exit(f"unknown workload {w!r}")


def numpy_kid(a, b, subsets, m):
    """torch-fidelity's computation (metric_kid.py) without torch: cubic kernel, unbiased MMD^2."""
    rng = np.random.RandomState(0)
    d = a.shape[1]
    vals = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
        off = lambda k: k.sum() - np.trace(k)
        vals.append((off(kxx) + off(kyy)) / (m * (m - 1)) - 2 * kxy.sum() / (m * m))
    return float(np.mean(vals))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--make-data", metavar="DIR")
    p.add_argument("--data", metavar="DIR")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--kid-subsets", type=int, default=100)
    p.add_argument("workloads", nargs="*")
    args = p.parse_args()
    if args.make_data:
        make_data(args.make_data)
    for w in args.workloads:
        if not args.data:
            sys.exit("--data DIR is needed (write it first with --make-data DIR)")
        peer, t, details = run(w, args.data, args.reps, args.kid_subsets)
        print(f"{w}\t{peer}\t{t:.4f}\t{details} cpu={LAST_CPU[0]:.2f}s\t{blas_kernel()}", flush=True)


if __name__ == "__main__":
    main()
