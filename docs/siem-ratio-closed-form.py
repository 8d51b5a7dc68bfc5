"""Closed-form look at SPEC §7's `ratio` reading on gaussian2d with its affine error.

p_t = N(α m0, α²Σ0 + σ²I); model score s = ∇log p_t + λ(E(x − α m0) + b); q_t (the reverse-SDE
law from N(0, I) at t = 1) is Gaussian with moment ODEs. For K = 8 Gaussian test functions
(h = 1.2, centres drawn from the target), at t in 900..999:
  m_proj = E_p[e·∇φ]    (the projection form's moment)
  m_ratio = E_q[e·∇φ]   (what the ratio reading estimates)
  T = E[r ξ·∇φ]/σ_t = −E_q[∇log p_t·∇φ]  (the term the fitted weight r̂ multiplies)
A relative error ε of r̂ (a constant offset of the logit; a non-constant one acts alike) moves
m_ratio by ε·T, so |T|/|m_ratio| is the bias per unit of ε.
"""
import numpy as np

m0 = np.array([0.5, -1.0]); S0 = np.array([[1.0, 0.3], [0.3, 0.5]])
E0 = np.array([[0.5, 0.2], [0.0, -0.3]]); b0 = np.array([0.3, -0.2])
bmin, bmax = 0.1, 20.0
beta = lambda t: bmin + t * (bmax - bmin)
alpha = lambda t: np.exp(-0.5 * (bmin * t + 0.5 * (bmax - bmin) * t * t))
rng = np.random.default_rng(0)
C = rng.multivariate_normal(m0, S0, size=8); h = 1.2
I = np.eye(2)

def moments_q(lam, t_stop, steps=4000):
    # reverse time τ = 1 − t, Euler on the moment ODEs (fine grid)
    mu = np.zeros(2); Cq = I.copy(); ts = np.linspace(1.0, t_stop, steps + 1)
    for k in range(steps):
        t = ts[k]; dt = ts[k] - ts[k + 1]; a = alpha(t); s2 = 1 - a * a
        P = np.linalg.inv(a * a * S0 + s2 * I); A = -P + lam * E0
        c = (P - lam * E0) @ (a * m0) + lam * b0; B = beta(t)
        M = 0.5 * B * I + B * A
        mu = mu + dt * (M @ mu + B * c)
        Cq = Cq + dt * (M @ Cq + Cq @ M.T + B * I)
    return mu, Cq

def stats(lam, t, n=400_000):
    a = alpha(t); s2 = 1 - a * a; mp = a * m0; Sp = a * a * S0 + s2 * I; P = np.linalg.inv(Sp)
    mu, Cq = moments_q(lam, t)
    xp = rng.multivariate_normal(mp, Sp, size=n); xq = rng.multivariate_normal(mu, Cq, size=n)
    e = lambda x: lam * ((x - mp) @ E0.T + b0)
    glp = lambda x: -(x - mp) @ P.T
    out = []
    for c in C:
        def grad_phi(x):
            d = x - c; return -(d / h**2) * np.exp(-(d * d).sum(1) / (2 * h * h))[:, None]
        out.append(((e(xp) * grad_phi(xp)).sum(1).mean(), (e(xq) * grad_phi(xq)).sum(1).mean(),
                    -(glp(xq) * grad_phi(xq)).sum(1).mean()))
    o = np.array(out)  # K × 3
    return o

for t in [0.999, 0.95, 0.901]:
    for lam in [1.0, 0.25, 0.05]:
        o = stats(lam, t)
        mp, mr, T = o[:, 0], o[:, 1], o[:, 2]
        print(f"t={t} λ={lam}: rms m_proj {np.sqrt((mp**2).mean()):.3e}, rms m_ratio {np.sqrt((mr**2).mean()):.3e}, "
              f"rms T {np.sqrt((T**2).mean()):.3e}, |T|/|m_ratio| (rms) {np.sqrt((T**2).mean()/(mr**2).mean()):.1f}")
