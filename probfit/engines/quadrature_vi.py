"""Deterministic Gaussian VI for GLM-shaped models (``engine="quadrature"``).

For a likelihood whose only parameter-dependent argument is a linear predictor
``η = Jθ + c`` and unconstrained parameters, a Gaussian ``q(θ)`` makes every ``η_i`` Gaussian,
so the ELBO is a sum of 1-d Gaussian expectations computed by Gauss–Hermite quadrature, with
closed-form prior and entropy terms (:class:`~probfit.engines.quadrature_elbo.QuadratureELBO`).
The ELBO is then a deterministic, smooth function of the variational parameters with exact
gradients (and, for mean-field, an exact Hessian), so it is maximised to tight tolerance by
second-order or quasi-Newton methods instead of stochastic gradients:

* mean-field ``q = N(m, diag(s²))``: damped Newton (:func:`~probfit.engines.newton.newton`:
  Armijo backtracking, Hessian shifted to be positive definite when needed) in
  ``(m, log s)``, for up to :data:`NEWTON_MAX_PARAMS` parameters; L-BFGS beyond;
* full-rank ``q = N(m, L Lᵀ)``: the fixed point of the stationarity conditions (a Newton step
  in ``m``, ``C ← −½ G⁻¹`` with ``G = ∂E_q[log p]/∂C``; exact in one step for a Normal
  likelihood), accepted while the ELBO does not decrease; otherwise (or with
  ``optimizer="lbfgs"``) L-BFGS on ``(m, log diag L, strict lower L)``, preconditioned by the
  current ``q`` exactly as ADVI is (:class:`~probfit.engines.advi._Packing`).

By default ``q`` starts at the Laplace approximation (the mode of the log joint found by
Newton, with the inverse Hessian as covariance, its diagonal precision for mean-field). After
the fit the ELBO is recomputed with twice as many nodes; the difference is reported in the
message as the quadrature error estimate, and a :class:`~probfit.errors.ProbfitWarning` is
raised when it exceeds :data:`QUADRATURE_WARN` nats.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from scipy import linalg, optimize

from probfit.compile.objective import Objective
from probfit.engines.advi import FAMILIES, VIResult, _Packing
from probfit.engines.base import History
from probfit.engines.newton import _pd_solve, newton
from probfit.engines.qfamilies import GaussianQ
from probfit.engines.quadrature_elbo import QuadratureELBO, quadrature_refusal
from probfit.errors import ConvergenceError, EngineError, ProbfitWarning

__all__ = ["quadrature"]

#: Gauss–Hermite nodes per 1-d expectation unless ``nodes=`` says otherwise.
DEFAULT_NODES = 20

#: Mean-field fits with at most this many parameters ``d`` use Newton on the ``2d`` variational
#: parameters; larger ones use L-BFGS.
NEWTON_MAX_PARAMS = 1000

#: Quadrature error estimate (in nats) above which a warning is raised: an ELBO error of ``ε``
#: that varies on the scale of a posterior sd moves the optimum by about ``ε`` posterior sds.
QUADRATURE_WARN = 1e-3

OPTIMIZERS = ("newton", "fixed-point", "lbfgs")

_LOG_2PI = np.log(2.0 * np.pi)


def quadrature(objective: Objective, theta0: np.ndarray, *, family: str = "meanfield",
               nodes: int = DEFAULT_NODES, optimizer: str | None = None, max_iter: int = 200,
               tol: float = 1e-10, gtol: float = 1e-8, warm_start: bool = True,
               init_scale: float = 0.1, monitor: Callable | None = None) -> VIResult:
    """Fit a Gaussian ``q`` to the posterior of a GLM-shaped model by maximising the
    Gauss–Hermite ELBO.

    Parameters
    ----------
    objective
        A ``method="vi"`` objective that :func:`quadrature_refusal` accepts.
    theta0
        Starting mean when not warm-starting (or when the mode cannot be found).
    family
        ``"meanfield"`` (diagonal covariance) or ``"fullrank"`` (Cholesky factor).
    nodes
        Gauss–Hermite nodes per 1-d expectation (at least 2; 20 by default: for the logistic
        likelihood the absolute error per row is below 1e-14 while the linear predictor's sd
        under ``q`` is at most 0.3, 3e-11 at sd 1 and 1e-4 at sd 3). Quadratic
        log-likelihoods (Normal) are integrated exactly.
    optimizer
        Mean-field: ``"newton"`` (default up to :data:`NEWTON_MAX_PARAMS` parameters) or
        ``"lbfgs"``. Full-rank: ``"fixed-point"`` (default; continued by L-BFGS if a step
        would lower the ELBO) or ``"lbfgs"``.
    max_iter
        Iteration limit of the optimizer.
    tol
        Relative ELBO change. Newton stops when half its decrement (the predicted gain) is at
        most ``tol · max(1, |ELBO|)`` and then takes that last step, or when the last step
        changed the ELBO by at most that much and ``max |gradient| ≤ gtol · max(1, |ELBO|)``;
        the fixed point and L-BFGS stop when the ELBO changed by at most
        ``tol · max(1, |ELBO|)`` in the last iteration and
        ``max |gradient| ≤ gtol · max(1, |ELBO|)`` in coordinates scaled by ``q`` (where a unit
        is about one posterior sd).
    gtol
        Gradient tolerance (see ``tol``).
    warm_start
        Start at the Laplace approximation instead of ``N(theta0, init_scale² I)``.
    init_scale
        Initial sd when not warm-starting (or where the Hessian at the mode is not positive).
    monitor
        Unused (accepted for the engine protocol).

    Returns
    -------
    VIResult
        ``theta`` is the mean of ``q``; ``objective`` is minus the final ELBO; ``history``
        holds the ELBO per iteration (column ``"elbo"``, iteration 0 is the start).
    """
    if objective.method != "vi":
        raise EngineError("the quadrature engine needs a method='vi' objective, got "
                          f"method={objective.method!r}")
    if family not in FAMILIES:
        raise EngineError(f"family must be one of {FAMILIES}, got {family!r}")
    if optimizer is not None and optimizer not in OPTIMIZERS:
        raise EngineError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if (family, optimizer) in (("fullrank", "newton"), ("meanfield", "fixed-point")):
        raise EngineError(f"optimizer={optimizer!r} does not fit family={family!r}; "
                          "mean-field takes 'newton' or 'lbfgs', full-rank 'fixed-point' or "
                          "'lbfgs'")
    for name, value, low in (("nodes", nodes, 2), ("max_iter", max_iter, 1)):
        if not isinstance(value, (int, np.integer)) or value < low:
            raise EngineError(f"{name} must be an integer >= {low}, got {value!r}")
    if not tol > 0 or not gtol > 0 or not init_scale > 0:
        raise EngineError("tol, gtol and init_scale must be positive")
    why = quadrature_refusal(objective)
    if why:
        raise EngineError(why)
    elbo = QuadratureELBO(objective, nodes)
    d = objective.size
    mode, hess = _laplace(objective, np.asarray(theta0, dtype=float), warm_start)
    if optimizer is None:
        optimizer = ("fixed-point" if family == "fullrank" else
                     "newton" if d <= NEWTON_MAX_PARAMS else "lbfgs")
    if family == "meanfield":
        sd0 = _diagonal_sd(hess, d, init_scale)
        if optimizer == "newton":
            fitted = _newton_meanfield(elbo, mode, sd0, max_iter, tol, gtol)
        else:
            fitted = _lbfgs_meanfield(elbo, mode, sd0, max_iter, tol, gtol)
    else:
        fitted = _fullrank(elbo, mode, _covariance_factor(hess, d, init_scale), optimizer,
                           max_iter, tol, gtol)
    mean, chol, final, history, converged, n_iter, message = fitted
    error = abs(elbo.elbo(mean, chol, 2 * nodes) - final)
    message += (f"; {nodes} Gauss–Hermite nodes, quadrature error estimate "
                f"|ELBO({nodes}) − ELBO({2 * nodes})| = {error:.2g}")
    if error > QUADRATURE_WARN:
        warnings.warn(f"quadrature VI: the ELBO changes by {error:.3g} between {nodes} and "
                      f"{2 * nodes} Gauss–Hermite nodes; pass a larger nodes=", ProbfitWarning,
                      stacklevel=2)
    q = GaussianQ(mean, chol, objective.layout)
    return VIResult(theta=mean.copy(), objective=-final, converged=converged, n_iter=n_iter,
                    message=message, engine="quadrature", history=history, q=q, family=family)


def _laplace(objective: Objective, theta0: np.ndarray, warm_start: bool
             ) -> tuple[np.ndarray, np.ndarray | None]:
    """The mode of the log joint and the Hessian of its negative there (``None`` when not
    warm-starting or when Newton does not find a finite mode)."""
    if not warm_start:
        return theta0, None
    try:
        res = newton(objective, theta0)
    except ConvergenceError:
        return theta0, None
    if not (res.converged and np.all(np.isfinite(res.theta))):
        return theta0, None
    hess = res.hess if res.hess is not None else objective.hess(res.theta)
    return (res.theta, hess) if np.all(np.isfinite(hess)) else (theta0, None)


def _diagonal_sd(hess: np.ndarray | None, d: int, init_scale: float) -> np.ndarray:
    """``1/√H_jj`` where positive (the Laplace diagonal-precision sd), else ``init_scale``."""
    if hess is None:
        return np.full(d, init_scale)
    diag = np.diag(hess)
    return np.where(diag > 0, 1.0 / np.sqrt(np.where(diag > 0, diag, 1.0)), init_scale)


def _covariance_factor(hess: np.ndarray | None, d: int, init_scale: float) -> np.ndarray:
    """Lower Cholesky factor of ``H⁻¹`` (``init_scale · I`` if ``H`` is not positive definite)."""
    if hess is None:
        return init_scale * np.eye(d)
    try:
        chol_h = linalg.cholesky(hess, lower=True)
    except linalg.LinAlgError:
        return init_scale * np.eye(d)
    inv_c = linalg.solve_triangular(chol_h, np.eye(d), lower=True)
    cov = inv_c.T @ inv_c
    return linalg.cholesky(0.5 * (cov + cov.T), lower=True)


def _newton_meanfield(elbo: QuadratureELBO, mode: np.ndarray, sd0: np.ndarray, max_iter: int,
                      tol: float, gtol: float, max_halvings: int = 40):
    """Damped Newton ascent in ``lam = (m, log s)`` with Armijo backtracking; a Hessian that is
    not negative definite is shifted (:func:`~probfit.engines.newton._pd_solve`). The last
    step (predicted gain below ``tol``) is taken without forming another Hessian."""
    d = elbo.size
    lam = np.concatenate([mode, np.log(sd0)])
    with np.errstate(over="ignore", invalid="ignore"):
        f, g, h = elbo.meanfield(lam, 2)
    if not (np.isfinite(f) and np.all(np.isfinite(g)) and np.all(np.isfinite(h))):
        raise ConvergenceError("quadrature VI: the ELBO is not finite at the starting q; give "
                               "init= values or warm_start=True")
    history = History()
    history.record(elbo=f, grad_norm=np.max(np.abs(g)), step_size=0.0, shift=0.0)
    converged, message, it = False, f"Newton: reached max_iter={max_iter}", 0
    for it in range(1, max_iter + 1):
        step, shift = _pd_solve(-h, -g)
        gain = float(g @ step)  # gᵀ(−H + τI)⁻¹g: twice the predicted ELBO gain
        final = gain / 2.0 <= tol * max(1.0, abs(f))
        alpha = 1.0
        for halving in range(max_halvings + 1):
            trial = lam + alpha * step
            with np.errstate(over="ignore", invalid="ignore"):
                new = elbo.meanfield(trial, 0 if final or halving else 2)
            if np.isfinite(new[0]) and new[0] >= f + 1e-4 * alpha * gain - 1e-12 * abs(f):
                break
            alpha *= 0.5
        else:
            if final:
                converged, message, it = True, "Newton: converged (predicted gain below tol)", \
                    it - 1
            else:
                message = f"Newton: line search failed at iteration {it}"
            break
        lam, f_prev = trial, f
        if final:
            f = new[0]
            history.record(elbo=f, grad_norm=np.nan, step_size=alpha, shift=shift)
            converged, message = True, "Newton: converged (predicted gain below tol)"
            break
        f, g, h = new if new[2] is not None else elbo.meanfield(lam, 2)
        history.record(elbo=f, grad_norm=np.max(np.abs(g)), step_size=alpha, shift=shift)
        scale = max(1.0, abs(f))
        if abs(f - f_prev) <= tol * scale and np.max(np.abs(g)) <= gtol * scale:
            converged, message = True, "Newton: converged (ELBO change and gradient below tol)"
            break
    return lam[:d], np.diag(np.exp(lam[d:])), f, history, converged, it, message


def _lbfgs_meanfield(elbo: QuadratureELBO, mode: np.ndarray, sd0: np.ndarray, max_iter: int,
                     tol: float, gtol: float):
    """L-BFGS in ``(a, b)`` with ``m = mode + sd0 a`` and ``log s = log sd0 + b``."""
    d, log_sd0 = elbo.size, np.log(sd0)

    def unpack(z: np.ndarray) -> np.ndarray:
        return np.concatenate([mode + sd0 * z[:d], log_sd0 + z[d:]])

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad, _ = elbo.meanfield(unpack(z), 1)
        return -value, -np.concatenate([sd0 * grad[:d], grad[d:]])

    z, final, history, converged, n_iter, message = _run_lbfgs(fun, np.zeros(2 * d), max_iter,
                                                               tol, gtol)
    lam = unpack(z)
    return lam[:d], np.diag(np.exp(lam[d:])), final, history, converged, n_iter, message


def _fixed_point_fullrank(elbo: QuadratureELBO, mean: np.ndarray, chol: np.ndarray,
                          max_iter: int, tol: float, gtol: float):
    """Iterate the full-rank stationarity conditions: a Newton step in the mean and
    ``C ← −½ G⁻¹`` (see :meth:`QuadratureELBO.fullrank`), exact in one step for a Gaussian
    likelihood. Stops converged when the ELBO changed by at most ``tol · max(1, |ELBO|)`` and
    the gradient in coordinates scaled by the current factor is at most
    ``gtol · max(1, |ELBO|)``. When a step would lower the ELBO or leave the positive-definite
    cone it returns ``(None, (mean, chol, history))`` at the last accepted ``q``, from where
    L-BFGS takes over."""
    history = History()
    with np.errstate(over="ignore", invalid="ignore"):
        f, g_mean, h_mean, g_cov = elbo.fullrank(mean, chol)
    f_prev = np.inf
    for it in range(max_iter + 1):
        g_chol = np.tril(2.0 * g_cov @ chol)
        g_z = _Packing(mean, chol, True).grad(np.zeros(2 * mean.size + mean.size * (
            mean.size - 1) // 2), g_mean, g_chol)
        gmax = float(np.max(np.abs(g_z)))
        history.record(elbo=f, grad_norm=gmax)
        scale = max(1.0, abs(f))
        if abs(f - f_prev) <= tol * scale and gmax <= gtol * scale:
            return (mean, chol, f, history, True, it,
                    "fixed point: converged (ELBO change and gradient below tol)")
        if it == max_iter:
            break
        try:
            step = linalg.cho_solve(linalg.cho_factor(-h_mean), g_mean)
            new_chol = linalg.cholesky(linalg.inv(-2.0 * g_cov), lower=True)
        except (linalg.LinAlgError, ValueError):
            return None, (mean, chol, history)
        new_mean = mean + step
        with np.errstate(over="ignore", invalid="ignore"):
            new = elbo.fullrank(new_mean, new_chol)
        if not (np.isfinite(new[0]) and new[0] >= f - 1e-12 * scale):
            return None, (mean, chol, history)
        f_prev, (f, g_mean, h_mean, g_cov) = f, new
        mean, chol = new_mean, new_chol
    return (mean, chol, f, history, False, max_iter,
            f"fixed point: reached max_iter={max_iter}")


def _fullrank(elbo: QuadratureELBO, mean: np.ndarray, chol: np.ndarray, optimizer: str,
              max_iter: int, tol: float, gtol: float):
    """The fixed point, continued by L-BFGS if it cannot make progress (or L-BFGS alone)."""
    prefix = History()
    if optimizer == "fixed-point":
        out = _fixed_point_fullrank(elbo, mean, chol, max_iter, tol, gtol)
        if out[0] is not None:
            return out
        mean, chol, prefix = out[1]
    fitted = _lbfgs_fullrank(elbo, _Packing(mean, chol, True), max_iter, tol, gtol)
    if not len(prefix):
        return fitted
    history = History()
    for row in prefix.rows() + fitted[3].rows()[1:]:
        history.record(**row)
    return (*fitted[:3], history, fitted[4], len(history) - 1,
            f"fixed point, then {fitted[6]}")


def _lbfgs_fullrank(elbo: QuadratureELBO, packing: _Packing, max_iter: int, tol: float,
                    gtol: float):
    d = elbo.size

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        mean, chol = packing.unpack(z)
        value, g_mean, g_chol = elbo.expected_log_joint(mean, chol, 1)
        entropy = 0.5 * d * (1.0 + _LOG_2PI) + float(np.sum(np.log(np.diag(chol))))
        return -(value + entropy), -packing.grad(z, g_mean, g_chol)

    z, final, history, converged, n_iter, message = _run_lbfgs(fun, packing.initial(1.0),
                                                               max_iter, tol, gtol)
    mean, chol = packing.unpack(z)
    return mean, chol, final, history, converged, n_iter, message


def _run_lbfgs(fun: Callable[[np.ndarray], tuple[float, np.ndarray]], z0: np.ndarray,
               max_iter: int, tol: float, gtol: float
               ) -> tuple[np.ndarray, float, History, bool, int, str]:
    """Minimise ``fun`` (``−ELBO`` and its gradient) with scipy's L-BFGS-B until the ELBO
    change and the gradient are both small; one history row per iteration."""
    last: dict[str, np.ndarray] = {}

    def safe(z: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            f, g = fun(z)
        if not (np.isfinite(f) and np.all(np.isfinite(g))):
            return np.inf, np.zeros_like(z)
        last["z"], last["g"] = z.copy(), g
        return f, g

    f0, g0 = safe(z0)
    if not np.isfinite(f0):
        raise ConvergenceError("quadrature VI: the ELBO is not finite at the starting q; give "
                               "init= values or warm_start=True")
    history = History()
    history.record(elbo=-f0, grad_norm=float(np.max(np.abs(g0), initial=0.0)))
    state = {"prev": f0, "done": False}

    def callback(intermediate_result: optimize.OptimizeResult) -> None:
        z, f = intermediate_result.x, float(intermediate_result.fun)
        g = last["g"] if np.array_equal(last.get("z"), z) else safe(z)[1]
        gmax = float(np.max(np.abs(g), initial=0.0))
        history.record(elbo=-f, grad_norm=gmax)
        change = abs(state["prev"] - f)
        state["prev"] = f
        scale = max(1.0, abs(f))
        if change <= tol * scale and gmax <= gtol * scale:
            state["done"] = True
            raise StopIteration

    res = optimize.minimize(safe, z0, jac=True, method="L-BFGS-B", callback=callback,
                            options={"maxiter": max_iter, "ftol": 0.0, "gtol": 0.0,
                                     "maxcor": 20, "maxls": 50})
    if state["done"]:
        message = "L-BFGS: converged (ELBO change and gradient below tol)"
    else:
        message = f"L-BFGS: stopped before the criteria were met ({res.message})"
    return res.x, -float(res.fun), history, bool(state["done"]), len(history) - 1, message
