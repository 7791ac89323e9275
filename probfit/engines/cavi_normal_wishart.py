"""CAVI for the full-covariance Bayesian Gaussian mixture (Bishop, PRML §10.2).

The model is the one :func:`~probfit.latent.normal_wishart.recognise_normal_wishart` accepts:
Dirichlet weights ``π ~ Dir(α₀)``, precisions ``Λ_k ~ W(W₀, ν₀)``, means
``μ_k | Λ_k ~ N(m₀, (β₀ Λ_k)⁻¹)``, labels ``z_n ~ Cat(π)`` and
``x_n ~ N(μ_{z_n}, Λ_{z_n}⁻¹)``. The family ``q(z) q(π) Π_k q(μ_k, Λ_k)`` has the updates
(PRML eqs. 10.58–10.63), with ``N_k = Σ_n r_nk``, ``x̄_k = Σ_n r_nk x_n / N_k`` and the
scatter ``S_k = Σ_n r_nk (x_n − x̄_k)(x_n − x̄_k)ᵀ``:

* ``α_k = α₀ + N_k``, ``β_k = β₀ + N_k``, ``ν_k = ν₀ + N_k``,
  ``m_k = (β₀ m₀ + N_k x̄_k) / β_k``;
* ``W_k⁻¹ = W₀⁻¹ + S_k + β₀ N_k / (β₀ + N_k) (x̄_k − m₀)(x̄_k − m₀)ᵀ``;
* ``log r_nk = E[log π_k] + ½ E[log |Λ_k|] − (d/2) log 2π
  − ½ (d/β_k + ν_k (x_n − m_k)ᵀ W_k (x_n − m_k)) + const``, normalised by log-sum-exp;

with ``E[log π_k] = ψ(α_k) − ψ(Σα)`` and ``E[log |Λ_k|] = Σ_i ψ((ν_k + 1 − i)/2) + d log 2
+ log |W_k|``. ``W_k`` is kept as the Cholesky factor ``C_k`` of ``W_k⁻¹``: quadratic forms
are triangular solves, ``log |W_k| = −2 Σ log diag C_k``, and no matrix is inverted.

With an independent mean prior ``μ_k ~ N(m₀, P₀⁻¹)`` (the conditionally conjugate
Gaussian–Wishart prior) the factors are ``q(μ_k) = N(m_k, S_k)`` and ``q(Λ_k) = W(W_k, ν_k)``,
updated in turn: ``S_k⁻¹ = P₀ + N_k ν_k W_k``, ``m_k = S_k (P₀ m₀ + ν_k W_k Σ_n r_nk x_n)``,
then ``ν_k = ν₀ + N_k``, ``W_k⁻¹ = W₀⁻¹ + Σ_n r_nk (x_n − m_k)(x_n − m_k)ᵀ + N_k S_k``; in
``log r_nk`` the term ``d/β_k`` becomes ``ν_k tr(W_k S_k)``.

The exact ELBO (PRML eqs. 10.70–10.77) is computed after every sweep by
:func:`~probfit.engines.cavi.run_sweeps`; each update maximises it in one factor, so a
decrease beyond ``1e-10`` relative raises :class:`~probfit.errors.ConvergenceError`. The
labels start from a k-means++ partition, or from given responsibilities (``resp0``).
"""

from __future__ import annotations

import numpy as np

from probfit.distributions.wishart import wishart_e_logdet, wishart_entropy, wishart_log_norm
from probfit.engines.advi import VIResult
from probfit.engines.cavi_mixture import (
    e_log_weights,
    labels_from,
    sweep_mixture,
    weights_and_labels_elbo,
)
from probfit.engines.qfamilies import DirichletFactor, FactorQ, GaussianBlock
from probfit.engines.qnormalwishart import NormalWishartQ, WishartFactor, scale_from_inverse_chol
from probfit.latent.normal_wishart import NormalWishartPlan

__all__ = ["NormalWishartCAVI", "cavi_normal_wishart"]

_LOG_2PI = np.log(2.0 * np.pi)


def _half_logdet(chol: np.ndarray) -> np.ndarray:
    return np.sum(np.log(np.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)


def _solve_lower(chol: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``C_k⁻¹ b_k`` for each component (``b`` shaped ``(k, d, m)``), one batched solve.

    (A batched LAPACK solve: per-component ``scipy.linalg.solve_triangular`` calls are
    dominated by BLAS threading overhead at these sizes.)
    """
    return np.linalg.solve(chol, b)


class NormalWishartCAVI:
    """The variational parameters of the Normal–Wishart mixture, their updates and the ELBO.

    Parameters
    ----------
    plan
        The recognised mixture.
    resp
        Initial responsibilities ``(n, k)``.

    Attributes
    ----------
    resp
        ``q(z_n = k)``, shape ``(n, k)``.
    alpha
        Dirichlet parameters of ``q(π)``, ``(k,)``.
    beta, m
        ``q(μ_k | Λ_k) = N(m_k, (β_k Λ_k)⁻¹)``: ``beta`` ``(k,)``, ``m`` ``(k, d)``.
    s
        With an independent mean prior ``q(μ_k) = N(m_k, S_k)``: the covariances ``(k, d, d)``
        (``beta`` is then unused).
    nu, chol_inv
        ``q(Λ_k) = W(W_k, ν_k)`` with ``W_k⁻¹ = C_k C_kᵀ``: ``nu`` ``(k,)`` and the lower
        Cholesky factors ``chol_inv`` ``(k, d, d)``.
    """

    def __init__(self, plan: NormalWishartPlan, resp: np.ndarray) -> None:
        self.plan = plan
        self.resp = np.asarray(resp, dtype=float)
        k, d = plan.m0.shape
        # W₀⁻¹ by Cholesky solves, and its own Cholesky factor (for traces)
        w0_chol = np.linalg.cholesky(plan.w0)
        self._w0_inv = np.linalg.solve(np.swapaxes(w0_chol, -1, -2),
                                       np.linalg.solve(w0_chol, np.broadcast_to(
                                           np.eye(d), w0_chol.shape)))
        self._w0_inv = 0.5 * (self._w0_inv + np.swapaxes(self._w0_inv, -1, -2))
        self._w0_inv_chol = np.linalg.cholesky(self._w0_inv)
        self._w0_logdet = 2.0 * _half_logdet(w0_chol)
        self.alpha = plan.alpha0.copy()
        self.beta = np.full(k, 1.0 if plan.beta0 is None else plan.beta0)
        self.m = plan.m0.copy()
        self.s = None if plan.p0 is None else _spd_inverse(plan.p0)
        self.nu = plan.nu0.copy()
        self.chol_inv = self._w0_inv_chol.copy()

    # ------------------------------------------------------------------ expectations
    @property
    def d(self) -> int:
        """Dimension of the data."""
        return self.plan.x.shape[1]

    def _w_logdet(self) -> np.ndarray:
        """``log |W_k|``."""
        return -2.0 * _half_logdet(self.chol_inv)

    def _e_logdet(self) -> np.ndarray:
        """``E[log |Λ_k|]``."""
        return wishart_e_logdet(self._w_logdet(), self.nu, self.d)

    def _quad(self, points: np.ndarray) -> np.ndarray:
        """``(p − m_k)ᵀ W_k (p − m_k)`` for points ``(n, d)``, shape ``(n, k)``."""
        diff = points[None, :, :] - self.m[:, None, :]  # (k, n, d)
        z = _solve_lower(self.chol_inv, np.swapaxes(diff, -1, -2))  # (k, d, n)
        return np.sum(z * z, axis=1).T

    def _trace_w(self, mats: np.ndarray) -> np.ndarray:
        """``tr(W_k M_k)`` for SPD ``M_k = A Aᵀ``: ``‖C_k⁻¹ A‖²_F``."""
        return np.sum(_solve_lower(self.chol_inv, np.linalg.cholesky(mats)) ** 2, axis=(1, 2))

    def _mu_spread(self) -> np.ndarray:
        """``E[(μ_k − m_k)ᵀ Λ_k (μ_k − m_k)]``: ``d/β_k``, or ``ν_k tr(W_k S_k)``."""
        if self.s is None:
            return self.d / self.beta
        return self.nu * self._trace_w(self.s)

    def _row_terms(self) -> np.ndarray:
        """``E[log N(x_n | μ_k, Λ_k⁻¹)]`` as ``(n, k)``."""
        d = self.d
        e_quad = self._mu_spread()[None] + self.nu[None] * self._quad(self.plan.x)
        return 0.5 * self._e_logdet()[None] - 0.5 * d * _LOG_2PI - 0.5 * e_quad

    # ------------------------------------------------------------------ updates
    def sweep(self) -> None:
        """One pass of the coordinate updates: ``π``, ``(μ, Λ)``, then ``z``."""
        p, r, x = self.plan, self.resp, self.plan.x
        nk = r.sum(axis=0)
        self.alpha = p.alpha0 + nk
        s1 = r.T @ x
        if p.p0 is None:
            self._update_coupled(nk, s1)
        else:
            self._update_independent(nk, s1)
        self.resp = labels_from(e_log_weights(self.alpha)[None] + self._row_terms())

    def _update_coupled(self, nk: np.ndarray, s1: np.ndarray) -> None:
        p, r, x = self.plan, self.resp, self.plan.x
        self.beta = p.beta0 + nk
        self.nu = p.nu0 + nk
        safe = np.where(nk > 0.0, nk, 1.0)[:, None]
        xbar = np.where(nk[:, None] > 0.0, s1 / safe, p.m0)
        self.m = (p.beta0 * p.m0 + s1) / self.beta[:, None]
        w_inv = np.empty_like(self._w0_inv)
        for j in range(nk.size):
            diff = x - xbar[j]
            dev = xbar[j] - p.m0[j]
            w_inv[j] = (self._w0_inv[j] + (r[:, j, None] * diff).T @ diff
                        + p.beta0 * nk[j] / (p.beta0 + nk[j]) * np.outer(dev, dev))
        self._set_w_inv(w_inv)

    def _update_independent(self, nk: np.ndarray, s1: np.ndarray) -> None:
        p, r, x = self.plan, self.resp, self.plan.x
        e_lam = self.nu[:, None, None] * scale_from_inverse_chol(self.chol_inv)  # E[Λ_k]
        prec = p.p0 + nk[:, None, None] * e_lam
        rhs = (np.einsum("kab,kb->ka", p.p0, p.m0)
               + np.einsum("kab,kb->ka", e_lam, s1))[:, :, None]
        chol = np.linalg.cholesky(0.5 * (prec + np.swapaxes(prec, -1, -2)))
        self.m = np.linalg.solve(np.swapaxes(chol, -1, -2), np.linalg.solve(chol, rhs))[..., 0]
        self.s = _spd_inverse(prec)
        self.nu = p.nu0 + nk
        w_inv = np.empty_like(self._w0_inv)
        for j in range(nk.size):
            diff = x - self.m[j]
            w_inv[j] = self._w0_inv[j] + (r[:, j, None] * diff).T @ diff + nk[j] * self.s[j]
        self._set_w_inv(w_inv)

    def _set_w_inv(self, w_inv: np.ndarray) -> None:
        self.chol_inv = np.linalg.cholesky(0.5 * (w_inv + np.swapaxes(w_inv, -1, -2)))

    # ------------------------------------------------------------------ ELBO
    def elbo(self) -> float:
        """The exact ELBO ``E_q[log p(x, z, π, μ, Λ)] − E_q[log q]`` (PRML 10.70–10.77)."""
        p, r, d = self.plan, self.resp, self.d
        e_logdet = self._e_logdet()
        w_logdet = self._w_logdet()
        lik = float(np.sum(r * self._row_terms()))
        labels = weights_and_labels_elbo(p.alpha0, self.alpha, r)
        mu_prior, mu_entropy = self._mu_terms(e_logdet)
        # tr(W₀⁻¹ W_k) = ‖C_k⁻¹ A‖²_F with W₀⁻¹ = A Aᵀ
        trace = np.sum(_solve_lower(self.chol_inv, self._w0_inv_chol) ** 2, axis=(1, 2))
        lam_prior = float(np.sum(wishart_log_norm(self._w0_logdet, p.nu0, d)
                                 + 0.5 * (p.nu0 - d - 1.0) * e_logdet - 0.5 * self.nu * trace))
        lam_entropy = float(np.sum(wishart_entropy(w_logdet, self.nu, d)))
        return lik + labels + mu_prior + lam_prior + mu_entropy + lam_entropy

    def _mu_terms(self, e_logdet: np.ndarray) -> tuple[float, float]:
        """``E[log p(μ | ...)]`` and ``−E[log q(μ | ...)]``, summed over components."""
        p, d = self.plan, self.d
        dev = (self.m - p.m0)[:, :, None]
        if self.s is None:  # E[log N(μ_k | m₀, (β₀Λ_k)⁻¹)], −E[log N(μ_k | m_k, (β_kΛ_k)⁻¹)]
            quad_m0 = np.sum(_solve_lower(self.chol_inv, dev) ** 2, axis=(1, 2))
            prior = np.sum(0.5 * (d * np.log(p.beta0) - d * _LOG_2PI + e_logdet
                                  - d * p.beta0 / self.beta - p.beta0 * self.nu * quad_m0))
            entropy = np.sum(-0.5 * e_logdet - 0.5 * d * (np.log(self.beta) - _LOG_2PI)
                             + 0.5 * d)
            return float(prior), float(entropy)
        # E[log N(μ_k | m₀, P₀⁻¹)] and the entropy of N(m_k, S_k), by Cholesky factors
        p0_chol = np.linalg.cholesky(p.p0)
        s_chol = np.linalg.cholesky(self.s)
        quad = np.sum(np.einsum("kji,kjl->kil", p0_chol, dev) ** 2, axis=(1, 2))
        trace = np.sum(np.einsum("kji,kjl->kil", p0_chol, s_chol) ** 2, axis=(1, 2))
        prior = np.sum(_half_logdet(p0_chol) - 0.5 * d * _LOG_2PI - 0.5 * (quad + trace))
        entropy = np.sum(_half_logdet(s_chol) + 0.5 * d * (1.0 + _LOG_2PI))
        return float(prior), float(entropy)

    def q(self, layout) -> FactorQ:
        """The factors over the parameters (``q(z)`` is :attr:`resp`)."""
        p = self.plan
        weights = DirichletFactor(p.weights, self.alpha.copy())
        if self.s is not None:
            k, d = self.m.shape
            cov = np.zeros((k * d, k * d))
            for j in range(k):
                cov[j * d:(j + 1) * d, j * d:(j + 1) * d] = self.s[j]
            return FactorQ(layout, GaussianBlock((p.means,), self.m.reshape(-1), cov),
                           [WishartFactor(p.precisions, self.nu.copy(),
                                          scale_from_inverse_chol(self.chol_inv)), weights])
        return NormalWishartQ(layout, p.means, p.precisions, self.m.copy(), self.beta.copy(),
                              self.nu.copy(), self.chol_inv.copy(), weights)


def _spd_inverse(mats: np.ndarray) -> np.ndarray:
    """Inverses of SPD matrices ``(k, d, d)`` from their Cholesky factors (``L⁻ᵀ L⁻¹``)."""
    chol = np.linalg.cholesky(mats)
    inv_l = np.linalg.solve(chol, np.broadcast_to(np.eye(mats.shape[-1]), mats.shape))
    return np.swapaxes(inv_l, -1, -2) @ inv_l


def cavi_normal_wishart(plan: NormalWishartPlan, layout, *, seed: int | None = 0,
                        max_iter: int = 1000, tol: float = 1e-10,
                        resp0: np.ndarray | None = None
                        ) -> tuple[VIResult, NormalWishartCAVI]:
    """Fit the full-covariance Bayesian Gaussian mixture ``plan`` by coordinate ascent.

    Parameters
    ----------
    plan
        The recognised mixture
        (:func:`~probfit.latent.normal_wishart.recognise_normal_wishart`).
    layout
        The complete-data objective's layout (places ``q`` on the parameter vector).
    seed
        Seed of the k-means++ partition that gives the initial responsibilities.
    max_iter
        Maximum number of sweeps.
    tol
        Relative ELBO change that counts as converged.
    resp0
        Initial responsibilities ``(n, k)`` (rows on the simplex) instead of the k-means++
        partition.

    Returns
    -------
    tuple
        The :class:`~probfit.engines.advi.VIResult` (``objective`` is minus the final ELBO,
        ``history`` the ELBO per sweep) and the final :class:`NormalWishartCAVI` state.

    Raises
    ------
    EngineError
        For bad options.
    ConvergenceError
        If the ELBO decreases by more than ``1e-10`` relative (a wrong update).
    """
    return sweep_mixture(NormalWishartCAVI, plan, layout, seed=seed, max_iter=max_iter,
                         tol=tol, resp0=resp0)
