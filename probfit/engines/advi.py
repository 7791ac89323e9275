"""Automatic differentiation variational inference (ADVI) on the unconstrained log joint.

``q(u) = N(μ, L Lᵀ)`` over the flat unconstrained vector, mean-field (``L`` diagonal) or
full-rank (``L`` lower triangular). The ELBO is

    ELBO(q) = E_q[log p(y, x(u)) + log |dx/du|] + H[q],      H[q] = ½ d log(2πe) + Σ log L_ii,

with the entropy in closed form and the expectation estimated with ``draws`` reparameterized
draws ``u = μ + L ε``; its gradients are ``E[∇ log p]`` (μ), ``tril(E[∇ log p εᵀ]) + diag(1/L)``
(L). The diagonal of ``L`` is stored on the log scale, so it stays positive. The objective is
:class:`~probfit.compile.objective.Objective` with method ``"vi"`` (minus the log joint,
Jacobian included), evaluated on a random minibatch when ``batch_size`` is given, with the
likelihood scaled by ``n / batch``.

Ascent uses Adam (bias-corrected, ``eps`` outside the square root) with the step-size schedule
``lr / sqrt(1 + t / decay)``. The smoothed ELBO is the ELBO of the window-averaged
parameters evaluated on a fixed set of antithetic draws (common random numbers), so its change
between windows reflects the change of ``q``, not Monte Carlo noise; the fit has converged when
it changes by less than ``tol · max(1, |ELBO|)`` between consecutive windows of ``window``
iterations. A final polishing window at a tenth of the step size follows, and the returned
``q`` is the average of its iterates (Polyak–Ruppert averaging), which removes most of the
step-size noise. A non-finite ELBO or
gradient rolls back to the last good iterate, resets Adam and halves the step size.

By default (``warm_start=True``) ``q`` starts at the Laplace approximation: the mode of the
log joint (found by L-BFGS) with the inverse Hessian as covariance (its diagonal precision for
mean-field), so most of the work is already done when the stochastic phase starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from probfit.compile.objective import Objective
from probfit.engines.base import EngineResult, History
from probfit.engines.qfamilies import GaussianQ
from probfit.errors import ConvergenceError, EngineError

__all__ = ["VIResult", "advi"]

FAMILIES = ("meanfield", "fullrank")

#: Consecutive rollbacks after which ADVI gives up.
MAX_ROLLBACKS = 20


@dataclass
class VIResult(EngineResult):
    """An engine result that also carries the variational posterior ``q``."""

    q: GaussianQ | None = None
    family: str = ""


class _Adam:
    """Adam for ascent (private until the shared optimisers land; see probfit/optim)."""

    def __init__(self, size: int, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8) -> None:
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.reset(size)

    def reset(self, size: int) -> None:
        self.m, self.v, self.t = np.zeros(size), np.zeros(size), 0

    def step(self, grad: np.ndarray, lr: float) -> np.ndarray:
        """The update to *add* to the parameters for ascent along ``grad``."""
        self.t += 1
        self.m = self.beta1 * self.m + (1.0 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1.0 - self.beta2) * grad * grad
        m_hat = self.m / (1.0 - self.beta1**self.t)
        v_hat = self.v / (1.0 - self.beta2**self.t)
        return lr * m_hat / (np.sqrt(v_hat) + self.eps)


class _Packing:
    """The variational parameters as one flat vector, preconditioned by a reference ``q₀``.

    ``μ = μ₀ + C₀ a`` and ``L = C₀ B`` with ``B`` lower triangular (diagonal for mean-field),
    stored as ``(a, log diag B, strict lower B)``. With ``C₀`` the Laplace factor, Adam's step
    size is measured in posterior standard deviations, whatever the scale of the data.
    """

    def __init__(self, mu0: np.ndarray, c0: np.ndarray, fullrank: bool) -> None:
        self.mu0, self.c0 = mu0, c0
        self.d, self.fullrank = mu0.size, fullrank
        self.rows, self.cols = (np.tril_indices(self.d, -1) if fullrank
                                else (np.empty(0, int),) * 2)
        self.size = 2 * self.d + self.rows.size

    def initial(self, b0: float) -> np.ndarray:
        return np.concatenate([np.zeros(self.d), np.full(self.d, np.log(b0)),
                               np.zeros(self.rows.size)])

    def unpack(self, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = self.d
        b = np.diag(np.exp(lam[d:2 * d]))
        b[self.rows, self.cols] = lam[2 * d:]
        return self.mu0 + self.c0 @ lam[:d], self.c0 @ b

    def grad(self, lam: np.ndarray, g_mu: np.ndarray, g_chol: np.ndarray) -> np.ndarray:
        """Chain rule from ``(∂/∂μ, ∂/∂L of the expected log joint)`` to ``lam``; the entropy
        ``Σ log L_ii = Σ log C₀_ii + Σ log B_ii`` adds 1 to each log-diagonal entry."""
        d = self.d
        g_b = self.c0.T @ g_chol
        diag = np.exp(lam[d:2 * d])
        return np.concatenate([self.c0.T @ g_mu, np.diag(g_b) * diag + 1.0,
                               g_b[self.rows, self.cols]])


def advi(objective: Objective, theta0: np.ndarray, *, family: str = "meanfield",
         draws: int = 2, antithetic: bool = True, lr: float = 0.05, decay: float = 1000.0,
         max_iter: int = 20000, window: int = 100, tol: float = 1e-3, eval_draws: int = 32,
         batch_size: int | None = None, warm_start: bool = True, init_scale: float = 0.1,
         seed: int | None = 0, monitor: Callable | None = None) -> VIResult:
    """Fit a Gaussian ``q`` to the posterior of ``objective`` (method ``"vi"``) by ADVI.

    Parameters
    ----------
    objective
        A ``method="vi"`` objective.
    theta0
        Starting point (unconstrained).
    family
        ``"meanfield"`` (diagonal covariance) or ``"fullrank"`` (Cholesky factor).
    draws
        Reparameterized draws per gradient step.
    antithetic
        Draw ``ε`` in pairs ``(ε, −ε)`` (the odd one out stays plain): for a quadratic log joint
        the mean gradient is then exact, and in general much less noisy.
    lr, decay
        Adam step size and its schedule ``lr / sqrt(1 + t / decay)``.
    max_iter
        Maximum number of gradient steps.
    window
        Iterations per ELBO smoothing window (convergence is checked once per window).
    tol
        Relative change of the smoothed ELBO that counts as converged.
    eval_draws
        Fixed draws (common random numbers) for the smoothed ELBO of each window.
    batch_size
        Rows per minibatch (``None``: all rows).
    warm_start
        Start at the Laplace approximation (mode and inverse Hessian) instead of
        ``N(theta0, init_scale² I)``.
    init_scale
        Initial standard deviation when not warm-starting (or when the Hessian at the mode is
        not positive definite).
    seed
        Seed of the random draws and minibatches (fits are reproducible).
    monitor
        Unused (accepted for the engine protocol).

    Returns
    -------
    VIResult
        ``theta`` is the mean of ``q``; ``q`` the fitted family; ``history`` holds the
        per-iteration ELBO estimate (column ``"elbo"``) and the step size.
    """
    if objective.method != "vi":
        raise EngineError(f"advi needs a method='vi' objective, got method={objective.method!r}")
    if family not in FAMILIES:
        raise EngineError(f"family must be one of {FAMILIES}, got {family!r}")
    for name, value, low in (("draws", draws, 1), ("window", window, 2), ("max_iter", max_iter, 1),
                             ("eval_draws", eval_draws, 2)):
        if not isinstance(value, (int, np.integer)) or value < low:
            raise EngineError(f"{name} must be an integer >= {low}, got {value!r}")
    if not lr > 0 or not decay > 0 or not tol > 0 or not init_scale > 0:
        raise EngineError("lr, decay, tol and init_scale must be positive")
    n = objective.n_obs
    if batch_size is not None:
        if not isinstance(batch_size, (int, np.integer)) or not 1 <= batch_size <= n:
            raise EngineError(f"batch_size must be an integer in [1, {n}], got {batch_size!r}")
        objective.minibatch(np.arange(1))  # raises DataError for per-row parameters
    rng = np.random.default_rng(seed)
    d = objective.size
    fullrank = family == "fullrank"
    mu0, c0, b0 = _initial_q(objective, theta0, fullrank, warm_start, init_scale)
    packing = _Packing(mu0, c0, fullrank)
    lam = packing.initial(b0)
    adam = _Adam(lam.size)
    history = History()
    fixed_eps = rng.standard_normal((eval_draws, d))
    fixed_eps[1::2] = -fixed_eps[0::2][: eval_draws // 2]
    window_lams: list[np.ndarray] = []
    good = lam.copy()
    rate, rollbacks, converged, message = 1.0, 0, False, ""
    prev = smoothed = None
    it = steps = 0
    for it in range(1, max_iter + 1):
        step_lr = rate * lr / np.sqrt(1.0 + it / decay)
        elbo, grad = _elbo_grad(objective, packing, lam, rng, draws, batch_size, n,
                                 antithetic)
        if not (np.isfinite(elbo) and np.all(np.isfinite(grad))):
            rollbacks += 1
            history.record(elbo=np.nan, lr=step_lr, rollback=1)
            if rollbacks > MAX_ROLLBACKS:
                raise ConvergenceError(
                    f"ADVI: the ELBO or its gradient stayed non-finite after {MAX_ROLLBACKS} "
                    "rollbacks with halved step sizes; check priors and starting values",
                    history)
            lam, rate = good.copy(), rate * 0.5
            adam.reset(lam.size)
            continue
        good = lam.copy()
        rollbacks = 0
        steps += 1
        lam = lam + adam.step(grad, step_lr)
        window_lams.append(lam)
        row = {"elbo": elbo, "lr": step_lr, "rollback": 0}
        if steps % window == 0:
            smoothed = _fixed_elbo(objective, packing, np.mean(window_lams, axis=0), fixed_eps)
            row["elbo_smoothed"] = smoothed
            if prev is not None and np.isfinite(smoothed):
                change = abs(smoothed - prev)
                if change <= tol * max(1.0, abs(smoothed)):
                    converged = True
                    message = (f"smoothed ELBO changed by {change:.3g} between windows of "
                               f"{window} iterations (tol {tol:g} relative)")
            prev = smoothed
        history.record(**row)
        if converged:
            break
        if steps % window == 0 and it < max_iter:
            window_lams = []
    if not converged:
        message = f"reached max_iter={max_iter} before the smoothed ELBO settled"
    avg = _polish(objective, packing, np.mean(window_lams, axis=0) if window_lams else lam,
                  adam, rng, draws, batch_size, n, antithetic, window, 0.1 * step_lr, history)
    mu, chol = packing.unpack(avg)
    q = GaussianQ(mu, chol, objective.layout)
    final = _fixed_elbo(objective, packing, avg, fixed_eps)
    return VIResult(theta=mu.copy(), objective=-final, converged=converged, n_iter=it,
                    message=message, engine="advi", history=history, q=q, family=family)


def _polish(objective: Objective, packing: _Packing, lam: np.ndarray, adam: _Adam,
            rng: np.random.Generator, draws: int, batch_size: int | None, n: int,
            antithetic: bool, window: int, lr: float, history: History) -> np.ndarray:
    """One more window at a tenth of the step size, started from the averaged iterate; the
    average of its iterates is the returned ``q`` (non-finite steps are skipped)."""
    kept = []
    for _ in range(window):
        elbo, grad = _elbo_grad(objective, packing, lam, rng, draws, batch_size, n, antithetic)
        if not (np.isfinite(elbo) and np.all(np.isfinite(grad))):
            history.record(elbo=np.nan, lr=lr, rollback=1)
            continue
        history.record(elbo=elbo, lr=lr, rollback=0)
        lam = lam + adam.step(grad, lr)
        kept.append(lam)
    return np.mean(kept, axis=0) if kept else lam


def _initial_q(objective: Objective, theta0: np.ndarray, fullrank: bool, warm_start: bool,
               init_scale: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Reference mean, reference factor ``C₀`` and the initial ``B = b₀ I``."""
    d = objective.size
    theta0 = np.asarray(theta0, dtype=float)
    if not warm_start:
        return theta0, np.eye(d), init_scale
    from probfit.engines.lbfgs import lbfgs

    mode = lbfgs(objective, theta0).theta
    if not np.all(np.isfinite(mode)):
        return theta0, np.eye(d), init_scale
    h = objective.hess(mode)
    if fullrank:
        try:
            chol_h = linalg.cholesky(h, lower=True)
        except linalg.LinAlgError:
            return mode, np.eye(d), init_scale
        # cov = H⁻¹ = (C Cᵀ)⁻¹; its lower Cholesky factor from the inverse of C
        inv_c = linalg.solve_triangular(chol_h, np.eye(d), lower=True)
        cov = inv_c.T @ inv_c
        return mode, linalg.cholesky(0.5 * (cov + cov.T), lower=True), 1.0
    diag = np.diag(h)
    sd = np.where(diag > 0, 1.0 / np.sqrt(np.where(diag > 0, diag, 1.0)), init_scale)
    return mode, np.diag(sd), 1.0


def _fixed_elbo(objective: Objective, packing: _Packing, lam: np.ndarray,
                eps: np.ndarray) -> float:
    """The ELBO of ``q(lam)`` on fixed draws ``eps`` (all rows of the data)."""
    mu, chol = packing.unpack(lam)
    with np.errstate(all="ignore"):
        logp = -np.mean([objective.value(mu + chol @ e) for e in eps])
    d = packing.d
    return float(logp + 0.5 * d * (1.0 + np.log(2.0 * np.pi)) + np.sum(np.log(np.diag(chol))))


def _elbo_grad(objective: Objective, packing: _Packing, lam: np.ndarray,
               rng: np.random.Generator, draws: int, batch_size: int | None, n: int,
               antithetic: bool) -> tuple[float, np.ndarray]:
    """A reparameterized estimate of the ELBO and of its gradient in ``lam``."""
    d = packing.d
    mu, chol = packing.unpack(lam)
    data, scale = None, 1.0
    if batch_size is not None and batch_size < n:
        data = objective.minibatch(rng.choice(n, size=batch_size, replace=False))
        scale = n / batch_size
    eps = rng.standard_normal((draws, d))
    if antithetic:
        eps[1::2] = -eps[0::2][: draws // 2]
    logp, g_mu, g_outer = 0.0, np.zeros(d), np.zeros((d, d)) if packing.fullrank else np.zeros(d)
    for e in eps:
        val, grad, _ = objective.evaluate(mu + chol @ e, 1, data=data, obs_scale=scale)
        logp -= val
        g = -grad
        g_mu += g
        g_outer += np.outer(g, e) if packing.fullrank else g * e
    logp, g_mu, g_outer = logp / draws, g_mu / draws, g_outer / draws
    entropy = 0.5 * d * (1.0 + np.log(2.0 * np.pi)) + float(np.sum(np.log(np.diag(chol))))
    g_chol = np.tril(g_outer) if packing.fullrank else np.diag(g_outer)
    return logp + entropy, packing.grad(lam, g_mu, g_chol)
