"""Compile a spec and data into an objective over one flat unconstrained vector.

Conventions (DESIGN.md): objectives are sums over observations, to be *minimised*:

* ``mle``: ``-Σ log p(y_i | θ)`` (priors ignored);
* ``map``: ``-Σ log p(y_i | θ) - Σ log p(θ)``, the mode on the constrained scale unless
  ``jacobian=True`` adds the log-det-Jacobian of each bijector;
* ``vi``: minus the log joint in the unconstrained space (the ``map`` objective with
  ``jacobian=True``, Laplace priors kept as smooth factors), which VI engines integrate.

Laplace priors with numeric arguments on unconstrained parameters are kept out of the smooth
part: they are exposed as :attr:`Objective.l1` terms ``Σ |x - loc| / scale`` so engines can treat
the kink exactly (bound-constrained splitting in L-BFGS-B; proximal Newton with coordinate
descent in ``newton``; FISTA). An ``ElasticNet`` prior gives an L1 term (weights ``l1``, zero
allowed) plus a smooth ridge factor ``½ l2 (x - loc)²``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from probfit.compile.bind import bind_data
from probfit.compile.context import Context, Layout, ParamSlot
from probfit.compile.glm_pass import GLMPlan, as_rows, glm_pass, glm_plan
from probfit.contract import (
    DesignProducts,
    contract,
    gram,
    one_blas_thread,
    over_row_ranges,
    sum_to_shape,
)
from probfit.distributions import Distribution, ElasticNet, Laplace
from probfit.distributions.penalized import RidgeKernel, elastic_net_log_norm
from probfit.dsl.expr import Expr
from probfit.dsl.model import Model
from probfit.errors import DataError, SpecError
from probfit.spec.ir import ModelSpec
from probfit.transforms.bijectors import bijector_for

__all__ = ["Factor", "FlatObjective", "L1Term", "Objective", "compile_objective"]

METHODS = ("mle", "map", "vi")


@dataclass
class Factor:
    """One log-density term: ``dist`` evaluated at ``value`` (data or a parameter)."""

    kind: str  # "obs" or "prior"
    name: str
    value: Expr
    dist: Distribution
    args: dict[str, Expr | np.ndarray] = field(default_factory=dict)

    @property
    def diff_args(self) -> tuple[str, ...]:
        out = tuple(k for k, v in self.args.items()
                    if isinstance(v, Expr) and v.params and k not in self.dist.nondiff)
        return out + (("value",) if self.value.params else ())

    def expr_of(self, name: str) -> Expr:
        return self.value if name == "value" else self.args[name]


@dataclass(frozen=True)
class L1Term:
    """``Σ_j |x_j - loc_j| / scale_j`` over one unconstrained parameter (a Laplace prior)."""

    param: str
    slice: slice
    loc: np.ndarray
    weight: np.ndarray
    log_norm: float  # Σ log(2 scale): the Laplace normalising constant


def compile_objective(spec: ModelSpec | Model, data: Mapping[str, Any], method: str = "mle", *,
                      jacobian: bool = False, dims: Mapping[str, int] | None = None) -> Objective:
    """Build the :class:`Objective` of ``spec`` on ``data`` for ``method``."""
    if method not in METHODS:
        raise SpecError(f"method must be one of {METHODS}, got {method!r}")
    if jacobian and method != "map":
        raise SpecError("jacobian=True only applies to method='map'")
    jacobian = jacobian or method == "vi"
    model = spec if isinstance(spec, Model) else Model.from_spec(spec)
    bound, sizes = bind_data(model, data, dims)
    return Objective(model, bound, sizes, method, jacobian)


class FlatObjective:
    """What every objective offers about its flat unconstrained vector, from its ``layout``
    and its L1 terms ``l1``."""

    layout: Layout
    l1: list[L1Term]

    @property
    def size(self) -> int:
        """Length of the flat unconstrained vector."""
        return self.layout.size

    @property
    def smooth(self) -> bool:
        """True when the objective has no L1 (Laplace or elastic-net prior) terms."""
        return not self.l1

    def unpack(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Constrained parameter values by name."""
        return self.layout.unpack(theta)


class Objective(FlatObjective):
    """A differentiable objective with named views of its flat parameter vector.

    Attributes
    ----------
    model
        The declaration.
    layout
        Where each parameter lives in the flat unconstrained vector.
    data
        The bound float64 data.
    method
        ``"mle"``, ``"map"`` or ``"vi"``.
    l1
        Non-smooth Laplace-prior terms (empty unless ``method == "map"``).
    """

    def __init__(self, model: Model, data: dict[str, np.ndarray], sizes: dict[str, int],
                 method: str, jacobian: bool) -> None:
        self.model, self.data, self.sizes = model, data, sizes
        self.method, self.jacobian = method, jacobian
        self.layout = _layout(model, sizes)
        self._last: Context | None = None
        self._plans: dict[str, GLMPlan | None] = {}
        self.factors: list[Factor] = []
        self.l1: list[L1Term] = []
        for o in model.observations:
            self.factors.append(Factor("obs", o.handle.name, o.handle, o.dist,
                                       _args(o.dist)))
        if method in ("map", "vi"):
            for name, d in model.param_decls.items():
                if d.prior is None:
                    continue
                term = _l1_term(name, d.prior, self.layout[name]) if method == "map" else None
                if term is not None:
                    self.l1.append(term)
                    if isinstance(d.prior, ElasticNet):
                        ridge = RidgeKernel(d.prior.args["loc"], d.prior.args["l2"])
                        self.factors.append(Factor("prior", name, d.handle, ridge,
                                                   _args(ridge)))
                else:
                    self.factors.append(Factor("prior", name, d.handle, d.prior,
                                               _args(d.prior)))
        self._check_observed_support()
        first = model.observations[0].handle.name
        self.n_obs = int(data[first].shape[0]) if data[first].ndim else 1

    # ------------------------------------------------------------------ checks
    def _check_observed_support(self) -> None:
        ctx = Context(self.layout, np.zeros(self.size), self.data)
        for f in self.factors:
            if f.kind != "obs":
                continue
            vals = {k: (v.value(ctx) if isinstance(v, Expr) else v)
                    for k, v in f.args.items() if not (isinstance(v, Expr) and v.params)}
            f.dist.check_support(self.data[f.name], vals, f.name)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, theta: np.ndarray, order: int = 2, hessian: str = "observed",
                 data: Mapping[str, np.ndarray] | None = None,
                 obs_scale: float | np.ndarray = 1.0
                 ) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        """Smooth objective value, gradient (``order >= 1``) and Hessian (``order == 2``).

        Parameters
        ----------
        theta
            Flat unconstrained parameter vector.
        order
            0, 1 or 2.
        hessian
            ``"observed"`` (exact) or ``"expected"`` (Fisher scoring: expected second
            derivatives for the likelihood terms).
        data
            Data to evaluate on (defaults to the bound data), e.g. a :meth:`minibatch`.
        obs_scale
            Weight of the likelihood terms (``n / batch`` for an unbiased minibatch estimate),
            or one weight per row of the observed variables (e.g. EM responsibilities); prior
            and Jacobian terms are never scaled.
        """
        return self._evaluate(theta, order, hessian, data, obs_scale, self.factors)

    def _evaluate(self, theta: np.ndarray, order: int, hessian: str,
                  data: Mapping[str, np.ndarray] | None, obs_scale: float | np.ndarray,
                  factors: list[Factor]
                  ) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        """:meth:`evaluate` over ``factors`` (and the Jacobian terms)."""
        ctx = self._context(theta, data, with_hess=order >= 2)
        theta = ctx.theta
        total = 0.0
        grad = np.zeros(self.size) if order >= 1 else None
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for f in factors:
                w = obs_scale if f.kind == "obs" else 1.0
                total += self._factor(ctx, f, order, grad, hessian, w)
            if self.jacobian:
                for s in self.layout:
                    u = theta[s.slice]
                    total += s.bijector.log_det(u)
                    if order >= 1:
                        grad[s.slice] += s.bijector.log_det_grad(u)
                    if order >= 2:
                        ctx.hess[s.slice, s.slice] += s.bijector.log_det_hess(u)
        hess = None
        if order >= 2:
            hess = -ctx.hess
            hess = 0.5 * (hess + hess.T)
        return -total, (None if grad is None else -grad), hess

    def _factor(self, ctx: Context, f: Factor, order: int, grad: np.ndarray | None,
                hessian: str, weight: float | np.ndarray = 1.0) -> float:
        plan = self.glm_plan_of(f) if ctx.data is self.data and np.ndim(weight) == 0 \
            and weight == 1.0 else None
        if plan is not None:
            known = ctx.values.get(("loglik", f.name))
            if order == 0 and known is not None:
                return known
            return self._glm_factor(ctx, f, plan, order, grad, hessian)
        x = f.value.value(ctx)
        vals = {k: (v.value(ctx) if isinstance(v, Expr) else v) for k, v in f.args.items()}
        lp = f.dist.logp(x, vals)
        scaled = np.ndim(weight) > 0 or weight != 1.0
        total = float(np.sum(_per_row(weight, lp) * lp)) if scaled else float(np.sum(lp))
        wrt = f.diff_args
        if order == 0 or not wrt:
            return total
        d1 = f.dist.dlogp(x, vals, wrt)
        if scaled:
            d1 = {k: _per_row(weight, v) * v for k, v in d1.items()}
        batch = np.ndim(lp)
        d2, known, expected = {}, None, hessian == "expected" and f.kind == "obs"
        if order >= 2:
            d2 = f.dist.expected_d2logp(vals, wrt) if expected else f.dist.d2logp(x, vals, wrt)
            d2 = {(a, b): self._weighted(h, lp, d1, a, b, batch, weight if scaled else None)
                  for (a, b), h in d2.items()}
            known = DesignProducts()
            for name in wrt:
                if (name, name) in d2 and np.ndim(d1[name]) == batch:
                    for j in f.expr_of(name).jac(ctx).values():
                        known.add(j, d2[name, name], d1[name])
        for name in wrt:
            e = f.expr_of(name)
            for p, j in e.jac(ctx).items():
                grad[self.layout[p].slice] += contract(d1[name], j, e.value(ctx).shape, known)
        if order < 2:
            return total
        for (a, b), h in d2.items():
            ea, eb = f.expr_of(a), f.expr_of(b)
            na, nb = np.ndim(d1[a]) - batch, np.ndim(d1[b]) - batch
            ja, jb = ea.jac(ctx), eb.jac(ctx)
            for pa, ma in ja.items():
                for pb, mb in jb.items():
                    if a == b and self.layout[pb].start < self.layout[pa].start:
                        continue
                    block = gram(ma, ea.value(ctx).shape, na, h, mb, eb.value(ctx).shape, nb,
                                 known)
                    ctx.add_hess(pa, pb, block)
                    if a != b or pa != pb:
                        ctx.add_hess(pb, pa, block.T)
        if not expected:
            for name in wrt:
                e = f.expr_of(name)
                e.curv(ctx, sum_to_shape(np.asarray(d1[name], dtype=float), e.value(ctx).shape))
        return total

    def glm_plan_of(self, f: Factor) -> GLMPlan | None:
        """The one-pass plan of a GLM-shaped likelihood term on the bound data (built once;
        ``None`` for other terms, see :mod:`probfit.compile.glm_pass`)."""
        if f.kind != "obs":
            return None
        if f.name not in self._plans:
            self._plans[f.name] = glm_plan(self.layout, f.dist, f.value, f.args, self.data)
        return self._plans[f.name]

    def _glm_factor(self, ctx: Context, f: Factor, plan: GLMPlan, order: int,
                    grad: np.ndarray | None, hessian: str) -> float:
        """A GLM-shaped likelihood term by :func:`~probfit.compile.glm_pass.glm_pass`; its
        linear predictor and value are kept in the context for later use at the same point."""
        t = glm_pass(plan, f.dist, self.layout, ctx.theta, order, hessian,
                     ctx.values.get(("along", f.name)))
        ctx.values[id(plan.eta)] = t.eta
        ctx.values[("loglik", f.name)] = t.total
        p = plan.design_param
        if order >= 1:
            grad[self.layout[p].slice] += t.xs
            for name, r in plan.rows.items():
                grad[self.layout[name].slice] += t.sum_s * r
        if order >= 2:
            ctx.add_hess(p, p, t.xwx)
            for a, ra in plan.rows.items():
                cross = np.outer(t.xw, ra)
                ctx.add_hess(p, a, cross)
                ctx.add_hess(a, p, cross.T)
                for b, rb in plan.rows.items():
                    ctx.add_hess(a, b, t.sum_w * np.outer(ra, rb))
        return t.total

    @staticmethod
    def _weighted(h: np.ndarray, lp: np.ndarray, d1: dict[str, np.ndarray], a: str, b: str,
                  batch: int, weight: float | np.ndarray | None) -> np.ndarray:
        """A second derivative broadcast to its full ``batch + event`` shape (and scaled)."""
        na, nb = np.ndim(d1[a]) - batch, np.ndim(d1[b]) - batch
        h = np.broadcast_to(h, np.shape(lp) + (np.shape(d1[a])[batch:] if na else ())
                            + (np.shape(d1[b])[batch:] if nb else ()))
        return h if weight is None else _per_row(weight, h) * h

    def line(self, theta: np.ndarray, step: np.ndarray
             ) -> Callable[..., tuple[float, float, float]] | None:
        """``φ(α)``, the smooth objective at ``theta + α·step`` (``nan`` when called with
        ``value=False``), with ``φ'(α)`` and ``φ''(α)`` (``nan`` when called with
        ``derivatives=False``), at the cost of elementwise work per call, or ``None`` unless
        every likelihood term is GLM-shaped (:mod:`probfit.compile.glm_pass`).

        The linear predictors move along ``η + α·u``: ``η`` is the one at ``theta`` (kept from
        its evaluation) and ``u = J·step`` costs one product with each design, once. The
        other terms (priors, Jacobian adjustments) have no data-sized work and are evaluated
        as usual. An evaluation at the point of the last call (the step the line search
        accepts) takes its ``η`` from the line too.
        """
        return self._line(theta, step, sampled=False)

    def sampled_line(self, theta: np.ndarray, step: np.ndarray
                     ) -> Callable[..., tuple[float, float, float]] | None:
        """:meth:`line` estimated from a systematic sample of the rows, or ``None`` unless
        every likelihood term is GLM-shaped.

        Each likelihood term contributes from every ``k``-th row with ``k = max(1, n // 2¹⁴)``,
        scaled by ``k`` (exact up to 2¹⁵ rows); the other terms (priors, Jacobian adjustments)
        exactly. Forming it costs a ``1/k`` share of the product of the design with ``step``
        and a call a ``1/k`` share of a call of :meth:`line`, so a line search can tell a full
        step that will pass from one that will not, and roughly where the minimum along the
        step lies, without a pass over the data. ``theta``'s context (its linear predictors)
        stays the last one, for a :meth:`line` from ``theta`` that follows.
        """
        return self._line(theta, step, sampled=True)

    def _line(self, theta: np.ndarray, step: np.ndarray, sampled: bool
              ) -> Callable[..., tuple[float, float, float]] | None:
        """:meth:`line` on all rows, or on a systematic sample of them (:meth:`sampled_line`)."""
        plans = [(f, self.glm_plan_of(f)) for f in self.obs_factors()]
        if any(plan is None for _, plan in plans):
            return None
        ctx = self._context(theta)
        theta = ctx.theta
        rest = [f for f in self.factors if f.kind != "obs"]
        moves, sums = [], []
        for f, plan in plans:
            n = plan.x.shape[0]
            rows = slice(None, None, max(1, n // _SAMPLE_ROWS) if sampled else 1)
            eta = np.broadcast_to(plan.eta.value(ctx), (n,))[rows]
            with one_blas_thread() if sampled else nullcontext():
                u = _direction(plan, self.layout, step, rows)
            fixed = {k: (v[rows] if np.shape(v) == (n,) else v) for k, v in plan.fixed.items()}
            moves.append((f.name, eta, u))
            sums.append((plan.base, plan.design[rows], rows.step, partial(
                _along_rows, f.dist, plan.arg, plan.x[rows], fixed, eta, u)))

        def phi(alpha: float, value: bool = True, derivatives: bool = True
                ) -> tuple[float, float, float]:
            total, slope, curv = self._evaluate(theta + alpha * step, 2, "observed", None,
                                                1.0, rest)
            if sampled:
                self._last = ctx
            else:
                # that evaluation left its context as the last one: an evaluation at this
                # point that follows (the accepted step) takes η from the line instead of X
                for name, eta, u in moves:
                    self._last.values["along", name] = (eta, u, alpha)
            slope, curv = float(slope @ step), float(step @ curv @ step)
            total = total if value else np.nan
            for base, design, k, along in sums:
                total -= base if value else 0.0
                for lp, d1, d2 in over_row_ranges(design, partial(along, alpha, value,
                                                                  derivatives)):
                    total, slope, curv = total - k * lp, slope - k * d1, curv - k * d2
            return (total, slope, curv) if derivatives else (total, np.nan, np.nan)

        return phi

    def value(self, theta: np.ndarray) -> float:
        """Smooth objective value."""
        return self.evaluate(theta, 0)[0]

    def grad(self, theta: np.ndarray) -> np.ndarray:
        """Gradient of the smooth objective."""
        return self.evaluate(theta, 1)[1]

    def hess(self, theta: np.ndarray, hessian: str = "observed") -> np.ndarray:
        """Hessian of the smooth objective (exact, or expected with ``hessian="expected"``)."""
        return self.evaluate(theta, 2, hessian)[2]

    def penalty(self, theta: np.ndarray) -> float:
        """The L1 part ``Σ |x - loc| / scale`` (0 without Laplace priors)."""
        return float(sum(np.sum(t.weight * np.abs(theta[t.slice] - t.loc)) for t in self.l1))

    def total(self, theta: np.ndarray) -> float:
        """Smooth part plus L1 part: the full objective that engines minimise."""
        return self.value(theta) + self.penalty(theta)

    def loglik(self, theta: np.ndarray, data: Mapping[str, np.ndarray] | None = None,
               pointwise: bool = False) -> float | dict[str, np.ndarray]:
        """Σ log p(y | θ) over observed variables (or per variable and row if ``pointwise``)."""
        ctx = self._context(theta, data)
        out = {}
        for f in self.factors:
            if f.kind == "obs":
                known = None if pointwise else ctx.values.get(("loglik", f.name))
                if known is not None:
                    out[f.name] = known
                    continue
                vals = {k: (v.value(ctx) if isinstance(v, Expr) else v)
                        for k, v in f.args.items()}
                out[f.name] = f.dist.logp(f.value.value(ctx), vals)
        if pointwise:
            return out
        return float(sum(np.sum(v) for v in out.values()))

    def log_prior(self, theta: np.ndarray) -> float:
        """Σ log p(θ) over parameters with priors, L1 terms included (0 for MLE)."""
        if self.method == "mle":
            return 0.0
        ll = self.loglik(theta)
        smooth = -self.value(theta) - ll
        if self.jacobian:
            smooth -= sum(s.bijector.log_det(theta[s.slice]) for s in self.layout)
        return smooth - self.penalty(theta) - sum(t.log_norm for t in self.l1)

    # ------------------------------------------------------------------ minibatches
    @property
    def row_dim(self) -> str:
        """The observation dim: the first dim of the first observed variable."""
        dims = self.model.observations[0].handle.dims
        if not dims:
            raise DataError("the observed variable has no dims, so there are no rows to batch")
        return dims[0]

    def minibatch(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The bound data restricted to ``rows`` of :attr:`row_dim` (for stochastic engines).

        Evaluate it with ``evaluate(theta, order, data=batch, obs_scale=n_obs / len(rows))`` for
        an unbiased estimate of the full objective.

        Raises
        ------
        DataError
            If a parameter is indexed by the row dim (per-row parameters cannot be batched).
        """
        dim = self.row_dim
        for s in self.layout:
            if dim in s.dims:
                raise DataError(f"parameter {s.name!r} has the row dim {dim!r}; minibatches "
                                "would leave it out of most batches")
        rows = np.asarray(rows, dtype=np.intp)
        out = {}
        for name, arr in self.data.items():
            dims = self.model.data_decls[name].handle.dims
            out[name] = np.take(arr, rows, axis=dims.index(dim)) if dim in dims else arr
        return out

    # ------------------------------------------------------------------ structure
    def obs_factors(self) -> list[Factor]:
        """The likelihood terms."""
        return [f for f in self.factors if f.kind == "obs"]

    def data_context(self, theta: np.ndarray, data: Mapping[str, np.ndarray]) -> Context:
        """A context for evaluating expressions on ``data`` (other data: prediction)."""
        return self._context(theta, data)

    def _context(self, theta: np.ndarray, data: Mapping[str, np.ndarray] | None = None,
                 with_hess: bool = False) -> Context:
        """A context at ``theta``. On the bound data it shares the values and Jacobians of the
        previous one when that was at the same point (a line search's accepted trial, then the
        fit's log-likelihood and checks at the estimate), so the linear predictor and the like
        are computed once per point."""
        theta = np.array(theta, dtype=float)  # a copy: callers may update theirs in place
        if data is not None and data is not self.data:
            return Context(self.layout, theta, data, with_hess)
        ctx = Context(self.layout, theta, self.data, with_hess)
        if self._last is not None and np.array_equal(self._last.theta, theta):
            ctx.share_cache(self._last)
        self._last = ctx
        return ctx


#: Rows per chunk of a line-search evaluation: its temporaries (64 KB each) stay in cache.
_LINE_ROWS = 1 << 13

#: Least rows of the systematic sample of :meth:`Objective.sampled_line` (at most twice as
#: many are taken): its relative standard error is about ``sd(δ)/(mean(δ)·128)`` for the
#: per-row changes ``δ``, at under 2 % of a pass over the rows.
_SAMPLE_ROWS = 1 << 14


def _direction(plan: GLMPlan, layout: Layout, step: np.ndarray, rows: slice) -> np.ndarray:
    """``u = J·step`` on ``rows``: how the linear predictor of ``plan`` moves along ``step``
    (the product by :func:`~probfit.contract.over_row_ranges`, so that no BLAS threads are left
    spinning when a threaded pass follows)."""
    design, beta = plan.design[rows], step[layout[plan.design_param].slice]
    u = np.empty(design.shape[0])
    over_row_ranges(design, lambda lo, hi: np.matmul(design[lo:hi], beta, out=u[lo:hi]))
    u += sum(float(r @ step[layout[name].slice]) for name, r in plan.rows.items())
    return u


def _along_rows(dist: Distribution, arg: str, x: np.ndarray, fixed: Mapping[str, Any],
                eta: np.ndarray, u: np.ndarray, alpha: float, value: bool, derivatives: bool,
                lo: int, hi: int) -> tuple[float, float, float]:
    """``Σ log p`` (0 unless ``value``), ``Σ s·u`` and ``Σ w·u²`` (0 unless ``derivatives``)
    over rows ``lo:hi`` at ``η + α·u`` (``arg`` is the argument that is ``η``; ``x`` and the
    per-row ``fixed`` arguments have the rows of ``η``), in chunks of :data:`_LINE_ROWS`
    rows."""
    total = slope = curv = 0.0
    per_row = {k: v for k, v in fixed.items() if np.shape(v) == eta.shape}
    vals = dict(fixed)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for start in range(lo, hi, _LINE_ROWS):
            rows = slice(start, min(hi, start + _LINE_ROWS))
            vals.update({k: v[rows] for k, v in per_row.items()})
            ub = u[rows]
            e = ub * alpha
            e += eta[rows]
            vals[arg] = e
            lp, d1, d2 = dist.row_terms(x[rows], vals, arg, 2 if derivatives else 0,
                                        value=value, base=False)
            if value:
                total += float(np.sum(as_rows(lp, e.shape)))
            if derivatives:
                slope += float(np.dot(as_rows(d1, e.shape), ub))
                curv += float(np.dot(as_rows(d2, e.shape) * ub, ub))
    return total, slope, curv


def _per_row(weight: float | np.ndarray, arr: np.ndarray) -> float | np.ndarray:
    """``weight`` shaped to multiply ``arr``: per-row weights align with its first axis."""
    if np.ndim(weight) == 0:
        return weight
    return np.reshape(weight, (-1,) + (1,) * (np.ndim(arr) - 1))


def _args(d: Distribution) -> dict[str, Expr | np.ndarray]:
    return {k: v if isinstance(v, Expr) else np.asarray(v, dtype=float)
            for k, v in d.args.items()}


def _l1_term(name: str, prior: Distribution, slot: ParamSlot) -> L1Term | None:
    if isinstance(prior, ElasticNet):
        # without any L1 weight it is a smooth (Gaussian-kernel) prior factor
        return _elastic_net_term(name, prior, slot) if np.any(prior.args["l1"] > 0) else None
    if not isinstance(prior, Laplace) or not slot.bijector.is_identity():
        return None
    loc = prior.args.get("loc", np.asarray(0.0))
    scale = prior.args.get("scale", np.asarray(1.0))
    if isinstance(loc, Expr) or isinstance(scale, Expr):
        raise SpecError(f"param {name!r}: a Laplace prior with parameter-dependent arguments "
                        "is not supported under MAP (its kink moves with the parameters)")
    shape = slot.shape
    scale_b = np.broadcast_to(np.asarray(scale, dtype=float), shape).reshape(-1)
    return L1Term(name, slot.slice, np.broadcast_to(np.asarray(loc, float), shape).reshape(-1),
                  1.0 / scale_b, float(np.sum(np.log(2.0 * scale_b))))


def _elastic_net_term(name: str, prior: ElasticNet, slot: ParamSlot) -> L1Term:
    """The L1 half of an elastic-net prior; its ridge half stays a smooth factor."""
    if not slot.bijector.is_identity():
        raise SpecError(f"param {name!r}: an ElasticNet prior needs an unconstrained "
                        "(real) parameter")
    shape = slot.shape
    a = {k: np.broadcast_to(np.asarray(prior.args[k], float), shape).reshape(-1)
         for k in ("loc", "l1", "l2")}
    return L1Term(name, slot.slice, a["loc"], a["l1"],
                  float(np.sum(elastic_net_log_norm(a["l1"], a["l2"]))))


def _layout(model: Model, sizes: Mapping[str, int]) -> Layout:
    slots = []
    start = 0
    for name, d in model.param_decls.items():
        shape = []
        for dim in d.handle.dims:
            if dim not in sizes:
                raise DataError(f"dim {dim!r} of param {name!r} has no size: no data variable "
                                f"has it; pass fit(..., dims={{{dim!r}: ...}})")
            shape.append(sizes[dim])
        bij = bijector_for(d.support, tuple(shape), name)
        slots.append(ParamSlot(name, d.handle.dims, tuple(shape), start, start + bij.size_u,
                               bij))
        start += bij.size_u
    return Layout(slots)
