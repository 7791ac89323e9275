"""The variational family of the conjugate Normal–Gamma mixture: ``q(π) Π q(μ_kd, τ_kd)``.

``q(τ) = Gamma(a, b)`` and ``q(μ | τ) = N(m, 1/(β τ))`` jointly for each component and
coordinate (the means and precisions are *not* independent under ``q``), and a Dirichlet
``q(π)``. Marginally ``μ`` is Student-t with ``2a`` degrees of freedom, mean ``m`` and variance
``b / (β (a − 1))`` (``a > 1``).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from probfit.compile.context import Layout
from probfit.engines.qfamilies import (
    DirichletFactor,
    FactorQ,
    _inverse_many,
    _log_det_many,
    forward_many,
)

__all__ = ["NormalGammaQ"]

_LOG_2PI = np.log(2.0 * np.pi)


class NormalGammaQ(FactorQ):
    """Joint Normal–Gamma factors over ``(mu, tau)`` and a Dirichlet over the weights.

    Parameters
    ----------
    layout
        The objective's layout.
    means, precisions
        Names of the mean and precision parameters (same shape).
    m, beta, a, b
        ``q(μ | τ) = N(m, 1/(β τ))`` and ``q(τ) = Gamma(a, b)``, arrays of that shape.
    weights
        The Dirichlet factor of the mixture weights.
    """

    def __init__(self, layout: Layout, means: str, precisions: str, m: np.ndarray,
                 beta: np.ndarray, a: np.ndarray, b: np.ndarray,
                 weights: DirichletFactor) -> None:
        super().__init__(layout, None, [weights])
        self.means, self.precisions = means, precisions
        self.m, self.beta, self.a, self.b = m, beta, a, b

    def sample_u(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws of the unconstrained vector, shape ``(n, d)``."""
        u = super().sample_u(rng, n)
        tau = rng.gamma(self.a, 1.0 / self.b, size=(n, *self.a.shape))
        mu = self.m + rng.standard_normal(tau.shape) / np.sqrt(self.beta * tau)
        for name, x in ((self.means, mu), (self.precisions, tau)):
            slot = self.layout[name]
            u[:, slot.slice] = _inverse_many(slot.bijector, x)
        return u

    def log_q(self, u: np.ndarray) -> np.ndarray:
        """``log q(u)`` for draws shaped ``(n, d)``."""
        out = super().log_q(u)
        ts, ms = self.layout[self.precisions], self.layout[self.means]
        tau = forward_many(ts.bijector, u[:, ts.slice])
        mu = forward_many(ms.bijector, u[:, ms.slice])
        a, b = self.a, self.b
        lg = a * np.log(b) + (a - 1.0) * np.log(tau) - b * tau - special.gammaln(a)
        prec = self.beta * tau
        ln = 0.5 * (np.log(prec) - _LOG_2PI) - 0.5 * prec * (mu - self.m) ** 2
        n = u.shape[0]
        return (out + (lg + ln).reshape(n, -1).sum(axis=1)
                + _log_det_many(ts.bijector, u[:, ts.slice])
                + _log_det_many(ms.bijector, u[:, ms.slice]))

    def moments(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Exact constrained-scale ``(mean, sd)``; the sd of ``μ`` is infinite if ``a <= 1``."""
        out = super().moments()
        a, b = self.a, self.b
        var_mu = np.where(a > 1.0, b / (self.beta * np.where(a > 1.0, a - 1.0, 1.0)), np.inf)
        out[self.means] = (self.m.copy(), np.sqrt(var_mu))
        out[self.precisions] = (a / b, np.sqrt(a) / b)
        return out

    def cov_u(self, rng: np.random.Generator, n: int = 4000) -> np.ndarray:
        """Monte Carlo covariance of ``u`` (``μ`` and ``τ`` are dependent under ``q``)."""
        return np.atleast_2d(np.cov(self.sample_u(rng, n), rowvar=False))
