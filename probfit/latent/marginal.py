"""The marginal (observed-data) objective of a latent model, for gradient-based engines."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from probfit.compile.context import Layout
from probfit.compile.objective import FlatObjective
from probfit.errors import EngineError
from probfit.latent.problem import LatentProblem

__all__ = ["MarginalObjective"]


class MarginalObjective(FlatObjective):
    """``-Σ_n log Σ_j p(x_n, z_n = j | θ) - log p(θ)`` with its exact gradient.

    The gradient comes from Fisher's identity: at the responsibilities ``r = p(z | x, θ)``
    the gradient of the expected complete-data log density equals the gradient of the
    marginal log-likelihood. It offers the parts of the
    :class:`~probfit.compile.objective.Objective` interface that L-BFGS uses.

    Attributes
    ----------
    problem
        The enumerated latent model.
    latent
        The latent's name (engines that cannot marginalize refuse objectives that have one).
    """

    def __init__(self, problem: LatentProblem) -> None:
        self.problem = problem
        self.latent = problem.latent
        self.layout: Layout = problem.objective.layout
        self.l1 = problem.objective.l1
        self.method = problem.method
        self.jacobian = problem.objective.jacobian

    def responsibilities(self, theta: np.ndarray) -> tuple[np.ndarray, float]:
        """``(r, loglik)``: membership probabilities ``(n, k)`` and the log-likelihood."""
        joint = self.problem.joint(theta)
        top = np.max(joint, axis=1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        lse = top[:, 0] + np.log(np.sum(np.exp(joint - top), axis=1))
        return np.exp(joint - lse[:, None]), float(np.sum(lse))

    def evaluate(self, theta: np.ndarray, order: int = 1, hessian: str = "observed",
                 data: Mapping[str, np.ndarray] | None = None, obs_scale: float = 1.0
                 ) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        """Value and (``order == 1``) exact gradient.

        Raises
        ------
        EngineError
            For ``order == 2``: the exact marginal Hessian is not available.
        """
        if order >= 2:
            raise EngineError("the marginal objective of a latent model has no exact Hessian; "
                              "use engine='em' or 'lbfgs'")
        theta = np.asarray(theta, dtype=float)
        resp, ll = self.responsibilities(theta)
        value = -ll - self.problem.log_prior(theta)
        if order == 0:
            return value, None, None
        _, grad, _ = self.problem.q_evaluate(theta, resp, 1)
        return value, grad, None

    def hess(self, theta: np.ndarray, hessian: str = "observed") -> np.ndarray:
        """The complete-data information at the current responsibilities (Hessian of ``-Q``).

        It bounds the marginal Hessian from above (the missing information is subtracted in
        the exact one), so it serves as a positive preconditioner; it is not the marginal
        Hessian and no standard errors are computed from it.
        """
        resp, _ = self.responsibilities(theta)
        return self.problem.q_evaluate(np.asarray(theta, dtype=float), resp, 2)[2]
