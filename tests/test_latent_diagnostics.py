"""Diagnostics of latent-variable fits: known answers computed by hand from the estimates.

* the pointwise log-likelihood is the marginal ``log Σ_j π_j p_j(y_n)`` per row;
* PIT values are the mixture CDF ``Σ_j π_j F_j(y)`` (per coordinate for multivariate rows);
* a one-component mixture gives the plain model's plug-in diagnostics;
* the convergence report's gradient is the central-difference gradient of the marginal
  objective.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import central_diff, rel_err
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import logsumexp

import probfit as pf
from probfit.diagnostics.draws import posterior_draws
from probfit.errors import DataError
from probfit.latent.marginal import MarginalObjective


def normal_mixture() -> pf.Model:
    m = pf.Model("nmix")
    y = m.data("y", dims=("n",))
    w = m.param("w", dims=("k",), support="simplex")
    mu = m.param("mu", dims=("k",))
    sigma = m.param("sigma", dims=("k",), support="positive")
    z = m.latent("z", pf.Categorical(probs=w), dims=("n",))
    m.observe(y, pf.Normal(mu[z], sigma[z]))
    return m


def gmm() -> pf.Model:
    m = pf.Model("gmm")
    x = m.data("x", dims=("n", "d"))
    pi = m.param("pi", dims=("k",), prior=pf.Dirichlet(1.0))
    mu = m.param("mu", dims=("k", "d"))
    cov = m.param("cov", dims=("k", "d", "d"))
    z = m.latent("z", pf.Categorical(probs=pi), dims=("n",))
    m.observe(x, pf.MultivariateNormal(mu[z], cov[z]))
    return m


@pytest.fixture(scope="module")
def y1d() -> np.ndarray:
    rng = np.random.default_rng(3)
    z = rng.random(300) < 0.3
    return np.where(z, rng.normal(-2.0, 0.7, 300), rng.normal(2.0, 1.2, 300))


@pytest.fixture(scope="module")
def fit1d(y1d):
    return normal_mixture().fit({"y": y1d}, k=2, n_init=2, seed=0)


@pytest.fixture(scope="module")
def faithful() -> dict[str, np.ndarray]:
    ds = pf.datasets.load("faithful")
    return {"x": np.column_stack([ds["eruptions"], ds["waiting"]])}


@pytest.fixture(scope="module")
def faithful_fits(faithful):
    m = gmm()
    return (m.fit(faithful, engine="em", k=2, n_init=3, seed=0),
            m.fit(faithful, engine="lbfgs", k=2, seed=1),
            m.fit(faithful, engine="em", k=3, n_init=3, seed=0))


def by_hand(fit, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(log π_j + log N(y_n | μ_j, σ_j)) (n, k)`` and the mixture CDF at ``y``."""
    w, mu, sd = fit.params["w"], fit.params["mu"], fit.params["sigma"]
    terms = np.log(w) + stats.norm.logpdf(y[:, None], mu, sd)
    cdf = np.sum(w * stats.norm.cdf(y[:, None], mu, sd), axis=1)
    return terms, cdf


def test_pointwise_loglik_is_the_marginal_logsumexp(fit1d, y1d) -> None:
    tree = fit1d.to_arviz(n_draws=5)
    terms, _ = by_hand(fit1d, y1d)
    ll = tree.log_likelihood["y"].values
    assert ll.shape == (1, 5, y1d.size)
    np.testing.assert_allclose(ll[0, 3], logsumexp(terms, axis=1), rtol=1e-12)
    assert np.sum(ll[0, 0]) == pytest.approx(fit1d.loglik, rel=1e-12)
    new = np.array([-3.0, 0.1, 4.0])
    tree = fit1d.to_arviz({"y": new}, n_draws=2)
    np.testing.assert_allclose(tree.log_likelihood["y"].values[0, 1],
                               logsumexp(by_hand(fit1d, new)[0], axis=1), rtol=1e-12)


def test_arviz_export_observes_the_data_not_the_latent(fit1d, y1d) -> None:
    tree = fit1d.to_arviz(n_draws=4)
    assert list(tree.observed_data.data_vars) == ["y"]
    assert "z" not in tree.posterior_predictive.data_vars
    assert tree.attrs["approximation"] == "point" and tree.attrs["latent"] == "z"
    np.testing.assert_allclose(tree.posterior["mu"].values[0, 2], fit1d.params["mu"])
    resp = tree.responsibilities
    assert resp["z"].dims == ("n", "k")
    np.testing.assert_allclose(resp["z"].values, fit1d.responsibilities, atol=1e-12)
    np.testing.assert_allclose(resp["weights"].values[7], fit1d.params["w"], rtol=1e-12)
    assert "responsibilities" not in fit1d.to_arviz(n_draws=2, responsibilities=False).children
    with pytest.raises(DataError, match="'z' is the latent"):
        pf.Fit.to_arviz(fit1d, {"y": y1d, "z": np.zeros(y1d.size)})
    with pytest.raises(DataError, match=r"lacks \['y'\]"):
        fit1d.to_arviz({"x": y1d})
    draws = posterior_draws(fit1d, 10)
    assert draws.kind == "point" and draws.n_draws == 1 and draws.lp_approx is None
    assert draws.lp[0] == pytest.approx(-MarginalObjective(fit1d.problem).evaluate(
        fit1d.theta, 0)[0] + sum(float(s.bijector.log_det(fit1d.theta[s.slice]))
                                 for s in fit1d.objective.layout))


def test_mixture_cov_dims_are_distinct_for_xarray(faithful_fits) -> None:
    tree = faithful_fits[0].to_arviz(n_draws=3)
    assert tree.posterior["cov"].dims == ("chain", "draw", "k", "d", "d_1")
    assert tree.posterior_predictive["x"].shape == (1, 3, 272, 2)
    assert tree.log_likelihood["x"].dims == ("chain", "draw", "n")


def test_posterior_predictive_draws_the_plug_in_mixture(fit1d) -> None:
    tree = fit1d.to_arviz(n_draws=400, seed=5)
    draws = tree.posterior_predictive["y"].values.ravel()
    w, mu, sd = fit1d.params["w"], fit1d.params["mu"], fit1d.params["sigma"]
    mean = float(np.sum(w * mu))
    var = float(np.sum(w * (sd**2 + mu**2)) - mean**2)
    se = np.sqrt(var / draws.size)
    assert abs(np.mean(draws) - mean) < 4 * se
    # share of the draws below the midpoint = the mixture CDF there (not the responsibilities)
    mid = float(np.mean(mu))
    p = float(np.sum(w * stats.norm.cdf(mid, mu, sd)))
    assert abs(np.mean(draws < mid) - p) < 4 * np.sqrt(p * (1 - p) / draws.size)


def test_calibration_is_the_mixture_pit(fit1d, y1d) -> None:
    cal = pf.calibration(fit1d)
    _, cdf = by_hand(fit1d, y1d)
    np.testing.assert_allclose(cal.curve["pit"], cdf, rtol=1e-12)
    for level in (0.5, 0.8, 0.95):
        assert cal.metrics[f"coverage_{round(level * 100)}"] == pytest.approx(
            np.mean(np.abs(cdf - 0.5) <= level / 2))
    assert cal.metrics["log_score"] == pytest.approx(fit1d.loglik / y1d.size, rel=1e-12)
    assert cal.kind == "continuous" and cal.var == "y" and cal.default_plot == "pit"
    assert cal.metrics["pit_pvalue"] > 0.01  # the data are a two-component mixture
    assert "pit check of y" in cal.plot().get_suptitle()


def test_multivariate_pit_is_per_coordinate(faithful_fits, faithful) -> None:
    fit = faithful_fits[0]
    cal = pf.calibration(fit)
    pi, mu, cov = fit.params["pi"], fit.params["mu"], fit.params["cov"]
    x = faithful["x"]
    sd = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    cdf = np.sum(pi[None, :, None] * stats.norm.cdf(x[:, None, :], mu, sd), axis=1)
    np.testing.assert_allclose(cal.curve["pit"], cdf.ravel(), rtol=1e-12)
    assert cal.metrics["log_score"] == pytest.approx(fit.loglik / len(x), rel=1e-12)


def test_one_component_mixture_reduces_to_the_plain_model(y1d) -> None:
    # a simplex needs k >= 2, so the single component is two identical ones: p(y) = N(y|μ, σ)
    one = pf.Model("one")
    yy = one.data("y", dims=("n",))
    w = one.param("w", dims=("k",), support="simplex")
    zz = one.latent("z", pf.Categorical(probs=w), dims=("n",))
    one.observe(yy, pf.Normal(one.param("mu"), one.param("sigma", support="positive")))
    mix = one.fit({"y": y1d}, k=2, reg_covar=0.0, seed=0)
    assert zz.name == "z"
    m = pf.Model("plain")
    y = m.data("y", dims=("n",))
    mu = m.param("mu")
    sigma = m.param("sigma", support="positive")
    m.observe(y, pf.Normal(mu, sigma))
    plain = m.fit({"y": y1d})
    assert mix.params["mu"] == pytest.approx(plain.params["mu"], rel=1e-7)
    assert mix.params["sigma"] == pytest.approx(plain.params["sigma"], rel=1e-7)
    r_mix, r_plain = pf.residuals(mix), pf.residuals(plain)
    np.testing.assert_allclose(r_mix.quantile, r_plain.quantile, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(r_mix.pearson, r_plain.pearson, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(r_mix.fitted, r_plain.fitted, rtol=1e-8)
    ll_plain = stats.norm.logpdf(y1d, plain.params["mu"], plain.params["sigma"])
    tree = mix.to_arviz(n_draws=2)
    np.testing.assert_allclose(tree.log_likelihood["y"].values[0, 0], ll_plain, rtol=1e-7)
    assert pf.calibration(mix).metrics["log_score"] == pytest.approx(np.mean(ll_plain),
                                                                     rel=1e-8)
    assert r_mix.leverage is None and r_mix.deviance is None


def test_convergence_report_uses_the_marginal_objective(fit1d) -> None:
    report = pf.convergence_report(fit1d)
    mo = MarginalObjective(fit1d.problem)
    g = central_diff(lambda t: mo.evaluate(t, 0)[0], fit1d.theta)
    assert rel_err([report.grad_norm], [np.linalg.norm(g)]) < 1e-5
    assert report.grad_norm < 1e-2  # EM stops on the objective's relative change (1e-10)
    assert report.em_monotone is True and report.hessian_pd is None
    assert report.condition_number is None and report.pareto_k is None and report.ok
    early = normal_mixture().fit({"y": fit1d.objective.data["y"]}, k=2, seed=0, max_iter=2)
    bad = pf.convergence_report(early)
    assert not bad.converged and bad.grad_norm > 10 * report.grad_norm
    assert any("did not converge" in n for n in bad.notes)
    lbfgs = normal_mixture().fit({"y": fit1d.objective.data["y"]}, engine="lbfgs", k=2,
                                 seed=0)
    rep = pf.convergence_report(lbfgs)
    assert rep.em_monotone is None and rep.grad_norm < 1e-3


def test_count_mixture_calibration_and_rootogram() -> None:
    rng = np.random.default_rng(2)
    z = rng.random(400) < 0.4
    counts = rng.poisson(np.where(z, 2.0, 9.0))
    m = pf.Model("pmix")
    c = m.data("c", dims=("n",), kind="integer")
    w = m.param("w", dims=("k",), support="simplex")
    lam = m.param("lam", dims=("k",), support="positive")
    zz = m.latent("z", pf.Categorical(probs=w), dims=("n",))
    m.observe(c, pf.Poisson(rate=lam[zz]))
    fit = m.fit({"c": counts}, k=2, seed=0)
    cal = pf.calibration(fit)
    wt, lm = fit.params["w"], fit.params["lam"]
    k = cal.curve["k"]
    expected = counts.size * np.sum(wt * stats.poisson.pmf(k[:, None], lm), axis=1)
    np.testing.assert_allclose(cal.curve["expected"], expected, rtol=1e-10)
    hi = np.sum(wt * stats.poisson.cdf(counts[:, None], lm), axis=1)
    lo = np.sum(wt * stats.poisson.cdf(counts[:, None] - 1, lm), axis=1)
    assert np.all((cal.curve["pit"] >= lo - 1e-12) & (cal.curve["pit"] <= hi + 1e-12))
    assert cal.metrics["log_score"] == pytest.approx(fit.loglik / counts.size, rel=1e-12)
    assert pf.residuals(fit).quantile.shape == counts.shape


def test_compare_mixture_fits_on_old_faithful(faithful_fits, tmp_path) -> None:
    em2, lb2, em3 = faithful_fits
    report = pf.compare([em2, lb2, em3], labels=["EM k=2", "L-BFGS k=2", "EM k=3"])
    tables = report.tables()
    scores = dict((r[0], r[1:]) for r in tables["Predictive scores (training data)"][1])
    assert scores["components k"] == ["2", "2", "3"]
    assert scores["BIC (train)"][0] == scores["BIC (train)"][1]
    bic = [float(v) for v in scores["BIC (train)"]]
    assert bic == pytest.approx([em2.bic, lb2.bic, em3.bic], rel=1e-3)
    assert bic[0] < bic[2]  # BIC prefers two components on Old Faithful
    s = report.scores()
    assert s["EM k=2"]["log_score"] == pytest.approx(s["L-BFGS k=2"]["log_score"], rel=1e-6)
    assert s["EM k=2"]["log_score"] == pytest.approx(em2.loglik / 272, rel=1e-12)
    for row in report.rows:  # components lined up across EM and L-BFGS
        cells = row["fits"]
        component = row["param"].split("[")[1].split(",")[0].rstrip("]")
        if component == "2":
            assert set(cells) == {"EM k=3"}
        else:
            assert cells["EM k=2"]["estimate"] == pytest.approx(
                cells["L-BFGS k=2"]["estimate"], rel=1e-3, abs=1e-3)
    params = next(r for r in tables["Parameters"][1] if r[0] == "mu[2,0]")
    assert params[1] == "-" and params[-3] != "-"
    notes = " ".join(report.all_notes())
    assert "plug-in mixture predictive" in notes and "no standard errors" in notes
    assert "different numbers of components" in notes
    conv = dict((r[0], r[1:]) for r in tables["Convergence"][1])
    assert conv["EM monotone"][0] == "yes" and conv["EM monotone"][1] == "-"
    assert "Hessian PD" not in conv
    out = report.to_html(tmp_path / "faithful.html")
    text = out.read_text()
    # forest, calibration, components, one residual figure per fit, traces
    assert text.count('src="data:image/png;base64,') == 7
    assert 'alt="components"' in text and 'alt="mixresiduals_EM k=3"' in text
    assert "Quantile residuals under the plug-in mixture predictive." in text


def test_compare_scores_held_out_rows(faithful_fits, faithful) -> None:
    em2 = faithful_fits[0]
    test = {"x": faithful["x"][::2]}
    report = pf.compare([em2], test=test)
    terms = report.entries[0].calibration.metrics["log_score"]
    tree = em2.to_arviz(test, n_draws=1)
    assert terms == pytest.approx(float(np.mean(tree.log_likelihood["x"].values)), rel=1e-12)
    assert report.scored_on == "held-out test data"


def test_cli_fits_a_mixture_spec_with_k(tmp_path, faithful_fits, faithful, run_cli) -> None:
    csv = tmp_path / "faithful.csv"
    csv.write_text("x_1,x_2\n" + "\n".join(f"{a},{b}" for a, b in faithful["x"]) + "\n")
    out = tmp_path / "out"
    r = run_cli("fit", "specs/gaussian_mixture.yaml", "--data", str(csv), "--k", "2",
                "--out", str(out), "--draws", "5")
    assert r.returncode == 0, r.stderr
    assert "EM monotone       yes" in r.stdout and "Hessian" not in r.stdout
    saved = json.loads((out / "fit.json").read_text())
    assert saved["loglik"] == pytest.approx(faithful_fits[0].loglik, rel=1e-8)
    assert saved["convergence"]["hessian_pd"] is None


def test_compare_a_plain_model_with_a_mixture(fit1d, y1d) -> None:
    m = pf.Model("plain")
    y = m.data("y", dims=("n",))
    m.observe(y, pf.Normal(m.param("mu"), m.param("sigma", support="positive")))
    plain = m.fit({"y": y1d})
    report = pf.compare([plain, fit1d], labels=["one normal", "mixture"], n_draws=100)
    rows = {r["param"]: r["fits"] for r in report.rows}
    assert rows["mu"]["one normal"]["uncertainty"] == pytest.approx(plain.se["mu"])
    assert "uncertainty" not in rows["mu[0]"]["mixture"]
    scores = report.scores()
    assert scores["mixture"]["log_score"] > scores["one normal"]["log_score"]
    assert scores["one normal"]["loo_elpd"] < fit1d.loglik
    table = dict((r[0], r[1:]) for r in report.tables()["Predictive scores (training data)"][1])
    assert table["components k"] == ["-", "2"]
    assert float(table["BIC (train)"][1]) < float(table["BIC (train)"][0])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-8.0, 8.0), min_size=1, max_size=20))
def test_mixture_quantities_on_any_rows(fit1d, values) -> None:
    from probfit.diagnostics.mixture import bind_observed, marginal_loglik, mixture_predictive

    y = np.sort(np.asarray(values))
    bound = bind_observed(fit1d, {"y": y})
    terms, cdf = by_hand(fit1d, y)
    np.testing.assert_allclose(marginal_loglik(fit1d, bound), logsumexp(terms, axis=1),
                               rtol=1e-12, atol=1e-12)
    mp = mixture_predictive(fit1d, bound)
    pit = mp.cdf(y)
    np.testing.assert_allclose(pit, cdf, rtol=1e-12, atol=1e-15)
    assert np.all(np.diff(pit) >= 0) and np.all((pit >= 0) & (pit <= 1))


def test_component_perm_matches_components_across_k(faithful_fits) -> None:
    from probfit.diagnostics.mixture_checks import component_perm

    em2, lb2, em3 = faithful_fits
    perm, _ = pf.align_components(lb2, {"mu": em2.params["mu"]})
    np.testing.assert_array_equal(component_perm(lb2, em2), perm)
    p3 = component_perm(em3, em2)
    assert sorted(p3.tolist()) == [0, 1, 2]
    np.testing.assert_allclose(em3.params["mu"][p3[:2]], em2.params["mu"], rtol=0.1)
    np.testing.assert_array_equal(component_perm(em2, em3), [0, 1])  # fewer: unchanged
