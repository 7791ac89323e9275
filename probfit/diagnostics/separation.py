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


#: Rows in the first linear program of a large problem (the rest enter only when violated).
_FIRST_ROWS = 2000


def separated_coefficients(objective: Objective, f: Factor, theta: np.ndarray) -> list[str]:
    """Labels of the coefficients that diverge because of separation (empty if none).

    Konis's program maximises ``Σ_i s_i D_i β`` over the box ``|β| ≤ 1`` subject to
    ``s_i D_i β ≥ 0`` for every row with one outcome (``s = ±1``) and ``D_i β = 0`` for rows with
    both (binomial). A large problem is solved by constraint generation, exactly: the objective
    always sums over all rows, the constraints start from the rows nearest the decision
    boundary at ``theta`` (those a separating direction must thread), and rows the candidate
    direction violates are added until none is. An optimum of 0 on a subset of the constraints
    proves that there is no separation; a candidate that satisfies every row proves that there
    is. The design matrix is never copied whole.
    """
    arg = binary_predictor(f)
    if arg is None:
        return []
    ctx = objective.data_context(theta, objective.data)
    e = f.args[arg]
    shape = e.value(ctx).shape
    jac = e.jac(ctx)
    names = sorted(jac, key=lambda p: objective.layout[p].start)
    blocks = [np.broadcast_to(jac[p], shape + jac[p].shape[-1:]).reshape(-1, jac[p].shape[-1])
              for p in names]
    y = np.broadcast_to(objective.data[f.name], shape).reshape(-1)
    trials = f.args.get("trials")
    t = np.ones_like(y) if trials is None else np.broadcast_to(
        trials.value(ctx) if isinstance(trials, Expr) else trials, shape).reshape(-1)
    succ, fail = y >= t, y <= 0
    both = ~(succ | fail)
    sign = np.where(succ, 1.0, np.where(fail, -1.0, 0.0))
    keep = np.concatenate([np.any(b, axis=0) for b in blocks])
    scale = max([1.0] + [max(-float(b.min()), float(b.max())) for b in blocks if b.size])
    tol = 1e-7 * scale

    def rows(idx: np.ndarray) -> np.ndarray:
        return np.concatenate([b[idx] for b in blocks], axis=1)[:, keep]

    def times(beta: np.ndarray) -> np.ndarray:
        full = np.zeros(keep.size)
        full[keep] = beta
        out, at = np.zeros(y.size), 0
        for b in blocks:
            out += b @ full[at:at + b.shape[1]]
            at += b.shape[1]
        return out

    c = -np.concatenate([sign @ b for b in blocks])[keep]
    n = y.size
    if n <= _FIRST_ROWS:
        active = np.arange(n)
    else:
        margin = np.abs(np.asarray(e.value(ctx), dtype=float).reshape(-1))
        active = np.sort(np.argpartition(margin, _FIRST_ROWS)[:_FIRST_ROWS])
    while True:
        d, s_a, b_a = rows(active), sign[active], both[active]
        res = optimize.linprog(
            c, A_ub=-(s_a[~b_a, None] * d[~b_a]), b_ub=np.zeros(int((~b_a).sum())),
            A_eq=d[b_a] if b_a.any() else None, b_eq=np.zeros(int(b_a.sum())) if b_a.any()
            else None, bounds=[(-1.0, 1.0)] * d.shape[1], method="highs")
        if res.status != 0 or -res.fun <= tol:
            return []
        eta = times(res.x)
        slack = np.where(both, -np.abs(eta), sign * eta)
        slack[active] = 0.0
        violated = np.flatnonzero(slack < -tol)
        if violated.size == 0:
            break
        worst = violated[np.argsort(slack[violated])[:_FIRST_ROWS]]
        active = np.union1d(active, worst)
    labels = []
    all_labels = objective.layout.labels()
    cols = [i for p in names for i in range(objective.layout[p].start, objective.layout[p].stop)]
    kept_cols = [c_ for c_, k in zip(cols, keep, strict=True) if k]
    top = np.max(np.abs(res.x))
    for col, v in zip(kept_cols, res.x, strict=True):
        if abs(v) > 1e-6 * top:
            labels.append(all_labels[col])
    return labels
