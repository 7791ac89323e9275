"""ArviZ export: groups, shapes, dims/coords, Laplace draws, LOO, netCDF round trip."""

from __future__ import annotations

import warnings

import arviz_stats as azs
import numpy as np
import pytest
import xarray as xr
from scipy import stats

import probfit as pf
from probfit.diagnostics.draws import log_target, posterior_draws
from probfit.errors import DataError


def _logistic(seed=0, n=120):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ [1.0, -0.5] + 0.3)))).astype(float)
    m = pf.Model("logit")
    Xh, yh = m.data("X", dims=("n", "p")), m.data("y", dims=("n",))
    w = m.param("w", dims=("p",), prior=pf.Normal(0.0, 1.0))
    b = m.param("b")
    m.observe(yh, pf.Bernoulli(logit=Xh @ w + b))
    return m, {"X": X, "y": y}


@pytest.fixture(scope="module")
def logistic_map():
    m, data = _logistic()
    return m.fit(data, method="map", coords={"p": ["age", "dose"]})


@pytest.fixture(scope="module")
def tree(logistic_map):
    return logistic_map.to_arviz(n_draws=300, seed=1)


def test_groups_shapes_dims_and_coords(tree, logistic_map):
    for g in ("posterior", "posterior_predictive", "log_likelihood", "observed_data",
              "constant_data", "sample_stats", "optimizer_trace"):
        assert g in tree.children, g
    post = tree.posterior
    assert post["w"].dims == ("chain", "draw", "p") and post["w"].shape == (1, 300, 2)
    assert list(post["p"].values) == ["age", "dose"]
    assert post["b"].shape == (1, 300)
    assert tree.posterior_predictive["y"].shape == (1, 300, 120)
    assert tree.log_likelihood["y"].dims == ("chain", "draw", "n")
    np.testing.assert_array_equal(tree.observed_data["y"].values, logistic_map.objective.data["y"])
    assert tree.constant_data["X"].dims == ("n", "p")
    assert set(tree.sample_stats.data_vars) == {"lp", "lp_approx"}
    assert post.attrs["estimate_w"] == pytest.approx(list(logistic_map.params["w"]))
    assert tree.attrs["method"] == "map" and tree.attrs["approximation"] == "laplace"
    assert len(tree.optimizer_trace["objective"]) == len(logistic_map.history)


def test_posterior_predictive_are_draws_of_y_not_probabilities(tree):
    values = np.unique(tree.posterior_predictive["y"].values)
    assert set(values) <= {0, 1} and len(values) == 2


def test_pointwise_loglik_matches_objective(tree, logistic_map):
    theta0 = np.concatenate([tree.posterior["w"].values[0, 0], [tree.posterior["b"].values[0, 0]]])
    expected = logistic_map.objective.loglik(theta0, pointwise=True)["y"]
    np.testing.assert_allclose(tree.log_likelihood["y"].values[0, 0], expected, rtol=1e-12)


def test_laplace_draws_have_the_fit_covariance(logistic_map):
    d = posterior_draws(logistic_map, 4000, seed=3)
    cov = np.cov(d.theta.T)
    np.testing.assert_allclose(cov, logistic_map.cov, rtol=0.1, atol=2e-3)
    np.testing.assert_allclose(d.theta.mean(0), logistic_map.theta, atol=0.03)
    lq = stats.multivariate_normal(logistic_map.theta, logistic_map.cov).logpdf(d.theta[:5])
    np.testing.assert_allclose(d.lp_approx[:5], lq, rtol=1e-10)


def test_lp_is_log_posterior_with_jacobian_for_constrained_params():
    rng = np.random.default_rng(2)
    y = rng.normal(1.0, 2.0, size=50)
    m = pf.Model("normal")
    yh = m.data("y", dims=("n",))
    mu = m.param("mu", prior=pf.Normal(0.0, 10.0))
    s = m.param("s", prior=pf.HalfNormal(5.0))
    m.observe(yh, pf.Normal(mu, s))
    fit = m.fit({"y": y}, method="map")
    theta = fit.theta + np.array([0.1, -0.2])
    mu_v, s_v = theta[0], np.exp(theta[1])
    want = (stats.norm(mu_v, s_v).logpdf(y).sum() + stats.norm(0, 10).logpdf(mu_v)
            + stats.halfnorm(scale=5).logpdf(s_v) + theta[1])
    assert log_target(fit.objective, theta) == pytest.approx(want, rel=1e-12)


def test_loo_approximate_posterior_runs_and_is_close_to_plain_loo(tree):
    stats_ = tree.sample_stats
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Pareto k̂ advice for a few rows
        res = azs.loo_approximate_posterior(tree, stats_["lp"], stats_["lp_approx"])
        plain = azs.loo(tree)
    assert np.isfinite(res.elpd)
    assert res.elpd == pytest.approx(plain.elpd, abs=1.0)


def test_netcdf_round_trip(tree, tmp_path):
    path = tmp_path / "fit.nc"
    tree.to_netcdf(path, engine="h5netcdf")
    back = xr.open_datatree(path, engine="h5netcdf")
    for g in tree.children:
        xr.testing.assert_identical(back[g].to_dataset().load(), tree[g].to_dataset())
    assert back.attrs["model"] == "logit"


def test_scalar_model_and_count_response_dtype():
    rng = np.random.default_rng(4)
    m = pf.Model("pois")
    yh = m.data("y", dims=("n",))
    lam = m.param("lam", support="positive")
    m.observe(yh, pf.Poisson(rate=lam))
    fit = m.fit({"y": rng.poisson(3.0, size=40).astype(float)})
    t = fit.to_arviz(n_draws=50)
    assert t.observed_data["y"].dtype.kind == "i"
    assert t.posterior_predictive["y"].dtype.kind == "i"
    assert np.all(t.posterior["lam"].values > 0)


def test_errors():
    m, data = _logistic()
    fit = m.fit(data)
    with pytest.raises(DataError, match="observed"):
        fit.to_arviz({"X": data["X"]})
    with pytest.raises(pf.ProbfitError, match="n_draws"):
        posterior_draws(fit, 0)
