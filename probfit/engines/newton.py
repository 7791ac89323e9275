"""Damped Newton (IRLS for GLM-shaped models) with Armijo backtracking.

Each iteration evaluates the objective, its gradient and its Hessian once; the point the
run ends at gets its value and gradient only (its Hessian serves standard errors, which the
fit forms when they are asked for). For a GLM block the
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
    optimistic = False
    for it in range(1, max_iter + 1):
        if not np.all(np.isfinite(h)):
            raise ConvergenceError(f"non-finite Hessian at iteration {it}", hist)
        step, tau = _pd_solve(h, g)
        decrement = float(-g @ step)
        final = decrement / 2.0 <= tol * max(1.0, abs(f))
        # the last point needs its Hessian only for standard errors, which the fit forms
        # when asked; it is computed here when the last step needed a shift (a singular
        # Hessian is then reported with the fit)
        order = 1 if final and tau == 0.0 else 2
        f_prev = f
        alpha, new, exact = _step_length(objective, theta, step, f, decrement, order, hessian,
                                         optimistic, max_halvings)
        if alpha is None:
            if final:
                converged, message = True, "converged (Newton decrement below tol)"
                it -= 1
                break
            message = f"line search failed at iteration {it}"
            break
        # after a full (or exact line-search) step the next full step is almost always
        # accepted too: then its derivatives are evaluated with its value
        optimistic = alpha == 1.0 or exact
        theta = theta + alpha * step
        f, g, h = new if new[1] is not None else objective.evaluate(theta, order, hessian)
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
    return EngineResult(theta, f, converged, it, message, "newton", hist, hess=h,
                        hessian=hessian)


def _step_length(objective: Objective, theta: np.ndarray, step: np.ndarray, f: float,
                 decrement: float, order: int, hessian: str, optimistic: bool,
                 max_halvings: int) -> tuple[float | None, tuple, bool]:
    """The Armijo step length along ``step``: ``(alpha or None, evaluation at the new point
    when done already, whether it came from an exact line search)``.

    ``optimistic``: evaluate the full step's derivatives with its value (a rejected trial then
    costs them). Otherwise, for a GLM objective, a row sample (:meth:`Objective.sampled_line`)
    predicts the full step's change first; when it shows at least a quarter of the decrease
    the Newton model promises (``decrement / 2``), the full step is evaluated as when
    ``optimistic``. Otherwise, or when that trial fails, the step length is the minimiser along
    the step (:func:`_minimiser` on :meth:`Objective.line`: one product of the design with the
    step, then elementwise work per call), searched from the minimiser along the sampled line,
    and its value is tested together with its derivatives. Other objectives halve. The Armijo
    test itself is never estimated.
    """
    def accept(value: float, a: float) -> bool:
        return bool(np.isfinite(value)) and \
            value <= f - 1e-4 * a * decrement + 1e-12 * abs(f)

    def value(a: float) -> float:
        return objective.value(theta + a * step)

    if optimistic:
        new = objective.evaluate(theta + step, order, hessian)
        if accept(new[0], 1.0):
            return 1.0, new, False
        return _halve(value, accept, 0.5, max_halvings), (None, None, None), False
    none = (None, None, None)
    sample = objective.sampled_line(theta, step)
    if sample is None:
        return _halve(value, accept, 1.0, max_halvings), none, False
    change = sample(1.0, True, False)[0] - sample(0.0, True, False)[0]
    if change <= -decrement / 8.0:
        new = objective.evaluate(theta + step, order, hessian)
        if accept(new[0], 1.0):
            return 1.0, new, False
    guess = _minimiser(sample, 1.0, decrement, max_halvings)
    line = objective.line(theta, step)
    alpha = _minimiser(line, guess, decrement, max_halvings)
    # its value is tested with its derivatives at once
    new = objective.evaluate(theta + alpha * step, order, hessian)
    if accept(new[0], alpha):
        return alpha, new, True
    return _halve(lambda a: line(a, True, False)[0], accept, 0.5 * alpha, max_halvings), \
        none, True


def _halve(value: Callable[[float], float], accept: Callable[[float, float], bool],
           alpha: float, max_halvings: int) -> float | None:
    """The first of ``alpha, alpha/2, ...`` (at most ``max_halvings`` halvings) whose value
    passes the Armijo test ``accept``, or ``None``."""
    for _ in range(max_halvings + 1):
        if accept(value(alpha), alpha):
            return alpha
        alpha *= 0.5
    return None


def _minimiser(line: Callable[..., tuple[float, float, float]], alpha: float,
               decrement: float, max_steps: int) -> float:
    """The minimiser on ``(0, 1]`` of ``φ``, the objective along a Newton step, from its
    derivatives ``line(α, False)[1:]`` (:meth:`~probfit.compile.objective.Objective.line`):
    Newton's method on ``φ'`` from ``alpha``, safeguarded by bisection between the last points
    with ``φ' < 0`` and ``φ' > 0``, to ``|φ'| ≤ 10⁻³ |φ'(0)|`` (``φ'(0) = −decrement``); 1
    when ``φ'(1) < 0``.

    A GLM's Newton step from a poor start mostly has the right direction and the wrong
    length; the minimiser along it can leave far less to do than a halved step (at
    n = 10⁶ the Poisson benchmark's first step, halved, left a decrement of 10⁴; the
    minimiser, 0.548, left 27).
    """
    lo, hi = 0.0, np.inf
    for _ in range(max_steps + 1):
        _, slope, curv = line(alpha, False)
        if abs(slope) <= 1e-3 * decrement or (slope < 0.0 and alpha == 1.0):
            break
        if slope < 0.0:
            lo = alpha
        else:
            hi = alpha
        guess = alpha - slope / curv if curv > 0.0 else -1.0
        alpha = min(1.0, guess if lo < guess < hi else 0.5 * (lo + hi))
    return alpha
