"""CAVI for the Bayesian Gaussian mixture (Bishop, PRML §10.2, with independent priors).

The model is the one :func:`~probfit.latent.conjugacy.recognise_mixture` accepts: Dirichlet
weights ``π``, Normal means ``μ_kd ~ N(m₀, 1/λ₀)``, Gamma precisions ``τ_kd ~ Gamma(a₀, b₀)``,
categorical labels ``z_n`` and ``x_nd ~ N(μ_{z_n d}, 1/τ_{z_n d})``. The mean-field family
``q(z) q(π) Π q(μ_kd) q(τ_kd)`` has the closed-form coordinate updates

* ``q(π) = Dir(α)``, ``α_k = α₀ + N_k`` with ``N_k = Σ_n r_nk``;
* ``q(μ_kd) = N(m_kd, 1/λ_kd)``, ``λ = λ₀ + E[τ] N_k``, ``m = (λ₀ m₀ + E[τ] Σ_n r_nk x_nd)/λ``;
* ``q(τ_kd) = Gamma(a_kd, b_kd)``, ``a = a₀ + N_k/2``,
  ``b = b₀ + ½ Σ_n r_nk ((x_nd − m_kd)² + 1/λ_kd)``;
* ``q(z_n) = Cat(r_n)``, ``log r_nk = E[log π_k] + Σ_d (½ E[log τ_kd] − ½ log 2π
  − ½ E[τ_kd]((x_nd − m_kd)² + 1/λ_kd)) + const``, normalised by log-sum-exp;

with ``E[log π_k] = ψ(α_k) − ψ(Σα)``, ``E[τ] = a/b``, ``E[log τ] = ψ(a) − log b``.

With Bishop's Normal–Gamma coupling ``μ_kd | τ_kd ~ N(m₀, 1/(β₀ τ_kd))`` the factor
``q(μ_kd, τ_kd) = N(μ | m, 1/(β τ)) Gamma(τ | a, b)`` is joint (PRML eqs. 10.58–10.63 with
the Wishart reduced to a Gamma per coordinate): ``β = β₀ + N_k``, ``m = (β₀ m₀ + Σ_n r_nk
x_nd)/β``, ``a = a₀ + N_k/2``, ``b = b₀ + ½(Σ_n r_nk (x_nd − x̄_kd)² + β₀ N_k (x̄_kd − m₀)²/β)``
and ``E[τ (x − μ)²] = 1/β + E[τ](x − m)²``. Each
update maximises the ELBO in one factor, so the exact ELBO (computed after every sweep) never
decreases; a decrease beyond ``1e-10`` relative raises
:class:`~probfit.errors.ConvergenceError`. The labels start from a k-means++ partition.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from probfit.engines.advi import VIResult
from probfit.engines.cavi import run_sweeps
from probfit.engines.qfamilies import DirichletFactor, FactorQ, GammaFactor, GaussianBlock
from probfit.engines.qnormalgamma import NormalGammaQ
from probfit.errors import EngineError
from probfit.latent.conjugacy import MixturePlan
from probfit.latent.kmeans import kmeans

__all__ = ["MixtureCAVI", "cavi_mixture"]

_LOG_2PI = np.log(2.0 * np.pi)


def e_log_weights(alpha: np.ndarray) -> np.ndarray:
    """``E[log π]`` under ``q(π) = Dirichlet(alpha)``."""
    return special.digamma(alpha) - special.digamma(alpha.sum())


def labels_from(log_rho: np.ndarray) -> np.ndarray:
    """``q(z)``: the rows of ``exp(log_rho)`` normalised in log space."""
    return np.exp(log_rho - special.logsumexp(log_rho, axis=1, keepdims=True))


def weights_and_labels_elbo(alpha0: np.ndarray, alpha: np.ndarray, resp: np.ndarray) -> float:
    """The ELBO terms of Dirichlet weights and categorical labels: ``E[log p(z | π)]``,
    ``H[q(z)]``, ``E[log p(π)]`` and ``H[q(π)]``."""
    e_log_pi = e_log_weights(alpha)
    z_prior = float(np.sum(resp * e_log_pi[None]))
    z_entropy = -float(np.sum(special.xlogy(resp, resp)))
    pi_prior = float(special.gammaln(alpha0.sum()) - special.gammaln(alpha0).sum()
                     + np.sum((alpha0 - 1.0) * e_log_pi))
    pi_entropy = -float(special.gammaln(alpha.sum()) - special.gammaln(alpha).sum()
                        + np.sum((alpha - 1.0) * e_log_pi))
    return z_prior + z_entropy + pi_prior + pi_entropy


class MixtureCAVI:
    """The variational parameters of the Gaussian mixture, their updates and the exact ELBO.

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
        Dirichlet parameters of ``q(π)``.
    m, lam
        Means and precisions of ``q(μ)``, shape ``(k, d)``; with the Normal–Gamma coupling
        ``lam`` holds ``β`` and ``q(μ | τ) = N(m, 1/(β τ))``.
    a, b
        Shapes and rates of ``q(τ)``, shape ``(k, d)``.
    """

    def __init__(self, plan: MixturePlan, resp: np.ndarray) -> None:
        self.plan = plan
        self.resp = np.asarray(resp, dtype=float)
        self.alpha = plan.alpha0.copy()
        self.m, self.lam = plan.m0.copy(), plan.lam0.copy()
        self.a, self.b = plan.a0.copy(), plan.b0.copy()

    # ------------------------------------------------------------------ expectations
    def _e_sq(self) -> np.ndarray:
        """``E[(x_nd − μ_kd)²]`` as ``(n, k, d)`` (independent ``q(μ)``)."""
        x = self.plan.x
        return (x[:, None, :] - self.m[None]) ** 2 + 1.0 / self.lam[None]

    def _e_tau_sq(self) -> np.ndarray:
        """``E[τ_kd (x_nd − μ_kd)²]`` as ``(n, k, d)``."""
        e_tau = self.a / self.b
        if self.plan.beta0 is None:
            return e_tau[None] * self._e_sq()
        x = self.plan.x
        return 1.0 / self.lam[None] + e_tau[None] * (x[:, None, :] - self.m[None]) ** 2

    def _row_terms(self) -> np.ndarray:
        """``E[log p(x_n | z_n = k, μ, τ)]`` as ``(n, k)``."""
        e_log_tau = special.digamma(self.a) - np.log(self.b)
        per = 0.5 * e_log_tau[None] - 0.5 * _LOG_2PI - 0.5 * self._e_tau_sq()
        return per.sum(axis=2)

    # ------------------------------------------------------------------ updates
    def sweep(self) -> None:
        """One pass of the coordinate updates: ``π``, ``μ``, ``τ``, then ``z``."""
        p, r, x = self.plan, self.resp, self.plan.x
        nk = r.sum(axis=0)
        self.alpha = p.alpha0 + nk
        s1 = r.T @ x
        if p.beta0 is not None:
            self._update_normal_gamma(nk, s1)
        else:
            self._update_independent(nk, s1)
        self.resp = labels_from(e_log_weights(self.alpha)[None] + self._row_terms())

    def _update_normal_gamma(self, nk: np.ndarray, s1: np.ndarray) -> None:
        p, r, x = self.plan, self.resp, self.plan.x
        self.lam = p.beta0 + np.broadcast_to(nk[:, None], self.m.shape)
        self.m = (p.beta0 * p.m0 + s1) / self.lam
        safe = np.where(nk > 0.0, nk, 1.0)[:, None]
        xbar = np.where(nk[:, None] > 0.0, s1 / safe, p.m0)
        scatter = np.einsum("nk,nkd->kd", r, (x[:, None, :] - xbar[None]) ** 2)
        self.a = p.a0 + 0.5 * nk[:, None]
        self.b = p.b0 + 0.5 * (scatter + p.beta0 * nk[:, None] * (xbar - p.m0) ** 2
                               / self.lam)

    def _update_independent(self, nk: np.ndarray, s1: np.ndarray) -> None:
        p, r = self.plan, self.resp
        e_tau = self.a / self.b
        self.lam = p.lam0 + e_tau * nk[:, None]
        self.m = (p.lam0 * p.m0 + e_tau * s1) / self.lam
        self.a = p.a0 + 0.5 * nk[:, None]
        self.b = p.b0 + 0.5 * np.einsum("nk,nkd->kd", r, self._e_sq())

    def elbo(self) -> float:
        """The exact ELBO ``E_q[log p(x, z, π, μ, τ)] − E_q[log q]``."""
        p, r = self.plan, self.resp
        e_tau = self.a / self.b
        e_log_tau = special.digamma(self.a) - np.log(self.b)
        lik = float(np.sum(r * self._row_terms()))
        labels = weights_and_labels_elbo(p.alpha0, self.alpha, r)
        if p.beta0 is None:
            mu_prior = float(np.sum(0.5 * np.log(p.lam0) - 0.5 * _LOG_2PI
                                    - 0.5 * p.lam0 * ((self.m - p.m0) ** 2 + 1.0 / self.lam)))
            mu_entropy = float(np.sum(0.5 * (1.0 + _LOG_2PI - np.log(self.lam))))
        else:  # E[log N(μ | m₀, 1/(β₀τ))] and −E[log N(μ | m, 1/(βτ))] under q(μ, τ)
            mu_prior = float(np.sum(0.5 * (np.log(p.beta0) + e_log_tau - _LOG_2PI)
                                    - 0.5 * p.beta0 * (1.0 / self.lam
                                                       + e_tau * (self.m - p.m0) ** 2)))
            mu_entropy = float(np.sum(0.5 * (1.0 + _LOG_2PI - np.log(self.lam) - e_log_tau)))
        tau_prior = float(np.sum(p.a0 * np.log(p.b0) - special.gammaln(p.a0)
                                 + (p.a0 - 1.0) * e_log_tau - p.b0 * e_tau))
        tau_entropy = float(np.sum(special.gammaln(self.a) - (self.a - 1.0)
                                   * special.digamma(self.a) - np.log(self.b) + self.a))
        return lik + labels + mu_prior + mu_entropy + tau_prior + tau_entropy

    def q(self, layout) -> FactorQ:
        """The factors over the parameters (``q(z)`` is :attr:`resp`)."""
        p = self.plan
        if p.beta0 is not None:
            return NormalGammaQ(layout, p.means, p.precisions, self.m.reshape(p.shape),
                                self.lam.reshape(p.shape), self.a.reshape(p.shape),
                                self.b.reshape(p.shape),
                                DirichletFactor(p.weights, self.alpha.copy()))
        block = GaussianBlock((p.means,), self.m.reshape(-1), np.diag(1.0 / self.lam.reshape(-1)))
        return FactorQ(layout, block, [
            GammaFactor(p.precisions, self.a.reshape(p.shape), self.b.reshape(p.shape)),
            DirichletFactor(p.weights, self.alpha.copy())])


def cavi_mixture(plan: MixturePlan, layout, *, seed: int | None = 0, max_iter: int = 1000,
                 tol: float = 1e-10) -> tuple[VIResult, MixtureCAVI]:
    """Fit the Bayesian Gaussian mixture ``plan`` by coordinate ascent.

    Parameters
    ----------
    plan
        The recognised mixture (:func:`~probfit.latent.conjugacy.recognise_mixture`).
    layout
        The complete-data objective's layout (places ``q`` on the parameter vector).
    seed
        Seed of the k-means++ partition that gives the initial responsibilities.
    max_iter
        Maximum number of sweeps.
    tol
        Relative ELBO change that counts as converged.

    Returns
    -------
    tuple
        The :class:`~probfit.engines.advi.VIResult` (``objective`` is minus the final ELBO,
        ``history`` the ELBO per sweep) and the final :class:`MixtureCAVI` state.

    Raises
    ------
    EngineError
        For bad options.
    ConvergenceError
        If the ELBO decreases by more than ``1e-10`` relative (a wrong update).
    """
    return sweep_mixture(MixtureCAVI, plan, layout, seed=seed, max_iter=max_iter, tol=tol)


def sweep_mixture(state_type, plan, layout, *, seed: int | None, max_iter: int, tol: float,
                  resp0: np.ndarray | None = None) -> tuple[VIResult, object]:
    """Run a mixture's CAVI state ``state_type(plan, resp0)`` to convergence and wrap the result.

    The initial responsibilities are ``resp0`` (rows on the simplex) or a k-means++ partition
    seeded by ``seed``; the sweeps run in :func:`~probfit.engines.cavi.run_sweeps`, which
    enforces a non-decreasing ELBO. Shared by the Normal–Gamma and Normal–Wishart mixtures.
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
    state = state_type(plan, resp0)
    elbo, converged, it, history, message = run_sweeps(state, max_iter, tol)
    q = state.q(layout)
    theta = layout.pack({name: mo for name, (mo, _) in q.moments().items()})
    result = VIResult(theta=theta, objective=-elbo, converged=converged, n_iter=it,
                      message=message, engine="cavi", history=history, q=q, family="conjugate")
    return result, state
