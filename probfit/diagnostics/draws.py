"""Posterior draws of a fit on the unconstrained scale, with log p and log q per draw.

Every diagnostic that integrates over parameter uncertainty (ArviZ export, LOO, posterior
predictive checks) starts from :class:`PosteriorDraws`:

* MLE and MAP fits: draws from the Laplace (Gaussian) approximation ``N(θ̂, Σ)`` on the
  unconstrained scale, where ``Σ`` is the fit's inverse information (:attr:`Fit.cov`);
* variational fits plug in by defining a method ``posterior_draws(n_draws, rng)`` that returns a
  :class:`PosteriorDraws` from their own approximation; :func:`posterior_draws` uses it when
  present.

``lp`` is the log target density on the unconstrained scale (log-likelihood + log-prior +
log-det-Jacobian of the bijectors; the prior is flat for MLE) and ``lp_approx`` the log density
of the approximation at the same draw, so ``lp - lp_approx`` are importance log-ratios (what
``arviz_stats.loo_approximate_posterior`` needs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import linalg

from probfit.errors import ProbfitError

__all__ = ["PosteriorDraws", "log_target", "posterior_draws"]


@dataclass(frozen=True)
class PosteriorDraws:
    """Draws of the flat unconstrained parameter vector.

    Attributes
    ----------
    theta
        ``(S, d)`` draws.
    lp
        ``(S,)`` log target density (unnormalised) at each draw.
    lp_approx
        ``(S,)`` log density of the approximation at each draw, or ``None`` for a point mass.
    kind
        ``"laplace"``, ``"variational"`` or ``"point"`` (no Gaussian approximation exists, e.g.
        an L1 mode; the single draw is the estimate).
    """

    theta: np.ndarray
    lp: np.ndarray
    lp_approx: np.ndarray | None
    kind: str

    @property
    def n_draws(self) -> int:
        """Number of draws ``S``."""
        return int(self.theta.shape[0])


def log_target(objective: Any, theta: np.ndarray) -> float:
    """Unnormalised log density of the fit's target on the unconstrained scale at ``theta``.

    ``-objective.total(theta)`` is log-likelihood plus log-prior (plus the log-det-Jacobian
    when the objective already includes it); the Jacobian is added here otherwise, so the value
    is always a density over the unconstrained vector.
    """
    value = -objective.total(theta)
    if not objective.jacobian:
        value += sum(float(s.bijector.log_det(theta[s.slice])) for s in objective.layout)
    return float(value)


def _sqrt_cov(cov: np.ndarray) -> np.ndarray:
    try:
        return linalg.cholesky(cov, lower=True)
    except linalg.LinAlgError:
        w, v = np.linalg.eigh(0.5 * (cov + cov.T))
        return v * np.sqrt(np.clip(w, 0.0, None))


def posterior_draws(fit: Any, n_draws: int = 1000, seed: int | None = 0) -> PosteriorDraws:
    """Draws from the posterior approximation of ``fit``.

    Parameters
    ----------
    fit
        A :class:`~probfit.Fit` (or any fit object defining ``posterior_draws``).
    n_draws
        Number of draws ``S``.
    seed
        Seed of the random generator.

    Returns
    -------
    PosteriorDraws
        Laplace draws for MLE/MAP fits; the fit's own draws when it provides them; a single
        point draw when the fit has no covariance (L1 modes, separation).
    """
    if not isinstance(n_draws, int) or n_draws < 1:
        raise ProbfitError(f"n_draws must be a positive integer, got {n_draws!r}")
    rng = np.random.default_rng(seed)
    own = getattr(fit, "posterior_draws", None)
    if callable(own):
        return own(n_draws, rng)
    objective = fit.objective
    if fit.cov is None:
        theta = fit.theta[None, :].copy()
        return PosteriorDraws(theta, np.array([log_target(objective, fit.theta)]), None, "point")
    d = fit.theta.size
    chol = _sqrt_cov(fit.cov)
    z = rng.standard_normal((n_draws, d))
    theta = fit.theta + z @ chol.T
    logdet = float(np.sum(np.log(np.clip(np.diag(chol), 1e-300, None)))) \
        if np.allclose(chol, np.tril(chol)) else 0.5 * float(np.linalg.slogdet(fit.cov)[1])
    lq = -0.5 * np.sum(z * z, axis=1) - logdet - 0.5 * d * np.log(2.0 * np.pi)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        lp = np.array([log_target(objective, t) for t in theta])
    return PosteriorDraws(theta, lp, lq, "laplace")
