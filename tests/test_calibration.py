"""Calibration: scores against hand computations and properties, PIT/coverage under a true model."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import probfit as pf
from probfit.diagnostics.scores import binary_scores, pav
from probfit.errors import DataError


def test_binary_scores_by_hand():
    p = np.array([0.1, 0.4, 0.35, 0.8])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    s = binary_scores(p, y, n_bins=2)
    assert s["brier"] == pytest.approx(np.mean((p - y) ** 2))
    # bins [0, .5): p = .1 .4 .35 -> mean .28333, y mean 1/3; [.5, 1]: p .8, y 1
    assert s["ece_binned"] == pytest.approx(0.75 * abs(0.85 / 3 - 1 / 3) + 0.25 * 0.2)
    assert s["mce_binned"] == pytest.approx(0.2)
    # PAV of y sorted by p (.1, .35, .4, .8) -> (0, 1, 0, 1) -> (0, .5, .5, 1)
    np.testing.assert_allclose(pav(p, y), [0.0, 0.5, 0.5, 1.0])
    assert s["ece_pav"] == pytest.approx(np.mean(np.abs(p - [0.0, 0.5, 0.5, 1.0])))
    assert s["uncertainty"] == pytest.approx(0.25)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 1.0), st.booleans()), min_size=2, max_size=60))
def test_corp_decomposition_is_exact(pairs):
    p = np.array([a for a, _ in pairs])
    y = np.array([float(b) for _, b in pairs])
    s = binary_scores(p, y)
    assert s["brier"] == pytest.approx(s["reliability"] - s["resolution"] + s["uncertainty"],
                                       abs=1e-12)
    assert s["reliability"] >= -1e-12 and s["resolution"] >= -1e-12
    assert 0.0 <= s["ece_pav"] <= s["mce_pav"] + 1e-15 <= 1.0 + 1e-15
    assert 0.0 <= s["ece_binned"] <= s["mce_binned"] + 1e-15


def test_perfectly_calibrated_forecasts_score_well():
    rng = np.random.default_rng(0)
    p = rng.random(20000)
    y = (rng.random(20000) < p).astype(float)
    s = binary_scores(p, y)
    assert s["ece_binned"] < 0.02 and s["ece_pav"] < 0.02
    assert s["brier"] == pytest.approx(np.mean(p * (1 - p)), abs=0.005)


def _normal_model():
    m = pf.Model("lin")
    Xh, yh = m.data("X", dims=("n", "p")), m.data("y", dims=("n",))
    w = m.param("w", dims=("p",))
    s = m.param("s", support="positive")
    m.observe(yh, pf.Normal(Xh @ w, s))
    return m


def test_continuous_calibration_of_a_correct_model():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 2))
    y = X @ [1.0, -2.0] + rng.normal(size=300)
    fit = _normal_model().fit({"X": X, "y": y})
    cal = pf.calibration(fit, n_draws=200, seed=2)
    assert cal.kind == "continuous"
    for level in (50, 80, 95):
        assert cal.metrics[f"coverage_{level}"] == pytest.approx(level / 100, abs=0.07)
    assert cal.metrics["pit_pvalue"] > 0.01 and cal.metrics["loo_pit_pvalue"] > 0.01
    assert cal.metrics["log_score"] == pytest.approx(-0.5 * np.log(2 * np.pi) - 0.5, abs=0.15)


def test_misspecified_scale_is_detected():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 2))
    fit = _normal_model().fit({"X": X, "y": X @ [1.0, -2.0] + rng.normal(size=300)})
    wide = {"X": X, "y": X @ [1.0, -2.0] + 3.0 * rng.normal(size=300)}
    cal = pf.calibration(fit, wide, n_draws=100)
    assert cal.metrics["coverage_50"] < 0.3
    assert cal.metrics["pit_pvalue"] < 1e-3


def test_binary_calibration_and_pava_plot():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 2))
    y = (rng.random(200) < 1 / (1 + np.exp(-X @ [1.5, -1.0]))).astype(float)
    m = pf.Model("logit")
    Xh, yh = m.data("X", dims=("n", "p")), m.data("y", dims=("n",))
    w = m.param("w", dims=("p",), prior=pf.Normal(0, 2))
    m.observe(yh, pf.Bernoulli(logit=Xh @ w))
    fit = m.fit({"X": X, "y": y}, method="map")
    cal = pf.calibration(fit, n_draws=100)
    assert set(cal.metrics) >= {"brier", "reliability", "resolution", "uncertainty",
                                "ece_binned", "mce_binned", "ece_pav", "mce_pav", "log_score"}
    assert cal.metrics["ece_pav"] < 0.1
    p = fit.predict()
    assert cal.metrics["brier"] == pytest.approx(np.mean((p - y) ** 2), rel=0.05)
    fig = cal.plot()
    assert fig.axes and "pava" in fig._suptitle.get_text()
    plt.close(fig)
    assert "Calibration of y (binary" in str(cal)


def test_count_calibration_rootogram_and_categorical():
    rng = np.random.default_rng(5)
    m = pf.Model("pois")
    yh = m.data("y", dims=("n",))
    lam = m.param("lam", support="positive")
    m.observe(yh, pf.Poisson(rate=lam))
    y = rng.poisson(4.0, size=400).astype(float)
    cal = pf.calibration(m.fit({"y": y}), n_draws=60)
    assert cal.kind == "count"
    np.testing.assert_array_equal(cal.curve["observed"][: int(y.max()) + 1],
                                  np.bincount(y.astype(int)))
    assert cal.curve["expected"].sum() == pytest.approx(400, rel=0.01)
    assert cal.metrics["pit_pvalue"] > 0.01
    fig = cal.plot()
    plt.close(fig)

    c = pf.Model("cat")
    yc = c.data("y", dims=("n",), kind="integer")
    logits = c.param("logits", dims=("k",))
    c.observe(yc, pf.Categorical(logits=pf.prepend_zero(logits)))
    yv = rng.choice(3, size=300, p=[0.2, 0.3, 0.5]).astype(float)
    cfit = c.fit({"y": yv}, dims={"k": 2})
    ccal = pf.calibration(cfit, n_draws=50)
    assert ccal.kind == "categorical"
    freq = np.bincount(yv.astype(int)) / 300
    assert ccal.metrics["brier"] == pytest.approx(1 - np.sum(freq**2), abs=0.01)
    assert ccal.metrics["brier"] == pytest.approx(
        ccal.metrics["reliability"] - ccal.metrics["resolution"] + ccal.metrics["uncertainty"])


def test_calibration_errors():
    rng = np.random.default_rng(6)
    fit = _normal_model().fit({"X": rng.normal(size=(20, 2)), "y": rng.normal(size=20)})
    with pytest.raises(DataError, match="not an observed variable"):
        pf.calibration(fit, var="z")
    with pytest.raises(DataError, match="observed values"):
        pf.calibration(fit, {"X": np.ones((4, 2))})
