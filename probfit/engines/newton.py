"""Damped Newton (IRLS for GLM-shaped models) with Armijo backtracking.

Each iteration evaluates the objective, its gradient and its Hessian once. For a GLM block the
Hessian is ``XᵀWX`` formed by one matrix product on the design matrix (see
:mod:`probfit.contract`); no ``n × n`` matrix is ever built and memory stays O(np).
With ``hessian="expected"`` the likelihood curvature is the Fisher information (Fisher
scoring, which is IRLS exactly).

A Hessian that is not positive definite is shifted by ``τI`` (``τ`` grown until the Cholesky
factorisation succeeds), so every step is a descent direction.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import linalg

from probfit.compile.objective import Objective
from probfit.engines.base import EngineResult, History
from probfit.engines.newton_cd import newton_cd
from probfit.errors import ConvergenceError, EngineError

__all__ = ["newton"]


def _pd_solve(h: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, float]:
    """Solve ``(H + τI) Δ = -g`` with the smallest ``τ ≥ 0`` (from a doubling ladder) that is PD."""
    scale = max(float(np.max(np.abs(np.diag(h)))), 1e-12) if h.size else 1.0
    tau = 0.0
    eye = np.eye(h.shape[0])
    for _ in range(60):
        try:
            c = linalg.cho_factor(h + tau * eye, check_finite=False)
            if np.all(np.isfinite(c[0])):
                return -linalg.cho_solve(c, g, check_finite=False), tau
        except linalg.LinAlgError:
            pass
        tau = max(2.0 * tau, 1e-10 * scale)
    raise ConvergenceError("the Hessian could not be made positive definite")


def newton(objective: Objective, theta0: np.ndarray, *, max_iter: int = 100,
           tol: float = 1e-10, gtol: float = 1e-9, hessian: str = "observed",
           max_halvings: int = 40,
           monitor: Callable[[np.ndarray, int], str | None] | None = None) -> EngineResult:
    """Minimise the objective by damped Newton.

    With L1 terms (Laplace or elastic-net priors under MAP) the run is proximal Newton with
    coordinate descent inside (:func:`~probfit.engines.newton_cd.newton_cd`), which gives exact
    zeros.

    Parameters
    ----------
    objective
        The :class:`~probfit.compile.objective.Objective`.
    theta0
        Starting point (flat, unconstrained).
    max_iter
        Iteration limit.
    tol
        Objective-change tolerance. The run converges when half the Newton decrement
        ``gᵀH⁻¹g / 2`` (the decrease the next step predicts) is at most ``tol · max(1, |f|)``;
        that final full step is then taken, so the solution is accurate to about ``tol²``
        relative in the objective.
    gtol
        Relative gradient tolerance: the run also converges when the last step changed the
        objective by at most ``tol · max(1, |f|)`` and ``max|g| ≤ gtol · max(1, |f|)``.
    hessian
        ``"observed"`` (exact Newton) or ``"expected"`` (Fisher scoring).
    max_halvings
        Backtracking limit of the Armijo line search.
    monitor
        Called as ``monitor(theta, iteration)`` after every accepted step; a returned string
        stops the run with that message (used for separation detection).
    """
    if hessian not in ("observed", "expected"):
        raise EngineError(f"hessian must be 'observed' or 'expected', got {hessian!r}")
    if not objective.smooth:
        return newton_cd(objective, theta0, max_iter=max_iter, tol=tol, gtol=gtol,
                         hessian=hessian, max_halvings=max_halvings, monitor=monitor)
    theta = np.array(theta0, dtype=float)
    hist = History()
    f, g, h = objective.evaluate(theta, 2, hessian)
    if not np.isfinite(f) or not np.all(np.isfinite(g)):
        raise ConvergenceError(f"the objective is not finite at the starting point (f={f}); "
                               "give init= values", hist)
    hist.record(objective=f, grad_norm=np.max(np.abs(g), initial=0.0), step_norm=0.0,
                step_size=0.0, shift=0.0)
    converged, message = False, f"reached max_iter={max_iter}"
    it = 0
    alpha = 0.0
    for it in range(1, max_iter + 1):
        if not np.all(np.isfinite(h)):
            raise ConvergenceError(f"non-finite Hessian at iteration {it}", hist)
        step, tau = _pd_solve(h, g)
        decrement = float(-g @ step)
        final = decrement / 2.0 <= tol * max(1.0, abs(f))
        f_prev = f
        # after a full step the next full step is almost always accepted too: then evaluate
        # its derivatives at once; the first step and those after a damped one test the
        # value first, so a rejected trial costs no Hessian
        optimistic = alpha == 1.0
        alpha = 1.0
        for halving in range(max_halvings + 1):
            trial = theta + alpha * step
            new = objective.evaluate(trial, 2, hessian) if optimistic and halving == 0 else \
                (objective.value(trial), None, None)
            f_new = new[0]
            if np.isfinite(f_new) and f_new <= f - 1e-4 * alpha * decrement + 1e-12 * abs(f):
                break
            alpha *= 0.5
        else:
            if final:
                converged, message = True, "converged (Newton decrement below tol)"
                it -= 1
                break
            message = f"line search failed at iteration {it}"
            break
        theta = trial
        f, g, h = new if new[1] is not None else objective.evaluate(theta, 2, hessian)
        hist.record(objective=f, grad_norm=np.max(np.abs(g), initial=0.0),
                    step_norm=alpha * float(np.linalg.norm(step)), step_size=alpha, shift=tau,
                    decrement=decrement)
        if monitor is not None:
            stop = monitor(theta, it)
            if stop:
                message = stop
                break
        if final:
            converged, message = True, "converged (Newton decrement below tol)"
            break
        scale = max(1.0, abs(f))
        if abs(f_prev - f) <= tol * scale and np.max(np.abs(g), initial=0.0) <= gtol * scale:
            converged, message = True, "converged (objective change and gradient below tol)"
            break
    return EngineResult(theta, f, converged, it, message, "newton", hist,
                        hess=h if not objective.l1 else None, hessian=hessian)
