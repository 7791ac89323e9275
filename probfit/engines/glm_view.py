"""The GLM structure of an objective: gradients and Hessians restricted to a working set.

An objective is GLM-shaped when it has one likelihood term whose only parameter-dependent
argument is a linear predictor ``η`` (affine in the unconstrained vector, one value per row), and
no Jacobian adjustment (or only identity bijectors, whose log-det-Jacobian is 0, as in a
``method="vi"`` objective over unconstrained parameters). Then the likelihood gradient is
``−Jᵀs`` and its Hessian ``Jᵀ diag(w) J`` with ``J = ∂η/∂θ`` (``[X, 1]`` for ``X @ w + b``),
the score ``s = ∂ℓ/∂η`` and the curvature ``w = −∂²ℓ/∂η²``; over a column subset ``A`` they
cost ``O(n|A|)`` and ``O(n|A|²)`` instead of ``O(np)`` and ``O(np²)`` — what makes lasso paths
cheap while few coefficients are active. Prior terms are data-free and evaluated as usual.

The view keeps, per objective (so for a whole path):

- a *working set*: the columns of ``J`` that were ever asked for, gathered once into one
  column-major matrix that only grows (glmnet's "ever-active" set);
- the last likelihood evaluation (a path's next fit starts where the previous one ended);
- the last likelihood Hessian over the working set, reused while the linear predictor has
  moved by at most :data:`HESSIAN_REUSE` in every row since it was formed (the curvature
  weights of the usual links change by a relative ``O(|Δη|)``), with only the rows and columns
  of newly added coordinates computed.
"""

from __future__ import annotations

import copy
import weakref
from typing import Any

import numpy as np

from probfit.compile.context import Context
from probfit.compile.objective import Objective
from probfit.contract import contract, is_const, weighted_gram
from probfit.dsl.expr import Expr
from probfit.errors import EngineError

__all__ = ["HESSIAN_REUSE", "GLMPoint", "GLMView"]

_VIEWS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

#: Largest ``max_i |η_i − η'_i|`` at which the likelihood Hessian formed at ``η'`` is reused.
HESSIAN_REUSE = 1e-2


class _Likelihood:
    """The likelihood term at one linear predictor: the value at once, derivatives on demand."""

    def __init__(self, view: GLMView, theta: np.ndarray, eta: np.ndarray) -> None:
        self.view, self.theta, self.eta = view, theta, eta
        f = view.factor
        vals = dict(view.fixed, **{view.arg: eta})
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            self.total = float(np.sum(f.dist.logp(view.x, vals)))
        self.vals = vals
        self._score: np.ndarray | None = None
        self._weights: dict[str, np.ndarray] = {}
        self._grad: np.ndarray | None = None

    def score(self) -> np.ndarray:
        """``∂ℓ_i/∂η_i`` per row."""
        if self._score is None:
            v = self.view
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                d1 = v.factor.dist.dlogp(v.x, self.vals, (v.arg,))[v.arg]
            self._score = np.broadcast_to(np.asarray(d1, dtype=float), self.eta.shape)
        return self._score

    def weights(self, hessian: str) -> np.ndarray:
        """``−∂²ℓ_i/∂η_i²`` per row (``"observed"``) or its expectation (``"expected"``)."""
        if hessian not in self._weights:
            v, a = self.view, self.view.arg
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                if hessian == "expected":
                    h = v.factor.dist.expected_d2logp(self.vals, (a,))[(a, a)]
                else:
                    h = v.factor.dist.d2logp(v.x, self.vals, (a,))[(a, a)]
            self._weights[hessian] = -np.broadcast_to(np.asarray(h, dtype=float),
                                                      self.eta.shape)
        return self._weights[hessian]

    def grad(self) -> np.ndarray:
        """Gradient of ``−ℓ`` over every coordinate (one pass over the design)."""
        if self._grad is None:
            v = self.view
            d1 = self.score()
            out = np.zeros(v.objective.size)
            for name, j in v.jac.items():
                out[v.objective.layout[name].slice] -= contract(d1, j, self.eta.shape)
            self._grad = out
        return self._grad


class GLMPoint:
    """The smooth objective (likelihood and priors) of a GLM-shaped objective at ``theta``.

    Attributes
    ----------
    theta
        The flat point.
    eta
        The linear predictor there.
    value
        The smooth objective value (``−ℓ`` plus the prior terms).
    """

    def __init__(self, lik: _Likelihood, theta: np.ndarray, prior_value: float) -> None:
        self.lik, self.theta, self.eta = lik, theta, lik.eta
        self.value = -lik.total + prior_value
        self._prior: tuple[np.ndarray, np.ndarray] | None = None

    def prior(self, view: GLMView) -> tuple[np.ndarray, np.ndarray] | None:
        """Gradient and Hessian of the prior terms, or ``None`` when there are none."""
        if self._prior is None:
            self._prior = view.prior_terms(self.theta)
        return self._prior if self._prior[0].size else None


class GLMView:
    """Working-set gradients and Hessians of a GLM-shaped objective (build with :meth:`of`)."""

    def __init__(self, objective: Objective, factor: Any, arg: str) -> None:
        # a weak reference: the view is cached under the objective, which it must not keep alive
        self._objective = weakref.ref(objective)
        self.factor, self.arg = factor, arg
        self.expr: Expr = factor.expr_of(arg)
        ctx = Context(objective.layout, np.zeros(objective.size), objective.data)
        # the linear predictor's Jacobian is constant; the other arguments are parameter-free
        self.jac: dict[str, np.ndarray] = self.expr.jac(ctx)
        self.x = factor.value.value(ctx)
        self.fixed = {k: (v.value(ctx) if isinstance(v, Expr) else v)
                      for k, v in factor.args.items() if k != arg}
        self.n = int(np.shape(self.expr.value(ctx))[0])
        self._lik: _Likelihood | None = None
        self.working: np.ndarray = np.zeros(0, dtype=int)
        self._design = np.empty((self.n, 0), order="F")
        self._hess: tuple[str, np.ndarray, np.ndarray] | None = None

    @property
    def objective(self) -> Objective:
        """The objective this view belongs to."""
        return self._objective()

    @classmethod
    def of(cls, objective: Objective) -> GLMView | None:
        """The view, or ``None`` if the objective is not GLM-shaped.

        Views are cached per objective, so a path's fits share the working set, its gathered
        design columns and the last Hessian.
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

    # ------------------------------------------------------------------ points
    def at(self, theta: np.ndarray, eta: np.ndarray | None = None) -> GLMPoint:
        """The smooth objective at ``theta`` (its value computed, derivatives on demand).

        ``eta``, if given, is the linear predictor at ``theta`` (e.g. ``η + J_A Δ_A`` after a
        step on the working set), which saves the product with the design. The likelihood
        part of the last point is reused when ``theta`` is the same.
        """
        theta = np.array(theta, dtype=float)
        lik = self._lik
        if lik is None or not np.array_equal(lik.theta, theta):
            if eta is None:
                ctx = Context(self.objective.layout, theta, self.objective.data)
                eta = self.expr.value(ctx)
            lik = _Likelihood(self, theta, np.asarray(eta, dtype=float))
            self._lik = lik
        return GLMPoint(lik, theta, self.prior_value(theta))

    def _priors(self) -> Objective | None:
        obj = self.objective
        factors = [p for p in obj.factors if p.kind == "prior"]
        if not factors:
            return None
        priors = copy.copy(obj)
        priors.factors = factors
        return priors

    def prior_value(self, theta: np.ndarray) -> float:
        """Value of the prior terms (0 when there are none)."""
        priors = self._priors()
        return 0.0 if priors is None else priors.evaluate(theta, 0)[0]

    def prior_terms(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradient and Hessian of the prior terms (empty arrays when there are none).

        When every prior is elementwise (scalar events, fixed arguments) on an unconstrained
        parameter, its Hessian is diagonal and returned as the vector of its diagonal.
        """
        priors = self._priors()
        if priors is None:
            return np.zeros(0), np.zeros(0)
        layout = priors.layout
        if all(f.diff_args == ("value",) and f.dist.event_ndim == 0
               and layout[f.name].bijector.is_identity() for f in priors.factors):
            g, diag = np.zeros(priors.size), np.zeros(priors.size)
            ctx = Context(layout, theta, priors.data)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                for f in priors.factors:
                    s = layout[f.name]
                    x = theta[s.slice].reshape(s.shape)
                    vals = {k: (v.value(ctx) if isinstance(v, Expr) else v)
                            for k, v in f.args.items()}
                    d1 = f.dist.dlogp(x, vals, ("value",))["value"]
                    d2 = f.dist.d2logp(x, vals, ("value",))[("value", "value")]
                    g[s.slice] -= np.broadcast_to(d1, s.shape).reshape(-1)
                    diag[s.slice] -= np.broadcast_to(d2, s.shape).reshape(-1)
            return g, diag
        _, g, h = priors.evaluate(theta, 2)
        return g, h

    @staticmethod
    def _add_prior(h: np.ndarray, prior_h: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``h`` plus the prior Hessian's ``cols × cols`` block (full or diagonal)."""
        if prior_h.ndim == 1:
            return h + np.diag(prior_h[cols])
        return h + prior_h[np.ix_(cols, cols)]

    def grad(self, point: GLMPoint) -> np.ndarray:
        """The full smooth gradient at ``point`` (one pass over the design, then cached)."""
        g = point.lik.grad()
        prior = point.prior(self)
        return g if prior is None else g + prior[0]

    def _check_working(self, cols: np.ndarray) -> None:
        if cols is not self.working and not np.array_equal(cols, self.working):
            raise EngineError(f"GLMView: expected the working set {self.working.tolist()} (as "
                              f"returned by extend), got {np.asarray(cols).tolist()}")

    def grad_on(self, point: GLMPoint, cols: np.ndarray) -> np.ndarray:
        """The smooth gradient over the working set ``cols`` (as returned by :meth:`extend`)."""
        self._check_working(cols)
        lik = point.lik
        if lik._grad is not None:
            g = lik._grad[cols]
        else:
            g = -(self._design[:, :cols.size].T @ lik.score())
        prior = point.prior(self)
        return g if prior is None else g + prior[0][cols]

    def hess_on(self, point: GLMPoint, cols: np.ndarray, hessian: str = "observed"
                ) -> tuple[np.ndarray, bool]:
        """The smooth Hessian over the working set ``cols`` (as returned by :meth:`extend`), and
        whether the likelihood part was reused from an earlier point (see
        :data:`HESSIAN_REUSE`)."""
        self._check_working(cols)
        k = cols.size
        xa = self._design[:, :k]
        last = self._hess
        reused = (last is not None and last[0] == hessian
                  and float(np.max(np.abs(point.eta - last[1]), initial=0.0)) <= HESSIAN_REUSE)
        if reused:
            old = last[2]
            k0 = old.shape[0]
            h = old
            if k0 < k:
                # rows of the new coordinates only, with the current curvature weights
                cross = (point.lik.weights(hessian)[:, None] * xa[:, k0:]).T @ xa
                h = np.empty((k, k))
                h[:k0, :k0] = old
                h[k0:, :] = cross
                h[:k0, k0:] = cross[:, :k0].T
                self._hess = (hessian, last[1], h)
        else:
            h = weighted_gram(xa, point.lik.weights(hessian))[0]
            self._hess = (hessian, point.eta, h)
        prior = point.prior(self)
        return (h if prior is None else self._add_prior(h, prior[1], cols)), reused

    # ------------------------------------------------------------------ working set
    def extend(self, cols: np.ndarray) -> np.ndarray:
        """Add ``cols`` to the working set; returns the whole working set (flat indices, in
        the order of the gathered design columns, new ones last)."""
        have = set(self.working.tolist())
        new = np.array(sorted({int(c) for c in np.asarray(cols).tolist()} - have), dtype=int)
        if new.size:
            k = self.working.size
            cap = self._design.shape[1]
            if k + new.size > cap:
                size = min(max(2 * cap, k + new.size, 8), self.objective.size)
                grown = np.empty((self.n, size), order="F")
                grown[:, :k] = self._design[:, :k]
                self._design = grown
            self._design[:, k:k + new.size] = self.columns(new)
            self.working = np.concatenate([self.working, new])
        return self.working

    def direction(self, cols: np.ndarray, step: np.ndarray) -> np.ndarray:
        """``J_A Δ_A``: how the linear predictor moves under a step on the working set."""
        self._check_working(cols)
        return self._design[:, :cols.size] @ step

    # ------------------------------------------------------------------ one-off queries
    def linear_predictor(self, theta: np.ndarray) -> np.ndarray:
        """``η`` at ``theta``."""
        lik = self._lik
        if lik is not None and np.array_equal(lik.theta, theta):
            return lik.eta
        ctx = Context(self.objective.layout, np.asarray(theta, dtype=float),
                      self.objective.data)
        return np.asarray(self.expr.value(ctx), dtype=float)

    def hessian(self, theta: np.ndarray, cols: np.ndarray, hessian: str = "observed"
                ) -> np.ndarray:
        """The ``cols × cols`` block of the smooth objective's Hessian at ``theta``."""
        point = self.at(theta)
        ja = self.columns(np.asarray(cols, dtype=int))
        h = weighted_gram(ja, point.lik.weights(hessian))[0]
        prior = point.prior(self)
        return h if prior is None else self._add_prior(h, prior[1], cols)

    def columns(self, cols: np.ndarray) -> np.ndarray:
        """``∂η/∂θ`` restricted to ``cols``, as an ``n × |cols|`` column-major matrix."""
        out = np.empty((self.n, cols.size), order="F")
        for s in self.objective.layout:
            at = np.flatnonzero((cols >= s.start) & (cols < s.stop))
            if at.size == 0:
                continue
            local = cols[at] - s.start
            j = self.jac.get(s.name)
            if j is None:
                out[:, at] = 0.0
            elif is_const(j):
                out[:, at] = j.reshape(-1, j.shape[-1])[0, local]
            else:
                # one strided copy per column: no column-major copy of the whole design
                j2 = np.asarray(j).reshape(self.n, -1)
                for a, c in zip(at.tolist(), local.tolist(), strict=True):
                    out[:, a] = j2[:, c]
        return out
