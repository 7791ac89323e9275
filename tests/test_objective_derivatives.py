"""Exact gradients and Hessians of compiled objectives against finite differences.

Covers every expression node (``+ - * / @ **``, unary minus, indexing, exp/log/sigmoid/
softplus/softmax/log_softmax/prepend_zero), every bijector, priors with parameter-dependent
arguments, and the Jacobian-adjusted MAP.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import central_diff, rel_err

import probfit as pf

RNG = np.random.default_rng(0)
N, P = 40, 3
X = RNG.normal(size=(N, P))


def check(m: pf.Model, data: dict, method: str = "mle", jacobian: bool = False, seed: int = 1,
          **kw):
    obj = m.compile(data, method, jacobian=jacobian, **kw)
    theta = np.random.default_rng(seed).normal(scale=0.3, size=obj.size)
    f, g, h = obj.evaluate(theta, 2)
    assert np.isfinite(f)
    assert rel_err(g, central_diff(obj.value, theta)) <= 1e-6
    assert rel_err(h, central_diff(obj.grad, theta)) <= 1e-6
    np.testing.assert_allclose(h, h.T, atol=1e-10)
    return obj


def test_linear_normal_with_positive_scale():
    m = pf.Model("lin")
    Xh, y = m.data("X", ("n", "p")), m.data("y", ("n",))
    w, b = m.param("w", ("p",)), m.param("b")
    s = m.param("s", support="positive")
    m.observe(y, pf.Normal(Xh @ w + b, s))
    check(m, {"X": X, "y": X @ [1.0, -1.0, 0.5] + RNG.normal(size=N)})


def test_nonlinear_expressions():
    m = pf.Model("nl")
    Xh, y = m.data("X", ("n", "p")), m.data("y", ("n",))
    w = m.param("w", ("p",))
    a = m.param("a", support="positive")
    c = m.param("c", lower=-1.0, upper=2.0)
    eta = pf.sigmoid(Xh @ w) * a - c / (1.0 + a) + pf.softplus(-(Xh[:, 0] * c)) ** 2.0
    m.observe(y, pf.Normal(pf.log(pf.exp(eta) + 1.0), a * c + 2.0))
    check(m, {"X": X, "y": RNG.normal(size=N)})


def test_index_and_product_of_params():
    m = pf.Model("idx")
    z, y = m.data("z", ("n",), kind="integer"), m.data("y", ("n",))
    mu = m.param("mu", ("k",))
    s = m.param("s", ("k",), support="positive")
    g = m.param("g")
    m.observe(y, pf.Normal(mu[z] * g + mu[z], s[z]))
    zz = RNG.integers(0, 3, size=N).astype(float)
    check(m, {"z": zz, "y": RNG.normal(size=N)}, dims={"k": 3})


def test_matrix_param_softmax_and_categorical():
    m = pf.Model("mnl")
    Xh, y = m.data("X", ("n", "p")), m.data("y", ("n",), kind="integer")
    W = m.param("W", ("p", "k"))
    b = m.param("b", ("k",))
    m.observe(y, pf.Categorical(logits=pf.prepend_zero(Xh @ W + b)))
    yy = RNG.integers(0, 3, size=N).astype(float)
    check(m, {"X": X, "y": yy}, dims={"k": 2})


def test_softmax_probs_and_log_softmax():
    m = pf.Model("sm")
    Xh, y = m.data("X", ("n", "p")), m.data("y", ("n",), kind="integer")
    W = m.param("W", ("p", "k"))
    m.observe(y, pf.Categorical(probs=pf.softmax(pf.exp(pf.log_softmax(Xh @ W)))))
    check(m, {"X": X, "y": RNG.integers(0, 3, size=N).astype(float)}, dims={"k": 3})


def test_param_matmul_param():
    m = pf.Model("mm")
    Xh, y = m.data("X", ("n", "p")), m.data("y", ("n",))
    A = m.param("A", ("p", "q"))
    v = m.param("v", ("q",))
    m.observe(y, pf.Normal(Xh @ (A @ v), 1.0))
    check(m, {"X": X, "y": RNG.normal(size=N)}, dims={"q": 2})


def test_hierarchical_prior_and_simplex():
    m = pf.Model("hier")
    z, y = m.data("z", ("n",), kind="integer"), m.data("y", ("n",))
    tau = m.param("tau", prior=pf.HalfNormal(1.0))
    mu = m.param("mu", ("k",), prior=pf.Normal(0.0, tau))
    pi = m.param("pi", ("k",), prior=pf.Dirichlet(2.0))
    m.observe(z, pf.Categorical(probs=pi))
    m.observe(y, pf.Normal(mu[z], 1.0))
    zz = RNG.integers(0, 3, size=N).astype(float)
    data = {"z": zz, "y": RNG.normal(size=N)}
    check(m, data, "map", dims={"k": 3})
    check(m, data, "map", jacobian=True, dims={"k": 3})


def test_expected_hessian_is_symmetric_and_negative_curvature_free():
    m = pf.Model("fisher")
    Xh, y = m.data("X", ("n", "p")), m.data("y", ("n",))
    w = m.param("w", ("p",))
    m.observe(y, pf.Poisson(log_rate=Xh @ w))
    obj = m.compile({"X": X, "y": RNG.poisson(2.0, size=N).astype(float)})
    theta = np.array([0.1, -0.2, 0.3])
    h = obj.hess(theta, "expected")
    lam = np.exp(X @ theta)
    np.testing.assert_allclose(h, X.T @ (lam[:, None] * X), rtol=1e-12)


@pytest.mark.parametrize("spec", ["logistic", "probit", "poisson", "gamma", "negative_binomial",
                                  "linear_regression", "robust_regression",
                                  "multinomial_logistic"])
def test_spec_objectives(spec, spec_data):
    m = pf.Model.from_spec(f"specs/{spec}.yaml")
    data, dims = spec_data[spec]
    check(m, data, "map", dims=dims)


def test_minibatch_scaling_is_unbiased():
    m = pf.Model("mb")
    Xh, y = m.data("X", ("n", "p")), m.data("y", ("n",))
    w = m.param("w", ("p",), prior=pf.Normal(0.0, 1.0))
    m.observe(y, pf.Poisson(log_rate=Xh @ w))
    yy = RNG.poisson(1.0, size=N).astype(float)
    obj = m.compile({"X": X, "y": yy}, "map")
    theta = np.array([0.1, -0.2, 0.05])
    f, g, h = obj.evaluate(theta, 2)
    halves = [np.arange(0, N, 2), np.arange(1, N, 2)]
    parts = [obj.evaluate(theta, 2, data=obj.minibatch(r), obs_scale=N / len(r)) for r in halves]
    assert np.mean([p[0] for p in parts]) == pytest.approx(f)
    np.testing.assert_allclose(np.mean([p[1] for p in parts], axis=0), g)
    np.testing.assert_allclose(np.mean([p[2] for p in parts], axis=0), h)
    assert obj.minibatch(np.array([3]))["X"].shape == (1, P)


@pytest.mark.parametrize("signs", ["neg", "pos", "mixed"])
@pytest.mark.parametrize("p", [4, 24])
def test_weighted_gram_matches_dense(signs, p):
    """Several blocks of rows and a ragged last one; with 24 columns the design is large
    enough to be split across threads."""
    from probfit.contract import weighted_gram

    n = 3 * (1 << 17) // 4 + 7
    x = RNG.normal(size=(n, p))
    h = {"neg": -RNG.random(n), "pos": RNG.random(n), "mixed": RNG.normal(size=n)}[signs]
    d = RNG.normal(size=n)
    g, (xd, xh) = weighted_gram(x, h, (d, h))
    np.testing.assert_allclose(g, x.T @ (h[:, None] * x), rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(xd, x.T @ d, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(xh, x.T @ h, rtol=1e-10, atol=1e-9)
