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

The exact ELBO (PRML eqs. 10.70–10.77) is computed after every sweep by
:func:`~probfit.engines.cavi.run_sweeps`; each update maximises it in one factor, so a
decrease beyond ``1e-10`` relative raises :class:`~probfit.errors.ConvergenceError`. The
labels start from a k-means++ partition, or from given responsibilities (``resp0``).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from probfit.distributions.wishart import wishart_e_logdet, wishart_entropy, wishart_log_norm
from probfit.engines.advi import VIResult
from probfit.engines.cavi import run_sweeps
from probfit.engines.qfamilies import DirichletFactor
from probfit.engines.qnormalwishart import NormalWishartQ
from probfit.errors import EngineError
from probfit.latent.kmeans import kmeans
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
        self.beta = np.full(k, plan.beta0)
        self.m = plan.m0.copy()
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

    def _e_log_pi(self) -> np.ndarray:
        return special.digamma(self.alpha) - special.digamma(self.alpha.sum())

    def _quad(self, points: np.ndarray) -> np.ndarray:
        """``(p − m_k)ᵀ W_k (p − m_k)`` for points ``(n, d)``, shape ``(n, k)``."""
        diff = points[None, :, :] - self.m[:, None, :]  # (k, n, d)
        z = _solve_lower(self.chol_inv, np.swapaxes(diff, -1, -2))  # (k, d, n)
        return np.sum(z * z, axis=1).T

    def _row_terms(self) -> np.ndarray:
        """``E[log N(x_n | μ_k, Λ_k⁻¹)]`` as ``(n, k)``."""
        d = self.d
        e_quad = d / self.beta[None] + self.nu[None] * self._quad(self.plan.x)
        return 0.5 * self._e_logdet()[None] - 0.5 * d * _LOG_2PI - 0.5 * e_quad

    # ------------------------------------------------------------------ updates
    def sweep(self) -> None:
        """One pass of the coordinate updates: ``π``, ``(μ, Λ)``, then ``z``."""
        p, r, x = self.plan, self.resp, self.plan.x
        nk = r.sum(axis=0)
        self.alpha = p.alpha0 + nk
        self.beta = p.beta0 + nk
        self.nu = p.nu0 + nk
        s1 = r.T @ x
        safe = np.where(nk > 0.0, nk, 1.0)[:, None]
        xbar = np.where(nk[:, None] > 0.0, s1 / safe, p.m0)
        self.m = (p.beta0 * p.m0 + s1) / self.beta[:, None]
        w_inv = np.empty_like(self._w0_inv)
        for j in range(nk.size):
            diff = x - xbar[j]
            dev = xbar[j] - p.m0[j]
            w_inv[j] = (self._w0_inv[j] + (r[:, j, None] * diff).T @ diff
                        + p.beta0 * nk[j] / (p.beta0 + nk[j]) * np.outer(dev, dev))
        self.chol_inv = np.linalg.cholesky(0.5 * (w_inv + np.swapaxes(w_inv, -1, -2)))
        log_rho = self._e_log_pi()[None] + self._row_terms()
        self.resp = np.exp(log_rho - special.logsumexp(log_rho, axis=1, keepdims=True))

    # ------------------------------------------------------------------ ELBO
    def elbo(self) -> float:
        """The exact ELBO ``E_q[log p(x, z, π, μ, Λ)] − E_q[log q]`` (PRML 10.70–10.77)."""
        p, r, d = self.plan, self.resp, self.d
        e_log_pi = self._e_log_pi()
        e_logdet = self._e_logdet()
        w_logdet = self._w_logdet()
        lik = float(np.sum(r * self._row_terms()))
        z_prior = float(np.sum(r * e_log_pi[None]))
        z_entropy = -float(np.sum(special.xlogy(r, r)))
        pi_prior = float(special.gammaln(p.alpha0.sum()) - special.gammaln(p.alpha0).sum()
                         + np.sum((p.alpha0 - 1.0) * e_log_pi))
        pi_entropy = -float(special.gammaln(self.alpha.sum()) - special.gammaln(self.alpha).sum()
                            + np.sum((self.alpha - 1.0) * e_log_pi))
        # E[log N(μ_k | m₀, (β₀Λ_k)⁻¹)] and E[log W(Λ_k | W₀, ν₀)]
        quad_m0 = np.sum(_solve_lower(self.chol_inv, (self.m - p.m0)[:, :, None]) ** 2,
                         axis=(1, 2))
        mu_prior = float(np.sum(0.5 * (d * np.log(p.beta0) - d * _LOG_2PI + e_logdet
                                       - d * p.beta0 / self.beta
                                       - p.beta0 * self.nu * quad_m0)))
        # tr(W₀⁻¹ W_k) = ‖C_k⁻¹ A‖²_F with W₀⁻¹ = A Aᵀ
        trace = np.sum(_solve_lower(self.chol_inv, self._w0_inv_chol) ** 2, axis=(1, 2))
        lam_prior = float(np.sum(wishart_log_norm(self._w0_logdet, p.nu0, d)
                                 + 0.5 * (p.nu0 - d - 1.0) * e_logdet - 0.5 * self.nu * trace))
        # −E[log q(μ_k | Λ_k)] and H[q(Λ_k)]
        mu_entropy = float(np.sum(-0.5 * e_logdet - 0.5 * d * (np.log(self.beta) - _LOG_2PI)
                                  + 0.5 * d))
        lam_entropy = float(np.sum(wishart_entropy(w_logdet, self.nu, d)))
        return (lik + z_prior + z_entropy + pi_prior + pi_entropy + mu_prior + lam_prior
                + mu_entropy + lam_entropy)

    def q(self, layout) -> NormalWishartQ:
        """The factors over the parameters (``q(z)`` is :attr:`resp`)."""
        p = self.plan
        return NormalWishartQ(layout, p.means, p.precisions, self.m.copy(), self.beta.copy(),
                              self.nu.copy(), self.chol_inv.copy(),
                              DirichletFactor(p.weights, self.alpha.copy()))


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
    if not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise EngineError(f"max_iter must be a positive integer, got {max_iter!r}")
    if not tol > 0:
        raise EngineError(f"tol must be positive, got {tol!r}")
    n, k = plan.x.shape[0], plan.alpha0.size
    if resp0 is None:
        rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
        resp0 = np.eye(k)[kmeans(plan.x, k, rng)]
    else:
        resp0 = np.asarray(resp0, dtype=float)
        if resp0.shape != (n, k) or not np.all(np.isfinite(resp0)) or np.any(resp0 < 0) \
                or not np.allclose(resp0.sum(axis=1), 1.0):
            raise EngineError(f"resp0 must be an ({n}, {k}) array of probabilities with rows "
                              f"summing to 1, got shape {resp0.shape}")
    state = NormalWishartCAVI(plan, resp0)
    elbo, converged, it, history, message = run_sweeps(state, max_iter, tol)
    q = state.q(layout)
    theta = layout.pack({name: mo for name, (mo, _) in q.moments().items()})
    result = VIResult(theta=theta, objective=-elbo, converged=converged, n_iter=it,
                      message=message, engine="cavi", history=history, q=q, family="conjugate")
    return result, state
