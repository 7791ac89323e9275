"""Variational inference for models with a discrete latent, the latent summed out.

ADVI needs the log joint of the *continuous* parameters only. Here it is the marginal log
joint (the latent enumerated and summed out by log-sum-exp, never sampled)

    log p(x, θ(u)) + log |dθ/du| = Σ_n log Σ_j p(x_n, z_n = j | θ) + log p(θ) + log |dθ/du|,

with the log-det-Jacobian of every bijector (simplex weights, SPD covariances, positive
scales ...) included, and its exact gradient by Fisher's identity
(:class:`~probfit.latent.marginal.MarginalObjective`). :func:`fit_latent_vi` runs
:func:`~probfit.engines.advi.advi` on it from a k-means++ start and returns a
:class:`LatentVIFit`: a :class:`~probfit.results.vi.VIFit` that also carries the posterior
membership probabilities ``E_q[p(z_n = j | x_n, θ)]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from probfit.engines.advi import advi
from probfit.engines.base import call_engine
from probfit.engines.cavi_mixture import cavi_mixture
from probfit.engines.cavi_normal_wishart import cavi_normal_wishart
from probfit.engines.em import kmeans_start
from probfit.errors import DataError, EngineError
from probfit.latent.conjugacy import recognise_mixture
from probfit.latent.marginal import MarginalObjective
from probfit.latent.normal_wishart import NormalWishartPlan
from probfit.latent.problem import LatentProblem
from probfit.results.vi import N_DRAWS, VIFit

__all__ = ["LatentVIFit", "MarginalVIObjective", "fit_latent_cavi", "fit_latent_vi"]

#: Draws from q averaged for the posterior membership probabilities.
N_MEMBERSHIP_DRAWS = 200


class MarginalVIObjective(MarginalObjective):
    """Minus the marginal log joint of a ``method="vi"`` latent problem, for ADVI and VIFit.

    The value is ``-Σ_n log Σ_j p(x_n, z_n = j | θ) - log p(θ) - log |dθ/du|`` (the compiled
    ``"vi"`` objective always includes the Jacobian); the gradient is exact.

    Attributes
    ----------
    model
        The user's declaration (with the latent).
    n_obs
        Number of rows.
    sizes
        Dim sizes of the complete-data objective.
    """

    def __init__(self, problem: LatentProblem) -> None:
        if problem.method != "vi":
            raise EngineError(f"a variational latent fit needs method='vi', got "
                              f"method={problem.method!r}")
        super().__init__(problem)
        self.model = problem.model
        self.n_obs = problem.n
        self.sizes = problem.objective.sizes

    def value(self, theta: np.ndarray) -> float:
        """Minus the marginal log joint at ``theta``."""
        return self.evaluate(theta, 0)[0]

    def total(self, theta: np.ndarray) -> float:
        """Same as :meth:`value` (there is no L1 penalty under ``method="vi"``)."""
        return self.value(theta)

    def loglik(self, theta: np.ndarray) -> float:
        """The observed-data log-likelihood ``Σ_n log Σ_j p(x_n, z_n = j | θ)``."""
        return self.problem.loglik(np.asarray(theta, dtype=float))

    def log_prior(self, theta: np.ndarray) -> float:
        """``log p(θ) + log |dθ/du|`` at ``theta``."""
        return self.problem.log_prior(np.asarray(theta, dtype=float))

    @property
    def data(self) -> dict[str, np.ndarray]:
        """The bound data of the complete-data objective (the latent's column a placeholder)."""
        return self.problem.objective.data

    def data_context(self, theta: np.ndarray, data: Mapping[str, np.ndarray]) -> Any:
        """The complete-data objective's evaluation context at ``theta`` on bound ``data``."""
        return self.problem.objective.data_context(theta, data)

    def obs_factors(self) -> list:
        """The observed variables' factors of the complete-data objective (not the latent's)."""
        return [f for f in self.problem.objective.obs_factors() if f.name != self.latent]

    def minibatch(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Refused: the marginal objective is evaluated on all rows.

        Raises
        ------
        DataError
            Always.
        """
        raise DataError(f"batch_size is not supported for the latent {self.latent!r}: the "
                        "marginal log joint is evaluated on all rows")


class LatentVIFit(VIFit):
    """A variational fit of a latent model (ADVI on the marginal log joint).

    Attributes
    ----------
    problem
        The enumerated latent problem.
    responsibilities
        ``(n, k)`` posterior membership probabilities: ``q(z)`` for CAVI; for ADVI
        ``E_q[p(z_n = j | x_n, θ)]``, averaged over seeded draws of ``θ`` from ``q``.
    """

    def __init__(self, problem: LatentProblem, objective: MarginalVIObjective, result: Any,
                 coords: Mapping[str, Any] | None = None, n_draws: int = N_DRAWS,
                 seed: int | None = 0, responsibilities: np.ndarray | None = None) -> None:
        super().__init__(objective, result, coords=coords,  # type: ignore[arg-type]
                         n_draws=n_draws, seed=seed)
        self.problem = problem
        self.responsibilities = (self.predict_proba() if responsibilities is None
                                 else responsibilities)

    @property
    def latent(self) -> str:
        """The latent's name."""
        return self.problem.latent

    @property
    def k(self) -> int:
        """Number of values of the latent."""
        return self.problem.k

    @property
    def deviance(self) -> None:
        """Mixtures have no GLM deviance."""
        return None

    def to_arviz(self, data: Mapping[str, Any] | None = None, n_draws: int = N_DRAWS,
                 seed: int | None = 0, responsibilities: bool = True) -> Any:
        """The fit as an ArviZ DataTree with ``n_draws`` draws of ``θ`` from ``q``.

        ``log_likelihood`` is the marginal ``log Σ_j p(y_n, z_n = j | θ_s)`` per row and draw,
        ``posterior_predictive`` one replicate of the mixture predictive at each draw,
        ``sample_stats`` the marginal log target ``lp`` (with the log-det-Jacobian) and
        ``lp_approx = log q``; see :func:`probfit.diagnostics.mixture.latent_to_arviz`.
        """
        from probfit.diagnostics.mixture import latent_to_arviz

        return latent_to_arviz(self, data, n_draws=n_draws, seed=seed,
                               responsibilities=responsibilities)

    def predict_proba(self, data: Mapping[str, Any] | None = None,
                      n_draws: int = N_MEMBERSHIP_DRAWS) -> np.ndarray:
        """Posterior membership probabilities ``E_q[p(z_n = j | x_n, θ)]``, shape ``(n, k)``.

        Parameters
        ----------
        data
            New rows (the fitted rows if ``None``).
        n_draws
            Draws of ``θ`` from ``q`` to average over (the first ``n_draws`` of the fit's
            seeded draws; at most all of them).
        """
        if not isinstance(n_draws, (int, np.integer)) or n_draws < 1:
            raise EngineError(f"n_draws must be a positive integer, got {n_draws!r}")
        n_draws = min(int(n_draws), len(self._u))
        bound = None
        if data is not None:
            missing = [o.handle.name for o in self.model.observations
                       if o.handle.name not in data]
            if missing:
                raise DataError(f"membership needs the observed variables; {missing} missing")
            bound = self._bind(data)
        total = np.zeros((0, self.problem.k))
        for u in self._u[:n_draws]:
            joint = self.problem.joint(u, bound)
            top = np.max(joint, axis=1, keepdims=True)
            r = np.exp(joint - top)
            r /= r.sum(axis=1, keepdims=True)
            total = r if total.size == 0 else total + r
        return total / n_draws

    def __repr__(self) -> str:
        return (f"<LatentVIFit {self.model.name} vi/{self.engine} k={self.k}: "
                f"elbo={self.elbo:.6g}, pareto_k={self.pareto_k:.3g}, "
                f"converged={self.converged}>")


def fit_latent_vi(problem: LatentProblem, theta0: np.ndarray | None = None, *,
                  coords: Mapping[str, Any] | None = None, seed: int | None = 0,
                  n_draws: int = N_DRAWS, **options: Any) -> LatentVIFit:
    """Fit a Gaussian ``q`` to the posterior of a latent model's parameters by ADVI.

    Parameters
    ----------
    problem
        A ``method="vi"`` :class:`~probfit.latent.problem.LatentProblem`.
    theta0
        Starting point (unconstrained); a k-means++ start (seeded by ``seed``) if ``None``.
    coords
        Labels of dims, as for every fit.
    seed
        Seed of the k-means++ start and of ADVI's draws.
    n_draws
        Draws from ``q`` kept by the fit (ELBO estimate, Pareto k̂, intervals, memberships).
    **options
        Passed to :func:`~probfit.engines.advi.advi` (``family``, ``lr``, ``max_iter`` ...);
        ``batch_size`` is refused.

    Returns
    -------
    LatentVIFit
        Posterior means and sds under ``q``, the ELBO and the membership probabilities.

    Raises
    ------
    EngineError
        For an unknown or unsupported option.
    """
    if options.get("batch_size") is not None:
        raise EngineError(f"batch_size is not supported for the latent {problem.latent!r}: "
                          "the marginal log joint is evaluated on all rows")
    target = MarginalVIObjective(problem)
    start = kmeans_start(problem, seed) if theta0 is None else np.asarray(theta0, dtype=float)
    result = call_engine("advi", advi, target, start, seed=seed, **options)
    return LatentVIFit(problem, target, result, coords=coords, n_draws=n_draws, seed=seed)


def fit_latent_cavi(problem: LatentProblem, *, coords: Mapping[str, Any] | None = None,
                    seed: int | None = 0, n_draws: int = N_DRAWS,
                    **options: Any) -> LatentVIFit:
    """Fit the Bayesian Gaussian mixture by CAVI (closed-form mean-field updates).

    Parameters
    ----------
    problem
        A ``method="vi"`` latent problem that
        :func:`~probfit.latent.conjugacy.recognise_mixture` accepts.
    coords
        Labels of dims, as for every fit.
    seed
        Seed of the k-means++ start and of the fit's draws from ``q``.
    n_draws
        Draws from ``q`` kept by the fit (Monte Carlo ELBO of the marginal, Pareto k̂,
        intervals).
    **options
        Passed to :func:`~probfit.engines.cavi_mixture.cavi_mixture` (``max_iter``, ``tol``),
        or for ``MultivariateNormal`` components with a Wishart prior on the precision to
        :func:`~probfit.engines.cavi_normal_wishart.cavi_normal_wishart` (also ``resp0``).

    Returns
    -------
    LatentVIFit
        ``elbo`` is the exact ELBO of ``q(z) q(π) q(μ) q(τ)`` (``q(μ, Λ)`` for Normal–Wishart
        components); ``responsibilities`` is ``q(z)``.

    Raises
    ------
    EngineError
        If the model is not the conjugate mixture (naming the node and its prior), or for an
        unknown option.
    """
    plan = recognise_mixture(problem)
    target = MarginalVIObjective(problem)
    engine = cavi_normal_wishart if isinstance(plan, NormalWishartPlan) else cavi_mixture
    result, state = call_engine("cavi", engine, plan, target.layout, seed=seed, **options)
    return LatentVIFit(problem, target, result, coords=coords, n_draws=n_draws, seed=seed,
                       responsibilities=state.resp)
