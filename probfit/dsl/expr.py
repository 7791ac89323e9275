"""Expression nodes of the model DSL, with exact first and second derivatives.

Expressions are built with Python operators from the handles that ``Model.data`` and
``Model.param`` return (``X @ w + b``, ``mu[z]``, ``pf.exp(eta)``). Every node knows

* ``dims`` — its named dimensions (``None`` for an axis whose name is unknown);
* ``params`` — the names of the parameters it depends on;
* ``linear`` — whether it is affine in the unconstrained parameter vector;
* ``to_source()`` — the Python-syntax text stored in spec files (parsed back by
  :mod:`probfit.spec.parse`);

and, given an evaluation context (:class:`probfit.compile.context.Context`), computes its value,
its Jacobian with respect to each parameter's unconstrained coordinates (forward mode), and the
contraction ``Σ_i u_i ∇² value_i`` of its second derivatives with a weight array ``u``
(reverse mode), which the compiler needs for exact Hessians.

Jacobians are dicts ``{param: J}`` where ``J`` has shape ``value.shape + (k,)`` up to
broadcasting of the leading axes (an intercept's Jacobian stays shape ``(1,)``, never ``(n, 1)``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from probfit import numerics
from probfit.contract import bilinear, sum_to_shape
from probfit.errors import SpecError

if TYPE_CHECKING:
    from probfit.compile.context import Context

__all__ = [
    "Const",
    "Data",
    "Expr",
    "Func",
    "Param",
    "exp",
    "log",
    "log_softmax",
    "prepend_zero",
    "sigmoid",
    "softmax",
    "softplus",
]

Dims = tuple[str | None, ...]


def as_expr(x: Any) -> Expr:
    """Wrap a Python number (or array) as a :class:`Const`; pass expressions through."""
    if isinstance(x, Expr):
        return x
    if isinstance(x, (int, float, np.integer, np.floating)):
        return Const(float(x))
    if isinstance(x, np.ndarray) and x.ndim == 0:
        return Const(float(x))
    raise SpecError(
        f"cannot use {type(x).__name__} {x!r} in a model expression; declare arrays with "
        "m.data(...) and pass their values at fit time"
    )


def broadcast_dims(a: Dims, b: Dims, what: str) -> Dims:
    """Right-aligned broadcasting of named dims; a clash of two names is a SpecError."""
    n = max(len(a), len(b))
    a = (None,) * (n - len(a)) + tuple(a)
    b = (None,) * (n - len(b)) + tuple(b)
    out = []
    for da, db in zip(a, b, strict=True):
        if da is not None and db is not None and da != db:
            raise SpecError(f"{what}: dims {a} and {b} do not line up ({da!r} vs {db!r})")
        out.append(da if da is not None else db)
    return tuple(out)


def _full_jac(j: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(j, shape + j.shape[-1:])


def _cross(ctx: Context, ja: dict[str, np.ndarray], w: np.ndarray,
           jb: dict[str, np.ndarray]) -> None:
    """Add ``Σ_i w_i (∇a_i ∇b_iᵀ + ∇b_i ∇a_iᵀ)`` to the context Hessian."""
    for pa, a in ja.items():
        for pb, b in jb.items():
            block = bilinear(_full_jac(a, w.shape), w, _full_jac(b, w.shape))
            ctx.add_hess(pa, pb, block)
            ctx.add_hess(pb, pa, block.T)


def _outer_self(ctx: Context, ja: dict[str, np.ndarray], w: np.ndarray) -> None:
    """Add ``Σ_i w_i ∇a_i ∇a_iᵀ`` to the context Hessian."""
    names = list(ja)
    for i, pa in enumerate(names):
        for pb in names[i:]:
            block = bilinear(_full_jac(ja[pa], w.shape), w, _full_jac(ja[pb], w.shape))
            ctx.add_hess(pa, pb, block)
            if pa != pb:
                ctx.add_hess(pb, pa, block.T)


class Expr:
    """Base class of expression nodes."""

    dims: Dims = ()
    params: frozenset[str] = frozenset()
    linear: bool = True
    precedence: int = 100

    # -- operators ---------------------------------------------------------------
    def __add__(self, other: Any) -> Expr:
        return Add(self, as_expr(other))

    def __radd__(self, other: Any) -> Expr:
        return Add(as_expr(other), self)

    def __sub__(self, other: Any) -> Expr:
        return Sub(self, as_expr(other))

    def __rsub__(self, other: Any) -> Expr:
        return Sub(as_expr(other), self)

    def __mul__(self, other: Any) -> Expr:
        return Mul(self, as_expr(other))

    def __rmul__(self, other: Any) -> Expr:
        return Mul(as_expr(other), self)

    def __truediv__(self, other: Any) -> Expr:
        return Div(self, as_expr(other))

    def __rtruediv__(self, other: Any) -> Expr:
        return Div(as_expr(other), self)

    def __matmul__(self, other: Any) -> Expr:
        return MatMul(self, as_expr(other))

    def __rmatmul__(self, other: Any) -> Expr:
        return MatMul(as_expr(other), self)

    def __pow__(self, other: Any) -> Expr:
        if not isinstance(other, (int, float)):
            raise SpecError("exponents in model expressions must be numbers")
        return Pow(self, float(other))

    def __neg__(self) -> Expr:
        return Neg(self)

    def __pos__(self) -> Expr:
        return self

    def __getitem__(self, key: Any) -> Expr:
        return Index(self, key)

    def __bool__(self) -> bool:
        raise SpecError("model expressions have no truth value; they are evaluated at fit time")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.to_source()}>"

    def __str__(self) -> str:
        return self.to_source()

    # -- tree --------------------------------------------------------------------
    @property
    def children(self) -> tuple[Expr, ...]:
        return ()

    def walk(self):
        """Yield this node and every node below it (depth first)."""
        yield self
        for c in self.children:
            yield from c.walk()

    def to_source(self) -> str:
        raise NotImplementedError

    def _wrap(self, child: Expr, min_prec: int) -> str:
        src = child.to_source()
        return f"({src})" if child.precedence < min_prec else src

    # -- evaluation ----------------------------------------------------------------
    def value(self, ctx: Context) -> np.ndarray:
        key = id(self)
        out = ctx.values.get(key)
        if out is None:
            out = self._value(ctx)
            ctx.values[key] = out
        return out

    def jac(self, ctx: Context) -> dict[str, np.ndarray]:
        if not self.params:
            return {}
        key = id(self)
        out = ctx.jacs.get(key)
        if out is None:
            out = self._jac(ctx)
            ctx.jacs[key] = out
        return out

    def curv(self, ctx: Context, u: np.ndarray) -> None:
        """Add ``Σ_i u_i ∇² value_i`` (in unconstrained coordinates) to ``ctx``'s Hessian."""
        if self.params and not self.linear:
            self._curv(ctx, u)

    def _value(self, ctx: Context) -> np.ndarray:
        raise NotImplementedError

    def _jac(self, ctx: Context) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _curv(self, ctx: Context, u: np.ndarray) -> None:
        raise NotImplementedError


class Leaf(Expr):
    """A named leaf: data or parameter."""

    def __init__(self, name: str, dims: Dims) -> None:
        self.name = name
        self.dims = tuple(dims)

    def to_source(self) -> str:
        return self.name


class Data(Leaf):
    """Observed data or covariates, bound at fit time."""

    def _value(self, ctx: Context) -> np.ndarray:
        return ctx.data[self.name]


class Param(Leaf):
    """A parameter: its value is its bijector applied to a slice of the flat vector."""

    def __init__(self, name: str, dims: Dims, identity: bool) -> None:
        super().__init__(name, dims)
        self.params = frozenset({name})
        self.linear = identity

    def _value(self, ctx: Context) -> np.ndarray:
        return ctx.param_value(self.name)

    def _jac(self, ctx: Context) -> dict[str, np.ndarray]:
        return {self.name: ctx.param_jac(self.name)}

    def _curv(self, ctx: Context, u: np.ndarray) -> None:
        ctx.add_param_curv(self.name, u)


class Const(Expr):
    """A numeric constant."""

    def __init__(self, value: float) -> None:
        self.const = float(value)

    def to_source(self) -> str:
        return repr(self.const) if self.const >= 0 else f"({self.const!r})"

    def _value(self, ctx: Context) -> np.ndarray:
        return np.asarray(self.const)


class Binary(Expr):
    op = "?"

    def __init__(self, a: Expr, b: Expr) -> None:
        self.a, self.b = a, b
        self.params = a.params | b.params
        self.dims = self._dims()

    def _dims(self) -> Dims:
        return broadcast_dims(self.a.dims, self.b.dims, f"'{self.op}' in {self.to_source()}")

    @property
    def children(self) -> tuple[Expr, ...]:
        return (self.a, self.b)

    def to_source(self) -> str:
        return (f"{self._wrap(self.a, self.precedence)} {self.op} "
                f"{self._wrap(self.b, self.precedence + 1)}")


class Add(Binary):
    op, precedence = "+", 10

    def __init__(self, a: Expr, b: Expr) -> None:
        super().__init__(a, b)
        self.linear = a.linear and b.linear

    def _value(self, ctx):
        return self.a.value(ctx) + self.b.value(ctx)

    def _sign(self) -> float:
        return 1.0

    def _jac(self, ctx):
        ja, jb = self.a.jac(ctx), self.b.jac(ctx)
        out = dict(ja)
        s = self._sign()
        for p, j in jb.items():
            out[p] = out[p] + s * j if p in out else (j if s > 0 else -j)
        return out

    def _curv(self, ctx, u):
        self.a.curv(ctx, sum_to_shape(u, self.a.value(ctx).shape))
        self.b.curv(ctx, self._sign() * sum_to_shape(u, self.b.value(ctx).shape))


class Sub(Add):
    op, precedence = "-", 10

    def _value(self, ctx):
        return self.a.value(ctx) - self.b.value(ctx)

    def _sign(self) -> float:
        return -1.0


class Mul(Binary):
    op, precedence = "*", 20

    def __init__(self, a: Expr, b: Expr) -> None:
        super().__init__(a, b)
        self.linear = (a.linear and not b.params) or (b.linear and not a.params)

    def _value(self, ctx):
        return self.a.value(ctx) * self.b.value(ctx)

    def _jac(self, ctx):
        va, vb = self.a.value(ctx), self.b.value(ctx)
        out: dict[str, np.ndarray] = {}
        for p, j in self.a.jac(ctx).items():
            out[p] = vb[..., None] * j
        for p, j in self.b.jac(ctx).items():
            term = va[..., None] * j
            out[p] = out[p] + term if p in out else term
        return out

    def _curv(self, ctx, u):
        va, vb = self.a.value(ctx), self.b.value(ctx)
        self.a.curv(ctx, sum_to_shape(u * vb, va.shape))
        self.b.curv(ctx, sum_to_shape(u * va, vb.shape))
        if self.a.params and self.b.params:
            shape = np.broadcast_shapes(va.shape, vb.shape)
            _cross(ctx, self.a.jac(ctx), np.broadcast_to(u, shape), self.b.jac(ctx))


class Div(Binary):
    op, precedence = "/", 20

    def __init__(self, a: Expr, b: Expr) -> None:
        super().__init__(a, b)
        self.linear = a.linear and not b.params

    def _value(self, ctx):
        return self.a.value(ctx) / self.b.value(ctx)

    def _jac(self, ctx):
        va, vb = self.a.value(ctx), self.b.value(ctx)
        out: dict[str, np.ndarray] = {}
        for p, j in self.a.jac(ctx).items():
            out[p] = j / vb[..., None]
        for p, j in self.b.jac(ctx).items():
            term = -(va / vb**2)[..., None] * j
            out[p] = out[p] + term if p in out else term
        return out

    def _curv(self, ctx, u):
        va, vb = self.a.value(ctx), self.b.value(ctx)
        self.a.curv(ctx, sum_to_shape(u / vb, va.shape))
        self.b.curv(ctx, sum_to_shape(-u * va / vb**2, vb.shape))
        shape = np.broadcast_shapes(va.shape, vb.shape, u.shape)
        if self.b.params:
            jb = self.b.jac(ctx)
            _outer_self(ctx, jb, np.broadcast_to(2.0 * u * va / vb**3, shape))
            if self.a.params:
                _cross(ctx, self.a.jac(ctx), np.broadcast_to(-u / vb**2, shape), jb)


class Neg(Expr):
    precedence = 30

    def __init__(self, a: Expr) -> None:
        self.a = a
        self.params, self.dims, self.linear = a.params, a.dims, a.linear

    @property
    def children(self):
        return (self.a,)

    def to_source(self):
        return f"-{self._wrap(self.a, self.precedence)}"

    def _value(self, ctx):
        return -self.a.value(ctx)

    def _jac(self, ctx):
        return {p: -j for p, j in self.a.jac(ctx).items()}

    def _curv(self, ctx, u):
        self.a.curv(ctx, -u)


class MatMul(Binary):
    """Matrix product of 1-d/2-d operands (``X @ w``, ``X @ W``, ``w @ v``)."""

    op, precedence = "@", 20

    def __init__(self, a: Expr, b: Expr) -> None:
        super().__init__(a, b)
        self.linear = (a.linear and not b.params) or (b.linear and not a.params)

    def _dims(self) -> Dims:
        da, db = self.a.dims, self.b.dims
        if len(da) not in (1, 2) or len(db) not in (1, 2):
            raise SpecError(f"'@' in {self.to_source()} needs 1-d or 2-d operands, "
                            f"got dims {da} and {db}")
        inner_a, inner_b = da[-1], db[0]
        if inner_a is not None and inner_b is not None and inner_a != inner_b:
            raise SpecError(f"'@' in {self.to_source()}: the contracted dims differ "
                            f"({inner_a!r} vs {inner_b!r})")
        return tuple(da[:-1]) + tuple(db[1:])

    def _value(self, ctx):
        return self.a.value(ctx) @ self.b.value(ctx)

    def _jac(self, ctx):
        va, vb = self.a.value(ctx), self.b.value(ctx)
        out: dict[str, np.ndarray] = {}
        if self.b.params:
            if isinstance(self.b, Param):
                out.update(self._param_right(ctx, va))
            else:
                for p, j in self.b.jac(ctx).items():
                    jf = _full_jac(j, vb.shape)
                    out[p] = np.einsum("...j,jK->...K", va, jf) if vb.ndim == 1 else \
                        np.einsum("...j,jcK->...cK", va, jf)
        if self.a.params:
            for p, j in self.a.jac(ctx).items():
                jf = _full_jac(j, va.shape)
                term = np.einsum("...jK,j->...K", jf, vb) if vb.ndim == 1 else \
                    np.einsum("...jK,jc->...cK", jf, vb)
                out[p] = out[p] + term if p in out else term
        return out

    def _param_right(self, ctx, va):
        """``A @ w`` with ``w`` a parameter: the Jacobian is ``A`` scaled by the bijector."""
        name = self.b.name
        bij = ctx.bijector(name)
        shape = bij.shape
        if not bij.elementwise:
            jf = ctx.param_jac(name)
            return {name: np.einsum("...j,jK->...K", va, jf)}
        d = bij.d1(ctx.raw(name))
        if len(shape) == 1:
            return {name: va if bij.is_identity() else va * d}
        # W of shape (p, c): d(A @ W)[..., c, (j, c')] = A[..., j] d[j, c] δ(c, c')
        p, c = shape
        eye = np.eye(c)
        jac = va[..., None, :, None] * (d.T[:, :, None] * eye[:, None, :])
        return {name: jac.reshape((*va.shape[:-1], c, p * c))}

    def _curv(self, ctx, u):
        va, vb = self.a.value(ctx), self.b.value(ctx)
        u2 = u[..., None] if vb.ndim == 1 else u  # (..., c)
        if self.b.params:
            ub = va.reshape(-1, va.shape[-1]).T @ u2.reshape(-1, u2.shape[-1])
            self.b.curv(ctx, ub[:, 0] if vb.ndim == 1 else ub)
        if self.a.params:
            vb2 = vb[:, None] if vb.ndim == 1 else vb
            self.a.curv(ctx, u2 @ vb2.T)
        if self.a.params and self.b.params:
            ja, jb = self.a.jac(ctx), self.b.jac(ctx)
            for pa, a in ja.items():
                af = _full_jac(a, va.shape)
                for pb, b in jb.items():
                    bf = _full_jac(b, vb.shape)
                    bf2 = bf[:, None, :] if vb.ndim == 1 else bf
                    block = np.einsum("mc,mjA,jcB->AB", u2.reshape(-1, u2.shape[-1]),
                                      af.reshape((-1, *af.shape[-2:])), bf2)
                    ctx.add_hess(pa, pb, block)
                    ctx.add_hess(pb, pa, block.T)


class Pow(Expr):
    precedence = 40

    def __init__(self, a: Expr, power: float) -> None:
        self.a, self.power = a, power
        self.params, self.dims = a.params, a.dims
        self.linear = not a.params or (power == 1.0 and a.linear)

    @property
    def children(self):
        return (self.a,)

    def to_source(self):
        return f"{self._wrap(self.a, self.precedence + 1)} ** {self.power!r}"

    def _value(self, ctx):
        return self.a.value(ctx) ** self.power

    def _d(self, x):
        q = self.power
        return q * x ** (q - 1.0), q * (q - 1.0) * x ** (q - 2.0)

    def _jac(self, ctx):
        d1, _ = self._d(self.a.value(ctx))
        return {p: d1[..., None] * j for p, j in self.a.jac(ctx).items()}

    def _curv(self, ctx, u):
        d1, d2 = self._d(self.a.value(ctx))
        self.a.curv(ctx, u * d1)
        _outer_self(ctx, self.a.jac(ctx), np.broadcast_to(u * d2, np.shape(u)))


def _exp_d(x):
    e = np.exp(x)
    return e, e, e


def _log_d(x):
    return np.log(x), 1.0 / x, -1.0 / x**2


def _sigmoid_d(x):
    s = numerics.sigmoid(x)
    d = s * (1.0 - s)
    return s, d, d * (1.0 - 2.0 * s)


def _softplus_d(x):
    s = numerics.sigmoid(x)
    return numerics.softplus(x), s, s * (1.0 - s)


_FUNCS = {"exp": _exp_d, "log": _log_d, "sigmoid": _sigmoid_d, "softplus": _softplus_d}


class Func(Expr):
    """An elementwise function: value, first and second derivative in one call."""

    def __init__(self, fname: str, a: Expr) -> None:
        if fname not in _FUNCS:
            raise SpecError(f"unknown function {fname!r}; expected one of {sorted(_FUNCS)}")
        self.fname, self.a = fname, as_expr(a)
        self.params, self.dims = self.a.params, self.a.dims
        self.linear = not self.a.params

    @property
    def children(self):
        return (self.a,)

    def to_source(self):
        return f"{self.fname}({self.a.to_source()})"

    def _all(self, ctx):
        key = ("d", id(self))
        out = ctx.values.get(key)
        if out is None:
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                out = _FUNCS[self.fname](self.a.value(ctx))
            ctx.values[key] = out
        return out

    def _value(self, ctx):
        return self._all(ctx)[0]

    def _jac(self, ctx):
        d1 = self._all(ctx)[1]
        return {p: d1[..., None] * j for p, j in self.a.jac(ctx).items()}

    def _curv(self, ctx, u):
        _, d1, d2 = self._all(ctx)
        self.a.curv(ctx, u * d1)
        _outer_self(ctx, self.a.jac(ctx), np.broadcast_to(u * d2, np.shape(u)))


class VectorFunc(Expr):
    """A function along the last axis: softmax, log_softmax, prepend_zero."""

    def __init__(self, fname: str, a: Expr) -> None:
        self.fname, self.a = fname, as_expr(a)
        self.params = self.a.params
        self.dims = (*tuple(self.a.dims[:-1]), None) if fname == "prepend_zero" else self.a.dims
        self.linear = not self.a.params or (fname == "prepend_zero" and self.a.linear)
        if not self.a.dims:
            raise SpecError(f"{fname}() needs an argument with at least one dim")

    @property
    def children(self):
        return (self.a,)

    def to_source(self):
        return f"{self.fname}({self.a.to_source()})"

    def _value(self, ctx):
        x = self.a.value(ctx)
        if self.fname == "softmax":
            return numerics.softmax(x)
        if self.fname == "log_softmax":
            return numerics.log_softmax(x)
        return np.concatenate([np.zeros((*x.shape[:-1], 1)), x], axis=-1)

    def _jac(self, ctx):
        x = self.a.value(ctx)
        out = {}
        for p, j in self.a.jac(ctx).items():
            jf = _full_jac(j, x.shape)
            if self.fname == "prepend_zero":
                out[p] = np.concatenate([np.zeros((*jf.shape[:-2], 1, jf.shape[-1])), jf],
                                        axis=-2)
                continue
            s = numerics.softmax(x)
            mean_j = np.einsum("...k,...kK->...K", s, jf)[..., None, :]
            centred = jf - mean_j
            out[p] = s[..., None] * centred if self.fname == "softmax" else centred
        return out

    def _curv(self, ctx, u):
        if self.fname == "prepend_zero":
            self.a.curv(ctx, u[..., 1:])
            return
        x = self.a.value(ctx)
        s = numerics.softmax(x)
        ja = self.a.jac(ctx)
        if self.fname == "softmax":
            ubar = np.sum(u * s, axis=-1, keepdims=True)
            self.a.curv(ctx, s * (u - ubar))
            m = (np.einsum("...j,jk->...jk", s * (u - ubar), np.eye(s.shape[-1]))
                 - s[..., :, None] * s[..., None, :] * (u[..., :, None] + u[..., None, :]
                                                        - 2.0 * ubar[..., None]))
        else:
            usum = np.sum(u, axis=-1, keepdims=True)
            self.a.curv(ctx, u - s * usum)
            m = -usum[..., None] * (np.einsum("...j,jk->...jk", s, np.eye(s.shape[-1]))
                                    - s[..., :, None] * s[..., None, :])
        names = list(ja)
        for i, pa in enumerate(names):
            for pb in names[i:]:
                block = bilinear(_full_jac(ja[pa], x.shape), m, _full_jac(ja[pb], x.shape),
                                 1, 1)
                ctx.add_hess(pa, pb, block)
                if pa != pb:
                    ctx.add_hess(pb, pa, block.T)


class Index(Expr):
    """Indexing by integers, slices, or integer data (``mu[z]``, ``X[:, 0]``)."""

    precedence = 50

    def __init__(self, a: Expr, key: Any) -> None:
        self.a = a
        key = key if isinstance(key, tuple) else (key,)
        norm: list[Any] = []
        for k in key:
            if isinstance(k, Expr):
                if k.params:
                    raise SpecError(f"index {k.to_source()} of {a.to_source()} depends on "
                                    "parameters; indices must be data or integers")
                norm.append(k)
            elif isinstance(k, (int, np.integer)):
                norm.append(int(k))
            elif isinstance(k, slice):
                if any(v is not None and not isinstance(v, int)
                       for v in (k.start, k.stop, k.step)):
                    raise SpecError("slice bounds in model expressions must be integers")
                norm.append(k)
            else:
                raise SpecError(f"cannot index {a.to_source()} with {k!r}; use integers, "
                                "slices or integer data")
        if len(norm) > len(a.dims):
            raise SpecError(f"{a.to_source()} has {len(a.dims)} dims but is indexed with "
                            f"{len(norm)}")
        self.key = tuple(norm)
        self.params = a.params
        self.linear = a.linear
        dims: list[str | None] = []
        arrays = [k for k in norm if isinstance(k, Expr)]
        if len(arrays) > 1:
            raise SpecError("only one integer-data index per indexing expression is supported")
        for k, d in zip(norm, a.dims, strict=False):
            if isinstance(k, Expr):
                dims.extend(k.dims)
            elif isinstance(k, slice):
                dims.append(d if k == slice(None) else None)
        dims.extend(a.dims[len(norm):])
        self.dims = tuple(dims)

    @property
    def children(self):
        return (self.a, *[k for k in self.key if isinstance(k, Expr)])

    def to_source(self):
        parts = []
        for k in self.key:
            if isinstance(k, Expr):
                parts.append(k.to_source())
            elif isinstance(k, slice):
                parts.append(":".join("" if v is None else str(v)
                                      for v in (k.start, k.stop, k.step)).rstrip(":") or ":")
            else:
                parts.append(str(k))
        return f"{self._wrap(self.a, self.precedence)}[{', '.join(parts)}]"

    def _np_key(self, ctx):
        return tuple(k.value(ctx).astype(np.intp) if isinstance(k, Expr) else k
                     for k in self.key)

    def _value(self, ctx):
        return self.a.value(ctx)[self._np_key(ctx)]

    def _jac(self, ctx):
        va = self.a.value(ctx)
        key = self._np_key(ctx)
        return {p: _full_jac(j, va.shape)[key] for p, j in self.a.jac(ctx).items()}

    def _curv(self, ctx, u):
        va = self.a.value(ctx)
        full = np.zeros(va.shape)
        np.add.at(full, self._np_key(ctx), u)
        self.a.curv(ctx, full)


def exp(x: Any) -> Expr:
    """Elementwise ``exp`` of an expression."""
    return Func("exp", x)


def log(x: Any) -> Expr:
    """Elementwise natural logarithm of an expression."""
    return Func("log", x)


def sigmoid(x: Any) -> Expr:
    """Elementwise logistic function of an expression."""
    return Func("sigmoid", x)


def softplus(x: Any) -> Expr:
    """Elementwise ``log(1 + exp(x))`` of an expression."""
    return Func("softplus", x)


def softmax(x: Any) -> Expr:
    """Softmax along the last axis."""
    return VectorFunc("softmax", x)


def log_softmax(x: Any) -> Expr:
    """Log-softmax along the last axis."""
    return VectorFunc("log_softmax", x)


def prepend_zero(x: Any) -> Expr:
    """Prepend a column of zeros along the last axis (a reference category's logit)."""
    return VectorFunc("prepend_zero", x)
