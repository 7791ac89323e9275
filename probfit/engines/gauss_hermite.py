"""Gaussian expectations of 1-d functions by Gauss–Hermite quadrature, with exact derivatives.

For ``η ~ N(μ, v)`` and a smooth ``f``,

    E[f(η)] ≈ Q(μ, v) = Σ_k w_k f(μ + √v z_k),

with ``z_k = √2 t_k`` and ``w_k = ω_k / √π`` from the ``K``-point Gauss–Hermite rule
``(t_k, ω_k)`` (exact when ``f`` is a polynomial of degree ``≤ 2K − 1``). The derivatives
returned are those of the quadrature formula itself, taken through the standard deviation
``σ = √v`` and converted to ``v``,

    Q_μ = Σ w f',   Q_σ = Σ w z f',   Q_μμ = Σ w f'',   Q_μσ = Σ w z f'',   Q_σσ = Σ w z² f'',
    Q_v = Q_σ / (2σ),   Q_μv = Q_μσ / (2σ),   Q_vv = (Q_σσ − Q_σ / σ) / (4σ²),

so an objective built from ``Q`` has exactly these gradients and Hessians (no Price/Bonnet
approximation that would differ from the computed value by the quadrature error). At ``σ = 0``
the ``v``-derivatives take their Price limits ``Q_v = ½ Q_μμ`` (when second derivatives are
available; 0 otherwise) and ``Q_μv = Q_vv = 0``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["Expectation", "Rule", "expect", "rule", "sd_to_var"]

#: ``f(eta, order)`` → ``(f, f', f'')`` elementwise (``None`` for orders not requested).
Integrand = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]


@dataclass(frozen=True)
class Rule:
    """A Gauss–Hermite rule for the standard normal: ``E[f(Z)] ≈ Σ weights·f(nodes)``."""

    nodes: np.ndarray
    weights: np.ndarray


@lru_cache(maxsize=16)
def rule(k: int) -> Rule:
    """The ``k``-point rule for ``Z ~ N(0, 1)`` (nodes ``√2 t``, weights summing to 1)."""
    t, w = np.polynomial.hermite.hermgauss(int(k))
    return Rule(np.sqrt(2.0) * t, w / np.sqrt(np.pi))


@dataclass
class Expectation:
    """``Q`` and its derivatives in ``(μ, v)``, elementwise over the batch (``None`` when not
    requested)."""

    value: np.ndarray
    d_mu: np.ndarray | None = None
    d_var: np.ndarray | None = None
    d_mumu: np.ndarray | None = None
    d_muvar: np.ndarray | None = None
    d_varvar: np.ndarray | None = None


def sd_to_var(value: np.ndarray, d_mu: np.ndarray | None, d_sd: np.ndarray | None,
              d_mumu: np.ndarray | None, d_musd: np.ndarray | None,
              d_sdsd: np.ndarray | None, sd: np.ndarray) -> Expectation:
    """Derivatives in ``(μ, σ)`` turned into derivatives in ``(μ, v = σ²)`` (see the module
    notes for ``σ = 0``)."""
    if d_mu is None:
        return Expectation(value)
    pos = sd > 0.0
    inv = np.where(pos, 0.5 / np.where(pos, sd, 1.0), 0.0)  # 1 / (2σ), 0 at σ = 0
    limit = 0.5 * d_mumu if d_mumu is not None else 0.0
    d_var = np.where(pos, d_sd * inv, limit)
    if d_mumu is None:
        return Expectation(value, d_mu, d_var)
    d_muvar = d_musd * inv
    d_varvar = (d_sdsd - 2.0 * d_sd * inv) * inv * inv
    return Expectation(value, d_mu, d_var, d_mumu, d_muvar, d_varvar)


def expect(f: Integrand, mu: np.ndarray, var: np.ndarray, quad: Rule,
           order: int = 0) -> Expectation:
    """``E[f(η)]`` for ``η ~ N(mu, var)`` elementwise, with derivatives up to ``order`` (0–2).

    Parameters
    ----------
    f
        ``f(eta, order)`` for ``eta`` shaped ``mu.shape + (K,)``, returning ``f`` and, as
        ``order`` asks, its first and second derivatives (elementwise, same shape).
    mu, var
        Means and variances (``var >= 0``), equal shapes.
    quad
        The quadrature rule (:func:`rule`).
    order
        Highest derivative order wanted.
    """
    z, w = quad.nodes, quad.weights
    sd = np.sqrt(var)
    eta = mu[..., None] + sd[..., None] * z
    f0, f1, f2 = f(eta, order)
    value = f0 @ w
    if order == 0:
        return Expectation(value)
    wz = w * z
    d_mu, d_sd = f1 @ w, f1 @ wz
    if order == 1:
        return sd_to_var(value, d_mu, d_sd, None, None, None, sd)
    return sd_to_var(value, d_mu, d_sd, f2 @ w, f2 @ wz, f2 @ (wz * z), sd)
