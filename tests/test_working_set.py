"""Proximal Newton on a working set: restricted derivatives, Hessian reuse, strong rules, KKT."""

from __future__ import annotations

import numpy as np
import pytest

import probfit as pf
from probfit.engines import glm_view
from probfit.engines.glm_view import GLMView
from probfit.engines.newton_cd import _Dense, newton_cd
from probfit.penalties.kkt import kkt_violation


def logistic(prior: pf.Distribution, b_prior: pf.Distribution | None = None) -> pf.Model:
    m = pf.Model("logit")
    X, y = m.data("X", ("n", "p")), m.data("y", ("n",))
    w = m.param("w", ("p",), prior=prior)
    b = m.param("b", prior=b_prior)
    m.observe(y, pf.Bernoulli(logit=X @ w + b))
    return m


def sparse_logistic(seed: int, n: int = 400, p: int = 30, order: str = "C"
                    ) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.asarray(rng.normal(size=(n, p)), order=order)
    beta = np.zeros(p)
    beta[:5] = rng.normal(scale=1.0, size=5)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(X @ beta - 0.3)))).astype(float)
    return {"X": X, "y": y}


@pytest.mark.parametrize("order", ["C", "F"])
def test_working_set_gradient_and_hessian_are_blocks_of_the_full_ones(order):
    data = sparse_logistic(1, n=120, p=8, order=order)
    obj = logistic(pf.ElasticNet(l1=1.0, l2=np.linspace(0.0, 2.0, 8)),
                   pf.Normal(0.0, 3.0)).compile(data, "map")
    view = GLMView.of(obj)
    theta = np.random.default_rng(2).normal(scale=0.3, size=obj.size)
    # the working set grows in the order asked for, new columns last, never shrinks
    work = view.extend(np.array([8, 3, 1]))
    np.testing.assert_array_equal(work, [1, 3, 8])
    work = view.extend(np.array([5, 3]))
    np.testing.assert_array_equal(work, [1, 3, 8, 5])
    point = view.at(theta)
    f, g, _ = obj.evaluate(theta, 1)
    for kind in ("observed", "expected"):
        full = obj.hess(theta, kind)
        h, reused = view.hess_on(point, work, kind)
        assert not reused
        np.testing.assert_allclose(h, full[np.ix_(work, work)], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(view.grad_on(point, work), g[work], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(view.grad(point), g, rtol=1e-12, atol=1e-12)
    assert point.value == pytest.approx(f, rel=1e-13)
    with pytest.raises(pf.EngineError, match="working set"):
        view.grad_on(point, work[:2])
    # the gathered block never outgrows the design
    assert view.extend(np.arange(obj.size)).size == obj.size == view._design.shape[1]


def test_hessian_reuse_is_bounded_by_the_move_of_the_linear_predictor(monkeypatch):
    data = sparse_logistic(3, n=150, p=6)
    obj = logistic(pf.Laplace(0.0, 0.5)).compile(data, "map")
    view = GLMView.of(obj)
    theta = np.zeros(obj.size)
    theta[[0, 1, 6]] = [0.4, -0.2, 0.1]
    work = view.extend(np.array([0, 1, 6]))
    h0, reused = view.hess_on(view.at(theta), work)
    assert not reused
    # a move of η below the threshold keeps the block and adds rows for a new column only
    near = theta.copy()
    near[0] += 0.5 * glm_view.HESSIAN_REUSE / np.max(np.abs(data["X"][:, 0]))
    work = view.extend(np.array([3]))
    h1, reused = view.hess_on(view.at(near), work)
    assert reused
    np.testing.assert_array_equal(h1[:3, :3], h0)
    exact = obj.hess(near)[np.ix_(work, work)]
    np.testing.assert_allclose(h1[3], exact[3], rtol=1e-12)
    np.testing.assert_allclose(h1[:, 3], exact[:, 3], rtol=1e-12)
    assert np.max(np.abs(h1 - exact) / np.abs(exact)) < 2 * glm_view.HESSIAN_REUSE
    # a larger move forms it afresh
    far = theta.copy()
    far[1] += 0.5
    h2, reused = view.hess_on(view.at(far), work)
    assert not reused
    np.testing.assert_allclose(h2, obj.hess(far)[np.ix_(work, work)], rtol=1e-12)
    # no reuse at all: a threshold of 0 recomputes even at the same point
    monkeypatch.setattr(glm_view, "HESSIAN_REUSE", -1.0)
    assert not view.hess_on(view.at(far), work)[1]


def test_priors_with_parameters_fall_back_to_the_full_prior_hessian():
    data = sparse_logistic(4, n=100, p=5)
    m = pf.Model("hier")
    X, y = m.data("X", ("n", "p")), m.data("y", ("n",))
    tau = m.param("tau", support="positive", prior=pf.Gamma(2.0, 2.0))
    w = m.param("w", ("p",), prior=pf.Normal(0.0, tau))
    b = m.param("b", prior=pf.Laplace(0.0, 2.0))
    m.observe(y, pf.Bernoulli(logit=X @ w + b))
    obj = m.compile(data, "map")
    view = GLMView.of(obj)
    assert view is not None
    theta = np.random.default_rng(5).normal(scale=0.3, size=obj.size)
    h_prior = view.prior_terms(theta)[1]
    assert h_prior.ndim == 2  # the scale of w's prior is a parameter: not diagonal
    work = view.extend(np.arange(obj.size))
    point = view.at(theta)
    np.testing.assert_allclose(view.hess_on(point, work)[0], obj.hess(theta)[np.ix_(work, work)],
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(view.grad(point), obj.grad(theta), rtol=1e-12, atol=1e-12)
    fit = m.fit(data, "map")
    assert fit.converged and fit.kkt < 1e-6


def test_kkt_check_admits_coordinates_until_the_full_solution():
    data = sparse_logistic(6)
    m = logistic(pf.Laplace(0.0, 1.0 / 5.0))
    obj = m.compile(data, "map")
    # a warm start from the solution at λ = 40
    strong = logistic(pf.Laplace(0.0, 1.0 / 40.0)).compile(data, "map")
    theta0 = newton_cd(strong, np.zeros(strong.size)).theta
    # the reference: every coordinate working, full Hessians (no GLM structure used)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(GLMView, "of", classmethod(lambda cls, o: None))
        ref = newton_cd(m.compile(data, "map"), theta0)
    assert _Dense(obj).working.size == obj.size
    assert ref.converged and np.sum(ref.theta[:-1] != 0) >= 10
    # coordinates that do not violate KKT at the start enter later, through the KKT check over
    # every coordinate
    sizes = []
    extend = GLMView.extend

    def spy_extend(self, cols):
        sizes.append(extend(self, cols).size)
        return self.working

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(GLMView, "extend", spy_extend)
        res = newton_cd(obj, theta0)
    g0 = obj.grad(theta0)[:-1]
    assert sizes[0] == 1 + np.sum((theta0[:-1] != 0) | (np.abs(g0) > 5.0))
    assert sizes[-1] > sizes[0]
    assert res.converged
    np.testing.assert_allclose(res.theta, ref.theta, atol=1e-7)
    np.testing.assert_array_equal(res.theta == 0, ref.theta == 0)
    assert kkt_violation(obj, res.theta) < 1e-9 * abs(res.objective)
    assert res.objective <= ref.objective + 1e-12 * abs(ref.objective)
    assert {"grad_norm", "decrement", "hessian_reused"} <= set(res.history.columns)
    with pytest.raises(pf.EngineError, match="hessian"):
        newton_cd(obj, theta0, hessian="approx")


def test_path_with_hessian_reuse_matches_plain_proximal_newton(monkeypatch):
    data = sparse_logistic(8, n=500, p=40)
    m = logistic(pf.Laplace(0.0, 1.0))
    reuses = []
    hess_on = GLMView.hess_on

    def spy_hess_on(self, *args, **kwargs):
        out = hess_on(self, *args, **kwargs)
        reuses.append(out[1])
        return out

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(GLMView, "hess_on", spy_hess_on)
        fast = pf.path(m, data, "w", n=15, ratio=0.02)
    assert np.all(fast.converged)
    assert any(reuses) and not all(reuses)
    # the same path with every Hessian formed afresh
    monkeypatch.setattr(glm_view, "HESSIAN_REUSE", -1.0)
    plain = pf.path(m, data, "w", strengths=fast.strength)
    np.testing.assert_allclose(fast.coef, plain.coef, atol=1e-7)
    np.testing.assert_array_equal(fast.n_nonzero, plain.n_nonzero)
    np.testing.assert_allclose(fast.objective, plain.objective, rtol=1e-12)
    assert fast.kkt.max() < 1e-9 * np.abs(fast.objective).max()


def test_views_do_not_keep_their_objective_alive():
    import gc
    import weakref

    obj = logistic(pf.Laplace(0.0, 1.0)).compile(sparse_logistic(9, n=50, p=6), "map")
    view = GLMView.of(obj)
    assert GLMView.of(obj) is view and view.objective is obj
    alive = weakref.ref(obj)
    del obj, view
    gc.collect()
    assert alive() is None
