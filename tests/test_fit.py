"""The Fit object: named estimates, intervals, summary, prediction."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import probfit as pf


@pytest.fixture(scope="module")
def poisson_fit():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(200, 2))
    y = rng.poisson(np.exp(0.3 + X @ [0.5, -0.25])).astype(float)
    m = pf.Model("counts")
    Xh, yh = m.data("X", ("n", "p")), m.data("y", ("n",))
    w, b = m.param("w", ("p",)), m.param("b")
    m.observe(yh, pf.Poisson(log_rate=Xh @ w + b))
    return m, {"X": X, "y": y}, m.fit({"X": X, "y": y}, coords={"p": ["age", "dose"]})


def test_named_params_and_shapes(poisson_fit):
    _, _, fit = poisson_fit
    assert fit.params["w"].shape == (2,) and fit.params["b"].shape == ()
    assert fit.dims == {"w": ("p",), "b": ()}
    assert fit.se["w"].shape == (2,)
    assert fit.converged and fit.method == "mle" and fit.engine == "newton"


def test_conf_int_levels(poisson_fit):
    _, _, fit = poisson_fit
    lo, hi = fit.conf_int(0.9)["w"]
    z = stats.norm.ppf(0.95)
    np.testing.assert_allclose(lo, fit.params["w"] - z * fit.se["w"])
    np.testing.assert_allclose(hi, fit.params["w"] + z * fit.se["w"])
    with pytest.raises(ValueError):
        fit.conf_int(1.5)


def test_summary_table(poisson_fit):
    _, _, fit = poisson_fit
    s = fit.summary()
    text = str(s)
    for needle in ("MLE", "newton", "Log-likelihood", "Deviance", "AIC", "BIC", "w[age]",
                   "w[dose]", "P>|z|", "Wald SE (observed information)", "y ~ Poisson(log_rate)"):
        assert needle in text
    row = s.rows[0]
    assert row["param"] == "w[age]"
    assert row["p"] == pytest.approx(2 * stats.norm.sf(abs(row["estimate"] / row["se"])))


def test_predict_and_sample(poisson_fit):
    _m, data, fit = poisson_fit
    mean = fit.predict()
    np.testing.assert_allclose(mean, np.exp(data["X"] @ fit.params["w"] + fit.params["b"]))
    new = {"X": np.array([[0.0, 0.0], [1.0, -1.0]])}
    np.testing.assert_allclose(fit.predict(new), np.exp(new["X"] @ fit.params["w"]
                                                        + fit.params["b"]))
    draws = fit.sample_predictive(new, rng=0, size=4000)
    assert draws.shape == (4000, 2)
    np.testing.assert_allclose(draws.mean(0), fit.predict(new), rtol=0.1)
    with pytest.raises(pf.DataError, match="dim 'p' is 3 in the new data"):
        fit.predict({"X": np.zeros((2, 3))})


def test_map_summary_labels_uncertainty(poisson_fit):
    _m, data, _ = poisson_fit
    mp = pf.Model("m")
    Xh, yh = mp.data("X", ("n", "p")), mp.data("y", ("n",))
    w = mp.param("w", ("p",), prior=pf.Normal(0.0, 0.1))
    mp.observe(yh, pf.Poisson(log_rate=Xh @ w + mp.param("b")))
    fit = mp.fit(data, method="map")
    assert fit.uncertainty_kind == "Laplace posterior sd"
    text = str(fit.summary())
    assert "Laplace posterior sd" in text and "Log-prior" in text
    assert "z" not in fit.summary().rows[0]


def test_positive_param_interval_stays_positive():
    rng = np.random.default_rng(2)
    y = rng.normal(1.0, 0.05, size=5)
    m = pf.Model("tiny")
    yh = m.data("y", ("n",))
    s = m.param("s", support="positive")
    m.observe(yh, pf.Normal(m.param("mu"), s))
    fit = m.fit({"y": y})
    lo, hi = fit.conf_int(0.999)["s"]
    assert 0 < lo < fit.params["s"] < hi
    assert "delta method" in str(fit.summary())


def test_coords_checked(poisson_fit):
    m, data, _ = poisson_fit
    with pytest.raises(pf.DataError, match="coords\\['p'\\] has 3 labels"):
        m.fit(data, coords={"p": ["a", "b", "c"]})
