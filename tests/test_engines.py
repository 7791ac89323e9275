"""Engines: known answers, agreement on convex models, L1 handling, histories."""

from __future__ import annotations

import numpy as np
import pytest

import probfit as pf

CONVEX = ["logistic", "probit", "poisson", "linear_regression", "multinomial_logistic"]


@pytest.mark.parametrize("spec", [*CONVEX, "gamma", "negative_binomial", "robust_regression"])
@pytest.mark.parametrize("method", ["mle", "map"])
def test_newton_and_lbfgs_reach_the_same_optimum(spec, method, spec_data):
    m = pf.Model.from_spec(f"specs/{spec}.yaml")
    data, dims = spec_data[spec]
    a = m.fit(data, method=method, engine="newton", dims=dims)
    b = m.fit(data, method=method, engine="lbfgs", dims=dims)
    assert a.converged and b.converged, (a.message, b.message)
    obj = a.objective
    assert obj.total(b.theta) - obj.total(a.theta) <= 1e-8 * max(1.0, abs(obj.total(a.theta)))
    for name in a.params:
        np.testing.assert_allclose(b.params[name], a.params[name], rtol=2e-5, atol=2e-5 *
                                   np.max(a.se[name]))


def test_newton_ols_closed_form():
    rng = np.random.default_rng(1)
    X = np.column_stack([np.ones(80), rng.normal(size=(80, 2))])
    y = X @ [1.0, 2.0, -1.0] + rng.normal(size=80)
    m = pf.Model("ols")
    Xh, yh = m.data("X", ("n", "p")), m.data("y", ("n",))
    w, s = m.param("w", ("p",)), m.param("s", support="positive")
    m.observe(yh, pf.Normal(Xh @ w, s))
    fit = m.fit({"X": X, "y": y})
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    sigma_ml = np.sqrt(resid @ resid / 80)
    np.testing.assert_allclose(fit.params["w"], beta, rtol=1e-10)
    assert fit.params["s"] == pytest.approx(sigma_ml, rel=1e-10)
    # Wald SE at the joint MLE: sigma_ml^2 (X'X)^-1; SE of sigma: sigma/sqrt(2n)
    np.testing.assert_allclose(fit.se["w"], np.sqrt(np.diag(sigma_ml**2 *
                                                            np.linalg.inv(X.T @ X))), rtol=1e-8)
    assert fit.se["s"] == pytest.approx(sigma_ml / np.sqrt(160), rel=1e-8)
    assert fit.n_iter <= 10


def test_ridge_map_closed_form():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 4))
    y = X @ [1.0, 0.0, -2.0, 0.5] + rng.normal(size=50)
    tau = 0.5
    m = pf.Model("ridge")
    Xh, yh = m.data("X", ("n", "p")), m.data("y", ("n",))
    w = m.param("w", ("p",), prior=pf.Normal(0.0, tau))
    m.observe(yh, pf.Normal(Xh @ w, 1.0))
    for engine in ("newton", "lbfgs"):
        fit = m.fit({"X": X, "y": y}, method="map", engine=engine)
        a = X.T @ X + np.eye(4) / tau**2
        np.testing.assert_allclose(fit.params["w"], np.linalg.solve(a, X.T @ y), rtol=1e-7)
        if engine == "newton":
            assert fit.uncertainty_kind == "Laplace posterior sd"
            np.testing.assert_allclose(fit.se["w"], np.sqrt(np.diag(np.linalg.inv(a))),
                                       rtol=1e-8)


def test_lasso_map_lbfgs_exact_zeros_and_kkt():
    rng = np.random.default_rng(3)
    n, p = 200, 6
    X = rng.normal(size=(n, p))
    y = X @ np.array([2.0, -1.5, 0, 0, 0, 0]) + rng.normal(size=n)
    b = 0.02
    m = pf.Model("lasso")
    Xh, yh = m.data("X", ("n", "p")), m.data("y", ("n",))
    w = m.param("w", ("p",), prior=pf.Laplace(0.0, b))
    m.observe(yh, pf.Normal(Xh @ w, 1.0))
    fit = m.fit({"X": X, "y": y}, method="map", engine="lbfgs")
    wh = fit.params["w"]
    zero = wh == 0.0
    assert zero.sum() >= 2 and not zero[:2].any()
    g = -(X.T @ (y - X @ wh))  # gradient of the smooth part
    lam = 1.0 / b
    assert np.all(np.abs(g[zero]) <= lam * (1 + 1e-6))
    np.testing.assert_allclose(g[~zero], -lam * np.sign(wh[~zero]), rtol=1e-5, atol=1e-4)
    assert fit.se is None and "L1" in fit.se_note


def test_history_and_iterations_recorded():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(100, 2))
    y = (rng.random(100) < 1 / (1 + np.exp(-X @ [1.0, -1.0]))).astype(float)
    m = pf.Model("h")
    Xh, yh = m.data("X", ("n", "p")), m.data("y", ("n",))
    m.observe(yh, pf.Bernoulli(logit=Xh @ m.param("w", ("p",))))
    fit = m.fit({"X": X, "y": y})
    h = fit.history
    assert len(h) == fit.n_iter + 1
    assert set(h.columns) >= {"objective", "grad_norm", "step_norm"}
    assert np.all(np.diff(h["objective"]) <= 1e-12)
    assert h["grad_norm"][-1] < 1e-6
    lb = m.fit({"X": X, "y": y}, engine="lbfgs")
    assert len(lb.history) == lb.n_iter + 1


def test_max_iter_reports_non_convergence():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(100, 2))
    y = rng.poisson(np.exp(X @ [1.0, -1.0])).astype(float)
    m = pf.Model("p")
    Xh, yh = m.data("X", ("n", "p")), m.data("y", ("n",))
    m.observe(yh, pf.Poisson(log_rate=Xh @ m.param("w", ("p",))))
    fit = m.fit({"X": X, "y": y}, max_iter=1)
    assert not fit.converged and "max_iter" in fit.message
    assert "WARNING" in str(fit.summary())


def test_uniform_prior_bounds_the_parameter():
    rng = np.random.default_rng(6)
    y = rng.normal(0.3, 1.0, size=50)
    m = pf.Model("u")
    yh = m.data("y", ("n",))
    mu = m.param("mu", prior=pf.Uniform(-1.0, 0.0))
    m.observe(yh, pf.Normal(mu, 1.0))
    fit = m.fit({"y": y}, method="map")
    assert -1.0 < fit.params["mu"] < 0.0
    assert m.param_decls["mu"].support.name == "interval"
    again = pf.Model.from_spec(m.to_spec())
    assert again.param_decls["mu"].support == m.param_decls["mu"].support
    np.testing.assert_array_equal(again.fit({"y": y}, method="map").theta, fit.theta)


def test_glm_newton_memory_is_order_np():
    """No n×n matrix and no data-sized copy of X: the design products run over blocks of
    rows, so a logistic Newton fit (with its separation check and standard errors) allocates
    less than one more X in all."""
    import tracemalloc

    rng = np.random.default_rng(7)
    n, p = 60_000, 50
    X = rng.normal(size=(n, p))
    y = (rng.random(n) < 1 / (1 + np.exp(-X @ np.linspace(-1, 1, p)))).astype(float)
    m = pf.Model("big")
    Xh, yh = m.data("X", ("n", "p")), m.data("y", ("n",))
    m.observe(yh, pf.Bernoulli(logit=Xh @ m.param("w", ("p",)) + m.param("b")))
    tracemalloc.start()
    fit = m.fit({"X": X, "y": y})
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert fit.converged
    assert peak < X.nbytes, peak / X.nbytes
