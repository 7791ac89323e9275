"""Extreme linear predictors and the stable primitives behind the distributions.

References are computed independently in high precision with :mod:`decimal` (mpmath is not a
dependency): the logistic and complementary log-log links from ``exp``/``ln``, the normal CDF
from its Taylor series at 520 significant digits, and the gamma-function differences from exact
finite sums.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

import probfit.distributions as D
from probfit.numerics import d2_log_ndtr, digamma_diff, lgamma_diff, sigmoid, trigamma_diff

PREC = 520
ETAS = (-40.0, -30.0, -20.0, -8.0, -2.0, -0.3, 0.0, 1.5, 8.0, 20.0, 30.0, 40.0)


def _pi() -> Decimal:
    """pi to the working precision (Machin's formula)."""

    def atan_inv(n: int) -> Decimal:
        x = Decimal(1) / n
        term, total, k = x, x, 0
        while abs(term) > Decimal(10) ** -(PREC + 5):
            k += 1
            term = -term * x * x
            total += term / (2 * k + 1)
        return total

    return 16 * atan_inv(5) - 4 * atan_inv(239)


def _phi_and_cdf(x: float) -> tuple[Decimal, Decimal, Decimal]:
    """``phi(x)``, ``Phi(x)`` and ``Phi(-x)`` from ``Phi(x) = 1/2 + phi(x) Σ x^(2n+1)/(2n+1)!!``."""
    xd = Decimal(x)
    phi = (-(xd * xd) / 2).exp() / (2 * _pi()).sqrt()
    term = total = abs(xd)
    n = 0
    while term > Decimal(10) ** -(PREC - 20) * total or n < 5:
        n += 1
        term = term * xd * xd / (2 * n + 1)
        total += term
    upper = Decimal("0.5") + phi * total  # Phi(|x|)
    lower = Decimal("0.5") - phi * total  # Phi(-|x|)
    return (phi, upper, lower) if x >= 0 else (phi, lower, upper)


def _reference(link: str, eta: float) -> dict[str, Decimal]:
    """log p, log(1 - p), their first two derivatives and d log p · d log(1 - p)."""
    e = Decimal(eta)
    if link == "logit":
        p = 1 / (1 + (-e).exp())
        q = 1 / (1 + e.exp())
        out = {"lp": -(1 + (-e).exp()).ln(), "lq": -(1 + e.exp()).ln(), "dlp": q, "dlq": -p,
               "d2lp": -p * q, "d2lq": -p * q}
    elif link == "probit":
        phi, big_p, big_q = _phi_and_cdf(eta)
        m, mq = phi / big_p, phi / big_q
        out = {"lp": big_p.ln(), "lq": big_q.ln(), "dlp": m, "dlq": -mq,
               "d2lp": -m * (e + m), "d2lq": -mq * (-e + mq)}
    else:
        u = e.exp()
        q = (-u).exp()
        p = 1 - q
        dlp = u * q / p
        out = {"lp": p.ln(), "lq": -u, "dlp": dlp, "dlq": -u, "d2lp": dlp * (1 - u / p),
               "d2lq": -u}
    out["e2"] = out["dlp"] * out["dlq"]
    return out


def _close(got: float, ref: Decimal, rtol: float) -> bool:
    ref_f = float(ref)
    return abs(got - ref_f) <= rtol * abs(ref_f) + 1e-300


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_links_match_high_precision_references_in_both_tails(link: str) -> None:
    with localcontext() as ctx:
        ctx.prec = PREC
        for eta in ETAS:
            ref = _reference(link, eta)
            dist = D.Bernoulli(**{link: eta})
            v = {link: np.array(eta)}
            for x, lp, d1, d2 in ((1.0, "lp", "dlp", "d2lp"), (0.0, "lq", "dlq", "d2lq")):
                xa = np.array(x)
                got = {lp: float(dist.logp(xa, v)),
                       d1: float(dist.dlogp(xa, v, (link,))[link]),
                       d2: float(dist.d2logp(xa, v, (link,))[(link, link)])}
                for key, val in got.items():
                    assert np.isfinite(val)
                    assert _close(val, ref[key], 1e-12), (link, eta, key, val, float(ref[key]))
            e2 = float(dist.expected_d2logp(v, (link,))[(link, link)])
            assert _close(e2, ref["e2"], 1e-12), (link, eta, e2, float(ref["e2"]))
            # the likelihood's inner loop (value and derivatives from one evaluation), and the
            # binomial's two-branch formulas with one trial
            one = D.Binomial(1.0, **{link: eta})
            for x, lp, d1, d2 in ((1.0, "lp", "dlp", "d2lp"), (0.0, "lq", "dlq", "d2lq")):
                xa = np.array(x)
                got = dict(zip((lp, d1, d2), dist.row_terms(xa, v, link, 2), strict=True))
                got_binomial = {lp: float(one.logp(xa, v)),
                                d1: float(one.dlogp(xa, v, (link,))[link]),
                                d2: float(one.d2logp(xa, v, (link,))[(link, link)])}
                for key in got:
                    assert _close(float(got[key]), ref[key], 1e-12), (link, eta, key)
                    assert _close(got_binomial[key], ref[key], 1e-12), (link, eta, key)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(x=st.floats(-40.0, 40.0))
def test_d2_log_ndtr_matches_high_precision(x: float) -> None:
    with localcontext() as ctx:
        ctx.prec = PREC
        phi, big_p, _ = _phi_and_cdf(x)
        m = phi / big_p
        ref = -m * (Decimal(x) + m)
    assert _close(float(d2_log_ndtr(x)), ref, 1e-12)


def test_d2_log_ndtr_shapes() -> None:
    assert np.ndim(d2_log_ndtr(1.0)) == 0
    assert d2_log_ndtr(np.zeros((2, 3))).shape == (2, 3)
    np.testing.assert_allclose(d2_log_ndtr(0.0), -2.0 / np.pi, rtol=1e-15)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(x=st.integers(0, 300), log10_r=st.floats(-1.0, 12.0))
def test_gamma_function_differences_match_exact_sums(x: int, log10_r: float) -> None:
    r = 10.0**log10_r
    lg = math.fsum(math.log(r + j) for j in range(x))
    dg = math.fsum(1.0 / (r + j) for j in range(x))
    tg = -math.fsum(1.0 / (r + j) ** 2 for j in range(x))
    for got, ref in ((lgamma_diff(x, r), lg), (digamma_diff(x, r), dg),
                     (trigamma_diff(x, r), tg)):
        assert abs(got - ref) <= 1e-13 * abs(ref) + 1e-300, (x, r, got, ref)


def test_gamma_function_differences_broadcast() -> None:
    out = lgamma_diff(np.arange(4.0)[:, None], np.array([0.5, 50.0, 1e6]))
    assert out.shape == (4, 3)
    np.testing.assert_array_equal(out[0], 0.0)
    assert np.ndim(digamma_diff(2.0, 3.0)) == 0


def test_negative_binomial_dispersion_derivatives_stay_accurate_near_poisson() -> None:
    """Small dispersion: the score in alpha tends to ((x - mu)² - x)/2, finite and smooth."""
    x = np.arange(0.0, 15.0)
    mu = 4.0
    d = D.NegativeBinomial(mean=mu, dispersion=1e-6)
    g = d.dlogp(x, {}, ("dispersion",))["dispersion"]
    np.testing.assert_allclose(g, ((x - mu) ** 2 - x) / 2, rtol=1e-4, atol=1e-4)
    e = d.expected_d2logp({}, ("dispersion",))[("dispersion", "dispersion")]
    np.testing.assert_allclose(e, -mu**2 / 2, rtol=1e-4)


@pytest.mark.parametrize(("mu", "alpha"), [(0.05, 0.5), (3.0, 0.2), (40.0, 0.02), (2000.0, 1e-4),
                                           (300.0, 0.5), (1e3, 3.0), (0.5, 30.0)])
def test_negative_binomial_expected_dispersion_curvature_over_both_branches(
        mu: float, alpha: float) -> None:
    """Against ``r² mu/(1 + t) + r⁴ Σ p(x) (ψ'(x + r) - ψ'(r))`` summed with fsum over the support
    (well conditioned for these points); the implementation switches formula at ``t = 1``."""
    r = 1.0 / alpha
    dist = stats.nbinom(r, 1.0 / (1.0 + alpha * mu))
    xs = np.arange(0.0, dist.isf(1e-17) + 1)
    ref = r * r * mu / (1 + alpha * mu) + r**4 * math.fsum(dist.pmf(xs) * trigamma_diff(xs, r))
    got = D.NegativeBinomial(mean=mu, dispersion=alpha).expected_d2logp(
        {}, ("dispersion",))[("dispersion", "dispersion")]
    assert abs(got - ref) <= 1e-9 * abs(ref)
    batch = D.NegativeBinomial(mean=np.array([mu, mu, 1.0]), dispersion=alpha).expected_d2logp(
        {}, ("dispersion",))[("dispersion", "dispersion")]
    np.testing.assert_allclose(batch[:2], got, rtol=1e-15)


def test_logit_bernoulli_broadcasts_the_outcome_against_the_predictor():
    """y of shape (n, 1) against a logit of shape (n, k) (a mixture's or a VI draw's layout):
    the one-pass formulas must broadcast like the two-branch definition."""
    rng = np.random.default_rng(0)
    eta = rng.normal(scale=5.0, size=(7, 3))
    x = (rng.random((7, 1)) < 0.5).astype(float)
    d = D.Bernoulli(logit=eta)
    v = {"logit": eta}
    want_lp = np.where(x == 1.0, -np.logaddexp(0.0, -eta), -np.logaddexp(0.0, eta))
    want_d1 = np.where(x == 1.0, 1.0, 0.0) - 1.0 / (1.0 + np.exp(-eta))
    np.testing.assert_allclose(d.logp(x, v), want_lp, rtol=1e-13)
    np.testing.assert_allclose(d.dlogp(x, v, ("logit",))["logit"], want_d1, rtol=1e-12,
                               atol=1e-15)


@pytest.mark.parametrize("dist, x", [
    (D.Poisson(log_rate=np.array([-1.0, 0.3, 2.0, 4.0])), np.array([0.0, 1.0, 7.0, 60.0])),
    (D.Binomial(np.array([1.0, 5.0, 30.0, 30.0]), logit=np.array([-3.0, 0.0, 0.4, 9.0])),
     np.array([1.0, 2.0, 0.0, 30.0])),
    (D.NegativeBinomial(log_mean=np.array([0.1, 1.0, 3.0, 5.0]), dispersion=0.7),
     np.array([0.0, 4.0, 19.0, 200.0])),
])
def test_log_base_is_the_part_of_logp_a_likelihood_sums_once(dist, x) -> None:
    """``row_terms(base=False)`` leaves out exactly :meth:`log_base`, the terms in ``x`` and
    the never-differentiated arguments (``-log x!``, ``log C(n, x)``)."""
    arg = dist.param
    vals = {k: v for k, v in dist.args.items() if v is not None}
    full = dist.logp(x, vals)
    base = dist.log_base(x, vals)
    without = dist.row_terms(x, vals, arg, 0, base=False)[0]
    np.testing.assert_allclose(without + base, full, rtol=1e-14, atol=1e-13)
    np.testing.assert_allclose(dist.row_terms(x, vals, arg, 0)[0], full, rtol=1e-14)
    n = vals.get("trials", 0.0)
    want = special.gammaln(n + 1.0) - special.gammaln(x + 1.0) - special.gammaln(n - x + 1.0) \
        if isinstance(dist, D.Binomial) else -special.gammaln(x + 1.0)
    np.testing.assert_allclose(base, want, rtol=1e-14)


def test_a_family_without_base_terms_has_log_base_zero() -> None:
    assert D.Normal(0.0, 1.0).log_base(np.array([0.3, 2.0]), {}) == 0.0


def test_sigmoid_takes_both_tails_and_keeps_shapes() -> None:
    x = np.array([-800.0, -40.0, -1e-300, 0.0, 1e-300, 3.0, 40.0, 800.0, np.inf, -np.inf])
    np.testing.assert_allclose(sigmoid(x), special.expit(x), rtol=1e-15, atol=0.0)
    assert np.isnan(sigmoid(np.array([np.nan])))[0]
    assert sigmoid(0.0) == 0.5 and np.ndim(sigmoid(2.0)) == 0
