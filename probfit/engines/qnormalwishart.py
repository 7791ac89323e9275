"""The variational family of the Normal–Wishart mixture: ``q(π) Π_k q(μ_k, Λ_k)``.

``q(Λ_k) = W(W_k, ν_k)`` and ``q(μ_k | Λ_k) = N(m_k, (β_k Λ_k)⁻¹)`` jointly for each
component (means and precisions are dependent under ``q``), and a Dirichlet ``q(π)``.
``W_k`` is stored through the lower Cholesky factor ``C_k`` of its inverse
(``W_k⁻¹ = C_k C_kᵀ``), so no matrix is ever inverted. Marginally ``μ_k`` is multivariate
Student-t with ``ν_k − d + 1`` degrees of freedom, mean ``m_k`` and covariance
``W_k⁻¹ / (β_k (ν_k − d − 1))`` (``ν_k > d + 1``); ``E[Λ_k] = ν_k W_k``.
"""

from __future__ import annotations

import numpy as np

from probfit.compile.context import Layout
from probfit.distributions import Wishart
from probfit.engines.qfamilies import (
    DirichletFactor,
    FactorQ,
    _inverse_many,
    _log_det_many,
    forward_many,
)

__all__ = ["NormalWishartQ", "WishartFactor", "scale_from_inverse_chol"]

_LOG_2PI = np.log(2.0 * np.pi)


def scale_from_inverse_chol(chol_inv: np.ndarray) -> np.ndarray:
    """``W = C⁻ᵀ C⁻¹`` from the lower Cholesky factors ``C`` of ``W⁻¹``, shape ``(k, d, d)``."""
    inv = np.linalg.solve(chol_inv, np.broadcast_to(np.eye(chol_inv.shape[-1]), chol_inv.shape))
    return np.swapaxes(inv, -1, -2) @ inv


class WishartFactor:
    """``Wishart(df_k, scale_k)`` over a ``(k, d, d)`` SPD parameter (a :class:`FactorQ` factor).

    Parameters
    ----------
    name
        The parameter.
    df, scale
        Degrees of freedom ``(k,)`` and scale matrices ``(k, d, d)``.
    """

    def __init__(self, name: str, df: np.ndarray, scale: np.ndarray) -> None:
        self.name, self.df, self.scale = name, df, scale
        self._dist = Wishart(df, scale)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws, shape ``(n, k, d, d)`` (Bartlett decomposition)."""
        return self._dist.sample(rng, size=n)

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """Log density of draws ``(n, k, d, d)``, summed over components."""
        return self._dist.logp(x, {}).reshape(x.shape[0], -1).sum(axis=1)

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean ``ν W`` and entrywise sd ``√(ν (W_ab² + W_aa W_bb))``."""
        return self._dist.mean(), np.sqrt(self._dist.variance())


class NormalWishartQ(FactorQ):
    """Joint Normal–Wishart factors over ``(mu, Lam)`` and a Dirichlet over the weights.

    Parameters
    ----------
    layout
        The objective's layout.
    means, precisions
        Names of the mean ``(k, d)`` and precision ``(k, d, d)`` parameters.
    m, beta
        ``q(μ_k | Λ_k) = N(m_k, (β_k Λ_k)⁻¹)``: ``m`` shaped ``(k, d)``, ``beta`` ``(k,)``.
    nu, chol_inv
        ``q(Λ_k) = W(W_k, ν_k)`` with ``W_k⁻¹ = C_k C_kᵀ``: ``nu`` ``(k,)``, ``chol_inv``
        the lower factors ``C`` ``(k, d, d)``.
    weights
        The Dirichlet factor of the mixture weights.

    Attributes
    ----------
    scale
        The Wishart scale matrices ``W_k``, ``(k, d, d)``.
    """

    def __init__(self, layout: Layout, means: str, precisions: str, m: np.ndarray,
                 beta: np.ndarray, nu: np.ndarray, chol_inv: np.ndarray,
                 weights: DirichletFactor) -> None:
        super().__init__(layout, None, [weights])
        self.means, self.precisions = means, precisions
        self.m, self.beta, self.nu, self.chol_inv = m, beta, nu, chol_inv
        self.scale = scale_from_inverse_chol(chol_inv)
        self._wishart = Wishart(nu, self.scale)

    def sample_u(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws of the unconstrained vector, shape ``(n, size)``."""
        u = super().sample_u(rng, n)
        lam = self._wishart.sample(rng, size=n)
        chol = np.linalg.cholesky(self.beta[:, None, None] * lam)
        z = rng.standard_normal((n, *self.m.shape))
        mu = self.m + np.linalg.solve(np.swapaxes(chol, -1, -2), z[..., None])[..., 0]
        for name, x in ((self.means, mu), (self.precisions, lam)):
            slot = self.layout[name]
            u[:, slot.slice] = _inverse_many(slot.bijector, x)
        return u

    def log_q(self, u: np.ndarray) -> np.ndarray:
        """``log q(u)`` for draws shaped ``(n, size)`` (with the bijectors' log-Jacobians)."""
        out = super().log_q(u)
        ls, ms = self.layout[self.precisions], self.layout[self.means]
        lam = forward_many(ls.bijector, u[:, ls.slice])
        mu = forward_many(ms.bijector, u[:, ms.slice])
        lw = self._wishart.logp(lam, {})
        chol = np.linalg.cholesky(self.beta[:, None, None] * lam)  # β Λ = L Lᵀ
        z = np.einsum("...ji,...j->...i", chol, mu - self.m)
        ln = (np.sum(np.log(np.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
              - 0.5 * self.m.shape[-1] * _LOG_2PI - 0.5 * np.sum(z * z, axis=-1))
        return (out + (lw + ln).sum(axis=1) + _log_det_many(ls.bijector, u[:, ls.slice])
                + _log_det_many(ms.bijector, u[:, ms.slice]))

    def moments(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Exact constrained-scale ``(mean, sd)``; the sd of ``μ`` is infinite if
        ``ν ≤ d + 1``."""
        out = super().moments()
        d = self.m.shape[-1]
        dof = self.nu - d - 1.0
        var_w_inv = np.sum(self.chol_inv ** 2, axis=-1)  # diag(C Cᵀ) = diag(W⁻¹)
        var_mu = np.where((dof > 0.0)[:, None],
                          var_w_inv / (self.beta * np.where(dof > 0.0, dof, 1.0))[:, None],
                          np.inf)
        out[self.means] = (self.m.copy(), np.sqrt(var_mu))
        out[self.precisions] = (self._wishart.mean(), np.sqrt(self._wishart.variance()))
        return out

    def cov_u(self, rng: np.random.Generator, n: int = 4000) -> np.ndarray:
        """Monte Carlo covariance of ``u`` (``μ`` and ``Λ`` are dependent under ``q``)."""
        return np.atleast_2d(np.cov(self.sample_u(rng, n), rowvar=False))
