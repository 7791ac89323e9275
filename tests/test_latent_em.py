"""Latent variables and the EM engine: enumeration, references, guarantees and the Fit surface.

Reference numbers (scikit-learn GaussianMixture) come from ``tests/reference/gmm_reference.json``,
made by ``tests/reference/make_gmm_reference.py`` (see ``tests/reference/README.md``).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import central_diff, rel_err
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import softmax

import probfit as pf
from probfit.engines import em as em_module
from probfit.errors import ConvergenceError, ConvergenceWarning, DataError, EngineError, SpecError
from probfit.latent.problem import LatentProblem

REF = json.loads((Path(__file__).parent / "reference" / "gmm_reference.json").read_text())


def gmm(shared_cov: bool = False, prior: bool = False) -> pf.Model:
    m = pf.Model("gmm")
    x = m.data("x", dims=("n", "d"))
    pi = m.param("pi", dims=("k",), prior=pf.Dirichlet(1.0))
    mu = m.param("mu", dims=("k", "d"), prior=pf.Normal(0.0, 10.0) if prior else None)
    if shared_cov:
        cov = m.param("cov", dims=("d", "d"))
        z = m.latent("z", pf.Categorical(probs=pi), dims=("n",))
        m.observe(x, pf.MultivariateNormal(mu[z], cov))
    else:
        cov = m.param("cov", dims=("k", "d", "d"))
        z = m.latent("z", pf.Categorical(probs=pi), dims=("n",))
        m.observe(x, pf.MultivariateNormal(mu[z], cov[z]))
    return m


def poisson_mixture(closed_form: bool = True) -> pf.Model:
    m = pf.Model("pmix")
    c = m.data("c", dims=("n",), kind="integer")
    w = m.param("w", dims=("k",), support="simplex")
    z = m.latent("z", pf.Categorical(probs=w), dims=("n",))
    if closed_form:
        lam = m.param("lam", dims=("k",), support="positive")
        m.observe(c, pf.Poisson(rate=lam[z]))
    else:
        eta = m.param("eta", dims=("k",))
        m.observe(c, pf.Poisson(log_rate=eta[z]))
    return m


SEPARATED = np.array(REF["separated"]["x"])


def faithful() -> np.ndarray:
    ds = pf.datasets.load("faithful")
    return np.column_stack([ds["eruptions"], ds["waiting"]])


# ---------------------------------------------------------------------------- declaring
def test_latent_spec_round_trip_through_yaml() -> None:
    m = gmm()
    spec = m.to_spec()
    assert "latents" in spec.to_dict() and spec.latents["z"].dist == "Categorical"
    again = pf.load_spec(spec.to_dict())
    assert again == spec
    assert pf.Model.from_spec(pf.ModelSpec.model_validate(
        __import__("yaml").safe_load(spec.to_yaml()))).to_spec() == spec
    # a covariance parameter declared without support becomes SPD (Cholesky bijector)
    assert spec.params["cov"].support == "spd"


def test_bad_latent_declarations_name_the_latent() -> None:
    m = pf.Model("bad")
    m.data("x", dims=("n",))
    w = m.param("w", dims=("k",), support="simplex")
    with pytest.raises(SpecError, match=r"'z'.*Categorical and Bernoulli"):
        m.latent("z", pf.Normal(0.0, 1.0), dims=("n",))
    with pytest.raises(SpecError, match=r"'z'.*one dim"):
        m.latent("z", pf.Categorical(probs=w), dims=("n", "m"))
    with pytest.raises(SpecError, match=r"'z'.*probfit distribution"):
        m.latent("z", "Categorical", dims=("n",))


def test_latent_models_are_refused_by_other_engines_and_vice_versa() -> None:
    m = gmm()
    with pytest.raises(EngineError, match=r"newton cannot fit .*latent 'z'.*engine='em'"):
        m.fit({"x": SEPARATED}, engine="newton", k=3)
    with pytest.raises(SpecError, match="latent"):
        m.compile({"x": SEPARATED})
    plain = pf.Model("plain")
    y = plain.data("y", dims=("n",))
    plain.observe(y, pf.Normal(plain.param("mu"), 1.0))
    with pytest.raises(EngineError, match="em fits models with a discrete latent"):
        plain.fit({"y": np.zeros(3)}, engine="em")


def test_latent_passed_as_data_or_wrong_k_is_an_error() -> None:
    m = gmm()
    with pytest.raises(DataError, match="'z' is a latent"):
        m.fit({"x": SEPARATED, "z": np.zeros(len(SEPARATED))}, k=3)
    with pytest.raises(SpecError, match="k=3 disagrees"):
        m.fit({"x": SEPARATED}, k=3, dims={"k": 2})
    with pytest.raises(SpecError, match="covariance must be one of"):
        m.fit({"x": SEPARATED}, k=3, covariance="banded")
    with pytest.raises(SpecError, match="shared"):
        gmm(shared_cov=True).fit({"x": SEPARATED}, k=3, covariance="diag")


# ---------------------------------------------------------------------------- enumeration
def test_enumeration_loglik_q_gradient_and_hessian_are_exact() -> None:
    rng = np.random.default_rng(3)
    x = SEPARATED[::10]
    p = LatentProblem(gmm(prior=True), {"x": x}, "map", k=3)
    cov = np.array([[[1.0, 0.2], [0.2, 0.7]], np.eye(2) * 0.8, [[0.6, -0.1], [-0.1, 0.9]]])
    values = {"pi": np.array([0.5, 0.3, 0.2]), "mu": np.array([[0.0, 0.0], [6, 0], [0, 7.0]]),
              "cov": cov}
    theta = p.objective.layout.pack(values) + 0.05 * rng.normal(size=p.objective.size)
    v = p.objective.unpack(theta)
    comp = np.stack([np.log(v["pi"][j]) + stats.multivariate_normal(v["mu"][j], v["cov"][j])
                     .logpdf(x) for j in range(3)], axis=1)
    np.testing.assert_allclose(p.joint(theta), comp, rtol=1e-12, atol=1e-12)
    resp = softmax(comp, axis=1)
    _q, g, h = p.q_evaluate(theta, resp, 2)
    assert rel_err(g, central_diff(lambda t: p.q_evaluate(t, resp, 0)[0], theta)) <= 1e-6
    assert rel_err(h, central_diff(lambda t: p.q_evaluate(t, resp, 1)[1], theta)) <= 1e-6
    # Fisher's identity: at r = p(z | x, θ) the Q gradient is the marginal gradient
    marginal = central_diff(lambda t: -p.loglik(t) - p.log_prior(t), theta)
    assert rel_err(g, marginal) <= 1e-6


# ---------------------------------------------------------------------------- references
@pytest.mark.parametrize("cov", ["full", "diag", "spherical", "tied"])
def test_matches_scikit_learn_on_well_separated_data(cov: str) -> None:
    ref = REF["separated"]["fits"][cov]
    fit = gmm().fit({"x": SEPARATED}, k=3, covariance=cov, seed=0, n_init=2)
    assert fit.converged
    assert abs(fit.loglik - ref["loglik"]) <= 1e-6 * abs(ref["loglik"])
    assert abs(fit.bic - ref["bic"]) <= 1e-6 * abs(ref["bic"])
    _perm, params = pf.align_components(fit, {"mu": np.array(ref["means"])})
    np.testing.assert_allclose(params["mu"], ref["means"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(params["pi"], ref["weights"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(params["cov"], ref["covariances"], rtol=1e-4, atol=1e-5)


def test_tied_covariance_by_declaration_equals_the_option() -> None:
    ref = REF["separated"]["fits"]["tied"]
    fit = gmm(shared_cov=True).fit({"x": SEPARATED}, k=3, seed=0)
    assert abs(fit.loglik - ref["loglik"]) <= 1e-6 * abs(ref["loglik"])
    assert fit.n_params == 2 + 6 + 3


def test_matches_scikit_learn_on_old_faithful() -> None:
    ref = REF["faithful"]["fits"]["full"]
    fit = gmm().fit({"x": faithful()}, method="mle", engine="em", k=2, n_init=5, seed=0)
    assert abs(fit.loglik - ref["loglik"]) <= 1e-6 * abs(ref["loglik"])
    _, params = pf.align_components(fit, {"mu": np.array(ref["means"])})
    np.testing.assert_allclose(params["mu"], ref["means"], rtol=1e-5)
    np.testing.assert_allclose(params["pi"], ref["weights"], rtol=1e-5)
    np.testing.assert_allclose(params["cov"], ref["covariances"], rtol=1e-4)


# ---------------------------------------------------------------------------- recovery
def test_recovers_simulated_parameters() -> None:
    rng = np.random.default_rng(7)
    true_mu = np.array([[-4.0, 0.0, 1.0], [4.0, 1.0, 0.0], [0.0, 6.0, -3.0]])
    true_w = np.array([0.5, 0.3, 0.2])
    z = rng.choice(3, size=3000, p=true_w)
    x = true_mu[z] + rng.normal(size=(3000, 3)) @ np.diag([1.0, 0.5, 0.8])
    fit = gmm().fit({"x": x}, k=3, seed=1)
    _, p = pf.align_components(fit, {"mu": true_mu})
    np.testing.assert_allclose(p["mu"], true_mu, atol=0.1)
    np.testing.assert_allclose(p["pi"], true_w, atol=0.03)
    np.testing.assert_allclose(p["cov"], np.broadcast_to(np.diag([1.0, 0.25, 0.64]),
                                                         (3, 3, 3)), atol=0.1)


def test_poisson_bernoulli_and_categorical_components() -> None:
    rng = np.random.default_rng(11)
    n = 1500
    z = rng.choice(2, size=n, p=[0.35, 0.65])
    counts = rng.poisson(np.array([2.0, 10.0])[z])
    fit = poisson_mixture().fit({"c": counts}, k=2, seed=0)
    _, p = pf.align_components(fit, {"lam": np.array([2.0, 10.0])})
    np.testing.assert_allclose(p["lam"], [2.0, 10.0], rtol=0.1)
    np.testing.assert_allclose(p["w"], [0.35, 0.65], atol=0.04)
    # latent-class model: binary items and a categorical answer per class
    probs = np.array([[0.9, 0.8, 0.1, 0.2], [0.1, 0.3, 0.8, 0.9]])
    items = (rng.random((n, 4)) < probs[z]).astype(float)
    cat_p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    answer = np.array([rng.choice(3, p=cat_p[j]) for j in z], dtype=float)
    m = pf.Model("lca")
    y = m.data("y", dims=("n", "j"), kind="integer")
    a = m.data("a", dims=("n",), kind="integer")
    w = m.param("w", dims=("k",), support="simplex")
    p_item = m.param("p", dims=("k", "j"), support="unit_interval")
    logits = m.param("logits", dims=("k", "c"))
    zz = m.latent("z", pf.Categorical(probs=w), dims=("n",))
    m.observe(y, pf.Bernoulli(p=p_item[zz]))
    m.observe(a, pf.Categorical(logits=logits[zz]))
    fit = m.fit({"y": items, "a": answer}, k=2, dims={"c": 3}, seed=0)
    assert set(fit.closed_form) == {"w", "p", "logits"} and fit.generalized == ()
    _, p = pf.align_components(fit, {"p": probs})
    np.testing.assert_allclose(p["p"], probs, atol=0.05)
    np.testing.assert_allclose(softmax(p["logits"], axis=1), cat_p, atol=0.05)


def test_generalized_m_step_agrees_with_the_closed_form() -> None:
    rng = np.random.default_rng(5)
    counts = rng.poisson(np.where(rng.random(400) < 0.4, 1.5, 9.0))
    closed = poisson_mixture(True).fit({"c": counts}, k=2, seed=0)
    generic = poisson_mixture(False).fit({"c": counts}, k=2, seed=0)
    assert generic.generalized == ("eta",) and "lam" in closed.closed_form
    assert abs(generic.loglik - closed.loglik) <= 1e-6 * abs(closed.loglik)
    np.testing.assert_allclose(np.sort(np.exp(generic.params["eta"])),
                               np.sort(closed.params["lam"]), rtol=1e-4)
    assert np.all(np.diff(-generic.history["objective"]) >= -1e-10 * abs(generic.loglik))


def test_map_em_is_a_stationary_point_of_the_log_posterior() -> None:
    x = SEPARATED[::3]
    m = gmm(prior=True)
    m.param_decls["pi"].prior = pf.Dirichlet(np.array([5.0, 5.0, 5.0]))
    fit = m.fit({"x": x}, method="map", k=3, seed=0, reg_covar=0.0)
    assert fit.log_prior != 0.0 and "mu" in fit.generalized and "pi" in fit.closed_form
    trace = -fit.history["objective"]
    assert np.all(np.diff(trace) >= -1e-10 * np.abs(trace[1:]))
    p = fit.problem
    _, g, _ = p.q_evaluate(fit.theta, fit.responsibilities, 1)
    assert np.linalg.norm(g) <= 1e-3


def test_bernoulli_latent_with_normal_components_and_shared_scale() -> None:
    rng = np.random.default_rng(2)
    z = rng.random(800) < 0.3
    y = np.where(z, 5.0, 0.0) + rng.normal(size=800)
    m = pf.Model("two")
    yy = m.data("y", dims=("n",))
    w = m.param("w", support="unit_interval")
    mu = m.param("mu", dims=("k",))
    sd = m.param("sd", support="positive")
    zz = m.latent("z", pf.Bernoulli(p=w), dims=("n",))
    m.observe(yy, pf.Normal(mu[zz], sd))
    fit = m.fit({"y": y}, dims={"k": 2}, seed=0)
    assert fit.k == 2 and set(fit.closed_form) == {"w", "mu", "sd"}
    high = int(np.argmax(fit.params["mu"]))  # labels may come out swapped
    np.testing.assert_allclose(np.sort(fit.params["mu"]), [0.0, 5.0], atol=0.15)
    np.testing.assert_allclose(fit.weights[high], 0.3, atol=0.04)
    assert fit.weights[1] == pytest.approx(float(fit.params["w"]))
    np.testing.assert_allclose(fit.params["sd"], 1.0, atol=0.06)


# ---------------------------------------------------------------------------- guarantees
def test_loglik_is_recorded_and_never_decreases() -> None:
    fit = gmm().fit({"x": faithful()}, k=2, seed=3)
    trace = fit.loglik_trace
    assert len(trace) == fit.n_iter + 1 and trace[-1] == pytest.approx(fit.loglik)
    obj = -fit.history["objective"]
    assert np.all(np.diff(obj) >= -1e-10 * np.abs(obj[1:]))


def test_a_decrease_raises(monkeypatch) -> None:
    real_mstep = em_module._Run.mstep

    def worse(self, theta, resp):
        out = real_mstep(self, theta, resp)
        slot = self.p.objective.layout["mu"]
        out[slot.slice] += 0.5
        return out

    monkeypatch.setattr(em_module._Run, "mstep", worse)
    with pytest.raises(ConvergenceError, match=r"decreased.*bug"):
        gmm().fit({"x": SEPARATED}, k=3, seed=0)


def test_seeded_restarts_are_reproducible_and_keep_the_best() -> None:
    x = faithful()
    a = gmm().fit({"x": x}, k=3, seed=42, n_init=3)
    b = gmm().fit({"x": x}, k=3, seed=42, n_init=3)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert len(a.restarts) == 3
    assert -a.history["objective"][-1] == pytest.approx(max(-r["objective"]
                                                            for r in a.restarts))


def test_empty_or_collapsing_components_are_reported_by_name() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) + 8.0,
                        [[40.0, -40.0]]])
    with pytest.warns(ConvergenceWarning, match=r"component \d of latent 'z' \(mu\[\d\], "
                                                r"cov\[\d\]\) is collapsing"):
        fit = gmm().fit({"x": x}, k=3, seed=0)
    assert fit.collapsed and "collapsing" in fit.summary().text


# ---------------------------------------------------------------------------- Fit surface
def test_fit_surface_predict_sample_and_information_criteria() -> None:
    x = SEPARATED
    fit = gmm().fit({"x": x}, k=3, seed=0)
    r = fit.responsibilities
    assert r.shape == (len(x), 3) and np.allclose(r.sum(1), 1.0)
    np.testing.assert_allclose(fit.predict_proba(), r, atol=1e-12)
    new = {"x": np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 7.0]])}
    assert sorted(fit.predict(new)) == [0, 1, 2]
    assert fit.predict_proba(new).shape == (3, 3)
    k_free = 2 + 6 + 9
    assert fit.n_params == k_free
    assert fit.aic == pytest.approx(-2 * fit.loglik + 2 * k_free)
    assert fit.bic == pytest.approx(-2 * fit.loglik + k_free * np.log(len(x)))
    draws = fit.sample(20000, rng=0)
    assert draws["x"].shape == (20000, 2) and draws["z"].shape == (20000,)
    np.testing.assert_allclose(np.bincount(draws["z"], minlength=3) / 20000, fit.weights,
                               atol=0.015)
    np.testing.assert_allclose(fit.weights, fit.params["pi"])
    pred = fit.sample_predictive(rng=3)
    assert pred.shape == x.shape and np.all(np.isfinite(pred))
    with pytest.raises(DataError, match="fitted rows"):
        fit.sample_predictive(size=3)
    text = fit.summary().text
    assert "reg_covar=1e-06" in text and "component sizes" in text
    with pytest.raises(DataError, match="observed variables"):
        fit.predict({})


def test_match_components_undoes_a_permutation() -> None:
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(5, 3))
    perm = rng.permutation(5)
    est = np.empty_like(ref)
    est[perm] = ref + 1e-3
    found = pf.match_components(est, ref)
    np.testing.assert_array_equal(found, perm)
    np.testing.assert_allclose(est[found], ref + 1e-3)
    with pytest.raises(DataError, match="shape"):
        pf.match_components(est[:4], ref)


def test_em_options_are_validated() -> None:
    with pytest.raises(SpecError, match="n_init"):
        gmm().fit({"x": SEPARATED}, k=3, n_init=0)
    with pytest.raises(SpecError, match="reg_covar"):
        gmm().fit({"x": SEPARATED}, k=3, reg_covar=-1.0)
    with pytest.raises(EngineError, match="unknown option"):
        gmm().fit({"x": SEPARATED}, k=3, learning_rate=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = gmm().fit({"x": SEPARATED}, k=3, init={"pi": [0.4, 0.3, 0.3], "mu": [
            [0.0, 0.0], [6.0, 0.0], [0.0, 7.0]], "cov": np.broadcast_to(np.eye(2), (3, 2, 2))})
    assert fit.restarts[0]["start"] == "from init"


def test_mixture_sugar_equals_the_long_form() -> None:
    m = pf.Model("gmm")
    x = m.data("x", dims=("n", "d"))
    mu = m.param("mu", dims=("k", "d"))
    cov = m.param("cov", dims=("k", "d", "d"))
    mix = pf.Mixture(m, x, lambda z: pf.MultivariateNormal(mu[z], cov[z]), latent="z",
                     weights="pi", prior=pf.Dirichlet(1.0))
    assert mix.latent.name == "z" and mix.weights.name == "pi"
    long_form = gmm().to_spec().to_dict()
    short = m.to_spec().to_dict()
    assert short["latents"] == long_form["latents"] and short["observe"] == long_form["observe"]
    fit = m.fit({"x": faithful()}, k=2, seed=0)
    ref = REF["faithful"]["fits"]["full"]
    assert abs(fit.loglik - ref["loglik"]) <= 1e-6 * abs(ref["loglik"])
    with pytest.raises(SpecError, match="row dim"):
        pf.Mixture(pf.Model("e"), pf.Model("e").data("y"), lambda z: pf.Normal(0.0, 1.0))


def _regression_mixture(prior: bool) -> pf.Model:
    m = pf.Model("mreg")
    xx = m.data("X", dims=("n", "p"))
    one = m.data("one", dims=("p",))
    yy = m.data("y", dims=("n",))
    w = m.param("w", dims=("k",), support="simplex")
    wide = pf.Normal(0.0, 1e4) if prior else None
    beta = m.param("beta", dims=("k", "p"), prior=wide)
    b = m.param("b", dims=("k",), prior=wide)
    sd = m.param("sd", dims=("k",), support="positive")
    z = m.latent("z", pf.Categorical(probs=w), dims=("n",))
    m.observe(yy, pf.Normal((xx * beta[z]) @ one + b[z], sd[z]))
    return m


def test_mixture_of_regressions_closed_form_matches_the_generalized_step() -> None:
    rng = np.random.default_rng(0)
    n = 600
    x = rng.normal(size=(n, 2))
    z = (rng.random(n) < 0.4).astype(int)
    beta = np.array([[2.0, -1.0], [-1.5, 0.5]])
    y = np.einsum("np,np->n", x, beta[z]) + np.array([1.0, -2.0])[z] \
        + np.array([0.5, 1.0])[z] * rng.normal(size=n)
    data = {"X": x, "one": np.ones(2), "y": y}
    closed = _regression_mixture(False).fit(data, k=2, seed=0)
    assert set(closed.closed_form) == {"w", "beta", "b", "sd"}
    _, p = pf.align_components(closed, {"beta": beta})
    np.testing.assert_allclose(p["beta"], beta, atol=0.15)
    np.testing.assert_allclose(p["sd"], [0.5, 1.0], atol=0.1)
    # a very wide prior under MAP sends beta and b to the Newton M-step instead
    generic = _regression_mixture(True).fit(data, method="map", k=2, seed=0)
    assert set(generic.generalized) == {"beta", "b", "sd"}
    assert abs(generic.loglik - closed.loglik) <= 1e-6 * abs(closed.loglik)


def test_mixture_spec_file_loads_fits_and_round_trips(tmp_path: Path) -> None:
    m = pf.Model.from_spec("specs/gaussian_mixture.yaml")
    assert m.to_spec() == gmm().to_spec().model_copy(update={"name": "gaussian_mixture"})
    path = tmp_path / "gmm.yaml"
    path.write_text(m.to_spec().to_yaml())
    assert pf.load_spec(path) == m.to_spec()
    fit = m.fit({"x": faithful()}, k=2, seed=0)
    ref = REF["faithful"]["fits"]["full"]
    assert abs(fit.loglik - ref["loglik"]) <= 1e-6 * abs(ref["loglik"])
    bad = m.to_spec().to_dict()
    bad["latents"]["z"]["dist"] = "Normal"
    with pytest.raises(SpecError, match="latents"):
        pf.load_spec(bad)


@settings(max_examples=12, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), k=st.integers(2, 3), n=st.integers(30, 120),
       spread=st.floats(0.5, 6.0), shared=st.booleans())
def test_em_invariants_on_random_data(seed: int, k: int, n: int, spread: float,
                                      shared: bool) -> None:
    """Any data: a monotone trace, rows of memberships summing to 1, a consistent loglik."""
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n) + spread * rng.integers(0, 3, size=n)
    m = pf.Model("nmix")
    yy = m.data("y", dims=("n",))
    w = m.param("w", dims=("k",), support="simplex")
    mu = m.param("mu", dims=("k",))
    sd = m.param("sd", support="positive") if shared else m.param("sd", dims=("k",),
                                                                    support="positive")
    z = m.latent("z", pf.Categorical(probs=w), dims=("n",))
    m.observe(yy, pf.Normal(mu[z], sd if shared else sd[z]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = m.fit({"y": y}, k=k, seed=seed, max_iter=200, reg_covar=1e-3)
    obj = -fit.history["objective"]
    assert np.all(np.diff(obj) >= -1e-10 * np.maximum(1.0, np.abs(obj[:-1])))
    np.testing.assert_allclose(fit.responsibilities.sum(axis=1), 1.0, rtol=1e-12)
    assert fit.loglik == pytest.approx(fit.problem.loglik(fit.theta), rel=1e-12)
    np.testing.assert_allclose(fit.predict_proba(), fit.responsibilities, atol=1e-12)


def test_two_latents_bad_data_and_jacobian_map() -> None:
    m = pf.Model("two")
    x = m.data("x", dims=("n",))
    w = m.param("w", dims=("k",), support="simplex")
    mu = m.param("mu", dims=("k",))
    z1 = m.latent("z1", pf.Categorical(probs=w), dims=("n",))
    z2 = m.latent("z2", pf.Categorical(probs=w), dims=("n",))
    m.observe(x, pf.Normal(mu[z1] + mu[z2], 1.0))
    with pytest.raises(SpecError, match="2 latent variables; exactly one"):
        m.fit({"x": np.zeros(5)}, k=2)
    bad = SEPARATED.copy()
    bad[3, 1] = np.nan
    with pytest.raises(DataError, match=r"'x'.*row \(3, 1\)"):
        gmm().fit({"x": bad}, k=3)
    # Jacobian-adjusted MAP: every parameter goes through the generalized M-step
    rng = np.random.default_rng(5)
    counts = rng.poisson(np.where(rng.random(300) < 0.4, 1.5, 9.0))
    pm = poisson_mixture()
    pm.param_decls["lam"].prior = pf.Gamma(2.0, 0.5)
    fit = pm.fit({"c": counts}, method="map", jacobian=True, k=2, seed=0)
    assert fit.closed_form == () and set(fit.generalized) == {"w", "lam"} and fit.converged
    np.testing.assert_allclose(np.sort(fit.params["lam"]), [1.5, 9.0], rtol=0.15)


def test_lbfgs_on_the_marginal_likelihood_matches_em_and_scikit_learn() -> None:
    ref = REF["faithful"]["fits"]["full"]
    m = pf.Model.from_spec("specs/gaussian_mixture.yaml")
    fit = m.fit({"x": faithful()}, engine="lbfgs", k=2, seed=0)
    assert fit.engine == "lbfgs" and fit.converged
    assert abs(fit.loglik - ref["loglik"]) <= 1e-6 * abs(ref["loglik"])
    np.testing.assert_allclose(fit.responsibilities.sum(axis=1), 1.0)
    assert "marginal likelihood" in fit.summary().text
    from probfit.latent.marginal import MarginalObjective

    obj = MarginalObjective(fit.problem)
    theta = fit.theta + 0.01
    _, g, _ = obj.evaluate(theta, 1)
    assert rel_err(g, central_diff(lambda t: obj.evaluate(t, 0)[0], theta)) <= 1e-6
    with pytest.raises(EngineError, match="no exact Hessian"):
        obj.evaluate(theta, 2)
