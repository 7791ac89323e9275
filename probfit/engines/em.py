"""Expectation-maximisation for models with a discrete latent variable.

E-step: exact responsibilities ``r_nj = p(z_n = j | x_n, θ)`` in log space (log-sum-exp per
row). M-step: closed form for the component families :mod:`probfit.latent.mstep` recognises,
then a few damped Newton steps (backtracking until ``Q`` improves) on the expected complete-data
log density for every other parameter — a generalized / ECM step, so each iteration still
cannot decrease the objective. The objective is the observed-data log-likelihood, plus the log
prior under MAP, minus the explicit covariance-regularization penalty; it is recorded every
iteration and a decrease beyond ``1e-10`` relative raises :class:`ConvergenceError`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import linalg

from probfit.compile.start import initial_theta
from probfit.engines.base import EngineResult, History
from probfit.errors import ConvergenceError, ConvergenceWarning, SpecError
from probfit.latent.kmeans import kmeans
from probfit.latent.mstep import Block, find_blocks
from probfit.latent.problem import LatentProblem

__all__ = ["EMResult", "em", "kmeans_start"]

#: Relative decrease of the EM objective that counts as a bug.
MONOTONE_TOL = 1e-10


@dataclass
class EMResult(EngineResult):
    """What :func:`em` returns: the best restart plus EM's own records."""

    responsibilities: np.ndarray | None = None
    loglik: float = np.nan
    log_prior: float = 0.0
    penalty: float = 0.0
    n_free: int = 0
    restarts: list[dict[str, Any]] = field(default_factory=list)
    collapsed: list[str] = field(default_factory=list)
    covariance: str = "full"
    reg_covar: float = 0.0
    closed_form: tuple[str, ...] = ()
    generalized: tuple[str, ...] = ()


class _Run:
    """One EM run's machinery (shared by the restarts)."""

    def __init__(self, problem: LatentProblem, blocks: list[Block], generic: list[str],
                 newton_steps: int) -> None:
        self.p = problem
        self.blocks = blocks
        self.generic = generic
        layout = problem.objective.layout
        self.closed = tuple(q for b in blocks for q in b.params)
        self.free = np.array([i for s in layout if s.name not in self.closed
                              for i in range(s.start, s.stop)], dtype=np.intp)
        self.newton_steps = newton_steps

    # ---------------------------------------------------------------- pieces
    def joint(self, theta: np.ndarray) -> np.ndarray:
        if self.generic or not all(b.fast for b in self.blocks):
            return self.p.joint(theta)
        values = self.p.objective.unpack(theta)
        out = np.zeros((self.p.n, self.p.k))
        for b in self.blocks:
            out = out + b.logdens(values, self.p.k)
        return out

    def penalty(self, theta: np.ndarray) -> float:
        values = self.p.objective.unpack(theta)
        return float(sum(b.penalty(values) for b in self.blocks))

    def mstep(self, theta: np.ndarray, resp: np.ndarray) -> np.ndarray:
        theta = theta.copy()
        layout = self.p.objective.layout
        if self.blocks:
            values = self.p.objective.unpack(theta)
            nk = resp.sum(axis=0)
            for b in self.blocks:
                new = b.update(values, resp, nk, self.p.method)
                values.update(new)
                for name, v in new.items():
                    slot = layout[name]
                    theta[slot.slice] = slot.bijector.inverse(np.broadcast_to(v, slot.shape))
        if self.free.size:
            theta = self._newton(theta, resp)
        return theta

    def _newton(self, theta: np.ndarray, resp: np.ndarray) -> np.ndarray:
        free = self.free
        for _ in range(self.newton_steps):
            q, g, h = self.p.q_evaluate(theta, resp, 2)
            gf, hf = g[free], h[np.ix_(free, free)]
            if not np.all(np.isfinite(gf)) or np.linalg.norm(gf) <= 1e-12 * max(1.0, abs(q)):
                break
            step = _damped_solve(hf, gf)
            slope = float(gf @ step)
            t = 1.0
            while t > 1e-10:
                cand = theta.copy()
                cand[free] -= t * step
                qc = self.p.q_evaluate(cand, resp, 0)[0]
                if np.isfinite(qc) and qc <= q - 1e-4 * t * slope:
                    theta = cand
                    break
                t *= 0.5
            else:
                break
        return theta

    def objective(self, theta: np.ndarray) -> tuple[float, float, float, float, np.ndarray]:
        """``(F, loglik, log_prior, penalty, log-responsibilities)`` at ``theta``."""
        j = self.joint(theta)
        lse = _logsumexp_rows(j)
        ll = float(np.sum(lse))
        lp = self.p.log_prior(theta)
        pen = self.penalty(theta)
        return ll + lp - pen, ll, lp, pen, j - lse[:, None]


def _logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """Row-wise ``log Σ_j exp(a_nj)``, shifted by the row maximum."""
    top = np.max(a, axis=1)
    top = np.where(np.isfinite(top), top, 0.0)
    return top + np.log(np.sum(np.exp(a - top[:, None]), axis=1))


def _damped_solve(h: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``(H + λI)⁻¹ g`` with the smallest ``λ ≥ 0`` (from a ladder) that makes it PD."""
    scale = max(float(np.max(np.abs(np.diag(h)))), 1e-12)
    lam = 0.0
    eye = np.eye(len(g))
    for _ in range(40):
        try:
            c = linalg.cho_factor(h + lam * eye)
            return linalg.cho_solve(c, g)
        except linalg.LinAlgError:
            lam = 1e-8 * scale if lam == 0.0 else lam * 10.0
    return g / scale


def _features(problem: LatentProblem) -> np.ndarray:
    f = next(f for f in problem.objective.obs_factors() if f.name != problem.latent)
    x = problem.objective.data[f.name]
    return np.asarray(x, dtype=float).reshape(problem.n, -1)


def _one_run(run: _Run, theta: np.ndarray, max_iter: int, tol: float,
             monitor: Callable | None, label: str) -> tuple:
    """One EM run from ``theta``: final point, objective, parts, history, status, resp."""
    history = History()
    f_old, ll, lp, pen, log_r = run.objective(theta)
    if not np.isfinite(f_old):
        raise ConvergenceError(f"EM {label}: the starting objective is not finite")
    history.record(objective=-f_old, loglik=ll, log_prior=lp, penalty=pen)
    converged, message = False, f"reached max_iter={max_iter}"
    it = 0
    for it in range(1, max_iter + 1):
        theta = run.mstep(theta, np.exp(log_r))
        f_new, ll, lp, pen, log_r = run.objective(theta)
        history.record(objective=-f_new, loglik=ll, log_prior=lp, penalty=pen)
        if not np.isfinite(f_new):
            raise ConvergenceError(f"EM {label}: the objective became {f_new} at iteration "
                                   f"{it}; a component has collapsed (raise reg_covar)")
        if f_new < f_old - MONOTONE_TOL * max(1.0, abs(f_old)):
            raise ConvergenceError(
                f"EM {label}: the objective decreased at iteration {it} from {f_old!r} to "
                f"{f_new!r} (relative {(f_old - f_new) / max(1.0, abs(f_old)):.3e}); EM "
                "never decreases it, so this is a bug")
        if monitor is not None:
            stop = monitor(theta, it)
            if stop:
                message = stop
                break
        if abs(f_new - f_old) <= tol * max(1.0, abs(f_new)):
            converged, message = True, (f"converged: relative change of the objective "
                                        f"{abs(f_new - f_old) / max(1.0, abs(f_new)):.2e} "
                                        f"<= tol={tol:g}")
            f_old = f_new
            break
        f_old = f_new
    return theta, f_old, (ll, lp, pen), history, it, converged, message, np.exp(log_r)


def kmeans_start(problem: LatentProblem, seed: int | None = None) -> np.ndarray:
    """A starting point from a k-means++ partition followed by one M-step (for any engine)."""
    blocks, generic = find_blocks(problem)
    run = _Run(problem, blocks, generic, newton_steps=5)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    labels = kmeans(_features(problem), problem.k, rng)
    return run.mstep(initial_theta(problem.objective), np.eye(problem.k)[labels])


def em(problem: LatentProblem, theta0: np.ndarray | None = None,
       monitor: Callable[[np.ndarray, int], str | None] | None = None, *,
       n_init: int = 1, seed: int | None = None, max_iter: int = 1000, tol: float = 1e-10,
       covariance: str = "full", reg_covar: float = 1e-6, newton_steps: int = 5) -> EMResult:
    """Fit a latent-variable model by EM (MLE or MAP-EM).

    Parameters
    ----------
    problem
        The model and data, with the latent enumerated.
    theta0
        Start from this flat vector (one run, no k-means); ``None`` starts each of the
        ``n_init`` runs from a k-means++ partition of the first observed variable.
    monitor
        Called as ``monitor(theta, iteration)``; a returned message stops the run.
    n_init
        Restarts; the run with the best objective is kept.
    seed
        Seed of the k-means++ initialisations (reproducible runs).
    max_iter, tol
        Stop after ``max_iter`` iterations or when the objective changes by at most
        ``tol·max(1, |objective|)``.
    covariance
        ``"full"``, ``"diag"``, ``"spherical"`` or ``"tied"`` for MultivariateNormal
        components (Normal components follow the declared scale's shape).
    reg_covar
        Covariance regularization: the penalty ``½·reg_covar·Σ tr(Σ_k⁻¹)``, giving
        ``Σ_k = (S_k + reg_covar·I) / N_k``. 0 disables it.
    newton_steps
        Newton steps per generalized M-step for parameters without a closed form.

    Returns
    -------
    EMResult
    """
    if not isinstance(problem, LatentProblem):
        raise SpecError("engine 'em' fits models with a latent variable (Model.latent)")
    if not isinstance(n_init, (int, np.integer)) or n_init < 1:
        raise SpecError(f"n_init must be a positive integer, got {n_init!r}")
    if not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise SpecError(f"max_iter must be a positive integer, got {max_iter!r}")
    if not (isinstance(tol, (int, float)) and tol >= 0.0):
        raise SpecError(f"tol must be a number >= 0, got {tol!r}")
    blocks, generic = find_blocks(problem, covariance, reg_covar)
    run = _Run(problem, blocks, generic, newton_steps)
    base = initial_theta(problem.objective) if theta0 is None else np.asarray(theta0, float)
    starts: list[tuple[str, np.ndarray]] = []
    if theta0 is not None:
        starts.append(("from init", base))
    else:
        x = _features(problem)
        for i, child in enumerate(np.random.SeedSequence(seed).spawn(n_init)):
            labels = kmeans(x, problem.k, np.random.default_rng(child))
            resp = np.eye(problem.k)[labels]
            starts.append((f"restart {i}", run.mstep(base, resp)))
    best = None
    restarts = []
    for label, theta in starts:
        out = _one_run(run, theta, max_iter, tol, monitor, label)
        restarts.append({"start": label, "objective": -out[1], "loglik": out[2][0],
                         "n_iter": out[4], "converged": out[5]})
        if best is None or out[1] > best[1]:
            best = out
    theta, f_best, (ll, lp, pen), history, n_iter, converged, message, resp = best
    values = problem.objective.unpack(theta)
    collapsed = _collapsed(problem, blocks, values, resp)
    if collapsed:
        warnings.warn("EM: " + "; ".join(collapsed), ConvergenceWarning, stacklevel=4)
    n_free = sum(b.n_free(values, problem.k) for b in blocks)
    n_free += sum(s.size for s in problem.objective.layout if s.name not in run.closed)
    return EMResult(theta=theta, objective=-f_best, converged=converged, n_iter=n_iter,
                    message=message, engine="em", history=history, responsibilities=resp,
                    loglik=ll, log_prior=lp, penalty=pen, n_free=int(n_free),
                    restarts=restarts, collapsed=collapsed,
                    covariance=covariance, reg_covar=float(reg_covar),
                    closed_form=run.closed,
                    generalized=tuple(s.name for s in problem.objective.layout
                                      if s.name not in run.closed))


def _collapsed(problem: LatentProblem, blocks: list[Block], values: dict[str, np.ndarray],
               resp: np.ndarray) -> list[str]:
    """Messages naming empty or collapsing components."""
    nk = resp.sum(axis=0)
    comp_blocks = [b for b in blocks if b.family != "latent"]
    out = []
    spread = {id(b): float(np.mean(np.var(b.x, axis=0))) or 1.0 for b in comp_blocks}
    for j in range(problem.k):
        names = ", ".join(b.describe_component(j) for b in comp_blocks) or f"{problem.latent}={j}"
        where = f"component {j} of latent {problem.latent!r} ({names})"
        if nk[j] < 1.0:
            out.append(f"{where} is empty: N_k = {nk[j]:.3g} rows")
            continue
        for b in comp_blocks:
            if b.family == "mvn":
                cov = values[b.args["cov"]]
                cj = cov[j] if b.extra["cov_indexed"] else cov
                d = cj.shape[-1]
                scale = spread[id(b)]
                ev = float(np.linalg.eigvalsh(cj)[0])
                if ev <= 1e-8 * scale or (b.covariance == "full" and b.extra["cov_indexed"]
                                         and nk[j] < d + 1):
                    out.append(f"{where} is collapsing: N_k = {nk[j]:.3g} rows, smallest "
                               f"covariance eigenvalue {ev:.3g}")
            elif b.family == "normal" and b.args["scale"] is not None:
                s = values[b.args["scale"]]
                sj = s[j] if b.extra["scale_indexed"] else s
                if np.min(sj) ** 2 <= 1e-8 * spread[id(b)]:
                    out.append(f"{where} is collapsing: N_k = {nk[j]:.3g} rows, scale "
                               f"{float(np.min(sj)):.3g}")
    return out
