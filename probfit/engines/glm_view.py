"""The GLM structure of an objective, for Hessians restricted to an active set of columns.

An objective is GLM-shaped when it has one likelihood term whose only parameter-dependent
argument is a linear predictor ``η`` (affine in the unconstrained vector, one value per row), and
no Jacobian adjustment. Then the likelihood Hessian is ``Jᵀ diag(−∂²ℓ/∂η²) J`` with ``J = ∂η/∂θ``
(``[X, 1]`` for ``X @ w + b``), and the block over a column subset ``A`` costs ``O(n|A|²)``
instead of ``O(np²)`` — what makes lasso paths cheap while few coefficients are active. Prior
terms are data-free and evaluated as usual.
"""

from __future__ import annotations

import copy

import numpy as np

from probfit.compile.context import Context
from probfit.compile.objective import Objective
from probfit.contract import is_const
from probfit.dsl.expr import Expr

__all__ = ["GLMView"]


class GLMView:
    """Restricted Hessians of a GLM-shaped objective (build with :meth:`of`)."""

    def __init__(self, objective: Objective, factor, arg: str) -> None:
        self.objective, self.factor, self.arg = objective, factor, arg
        self.expr: Expr = factor.expr_of(arg)
        self.priors = copy.copy(objective)
        self.priors.factors = [f for f in objective.factors if f.kind == "prior"]

    @classmethod
    def of(cls, objective: Objective) -> GLMView | None:
        """The view, or ``None`` if the objective is not GLM-shaped."""
        obs = objective.obs_factors()
        if len(obs) != 1 or objective.jacobian:
            return None
        f = obs[0]
        wrt = f.diff_args
        if len(wrt) != 1 or wrt[0] == "value" or f.dist.event_ndim != 0:
            return None
        e = f.expr_of(wrt[0])
        if not e.linear:
            return None
        ctx = Context(objective.layout, np.zeros(objective.size), objective.data)
        if np.ndim(e.value(ctx)) != 1:
            return None
        return cls(objective, f, wrt[0])

    def hessian(self, theta: np.ndarray, cols: np.ndarray, hessian: str = "observed"
                ) -> np.ndarray:
        """The ``cols × cols`` block of the smooth objective's Hessian at ``theta``."""
        obj, f = self.objective, self.factor
        ctx = Context(obj.layout, np.asarray(theta, dtype=float), obj.data)
        vals = {k: (v.value(ctx) if isinstance(v, Expr) else v) for k, v in f.args.items()}
        x = f.value.value(ctx)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if hessian == "expected":
                h = f.dist.expected_d2logp(vals, (self.arg,))[(self.arg, self.arg)]
            else:
                h = f.dist.d2logp(x, vals, (self.arg,))[(self.arg, self.arg)]
        n = np.shape(self.expr.value(ctx))[0]
        w = -np.broadcast_to(np.asarray(h, dtype=float), (n,))
        jac = self.expr.jac(ctx)
        blocks = []
        for s in obj.layout:
            local = cols[(cols >= s.start) & (cols < s.stop)] - s.start
            if local.size == 0:
                continue
            j = jac.get(s.name)
            if j is None:
                blocks.append(np.zeros((n, local.size)))
            elif is_const(j):
                blocks.append(np.broadcast_to(j.reshape(-1, j.shape[-1])[0, local],
                                              (n, local.size)))
            else:
                blocks.append(np.asarray(j).reshape(n, -1)[:, local])
        ja = np.hstack(blocks) if len(blocks) > 1 else blocks[0]
        out = ja.T @ (w[:, None] * ja)
        if self.priors.factors:
            out += self.priors.hess(theta)[np.ix_(cols, cols)]
        return 0.5 * (out + out.T)
