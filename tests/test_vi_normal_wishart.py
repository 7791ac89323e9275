"""The Wishart distribution and CAVI for the full-covariance (Normal–Wishart) Gaussian mixture."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

import probfit as pf
from probfit.distributions.wishart import wishart_e_logdet, wishart_entropy
from probfit.engines.cavi import run_sweeps
from probfit.engines.cavi_normal_wishart import NormalWishartCAVI, cavi_normal_wishart
from probfit.errors import ConvergenceError, DistributionError, EngineError, SpecError
from probfit.latent.conjugacy import recognise_mixture
from probfit.latent.normal_wishart import NormalWishartPlan
from probfit.latent.problem import LatentProblem
from probfit.latent.vi import LatentVIFit

REF = json.loads((Path(__file__).parent / "reference" / "vi_nw_reference.json").read_text())

# ---------------------------------------------------------------------------- models


def nw_mixture(alpha0=1.0, nu0=4.0, w0=None, m0=(0.0, 0.0), beta0=0.5, mean_prior=None,
               component=None):
    """Dirichlet weights, Wishart precisions, mu | Lam ~ N(m0, (beta0 Lam)^-1)."""
    m = pf.Model("nw_mixture")
    x = m.data("x", dims=("n", "d"))
    pi = m.param("pi", dims=("k",), prior=pf.Dirichlet(alpha0))
    lam = m.param("Lam", dims=("k", "d", "d"),
                  prior=pf.Wishart(nu0, np.eye(2) if w0 is None else np.asarray(w0)))
    prior = mean_prior(lam) if mean_prior else pf.MultivariateNormal(np.asarray(m0),
                                                                     precision=beta0 * lam)
    mu = m.param("mu", dims=("k", "d"), prior=prior)
    z = m.latent("z", pf.Categorical(probs=pi), dims=("n",))
    m.observe(x, component(mu, lam, z) if component else
              pf.MultivariateNormal(mu[z], precision=lam[z]))
    return m


MEANS = np.array([[-3.0, 0.0], [3.0, 2.0]])
COVS = np.array([[[1.0, 0.5], [0.5, 1.0]], [[0.5, -0.2], [-0.2, 0.8]]])


def two_clusters(seed: int = 0, n0: int = 60, n1: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.vstack([rng.multivariate_normal(MEANS[0], COVS[0], n0),
                      rng.multivariate_normal(MEANS[1], COVS[1], n1)])


@pytest.fixture(scope="module")
def nw_fit() -> LatentVIFit:
    return nw_mixture().fit({"x": two_clusters()}, method="vi", engine="cavi", k=2,
                            n_draws=300)


# ---------------------------------------------------------------------------- Wishart


def test_wishart_expectations_match_scipy_and_monte_carlo():
    w = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]])
    nu, d = 5.5, 3
    logdet = np.linalg.slogdet(w)[1]
    assert wishart_entropy(logdet, nu, d) == pytest.approx(stats.wishart(nu, w).entropy(),
                                                           rel=1e-12)
    draws = pf.Wishart(nu, w).sample(3, size=40_000)
    assert draws.shape == (40_000, 3, 3)
    ld = np.linalg.slogdet(draws)[1]
    assert abs(ld.mean() - wishart_e_logdet(logdet, nu, d)) < 5.0 * ld.std() / 200.0
    # sampling moments: mean ν W (Bartlett draws are symmetric positive definite)
    se = np.sqrt(pf.Wishart(nu, w).variance() / draws.shape[0])
    assert np.all(np.abs(draws.mean(axis=0) - nu * w) <= 5.0 * se)
    assert np.allclose(draws, np.swapaxes(draws, -1, -2))
    assert np.all(np.linalg.eigvalsh(draws) > 0)


def test_wishart_batches_and_expected_curvature():
    w = np.stack([np.eye(2), np.array([[2.0, 0.5], [0.5, 1.0]])])
    dist = pf.Wishart(np.array([3.0, 6.0]), w)
    x = dist.sample(0)
    assert x.shape == (2, 2, 2) and dist.log_prob(x).shape == (2,)
    ref = [stats.wishart(nu, wk).logpdf(xk) for nu, wk, xk in zip([3.0, 6.0], w, x,
                                                                  strict=True)]
    assert np.allclose(dist.log_prob(x), ref, rtol=1e-12)
    # the second derivatives in (df, scale) are linear in X, so their expectation is their
    # value at the mean ν W
    wrt = ("df", "scale")
    at_mean = dist.d2logp(dist.mean(), {}, wrt)
    for key, h in dist.expected_d2logp({}, wrt).items():
        assert np.allclose(h, at_mean[key], rtol=1e-12, atol=1e-14), key
    mvn = pf.MultivariateNormal(np.array([1.0, -1.0]), precision=w[1])
    wrt = ("loc", "precision")
    at_mean = mvn.d2logp(mvn.mean(), {}, wrt)
    for key, h in mvn.expected_d2logp({}, wrt).items():
        assert np.allclose(h, at_mean[key], rtol=1e-12, atol=1e-14), key
    assert np.allclose(mvn.cov_of({}), np.linalg.inv(w[1]), rtol=1e-12)
    assert pf.Wishart(3.0, w[1]).log_prob(-np.eye(2)) == -np.inf


@pytest.mark.parametrize(("make", "name"), [
    (lambda: pf.Wishart(0.5, np.eye(2)), "'df'"),
    (lambda: pf.Wishart(-1.0, np.eye(2)), "'df'"),
    (lambda: pf.Wishart(3.0, np.array([[1.0, 2.0], [2.0, 1.0]])), "'scale'"),
    (lambda: pf.Wishart(3.0, np.ones(3)), "'scale'"),
    (lambda: pf.Wishart(3.0, 2.0), "'scale'"),
    (lambda: pf.MultivariateNormal(np.zeros(2), np.eye(2), precision=np.eye(2)), "'precision'"),
    (lambda: pf.MultivariateNormal(np.zeros(2), precision=-np.eye(2)), "'precision'"),
])
def test_bad_wishart_and_precision_arguments_are_named(make, name):
    with pytest.raises(DistributionError, match=name):
        make()


def test_a_wishart_prior_needs_square_matrix_dims():
    m = pf.Model("bad")
    with pytest.raises(SpecError, match=r"'Lam'.*square"):
        m.param("Lam", dims=("k", "d"), prior=pf.Wishart(3.0, np.eye(2)))


def test_the_declaration_round_trips_through_a_spec():
    model = nw_mixture(w0=[[1.0, 0.2], [0.2, 0.5]])
    back = pf.Model.from_spec(pf.load_spec(model.to_spec().to_dict()))
    assert back.to_spec() == model.to_spec()
    assert type(back.param_decls["Lam"].prior).__name__ == "Wishart"
    assert back.param_decls["Lam"].support.name == "spd"


def test_recognise_reads_per_component_priors():
    """Per-component Wishart scales (k, d, d) and df (k,) survive the complete-data spec."""
    w0 = np.stack([np.eye(2), np.array([[2.0, 0.5], [0.5, 1.0]])])
    model = nw_mixture(w0=w0, nu0=np.array([3.0, 5.0]), m0=(1.0, -1.0), beta0=0.25)
    plan = recognise_mixture(LatentProblem(model, {"x": two_clusters(n0=5, n1=5)}, "vi", k=2))
    assert isinstance(plan, NormalWishartPlan)
    assert (plan.weights, plan.means, plan.precisions) == ("pi", "mu", "Lam")
    assert np.array_equal(plan.w0, w0) and np.array_equal(plan.nu0, [3.0, 5.0])
    assert np.array_equal(plan.m0, [[1.0, -1.0]] * 2) and plan.beta0 == 0.25
    assert plan.p0 is None and plan.x.shape == (10, 2)


# ---------------------------------------------------------------------------- exact posterior


def test_one_component_q_is_the_exact_normal_wishart_posterior():
    """k = 1: q(mu, Lam) is the conjugate posterior and the ELBO the exact log evidence."""
    rng = np.random.default_rng(3)
    x = rng.multivariate_normal([1.0, -1.0], [[1.0, 0.6], [0.6, 2.0]], 30)
    m0, beta0, nu0 = np.array([0.5, 0.0]), 0.7, 3.5
    w0 = np.array([[1.0, 0.2], [0.2, 0.5]])
    plan = NormalWishartPlan("pi", "mu", "Lam", x, np.array([1.0]), m0[None], beta0,
                             np.array([nu0]), w0[None])
    state = NormalWishartCAVI(plan, np.ones((30, 1)))
    elbo, converged, _, history, _ = run_sweeps(state, 20, 1e-12)
    n, d = x.shape
    xbar = x.mean(axis=0)
    scatter = (x - xbar).T @ (x - xbar)
    beta_n, nu_n = beta0 + n, nu0 + n
    w_n_inv = np.linalg.inv(w0) + scatter + beta0 * n / beta_n * np.outer(xbar - m0, xbar - m0)
    assert converged and state.beta[0] == pytest.approx(beta_n) and state.nu[0] == nu_n
    assert np.allclose(state.m[0], (beta0 * m0 + n * xbar) / beta_n, rtol=1e-13)
    chol = state.chol_inv[0]
    assert np.allclose(chol @ chol.T, w_n_inv, rtol=1e-12)

    def logdet(a):
        return np.linalg.slogdet(a)[1]

    log_evidence = (-0.5 * n * d * np.log(np.pi) + special.multigammaln(nu_n / 2, d)
                    - special.multigammaln(nu0 / 2, d) - 0.5 * nu0 * logdet(w0)
                    - 0.5 * nu_n * logdet(w_n_inv) + 0.5 * d * np.log(beta0 / beta_n))
    assert elbo == pytest.approx(log_evidence, rel=1e-12)
    assert np.all(np.asarray(history["elbo"]) <= log_evidence + 1e-9)


# ---------------------------------------------------------------------------- scikit-learn


def reference_model() -> pf.Model:
    pr = REF["priors"]
    return nw_mixture(alpha0=pr["alpha0"], nu0=pr["nu0"], w0=pr["W0"], m0=pr["m0"],
                      beta0=pr["beta0"])


def q_params(q) -> dict[str, np.ndarray]:
    return {"alpha": q.factors[0].alpha, "beta": q.beta, "m": q.m, "nu": q.nu, "W": q.scale}


def test_cavi_normal_wishart_updates_match_scikit_learn_iteration_by_iteration():
    """From the same responsibilities, probfit's sweep t + 1 is sklearn's iteration t
    (tests/reference/make_vi_nw_reference.py)."""
    x, resp0 = np.array(REF["x"]), np.array(REF["resp0"])
    problem = LatentProblem(reference_model(), {"x": x}, "vi", k=3)
    result, _ = cavi_normal_wishart(recognise_mixture(problem), problem.objective.layout,
                                    resp0=resp0, max_iter=4)
    for name, value in q_params(result.q).items():
        np.testing.assert_allclose(value, REF["after_3_iterations"][name], rtol=1e-12,
                                   err_msg=name)


def test_cavi_normal_wishart_posterior_matches_scikit_learn():
    x, resp0 = np.array(REF["x"]), np.array(REF["resp0"])
    fit = reference_model().fit({"x": x}, method="vi", engine="cavi", k=3, resp0=resp0,
                                tol=1e-14, n_draws=50)
    assert fit.converged and REF["converged"]
    assert np.all(np.diff(fit.elbo_trace) >= -1e-10 * np.abs(fit.elbo_trace[1:]))
    # both stop on a small change of their bound, not at the exact fixed point: they agree
    # to 1.3e-7 relative (the iteration-by-iteration test above agrees to 1e-15)
    for name, value in q_params(fit.q).items():
        np.testing.assert_allclose(value, REF["final"][name], rtol=1e-6, err_msg=name)
    q = fit.q
    # posterior means and sds: E[Lam] = nu W; mu is Student-t with covariance
    # W^-1 / (beta (nu - d - 1))
    assert np.allclose(fit.params["Lam"], q.nu[:, None, None] * q.scale, rtol=1e-12)
    var_mu = np.linalg.inv(q.scale) / (q.beta * (q.nu - 3.0))[:, None, None]
    assert np.allclose(fit.se["mu"] ** 2, np.diagonal(var_mu, axis1=1, axis2=2), rtol=1e-10)
    assert np.allclose(fit.params["pi"], q.factors[0].alpha / q.factors[0].alpha.sum())


# ---------------------------------------------------------------------------- ELBO properties


def test_cavi_normal_wishart_elbo_is_stationary_and_below_the_marginal_elbo(nw_fit):
    fit = nw_fit
    assert isinstance(fit, LatentVIFit) and fit.engine == "cavi" and fit.converged
    problem = fit.problem
    plan = recognise_mixture(problem)
    state = NormalWishartCAVI(plan, fit.responsibilities)
    q = fit.q
    state.alpha, state.beta, state.m = q.factors[0].alpha.copy(), q.beta.copy(), q.m.copy()
    state.nu, state.chol_inv = q.nu.copy(), q.chol_inv.copy()
    best = state.elbo()
    assert best == pytest.approx(fit.elbo, rel=1e-12)
    # no single-factor perturbation raises the exact ELBO at the fixed point
    for name in ("alpha", "beta", "m", "nu", "chol_inv"):
        for step in (1e-4, -1e-4):
            saved = getattr(state, name).copy()
            setattr(state, name, saved * (1.0 + step))
            assert state.elbo() <= best + 1e-9, (name, step)
            setattr(state, name, saved)
    # the ELBO of q(z) q(theta) lower-bounds the ELBO of q(theta) against the marginal
    assert fit.elbo <= fit.elbo_mc + 4.0 * np.std(fit.log_weights) / np.sqrt(300)
    assert fit.pareto_k < 0.7


def independent_prior(scale):
    return lambda lam: pf.MultivariateNormal(np.zeros(2), cov=scale**2 * np.eye(2))


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**16), alpha0=st.floats(0.3, 5.0), beta0=st.floats(0.05, 5.0),
       extra_df=st.floats(0.1, 5.0), k=st.integers(2, 4), coupled=st.booleans())
def test_cavi_normal_wishart_elbo_never_decreases(seed, alpha0, beta0, extra_df, k, coupled):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, size=(k, 2))
    x = centres[rng.integers(0, k, 40)] + rng.normal(size=(40, 2))
    model = nw_mixture(alpha0=alpha0, nu0=1.0 + extra_df, beta0=beta0,
                       mean_prior=None if coupled else independent_prior(1.0 / beta0))
    problem = LatentProblem(model, {"x": x}, "vi", k=k)
    result, state = cavi_normal_wishart(recognise_mixture(problem), problem.objective.layout,
                                        seed=seed, max_iter=100)
    trace = result.history["elbo"]
    assert np.all(np.isfinite(trace))
    assert np.all(np.diff(trace) >= -1e-10 * np.abs(trace[1:]))
    assert np.allclose(state.resp.sum(axis=1), 1.0)
    assert state.nu.sum() == pytest.approx(k * (1.0 + extra_df) + 40)


def test_cavi_normal_wishart_monotone_check_raises_on_a_wrong_update(monkeypatch):
    from probfit.engines import cavi_normal_wishart as mod

    real = mod.NormalWishartCAVI.sweep
    sweeps = []

    def bad_sweep(self):  # q(mu) drifts further from its optimum every sweep
        real(self)
        sweeps.append(1)
        self.m = self.m + 0.2 * len(sweeps)

    monkeypatch.setattr(mod.NormalWishartCAVI, "sweep", bad_sweep)
    with pytest.raises(ConvergenceError, match="decreased"):
        nw_mixture().fit({"x": two_clusters()}, method="vi", engine="cavi", k=2, n_draws=10)


@pytest.mark.parametrize("coupled", [True, False])
def test_one_dimensional_normal_wishart_cavi_is_the_normal_gamma_cavi(coupled):
    """d = 1: W(w0, nu0) on a 1 x 1 precision is Gamma(nu0/2, rate 1/(2 w0)), so the
    Normal-Wishart engine must reproduce the (separately verified) Normal-Gamma one, with the
    coupled prior and with the independent one."""
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(-2.0, 0.7, 50), rng.normal(2.0, 1.2, 40)])[:, None]
    nu0, w0, m0, beta0, s0 = 3.0, 0.8, 0.5, 0.4, 3.0
    a = pf.Model("nw_1d")
    xa = a.data("x", dims=("n", "d"))
    pi = a.param("pi", dims=("k",), prior=pf.Dirichlet(0.9))
    lam = a.param("Lam", dims=("k", "d", "d"), prior=pf.Wishart(nu0, np.array([[w0]])))
    mu = a.param("mu", dims=("k", "d"), prior=pf.MultivariateNormal(
        np.array([m0]), precision=beta0 * lam) if coupled else pf.MultivariateNormal(
        np.array([m0]), cov=np.array([[s0**2]])))
    z = a.latent("z", pf.Categorical(probs=pi), dims=("n",))
    a.observe(xa, pf.MultivariateNormal(mu[z], precision=lam[z]))
    b = pf.Model("ng_1d")
    xb = b.data("x", dims=("n", "d"))
    pi = b.param("pi", dims=("k",), prior=pf.Dirichlet(0.9))
    tau = b.param("tau", dims=("k", "d"), prior=pf.Gamma(nu0 / 2, 1 / (2 * w0)))
    mu = b.param("mu", dims=("k", "d"), prior=pf.Normal(
        m0, (beta0 * tau) ** -0.5) if coupled else pf.Normal(m0, s0))
    z = b.latent("z", pf.Categorical(probs=pi), dims=("n",))
    b.observe(xb, pf.Normal(mu[z], tau[z] ** -0.5))
    fa, fb = (mod.fit({"x": x}, method="vi", engine="cavi", k=2, n_draws=50, tol=1e-13)
              for mod in (a, b))
    assert fa.n_iter == fb.n_iter
    assert fa.elbo == pytest.approx(fb.elbo, rel=1e-13)
    np.testing.assert_allclose(fa.elbo_trace, fb.elbo_trace, rtol=1e-13)
    np.testing.assert_allclose(fa.responsibilities, fb.responsibilities, atol=1e-13)
    for got, want in ((fa.params["mu"], fb.params["mu"]), (fa.se["mu"], fb.se["mu"]),
                      (fa.params["Lam"][..., 0], fb.params["tau"]),
                      (fa.se["Lam"][..., 0], fb.se["tau"])):
        np.testing.assert_allclose(got, want, rtol=1e-11)


def test_independent_gaussian_wishart_prior_is_fitted_and_stationary():
    x = two_clusters()
    fit = nw_mixture(mean_prior=independent_prior(10.0)).fit(
        {"x": x}, method="vi", engine="cavi", k=2, n_draws=100)
    assert fit.converged and np.all(np.diff(fit.elbo_trace) >= -1e-10 * abs(fit.elbo))
    perm = pf.match_components(fit.params["mu"], MEANS)
    assert np.allclose(fit.params["mu"][perm], MEANS, atol=0.35)
    assert np.allclose(np.linalg.inv(fit.params["Lam"][perm]), COVS, atol=0.35)
    # q(mu) is a Gaussian block (block-diagonal over components), q(Lam) a Wishart factor
    block = fit.q.block
    assert block.names == ("mu",) and np.allclose(block.cov[:2, 2:], 0.0)
    plan = recognise_mixture(fit.problem)
    assert plan.beta0 is None and np.allclose(plan.p0, 0.01 * np.eye(2))
    state = NormalWishartCAVI(plan, fit.responsibilities)
    wish = fit.q.factors[0]
    state.alpha, state.m = fit.q.factors[1].alpha.copy(), block.mean.reshape(2, 2).copy()
    state.s = np.stack([block.cov[:2, :2], block.cov[2:, 2:]])
    state.nu, state.chol_inv = wish.df.copy(), np.linalg.cholesky(np.linalg.inv(wish.scale))
    best = state.elbo()
    assert best == pytest.approx(fit.elbo, rel=1e-10)
    for name in ("m", "s", "nu", "chol_inv"):
        for step in (1e-4, -1e-4):
            saved = getattr(state, name).copy()
            setattr(state, name, saved * (1.0 + step))
            assert state.elbo() <= best + 1e-8, (name, step)
            setattr(state, name, saved)


# ---------------------------------------------------------------------------- the fit


def test_cavi_normal_wishart_recovers_the_components(nw_fit):
    fit = nw_fit
    perm = pf.match_components(fit.params["mu"], MEANS)
    assert np.allclose(fit.params["mu"][perm], MEANS, atol=0.35)
    cov = np.linalg.inv(fit.params["Lam"][perm])
    assert np.allclose(cov, COVS, atol=0.35)
    assert np.allclose(fit.params["pi"][perm], [0.6, 0.4], atol=0.08)
    resp = fit.responsibilities[:, perm]
    assert resp.shape == (100, 2) and np.mean(resp[:60, 0] > 0.5) > 0.97
    draws = fit.sample(50, rng=1)
    assert draws["Lam"].shape == (50, 2, 2, 2) and np.all(np.linalg.eigvalsh(draws["Lam"]) > 0)
    # log q of a draw is the Wishart and the conditional normal (plus the log-Jacobians)
    q = fit.q
    u = q.sample_u(np.random.default_rng(4), 1)
    v = fit.objective.unpack(u[0])
    lq = stats.dirichlet.logpdf(v["pi"], q.factors[0].alpha)
    for j in range(2):
        lq += stats.wishart(q.nu[j], q.scale[j]).logpdf(v["Lam"][j])
        lq += stats.multivariate_normal(q.m[j], np.linalg.inv(q.beta[j] * v["Lam"][j])).logpdf(
            v["mu"][j])
    lq += sum(float(s.bijector.log_det(u[0][s.slice])) for s in fit.objective.layout)
    assert q.log_q(u)[0] == pytest.approx(lq, rel=1e-10)


def test_cavi_normal_wishart_flows_through_arviz_and_diagnostics(nw_fit):
    fit, x = nw_fit, two_clusters()
    tree = fit.to_arviz(n_draws=20, seed=3)
    post = tree["posterior"]
    assert post["Lam"].shape == (1, 20, 2, 2, 2) and post["mu"].shape == (1, 20, 2, 2)
    assert tree["log_likelihood"]["x"].shape == (1, 20, 100)
    assert np.array_equal(tree["responsibilities"]["z"].values, fit.responsibilities)
    # the exported log-likelihood is the marginal mixture density at each draw
    pi, mu, lam = (post[n].values[0] for n in ("pi", "mu", "Lam"))
    comp = np.stack([np.log(pi[:, j])[:, None] + np.stack([
        stats.multivariate_normal(mu[s, j], np.linalg.inv(lam[s, j])).logpdf(x)
        for s in range(20)]) for j in range(2)])
    assert np.allclose(tree["log_likelihood"]["x"].values[0], special.logsumexp(comp, axis=0),
                       rtol=1e-10)
    cal = pf.calibration(fit, n_draws=20, seed=2)
    assert 0.3 < cal.metrics["coverage_50"] < 0.7 and np.isfinite(cal.metrics["log_score"])
    assert pf.convergence_report(fit).elbo_rel_change < 1e-8
    res = pf.residuals(fit)
    assert res.var == "x" and np.all(np.isfinite(res.quantile))


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(("build", "names"), [
    (lambda: nw_mixture(component=lambda mu, lam, z: pf.MultivariateNormal(mu[z], lam[z])),
     ["'x'", "covariance", "Wishart", "precision=Lam[z]"]),
    (lambda: nw_mixture(mean_prior=lambda lam: pf.Laplace(0.0, 10.0)),
     ["'mu'", "Laplace", "precision=beta0 * Lam"]),
    (lambda: nw_mixture(mean_prior=lambda lam: pf.MultivariateNormal(np.zeros(2),
                                                                     precision=lam * lam)),
     ["'mu'", "Lam * Lam", "independent"]),
])
def test_cavi_refuses_non_conjugate_full_covariance_mixtures(build, names):
    with pytest.raises(EngineError, match="engine='advi'") as err:
        build().fit({"x": two_clusters(n0=10, n1=10)}, method="vi", engine="cavi", k=2)
    for name in names:
        assert name in str(err.value), (name, str(err.value))


def test_cavi_refuses_a_non_wishart_precision_prior():
    m = pf.Model("gamma_lam")
    x = m.data("x", dims=("n", "d"))
    pi = m.param("pi", dims=("k",), prior=pf.Dirichlet(1.0))
    lam = m.param("Lam", dims=("k", "d", "d"), support="spd")
    mu = m.param("mu", dims=("k", "d"),
                 prior=pf.MultivariateNormal(np.zeros(2), precision=lam))
    z = m.latent("z", pf.Categorical(probs=pi), dims=("n",))
    m.observe(x, pf.MultivariateNormal(mu[z], precision=lam[z]))
    with pytest.raises(EngineError, match=r"Wishart prior.*'Lam'.*engine='advi'"):
        m.fit({"x": two_clusters(n0=10, n1=10)}, method="vi", engine="cavi", k=2)


def test_cavi_normal_wishart_option_errors():
    model, data = nw_mixture(), {"x": two_clusters(n0=10, n1=10)}
    with pytest.raises(EngineError, match="resp0"):
        model.fit(data, method="vi", engine="cavi", k=2, resp0=np.ones((20, 2)))
    with pytest.raises(EngineError, match="max_iter"):
        model.fit(data, method="vi", engine="cavi", k=2, max_iter=0)
    with pytest.raises(EngineError, match="unknown option"):
        model.fit(data, method="vi", engine="cavi", k=2, lr=0.1)
