"""Bijectors from an unconstrained flat vector to a parameter's constrained space.

Each bijector maps ``u`` (1-d, length ``size_u``) to a constrained array ``x`` of the
parameter's shape and provides exact first and second derivatives:

* ``forward(u)`` → ``x``; ``inverse(x)`` → ``u``;
* ``jac(u)`` → array of shape ``x.shape + (size_u,)``;
* ``curv(u, g)`` → ``Σ_i g_i ∇²x_i(u)``, a ``(size_u, size_u)`` matrix;
* ``log_det(u)``, ``log_det_grad(u)``, ``log_det_hess(u)``: the log-absolute-determinant of the
  Jacobian (for the Jacobian-adjusted MAP and for VI) and its derivatives.

Elementwise bijectors also expose ``d1(u)`` (the diagonal of the Jacobian, shaped like ``x``) so
callers can avoid forming diagonal matrices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from probfit.distributions.constraints import Constraint
from probfit.errors import SpecError
from probfit.numerics import log_sigmoid, sigmoid, softmax

__all__ = ["ALRSimplex", "Bijector", "Exp", "Identity", "Interval", "bijector_for"]


@dataclass(frozen=True)
class Bijector:
    """Base class; ``shape`` is the constrained shape of the parameter."""

    shape: tuple[int, ...]
    elementwise = True

    @property
    def size_u(self) -> int:
        return int(np.prod(self.shape, dtype=int))

    # elementwise bijectors implement _f, _d1, _d2, _inv, _ld, _ld1, _ld2 on flat arrays
    def forward(self, u: np.ndarray) -> np.ndarray:
        return self._f(u).reshape(self.shape)

    def inverse(self, x: np.ndarray) -> np.ndarray:
        return self._inv(np.asarray(x, dtype=float).reshape(-1))

    def d1(self, u: np.ndarray) -> np.ndarray:
        return self._d1(u).reshape(self.shape)

    def jac(self, u: np.ndarray) -> np.ndarray:
        return np.diag(self._d1(u)).reshape((*self.shape, self.size_u))

    def curv(self, u: np.ndarray, g: np.ndarray) -> np.ndarray:
        return np.diag(np.reshape(g, -1) * self._d2(u))

    def log_det(self, u: np.ndarray) -> float:
        return float(np.sum(self._ld(u)))

    def log_det_grad(self, u: np.ndarray) -> np.ndarray:
        return self._ld1(u)

    def log_det_hess(self, u: np.ndarray) -> np.ndarray:
        return np.diag(self._ld2(u))

    def is_identity(self) -> bool:
        return False


class Identity(Bijector):
    """Unconstrained real parameters."""

    def _f(self, u):
        return np.asarray(u, dtype=float)

    def _inv(self, x):
        return x

    def _d1(self, u):
        return np.ones_like(u)

    def _d2(self, u):
        return np.zeros_like(u)

    def _ld(self, u):
        return np.zeros_like(u)

    _ld1 = _ld
    _ld2 = _ld

    def is_identity(self) -> bool:
        return True


@dataclass(frozen=True)
class Exp(Bijector):
    """``x = lower + exp(u)``: positive (``lower=0``) or lower-bounded parameters."""

    lower: float = 0.0

    def _f(self, u):
        return self.lower + np.exp(u)

    def _inv(self, x):
        return np.log(x - self.lower)

    def _d1(self, u):
        return np.exp(u)

    _d2 = _d1

    def _ld(self, u):
        return np.asarray(u, dtype=float)

    def _ld1(self, u):
        return np.ones_like(u)

    def _ld2(self, u):
        return np.zeros_like(u)


@dataclass(frozen=True)
class Interval(Bijector):
    """``x = lower + (upper - lower) * sigmoid(u)``: the unit interval and other intervals."""

    lower: float = 0.0
    upper: float = 1.0

    def _f(self, u):
        return self.lower + (self.upper - self.lower) * sigmoid(u)

    def _inv(self, x):
        t = (x - self.lower) / (self.upper - self.lower)
        return np.log(t) - np.log1p(-t)

    def _d1(self, u):
        s = sigmoid(u)
        return (self.upper - self.lower) * s * (1.0 - s)

    def _d2(self, u):
        s = sigmoid(u)
        return (self.upper - self.lower) * s * (1.0 - s) * (1.0 - 2.0 * s)

    def _ld(self, u):
        return np.log(self.upper - self.lower) + log_sigmoid(u) + log_sigmoid(-u)

    def _ld1(self, u):
        return 1.0 - 2.0 * sigmoid(u)

    def _ld2(self, u):
        s = sigmoid(u)
        return -2.0 * s * (1.0 - s)


@dataclass(frozen=True)
class ALRSimplex(Bijector):
    """Simplex of ``K`` entries from ``K-1`` free coordinates: ``x = softmax([u, 0])``.

    The last category is the reference. The Jacobian determinant is ``prod(x)`` over all ``K``
    entries, so ``log_det = sum(log x)``. Only 1-d simplex parameters are supported.
    """

    elementwise = False

    @property
    def size_u(self) -> int:
        return self.shape[-1] - 1

    def _full(self, u):
        return softmax(np.append(np.asarray(u, dtype=float), 0.0))

    def forward(self, u):
        return self._full(u)

    def inverse(self, x):
        x = np.asarray(x, dtype=float)
        return np.log(x[:-1]) - np.log(x[-1])

    def jac(self, u):
        x = self._full(u)
        k = self.size_u
        return (np.eye(self.shape[-1], k) - x[None, :k]) * x[:, None]

    def curv(self, u, g):
        # d2 x_i / du_j du_k = x_i[(d_ij - x_j)(d_ik - x_k) - x_j(d_jk - x_k)]
        x = self._full(u)
        g = np.reshape(g, -1)
        k = self.size_u
        gbar = float(g @ x)
        xs = x[:k]
        gs = g[:k]
        m = np.diag(xs * (gs - gbar)) - np.outer(xs, xs) * (gs[:, None] + gs[None, :] - 2 * gbar)
        return m

    def log_det(self, u):
        return float(np.sum(np.log(self._full(u))))

    def log_det_grad(self, u):
        x = self._full(u)
        return 1.0 - self.shape[-1] * x[:-1]

    def log_det_hess(self, u):
        x = self._full(u)[:-1]
        return -self.shape[-1] * (np.diag(x) - np.outer(x, x))


def bijector_for(constraint: Constraint, shape: tuple[int, ...], name: str) -> Bijector:
    """The bijector that maps the real line onto ``constraint`` for a parameter of ``shape``."""
    cname = constraint.name
    if cname in ("real", "real_vector"):
        return Identity(shape)
    if cname in ("positive", "positive_vector"):
        return Exp(shape)
    if cname in ("unit_interval", "interval") and constraint.lower is not None \
            and constraint.upper is not None:
        return Interval(shape, constraint.lower, constraint.upper)
    if constraint.lower is not None and constraint.upper is None and not constraint.discrete:
        return Exp(shape, constraint.lower)
    if cname == "simplex":
        if len(shape) != 1 or shape[0] < 2:
            raise SpecError(f"parameter {name!r}: a simplex must be 1-d with at least 2 entries,"
                            f" got shape {shape}")
        return ALRSimplex(shape)
    if cname == "spd":
        from probfit.transforms.spd import CholeskySPD

        if len(shape) < 2 or shape[-1] != shape[-2]:
            raise SpecError(f"parameter {name!r}: an spd parameter needs square trailing dims "
                            f"(..., d, d), got shape {shape}")
        return CholeskySPD(shape)
    raise SpecError(f"parameter {name!r}: no bijector for support {cname!r}"
                    " (discrete parameters need latent-variable treatment)")
