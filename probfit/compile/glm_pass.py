"""A GLM-shaped likelihood term evaluated in one pass over its design matrix.

A likelihood term is *GLM-shaped* when its only parameter-dependent argument is a linear
predictor, one value per row,

    η = c + X β + Σ_j r_j γ_j,

with ``X`` a data matrix (the design), ``β`` an unconstrained parameter, ``c`` a
parameter-free offset and ``γ_j`` unconstrained parameters whose Jacobian rows ``r_j`` are
the same for every row (an intercept). Its log-likelihood, gradient and Hessian then need the
rows of ``X`` only through ``X_b β`` and the products ``X_bᵀ s_b``, ``X_bᵀ w_b X_b`` of each
block of rows ``b``, where ``s`` and ``w`` are the per-row first and second derivatives with
respect to ``η``. :func:`glm_pass` computes them block by block while the block is in cache:
``η``, the distribution's value and derivatives, the Gram and score products, so that one
evaluation reads ``X`` from memory once. The blocks are spread over the cores
(:func:`probfit.contract.over_row_ranges`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from probfit.compile.context import Context, Layout
from probfit.contract import add_gram, block_rows, is_const, over_row_ranges
from probfit.distributions._core import Family
from probfit.dsl.expr import Add, Expr, MatMul, Param, Sub

__all__ = ["GLMPlan", "GLMTerms", "as_rows", "glm_pass", "glm_plan"]


@dataclass(frozen=True)
class GLMPlan:
    """How a GLM-shaped term's linear predictor is made (see the module docstring)."""

    arg: str  # the distribution argument that is η
    eta: Expr
    design_param: str
    design: np.ndarray  # (n, k) float64, the Jacobian of η with respect to design_param
    rows: dict[str, np.ndarray]  # constant Jacobian rows r_j, by parameter
    offset: float | np.ndarray  # c: a number or one value per row
    x: np.ndarray  # the observed values, one per row
    fixed: dict[str, np.ndarray]  # the distribution's other arguments: numbers or per row
    base: float  # Σ of the terms of log p that depend on x and fixed only (Family.log_base)


@dataclass
class GLMTerms:
    """What one pass returns: ``Σ log p``, ``η``, and (as asked) ``Xᵀs``, ``Σs``, ``XᵀwX``,
    ``Xᵀw`` and ``Σw`` with ``s = ∂ log p/∂η`` and ``w = ∂² log p/∂η²`` (observed or
    expected)."""

    total: float
    eta: np.ndarray
    xs: np.ndarray | None = None
    sum_s: float = 0.0
    xwx: np.ndarray | None = None
    xw: np.ndarray | None = None
    sum_w: float = 0.0


#: Blocks whose row terms one call computes when the linear predictor is the same on every
#: row (a mean start): their temporaries stay within a few MB, and the calls are 16× fewer.
_UNIFORM_BLOCKS = 16


def _terms(e: Expr, sign: float = 1.0) -> list[tuple[float, Expr]] | None:
    """``e`` as a signed sum of terms (``None`` if a sum is nested in something else)."""
    if isinstance(e, Add):
        a = _terms(e.a, sign)
        b = _terms(e.b, -sign if isinstance(e, Sub) else sign)
        return None if a is None or b is None else a + b
    return [(sign, e)]


def as_rows(a: np.ndarray | float, shape: tuple[int, ...]) -> np.ndarray:
    """``a`` (a row term of :meth:`~probfit.distributions._core.Family.row_terms`) as one float
    per row: itself when it is one already, else a new array, never a broadcast view (BLAS
    cannot read a vector of stride 0: ``Xᵀw`` on a 5242-row block took 7 times as long with the
    normal's constant curvature broadcast)."""
    if isinstance(a, np.ndarray) and a.shape == shape and a.dtype == np.float64:
        return a
    out = np.empty(shape)
    out[...] = a
    return out


def _row_shaped(v: np.ndarray, n: int) -> bool:
    return np.ndim(v) == 0 or np.shape(v) == (1,) or np.shape(v) == (n,)


def glm_plan(layout: Layout, dist: Family, value: Expr,
             args: Mapping[str, Expr | np.ndarray], data: Mapping[str, np.ndarray]
             ) -> GLMPlan | None:
    """The plan of the likelihood term ``value ~ dist(**args)`` on ``data``, or ``None`` when the
    term is not GLM-shaped with a dense float64 design.

    Built once per objective: the offset ``c`` and the rows ``r_j`` are evaluated at ``θ = 0``
    from every term of ``η`` but the design's (whose contribution there is exactly zero), so
    the design is not read."""
    if not isinstance(dist, Family) or dist.event_ndim != 0 or value.params:
        return None
    varying = [k for k, v in args.items()
               if isinstance(v, Expr) and v.params and k not in dist.nondiff]
    if len(varying) != 1:
        return None
    arg = varying[0]
    eta = args[arg]
    if not eta.linear or (terms := _terms(eta)) is None:
        return None
    ctx = Context(layout, np.zeros(layout.size), data)
    x = np.asarray(value.value(ctx), dtype=float)
    if x.ndim != 1:
        return None
    n = x.shape[0]
    design = None
    offset: float | np.ndarray = 0.0
    rows: dict[str, np.ndarray] = {}
    for sign, t in terms:
        if (design is None and sign > 0 and isinstance(t, MatMul) and isinstance(t.b, Param)
                and not t.a.params and len(layout[t.b.name].shape) == 1
                and t.b.name not in rows):
            a = t.a.value(ctx)
            if not (isinstance(a, np.ndarray) and a.dtype == np.float64 and a.shape[:1] == (n,)
                    and a.ndim == 2 and a.flags.c_contiguous):
                return None
            design = (t.b.name, a)
            continue
        if t.params:
            for name, j in t.jac(ctx).items():
                if not is_const(j) or (design is not None and name == design[0]):
                    return None
                r = sign * np.asarray(j, dtype=float).reshape(-1, j.shape[-1])[0]
                rows[name] = rows[name] + r if name in rows else r
        offset = offset + sign * np.asarray(t.value(ctx), dtype=float)
    if design is None or design[0] in rows:
        return None
    if not _row_shaped(offset, n):
        return None
    offset = float(np.reshape(offset, -1)[0]) if np.size(offset) == 1 else offset
    if any(isinstance(v, Expr) and v.params for k, v in args.items() if k != arg):
        return None  # a parameter-dependent argument that is never differentiated
    fixed = {k: (v.value(ctx) if isinstance(v, Expr) else v)
             for k, v in args.items() if k != arg}
    if not all(_row_shaped(v, n) for v in fixed.values()):
        return None
    base = float(np.sum(np.broadcast_to(dist.log_base(x, fixed), x.shape)))
    return GLMPlan(arg, eta, design[0], design[1], rows, offset, x, fixed, base)


def _equal_weights(out: GLMTerms, block: np.ndarray, s: np.ndarray, w: float) -> None:
    """Add one block's products into ``out`` when every row has the same curvature ``w`` (the
    linear predictor is the same on every row, as at the mean start): ``XᵀwX = w·XᵀX`` is one
    ``syrk`` on the rows as they are, with no scaled copy, after ``Xᵀs`` and ``Xᵀ1`` (two
    ``gemv``) have brought the block into cache."""
    out.xs += block.T @ s
    out.xw += w * (block.T @ np.ones(block.shape[0]))
    out.xwx += w * (block.T @ block)
    out.sum_s += float(np.sum(s))
    out.sum_w += w * block.shape[0]


def _rows_of(t: np.ndarray | float | None, a: int, b: int, size: int
             ) -> np.ndarray | float | None:
    """Rows ``a:b`` of a row term computed for ``size`` rows (one that does not vary by row
    is itself)."""
    return t[a:b] if np.shape(t)[:1] == (size,) else t


def _add_block(out: GLMTerms, block: np.ndarray,
               lp: np.ndarray | float, d1: np.ndarray | float | None,
               d2: np.ndarray | float | None, order: int, uniform: bool,
               work: np.ndarray | None) -> None:
    """Add one block's value and, as ``order`` asks, its score and curvature products."""
    shape = block.shape[:1]
    out.total += float(as_rows(lp, shape).sum())
    if order == 0:
        return
    s = as_rows(d1, shape)
    if order == 1:
        out.xs += block.T @ s
        out.sum_s += float(s.sum())
        return
    w = as_rows(d2, shape)
    if uniform and np.all(w == w[0]):
        _equal_weights(out, block, s, float(w[0]))
        return
    add_gram(out.xwx, block, w, work, ((out.xs, s), (out.xw, w)))
    out.sum_s += float(np.sum(s))
    out.sum_w += float(np.sum(w))


def glm_pass(plan: GLMPlan, dist: Family, layout: Layout, theta: np.ndarray,
             order: int, hessian: str = "observed",
             along: tuple[np.ndarray, np.ndarray, float] | None = None) -> GLMTerms:
    """Evaluate the term of ``plan`` at ``theta``: its value always, the gradient products for
    ``order >= 1`` and the Hessian products for ``order == 2`` (``hessian="expected"``: the
    Fisher information in place of the observed curvature).

    ``along = (η₀, u, α)``: ``theta`` is a point of a line search (:meth:`Objective.line`)
    whose ``η`` is ``η₀ + α·u`` row by row (the line's own arithmetic), so the design is not
    multiplied for it."""
    x_mat, arg = plan.design, plan.arg
    n, k = x_mat.shape
    beta = np.ascontiguousarray(theta[layout[plan.design_param].slice])
    shift = sum(float(r @ theta[layout[name].slice]) for name, r in plan.rows.items())
    offset = plan.offset if isinstance(plan.offset, np.ndarray) else None
    shift += plan.offset if offset is None else 0.0
    per_row = {name: v for name, v in plan.fixed.items() if np.shape(v) == (n,)}
    eta = np.empty(n)
    rows = min(n, block_rows(k))
    moving = bool(np.any(beta))  # at β = 0 (a start) the design adds nothing to η
    # the same η on every row (a line's η is its own arithmetic, so it is never taken as such)
    uniform = not moving and along is None and offset is None and not per_row

    def part(lo: int, hi: int) -> GLMTerms:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # per thread
            return blocks(lo, hi)

    def blocks(lo: int, hi: int) -> GLMTerms:
        out = GLMTerms(0.0, eta)
        work = np.empty((rows, k)) if order >= 2 else None
        if order >= 1:
            out.xs = np.zeros(k)
        if order >= 2:
            out.xwx, out.xw = np.zeros((k, k)), np.zeros(k)
        # with one η on every row, the row terms of several blocks come from one call (one
        # row's η stands for all): a block's many short calls are what the threads queue for
        span = rows * _UNIFORM_BLOCKS if uniform else rows
        for first in range(lo, hi, span):
            last = min(hi, first + span)
            if uniform:
                eta[first:last].fill(shift)
                vals = dict(plan.fixed, **{arg: eta[first:first + 1]})
                terms = dist.row_terms(plan.x[first:last], vals, arg, order, hessian,
                                       base=False)
            for start in range(first, last, rows):
                stop = min(last, start + rows)
                if uniform:
                    lp, d1, d2 = (_rows_of(t, start - first, stop - first, last - first)
                                  for t in terms)
                else:
                    lp, d1, d2 = block_terms(start, stop)
                _add_block(out, x_mat[start:stop], lp, d1, d2, order, uniform,
                           work[: stop - start] if work is not None else None)
        return out

    def block_terms(start: int, stop: int) -> tuple:
        """The row terms of rows ``start:stop`` at their own ``η`` (written into ``eta``)."""
        e = eta[start:stop]
        if along is not None:
            np.multiply(along[1][start:stop], along[2], out=e)
            e += along[0][start:stop]
        else:
            if moving:
                np.matmul(x_mat[start:stop], beta, out=e)
                e += shift
            else:
                e.fill(shift)
            if offset is not None:
                e += offset[start:stop]
        vals = dict(plan.fixed, **{name: v[start:stop] for name, v in per_row.items()})
        vals[arg] = e
        return dist.row_terms(plan.x[start:stop], vals, arg, order, hessian, base=False)

    parts = over_row_ranges(x_mat, part)
    done = parts[0]
    done.total += plan.base
    for q in parts[1:]:
        done.total += q.total
        done.sum_s += q.sum_s
        done.sum_w += q.sum_w
        if order >= 1:
            done.xs += q.xs
        if order >= 2:
            done.xwx += q.xwx
            done.xw += q.xw
    return done
