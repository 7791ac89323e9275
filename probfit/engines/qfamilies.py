"""Variational families: the approximate posteriors ``q`` that VI engines return.

Every family draws points of the flat *unconstrained* vector and evaluates ``log q`` there,
so the PSIS diagnostic and the ELBO can compare it with the log joint of
:class:`~probfit.compile.objective.Objective` (method ``"vi"``). Families with closed-form
constrained-scale moments expose them through :meth:`moments`.

* :class:`GaussianQ` — a Gaussian over the whole unconstrained vector (ADVI, mean-field or
  full-rank), stored by its lower Cholesky factor.
* :class:`FactorQ` — a product of conjugate factors on the constrained scale (CAVI): a joint
  Gaussian block, and Gamma, Beta or Dirichlet factors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, special

from probfit.compile.context import Layout
from probfit.transforms.bijectors import Bijector

__all__ = ["BetaFactor", "DirichletFactor", "FactorQ", "GammaFactor", "GaussianBlock",
           "GaussianQ", "forward_many"]

_LOG_2PI = np.log(2.0 * np.pi)


def forward_many(bij: Bijector, u: np.ndarray) -> np.ndarray:
    """``bij.forward`` applied to each row of ``u`` (shape ``(n, size_u)``), stacked."""
    if bij.elementwise:
        return bij._f(u).reshape(u.shape[0], *bij.shape)
    return np.stack([bij.forward(ui) for ui in u])


def _log_det_many(bij: Bijector, u: np.ndarray) -> np.ndarray:
    if bij.elementwise:
        return bij._ld(u).reshape(u.shape[0], -1).sum(axis=1)
    return np.array([bij.log_det(ui) for ui in u])


def _inverse_many(bij: Bijector, x: np.ndarray) -> np.ndarray:
    if bij.elementwise:
        return bij._inv(x.reshape(x.shape[0], -1))
    return np.stack([bij.inverse(xi) for xi in x])


class GaussianQ:
    """``q(u) = N(mean, L Lᵀ)`` over the unconstrained vector.

    Parameters
    ----------
    mean
        Mean vector, length ``d``.
    chol
        Lower-triangular ``(d, d)`` Cholesky factor of the covariance (diagonal for mean-field).
    layout
        The objective's layout (maps coordinates to parameters).
    """

    def __init__(self, mean: np.ndarray, chol: np.ndarray, layout: Layout) -> None:
        self.mean = np.asarray(mean, dtype=float)
        self.chol = np.asarray(chol, dtype=float)
        self.layout = layout

    @property
    def cov(self) -> np.ndarray:
        """Covariance of ``u``."""
        return self.chol @ self.chol.T

    def entropy(self) -> float:
        """Closed-form entropy ``½ d log(2πe) + Σ log L_ii``."""
        d = self.mean.size
        return 0.5 * d * (1.0 + _LOG_2PI) + float(np.sum(np.log(np.diag(self.chol))))

    def sample_u(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws of the unconstrained vector, shape ``(n, d)``."""
        return self.mean + rng.standard_normal((n, self.mean.size)) @ self.chol.T

    def log_q(self, u: np.ndarray) -> np.ndarray:
        """``log q(u)`` for draws shaped ``(n, d)``."""
        z = linalg.solve_triangular(self.chol, (u - self.mean).T, lower=True)
        return (-0.5 * np.sum(z * z, axis=0) - np.sum(np.log(np.diag(self.chol)))
                - 0.5 * self.mean.size * _LOG_2PI)

    def moments(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Exact constrained-scale ``(mean, sd)`` for unconstrained parameters only."""
        out = {}
        sd = np.sqrt(np.diag(self.cov))
        for s in self.layout:
            if s.bijector.is_identity():
                out[s.name] = (self.mean[s.slice].reshape(s.shape), sd[s.slice].reshape(s.shape))
        return out


@dataclass
class GaussianBlock:
    """A joint Gaussian over several unconstrained parameters (concatenated in ``names``)."""

    names: tuple[str, ...]
    mean: np.ndarray
    cov: np.ndarray


@dataclass
class GammaFactor:
    """``Gamma(shape, rate)`` elementwise over a positive parameter."""

    name: str
    shape: np.ndarray
    rate: np.ndarray

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.gamma(self.shape, 1.0 / self.rate, size=(n, *self.shape.shape))

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        a, b = self.shape, self.rate
        lp = a * np.log(b) + (a - 1.0) * np.log(x) - b * x - special.gammaln(a)
        return lp.reshape(x.shape[0], -1).sum(axis=1)

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        return self.shape / self.rate, np.sqrt(self.shape) / self.rate


@dataclass
class BetaFactor:
    """``Beta(a, b)`` elementwise over a unit-interval parameter."""

    name: str
    a: np.ndarray
    b: np.ndarray

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.beta(self.a, self.b, size=(n, *self.a.shape))

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        lp = ((self.a - 1.0) * np.log(x) + (self.b - 1.0) * np.log1p(-x)
              - special.betaln(self.a, self.b))
        return lp.reshape(x.shape[0], -1).sum(axis=1)

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        s = self.a + self.b
        return self.a / s, np.sqrt(self.a * self.b / (s * s * (s + 1.0)))


@dataclass
class DirichletFactor:
    """``Dirichlet(alpha)`` over a 1-d simplex parameter."""

    name: str
    alpha: np.ndarray

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.dirichlet(self.alpha, size=n)

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        a = self.alpha
        norm = special.gammaln(a.sum()) - special.gammaln(a).sum()
        return norm + np.sum((a - 1.0) * np.log(x), axis=1)

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        a0 = self.alpha.sum()
        m = self.alpha / a0
        return m, np.sqrt(m * (1.0 - m) / (a0 + 1.0))


Factor = GammaFactor | BetaFactor | DirichletFactor


class FactorQ:
    """A product of a Gaussian block and conjugate factors, defined on the constrained scale.

    ``log q`` of an unconstrained draw is ``log q(x(u)) + log |dx/du|``.
    """

    def __init__(self, layout: Layout, block: GaussianBlock | None,
                 factors: list[Factor]) -> None:
        self.layout, self.block, self.factors = layout, block, factors

    def sample_u(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws of the unconstrained vector, shape ``(n, d)``."""
        u = np.zeros((n, self.layout.size))
        if self.block is not None:
            chol = linalg.cholesky(self.block.cov, lower=True)
            w = self.block.mean + rng.standard_normal((n, self.block.mean.size)) @ chol.T
            self._scatter(u, w)
        for f in self.factors:
            slot = self.layout[f.name]
            x = f.sample(rng, n)
            u[:, slot.slice] = _inverse_many(slot.bijector, x)
        return u

    def _block_index(self) -> np.ndarray:
        return np.concatenate([np.arange(self.layout[n].start, self.layout[n].stop)
                               for n in self.block.names])

    def _scatter(self, u: np.ndarray, w: np.ndarray) -> None:
        u[:, self._block_index()] = w

    def log_q(self, u: np.ndarray) -> np.ndarray:
        """``log q(u)`` for draws shaped ``(n, d)``."""
        out = np.zeros(u.shape[0])
        if self.block is not None:
            w = u[:, self._block_index()]
            chol = linalg.cholesky(self.block.cov, lower=True)
            z = linalg.solve_triangular(chol, (w - self.block.mean).T, lower=True)
            out += (-0.5 * np.sum(z * z, axis=0) - np.sum(np.log(np.diag(chol)))
                    - 0.5 * w.shape[1] * _LOG_2PI)
        for f in self.factors:
            slot = self.layout[f.name]
            x = forward_many(slot.bijector, u[:, slot.slice])
            out += f.logpdf(x) + _log_det_many(slot.bijector, u[:, slot.slice])
        return out

    def moments(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Exact constrained-scale ``(mean, sd)`` of every parameter."""
        out = {f.name: f.moments() for f in self.factors}
        if self.block is not None:
            sd = np.sqrt(np.diag(self.block.cov))
            i = 0
            for n in self.block.names:
                slot = self.layout[n]
                out[n] = (self.block.mean[i:i + slot.size].reshape(slot.shape),
                          sd[i:i + slot.size].reshape(slot.shape))
                i += slot.size
        return out

    def cov_u(self, rng: np.random.Generator, n: int = 4000) -> np.ndarray:
        """Covariance of ``u``: block diagonal (factors are independent under ``q``), exact
        within the Gaussian block and Monte Carlo within each conjugate factor."""
        cov = np.zeros((self.layout.size, self.layout.size))
        if self.block is not None:
            idx = self._block_index()
            cov[np.ix_(idx, idx)] = self.block.cov
        if self.factors:
            u = self.sample_u(rng, n)
            for f in self.factors:
                sl = self.layout[f.name].slice
                cov[sl, sl] = np.atleast_2d(np.cov(u[:, sl], rowvar=False))
        return cov
