"""Peer-implementation references for scoreprobe-metrics' integration tests.

Usage: python3 reference.py KIND DIR [ARGS]; reads .npy/.npz inputs from DIR, prints one JSON object.
Needs: numpy, scipy, POT (pip install numpy scipy POT).
"""
import json
import sys

import numpy as np


def fd(d):
    """pytorch-fid's calculate_frechet_distance (scipy.linalg.sqrtm of sigma1 @ sigma2)."""
    from scipy import linalg

    a, b = np.load(f"{d}/a.npy"), np.load(f"{d}/b.npy")
    mu1, s1 = a.mean(axis=0), np.cov(a, rowvar=False)
    mu2, s2 = b.mean(axis=0), np.cov(b, rowvar=False)
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
    covmean = covmean.real
    value = diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    # The stats file written by Rust, read the way pytorch-fid reads it.
    with np.load(f"{d}/stats_a.npz") as f:
        mu_err = float(np.abs(f["mu"] - mu1).max())
        sigma_err = float(np.abs(f["sigma"] - s1).max() / np.abs(s1).max())
    return {"fd": float(value), "tr_covmean": float(np.trace(covmean)), "stats_mu_err": mu_err,
            "stats_sigma_rel_err": sigma_err}


def emd2(d):
    import ot

    a, b = np.load(f"{d}/a.npy"), np.load(f"{d}/b.npy")
    m = ot.dist(a, b)  # squared Euclidean
    ua, ub = np.full(len(a), 1 / len(a)), np.full(len(b), 1 / len(b))
    return {"w2_squared": float(ot.emd2(ua, ub, m, numItermax=10_000_000))}


def sinkhorn(d, eps):
    import ot

    eps = float(eps)
    a, b = np.load(f"{d}/a.npy"), np.load(f"{d}/b.npy")

    def term(x, y):
        m = ot.dist(x, y)
        ux, uy = np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y))
        p = ot.sinkhorn(ux, uy, m, eps, method="sinkhorn_log", stopThr=1e-13, numItermax=200_000)
        transport = float(np.sum(p * m))
        pos = p > 0
        kl = float(np.sum(p[pos] * np.log(p[pos] / np.outer(ux, uy)[pos])))
        cost2 = float(ot.sinkhorn2(ux, uy, m, eps, method="sinkhorn_log", stopThr=1e-13, numItermax=200_000))
        return {"value": transport + eps * kl, "transport_cost": transport, "sinkhorn2": cost2}

    ab, aa, bb = term(a, b), term(a, a), term(b, b)
    div = ab["value"] - 0.5 * (aa["value"] + bb["value"])
    return {"ab": ab, "aa": aa, "bb": bb, "divergence": div}


def rank(d):
    from scipy import stats

    x, y = np.load(f"{d}/x.npy"), np.load(f"{d}/y.npy")
    return {
        "spearman": float(stats.spearmanr(x, y).statistic),
        "kendall": float(stats.kendalltau(x, y).statistic),
        "pearson": float(stats.pearsonr(x, y).statistic),
    }


if __name__ == "__main__":
    kind, directory, *rest = sys.argv[1:]
    print(json.dumps({"fd": fd, "emd2": emd2, "sinkhorn": sinkhorn, "rank": rank}[kind](directory, *rest)))
