"""The Cholesky SPD bijector (exact Jacobian, curvature, log-determinant) and MVN extras."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import central_diff, rel_err
from hypothesis import given, settings
from hypothesis import strategies as st

import probfit as pf
from probfit.distributions.mvn import spd
from probfit.errors import DistributionError, SpecError
from probfit.transforms.bijectors import bijector_for
from probfit.transforms.spd import CholeskySPD

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)


@SETTINGS
@given(d=st.integers(1, 3), blocks=st.integers(1, 2), seed=st.integers(0, 10_000))
def test_cholesky_bijector_derivatives_are_exact(d: int, blocks: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (blocks, d, d) if blocks > 1 else (d, d)
    b = bijector_for(spd, shape, "cov")
    assert isinstance(b, CholeskySPD) and b.size_u == blocks * d * (d + 1) // 2
    u = rng.normal(scale=0.7, size=b.size_u)
    x = b.forward(u)
    assert x.shape == shape and np.all(spd.check(x))
    np.testing.assert_allclose(b.inverse(x), u, atol=1e-10)
    assert rel_err(b.jac(u), central_diff(b.forward, u)) <= 1e-6
    g = rng.normal(size=shape)
    grad_of_gx = central_diff(lambda v: b.jac(v).reshape(-1, b.size_u).T @ g.reshape(-1), u)
    assert rel_err(b.curv(u, g), grad_of_gx) <= 1e-6
    rows, cols = np.tril_indices(d)

    def lower(v: np.ndarray) -> np.ndarray:
        return b.forward(v).reshape(-1, d, d)[:, rows, cols].reshape(-1)

    assert b.log_det(u) == pytest.approx(np.linalg.slogdet(central_diff(lower, u))[1],
                                         rel=1e-7, abs=1e-7)
    assert rel_err(b.log_det_grad(u), central_diff(b.log_det, u)) <= 1e-6


def test_spd_support_errors_and_checks() -> None:
    with pytest.raises(SpecError, match="square trailing dims"):
        bijector_for(spd, (2, 3), "cov")
    assert not spd.check(np.array([[1.0, 2.0], [2.0, 1.0]]))
    assert not spd.check(np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(DistributionError, match="'cov'"):
        pf.MultivariateNormal(np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(DistributionError, match=r"'loc'.*scalar"):
        pf.MultivariateNormal(0.0, np.eye(2))
    with pytest.raises(DistributionError, match="match 'loc'"):
        pf.MultivariateNormal(np.zeros(3), np.eye(2)).log_prob(np.zeros(3))


def test_mvn_expected_second_derivatives_are_sample_means() -> None:
    cov = np.array([[1.5, 0.4], [0.4, 0.8]])
    d = pf.MultivariateNormal(np.array([0.3, -1.0]), cov)
    vals = {"loc": d.args["loc"], "cov": cov}
    x = d.sample(np.random.default_rng(4), size=200_000)
    wrt = ("loc", "cov")
    obs = d.d2logp(x, vals, wrt)
    exp = d.expected_d2logp(vals, wrt)
    for key in obs:
        np.testing.assert_allclose(obs[key].mean(axis=0), exp[key], atol=0.02)
    np.testing.assert_allclose(exp[("loc", "loc")], -np.linalg.inv(cov))


def test_mvn_fits_by_newton_through_the_spd_bijector() -> None:
    rng = np.random.default_rng(0)
    true = np.array([[2.0, 0.5], [0.5, 1.0]])
    x = rng.multivariate_normal([1.0, -1.0], true, size=400)
    m = pf.Model("mvn")
    xx = m.data("x", dims=("n", "d"))
    mu = m.param("mu", dims=("d",))
    cov = m.param("cov", dims=("d", "d"), support="spd")
    m.observe(xx, pf.MultivariateNormal(mu, cov))
    fit = m.fit({"x": x}, engine="newton")
    np.testing.assert_allclose(fit.params["mu"], x.mean(0), atol=1e-8)
    np.testing.assert_allclose(fit.params["cov"], np.cov(x.T, bias=True), atol=1e-8)
