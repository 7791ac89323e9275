"""Continuous univariate distributions.

Normal, StudentT, Laplace, Gamma, Beta, Exponential, HalfNormal, Uniform and the improper Flat.
Every one accepts ``"value"`` in ``wrt`` (the derivative in the observed or parameter value).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from scipy import special

from probfit.distributions._core import Family, Pair, Thunk, Vals, one_of, require
from probfit.distributions.constraints import (
    Constraint,
    nonnegative,
    positive,
    real,
    unit_interval,
)
from probfit.errors import DistributionError

__all__ = [
    "Beta",
    "Exponential",
    "Flat",
    "Gamma",
    "HalfNormal",
    "Laplace",
    "Normal",
    "StudentT",
    "Uniform",
]

_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


def _trigamma(x: np.ndarray) -> np.ndarray:
    return special.polygamma(1, x)


class Normal(Family):
    r"""Normal distribution with location ``loc`` and scale (standard deviation) ``scale``.

    .. math:: \log p(x) = -\tfrac12 z^2 - \log\sigma - \tfrac12\log 2\pi,
              \qquad z = (x - \mu)/\sigma

    Parameters
    ----------
    loc
        Mean ``mu``.
    scale
        Standard deviation ``sigma > 0`` (a scale, not a variance).

    Notes
    -----
    Expected second derivatives: ``-1/sigma²`` (loc, loc), ``-2/sigma²`` (scale, scale), 0
    (loc, scale).
    """

    support: ClassVar[Constraint] = real
    domains: ClassVar[dict[str, Constraint]] = {"loc": real, "scale": positive}
    restricted: ClassVar[bool] = False

    def __init__(self, loc: Any = 0.0, scale: Any = 1.0) -> None:
        require("Normal", loc=loc, scale=scale)
        super().__init__(loc=loc, scale=scale)

    def _logp(self, x: np.ndarray, v: Vals) -> np.ndarray:
        s = v["scale"]
        z = (x - v["loc"]) / s
        return -0.5 * z * z - np.log(s) - _HALF_LOG_2PI

    def _grad(self, x: np.ndarray, v: Vals) -> dict[str, Thunk]:
        s = v["scale"]
        z = (x - v["loc"]) / s
        return {"value": lambda: -z / s, "loc": lambda: z / s,
                "scale": lambda: (z * z - 1.0) / s}

    def _hess(self, x: np.ndarray, v: Vals) -> dict[Pair, Thunk]:
        s = v["scale"]
        z = (x - v["loc"]) / s
        return {("value", "value"): lambda: -1.0 / s**2, ("value", "loc"): lambda: 1.0 / s**2,
                ("value", "scale"): lambda: 2.0 * z / s**2,
                ("loc", "loc"): lambda: -1.0 / s**2, ("loc", "scale"): lambda: -2.0 * z / s**2,
                ("scale", "scale"): lambda: (1.0 - 3.0 * z * z) / s**2}

    def _ehess(self, v: Vals) -> dict[Pair, Thunk]:
        s = v["scale"]
        return {("loc", "loc"): lambda: -1.0 / s**2, ("scale", "scale"): lambda: -2.0 / s**2}

    def _sample(self, rng: np.random.Generator, v: Vals, shape: tuple[int, ...]) -> np.ndarray:
        return v["loc"] + v["scale"] * rng.standard_normal(shape)

    def _mean(self, v: Vals) -> np.ndarray:
        return v["loc"]

    def _var(self, v: Vals) -> np.ndarray:
        return v["scale"] ** 2


class StudentT(Family):
    r"""Student's t distribution with ``df`` degrees of freedom, location and scale.

    .. math::
        \log p(x) = \log\Gamma\!\left(\tfrac{\nu+1}{2}\right) - \log\Gamma\!\left(\tfrac\nu2\right)
                    - \tfrac12\log(\nu\pi) - \log\sigma
                    - \tfrac{\nu+1}{2}\log\!\left(1 + z^2/\nu\right), \qquad z = (x-\mu)/\sigma

    Parameters
    ----------
    df
        Degrees of freedom ``nu > 0`` (differentiable, through digamma and trigamma).
    loc
        Location ``mu``.
    scale
        Scale ``sigma > 0``.

    Notes
    -----
    The expected second derivatives are the closed-form Fisher information of the
    location-scale t (Lange, Little and Taylor, 1989): ``-(nu+1)/((nu+3) sigma²)`` (loc, loc),
    ``-2 nu/((nu+3) sigma²)`` (scale, scale), ``2/((nu+1)(nu+3) sigma)`` (df, scale),
    ``(ψ'((nu+1)/2) - ψ'(nu/2))/4 + (nu+5)/(2 nu (nu+1)(nu+3))`` (df, df), and 0 for the
    pairs involving loc. ``mean_of`` is ``loc`` for ``df > 1`` and NaN otherwise;
    ``variance_of`` is ``scale² df/(df-2)`` for ``df > 2``, ``inf`` for ``1 < df <= 2`` and NaN
    for ``df <= 1``.
    """

    support: ClassVar[Constraint] = real
    domains: ClassVar[dict[str, Constraint]] = {"df": positive, "loc": real, "scale": positive}
    restricted: ClassVar[bool] = False

    def __init__(self, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> None:
        require("StudentT", df=df, loc=loc, scale=scale)
        super().__init__(df=df, loc=loc, scale=scale)

    def _logp(self, x: np.ndarray, v: Vals) -> np.ndarray:
        nu, s = v["df"], v["scale"]
        z = (x - v["loc"]) / s
        return (special.gammaln(0.5 * (nu + 1.0)) - special.gammaln(0.5 * nu)
                - 0.5 * np.log(nu * np.pi) - np.log(s)
                - 0.5 * (nu + 1.0) * np.log1p(z * z / nu))

    def _grad(self, x: np.ndarray, v: Vals) -> dict[str, Thunk]:
        nu, s = v["df"], v["scale"]
        z = (x - v["loc"]) / s
        q = z * z + nu
        fz = -(nu + 1.0) * z / q  # d logp / dz

        def ddf() -> np.ndarray:
            return 0.5 * (special.digamma(0.5 * (nu + 1.0)) - special.digamma(0.5 * nu)
                          - 1.0 / nu - np.log1p(z * z / nu) + (nu + 1.0) * z * z / (nu * q))

        return {"value": lambda: fz / s, "loc": lambda: -fz / s,
                "scale": lambda: -(1.0 + z * fz) / s, "df": ddf}

    def _hess(self, x: np.ndarray, v: Vals) -> dict[Pair, Thunk]:
        nu, s = v["df"], v["scale"]
        z = (x - v["loc"]) / s
        z2 = z * z
        q = z2 + nu
        fz = -(nu + 1.0) * z / q
        fzz = -(nu + 1.0) * (nu - z2) / q**2
        fz_nu = z * (1.0 - z2) / q**2  # d² logp / dz d nu

        def dfdf() -> np.ndarray:
            return (0.25 * (_trigamma(0.5 * (nu + 1.0)) - _trigamma(0.5 * nu))
                    + 0.5 / nu**2
                    + z2 * (2.0 * nu * q - (nu + 1.0) * (q + nu)) / (2.0 * nu**2 * q**2))

        return {("value", "value"): lambda: fzz / s**2, ("value", "loc"): lambda: -fzz / s**2,
                ("value", "scale"): lambda: -(z * fzz + fz) / s**2,
                ("value", "df"): lambda: fz_nu / s,
                ("loc", "loc"): lambda: fzz / s**2,
                ("loc", "scale"): lambda: (z * fzz + fz) / s**2,
                ("loc", "df"): lambda: -fz_nu / s,
                ("scale", "scale"): lambda: (1.0 + 2.0 * z * fz + z2 * fzz) / s**2,
                ("scale", "df"): lambda: -z * fz_nu / s,
                ("df", "df"): dfdf}

    def _ehess(self, v: Vals) -> dict[Pair, Thunk]:
        nu, s = v["df"], v["scale"]

        def dfdf() -> np.ndarray:
            return (0.25 * (_trigamma(0.5 * (nu + 1.0)) - _trigamma(0.5 * nu))
                    + (nu + 5.0) / (2.0 * nu * (nu + 1.0) * (nu + 3.0)))

        return {("loc", "loc"): lambda: -(nu + 1.0) / ((nu + 3.0) * s**2),
                ("scale", "scale"): lambda: -2.0 * nu / ((nu + 3.0) * s**2),
                ("scale", "df"): lambda: 2.0 / ((nu + 1.0) * (nu + 3.0) * s),
                ("df", "df"): dfdf}

    def _sample(self, rng: np.random.Generator, v: Vals, shape: tuple[int, ...]) -> np.ndarray:
        return v["loc"] + v["scale"] * rng.standard_t(np.broadcast_to(v["df"], shape))

    def _mean(self, v: Vals) -> np.ndarray:
        loc, nu = np.broadcast_arrays(v["loc"], v["df"])
        return np.where(nu > 1.0, loc, np.nan)

    def _var(self, v: Vals) -> np.ndarray:
        nu, s = np.broadcast_arrays(v["df"], v["scale"])
        with np.errstate(divide="ignore", invalid="ignore"):
            finite = s * s * nu / (nu - 2.0)
        return np.where(nu > 2.0, finite, np.where(nu > 1.0, np.inf, np.nan))


class Laplace(Family):
    r"""Laplace (double exponential) distribution with location and scale.

    .. math:: \log p(x) = -\log(2b) - |x - \mu| / b

    Parameters
    ----------
    loc
        Location (and median) ``mu``.
    scale
        Scale ``b > 0`` (variance ``2 b²``).

    Notes
    -----
    Derivatives in ``value`` and ``loc`` use ``sign(x - mu)`` (0 at the kink); their second
    derivatives are 0 almost everywhere. The expected (loc, loc) second derivative is
    ``-1/b²``: the expectation in the sense of distributions (the kink contributes
    ``-2 δ(x - mu)/b``), which equals minus the Fisher information; (scale, scale) is
    ``-1/b²`` and (loc, scale) 0.
    """

    support: ClassVar[Constraint] = real
    domains: ClassVar[dict[str, Constraint]] = {"loc": real, "scale": positive}
    restricted: ClassVar[bool] = False

    def __init__(self, loc: Any = 0.0, scale: Any = 1.0) -> None:
        require("Laplace", loc=loc, scale=scale)
        super().__init__(loc=loc, scale=scale)

    def _logp(self, x: np.ndarray, v: Vals) -> np.ndarray:
        b = v["scale"]
        return -np.log(2.0 * b) - np.abs(x - v["loc"]) / b

    def _grad(self, x: np.ndarray, v: Vals) -> dict[str, Thunk]:
        b, d = v["scale"], x - v["loc"]
        return {"value": lambda: -np.sign(d) / b, "loc": lambda: np.sign(d) / b,
                "scale": lambda: (np.abs(d) / b - 1.0) / b}

    def _hess(self, x: np.ndarray, v: Vals) -> dict[Pair, Thunk]:
        b, d = v["scale"], x - v["loc"]
        return {("value", "scale"): lambda: np.sign(d) / b**2,
                ("loc", "scale"): lambda: -np.sign(d) / b**2,
                ("scale", "scale"): lambda: (1.0 - 2.0 * np.abs(d) / b) / b**2}

    def _ehess(self, v: Vals) -> dict[Pair, Thunk]:
        b = v["scale"]
        return {("loc", "loc"): lambda: -1.0 / b**2, ("scale", "scale"): lambda: -1.0 / b**2}

    def _sample(self, rng: np.random.Generator, v: Vals, shape: tuple[int, ...]) -> np.ndarray:
        return v["loc"] + v["scale"] * rng.laplace(size=shape)

    def _mean(self, v: Vals) -> np.ndarray:
        return v["loc"]

    def _var(self, v: Vals) -> np.ndarray:
        return 2.0 * v["scale"] ** 2


class Gamma(Family):
    r"""Gamma distribution on ``x > 0`` with shape ``k`` and one of four rate arguments.

    .. math:: \log p(x) = k\log\beta + (k - 1)\log x - \beta x - \log\Gamma(k)

    Parameters
    ----------
    shape
        Shape ``k > 0``.
    rate
        Rate ``beta > 0`` (mean ``k/beta``).
    mean
        Mean ``mu > 0``; ``beta = k/mu``.
    log_mean
        ``eta = log mu`` (the GLM log link).
    inverse_mean
        ``eta = 1/mu > 0`` (the GLM canonical inverse link).

    Attributes
    ----------
    param
        Name of the argument given: the parameterization in use.

    Notes
    -----
    Exactly one of ``rate``, ``mean``, ``log_mean``, ``inverse_mean`` must be given. In the mean
    parameterizations the shape and the mean argument are orthogonal: the expected (shape,
    mean-argument) second derivative is 0, (shape, shape) is ``1/k - ψ'(k)`` and the
    mean argument's own is ``-k/mu²`` (``mean``), ``-k`` (``log_mean``) or ``-k/eta²``
    (``inverse_mean``). With ``rate``: ``-ψ'(k)``, ``1/beta`` and ``-k/beta²``.
    """

    support: ClassVar[Constraint] = positive
    domains: ClassVar[dict[str, Constraint]] = {"shape": positive, "rate": positive,
                                                "mean": positive, "log_mean": real,
                                                "inverse_mean": positive}

    def __init__(self, shape: Any, rate: Any = None, *, mean: Any = None, log_mean: Any = None,
                 inverse_mean: Any = None) -> None:
        require("Gamma", shape=shape)
        self.param = one_of("Gamma", rate=rate, mean=mean, log_mean=log_mean,
                            inverse_mean=inverse_mean)
        super().__init__(shape=shape, rate=rate, mean=mean, log_mean=log_mean,
                         inverse_mean=inverse_mean)

    def _mean_terms(self, v: Vals) -> dict[str, np.ndarray]:
        """``c = 1/mu = beta/k`` as a function of the mean argument ``t``, with ``log c``,
        ``c'``, ``c'/c``, ``c''`` and ``c''/c``."""
        t = v[self.param]
        if self.param == "mean":
            c = 1.0 / t
            return {"c": c, "log_c": -np.log(t), "dc": -c * c, "g": -c, "d2c": 2.0 * c**3,
                    "h": 2.0 * c * c}
        if self.param == "log_mean":
            c = np.exp(-t)
            return {"c": c, "log_c": -t, "dc": -c, "g": -np.ones_like(t), "d2c": c,
                    "h": np.ones_like(t)}
        zero = np.zeros_like(t)
        return {"c": t, "log_c": np.log(t), "dc": np.ones_like(t), "g": 1.0 / t, "d2c": zero,
                "h": zero}

    def _rate(self, v: Vals) -> np.ndarray:
        return v["rate"] if self.param == "rate" else v["shape"] * self._mean_terms(v)["c"]

    def _logp(self, x: np.ndarray, v: Vals) -> np.ndarray:
        k = v["shape"]
        if self.param == "rate":
            b = v["rate"]
            return k * np.log(b) + (k - 1.0) * np.log(x) - b * x - special.gammaln(k)
        m = self._mean_terms(v)
        return (k * (np.log(k) + m["log_c"]) + (k - 1.0) * np.log(x) - k * m["c"] * x
                - special.gammaln(k))

    def _grad(self, x: np.ndarray, v: Vals) -> dict[str, Thunk]:
        k, p = v["shape"], self.param
        if p == "rate":
            b = v["rate"]
            return {"value": lambda: (k - 1.0) / x - b,
                    "shape": lambda: np.log(b) + np.log(x) - special.digamma(k),
                    "rate": lambda: k / b - x}
        m = self._mean_terms(v)
        return {"value": lambda: (k - 1.0) / x - k * m["c"],
                "shape": lambda: (np.log(k) - special.digamma(k) + 1.0 + m["log_c"]
                                  + np.log(x) - m["c"] * x),
                p: lambda: k * (m["g"] - m["dc"] * x)}

    def _hess(self, x: np.ndarray, v: Vals) -> dict[Pair, Thunk]:
        k, p = v["shape"], self.param
        out: dict[Pair, Thunk] = {("value", "value"): lambda: -(k - 1.0) / x**2}
        if p == "rate":
            b = v["rate"]
            out.update({("value", "shape"): lambda: 1.0 / x,
                        ("value", "rate"): lambda: -np.ones_like(b),
                        ("shape", "shape"): lambda: -_trigamma(k),
                        ("shape", "rate"): lambda: 1.0 / b,
                        ("rate", "rate"): lambda: -k / b**2})
            return out
        m = self._mean_terms(v)
        out.update({("value", "shape"): lambda: 1.0 / x - m["c"],
                    ("value", p): lambda: -k * m["dc"],
                    ("shape", "shape"): lambda: 1.0 / k - _trigamma(k),
                    ("shape", p): lambda: m["g"] - m["dc"] * x,
                    (p, p): lambda: k * (m["h"] - m["d2c"] * x - m["g"] ** 2)})
        return out

    def _ehess(self, v: Vals) -> dict[Pair, Thunk]:
        k, p = v["shape"], self.param
        if p == "rate":
            b = v["rate"]
            return {("shape", "shape"): lambda: -_trigamma(k), ("shape", "rate"): lambda: 1.0 / b,
                    ("rate", "rate"): lambda: -k / b**2}
        return {("shape", "shape"): lambda: 1.0 / k - _trigamma(k),
                (p, p): lambda: -k * self._mean_terms(v)["g"] ** 2}

    def _sample(self, rng: np.random.Generator, v: Vals, shape: tuple[int, ...]) -> np.ndarray:
        k = np.broadcast_to(v["shape"], shape)
        return rng.gamma(k, 1.0 / np.broadcast_to(self._rate(v), shape))

    def _mean(self, v: Vals) -> np.ndarray:
        return v["shape"] / self._rate(v)

    def _var(self, v: Vals) -> np.ndarray:
        return v["shape"] / self._rate(v) ** 2


class Beta(Family):
    r"""Beta distribution on ``(0, 1)``.

    .. math:: \log p(x) = (a - 1)\log x + (b - 1)\log(1 - x) - \log B(a, b)

    Parameters
    ----------
    a, b
        Shape parameters, both ``> 0`` (mean ``a/(a + b)``).

    Notes
    -----
    The second derivatives in ``a`` and ``b`` do not depend on ``x``, so the expected ones
    equal them: ``ψ'(a + b) - ψ'(a)``, ``ψ'(a + b)``, ``ψ'(a + b) - ψ'(b)``.
    """

    support: ClassVar[Constraint] = unit_interval
    domains: ClassVar[dict[str, Constraint]] = {"a": positive, "b": positive}

    def __init__(self, a: Any, b: Any) -> None:
        require("Beta", a=a, b=b)
        super().__init__(a=a, b=b)

    def _logp(self, x: np.ndarray, v: Vals) -> np.ndarray:
        a, b = v["a"], v["b"]
        return (a - 1.0) * np.log(x) + (b - 1.0) * np.log1p(-x) - special.betaln(a, b)

    def _grad(self, x: np.ndarray, v: Vals) -> dict[str, Thunk]:
        a, b = v["a"], v["b"]
        return {"value": lambda: (a - 1.0) / x - (b - 1.0) / (1.0 - x),
                "a": lambda: np.log(x) - special.digamma(a) + special.digamma(a + b),
                "b": lambda: np.log1p(-x) - special.digamma(b) + special.digamma(a + b)}

    def _hess(self, x: np.ndarray, v: Vals) -> dict[Pair, Thunk]:
        a, b = v["a"], v["b"]
        return {("value", "value"): lambda: -(a - 1.0) / x**2 - (b - 1.0) / (1.0 - x) ** 2,
                ("value", "a"): lambda: 1.0 / x, ("value", "b"): lambda: -1.0 / (1.0 - x),
                **self._ehess(v)}

    def _ehess(self, v: Vals) -> dict[Pair, Thunk]:
        a, b = v["a"], v["b"]
        return {("a", "a"): lambda: _trigamma(a + b) - _trigamma(a),
                ("a", "b"): lambda: _trigamma(a + b),
                ("b", "b"): lambda: _trigamma(a + b) - _trigamma(b)}

    def _sample(self, rng: np.random.Generator, v: Vals, shape: tuple[int, ...]) -> np.ndarray:
        return rng.beta(np.broadcast_to(v["a"], shape), np.broadcast_to(v["b"], shape))

    def _mean(self, v: Vals) -> np.ndarray:
        return v["a"] / (v["a"] + v["b"])

    def _var(self, v: Vals) -> np.ndarray:
        a, b = v["a"], v["b"]
        return a * b / ((a + b) ** 2 * (a + b + 1.0))


class Exponential(Family):
    r"""Exponential distribution on ``x >= 0`` with rate ``lambda``.

    .. math:: \log p(x) = \log\lambda - \lambda x

    Parameters
    ----------
    rate
        Rate ``lambda > 0`` (mean ``1/lambda``).
    """

    support: ClassVar[Constraint] = nonnegative
    domains: ClassVar[dict[str, Constraint]] = {"rate": positive}

    def __init__(self, rate: Any = 1.0) -> None:
        require("Exponential", rate=rate)
        super().__init__(rate=rate)

    def _logp(self, x: np.ndarray, v: Vals) -> np.ndarray:
        lam = v["rate"]
        return np.log(lam) - lam * x

    def _grad(self, x: np.ndarray, v: Vals) -> dict[str, Thunk]:
        lam = v["rate"]
        return {"value": lambda: -lam, "rate": lambda: 1.0 / lam - x}

    def _hess(self, x: np.ndarray, v: Vals) -> dict[Pair, Thunk]:
        lam = v["rate"]
        return {("value", "rate"): lambda: -np.ones_like(lam),
                ("rate", "rate"): lambda: -1.0 / lam**2}

    def _ehess(self, v: Vals) -> dict[Pair, Thunk]:
        return {("rate", "rate"): lambda: -1.0 / v["rate"] ** 2}

    def _sample(self, rng: np.random.Generator, v: Vals, shape: tuple[int, ...]) -> np.ndarray:
        return rng.exponential(size=shape) / v["rate"]

    def _mean(self, v: Vals) -> np.ndarray:
        return 1.0 / v["rate"]

    def _var(self, v: Vals) -> np.ndarray:
        return 1.0 / v["rate"] ** 2


class HalfNormal(Family):
    r"""Half-normal distribution on ``x >= 0``: ``|y|`` for ``y ~ Normal(0, scale)``.

    .. math:: \log p(x) = \tfrac12\log(2/\pi) - \log\sigma - x^2/(2\sigma^2), \qquad x \ge 0

    Parameters
    ----------
    scale
        Scale ``sigma > 0`` of the underlying normal.

    Notes
    -----
    The support is ``[0, inf)`` (the :data:`~probfit.distributions.constraints.nonnegative`
    constraint): the density is finite and positive at 0. As a prior it puts a parameter on
    the positive scale. Expected (scale, scale) second derivative: ``-2/sigma²``.
    """

    support: ClassVar[Constraint] = nonnegative
    domains: ClassVar[dict[str, Constraint]] = {"scale": positive}

    def __init__(self, scale: Any = 1.0) -> None:
        require("HalfNormal", scale=scale)
        super().__init__(scale=scale)

    def _logp(self, x: np.ndarray, v: Vals) -> np.ndarray:
        s = v["scale"]
        return 0.5 * np.log(2.0 / np.pi) - np.log(s) - 0.5 * (x / s) ** 2

    def _grad(self, x: np.ndarray, v: Vals) -> dict[str, Thunk]:
        s = v["scale"]
        return {"value": lambda: -x / s**2, "scale": lambda: ((x / s) ** 2 - 1.0) / s}

    def _hess(self, x: np.ndarray, v: Vals) -> dict[Pair, Thunk]:
        s = v["scale"]
        return {("value", "value"): lambda: -1.0 / s**2,
                ("value", "scale"): lambda: 2.0 * x / s**3,
                ("scale", "scale"): lambda: (1.0 - 3.0 * (x / s) ** 2) / s**2}

    def _ehess(self, v: Vals) -> dict[Pair, Thunk]:
        return {("scale", "scale"): lambda: -2.0 / v["scale"] ** 2}

    def _sample(self, rng: np.random.Generator, v: Vals, shape: tuple[int, ...]) -> np.ndarray:
        return np.abs(rng.standard_normal(shape)) * v["scale"]

    def _mean(self, v: Vals) -> np.ndarray:
        return v["scale"] * np.sqrt(2.0 / np.pi)

    def _var(self, v: Vals) -> np.ndarray:
        return v["scale"] ** 2 * (1.0 - 2.0 / np.pi)


class Uniform(Family):
    r"""Continuous uniform distribution on ``[low, high]``.

    .. math:: \log p(x) = -\log(\text{high} - \text{low}), \qquad \text{low} \le x \le \text{high}

    Parameters
    ----------
    low, high
        The bounds, ``low < high``.

    Notes
    -----
    Derivatives are those of the log density where ``x`` lies inside ``[low, high]``
    (``1/(high - low)`` in ``low``, ``-1/(high - low)`` in ``high``, 0 in ``value``) and 0
    outside, where ``logp`` is ``-inf``. The family is not regular (its support moves with the
    arguments): ``expected_d2logp`` is the plain expectation of the second derivatives,
    ``1/(high - low)²`` on the diagonal and ``-1/(high - low)²`` off it, not a Fisher
    information.
    """

    support: ClassVar[Constraint] = real
    domains: ClassVar[dict[str, Constraint]] = {"low": real, "high": real}

    def __init__(self, low: Any = 0.0, high: Any = 1.0) -> None:
        require("Uniform", low=low, high=high)
        super().__init__(low=low, high=high)
        lo, hi = self.args["low"], self.args["high"]
        if isinstance(lo, np.ndarray) and isinstance(hi, np.ndarray) and not np.all(lo < hi):
            raise DistributionError(f"Uniform argument 'high' must be above 'low', got "
                                    f"low={np.ravel(lo)[:5].tolist()}, "
                                    f"high={np.ravel(hi)[:5].tolist()}")

    def _in_support(self, x: np.ndarray, v: Vals) -> np.ndarray:
        ok = np.isfinite(x)
        if "low" in v:
            ok = ok & (x >= v["low"])
        if "high" in v:
            ok = ok & (x <= v["high"])
        return ok

    def support_description(self, vals: Mapping[str, np.ndarray]) -> str:
        """``"a number in [low, high]"`` with the bounds shown when they are single numbers."""
        v = self._partial_vals(vals)
        lo, hi = v.get("low"), v.get("high")
        if lo is not None and hi is not None and np.size(lo) == 1 and np.size(hi) == 1:
            return f"a number in [{float(np.ravel(lo)[0]):g}, {float(np.ravel(hi)[0]):g}]"
        return "a number in [low, high]"

    def _inside(self, x: np.ndarray, v: Vals) -> np.ndarray:
        return ((x >= v["low"]) & (x <= v["high"])).astype(float)

    def _logp(self, x: np.ndarray, v: Vals) -> np.ndarray:
        return -np.log(v["high"] - v["low"])

    def _grad(self, x: np.ndarray, v: Vals) -> dict[str, Thunk]:
        w = v["high"] - v["low"]
        return {"low": lambda: self._inside(x, v) / w, "high": lambda: -self._inside(x, v) / w}

    def _hess(self, x: np.ndarray, v: Vals) -> dict[Pair, Thunk]:
        w2 = (v["high"] - v["low"]) ** 2
        return {("low", "low"): lambda: self._inside(x, v) / w2,
                ("low", "high"): lambda: -self._inside(x, v) / w2,
                ("high", "high"): lambda: self._inside(x, v) / w2}

    def _ehess(self, v: Vals) -> dict[Pair, Thunk]:
        w2 = (v["high"] - v["low"]) ** 2
        return {("low", "low"): lambda: 1.0 / w2, ("low", "high"): lambda: -1.0 / w2,
                ("high", "high"): lambda: 1.0 / w2}

    def _sample(self, rng: np.random.Generator, v: Vals, shape: tuple[int, ...]) -> np.ndarray:
        return v["low"] + (v["high"] - v["low"]) * rng.random(shape)

    def _mean(self, v: Vals) -> np.ndarray:
        return 0.5 * (v["low"] + v["high"])

    def _var(self, v: Vals) -> np.ndarray:
        return (v["high"] - v["low"]) ** 2 / 12.0


class Flat(Family):
    r"""The improper flat density on the real line: ``log p(x) = 0``.

    Notes
    -----
    Takes no arguments. Useful as an explicit "no prior". All derivatives are 0; it cannot be
    sampled and has no mean or variance (those methods raise :class:`DistributionError`).
    """

    support: ClassVar[Constraint] = real
    domains: ClassVar[dict[str, Constraint]] = {}
    restricted: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()

    def _logp(self, x: np.ndarray, v: Vals) -> np.ndarray:
        return np.zeros(np.shape(x))

    def _grad(self, x: np.ndarray, v: Vals) -> dict[str, Thunk]:
        return {}

    def _hess(self, x: np.ndarray, v: Vals) -> dict[Pair, Thunk]:
        return {}

    def _ehess(self, v: Vals) -> dict[Pair, Thunk]:
        return {}

    def _improper(self) -> DistributionError:
        return DistributionError("Flat is an improper distribution: it has no samples, mean or "
                                 "variance")

    def _sample(self, rng: np.random.Generator, v: Vals, shape: tuple[int, ...]) -> np.ndarray:
        raise self._improper()

    def _mean(self, v: Vals) -> np.ndarray:
        raise self._improper()

    def _var(self, v: Vals) -> np.ndarray:
        raise self._improper()
