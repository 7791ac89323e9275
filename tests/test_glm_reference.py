"""probfit against statsmodels GLM reference fits (tests/reference/glm_reference.json).

Coefficients must agree to 1e-6 relative and standard errors to 1e-5 relative; see
tests/reference/README.md for how the numbers were produced and what each SE means.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import probfit as pf

REF = json.loads((Path(__file__).parent / "reference" / "glm_reference.json").read_text())
CASES = REF["cases"]


def build(case: dict) -> tuple[pf.Model, dict]:
    """The probfit model and data of one reference case (X includes the intercept column)."""
    X = np.asarray(case["X"], dtype=float)
    y = np.asarray(case["y"], dtype=float)
    m = pf.Model(case["dataset"])
    Xh = m.data("X", dims=("n", "p"))
    yh = m.data("y", dims=("n",))
    w = m.param("w", dims=("p",))
    eta = Xh @ w
    data = {"X": X, "y": y}
    fam, link = case["family"], case["link"]
    if fam == "binomial" and case.get("trials") is not None:
        t = m.data("t", dims=("n",), kind="integer")
        m.observe(yh, pf.Binomial(t, **{link: eta}))
        data["t"] = np.asarray(case["trials"], dtype=float)
    elif fam == "binomial":
        m.observe(yh, pf.Bernoulli(**{link: eta}))
    elif fam == "poisson":
        m.observe(yh, pf.Poisson(log_rate=eta))
    elif fam == "gamma":
        k = m.param("k", support="positive")
        arg = {"inverse": "inverse_mean", "log": "log_mean"}[link]
        m.observe(yh, pf.Gamma(k, **{arg: eta}))
    else:
        raise AssertionError(fam)
    return m, data


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))


def assert_coef(got, want, se):
    """1e-6 relative; a coefficient that is exactly zero at the MLE (Dobson's treatment effects,
    zero up to rounding in the reference) has no relative scale and is judged as 1e-6 of its SE."""
    want, se = np.asarray(want), np.asarray(se)
    err = np.abs(np.asarray(got) - want)
    scale = np.where(np.abs(want) > 1e-10 * se, np.abs(want), se)
    assert np.all(err <= 1e-6 * scale), (got, want)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("engine", ["newton", "lbfgs"])
def test_matches_reference(name, engine):
    case = CASES[name]
    m, data = build(case)
    fit = m.fit(data, method="mle", engine=engine)
    assert fit.converged, fit.message
    assert_coef(fit.params["w"], case["coef"], case["se"])
    assert rel(fit.se["w"], case["se"]) <= 1e-5
    assert fit.loglik == pytest.approx(case["loglik"], rel=1e-9)
    assert fit.deviance == pytest.approx(case["deviance"], rel=1e-6)
    assert fit.aic == pytest.approx(case["aic"], rel=1e-9)
    assert fit.bic == pytest.approx(case["bic"], rel=1e-9)
    assert fit.n_params == case["n_params"]
    if case["family"] == "gamma":
        assert fit.params["k"] == pytest.approx(case["shape"], rel=1e-6)
        assert fit.se["k"] == pytest.approx(case["se_shape"], rel=1e-5)


@pytest.mark.parametrize("name", sorted(CASES))
def test_fisher_scoring_gives_expected_information_se(name):
    case = CASES[name]
    m, data = build(case)
    fit = m.fit(data, method="mle", engine="newton", hessian="expected")
    assert fit.converged
    assert fit.uncertainty_kind == "Wald SE (expected information)"
    assert_coef(fit.params["w"], case["coef"], case["se"])
    assert rel(fit.se["w"], case["se_expected"]) <= 1e-5
