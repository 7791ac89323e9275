"""Coordinate-ascent variational inference (CAVI) with updates derived from the declaration.

:func:`~probfit.compile.conjugacy.recognise` maps the model onto conjugate factors
``q = q(w) Π q(τ) Π q(p) Π q(π)``; this module iterates their closed-form updates:

* Gaussian block ``q(w) = N(m, S)``: ``S⁻¹ = P₀ + Σ Aᵀ diag(E[τ]) A + 2 Σ Aᵀ diag(N λ(ξ)) A``,
  ``S⁻¹ m = P₀ m₀ + Σ Aᵀ E[τ](y − c) + Σ Aᵀ((y − N/2) − 2 N λ(ξ) c)``;
* Gamma precisions ``q(τ)``: ``a = a₀ + ½ n_j``, ``b = b₀ + ½ Σ E[(y − c − Aw)²]``; Gamma
  rates of Poisson counts: ``a = a₀ + Σ y``, ``b = b₀ + n_j``;
* Beta: ``a = a₀ + successes``, ``b = b₀ + failures``; Dirichlet: ``α = α₀ + counts``;
* logistic likelihoods use the Jaakkola–Jordan bound
  ``log σ(s) ≥ log σ(ξ) + (s − ξ)/2 − λ(ξ)(s² − ξ²)``, ``λ(ξ) = tanh(ξ/2)/(4ξ)``, with the
  optimal ``ξ² = E[η²]`` each sweep (the reported ELBO is then a lower bound on the ELBO).

The exact ELBO is evaluated after every sweep; each update maximises it in one factor, so it
cannot decrease — a decrease beyond ``1e-10`` relative raises
:class:`~probfit.errors.ConvergenceError` (it would mean a wrong update). Iteration stops when
the ELBO changes by less than ``tol · max(1, |ELBO|)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import linalg, special

from probfit.compile.conjugacy import ConjugatePlan, recognise
from probfit.compile.objective import Objective
from probfit.engines.advi import VIResult
from probfit.engines.base import History
from probfit.engines.qfamilies import (
    BetaFactor,
    DirichletFactor,
    FactorQ,
    GammaFactor,
    GaussianBlock,
)
from probfit.errors import ConvergenceError, EngineError
from probfit.numerics import log_sigmoid

__all__ = ["cavi", "cavi_refusal"]

#: Relative ELBO decrease tolerated as round-off.
MONOTONE_RTOL = 1e-10

_LOG_2PI = np.log(2.0 * np.pi)


def cavi_refusal(objective: Objective) -> str | None:
    """Why CAVI cannot fit ``objective`` (``None`` if its structure is conjugate)."""
    try:
        recognise(objective)
    except EngineError as err:
        return str(err)
    return None


def cavi(objective: Objective, theta0: np.ndarray, *, max_iter: int = 500, tol: float = 1e-12,
         monitor: Callable | None = None) -> VIResult:
    """Fit a conjugate mean-field ``q`` by coordinate ascent.

    Parameters
    ----------
    objective
        A ``method="vi"`` objective whose structure :func:`recognise` accepts.
    theta0
        Unused: CAVI starts from the priors (accepted for the engine protocol).
    max_iter
        Maximum number of sweeps over the factors.
    tol
        Relative ELBO change that counts as converged.
    monitor
        Unused (accepted for the engine protocol).

    Returns
    -------
    VIResult
        ``q`` is a :class:`~probfit.engines.qfamilies.FactorQ`; ``objective`` is minus the
        final ELBO; ``history`` holds the ELBO per sweep (column ``"elbo"``).
    """
    if objective.method != "vi":
        raise EngineError(f"cavi needs a method='vi' objective, got method={objective.method!r}")
    if not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise EngineError(f"max_iter must be a positive integer, got {max_iter!r}")
    if not tol > 0:
        raise EngineError(f"tol must be positive, got {tol!r}")
    state = _State(recognise(objective))
    elbo, converged, it, history, message = run_sweeps(state, max_iter, tol)
    q = state.q(objective)
    theta = objective.layout.pack({n: m for n, (m, _) in q.moments().items()})
    return VIResult(theta=theta, objective=-elbo, converged=converged, n_iter=it,
                    message=message, engine="cavi", history=history, q=q, family="conjugate")


def run_sweeps(state, max_iter: int, tol: float) -> tuple[float, bool, int, History, str]:
    """Coordinate-ascent sweeps of ``state`` (``sweep()``, ``elbo()``) until the ELBO settles.

    Returns the final ELBO, whether it converged, the number of sweeps, the ELBO history and a
    message. Raises :class:`ConvergenceError` if the exact ELBO decreases by more than
    ``MONOTONE_RTOL`` relative: coordinate ascent never does, so that is a bug.
    """
    history = History()
    elbo_prev = elbo = -np.inf
    converged, it = False, 0
    for it in range(1, max_iter + 1):
        state.sweep()
        elbo = state.elbo()
        history.record(elbo=elbo)
        if elbo < elbo_prev - MONOTONE_RTOL * max(1.0, abs(elbo_prev)):
            raise ConvergenceError(f"CAVI: the ELBO decreased from {elbo_prev!r} to {elbo!r} "
                                   f"at sweep {it}", history)
        if abs(elbo - elbo_prev) <= tol * max(1.0, abs(elbo)):
            converged = True
            break
        elbo_prev = elbo
    message = (f"ELBO changed by less than {tol:g} (relative) after {it} sweeps" if converged
               else f"reached max_iter={max_iter} sweeps before the ELBO settled")
    return elbo, converged, it, history, message


class _State:
    """The variational parameters of every factor, their updates and the exact ELBO."""

    def __init__(self, plan: ConjugatePlan) -> None:
        self.plan = plan
        p = plan
        self.m, self.S = p.block_m0.copy(), np.diag(1.0 / p.block_p0) if p.block else None
        self.gamma = {k: (a.copy(), b.copy()) for k, (a, b) in p.gamma.items()}
        self.beta = {k: (a.copy(), b.copy()) for k, (a, b) in p.beta.items()}
        self.dirichlet = {k: a.copy() for k, a in p.dirichlet.items()}
        self.xi = {id(t): np.zeros(t.y.size) for t in p.block_terms if t.kind == "logit"}

    # ---------------------------------------------------------------- expectations
    def _tau(self, t) -> tuple[np.ndarray, np.ndarray]:
        """``E[τ]`` and ``E[log τ]`` per row of a Normal term."""
        if t.gamma is None:
            return t.prec, np.log(t.prec)
        a, b = self.gamma[t.gamma[0]]
        a, b = a.reshape(-1)[t.gamma[1]], b.reshape(-1)[t.gamma[1]]
        return a / b, special.digamma(a) - np.log(b)

    def _eta_moments(self, t) -> tuple[np.ndarray, np.ndarray]:
        """``E[η]`` and ``E[η²]`` per row, ``η = A w + c``."""
        mean = t.A @ self.m + t.c if self.m.size else t.c
        var = np.sum((t.A @ self.S) * t.A, axis=1) if self.m.size else 0.0 * t.c
        return mean, mean * mean + var

    # ---------------------------------------------------------------- updates
    def sweep(self) -> None:
        p = self.plan
        for t in p.block_terms:
            if t.kind == "logit":
                self.xi[id(t)] = np.sqrt(self._eta_moments(t)[1])
        if p.block:
            prec = np.diag(p.block_p0)
            lin = p.block_p0 * p.block_m0
            for t in p.block_terms:
                if t.kind == "normal":
                    w = self._tau(t)[0]
                    lin = lin + t.A.T @ (w * (t.y - t.c))
                else:
                    w = 2.0 * t.trials * _lam(self.xi[id(t)])
                    lin = lin + t.A.T @ ((t.y - 0.5 * t.trials) - w * t.c)
                prec = prec + t.A.T @ (w[:, None] * t.A)
            chol = linalg.cholesky(prec, lower=True)
            self.m = linalg.cho_solve((chol, True), lin)
            inv_c = linalg.solve_triangular(chol, np.eye(prec.shape[0]), lower=True)
            self.S = inv_c.T @ inv_c
        self.gamma = {k: (a.copy(), b.copy()) for k, (a, b) in p.gamma.items()}
        self.beta = {k: (a.copy(), b.copy()) for k, (a, b) in p.beta.items()}
        self.dirichlet = {k: a.copy() for k, a in p.dirichlet.items()}
        for t in p.block_terms:
            if t.gamma is not None:
                name, idx = t.gamma
                mean, second = self._eta_moments(t)
                resid2 = t.y * t.y - 2.0 * t.y * mean + second
                a, b = self.gamma[name]
                size = a.size
                a += np.bincount(idx, np.full(idx.size, 0.5), size).reshape(a.shape)
                b += np.bincount(idx, 0.5 * resid2, size).reshape(b.shape)
        for t in p.count_terms:
            if t.param in self.dirichlet:
                self.dirichlet[t.param] = self.dirichlet[t.param] + t.stat_a
                continue
            a, b = self.beta[t.param] if t.param in self.beta else self.gamma[t.param]
            a += np.bincount(t.idx, t.stat_a, a.size).reshape(a.shape)
            b += np.bincount(t.idx, t.stat_b, b.size).reshape(b.shape)

    # ---------------------------------------------------------------- ELBO
    def elbo(self) -> float:
        p = self.plan
        total = 0.0
        if p.block:
            d = np.diag(self.S)
            total += float(np.sum(0.5 * np.log(p.block_p0) - 0.5 * _LOG_2PI
                                  - 0.5 * p.block_p0 * ((self.m - p.block_m0) ** 2 + d)))
            _, logdet = np.linalg.slogdet(self.S)
            total += 0.5 * self.m.size * (1.0 + _LOG_2PI) + 0.5 * logdet
        for t in p.block_terms:
            mean, second = self._eta_moments(t)
            if t.kind == "normal":
                e_tau, e_log_tau = self._tau(t)
                resid2 = t.y * t.y - 2.0 * t.y * mean + second
                total += float(np.sum(0.5 * e_log_tau - 0.5 * _LOG_2PI - 0.5 * e_tau * resid2))
            else:
                xi, n = self.xi[id(t)], t.trials
                total += float(np.sum(n * log_sigmoid(xi) + (t.y - 0.5 * n) * mean
                                      - 0.5 * n * xi - n * _lam(xi) * (second - xi * xi)))
            total += t.const
        for name, (a0, b0) in p.gamma.items():
            a, b = self.gamma[name]
            e_x, e_log = a / b, special.digamma(a) - np.log(b)
            total += float(np.sum(a0 * np.log(b0) - special.gammaln(a0) + (a0 - 1.0) * e_log
                                  - b0 * e_x))
            total += float(np.sum(a - np.log(b) + special.gammaln(a)
                                  + (1.0 - a) * special.digamma(a)))
        for name, (a0, b0) in p.beta.items():
            a, b = self.beta[name]
            e_lp, e_lq = _beta_logs(a, b)
            total += float(np.sum((a0 - 1.0) * e_lp + (b0 - 1.0) * e_lq
                                  - special.betaln(a0, b0)))
            total += float(np.sum(special.betaln(a, b) - (a - 1.0) * special.digamma(a)
                                  - (b - 1.0) * special.digamma(b)
                                  + (a + b - 2.0) * special.digamma(a + b)))
        for name, a0 in p.dirichlet.items():
            a = self.dirichlet[name]
            e_log = special.digamma(a) - special.digamma(a.sum())
            total += float(special.gammaln(a0.sum()) - special.gammaln(a0).sum()
                           + np.sum((a0 - 1.0) * e_log))
            total -= float(special.gammaln(a.sum()) - special.gammaln(a).sum()
                           + np.sum((a - 1.0) * e_log))
        for t in p.count_terms:
            if t.param in self.dirichlet:
                a = self.dirichlet[t.param]
                total += float(t.stat_a @ (special.digamma(a) - special.digamma(a.sum())))
            elif t.param in self.beta:
                e_lp, e_lq = _beta_logs(*self.beta[t.param])
                total += float(t.stat_a @ e_lp.reshape(-1)[t.idx]
                               + t.stat_b @ e_lq.reshape(-1)[t.idx])
            else:
                a, b = (v.reshape(-1)[t.idx] for v in self.gamma[t.param])
                total += float(t.stat_a @ (special.digamma(a) - np.log(b)) - t.stat_b @ (a / b))
            total += t.const
        return total

    # ---------------------------------------------------------------- result
    def q(self, objective: Objective) -> FactorQ:
        p = self.plan
        block = GaussianBlock(tuple(p.block), self.m.copy(), self.S.copy()) if p.block else None
        factors = [GammaFactor(k, a, b) for k, (a, b) in self.gamma.items()]
        factors += [BetaFactor(k, a, b) for k, (a, b) in self.beta.items()]
        factors += [DirichletFactor(k, a) for k, a in self.dirichlet.items()]
        return FactorQ(objective.layout, block, factors)


def _lam(xi: np.ndarray) -> np.ndarray:
    """``tanh(ξ/2)/(4ξ)``, with its limit 1/8 at ``ξ = 0``."""
    xi = np.abs(xi)
    small = xi < 1e-6
    safe = np.where(small, 1.0, xi)
    return np.where(small, 0.125 - xi * xi / 96.0, np.tanh(safe / 2.0) / (4.0 * safe))


def _beta_logs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ab = special.digamma(a + b)
    return special.digamma(a) - ab, special.digamma(b) - ab
