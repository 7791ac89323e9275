"""Residuals (closed forms), leverage/Cook's distance, convergence reports and pf.simulate."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import probfit as pf
from probfit.diagnostics.convergence import kkt_violation
from probfit.diagnostics.draws import posterior_draws
from probfit.errors import DataError


def _glm(family, X, y, prior=None):
    m = pf.Model(family)
    Xh, yh = m.data("X", dims=("n", "p")), m.data("y", dims=("n",))
    w = m.param("w", dims=("p",), prior=prior)
    eta = Xh @ w
    if family == "normal":
        s = m.param("s", support="positive")
        m.observe(yh, pf.Normal(eta, s))
    elif family == "poisson":
        m.observe(yh, pf.Poisson(log_rate=eta))
    else:
        m.observe(yh, pf.Bernoulli(logit=eta))
    return m.fit({"X": X, "y": y}, method="map" if prior is not None else "mle")


@pytest.fixture(scope="module")
def design():
    rng = np.random.default_rng(0)
    return np.column_stack([np.ones(80), rng.normal(size=(80, 2))]), rng


def test_linear_model_leverage_cooks_and_residuals(design):
    X, rng = design
    y = X @ [1.0, 2.0, -1.0] + rng.normal(size=80)
    fit = _glm("normal", X, y)
    r = pf.residuals(fit)
    hat = np.diag(X @ np.linalg.solve(X.T @ X, X.T))
    np.testing.assert_allclose(r.leverage, hat, atol=1e-9)
    e = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    np.testing.assert_allclose(r.response, e, atol=1e-8)
    sigma = float(fit.params["s"])
    np.testing.assert_allclose(r.pearson, e / sigma, rtol=1e-7)
    np.testing.assert_allclose(r.quantile, e / sigma, rtol=1e-6)
    np.testing.assert_allclose(r.deviance, e, atol=1e-8)
    cooks = e**2 / (3 * sigma**2) * hat / (1 - hat) ** 2
    np.testing.assert_allclose(r.cooks, cooks, rtol=1e-7)


def test_logistic_leverage_is_the_weighted_hat_matrix(design):
    X, rng = design
    y = (rng.random(80) < 1 / (1 + np.exp(-X @ [0.2, 1.0, -1.0]))).astype(float)
    fit = _glm("bernoulli", X, y)
    r = pf.residuals(fit)
    p = fit.predict()
    a = X * np.sqrt(p * (1 - p))[:, None]
    hat = np.diag(a @ np.linalg.solve(a.T @ a, a.T))
    np.testing.assert_allclose(r.leverage, hat, rtol=1e-6)
    assert r.leverage.sum() == pytest.approx(3.0, rel=1e-6)
    dev = -2 * (y * np.log(p) + (1 - y) * np.log(1 - p))
    np.testing.assert_allclose(r.deviance, np.sign(y - p) * np.sqrt(dev), rtol=1e-9)
    np.testing.assert_allclose(r.pearson, (y - p) / np.sqrt(p * (1 - p)), rtol=1e-9)
    lo = np.where(y == 1, 1 - p, 0.0)
    hi = np.where(y == 1, 1.0, 1 - p)
    u = stats.norm.cdf(r.quantile)
    assert np.all((u >= lo - 1e-9) & (u <= hi + 1e-9))


def test_quantile_residuals_are_normal_under_the_true_model(design):
    _, rng = design
    X = np.column_stack([np.ones(3000), rng.normal(size=3000)])
    y = rng.poisson(np.exp(X @ [1.0, 0.3])).astype(float)
    r = pf.residuals(_glm("poisson", X, y))
    assert stats.kstest(r.quantile, "norm").pvalue > 0.01
    assert r.leverage.sum() == pytest.approx(2.0, rel=1e-6)


def test_residual_plot_and_errors(design):
    import matplotlib

    matplotlib.use("Agg")
    X, rng = design
    fit = _glm("normal", X, X @ [1.0, 2.0, -1.0] + rng.normal(size=80))
    fig = pf.residuals(fit).plot()
    assert len(fig.axes) == 3
    with pytest.raises(DataError, match="not an observed variable"):
        pf.residuals(fit, var="nope")


def test_convergence_report_smooth_fit(design):
    X, rng = design
    fit = _glm("normal", X, X @ [1.0, 2.0, -1.0] + rng.normal(size=80))
    rep = pf.convergence_report(fit, posterior_draws(fit, 300))
    assert rep.converged and rep.hessian_pd and rep.ok
    assert rep.grad_norm < 1e-6
    eig = np.linalg.eigvalsh(fit.objective.hess(fit.theta))
    assert rep.condition_number == pytest.approx(eig[-1] / eig[0])
    assert rep.pareto_k is not None and rep.pareto_k < 0.7
    assert "Hessian PD" in str(rep) and rep.kkt_violation is None


def test_convergence_report_flags_an_unconverged_fit(design):
    X, rng = design
    y = (rng.random(80) < 0.5).astype(float)
    m = pf.Model("b")
    Xh, yh = m.data("X", dims=("n", "p")), m.data("y", dims=("n",))
    w = m.param("w", dims=("p",))
    m.observe(yh, pf.Bernoulli(logit=Xh @ w))
    fit = m.fit({"X": X, "y": y}, engine="lbfgs", max_iter=2)
    rep = pf.convergence_report(fit)
    assert not rep.converged and not rep.ok
    assert rep.grad_norm == pytest.approx(np.linalg.norm(fit.objective.grad(fit.theta)))


def test_kkt_violation_of_a_lasso_fit(design):
    X, rng = design
    y = X @ [0.0, 1.5, 0.0] + rng.normal(size=80)
    m = pf.Model("lasso")
    Xh, yh = m.data("X", dims=("n", "p")), m.data("y", dims=("n",))
    w = m.param("w", dims=("p",), prior=pf.Laplace(0.0, 0.05))
    m.observe(yh, pf.Normal(Xh @ w, 1.0))
    fit = m.fit({"X": X, "y": y}, method="map", engine="lbfgs")
    rep = pf.convergence_report(fit)
    assert rep.kkt_violation is not None and rep.kkt_violation < 1e-3
    moved = fit.theta + np.array([0.0, 0.0, 0.3])
    assert kkt_violation(fit.objective, moved) > 1.0


def test_simulate_recovers_parameters_and_is_reproducible():
    rng = np.random.default_rng(1)
    m = pf.Model("pois")
    Xh, yh = m.data("X", dims=("n", "p")), m.data("y", dims=("n",))
    w = m.param("w", dims=("p",))
    b = m.param("b")
    m.observe(yh, pf.Poisson(log_rate=Xh @ w + b))
    X = rng.normal(size=(4000, 2))
    params = {"w": [0.5, -0.3], "b": 1.0}
    data = pf.simulate(m, params, seed=3, data={"X": X})
    again = pf.simulate(m, params, seed=3, data={"X": X})
    np.testing.assert_array_equal(data["y"], again["y"])
    fit = m.fit(data)
    z = (fit.params["w"] - np.array(params["w"])) / fit.se["w"]
    assert np.all(np.abs(z) < 4)


@settings(max_examples=15, deadline=None)
@given(st.floats(-5, 5), st.floats(0.1, 5), st.integers(0, 2**31))
def test_simulate_normal_without_covariates(mu, sigma, seed):
    m = pf.Model("n")
    yh = m.data("y", dims=("n",))
    m.observe(yh, pf.Normal(m.param("mu"), m.param("s", support="positive")))
    y = pf.simulate(m, {"mu": mu, "s": sigma}, dims={"n": 4000}, seed=seed)["y"]
    assert y.shape == (4000,)
    assert abs(y.mean() - mu) < 5 * sigma / np.sqrt(4000)
    assert abs(y.std() / sigma - 1) < 0.1


def test_simulate_errors():
    m = pf.Model("n")
    yh = m.data("y", dims=("n",))
    xh = m.data("x", dims=("n",))
    m.observe(yh, pf.Normal(m.param("mu") * xh, m.param("s", support="positive")))
    with pytest.raises(DataError, match="missing data"):
        pf.simulate(m, {"mu": 0.0, "s": 1.0}, dims={"n": 3})
    with pytest.raises(DataError, match="missing"):
        pf.simulate(m, {"mu": 0.0}, data={"x": np.ones(3)})
    with pytest.raises(DataError, match="outside its support"):
        pf.simulate(m, {"mu": 0.0, "s": -1.0}, data={"x": np.ones(3)})
    with pytest.raises(DataError, match="simulate draws them"):
        pf.simulate(m, {"mu": 0.0, "s": 1.0}, data={"x": np.ones(3), "y": np.ones(3)})
