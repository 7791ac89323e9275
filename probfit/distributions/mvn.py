"""The multivariate normal distribution with a full covariance matrix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from probfit.distributions._core import Family, Pair, Thunk, Vals, require, size_tuple
from probfit.distributions.constraints import Constraint, real_vector
from probfit.errors import DistributionError

__all__ = ["MultivariateNormal", "spd"]

_LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class _SymmetricPositiveDefinite(Constraint):
    """Symmetric positive-definite matrices on the last two axes."""

    def check(self, x: np.ndarray) -> np.ndarray:
        """Boolean mask over the leading axes: which matrices are SPD."""
        x = np.asarray(x, dtype=float)
        if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
            return np.zeros(x.shape[:-2] if x.ndim >= 2 else x.shape, dtype=bool)
        finite = np.isfinite(x).all(axis=(-1, -2))
        sym = np.abs(x - np.swapaxes(x, -1, -2)).max(axis=(-1, -2), initial=0.0) \
            <= 1e-8 * np.maximum(1.0, np.abs(x).max(axis=(-1, -2), initial=0.0))
        ok = finite & sym
        flat = x.reshape(-1, *x.shape[-2:])
        pos = np.array([bool(o) and _is_pd(m) for o, m in zip(ok.reshape(-1), flat,
                                                            strict=True)])
        return pos.reshape(ok.shape)

    def describe(self) -> str:
        return "a symmetric positive-definite matrix"


def _is_pd(m: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(m)
    except np.linalg.LinAlgError:
        return False
    return True


spd = _SymmetricPositiveDefinite("spd", event_ndim=2)
"""The symmetric positive-definite matrices (covariances)."""


class MultivariateNormal(Family):
    r"""Multivariate normal distribution of a ``d``-vector.

    .. math:: \log p(x) = -\tfrac{d}{2}\log 2\pi - \tfrac12 \log|\Sigma|
              - \tfrac12 (x-\mu)^\top \Sigma^{-1} (x-\mu)

    Parameters
    ----------
    loc
        The mean ``mu``, last axis ``d``.
    cov
        The covariance ``Sigma``, symmetric positive definite on the last two axes ``(d, d)``.

    Notes
    -----
    ``logp`` uses a Cholesky factor of ``cov``. Derivatives treat the ``d²`` entries of
    ``cov`` as free coordinates (the symmetric constraint is left to a bijector), so
    ``d logp / d Sigma = -½ Σ⁻ᵀ + ½ (Σ⁻ᵀ r)(Σ⁻¹ r)ᵀ`` with ``r = x - mu``; derivatives with
    respect to ``loc`` and ``value`` carry a trailing ``d`` axis and those with respect to
    ``cov`` two trailing ``(d, d)`` axes. Expected second derivatives: ``-Σ⁻¹`` for ``loc``,
    ``-½ Σ⁻¹_ae Σ⁻¹_bc`` for the ``(a, b), (c, e)`` entries of ``cov``, zero across them.
    ``mean_of`` is ``loc`` and ``variance_of`` the diagonal of ``cov``.
    """

    support: ClassVar[Constraint] = real_vector
    event_ndim: ClassVar[int] = 1
    domains: ClassVar[dict[str, Constraint]] = {"loc": real_vector, "cov": spd}

    def __init__(self, loc: Any, cov: Any) -> None:
        require("MultivariateNormal", loc=loc, cov=cov)
        for name, value in (("loc", loc), ("cov", cov)):
            if isinstance(value, (int, float, np.number)):
                raise DistributionError(f"MultivariateNormal argument {name!r} must be "
                                        f"{'a vector' if name == 'loc' else 'a matrix'}, "
                                        "got a scalar")
        super().__init__(loc=loc, cov=cov)

    # ---------------------------------------------------------------- shapes
    @staticmethod
    def _d(x: np.ndarray | None, v: Vals) -> int:
        loc, cov = v["loc"], v["cov"]
        d = loc.shape[-1]
        if cov.shape[-2:] != (d, d):
            raise DistributionError(f"MultivariateNormal argument 'cov' must end in ({d}, {d}) "
                                    f"to match 'loc', got shape {cov.shape}")
        if x is not None and np.shape(x)[-1:] != (d,):
            raise DistributionError(f"MultivariateNormal value must end in a {d}-vector, got "
                                    f"shape {np.shape(x)}")
        return d

    def _batch_shape(self, x: np.ndarray, v: Vals) -> tuple[int, ...]:
        self._d(x, v)
        return np.broadcast_shapes(np.shape(x)[:-1], self._param_shape(v))

    def _param_shape(self, v: Vals) -> tuple[int, ...]:
        return np.broadcast_shapes(v["loc"].shape[:-1], v["cov"].shape[:-2])

    def _event_shape(self, name: str, x: np.ndarray | None, v: Vals) -> tuple[int, ...]:
        d = self._d(x, v)
        return (d, d) if name == "cov" else (d,)

    def _in_support(self, x: np.ndarray, v: Vals) -> np.ndarray:
        return real_vector.check(x)

    # ---------------------------------------------------------------- formulas
    def _logp(self, x: np.ndarray, v: Vals) -> np.ndarray:
        d = self._d(x, v)
        shape = self._batch_shape(x, v)
        r = np.broadcast_to(x - v["loc"], (*shape, d))
        chol = np.linalg.cholesky(np.broadcast_to(v["cov"], (*shape, d, d)))
        z = np.linalg.solve(chol, r[..., None])[..., 0]
        half_logdet = np.sum(np.log(np.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
        return -0.5 * d * _LOG_2PI - half_logdet - 0.5 * np.sum(z * z, axis=-1)

    @staticmethod
    def _solved(x: np.ndarray, v: Vals) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``P = Σ⁻¹``, ``s = Σ⁻¹ r`` and ``t = Σ⁻ᵀ r`` (general-matrix formulas)."""
        p = np.linalg.inv(v["cov"])
        r = x - v["loc"]
        s = np.einsum("...ij,...j->...i", p, r)
        t = np.einsum("...ji,...j->...i", p, r)
        return p, s, t

    def _grad(self, x: np.ndarray, v: Vals) -> dict[str, Thunk]:
        p, s, t = self._solved(x, v)
        pt = np.swapaxes(p, -1, -2)
        return {"value": lambda: -0.5 * (s + t),
                "loc": lambda: 0.5 * (s + t),
                "cov": lambda: -0.5 * pt + 0.5 * t[..., :, None] * s[..., None, :]}

    def _hess(self, x: np.ndarray, v: Vals) -> dict[Pair, Thunk]:
        p, s, _ = self._solved(x, v)
        sym = 0.5 * (p + np.swapaxes(p, -1, -2))

        def x_cov() -> np.ndarray:
            return 0.5 * (np.einsum("...ia,...b->...iab", p, s)
                          + np.einsum("...a,...ib->...iab", s, p))

        def cov_cov() -> np.ndarray:
            return (0.5 * np.einsum("...ae,...cb->...abce", p, p)
                    - 0.5 * np.einsum("...ae,...c,...b->...abce", p, s, s)
                    - 0.5 * np.einsum("...a,...e,...bc->...abce", s, s, p))

        return {("value", "value"): lambda: -sym, ("loc", "loc"): lambda: -sym,
                ("value", "loc"): lambda: sym, ("value", "cov"): x_cov,
                ("loc", "cov"): lambda: -x_cov(), ("cov", "cov"): cov_cov}

    def _ehess(self, v: Vals) -> dict[Pair, Thunk]:
        p = np.linalg.inv(v["cov"])
        return {("loc", "loc"): lambda: -p,
                ("cov", "cov"): lambda: -0.5 * np.einsum("...ae,...bc->...abce", p, p)}

    # ---------------------------------------------------------------- sampling and moments
    def sample_from(self, rng: np.random.Generator, vals: Any,
                    size: int | tuple[int, ...] | None = None) -> np.ndarray:
        """Draws of shape ``size + batch + (d,)``."""
        v = self._vals(vals)
        d = self._d(None, v)
        shape = size_tuple(size) + self._param_shape(v)
        chol = np.linalg.cholesky(v["cov"])
        z = rng.standard_normal((*shape, d))
        return v["loc"] + np.einsum("...ij,...j->...i", chol, z)

    def mean_of(self, vals: Any) -> np.ndarray:
        """The mean vector ``loc`` (broadcast to the batch shape)."""
        v = self._vals(vals)
        d = self._d(None, v)
        return np.broadcast_to(v["loc"], (*self._param_shape(v), d)).copy()

    def variance_of(self, vals: Any) -> np.ndarray:
        """Marginal variances: the diagonal of ``cov``."""
        v = self._vals(vals)
        d = self._d(None, v)
        diag = np.diagonal(v["cov"], axis1=-2, axis2=-1)
        return np.broadcast_to(diag, (*self._param_shape(v), d)).copy()
