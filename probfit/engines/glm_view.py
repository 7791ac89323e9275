"""The GLM structure of an objective, for Hessians restricted to an active set of columns.

An objective is GLM-shaped when it has one likelihood term whose only parameter-dependent
argument is a linear predictor ``η`` (affine in the unconstrained vector, one value per row), and
no Jacobian adjustment (or only identity bijectors, whose log-det-Jacobian is 0, as in a
``method="vi"`` objective over unconstrained parameters). Then the likelihood Hessian is
``Jᵀ diag(−∂²ℓ/∂η²) J`` with ``J = ∂η/∂θ`` (``[X, 1]`` for ``X @ w + b``), and the block over a
column subset ``A`` costs ``O(n|A|²)`` instead of ``O(np²)`` — what makes lasso paths cheap while
few coefficients are active. Prior terms are data-free and evaluated as usual.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable

import numpy as np

from probfit.compile.context import Context
from probfit.compile.objective import Objective
from probfit.contract import contract, is_const
from probfit.dsl.expr import Expr

__all__ = ["GLMView"]

_VIEWS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class GLMView:
    """Restricted Hessians of a GLM-shaped objective (build with :meth:`of`)."""

    def __init__(self, objective: Objective, factor, arg: str) -> None:
        self.objective, self.factor, self.arg = objective, factor, arg
        self.expr: Expr = factor.expr_of(arg)
        self._columns_of: dict[str, np.ndarray] = {}
        self._last: tuple | None = None
        self.columns: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def of(cls, objective: Objective) -> GLMView | None:
        """The view, or ``None`` if the objective is not GLM-shaped.

        Views are cached per objective (a linear predictor's Jacobian is constant, so its
        column-major copy for fast column gathers is made once, e.g. for a whole path; it
        doubles the design's memory while the objective lives).
        """
        cached = _VIEWS.get(objective)
        if cached is not None and any(f is cached.factor for f in objective.factors):
            return cached
        view = cls._build(objective)
        if view is not None:
            _VIEWS[objective] = view
        return view

    @classmethod
    def _build(cls, objective: Objective) -> GLMView | None:
        obs = objective.obs_factors()
        if len(obs) != 1 or (objective.jacobian and not all(
                s.bijector.is_identity() for s in objective.layout)):
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

    def point(self, theta: np.ndarray, hessian: str = "observed",
              eta: np.ndarray | None = None
              ) -> tuple[float, np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        """Smooth value, gradient and a Hessian-block function at ``theta``, from one pass.

        The linear predictor, the log-likelihood and its first derivatives are computed once;
        ``curv(cols)`` then forms the ``cols × cols`` Hessian block from the stored rows (and
        leaves the gathered ``∂η/∂θ`` columns in :attr:`columns`). ``eta``, if given, is the
        linear predictor at ``theta`` (e.g. ``η + J_A Δ_A`` after a step on the active set),
        which saves the product with the design.
        """
        obj, f = self.objective, self.factor
        theta = np.array(theta, dtype=float)
        last = self._last
        if last is not None and np.array_equal(last[0], theta):
            # the same point again (the next fit of a path starts where the last one ended)
            _, total, lik_grad, x, vals, shape, jac = last
        else:
            ctx = Context(obj.layout, theta, obj.data)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                vals = {k: (eta if k == self.arg and eta is not None else
                            v.value(ctx) if isinstance(v, Expr) else v)
                        for k, v in f.args.items()}
                x = f.value.value(ctx)
                total = float(np.sum(f.dist.logp(x, vals)))
                d1 = f.dist.dlogp(x, vals, (self.arg,))[self.arg]
            shape = np.shape(vals[self.arg])
            jac = self.expr.jac(ctx)
            lik_grad = np.zeros(obj.size)
            for name, j in jac.items():
                lik_grad[obj.layout[name].slice] += contract(d1, j, shape)
            self._last = (theta, total, lik_grad, x, vals, shape, jac)
        value, grad = -total, -lik_grad
        prior_h = None
        priors = copy.copy(obj)
        priors.factors = [p for p in obj.factors if p.kind == "prior"]
        if priors.factors:
            pv, pg, prior_h = priors.evaluate(theta, 2)
            value, grad = value + pv, grad + pg

        def curv(cols: np.ndarray) -> np.ndarray:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                if hessian == "expected":
                    h = f.dist.expected_d2logp(vals, (self.arg,))[(self.arg, self.arg)]
                else:
                    h = f.dist.d2logp(x, vals, (self.arg,))[(self.arg, self.arg)]
            w = -np.broadcast_to(np.asarray(h, dtype=float), shape)
            if self.columns is not None and np.array_equal(self.columns[0], cols):
                ja = self.columns[1]  # the same active set: the design columns are constant
            else:
                ja = self._columns(jac, cols, shape[0])
                self.columns = (np.array(cols), ja)
            out = ja.T @ (w[:, None] * ja)
            if prior_h is not None:
                out += prior_h[np.ix_(cols, cols)]
            return 0.5 * (out + out.T)

        return value, grad, curv

    def linear_predictor(self, theta: np.ndarray) -> np.ndarray:
        """``η`` at ``theta`` (from the last :meth:`point` when it was at ``theta``)."""
        last = self._last
        if last is not None and np.array_equal(last[0], theta):
            return np.asarray(last[4][self.arg])
        ctx = Context(self.objective.layout, np.asarray(theta, dtype=float),
                      self.objective.data)
        return np.asarray(self.expr.value(ctx))

    def hessian(self, theta: np.ndarray, cols: np.ndarray, hessian: str = "observed"
                ) -> np.ndarray:
        """The ``cols × cols`` block of the smooth objective's Hessian at ``theta``."""
        return self.point(theta, hessian)[2](cols)

    def _columns(self, jac: dict[str, np.ndarray], cols: np.ndarray, n: int) -> np.ndarray:
        """``∂η/∂θ`` restricted to ``cols``, as an ``n × |cols|`` matrix."""
        out = np.empty((n, cols.size))
        at = 0
        for s in self.objective.layout:
            local = cols[(cols >= s.start) & (cols < s.stop)] - s.start
            if local.size == 0:
                continue
            j = jac.get(s.name)
            block = out[:, at:at + local.size]
            if j is None:
                block[...] = 0.0
            elif is_const(j):
                block[...] = j.reshape(-1, j.shape[-1])[0, local]
            else:
                cm = self._columns_of.get(s.name)
                if cm is None:
                    cm = np.asfortranarray(np.asarray(j).reshape(n, -1))
                    self._columns_of[s.name] = cm
                block[...] = cm[:, local]
            at += local.size
        return out
