"""The quadrature VI engine: exact posteriors, independent optima, exact derivatives, refusals."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import central_diff, rel_err
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, special, stats

import probfit as pf
from probfit.engines.gauss_hermite import expect, rule
from probfit.engines.quadrature_elbo import QuadratureELBO, _laplace_prior
from probfit.errors import EngineError, ProbfitWarning

# ---------------------------------------------------------------------------- models


def linear_known_noise(n: int = 60, sigma: float = 0.8, tau: float = 2.0, seed: int = 3):
    """Strongly correlated columns plus an intercept; the exact posterior and evidence."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 3))
    X = z @ np.array([[1.0, 0.9, 0.8], [0.0, 0.4, 0.3], [0.0, 0.0, 0.3]])
    y = X @ [1.0, -1.0, 0.5] + 0.4 + rng.normal(scale=sigma, size=n)
    m = pf.Model("blr")
    Xh, yh = m.data("X", ("n", "p")), m.data("y", ("n",))
    w = m.param("w", ("p",), prior=pf.Normal(0.0, tau))
    b = m.param("b", prior=pf.Normal(1.0, tau))
    m.observe(yh, pf.Normal(Xh @ w + b, sigma))
    A = np.column_stack([X, np.ones(n)])  # θ = (w, b)
    prior_mean = np.array([0.0, 0.0, 0.0, 1.0])
    prec = A.T @ A / sigma**2 + np.eye(4) / tau**2
    cov = np.linalg.inv(prec)
    mean = cov @ (A.T @ y / sigma**2 + prior_mean / tau**2)
    marg = sigma**2 * np.eye(n) + tau**2 * A @ A.T
    _, logdet = np.linalg.slogdet(2 * np.pi * marg)
    r = y - A @ prior_mean
    log_evidence = -0.5 * logdet - 0.5 * r @ np.linalg.solve(marg, r)
    return m, {"X": X, "y": y}, mean, cov, prec, log_evidence


def logistic(n: int = 120, seed: int = 2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = (rng.random(n) < special.expit(X @ [1.5, -1.0] + 0.3)).astype(float)
    m = pf.Model("logit")
    Xh, yh = m.data("X", ("n", "p")), m.data("y", ("n",))
    w = m.param("w", ("p",), prior=pf.Normal(0.0, 2.0))
    b = m.param("b", prior=pf.Normal(0.0, 3.0))
    m.observe(yh, pf.Bernoulli(logit=Xh @ w + b))
    return m, {"X": X, "y": y}


def poisson(n: int = 80, seed: int = 5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = rng.poisson(np.exp(X @ [0.5, -0.3] + 0.2)).astype(float)
    m = pf.Model("pois")
    Xh, yh = m.data("X", ("n", "p")), m.data("y", ("n",))
    w = m.param("w", ("p",), prior=pf.Normal(0.0, 1.5))
    b = m.param("b", prior=pf.Normal(0.0, 2.0))
    m.observe(yh, pf.Poisson(log_rate=Xh @ w + b))
    return m, {"X": X, "y": y}


def robust_priors(n: int = 40, seed: int = 7):
    """Student-t and Laplace priors (quadrature and closed form), a Poisson likelihood."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = rng.poisson(np.exp(X @ [0.4, 0.0] + 0.5)).astype(float)
    m = pf.Model("robust")
    Xh, yh = m.data("X", ("n", "p")), m.data("y", ("n",))
    w = m.param("w", ("p",), prior=pf.StudentT(3.0, 0.0, 0.5))
    b = m.param("b", prior=pf.Laplace(0.2, 1.0))
    m.observe(yh, pf.Poisson(log_rate=Xh @ w + b))
    return m, {"X": X, "y": y}


def _lam(elbo: QuadratureELBO, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    d = elbo.size
    return np.concatenate([rng.normal(scale=0.5, size=d), rng.uniform(-2.0, -0.5, size=d)])


# ---------------------------------------------------------------------------- exact posteriors


def test_linear_gaussian_fullrank_is_the_exact_posterior():
    m, data, mean, cov, _, log_evidence = linear_known_noise()
    # started away from the answer (no Laplace warm start, which would already be exact)
    fit = m.fit(data, method="vi", engine="quadrature", family="fullrank", warm_start=False)
    assert fit.converged and fit.engine == "quadrature"
    theta = np.append(fit.params["w"], fit.params["b"])
    np.testing.assert_allclose(theta, mean, rtol=0, atol=1e-8)
    np.testing.assert_allclose(fit.q.cov, cov, rtol=0, atol=1e-8 * np.max(np.abs(cov)))
    # the Normal likelihood is quadratic: quadrature is exact, so the ELBO is the evidence
    assert fit.elbo == pytest.approx(log_evidence, abs=1e-8)
    assert fit.pareto_k == -np.inf  # log p − log q is constant: q is the posterior
    # L-BFGS alone gets there too, to its own (looser) precision
    alt = m.fit(data, method="vi", engine="quadrature", family="fullrank", warm_start=False,
                optimizer="lbfgs")
    assert alt.converged
    np.testing.assert_allclose(alt.q.cov, cov, rtol=0, atol=1e-6 * np.max(np.abs(cov)))


def test_linear_gaussian_meanfield_matches_theory():
    m, data, mean, cov, prec, log_evidence = linear_known_noise()
    fit = m.fit(data, method="vi", engine="quadrature", warm_start=False)
    assert fit.converged and fit.family == "meanfield"
    theta = np.append(fit.params["w"], fit.params["b"])
    sd = np.append(fit.se["w"], fit.se["b"])
    # mean-field optimum of a Gaussian posterior: the exact mean, variances 1/diag(precision)
    np.testing.assert_allclose(theta, mean, rtol=0, atol=1e-10)
    np.testing.assert_allclose(sd**2, 1.0 / np.diag(prec), rtol=1e-10)
    assert np.all(sd**2 < np.diag(cov))  # correlated posterior: marginals under-estimated
    # closed-form mean-field ELBO at that q (independent of the quadrature code)
    A = np.column_stack([data["X"], np.ones(len(data["y"]))])
    s2 = 1.0 / np.diag(prec)
    r = data["y"] - A @ theta
    ell = np.sum(-0.5 * np.log(2 * np.pi * 0.8**2) - (r**2 + (A * A) @ s2) / (2 * 0.8**2))
    prior_mean = np.array([0.0, 0.0, 0.0, 1.0])
    elp = np.sum(-0.5 * np.log(2 * np.pi * 4.0) - ((theta - prior_mean) ** 2 + s2) / 8.0)
    entropy = 0.5 * np.sum(np.log(2 * np.pi * np.e * s2))
    assert fit.elbo == pytest.approx(ell + elp + entropy, abs=1e-9)
    assert fit.elbo < log_evidence - 0.1  # a strict bound: q misses the correlations
    full = m.fit(data, method="vi", engine="quadrature", family="fullrank")
    assert fit.elbo < full.elbo <= log_evidence + 1e-9  # the gap shrinks as q improves


_BLR = linear_known_noise()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-3.0, 3.0), min_size=4, max_size=4),
       st.lists(st.floats(-4.0, 0.5), min_size=4, max_size=4))
def test_elbo_never_exceeds_the_log_evidence(mean, log_sd):
    m, data, _, _, _, log_evidence = _BLR
    elbo = QuadratureELBO(m.compile(data, "vi"))
    assert elbo.meanfield(np.array(mean + log_sd), 0)[0] <= log_evidence + 1e-9


# ---------------------------------------------------------------------------- non-Gaussian


def _poisson_meanfield_closed_form(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Independent referee: E[log Poisson(y | e^η)] = yμ − exp(μ + v/2) − log y! exactly, so
    the mean-field ELBO is closed form; maximised by BFGS on (m, log s)."""
    A = np.column_stack([X, np.ones(len(y))])
    tau2 = np.array([1.5, 1.5, 2.0]) ** 2

    def neg(lam):
        mm, s2 = lam[:3], np.exp(2 * lam[3:])
        mu, v = A @ mm, (A * A) @ s2
        ell = np.sum(y * mu - np.exp(mu + v / 2) - special.gammaln(y + 1))
        elp = np.sum(-0.5 * np.log(2 * np.pi * tau2) - (mm**2 + s2) / (2 * tau2))
        return -(ell + elp + np.sum(lam[3:]) + 1.5 * (1 + np.log(2 * np.pi)))

    res = optimize.minimize(neg, np.concatenate([np.zeros(3), np.full(3, -2.0)]),
                            method="BFGS", options={"gtol": 1e-10})
    return res.x[:3], np.exp(res.x[3:]), -res.fun


def test_poisson_meanfield_matches_the_closed_form_optimum():
    m, data = poisson()
    fit = m.fit(data, method="vi", engine="quadrature")
    mean, sd, elbo = _poisson_meanfield_closed_form(data["X"], data["y"])
    theta = np.append(fit.params["w"], fit.params["b"])
    fsd = np.append(fit.se["w"], fit.se["b"])
    # tolerance: BFGS on finite differences stops within ~1e-6 sd of the optimum
    assert np.max(np.abs(theta - mean) / sd) < 1e-5
    np.testing.assert_allclose(fsd, sd, rtol=1e-5)
    assert fit.elbo == pytest.approx(elbo, abs=1e-8)


def _logistic_meanfield_brute_force(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Independent referee: each E[log p(y_i | η_i)] by the trapezoid rule on a fine grid of
    the standard normal (801 points on [−10, 10]), Nelder–Mead then BFGS on (m, log s)."""
    A = np.column_stack([X, np.ones(len(y))])
    z = np.linspace(-10.0, 10.0, 801)
    wz = stats.norm.pdf(z) * (z[1] - z[0])
    sign = 2 * y - 1
    tau2 = np.array([2.0, 2.0, 3.0]) ** 2

    def neg(lam):
        mm, s2 = lam[:3], np.exp(2 * lam[3:])
        mu, sdv = A @ mm, np.sqrt((A * A) @ s2)
        ell = np.sum(special.log_expit(sign[:, None] * (mu[:, None] + sdv[:, None] * z)) @ wz)
        elp = np.sum(-0.5 * np.log(2 * np.pi * tau2) - (mm**2 + s2) / (2 * tau2))
        return -(ell + elp + np.sum(lam[3:]))

    res = optimize.minimize(neg, np.concatenate([np.zeros(3), np.full(3, -1.5)]),
                            method="BFGS", options={"gtol": 1e-9})
    return res.x[:3], np.exp(res.x[3:])


def test_logistic_meanfield_matches_a_brute_force_optimum():
    m, data = logistic()
    fit = m.fit(data, method="vi", engine="quadrature")
    assert fit.converged
    mean, sd = _logistic_meanfield_brute_force(data["X"], data["y"])
    theta = np.append(fit.params["w"], fit.params["b"])
    fsd = np.append(fit.se["w"], fit.se["b"])
    # tolerance: the referee's BFGS on finite differences (1e-6 sd), the quadrature error of
    # both (< 1e-10 here)
    assert np.max(np.abs(theta - mean) / sd) < 1e-5
    np.testing.assert_allclose(fsd, sd, rtol=1e-5)
    # Newton and L-BFGS reach the same optimum
    alt = m.fit(data, method="vi", engine="quadrature", optimizer="lbfgs")
    assert alt.converged
    np.testing.assert_allclose(alt.params["w"], fit.params["w"], atol=1e-7 * fsd.min())
    assert alt.elbo == pytest.approx(fit.elbo, abs=1e-8)


def test_logistic_trace_reproducibility_and_fullrank():
    m, data = logistic()
    fit = m.fit(data, method="vi", engine="quadrature")
    trace = fit.elbo_trace
    assert trace.size == fit.n_iter + 1 and np.all(np.isfinite(trace))
    assert np.all(np.diff(trace) >= -1e-12 * abs(trace[-1]))  # never decreases
    assert fit.elbo == trace[-1]
    assert fit.elbo_mc == pytest.approx(fit.elbo, abs=4 * fit.log_weights.std() / 30)
    assert fit.pareto_k < 0.7
    a, b = fit.sample(200, rng=11), fit.sample(200, rng=11)
    np.testing.assert_array_equal(a["w"], b["w"])
    assert not np.array_equal(a["w"], fit.sample(200, rng=12)["w"])
    assert a["w"].shape == (200, 2) and a["b"].shape == (200,)
    full = m.fit(data, method="vi", engine="quadrature", family="fullrank")
    assert full.converged and full.message.startswith("fixed point: converged")
    assert full.elbo > fit.elbo
    assert np.all(np.diff(full.elbo_trace) >= -1e-12 * abs(full.elbo))
    alt = m.fit(data, method="vi", engine="quadrature", family="fullrank", optimizer="lbfgs")
    assert alt.converged and alt.elbo == pytest.approx(full.elbo, abs=1e-8)
    sd = full.se["w"]
    assert np.max(np.abs(alt.params["w"] - full.params["w"]) / sd) < 1e-5
    np.testing.assert_allclose(alt.q.cov, full.q.cov, rtol=1e-5)


def test_too_few_nodes_warn_and_report_the_quadrature_error():
    m, data = logistic(n=30)
    with pytest.warns(ProbfitWarning, match="Gauss–Hermite nodes"):
        fit = m.fit(data, method="vi", engine="quadrature", nodes=2)
    assert "quadrature error estimate" in fit.message
    with warnings.catch_warnings():
        warnings.simplefilter("error", ProbfitWarning)
        m.fit(data, method="vi", engine="quadrature")


# ---------------------------------------------------------------------------- exact derivatives


@pytest.mark.parametrize("make", [logistic, poisson, robust_priors])
def test_meanfield_gradient_and_hessian_match_central_differences(make):
    m, data = make()
    elbo = QuadratureELBO(m.compile(data, "vi"))
    lam = _lam(elbo)
    _, g, h = elbo.meanfield(lam, 2)
    assert rel_err(g, central_diff(lambda x: elbo.meanfield(x, 0)[0], lam)) <= 1e-6
    assert rel_err(h, central_diff(lambda x: elbo.meanfield(x, 1)[1], lam)) <= 1e-6


@pytest.mark.parametrize("make", [logistic, robust_priors])
def test_fullrank_gradient_matches_central_differences(make):
    m, data = make()
    elbo = QuadratureELBO(m.compile(data, "vi"))
    d = elbo.size
    rng = np.random.default_rng(1)
    mean = rng.normal(scale=0.5, size=d)
    chol = np.tril(rng.normal(scale=0.1, size=(d, d)), -1) + np.diag(rng.uniform(0.1, 0.4, d))
    rows, cols = np.tril_indices(d)

    def value(x):
        c = np.zeros((d, d))
        c[rows, cols] = x[d:]
        return elbo.expected_log_joint(x[:d], c, 0)[0]

    _, g_mean, g_chol = elbo.expected_log_joint(mean, chol, 1)
    x = np.concatenate([mean, chol[rows, cols]])
    g = np.concatenate([g_mean, g_chol[rows, cols]])
    assert rel_err(g, central_diff(value, x)) <= 1e-6
    # the mean-field path and the full-rank path agree on a diagonal factor
    lam = np.concatenate([mean, np.log(np.diag(chol))])
    assert elbo.meanfield(lam, 0)[0] == pytest.approx(elbo.elbo(mean, np.diag(np.diag(chol))),
                                                      rel=1e-13)


@settings(max_examples=30, deadline=None)
@given(mu=st.floats(-3, 3), var=st.floats(1e-4, 4.0), c=st.lists(st.floats(-2, 2), min_size=4,
                                                                   max_size=4))
def test_gauss_hermite_is_exact_for_cubics(mu, var, c):
    """E[c0 + c1 η + c2 η² + c3 η³] = c0 + c1 μ + c2 (μ² + v) + c3 (μ³ + 3μv), with exact
    derivatives in (μ, v)."""
    a0, a1, a2, a3 = c

    def f(eta, order):
        return (a0 + a1 * eta + a2 * eta**2 + a3 * eta**3, a1 + 2 * a2 * eta + 3 * a3 * eta**2,
                2 * a2 + 6 * a3 * eta)

    e = expect(f, np.array([mu]), np.array([var]), rule(3), 2)
    assert e.value[0] == pytest.approx(a0 + a1 * mu + a2 * (mu**2 + var)
                                       + a3 * (mu**3 + 3 * mu * var), abs=1e-10)
    assert e.d_mu[0] == pytest.approx(a1 + 2 * a2 * mu + 3 * a3 * (mu**2 + var), abs=1e-10)
    assert e.d_var[0] == pytest.approx(a2 + 3 * a3 * mu, abs=1e-9)
    assert e.d_mumu[0] == pytest.approx(2 * a2 + 6 * a3 * mu, abs=1e-9)
    assert e.d_muvar[0] == pytest.approx(3 * a3, abs=1e-8)
    assert e.d_varvar[0] == pytest.approx(0.0, abs=1e-7 / var)


def test_laplace_prior_expectation_is_exact():
    mu, var, loc, scale = np.array([0.3, -1.0, 2.0]), np.array([0.5, 0.01, 4.0]), 0.2, 1.5
    got = _laplace_prior(mu, var, np.full(3, loc), np.full(3, scale), 0).value
    for i in range(3):
        sd = np.sqrt(var[i])
        ref = integrate.quad(lambda t, i=i, sd=sd: stats.laplace.logpdf(t, loc, scale)
                             * stats.norm.pdf(t, mu[i], sd), mu[i] - 15 * sd, mu[i] + 15 * sd,
                             points=[loc], epsabs=1e-13, limit=200)[0]
        assert got[i] == pytest.approx(ref, abs=1e-9)


# ---------------------------------------------------------------------------- refusals


def _refusal(build) -> str:
    m, data = build()
    with pytest.raises(EngineError) as err:
        m.fit(data, method="vi", engine="quadrature")
    return str(err.value)


def _base(prior=None):
    rng = np.random.default_rng(0)
    data = {"X": rng.normal(size=(30, 2)), "y": (rng.random(30) < 0.5).astype(float)}
    m = pf.Model("r")
    Xh, yh = m.data("X", ("n", "p")), m.data("y", ("n",))
    w = m.param("w", ("p",), prior=prior or pf.Normal(0.0, 1.0))
    return m, data, Xh, yh, w


def test_refuses_constrained_parameters():
    def build():
        m, data, Xh, yh, w = _base()
        s = m.param("s", support="positive", prior=pf.HalfNormal(1.0))
        m.observe(yh, pf.Normal(Xh @ w, s))
        return m, data

    msg = _refusal(build)
    assert "param 's' is constrained" in msg and "engine='advi'" in msg


def test_refuses_non_glm_likelihoods():
    def nonlinear():
        m, data, Xh, yh, w = _base()
        m.observe(yh, pf.Bernoulli(logit=pf.exp(Xh @ w)))
        return m, data

    def two_arguments():
        m, data, Xh, yh, w = _base()
        m.observe(yh, pf.Normal(Xh @ w, pf.exp(m.param("log_s", prior=pf.Normal(0, 1)))))
        return m, data

    def bounded_argument():
        m, data, Xh, yh, w = _base()
        m.observe(yh, pf.Bernoulli(p=Xh @ w))
        return m, data

    msg = _refusal(bounded_argument)
    assert "argument 'p'" in msg and "a link" in msg and "engine='advi'" in msg
    msg = _refusal(nonlinear)
    assert "not linear" in msg and "X @ w + b" in msg and "engine='advi'" in msg
    msg = _refusal(two_arguments)
    assert "['loc', 'scale']" in msg and "engine='advi'" in msg


def test_refuses_priors_it_cannot_integrate():
    def hierarchical():
        m, data, Xh, yh, _ = _base()
        mu = m.param("mu", prior=pf.Normal(0.0, 1.0))
        v = m.param("v", ("p",), prior=pf.Normal(mu, 1.0))
        m.observe(yh, pf.Bernoulli(logit=Xh @ v))
        return m, data

    def elastic_net():
        m, data, Xh, yh, w = _base(pf.ElasticNet(l1=1.0, l2=1.0))
        m.observe(yh, pf.Bernoulli(logit=Xh @ w))
        return m, data

    def improper():
        m, data, Xh, yh, w = _base()
        m.param("c")
        m.observe(yh, pf.Bernoulli(logit=Xh @ w))
        return m, data

    msg = _refusal(hierarchical)
    assert "prior Normal(loc=mu" in msg and "hierarchical" in msg and "engine='advi'" in msg
    msg = _refusal(elastic_net)
    assert "ElasticNet" in msg and "param 'w'" in msg and "engine='advi'" in msg
    assert "'c' enters neither the linear predictor nor a prior" in _refusal(improper)


def test_refuses_other_methods_and_bad_options():
    m, data = logistic(n=30)
    with pytest.raises(EngineError, match="cannot fit method='map'"):
        m.fit(data, method="map", engine="quadrature")
    for bad in ({"family": "diag"}, {"nodes": 1}, {"optimizer": "adam"},
                {"family": "fullrank", "optimizer": "newton"}, {"optimizer": "fixed-point"},
                {"tol": 0.0}):
        with pytest.raises(EngineError):
            m.fit(data, method="vi", engine="quadrature", **bad)
    assert pf.engines.refusal("quadrature", m.compile(data, "vi")) is None
    assert m.fit(data, method="vi").engine == "advi"  # ADVI stays the default


def test_cli_fits_by_quadrature(tmp_path, run_cli):
    import json

    _, data, mean, _, _, _ = linear_known_noise()
    csv = tmp_path / "d.csv"
    rows = ["X_1,X_2,X_3,y"] + [",".join(repr(float(v)) for v in [*x, y])
                                for x, y in zip(data["X"], data["y"], strict=True)]
    csv.write_text("\n".join(rows) + "\n")
    spec = tmp_path / "blr.yaml"
    spec.write_text("name: blr\ndata: {X: {dims: [n, p]}, y: {dims: [n]}}\n"
                    "params:\n  w: {dims: [p], prior: {dist: Normal, args: {loc: 0, scale: 2}}}\n"
                    "  b: {prior: {dist: Normal, args: {loc: 1, scale: 2}}}\n"
                    "observe: [{data: y, dist: Normal, args: {loc: 'X @ w + b', scale: 0.8}}]\n")
    r = run_cli("fit", str(spec), "--data", str(csv), "--method", "vi", "--engine",
                "quadrature", "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    out = json.loads((tmp_path / "out" / "fit.json").read_text())
    assert out["engine"] == "quadrature" and out["uncertainty_kind"] == "VI posterior sd"
    assert out["converged"]
    np.testing.assert_allclose([*out["params"]["w"], out["params"]["b"]], mean, atol=1e-10)
