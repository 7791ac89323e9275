"""Proximal Newton for L1 / elastic-net MAP: an IRLS outer loop, coordinate descent inside.

Each outer iteration forms the smooth part's gradient ``g`` and Hessian ``H`` once (``XᵀWX`` for
a GLM block) and minimises the penalised quadratic model

    q(z) = gᵀ(z − θ) + ½ (z − θ)ᵀ H (z − θ) + Σ_j w_j |z_j − loc_j|

by cyclic coordinate descent with soft-thresholding, so coefficients land exactly on zero. The
unpenalised block (intercepts, parameters without an L1 term) is solved exactly after every
sweep. Sweeps run over the active set (nonzero coefficients) until they settle, then one full
sweep checks whether any zero coefficient wants to enter; warm starts come from ``theta0``.
The step ``z − θ`` is damped by an Armijo line search on the full objective.

For a GLM-shaped objective (:class:`~probfit.engines.glm_view.GLMView`) the iterations run on a
*working set* of coordinates — unpenalised ones, nonzero coefficients, and zero ones whose
gradient violates the KKT condition at the start (on a warm-started path: the coefficients
that leave zero first at the new λ) — and everything data-sized is restricted to it: the
gradient ``J_Aᵀs`` (``O(n|A|)``), the Hessian ``J_Aᵀ W J_A`` (``O(n|A|²)``, reused while the
linear predictor barely moves), and the line search's ``η ← η + J_A Δ_A``. Coordinates outside
the set stay at their centre. The full gradient (one pass over the design) is formed only to
confirm convergence: when the working set has converged, the KKT conditions are checked over
every coordinate and any violators join the set before iterating on, as in glmnet and glum.
Objectives without that structure use full gradients and Hessians, every coordinate working.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy import linalg
from scipy.linalg import blas

from probfit.compile.objective import Objective
from probfit.engines.base import EngineResult, History
from probfit.engines.glm_view import GLMView
from probfit.errors import ConvergenceError, EngineError
from probfit.penalties.kkt import kkt_violations, l1_arrays

__all__ = ["newton_cd"]


def _shifted(h: np.ndarray) -> tuple[np.ndarray, float]:
    """``H + τI`` with the smallest ``τ ≥ 0`` (doubling ladder) that is positive definite."""
    scale = max(float(np.max(np.abs(np.diag(h)), initial=0.0)), 1e-12)
    tau = 0.0
    eye = np.eye(h.shape[0])
    for _ in range(60):
        try:
            linalg.cholesky(h + tau * eye, lower=True, check_finite=False)
            return h + tau * eye, tau
        except linalg.LinAlgError:
            tau = max(2.0 * tau, 1e-10 * scale)
    raise ConvergenceError("the Hessian could not be made positive definite")


class _Quadratic:
    """Coordinate descent on ``q(z)``; ``r`` is the gradient of the quadratic part at ``z``.

    The coordinates are Python floats and ``r`` is updated by one BLAS ``axpy`` per move (the
    loop's cost is per-call overhead at working-set sizes).
    """

    def __init__(self, g: np.ndarray, h: np.ndarray, theta: np.ndarray, weight: np.ndarray,
                 loc: np.ndarray) -> None:
        self.h = np.ascontiguousarray(h, dtype=float)
        self.rows = list(self.h)
        self.r = np.array(g, dtype=float)
        self._z = np.asarray(theta, dtype=float).tolist()
        self.weight, self.loc = weight.tolist(), loc.tolist()
        self.diag = np.diag(h).tolist()
        self.free = np.flatnonzero(weight == 0.0)
        self.pen = np.flatnonzero(weight > 0.0)
        self.chol = (linalg.cho_factor(h[np.ix_(self.free, self.free)], check_finite=False)
                     if self.free.size > 1 else None)

    @property
    def z(self) -> np.ndarray:
        """The current minimiser estimate."""
        return np.array(self._z)

    def sweep(self, coords: np.ndarray) -> float:
        """One pass over ``coords`` then the free block; the largest ``|H_jj·δ_j|``."""
        z, r, rows, axpy = self._z, self.r, self.rows, blas.daxpy
        diag, weight, loc = self.diag, self.weight, self.loc
        biggest = 0.0
        for j in coords.tolist():
            a, c, zj = diag[j], loc[j], z[j]
            u = zj - r.item(j) / a - c
            t = weight[j] / a
            new = c + (u - t if u > t else u + t if u < -t else 0.0)
            step = new - zj
            if step != 0.0:
                z[j] = new
                axpy(rows[j], r, a=step)
                biggest = max(biggest, abs(a * step))
        if self.free.size == 1:
            f = int(self.free[0])
            step = -r.item(f) / diag[f]
            z[f] += step
            axpy(rows[f], r, a=step)
            biggest = max(biggest, abs(diag[f] * step))
        elif self.chol is not None:
            free = self.free
            steps = -linalg.cho_solve(self.chol, r[free], check_finite=False)
            for f, step in zip(free.tolist(), steps.tolist(), strict=True):
                z[f] += step
            r += self.h[:, free] @ steps
            biggest = max(biggest, float(np.max(np.abs(np.diag(self.h)[free] * steps))))
        return biggest

    def solve(self, eps: float, max_sweeps: int) -> int:
        """Active-set coordinate descent until no coordinate of a full sweep moves by more than
        ``eps`` in gradient units (``|H_jj·δ_j| ≤ eps``)."""
        sweeps = 0
        while sweeps < max_sweeps:
            change = self.sweep(self.pen)
            sweeps += 1
            if change <= eps:
                break
            active = self.pen[self.z[self.pen] != np.asarray(self.loc)[self.pen]]
            while sweeps < max_sweeps:
                sweeps += 1
                if self.sweep(active) <= eps:
                    break
        return sweeps


class _Smooth(Protocol):
    """What proximal Newton needs of the smooth part (:class:`GLMView` or :class:`_Dense`)."""

    def at(self, theta: np.ndarray, eta: np.ndarray | None = None) -> Any: ...

    def grad(self, point: Any) -> np.ndarray: ...

    def grad_on(self, point: Any, cols: np.ndarray) -> np.ndarray: ...

    def hess_on(self, point: Any, cols: np.ndarray, hessian: str
                ) -> tuple[np.ndarray, bool]: ...

    def extend(self, cols: np.ndarray) -> np.ndarray: ...

    def direction(self, cols: np.ndarray, step: np.ndarray) -> np.ndarray | None: ...


@dataclass
class _DensePoint:
    theta: np.ndarray
    value: float
    grad: np.ndarray
    eta: None = None


class _Dense:
    """The smooth part of any objective from full evaluations; every coordinate works."""

    def __init__(self, objective: Objective) -> None:
        self.objective = objective
        self.working = np.arange(objective.size)

    def at(self, theta: np.ndarray, eta: np.ndarray | None = None) -> _DensePoint:
        f, g, _ = self.objective.evaluate(theta, 1)
        return _DensePoint(theta, f, g)

    def grad(self, point: _DensePoint) -> np.ndarray:
        return point.grad

    def grad_on(self, point: _DensePoint, cols: np.ndarray) -> np.ndarray:
        return point.grad[cols]

    def hess_on(self, point: _DensePoint, cols: np.ndarray, hessian: str
                ) -> tuple[np.ndarray, bool]:
        return self.objective.hess(point.theta, hessian)[np.ix_(cols, cols)], False

    def extend(self, cols: np.ndarray) -> np.ndarray:
        return self.working

    def direction(self, cols: np.ndarray, step: np.ndarray) -> None:
        return None


def newton_cd(objective: Objective, theta0: np.ndarray, *, max_iter: int = 100,
              tol: float = 1e-10, gtol: float = 1e-9, hessian: str = "observed",
              max_halvings: int = 40, max_sweeps: int = 10000,
              monitor: Callable[[np.ndarray, int], str | None] | None = None) -> EngineResult:
    """Minimise the smooth part plus its L1 terms by proximal Newton with coordinate descent.

    Parameters
    ----------
    objective
        The :class:`~probfit.compile.objective.Objective` (L1 terms allowed).
    theta0
        Starting point (a warm start along a path).
    max_iter
        Outer (Newton) iteration limit.
    tol
        Converged when half the proximal Newton decrement
        ``−(gᵀd + P(θ + d) − P(θ))/2`` is at most ``tol · max(1, |F|)`` and no coordinate
        outside the working set violates the KKT conditions.
    gtol
        Also converged when the KKT violation over all coordinates is at most
        ``gtol · max(1, |F|)``.
    hessian
        ``"observed"`` or ``"expected"`` curvature in the quadratic model.
    max_halvings
        Backtracking limit of the line search.
    max_sweeps
        Coordinate-descent sweep limit per outer iteration.
    monitor
        Called as ``monitor(theta, iteration)`` after every accepted step; a returned string
        stops the run with that message.

    Returns
    -------
    EngineResult
        The history's ``grad_norm`` is the KKT violation over the working set, over every
        coordinate in the first row and wherever the full gradient was formed; the message
        states the final violation over every coordinate.
    """
    if hessian not in ("observed", "expected"):
        raise EngineError(f"hessian must be 'observed' or 'expected', got {hessian!r}")
    weight, loc = l1_arrays(objective)
    theta = np.array(theta0, dtype=float)
    hist = History()
    smooth: _Smooth = GLMView.of(objective) or _Dense(objective)

    def penalty(x: np.ndarray) -> float:
        return float(weight @ np.abs(x - loc))

    def violations(x: np.ndarray, g: np.ndarray, cols: np.ndarray | slice) -> np.ndarray:
        return kkt_violations(x[cols], g, weight[cols], loc[cols])

    point = smooth.at(theta)
    g: np.ndarray | None = smooth.grad(point)
    big_f = point.value + penalty(theta)
    if not np.isfinite(big_f) or not np.all(np.isfinite(g)):
        raise ConvergenceError(f"the objective is not finite at the starting point "
                               f"(f={point.value}); give init= values", hist)
    kkt = float(np.max(violations(theta, g, slice(None)), initial=0.0))
    cols = smooth.extend(np.flatnonzero((weight == 0) | (theta != loc) | (np.abs(g) > weight)))
    g_cols = g[cols]

    def entering(g: np.ndarray) -> np.ndarray:
        """Coordinates outside the working set (so at their centre) that violate KKT."""
        outside = np.ones(theta.size, dtype=bool)
        outside[cols] = False
        return np.flatnonzero(outside & (np.abs(g) > weight))

    hist.record(objective=big_f, grad_norm=kkt, step_norm=0.0, step_size=0.0, shift=0.0,
                sweeps=0)
    converged, message = False, f"reached max_iter={max_iter}"
    it = 0
    for it in range(1, max_iter + 1):
        scale = max(1.0, abs(big_f))
        if float(np.max(violations(theta, g_cols, cols), initial=0.0)) <= gtol * scale:
            # the working set looks converged: check every coordinate
            if g is None:
                g = smooth.grad(point)
            kkt = float(np.max(violations(theta, g, slice(None)), initial=0.0))
            if kkt <= gtol * scale:
                converged, message, it = True, "converged (KKT violation below gtol)", it - 1
                break
            cols = smooth.extend(entering(g))
            g_cols = g[cols]
        h, reused = smooth.hess_on(point, cols, hessian)
        if not np.all(np.isfinite(h)):
            raise ConvergenceError(f"non-finite Hessian at iteration {it}", hist)
        hs, tau = _shifted(h)
        quad = _Quadratic(g_cols, hs, theta[cols], weight[cols], loc[cols])
        sweeps = quad.solve(0.1 * gtol * scale, max_sweeps)
        step = np.zeros_like(theta)
        step[cols] = quad.z - theta[cols]
        decrease = float(g_cols @ step[cols]) + penalty(theta + step) - penalty(theta)
        final = -decrease / 2.0 <= tol * scale
        # the linear predictor moves by J_A Δ_A (GLM view): no product with the whole design
        d_eta = smooth.direction(cols, step[cols])
        alpha, accepted = 1.0, None
        for _ in range(max_halvings + 1):
            trial = theta + alpha * step
            trial_point = smooth.at(trial, None if d_eta is None else point.eta + alpha * d_eta)
            total = trial_point.value + penalty(trial)
            if np.isfinite(total) and total <= big_f + 1e-4 * alpha * decrease + 1e-12 * scale:
                accepted = trial_point
                break
            alpha *= 0.5
        if accepted is None:
            if not final:
                message = f"line search failed at iteration {it}"
                break
            # no decrease left on the working set: done unless others want to move
            g = smooth.grad(point) if g is None else g
            new = entering(g)
            if new.size == 0:
                converged, message, it = True, "converged (Newton decrement below tol)", it - 1
                break
            cols = smooth.extend(new)
            g_cols = g[cols]
            continue
        theta, point, big_f = trial, accepted, total
        g, new = None, np.zeros(0, dtype=int)
        g_cols = smooth.grad_on(point, cols)
        if final:
            g = smooth.grad(point)
            new = entering(g)
        shown = violations(theta, g_cols, cols) if g is None else \
            violations(theta, g, slice(None))
        hist.record(objective=big_f, grad_norm=float(np.max(shown, initial=0.0)),
                    step_norm=alpha * float(np.linalg.norm(step)), step_size=alpha, shift=tau,
                    sweeps=sweeps, decrement=-decrease, hessian_reused=float(reused))
        if monitor is not None:
            stop = monitor(theta, it)
            if stop:
                message = stop
                break
        if final:
            if new.size == 0:
                converged, message = True, "converged (Newton decrement below tol)"
                break
            cols = smooth.extend(new)
            g_cols = g[cols]
    if g is None:
        g = smooth.grad(point)
    kkt = float(np.max(violations(theta, g, slice(None)), initial=0.0))
    return EngineResult(theta, big_f, converged, it, f"{message}; KKT violation {kkt:.2e}",
                        "newton", hist)
