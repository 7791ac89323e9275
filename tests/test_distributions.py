"""Distributions: derivatives, expected curvature, reference densities, moments and errors.

Gradient checks follow DESIGN.md: central differences in float64 (a five-point stencil, i.e.
Richardson-extrapolated central differences, with a step of ``1e-4`` relative to the point or to
its distance from the boundary) and relative error ``‖g − ĝ‖ / max(1, ‖g‖, ‖ĝ‖) ≤ 1e-6``
for every argument and ``"value"``, first and second derivatives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import integrate, special, stats

import probfit.distributions as D
from probfit.errors import DataError, DistributionError

LINKS = ("logit", "probit", "cloglog", "p")
TOL = 1e-6


# ---------------------------------------------------------------------------- helpers
def rel_err(g: Any, g_hat: Any) -> float:
    """DESIGN.md's criterion ``‖g − ĝ‖ / max(1, ‖g‖, ‖ĝ‖)`` (NaN counts as a failure)."""
    g, g_hat = np.asarray(g, float), np.asarray(g_hat, float)
    err = np.linalg.norm(g - g_hat) / max(1.0, np.linalg.norm(g), np.linalg.norm(g_hat))
    return float(err) if np.isfinite(err) else np.inf


def step(theta: float, kind: str) -> float:
    """A finite-difference step that keeps the stencil inside the argument's domain."""
    if kind == "pos":
        return 1e-4 * theta
    if kind == "unit":
        return 1e-4 * min(theta, 1.0 - theta)
    return 1e-4 * max(1.0, abs(theta))


@dataclass
class Point:
    """A distribution at one argument point with an observation ``x``."""

    dist: D.Distribution
    x: np.ndarray
    vals: dict[str, np.ndarray]
    kinds: dict[str, str]  # differentiable name -> "real" | "pos" | "unit"
    logp: Callable[[np.ndarray, dict[str, np.ndarray]], np.ndarray] | None = field(
        default=None)

    def log_density(self, x: np.ndarray, vals: dict[str, np.ndarray]) -> np.ndarray:
        return (self.logp or self.dist.logp)(x, vals)


def numeric_derivative(fun: Callable, pt: Point, name: str) -> np.ndarray:
    """Five-point central differences of ``fun(x, vals)`` in every component of ``name``."""
    base = pt.x if name == "value" else pt.vals[name]
    cols = []
    for idx in np.ndindex(base.shape):
        h = step(float(base[idx]), pt.kinds[name])
        fs = []
        for c in (-2.0, -1.0, 1.0, 2.0):
            moved = base.copy()
            moved[idx] += c * h
            if name == "value":
                fs.append(np.asarray(fun(moved, pt.vals), float))
            else:
                fs.append(np.asarray(fun(pt.x, {**pt.vals, name: moved}), float))
        cols.append((fs[0] - 8.0 * fs[1] + 8.0 * fs[2] - fs[3]) / (12.0 * h))
    return np.stack(cols, axis=-1).reshape(np.shape(cols[0]) + base.shape)


def check_gradients(pt: Point) -> None:
    names = tuple(pt.kinds)
    g = pt.dist.dlogp(pt.x, pt.vals, names)
    h = pt.dist.d2logp(pt.x, pt.vals, names)
    assert set(g) == set(names)
    assert set(h) == {(a, b) for i, a in enumerate(names) for b in names[i:]}
    for a in names:
        ng = numeric_derivative(pt.log_density, pt, a)
        assert rel_err(g[a], ng) <= TOL, (a, g[a], ng)
    for i, a in enumerate(names):
        for b in names[i:]:
            # d/db of dlogp[a] has a's event axes first, as the key (a, b) promises
            n_ab = numeric_derivative(lambda x, v, a=a: pt.dist.dlogp(x, v, (a,))[a], pt, b)
            n_ba = numeric_derivative(lambda x, v, b=b: pt.dist.dlogp(x, v, (b,))[b], pt, a)
            if a != b:
                na, nb = np.ndim(g[a]), np.ndim(g[b])
                n_ba = n_ba.transpose([*range(nb, nb + na), *range(nb)])
            assert rel_err(h[(a, b)], n_ab) <= TOL, (a, b, h[(a, b)], n_ab)
            assert rel_err(h[(a, b)], n_ba) <= TOL, (b, a, h[(a, b)], n_ba)


# ---------------------------------------------------------------------------- strategies
def real(data: st.DataObject, lo: float = -3.0, hi: float = 3.0) -> float:
    return data.draw(st.floats(lo, hi))


def pos(data: st.DataObject, lo: float = 0.2, hi: float = 5.0) -> float:
    return float(np.exp(data.draw(st.floats(np.log(lo), np.log(hi)))))


def count(data: st.DataObject, hi: int) -> float:
    return float(data.draw(st.integers(0, hi)))


def simplex_point(data: st.DataObject, k: int) -> np.ndarray:
    w = np.array([data.draw(st.floats(0.05, 1.0)) for _ in range(k)])
    return w / w.sum()


def arr(v: Any) -> np.ndarray:
    return np.array(v, dtype=float)


def point(dist: D.Distribution, x: Any, kinds: dict[str, str],
          logp: Callable | None = None) -> Point:
    vals = {k: arr(v) for k, v in dist.args.items()}
    return Point(dist, arr(x), vals, kinds, logp)


def link_value(data: st.DataObject, link: str) -> float:
    return data.draw(st.floats(0.02, 0.98)) if link == "p" else real(data, -30.0, 30.0)


def link_kind(link: str) -> str:
    return "unit" if link == "p" else "real"


def _normal(d: st.DataObject) -> Point:
    return point(D.Normal(real(d), pos(d)), real(d, -10, 10),
                 {"value": "real", "loc": "real", "scale": "pos"})


def _student(d: st.DataObject) -> Point:
    return point(D.StudentT(pos(d, 0.5, 30.0), real(d), pos(d)), real(d, -10, 10),
                 {"value": "real", "loc": "real", "scale": "pos", "df": "pos"})


def _laplace(d: st.DataObject) -> Point:
    loc = real(d)
    off = pos(d, 0.05, 5.0) * d.draw(st.sampled_from([-1.0, 1.0]))
    return point(D.Laplace(loc, pos(d)), loc + off,
                 {"value": "real", "loc": "real", "scale": "pos"})


def _elastic_net(d: st.DataObject) -> Point:
    loc = real(d)
    off = pos(d, 0.05, 5.0) * d.draw(st.sampled_from([-1.0, 1.0]))
    return point(D.ElasticNet(pos(d), pos(d), loc), loc + off, {"value": "real", "loc": "real"})


def _gamma(param: str) -> Callable[[st.DataObject], Point]:
    def make(d: st.DataObject) -> Point:
        value = {"rate": lambda: pos(d), "mean": lambda: pos(d, 0.2, 20.0),
                 "log_mean": lambda: real(d, -2.0, 3.0),
                 "inverse_mean": lambda: pos(d, 0.05, 5.0)}[param]()
        kind = "real" if param == "log_mean" else "pos"
        return point(D.Gamma(pos(d, 0.3, 20.0), **{param: value}), pos(d, 0.05, 20.0),
                     {"value": "pos", "shape": "pos", param: kind})
    return make


def _beta(d: st.DataObject) -> Point:
    return point(D.Beta(pos(d, 0.3, 10.0), pos(d, 0.3, 10.0)), d.draw(st.floats(0.02, 0.98)),
                 {"value": "unit", "a": "pos", "b": "pos"})


def _exponential(d: st.DataObject) -> Point:
    return point(D.Exponential(pos(d)), pos(d, 0.01, 10.0), {"value": "pos", "rate": "pos"})


def _halfnormal(d: st.DataObject) -> Point:
    return point(D.HalfNormal(pos(d)), pos(d, 0.01, 10.0), {"value": "pos", "scale": "pos"})


def _uniform(d: st.DataObject) -> Point:
    low, width = real(d), pos(d)
    x = low + width * d.draw(st.floats(0.05, 0.95))
    return point(D.Uniform(low, low + width), x, {"value": "real", "low": "real", "high": "real"})


def _flat(d: st.DataObject) -> Point:
    return point(D.Flat(), real(d, -10, 10), {"value": "real"})


def _dirichlet(symmetric: bool) -> Callable[[st.DataObject], Point]:
    def make(d: st.DataObject) -> Point:
        k = d.draw(st.integers(2, 4))
        conc = pos(d, 0.3, 10.0) if symmetric else [pos(d, 0.3, 10.0) for _ in range(k)]
        dist = D.Dirichlet(conc)
        # value derivatives are in free coordinates: difference the smooth formula, which
        # public logp masks to -inf off the simplex
        return point(dist, simplex_point(d, k), {"value": "pos", "concentration": "pos"},
                     logp=lambda x, v: dist._logp(x, dist._vals(v)))
    return make


def _bernoulli(link: str) -> Callable[[st.DataObject], Point]:
    def make(d: st.DataObject) -> Point:
        return point(D.Bernoulli(**{link: link_value(d, link)}), count(d, 1),
                     {link: link_kind(link)})
    return make


def _binomial(link: str) -> Callable[[st.DataObject], Point]:
    def make(d: st.DataObject) -> Point:
        n = count(d, 30)
        return point(D.Binomial(n, **{link: link_value(d, link)}), count(d, int(n)),
                     {link: link_kind(link)})
    return make


def _poisson(param: str) -> Callable[[st.DataObject], Point]:
    def make(d: st.DataObject) -> Point:
        value = pos(d, 0.1, 50.0) if param == "rate" else real(d, -3.0, 5.0)
        return point(D.Poisson(**{param: value}), count(d, 60),
                     {param: "pos" if param == "rate" else "real"})
    return make


def _negbin(param: str) -> Callable[[st.DataObject], Point]:
    def make(d: st.DataObject) -> Point:
        value = pos(d, 0.1, 50.0) if param == "mean" else real(d, -3.0, 4.0)
        return point(D.NegativeBinomial(**{param: value}, dispersion=pos(d, 0.01, 5.0)),
                     count(d, 100),
                     {param: "pos" if param == "mean" else "real", "dispersion": "pos"})
    return make


def _categorical(param: str) -> Callable[[st.DataObject], Point]:
    def make(d: st.DataObject) -> Point:
        k = d.draw(st.integers(2, 4))
        value = [real(d) for _ in range(k)] if param == "logits" else simplex_point(d, k)
        return point(D.Categorical(**{param: value}), count(d, k - 1),
                     {param: "real" if param == "logits" else "pos"})
    return make


def _mvn(d: st.DataObject) -> Point:
    k = d.draw(st.integers(1, 3))
    a = np.array([[real(d, -1.0, 1.0) for _ in range(k)] for _ in range(k)])
    cov = a @ a.T + pos(d, 0.3, 3.0) * np.eye(k)
    dist = D.MultivariateNormal([real(d) for _ in range(k)], cov)
    x = [real(d, -4.0, 4.0) for _ in range(k)]
    # cov derivatives are in free (non-symmetric) coordinates: difference the general formula
    def logp(x: np.ndarray, v: dict[str, np.ndarray]) -> np.ndarray:
        r = x - v["loc"]
        return (-0.5 * k * np.log(2 * np.pi) - 0.5 * np.linalg.slogdet(v["cov"])[1]
                - 0.5 * r @ np.linalg.solve(v["cov"], r))
    return point(dist, x, {"value": "real", "loc": "real", "cov": "real"}, logp=logp)


def _spd(d: st.DataObject, k: int) -> np.ndarray:
    a = np.array([[real(d, -1.0, 1.0) for _ in range(k)] for _ in range(k)])
    return a @ a.T + pos(d, 0.3, 3.0) * np.eye(k)


def _mvn_precision(d: st.DataObject) -> Point:
    k = d.draw(st.integers(1, 3))
    dist = D.MultivariateNormal([real(d) for _ in range(k)], precision=_spd(d, k))
    x = [real(d, -4.0, 4.0) for _ in range(k)]

    def logp(x: np.ndarray, v: dict[str, np.ndarray]) -> np.ndarray:
        r = x - v["loc"]
        return (-0.5 * k * np.log(2 * np.pi) + 0.5 * np.linalg.slogdet(v["precision"])[1]
                - 0.5 * r @ v["precision"] @ r)
    return point(dist, x, {"value": "real", "loc": "real", "precision": "real"}, logp=logp)


def _wishart(d: st.DataObject) -> Point:
    k = d.draw(st.integers(1, 3))
    dist = D.Wishart(k - 1.0 + pos(d, 0.3, 8.0), _spd(d, k))
    x = _spd(d, k)

    # matrix derivatives are in free (non-symmetric) coordinates: the general formula
    def logp(x: np.ndarray, v: dict[str, np.ndarray]) -> np.ndarray:
        nu, w = v["df"], v["scale"]
        return (0.5 * (nu - k - 1.0) * np.linalg.slogdet(x)[1]
                - 0.5 * np.trace(np.linalg.solve(w, x)) - 0.5 * nu * k * np.log(2.0)
                - 0.5 * nu * np.linalg.slogdet(w)[1] - special.multigammaln(0.5 * nu, k))
    return point(dist, x, {"value": "real", "df": "pos", "scale": "real"}, logp=logp)


GRADIENT_CASES: dict[str, Callable[[st.DataObject], Point]] = {
    "Normal": _normal,
    "StudentT": _student,
    "Laplace": _laplace,
    "ElasticNet": _elastic_net,
    **{f"Gamma-{p}": _gamma(p) for p in ("rate", "mean", "log_mean", "inverse_mean")},
    "Beta": _beta,
    "Exponential": _exponential,
    "HalfNormal": _halfnormal,
    "Uniform": _uniform,
    "Flat": _flat,
    "Dirichlet": _dirichlet(False),
    "Dirichlet-symmetric": _dirichlet(True),
    "MultivariateNormal": _mvn,
    "MultivariateNormal-precision": _mvn_precision,
    "Wishart": _wishart,
    **{f"Bernoulli-{link}": _bernoulli(link) for link in LINKS},
    **{f"Binomial-{link}": _binomial(link) for link in LINKS},
    **{f"Poisson-{p}": _poisson(p) for p in ("rate", "log_rate")},
    **{f"NegativeBinomial-{p}": _negbin(p) for p in ("mean", "log_mean")},
    **{f"Categorical-{p}": _categorical(p) for p in ("logits", "probs")},
}

FAST = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------- 1. gradients
@pytest.mark.parametrize("case", sorted(GRADIENT_CASES))
@FAST
@given(data=st.data())
def test_derivatives_match_central_differences(case: str, data: st.DataObject) -> None:
    check_gradients(GRADIENT_CASES[case](data))


def test_every_class_and_parameterization_is_gradient_checked() -> None:
    classes = {name.split("-")[0] for name in GRADIENT_CASES}
    assert classes == set(D.__all__) - {"Distribution", "constraints"}
    for cls, alts in {"Bernoulli": LINKS, "Binomial": LINKS, "Poisson": ("rate", "log_rate"),
                      "Gamma": ("rate", "mean", "log_mean", "inverse_mean"),
                      "NegativeBinomial": ("mean", "log_mean"),
                      "Categorical": ("logits", "probs")}.items():
        assert {f"{cls}-{a}" for a in alts} <= set(GRADIENT_CASES)


def test_extreme_links_are_finite_and_checked() -> None:
    """|eta| = 40 on every link: finite values and derivatives, and a gradient check."""
    for link in ("logit", "probit", "cloglog"):
        for eta in (-40.0, -25.0, 25.0, 40.0):
            for dist, xs in ((D.Bernoulli(**{link: eta}), (0.0, 1.0)),
                             (D.Binomial(12, **{link: eta}), (0.0, 5.0, 12.0))):
                for x in xs:
                    pt = point(dist, x, {link: "real"})
                    lp = dist.logp(pt.x, pt.vals)
                    d1 = dist.dlogp(pt.x, pt.vals, (link,))[link]
                    d2 = dist.d2logp(pt.x, pt.vals, (link,))[(link, link)]
                    e2 = dist.expected_d2logp(pt.vals, (link,))[(link, link)]
                    assert np.all(np.isfinite([lp, d1, d2, e2])), (link, eta, x)
                    check_gradients(pt)


@pytest.mark.parametrize("case", sorted(GRADIENT_CASES))
@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_row_terms_match_the_checked_protocol(case: str, data: st.DataObject) -> None:
    """The likelihood inner loop's ``row_terms`` gives what ``logp``, ``dlogp``, ``d2logp`` and
    ``expected_d2logp`` give, for every scalar argument of every scalar-event family."""
    pt = GRADIENT_CASES[case](data)
    if pt.dist.event_ndim != 0 or not pt.dist.support.check(pt.x):
        return
    for arg in (a for a in pt.kinds if a != "value" and np.ndim(pt.vals[a]) == 0):
        lp, d1, d2 = pt.dist.row_terms(pt.x, pt.vals, arg, 2)
        np.testing.assert_allclose(lp, pt.dist.logp(pt.x, pt.vals), rtol=1e-13)
        np.testing.assert_allclose(d1, pt.dist.dlogp(pt.x, pt.vals, (arg,))[arg], rtol=1e-13)
        np.testing.assert_allclose(d2, pt.dist.d2logp(pt.x, pt.vals, (arg,))[arg, arg],
                                   rtol=1e-13)
        _, _, e2 = pt.dist.row_terms(pt.x, pt.vals, arg, 2, "expected")
        try:
            want = pt.dist.expected_d2logp(pt.vals, (arg,))[arg, arg]
        except (NotImplementedError, DistributionError):
            continue
        np.testing.assert_allclose(e2, want, rtol=1e-13)
        assert pt.dist.row_terms(pt.x, pt.vals, arg, 1, value=False)[0] is None


# ---------------------------------------------------------------------------- shapes & wrt
def test_outputs_broadcast_and_keys_follow_wrt_order() -> None:
    d = D.Normal(0.0, 1.0)
    x = np.linspace(-1, 1, 6).reshape(2, 3)
    vals = {"loc": np.zeros((1, 3)), "scale": np.array(2.0)}
    assert d.logp(x, vals).shape == (2, 3)
    g = d.dlogp(x, vals, ("scale", "loc"))
    assert g["scale"].shape == g["loc"].shape == (2, 3)
    h = d.d2logp(x, vals, ("scale", "loc"))
    assert list(h) == [("scale", "scale"), ("scale", "loc"), ("loc", "loc")]
    assert all(v.shape == (2, 3) for v in h.values())
    e = d.expected_d2logp({"loc": np.zeros(4), "scale": np.array(2.0)}, ("loc", "scale"))
    assert all(v.shape == (4,) for v in e.values())
    np.testing.assert_allclose(e[("loc", "loc")], -0.25)
    np.testing.assert_allclose(e[("loc", "scale")], 0.0)
    np.testing.assert_allclose(e[("scale", "scale")], -0.5)
    h["loc", "loc"][0, 0] = 5.0  # outputs are writable arrays


def test_vector_event_shapes() -> None:
    c = D.Categorical(logits=np.zeros((5, 3)))
    x = np.array([0, 1, 2, 1, 0.0])
    assert c.logp(x, {}).shape == (5,)
    assert c.dlogp(x, {}, ("logits",))["logits"].shape == (5, 3)
    assert c.d2logp(x, {}, ("logits",))[("logits", "logits")].shape == (5, 3, 3)
    assert c.expected_d2logp({}, ("logits",))[("logits", "logits")].shape == (5, 3, 3)
    dr = D.Dirichlet(np.array([1.5, 2.0, 3.0]))
    xs = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    assert dr.logp(xs, {}).shape == (2,)
    h = dr.d2logp(xs, {}, ("concentration", "value"))
    assert h[("concentration", "value")].shape == (2, 3, 3)
    sym = D.Dirichlet(2.0)
    assert sym.dlogp(xs, {}, ("concentration",))["concentration"].shape == (2,)
    assert sym.d2logp(xs, {}, ("value", "concentration"))[("value", "concentration")].shape \
        == (2, 3)
    with pytest.raises(DistributionError, match="k"):
        sym.sample(0)


def test_wrt_is_validated() -> None:
    with pytest.raises(DistributionError, match="'value'"):
        D.Poisson(rate=1.0).dlogp(np.array(1.0), {}, ("value",))
    with pytest.raises(DistributionError, match="'trials'"):
        D.Binomial(3, logit=0.0).dlogp(np.array(1.0), {}, ("trials",))
    with pytest.raises(DistributionError, match="'p'"):
        D.Bernoulli(logit=0.0).dlogp(np.array(1.0), {}, ("p",))
    with pytest.raises(DistributionError, match="'value'"):
        D.Normal().expected_d2logp({}, ("value",))


def test_expression_arguments_are_stored_untouched() -> None:
    class Expr:
        """Stands in for a DSL node: any arithmetic on it would fail."""

    e = Expr()
    for dist in (D.Normal(e, 2.0), D.Bernoulli(logit=e), D.Gamma(e, log_mean=e),
                 D.NegativeBinomial(log_mean=e, dispersion=e), D.Binomial(e, probit=e),
                 D.Categorical(logits=e), D.Dirichlet(e), D.Uniform(e, e)):
        assert any(v is e for v in dist.args.values())
    d = D.Normal(e, 2.0)
    np.testing.assert_allclose(d.logp(np.array(0.0), {"loc": np.array(0.0)}),
                               stats.norm(0, 2).logpdf(0.0))
    with pytest.raises(DistributionError, match="'loc'"):
        d.logp(np.array(0.0), {})
    # the support check uses only the arguments it has values for
    D.Binomial(e, logit=e).check_support(np.array([0.0, 3.0]), {}, "y")


def test_logp_is_minus_inf_outside_the_support() -> None:
    assert D.Gamma(2.0, 1.0).log_prob(-1.0) == -np.inf
    assert D.Beta(2.0, 2.0).log_prob(1.5) == -np.inf
    assert D.HalfNormal().log_prob(-0.1) == -np.inf
    assert np.isfinite(D.HalfNormal().log_prob(0.0))
    assert D.Poisson(rate=1.0).log_prob(1.5) == -np.inf
    assert D.Binomial(3, p=0.5).log_prob(4.0) == -np.inf
    assert D.Bernoulli(logit=0.0).log_prob(2.0) == -np.inf
    assert D.Categorical(probs=[0.5, 0.5]).log_prob(2.0) == -np.inf
    assert D.Uniform(0.0, 2.0).log_prob(2.5) == -np.inf


def test_binomial_with_one_trial_is_bernoulli() -> None:
    x = np.array([0.0, 1.0, 1.0, 0.0])
    eta = np.array([-3.0, -0.2, 1.0, 35.0])
    for link in LINKS:
        v = np.array([0.1, 0.4, 0.7, 0.95]) if link == "p" else eta
        b, bn = D.Bernoulli(**{link: v}), D.Binomial(1, **{link: v})
        np.testing.assert_allclose(bn.logp(x, {}), b.logp(x, {}), rtol=1e-13, atol=1e-300)
        np.testing.assert_allclose(bn.d2logp(x, {}, (link,))[(link, link)],
                                   b.d2logp(x, {}, (link,))[(link, link)], rtol=1e-13)


def test_negative_binomial_tends_to_poisson() -> None:
    x = np.arange(0.0, 30.0)
    nb = D.NegativeBinomial(mean=7.0, dispersion=1e-10).logp(x, {})
    np.testing.assert_allclose(nb, stats.poisson(7.0).logpmf(x), rtol=1e-8)


# ---------------------------------------------------------------------------- 2. expectations
def _assert_expected(dist: D.Distribution, names: tuple[str, ...], expect: Callable) -> None:
    vals = {k: arr(v) for k, v in dist.args.items()}
    got = dist.expected_d2logp(vals, names)
    for i, a in enumerate(names):
        for b in names[i:]:
            ref = expect(a, b)
            assert rel_err(got[(a, b)], ref) <= 1e-8, (type(dist).__name__, a, b,
                                                       got[(a, b)], ref)


def _discrete_expectation(dist: D.Distribution, support: np.ndarray,
                          pmf: np.ndarray) -> Callable:
    def expect(a: str, b: str) -> np.ndarray:
        h = dist.d2logp(support, {}, tuple(dict.fromkeys((a, b))))[(a, b)]
        return np.tensordot(pmf, h, axes=(0, 0))
    return expect


@settings(max_examples=40, deadline=None, derandomize=True)
@given(data=st.data())
def test_expected_second_derivatives_discrete_exact_sums(data: st.DataObject) -> None:
    link = data.draw(st.sampled_from(LINKS))
    eta = link_value(data, link) if link == "p" else real(data, -8.0, 8.0)
    b = D.Bernoulli(**{link: eta})
    pmf = np.exp(b.logp(np.array([0.0, 1.0]), {}))
    _assert_expected(b, (link,), _discrete_expectation(b, np.array([0.0, 1.0]), pmf))

    n = count(data, 40)
    bn = D.Binomial(n, **{link: eta})
    ks = np.arange(n + 1.0)
    _assert_expected(bn, (link,), _discrete_expectation(bn, ks, np.exp(bn.logp(ks, {}))))

    for param, value in (("rate", pos(data, 0.1, 80.0)), ("log_rate", real(data, -3, 4))):
        p = D.Poisson(**{param: value})
        lam = float(p.mean())
        ks = np.arange(0.0, stats.poisson(lam).isf(1e-16) + 1)
        _assert_expected(p, (param,), _discrete_expectation(p, ks, np.exp(p.logp(ks, {}))))

    for param, value in (("mean", pos(data, 0.1, 60.0)), ("log_mean", real(data, -3, 4))):
        nb = D.NegativeBinomial(**{param: value}, dispersion=pos(data, 0.02, 4.0))
        mu, var = float(nb.mean()), float(nb.variance())
        r = float(1.0 / nb.args["dispersion"])
        ks = np.arange(0.0, stats.nbinom(r, mu / var).isf(1e-17) + 1)
        _assert_expected(nb, (param, "dispersion"),
                         _discrete_expectation(nb, ks, np.exp(nb.logp(ks, {}))))

    k = data.draw(st.integers(2, 5))
    for c in (D.Categorical(logits=[real(data) for _ in range(k)]),
              D.Categorical(probs=simplex_point(data, k))):
        labels = np.arange(float(k))
        name = c.arg_names[0]
        _assert_expected(c, (name,), _discrete_expectation(c, labels, np.exp(c.logp(labels, {}))))


def _quad_expectation(dist: D.Distribution, lo: float, hi: float,
                      points: tuple[float, ...] = ()) -> Callable:
    def expect(a: str, b: str) -> float:
        def f(x: float) -> float:
            xa = np.array(x)
            h = dist.d2logp(xa, {}, tuple(dict.fromkeys((a, b))))[(a, b)]
            return float(np.exp(dist.logp(xa, {})) * h)
        kw: dict[str, Any] = {"epsabs": 1e-13, "epsrel": 1e-11, "limit": 400}
        if points and np.isfinite(lo) and np.isfinite(hi):
            kw["points"] = points
        return integrate.quad(f, lo, hi, **kw)[0]
    return expect


CONTINUOUS_EXPECTATIONS = [
    (D.Normal(0.7, 1.8), -np.inf, np.inf),
    (D.StudentT(4.5, -0.3, 0.8), -np.inf, np.inf),
    (D.StudentT(0.8, 1.0, 2.0), -np.inf, np.inf),
    (D.Gamma(2.5, 1.7), 0.0, np.inf),
    (D.Gamma(0.7, mean=3.0), 0.0, np.inf),
    (D.Gamma(6.0, log_mean=0.4), 0.0, np.inf),
    (D.Gamma(1.3, inverse_mean=0.6), 0.0, np.inf),
    (D.Beta(2.5, 0.9), 0.0, 1.0),
    (D.Exponential(1.7), 0.0, np.inf),
    (D.HalfNormal(0.6), 0.0, np.inf),
    (D.Uniform(-1.0, 2.5), -1.0, 2.5),
]


@pytest.mark.parametrize(("dist", "lo", "hi"), CONTINUOUS_EXPECTATIONS,
                         ids=lambda v: repr(v) if isinstance(v, D.Distribution) else "")
def test_expected_second_derivatives_continuous_quadrature(dist: D.Distribution, lo: float,
                                                           hi: float) -> None:
    names = tuple(n for n in dist.diff_names if n != "value")
    _assert_expected(dist, names, _quad_expectation(dist, lo, hi))


def test_expected_laplace_is_minus_fisher_information() -> None:
    """The kink's delta makes E[d2logp] in loc equal -E[score²]; scale pairs by quadrature."""
    d = D.Laplace(0.4, 1.3)
    loc = 0.4

    def score2(x: float) -> float:
        xa = np.array(x)
        return float(np.exp(d.logp(xa, {})) * d.dlogp(xa, {}, ("loc",))["loc"] ** 2)

    fisher = sum(integrate.quad(score2, lo, hi, epsabs=1e-14)[0]
                 for lo, hi in ((-np.inf, loc), (loc, np.inf)))
    got = d.expected_d2logp({}, ("loc", "scale"))
    assert rel_err(got[("loc", "loc")], -fisher) <= 1e-8
    for pair in (("loc", "scale"), ("scale", "scale")):
        ref = sum(_quad_expectation(d, lo, hi)(*pair) for lo, hi in ((-np.inf, loc),
                                                                     (loc, np.inf)))
        assert rel_err(got[pair], ref) <= 1e-8


def test_expected_dirichlet_equals_the_value_free_second_derivative() -> None:
    x = np.random.default_rng(3).dirichlet(np.ones(3))
    key = ("concentration", "concentration")
    d = D.Dirichlet(np.array([0.7, 2.0, 5.0]))
    np.testing.assert_allclose(d.expected_d2logp({}, ("concentration",))[key],
                               d.d2logp(x, {}, ("concentration",))[key], rtol=1e-14)
    # symmetric: k² ψ'(k a) − k ψ'(a), the sum of the vector version's entries
    sym = D.Dirichlet(1.7).d2logp(x, {}, ("concentration",))[key]
    full = D.Dirichlet(np.full(3, 1.7)).d2logp(x, {}, ("concentration",))[key]
    np.testing.assert_allclose(sym, full.sum(), rtol=1e-13)


# ---------------------------------------------------------------------------- 3. scipy
def _scipy_cases(rng: np.random.Generator) -> list[tuple[str, D.Distribution, np.ndarray,
                                                        np.ndarray]]:
    n = 40
    u = rng.uniform(size=n)
    loc, scale = rng.normal(size=n), rng.uniform(0.2, 3.0, n)
    xr = rng.normal(scale=3.0, size=n)
    xp = rng.gamma(2.0, 1.5, n)
    shape = rng.uniform(0.3, 8.0, n)
    eta = rng.normal(scale=3.0, size=n)
    trials = rng.integers(0, 25, n).astype(float)
    succ = np.floor(u * (trials + 1))
    y01 = (u < 0.5).astype(float)
    counts = rng.integers(0, 40, n).astype(float)
    mu = rng.uniform(0.2, 30.0, n)
    alpha = rng.uniform(0.01, 4.0, n)
    df = rng.uniform(0.5, 30.0, n)
    a, b = rng.uniform(0.3, 6.0, n), rng.uniform(0.3, 6.0, n)
    xb = rng.uniform(0.01, 0.99, n)
    out = [
        ("Normal", D.Normal(loc, scale), xr, stats.norm(loc, scale).logpdf(xr)),
        ("StudentT", D.StudentT(df, loc, scale), xr, stats.t(df, loc, scale).logpdf(xr)),
        ("Laplace", D.Laplace(loc, scale), xr, stats.laplace(loc, scale).logpdf(xr)),
        # l2 = 0 is a Laplace(loc, 1/l1) density, l1 = 0 a Normal(loc, 1/sqrt(l2)) density
        ("ElasticNet", D.ElasticNet(np.where(u < 0.5, 1.0 / scale, 0.0),
                                    np.where(u < 0.5, 0.0, 1.0 / scale**2), loc), xr,
         np.where(u < 0.5, stats.laplace(loc, scale).logpdf(xr),
                  stats.norm(loc, scale).logpdf(xr))),
        ("Gamma-rate", D.Gamma(shape, scale), xp, stats.gamma(shape, scale=1 / scale).logpdf(xp)),
        ("Gamma-mean", D.Gamma(shape, mean=mu), xp,
         stats.gamma(shape, scale=mu / shape).logpdf(xp)),
        ("Gamma-log_mean", D.Gamma(shape, log_mean=eta / 3), xp,
         stats.gamma(shape, scale=np.exp(eta / 3) / shape).logpdf(xp)),
        ("Gamma-inverse_mean", D.Gamma(shape, inverse_mean=scale), xp,
         stats.gamma(shape, scale=1 / (scale * shape)).logpdf(xp)),
        ("Beta", D.Beta(a, b), xb, stats.beta(a, b).logpdf(xb)),
        ("Exponential", D.Exponential(scale), xp, stats.expon(scale=1 / scale).logpdf(xp)),
        ("HalfNormal", D.HalfNormal(scale), xp, stats.halfnorm(scale=scale).logpdf(xp)),
        ("Uniform", D.Uniform(loc, loc + scale), loc + u * scale,
         stats.uniform(loc, scale).logpdf(loc + u * scale)),
        ("Flat", D.Flat(), xr, np.zeros(n)),
        ("Poisson-rate", D.Poisson(rate=mu), counts, stats.poisson(mu).logpmf(counts)),
        ("Poisson-log_rate", D.Poisson(log_rate=eta / 2), counts,
         stats.poisson(np.exp(eta / 2)).logpmf(counts)),
        ("NegativeBinomial-mean", D.NegativeBinomial(mean=mu, dispersion=alpha), counts,
         stats.nbinom(1 / alpha, 1 / (1 + alpha * mu)).logpmf(counts)),
        ("NegativeBinomial-log_mean",
         D.NegativeBinomial(log_mean=np.log(mu), dispersion=alpha), counts,
         stats.nbinom(1 / alpha, 1 / (1 + alpha * mu)).logpmf(counts)),
    ]
    probs = {"logit": 1 / (1 + np.exp(-eta)), "probit": stats.norm.cdf(eta),
             "cloglog": -np.expm1(-np.exp(eta / 3)), "p": xb}
    args = {"logit": eta, "probit": eta, "cloglog": eta / 3, "p": xb}
    for link in LINKS:
        out.append((f"Bernoulli-{link}", D.Bernoulli(**{link: args[link]}), y01,
                    stats.bernoulli(probs[link]).logpmf(y01)))
        out.append((f"Binomial-{link}", D.Binomial(trials, **{link: args[link]}), succ,
                    stats.binom(trials, probs[link]).logpmf(succ)))
    k = 4
    logits = rng.normal(size=(n, k))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    lab = rng.integers(0, k, n).astype(float)
    ref = np.log(p[np.arange(n), lab.astype(int)])
    out.append(("Categorical-logits", D.Categorical(logits=logits), lab, ref))
    out.append(("Categorical-probs", D.Categorical(probs=p), lab, ref))
    conc = rng.uniform(0.3, 5.0, (n, k))
    xs = rng.dirichlet(np.ones(k), n)
    out.append(("Dirichlet", D.Dirichlet(conc), xs,
                np.array([stats.dirichlet(c).logpdf(x) for c, x in zip(conc, xs, strict=True)])))
    out.append(("Dirichlet-symmetric", D.Dirichlet(1.7), xs,
                np.array([stats.dirichlet(np.full(k, 1.7)).logpdf(x) for x in xs])))
    a = rng.normal(size=(3, 3))
    cov, loc = a @ a.T + 0.5 * np.eye(3), rng.normal(size=3)
    xv = rng.normal(size=(n, 3)) * 2.0
    out.append(("MultivariateNormal", D.MultivariateNormal(loc, cov), xv,
                stats.multivariate_normal(loc, cov).logpdf(xv)))
    out.append(("MultivariateNormal-precision",
                D.MultivariateNormal(loc, precision=np.linalg.inv(cov)), xv,
                stats.multivariate_normal(loc, cov).logpdf(xv)))
    ws = stats.wishart(4.5, cov).rvs(n, random_state=1)
    out.append(("Wishart", D.Wishart(4.5, cov), ws, stats.wishart(4.5, cov).logpdf(
        np.moveaxis(ws, 0, -1))))
    return out


def test_logp_matches_scipy() -> None:
    cases = _scipy_cases(np.random.default_rng(20240611))
    assert {c[0] for c in cases} == set(GRADIENT_CASES)
    for name, dist, x, ref in cases:
        np.testing.assert_allclose(dist.log_prob(x), ref, rtol=1e-9, atol=1e-10, err_msg=name)


# ---------------------------------------------------------------------------- 4. moments
MOMENT_CASES = [
    D.Normal(np.array([0.5, -2.0]), 1.5),
    D.StudentT(10.0, np.array([0.5, 1.0]), 2.0),
    D.Laplace(1.0, np.array([0.5, 2.0])),
    D.Gamma(np.array([0.7, 4.0]), 2.0),
    D.Gamma(2.0, mean=np.array([0.5, 3.0])),
    D.Gamma(2.0, log_mean=np.array([0.5, -1.0])),
    D.Gamma(2.0, inverse_mean=np.array([0.5, 3.0])),
    D.Beta(np.array([0.5, 3.0]), 2.0),
    D.Exponential(np.array([0.5, 3.0])),
    D.HalfNormal(np.array([0.5, 3.0])),
    D.Uniform(-1.0, np.array([0.0, 4.0])),
    D.Bernoulli(logit=np.array([-1.0, 2.0])),
    D.Bernoulli(probit=np.array([-1.0, 0.5])),
    D.Bernoulli(cloglog=np.array([-1.0, 0.5])),
    D.Bernoulli(p=np.array([0.1, 0.7])),
    D.Binomial(np.array([5.0, 20.0]), logit=0.3),
    D.Binomial(8.0, probit=np.array([-0.5, 0.5])),
    D.Binomial(8.0, cloglog=np.array([-0.5, 0.5])),
    D.Binomial(8.0, p=np.array([0.2, 0.9])),
    D.Poisson(rate=np.array([0.5, 12.0])),
    D.Poisson(log_rate=np.array([0.5, 2.0])),
    D.NegativeBinomial(mean=np.array([0.5, 12.0]), dispersion=0.7),
    D.NegativeBinomial(log_mean=np.array([0.5, 2.0]), dispersion=np.array([0.1, 2.0])),
    D.Categorical(logits=np.array([[0.0, 1.0, -1.0], [2.0, 0.0, 0.0]])),
    D.Categorical(probs=np.array([0.2, 0.5, 0.3])),
    D.Dirichlet(np.array([[0.5, 1.0, 2.0], [3.0, 3.0, 1.0]])),
    D.MultivariateNormal(np.array([1.0, -2.0]), np.array([[2.0, 0.6], [0.6, 0.5]])),
    D.MultivariateNormal(np.array([1.0, -2.0]), precision=np.array([[2.0, 0.6], [0.6, 0.5]])),
    D.Wishart(np.array([3.5, 6.0]), np.array([[2.0, 0.6], [0.6, 0.5]])),
]


@pytest.mark.parametrize("dist", MOMENT_CASES, ids=repr)
def test_sample_moments_match_closed_forms(dist: D.Distribution) -> None:
    n = 40_000
    draws = dist.sample(np.random.default_rng(11), size=n)
    mean, var = dist.mean(), dist.variance()
    if isinstance(dist, D.Categorical):
        k = mean.shape[-1]
        assert draws.shape == (n, *mean.shape[:-1])
        draws = (draws[..., None] == np.arange(k)).astype(float)
    assert draws.shape == (n, *mean.shape)
    assert draws.dtype == np.float64
    se = np.sqrt(var / n)
    assert np.all(np.abs(draws.mean(0) - mean) <= 5 * se + 1e-12), (draws.mean(0), mean)
    np.testing.assert_allclose(draws.var(0), var, rtol=0.06)
    assert np.all(dist.in_support(draws, {}))


def test_sample_shapes() -> None:
    d = D.Normal(np.zeros(3), 1.0)
    assert d.sample(0).shape == (3,)
    assert d.sample(0, size=(2, 4)).shape == (2, 4, 3)
    assert D.Dirichlet(np.ones(4)).sample(0, size=5).shape == (5, 4)
    with pytest.raises(DistributionError, match="improper"):
        D.Flat().sample(0)


def test_student_t_moments_by_df() -> None:
    d = D.StudentT(np.array([0.5, 1.5, 3.0]), 1.0, 2.0)
    np.testing.assert_array_equal(d.mean(), [np.nan, 1.0, 1.0])
    np.testing.assert_array_equal(d.variance(), [np.nan, np.inf, 12.0])


# ---------------------------------------------------------------------------- 5. bad input
@pytest.mark.parametrize(("make", "name"), [
    (lambda: D.Normal(0.0, -1.0), "scale"),
    (lambda: D.Gamma(0.0, 1.0), "shape"),
    (lambda: D.Poisson(rate=-1.0), "rate"),
    (lambda: D.Bernoulli(p=1.0), "p"),
    (lambda: D.Binomial(2.5, logit=0.0), "trials"),
    (lambda: D.NegativeBinomial(mean=1.0, dispersion=0.0), "dispersion"),
    (lambda: D.StudentT(-1.0), "df"),
    (lambda: D.Dirichlet([1.0, -1.0]), "concentration"),
    (lambda: D.Categorical(probs=[0.5, 0.6]), "probs"),
    (lambda: D.Categorical(logits=1.0), "logits"),
    (lambda: D.Uniform(1.0, 0.0), "high"),
    (lambda: D.Gamma(1.0, inverse_mean=-2.0), "inverse_mean"),
])
def test_bad_arguments_name_the_argument(make: Callable, name: str) -> None:
    with pytest.raises(DistributionError, match=repr(name)):
        make()


@pytest.mark.parametrize(("make", "names"), [
    (lambda: D.Bernoulli(logit=0.0, p=0.5), ("logit", "p", "probit", "cloglog")),
    (lambda: D.Bernoulli(), ("logit", "p", "probit", "cloglog")),
    (lambda: D.Binomial(3, logit=0.0, probit=0.0), ("logit", "p", "probit", "cloglog")),
    (lambda: D.Poisson(), ("rate", "log_rate")),
    (lambda: D.Gamma(1.0), ("rate", "mean", "log_mean", "inverse_mean")),
    (lambda: D.Gamma(1.0, 2.0, mean=1.0), ("rate", "mean", "log_mean", "inverse_mean")),
    (lambda: D.NegativeBinomial(mean=1.0, log_mean=0.0, dispersion=1.0), ("mean", "log_mean")),
    (lambda: D.Categorical(), ("logits", "probs")),
])
def test_parameterizations_are_exclusive(make: Callable, names: tuple[str, ...]) -> None:
    with pytest.raises(DistributionError) as err:
        make()
    assert all(repr(n) in str(err.value) for n in names)


@pytest.mark.parametrize(("dist", "y", "row"), [
    (D.Bernoulli(logit=0.0), [0.0, 1.0, 2.0], 2),
    (D.Poisson(rate=1.0), [3.0, -1.0], 1),
    (D.Poisson(log_rate=0.0), [1.5, 2.0], 0),
    (D.Gamma(2.0, 1.0), [1.0, 2.0, 0.0], 2),
    (D.Gamma(2.0, log_mean=0.0), [-1.0], 0),
    (D.Binomial(np.array([3.0, 3.0, 5.0]), logit=0.0), [3.0, 4.0, 5.0], 1),
    (D.Categorical(logits=np.zeros(3)), [0.0, 3.0], 1),
    (D.Beta(1.0, 1.0), [0.5, 1.0], 1),
    (D.Uniform(0.0, 2.0), [0.5, 2.5], 1),
    (D.NegativeBinomial(mean=2.0, dispersion=1.0), [2.0, 0.5], 1),
])
def test_check_support_names_variable_and_row(dist: D.Distribution, y: list[float],
                                              row: int) -> None:
    with pytest.raises(DataError, match=rf"'y'.*row {row}\b"):
        dist.check_support(np.array(y), {}, "y")
    good = np.array([v for i, v in enumerate(y) if i != row])
    vals = {k: v[[i for i in range(np.size(v)) if i != row]] if np.ndim(v) and not
            isinstance(dist, D.Categorical) else v for k, v in dist.args.items()}
    dist.check_support(good, vals, "y")


def test_binomial_support_message_shows_trials() -> None:
    with pytest.raises(DataError, match=r"\[0, 3\]"):
        D.Binomial(3, p=0.5).check_support(np.array([4.0]), {}, "successes")
