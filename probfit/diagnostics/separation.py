"""Detect perfect or quasi-complete separation in binary/binomial regressions.

Konis (2007) linear program: with design ``D`` of the linear predictor, separation exists
iff some direction ``β ≠ 0`` has ``D_iβ ≥ 0`` for successes, ``≤ 0`` for failures and ``= 0``
for rows with both outcomes (binomial ``0 < y < trials``) with at least one strict
inequality. Along such a direction the likelihood increases forever, so the MLE does not exist;
the coefficients with non-zero entries in ``β`` are the ones that diverge.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from probfit.compile.context import Context
from probfit.compile.objective import Factor, Objective
from probfit.dsl.expr import Expr

__all__ = ["BINARY", "binary_predictor", "separated_coefficients"]

BINARY = ("Bernoulli", "Binomial")
_LINKS = ("logit", "probit", "cloglog")


def binary_predictor(f: Factor) -> str | None:
    """The linear-predictor argument of a Bernoulli/Binomial factor, if it has one."""
    if type(f.dist).__name__ not in BINARY:
        return None
    for a in _LINKS:
        e = f.args.get(a)
        if isinstance(e, Expr) and e.params and e.linear:
            return a
    return None


def separated_coefficients(objective: Objective, f: Factor, theta: np.ndarray) -> list[str]:
    """Labels of the coefficients that diverge because of separation (empty if none)."""
    arg = binary_predictor(f)
    if arg is None:
        return []
    ctx = Context(objective.layout, theta, objective.data)
    e = f.args[arg]
    shape = e.value(ctx).shape
    jac = e.jac(ctx)
    names = sorted(jac, key=lambda p: objective.layout[p].start)
    design = np.concatenate(
        [np.broadcast_to(jac[p], shape + jac[p].shape[-1:]).reshape(-1, jac[p].shape[-1])
         for p in names], axis=1)
    y = np.broadcast_to(objective.data[f.name], shape).reshape(-1)
    trials = f.args.get("trials")
    t = np.ones_like(y) if trials is None else np.broadcast_to(
        trials.value(ctx) if isinstance(trials, Expr) else trials, shape).reshape(-1)
    succ, fail = y >= t, y <= 0
    both = ~(succ | fail)
    sign = np.where(succ, 1.0, -1.0)
    one_sided = ~both
    keep = np.any(design != 0, axis=0)
    d = design[:, keep]
    c = -(sign[one_sided] @ d[one_sided])
    a_ub = -(sign[one_sided, None] * d[one_sided])
    res = optimize.linprog(
        c, A_ub=a_ub, b_ub=np.zeros(a_ub.shape[0]),
        A_eq=d[both] if both.any() else None, b_eq=np.zeros(int(both.sum())) if both.any()
        else None, bounds=[(-1.0, 1.0)] * d.shape[1], method="highs")
    if res.status != 0 or -res.fun <= 1e-7 * max(1.0, float(np.abs(d).max(initial=0.0))):
        return []
    labels = []
    all_labels = objective.layout.labels()
    cols = [i for p in names for i in range(objective.layout[p].start, objective.layout[p].stop)]
    kept_cols = [c_ for c_, k in zip(cols, keep, strict=True) if k]
    scale = np.max(np.abs(res.x))
    for col, v in zip(kept_cols, res.x, strict=True):
        if abs(v) > 1e-6 * scale:
            labels.append(all_labels[col])
    return labels
