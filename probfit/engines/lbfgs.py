"""L-BFGS-B (scipy) on the same objective.

Laplace (L1) prior terms are handled exactly by splitting each penalised coordinate into a
positive and a negative part, ``x - loc = x⁺ - x⁻`` with ``x⁺, x⁻ ≥ 0``; the penalty becomes
linear, the problem smooth and bound-constrained, and coefficients can be exactly zero.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import linalg, optimize

from probfit.compile.objective import Objective
from probfit.engines.base import EngineResult, History

__all__ = ["lbfgs"]


def _preconditioner(objective: Objective, theta0: np.ndarray, free: np.ndarray,
                    pen: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """Lower Cholesky factor of the free block of the starting Hessian, and a diagonal scale
    for the penalised coordinates (their L1 terms must stay separable)."""
    if objective.size > PRECONDITION_MAX_PARAMS:
        return None, np.ones(pen.size)
    h = objective.hess(theta0)
    diag = np.abs(np.diag(h))
    floor = max(1e-8 * float(diag.max(initial=0.0)), 1e-12)
    d_pen = np.sqrt(np.maximum(diag[pen], floor))
    hf = h[np.ix_(free, free)]
    try:
        chol = linalg.cholesky(hf, lower=True)
    except linalg.LinAlgError:
        chol = np.diag(np.sqrt(np.maximum(diag[free], floor)))
    return chol, d_pen


#: Above this many free parameters L-BFGS runs without the Hessian preconditioner.
PRECONDITION_MAX_PARAMS = 2000


def lbfgs(objective: Objective, theta0: np.ndarray, *, max_iter: int = 5000,
          tol: float = 1e-13, gtol: float = 1e-9, memory: int = 20,
          monitor: Callable[[np.ndarray, int], str | None] | None = None) -> EngineResult:
    """Minimise the objective (smooth part plus L1 terms) with L-BFGS-B.

    For models with at most 2000 free parameters the problem is first preconditioned by the
    Cholesky factor ``L`` of the Hessian at the start (``θ = θ₀ + L⁻ᵀz``), which makes badly
    scaled covariates harmless; penalised coordinates get the diagonal part only, so their L1
    terms stay separable.

    Parameters
    ----------
    objective
        The :class:`~probfit.compile.objective.Objective`.
    theta0
        Starting point (flat, unconstrained).
    max_iter
        Iteration limit.
    tol
        Relative objective-change tolerance (scipy's ``ftol``).
    gtol
        Projected-gradient tolerance in the (preconditioned) working coordinates.
    memory
        Number of stored correction pairs.
    monitor
        As for :func:`~probfit.engines.newton.newton`.
    """
    n = objective.size
    terms = objective.l1
    idx = np.concatenate([np.arange(n)[t.slice] for t in terms]) if terms else \
        np.array([], dtype=int)
    loc = np.concatenate([t.loc for t in terms]) if terms else np.array([])
    wgt = np.concatenate([t.weight for t in terms]) if terms else np.array([])
    free = np.setdiff1d(np.arange(n), idx)
    nf, m = free.size, idx.size
    chol, d_pen = _preconditioner(objective, theta0, free, idx)

    def expand(z: np.ndarray) -> np.ndarray:
        theta = theta0.copy()
        zf = z[:nf]
        theta[free] += zf if chol is None else linalg.solve_triangular(chol, zf, trans="T",
                                                                       lower=True)
        if m:
            theta[idx] = loc + (z[nf:nf + m] - z[nf + m:]) / d_pen
        return theta

    last: dict[str, np.ndarray] = {}

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        f, g, _ = objective.evaluate(expand(z), 1)
        if not np.isfinite(f):
            return np.inf, np.zeros_like(z)
        gz = np.empty_like(z)
        gz[:nf] = g[free] if chol is None else linalg.solve_triangular(chol, g[free], lower=True)
        if m:
            gz[nf:nf + m] = (g[idx] + wgt) / d_pen
            gz[nf + m:] = (-g[idx] + wgt) / d_pen
            f += float(wgt @ ((z[nf:nf + m] + z[nf + m:]) / d_pen))
        last["z"], last["g"] = z.copy(), gz
        return f, gz

    z0 = np.concatenate([np.zeros(nf), np.maximum(theta0[idx] - loc, 0.0) * d_pen,
                         np.maximum(loc - theta0[idx], 0.0) * d_pen])
    bounds = [(None, None)] * nf + [(0.0, None)] * (2 * m)
    f0 = fun(z0)[0]
    hist = History()
    hist.record(objective=f0, grad_norm=float(np.max(np.abs(last["g"]), initial=0.0)),
                step_norm=0.0)
    state: dict[str, object] = {"z": z0, "stop": None}

    def callback(intermediate_result: optimize.OptimizeResult) -> None:
        z = intermediate_result.x
        g = last["g"] if np.array_equal(last.get("z"), z) else fun(z)[1]
        hist.record(objective=intermediate_result.fun,
                    grad_norm=float(np.max(np.abs(g), initial=0.0)),
                    step_norm=float(np.linalg.norm(expand(z) - expand(state["z"]))))
        state["z"] = z.copy()
        if monitor is not None:
            stop = monitor(expand(z), len(hist) - 1)
            if stop:
                state["stop"] = stop
                raise StopIteration

    res = optimize.minimize(fun, z0, jac=True, method="L-BFGS-B", bounds=bounds,
                            callback=callback,
                            options={"maxiter": max_iter, "ftol": tol, "maxcor": memory,
                                     "gtol": gtol, "maxls": 50})
    theta = expand(res.x)
    if state["stop"]:
        return EngineResult(theta, float(res.fun), False, len(hist) - 1, str(state["stop"]),
                            "lbfgs", hist)
    _, gz = fun(res.x)
    lower = np.array([-np.inf if b[0] is None else b[0] for b in bounds])
    projected = np.maximum(res.x - gz, lower) - res.x
    pg = float(np.max(np.abs(projected), initial=0.0))
    converged = bool(res.success) or pg <= 1e-6
    message = f"{res.message} (projected gradient {pg:.2e})"
    return EngineResult(theta, float(res.fun), converged, int(res.nit), message, "lbfgs", hist)
