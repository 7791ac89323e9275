"""A convergence report for every fit: is the optimum an optimum, and is it well conditioned?

* Smooth objectives: the gradient norm at the estimate, positive-definiteness and condition
  number of the Hessian (observed information).
* L1-penalized (Laplace-prior) objectives: the KKT violation, i.e. the norm of the
  minimum-norm subgradient (0 at an exact optimum), in place of the gradient norm.
* Iterative engines that record more: EM monotonicity (a history column ``loglik`` or
  ``objective`` that must not get worse), ELBO convergence (a history column ``elbo``), and the
  Pareto k̂ of the importance ratios ``p/q`` of the posterior approximation (Laplace or VI),
  which says whether the approximation is good enough for importance-sampling corrections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from arviz_stats.base import array_stats

from probfit.diagnostics.draws import PosteriorDraws

__all__ = ["ConvergenceReport", "convergence_report", "kkt_violation", "pareto_khat"]


@dataclass
class ConvergenceReport:
    """What is known about the convergence and conditioning of one fit.

    Attributes
    ----------
    converged, n_iter, message
        As reported by the engine.
    grad_norm
        Euclidean norm of the smooth objective's gradient at the estimate.
    kkt_violation
        Norm of the minimum-norm subgradient of the full (L1-penalized) objective, or ``None``
        for smooth objectives.
    hessian_pd
        Whether the Hessian of the smooth objective is positive definite at the estimate.
    condition_number
        Ratio of its largest to smallest eigenvalue (``inf`` if not positive definite).
    em_monotone
        For EM fits: whether the recorded objective never got worse (``None`` otherwise).
    elbo_rel_change
        For VI fits: relative change of the ELBO over the last recorded iterations.
    pareto_k
        Pareto k̂ of the importance ratios of the posterior approximation (``None`` when the
        fit has no approximation); above 0.7 the approximation is unreliable.
    notes
        Plain-language warnings.
    """

    method: str
    engine: str
    converged: bool
    n_iter: int
    message: str
    grad_norm: float
    kkt_violation: float | None = None
    hessian_pd: bool | None = None
    condition_number: float | None = None
    em_monotone: bool | None = None
    elbo_rel_change: float | None = None
    pareto_k: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing in the report is a warning."""
        return not self.notes

    def to_dict(self) -> dict[str, Any]:
        """The report as plain Python values."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def rows(self) -> list[tuple[str, str]]:
        """``(quantity, value)`` pairs for tables."""
        out = [("converged", f"{'yes' if self.converged else 'NO'} ({self.n_iter} iter)"),
               ("gradient norm", f"{self.grad_norm:.3g}")]
        if self.kkt_violation is not None:
            out.append(("KKT violation", f"{self.kkt_violation:.3g}"))
        if self.hessian_pd is not None:
            out.append(("Hessian PD", "yes" if self.hessian_pd else "NO"))
            out.append(("condition number", f"{self.condition_number:.3g}"))
        if self.em_monotone is not None:
            out.append(("EM monotone", "yes" if self.em_monotone else "NO"))
        if self.elbo_rel_change is not None:
            out.append(("ELBO rel. change", f"{self.elbo_rel_change:.3g}"))
        if self.pareto_k is not None:
            out.append(("Pareto k̂", f"{self.pareto_k:.2f}"))
        return out

    def __str__(self) -> str:
        lines = [f"Convergence report ({self.method}/{self.engine})"]
        lines += [f"  {k:<18}{v}" for k, v in self.rows()]
        lines += [f"  warning: {n}" for n in self.notes]
        return "\n".join(lines)


def kkt_violation(objective: Any, theta: np.ndarray) -> float:
    """Norm of the minimum-norm subgradient of ``objective.total`` at ``theta``.

    For a coordinate with an L1 term ``w |x - loc|``: ``|g + w sign(x - loc)|`` away from the
    kink and ``max(|g| - w, 0)`` at it; other coordinates contribute ``|g|``.
    """
    g = np.array(objective.grad(theta), dtype=float)
    for t in objective.l1:
        x = theta[t.slice] - t.loc
        gj = g[t.slice]
        at_kink = x == 0.0
        g[t.slice] = np.where(at_kink, np.maximum(np.abs(gj) - t.weight, 0.0),
                              gj + t.weight * np.sign(x))
    return float(np.linalg.norm(g))


def pareto_khat(draws: PosteriorDraws) -> float | None:
    """Pareto k̂ of the importance log-ratios ``lp - lp_approx``.

    ``None`` without an approximation, or when the tail is too short to fit (few draws).
    """
    if draws.lp_approx is None or draws.n_draws < 20:
        return None
    log_ratio = draws.lp - draws.lp_approx
    if not np.all(np.isfinite(log_ratio)):
        return float("inf")
    _, k = array_stats.psislw(log_ratio - np.max(log_ratio))
    return float(k) if np.isfinite(k) else None


def convergence_report(fit: Any, draws: PosteriorDraws | None = None) -> ConvergenceReport:
    """Check the optimum of ``fit``.

    Parameters
    ----------
    fit
        A :class:`~probfit.Fit`.
    draws
        Posterior draws with ``lp``/``lp_approx`` for the Pareto k̂ (optional).

    Latent-variable fits are checked on their marginal objective
    (:func:`~probfit.diagnostics.mixture_checks.latent_convergence`).
    """
    from probfit.diagnostics.mixture import is_latent

    if is_latent(fit):
        from probfit.diagnostics.mixture_checks import latent_convergence

        return latent_convergence(fit)
    objective, theta = fit.objective, fit.theta
    notes: list[str] = []
    grad = np.asarray(objective.grad(theta), dtype=float)
    report = ConvergenceReport(fit.method, fit.engine, bool(fit.converged), int(fit.n_iter),
                               str(fit.message), float(np.linalg.norm(grad)))
    if not fit.converged:
        notes.append(f"the engine did not converge: {fit.message}")
    if not objective.smooth:
        report.kkt_violation = kkt_violation(objective, theta)
        if report.kkt_violation > 1e-3 * max(1.0, abs(objective.total(theta))) ** 0.5:
            notes.append(f"KKT violation {report.kkt_violation:.2g} is not small")
    elif report.grad_norm > 1e-3 * max(1.0, abs(objective.value(theta))) ** 0.5:
        notes.append(f"gradient norm {report.grad_norm:.2g} at the estimate is not small")
    if theta.size:
        hess = objective.hess(theta)
        active = np.ones(theta.size, dtype=bool)
        for t in objective.l1:
            active[t.slice] = theta[t.slice] != t.loc
        eig = np.linalg.eigvalsh(hess[np.ix_(active, active)]) if active.any() else np.ones(1)
        report.hessian_pd = bool(eig[0] > 0)
        report.condition_number = float(eig[-1] / eig[0]) if eig[0] > 0 else float("inf")
        if not report.hessian_pd:
            notes.append("the Hessian is not positive definite: not a strict local optimum "
                         "(flat or saddle directions)")
        elif report.condition_number > 1e10:
            notes.append(f"the Hessian is ill-conditioned (condition number "
                         f"{report.condition_number:.2g}): estimates are nearly unidentified")
    history = fit.history
    if fit.engine == "em" and len(history):
        obj = history["objective"]
        report.em_monotone = bool(np.all(np.diff(obj) <= 1e-8 * np.maximum(1, np.abs(obj[1:]))))
        if not report.em_monotone:
            notes.append("EM objective increased at some iteration: an E or M step is wrong")
    if "elbo" in history.columns and len(history) >= 2:
        elbo = history["elbo"]
        tail = elbo[-min(len(elbo), 10):]
        report.elbo_rel_change = float(abs(tail[-1] - tail[0]) / max(1.0, abs(tail[-1])))
    if draws is not None:
        report.pareto_k = pareto_khat(draws)
        if report.pareto_k is not None and report.pareto_k > 0.7:
            notes.append(f"Pareto k̂ = {report.pareto_k:.2f} > 0.7: the {draws.kind} "
                         "approximation of the posterior is poor")
    report.notes = notes
    return report
