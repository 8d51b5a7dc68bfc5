"""Any callable as the score model: sampling, the Hodge split and SIEM on numpy callables with
known answers, and the CLI's reports for problem specs."""

from __future__ import annotations

import numpy as np
import pytest

import scoreprobe as sp
from conftest import rel_close

MU = np.array([0.5, -1.0])
COV = np.array([[1.0, 0.3], [0.3, 0.5]])
SPEC = {
    "target": {"kind": "gaussian", "mean": MU.tolist(), "cov": COV.tolist()},
    "schedule": {"kind": "vp", "beta_min": 0.1, "beta_max": 20},
}


def gaussian_score(schedule, extra=None):
    """The exact score of p_t = N(a mu, a^2 COV + s^2 I) (plus an optional error e(x, a mu)), in numpy."""

    def fn(x, t):
        t0 = float(t[0])
        assert np.all(t == t0) and x.dtype == np.float32 and t.dtype == np.float64
        a, s = schedule.alpha(t0), schedule.sigma(t0)
        prec = np.linalg.inv(a * a * COV + s * s * np.eye(2))
        x = x.astype(np.float64)
        score = -(x - a * MU) @ prec
        return score if extra is None else score + extra(x, a * MU)

    return fn


@pytest.fixture(scope="module")
def schedule():
    return sp.Schedule.vp()


@pytest.fixture(scope="module")
def target():
    return sp.Problem.from_json(SPEC)


def test_sample_reproduces_the_moments_of_a_2d_gaussian(schedule):
    model = sp.ScoreFunction(gaussian_score(schedule), dim=2, parameterization="score", batch_size=1000, schedule=schedule)
    n = 4000
    x = sp.sample(model, n=n, steps=500, seed=1, progress=False)
    assert x.shape == (n, 2)
    # Monte-Carlo standard errors of the sample mean and covariance entries
    se_mean = np.sqrt(np.diag(COV) / n)
    se_cov = np.sqrt((np.outer(np.diag(COV), np.diag(COV)) + COV**2) / n)
    bias = 0.01  # Euler-Maruyama discretisation with 500 steps, relative
    assert np.all(np.abs(x.mean(axis=0) - MU) < 4.5 * se_mean + bias * np.abs(MU))
    assert np.all(np.abs(np.cov(x, rowvar=False) - COV) < 4.5 * se_cov + bias * np.abs(COV))
    # same seed, same samples; another seed, other samples
    assert np.array_equal(x, sp.sample(model, n=n, steps=500, seed=1, progress=False))
    assert not np.array_equal(x, sp.sample(model, n=n, steps=500, seed=2, progress=False))


def test_eps_parameterisation_is_converted_with_the_schedule(schedule):
    score = gaussian_score(schedule)

    def eps(x, t):  # eps = -sigma_t * score
        return -schedule.sigma(float(t[0])) * score(x, t)

    a = sp.sample(sp.ScoreFunction(score, 2, "score", schedule=schedule), n=200, steps=100, progress=False)
    b = sp.sample(sp.ScoreFunction(eps, 2, "eps", schedule=schedule), n=200, steps=100, progress=False)
    assert np.allclose(a, b, rtol=1e-9, atol=1e-9)


E = np.array([[0.3, 0.0], [0.1, -0.2]])
B = np.array([0.2, 0.0])


def test_hodge_critic_on_an_affine_error_callable_matches_the_closed_form(schedule, target):
    model = sp.ScoreFunction(
        gaussian_score(schedule, lambda x, m: (x - m) @ E.T + B), dim=2, parameterization="score", schedule=schedule
    )
    times = [0.05, 0.5]
    got = sp.hodge(model, target, times=times, estimator="critic", seed=3, n=20000, critic_steps=800, progress=False)
    affine = sp.Problem.from_json({**SPEC, "model": {"kind": "affine_error", "E": E.tolist(), "b": B.tolist()}})
    exact = sp.hodge(affine, times=times, estimator="closed-form", progress=False)
    assert got["estimator"] == "critic" and exact["estimator"] == "closed-form"
    for i in range(len(times)):
        g, se, cf = got["gradient"][i], got["gradient_se"][i], exact["gradient"][i]
        # SPEC section 5: a held-out critic value is below the exact one only by noise and a small fit bias
        assert g - cf < 4 * se + 1e-5 * cf, (times[i], g, se, cf)
        assert cf - g < 4 * se + 0.05 * cf, (times[i], g, se, cf)
        assert rel_close(got["l2"][i], exact["l2"][i], 0.05)


def test_siem_ranks_a_family_of_growing_gradient_errors_in_order(schedule, target):
    q = np.array([[1.0, 0.2], [0.2, 0.6]])
    values = []
    for lam in (0.0, 0.3, 0.6, 1.2):
        fn = gaussian_score(schedule, lambda x, m, lam=lam: lam * (x - m) @ q)
        model = sp.ScoreFunction(fn, dim=2, parameterization="score", schedule=schedule)
        r = sp.siem(model, target, window="150..199", error_field="oracle", n=400, steps=200, seed=5,
                    progress=False)
        values.append((r["siem"], r["siem_se"]))
    assert values[0][0] < 1e-6 * values[1][0]  # the exact model: zero but for float32 rounding of x
    for (lo, lo_se), (hi, hi_se) in zip(values, values[1:]):
        assert hi - lo > 3 * np.hypot(lo_se, hi_se), values


def test_dicts_have_the_cli_keys_and_numbers_for_a_problem_spec(tmp_path, cli):
    spec = {**SPEC, "model": {"kind": "affine_error", "E": E.tolist(), "b": B.tolist()}}
    path = tmp_path / "spec.json"
    import json

    path.write_text(json.dumps(spec))
    problem = sp.Problem.from_json(path)
    runs = [
        (sp.siem(problem, window="90..99", n=300, steps=100, seed=2, progress=False),
         cli("siem", "--spec", path, "--window", "90..99", "--n", "300", "--steps", "100", "--seed", "2")),
        (sp.siem(problem, form="projection", window="90..99", n=300, steps=100, seed=2, progress=False),
         cli("siem", "--spec", path, "--form", "projection", "--window", "90..99", "--n", "300", "--steps", "100",
             "--seed", "2")),
        (sp.siem(problem, test_fn="quadratic", test_seed=4, window="90..99", n=300, steps=100, seed=2, progress=False),
         cli("siem", "--spec", path, "--test-fn", "quadratic", "--test-seed", "4", "--window", "90..99", "--n", "300",
             "--steps", "100", "--seed", "2")),
        (sp.hodge(problem, times=[0.1, 0.6], estimator="grid", n=2000, progress=False),
         cli("hodge", "--spec", path, "--times", "0.1,0.6", "--estimator", "grid", "--n", "2000")),
        (sp.bounds(problem, estimator="closed-form", panels=8, progress=False),
         cli("bounds", "--spec", path, "--estimator", "closed-form", "--panels", "8")),
    ]
    for py, c in runs:
        assert set(py) == set(c)
        compare(py, c)


def compare(a, b, path="") -> None:
    """Equal to 1e-12 relative, except wall-clock times."""
    if isinstance(a, dict):
        for k in a:
            if k not in ("seconds",):
                compare(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            compare(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, (int, float)):
        assert rel_close(a, float(b)), (path, a, b)
    else:
        assert a == b, (path, a, b)


def test_problem_from_path_string_or_dict(tmp_path):
    import json

    p = tmp_path / "s.json"
    p.write_text(json.dumps(SPEC))
    for spec in (p, str(p), json.dumps(SPEC), SPEC):
        prob = sp.Problem.from_json(spec)
        assert prob.dim == 2 and prob.model_kind == "exact" and prob.schedule == sp.Schedule.vp()
    with pytest.raises(ValueError, match="target"):
        sp.Problem.from_json({"schedule": {"kind": "vp"}})
    with pytest.raises(FileNotFoundError):
        sp.Problem.from_json(tmp_path / "absent.json")
    x = sp.Problem.from_json(SPEC).sample_data(5000, seed=1)
    assert np.allclose(x.mean(axis=0), MU, atol=0.1)


def test_siem_against_data_samples_defaults_to_the_projection_form_and_sees_a_gradient_error(schedule):
    # 20 000 rows: the empirical p_t differs from the Gaussian's by O(1/sqrt(20 000)), far below the SE
    data = np.random.default_rng(0).multivariate_normal(MU, COV, size=20000)
    q = np.array([[1.0, 0.2], [0.2, 0.6]])
    runs = {}
    for name, extra in (("exact", None), ("gradient", lambda x, m: (x - m) @ q)):
        model = sp.ScoreFunction(gaussian_score(schedule, extra), 2, "score", schedule=schedule)
        runs[name] = sp.siem(model, data, window="90..99", steps=100, n=2000, seed=3, progress=False)
    for r in runs.values():
        assert r["form"] == "projection" and "error_field" not in r, r.keys()
    exact, gradient = runs["exact"], runs["gradient"]
    assert abs(exact["siem"]) < 4 * exact["siem_se"], exact["siem"]
    assert gradient["siem"] > 10 * gradient["siem_se"], gradient["siem"]
    # the projection form fits no error field: asking for one is an error, not ignored
    with pytest.raises(ValueError, match="error_field"):
        sp.siem(model, data, form="projection", error_field="critic", progress=False)
