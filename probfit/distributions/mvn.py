"""The multivariate normal distribution with a full covariance matrix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from probfit.distributions._core import Family, Pair, Thunk, Vals, one_of, require, size_tuple
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
    precision
        Instead of ``cov``: the precision matrix ``Lambda = Sigma⁻¹`` (SPD), e.g. a parameter
        with a ``Wishart`` prior. Exactly one of ``cov`` and ``precision`` is given.

    Notes
    -----
    ``logp`` uses a Cholesky factor of ``cov``. Derivatives treat the ``d²`` entries of
    ``cov`` as free coordinates (the symmetric constraint is left to a bijector), so
    ``d logp / d Sigma = -½ Σ⁻ᵀ + ½ (Σ⁻ᵀ r)(Σ⁻¹ r)ᵀ`` with ``r = x - mu``; derivatives with
    respect to ``loc`` and ``value`` carry a trailing ``d`` axis and those with respect to
    ``cov`` two trailing ``(d, d)`` axes. Expected second derivatives: ``-Σ⁻¹`` for ``loc``,
    ``-½ Σ⁻¹_ae Σ⁻¹_bc`` for the ``(a, b), (c, e)`` entries of ``cov``, zero across them.
    ``mean_of`` is ``loc`` and ``variance_of`` the diagonal of ``cov``.

    With ``precision`` the log density is ``-½ d log 2π + ½ log|Λ| - ½ rᵀ Λ r`` and
    ``d logp / d Λ = ½ Λ⁻ᵀ - ½ r rᵀ`` (free coordinates again), with expected second derivatives
    ``-Λ`` for ``loc`` and ``-½ Λ⁻¹_bc Λ⁻¹_ea`` for the ``(a, b), (c, e)`` entries of
    ``precision``; :meth:`cov_of` gives the covariance under either parameterization.
    """

    support: ClassVar[Constraint] = real_vector
    event_ndim: ClassVar[int] = 1
    domains: ClassVar[dict[str, Constraint]] = {"loc": real_vector, "cov": spd,
                                                "precision": spd}

    def __init__(self, loc: Any, cov: Any = None, precision: Any = None) -> None:
        require("MultivariateNormal", loc=loc)
        one_of("MultivariateNormal", cov=cov, precision=precision)
        for name, value in (("loc", loc), ("cov", cov), ("precision", precision)):
            if isinstance(value, (int, float, np.number)):
                raise DistributionError(f"MultivariateNormal argument {name!r} must be "
                                        f"{'a vector' if name == 'loc' else 'a matrix'}, "
                                        "got a scalar")
        super().__init__(loc=loc, cov=cov, precision=precision)

    # ---------------------------------------------------------------- shapes
    @staticmethod
    def _mat(v: Vals) -> tuple[str, np.ndarray]:
        """The matrix argument's name (``"cov"`` or ``"precision"``) and value."""
        return ("cov", v["cov"]) if "cov" in v else ("precision", v["precision"])

    @staticmethod
    def _d(x: np.ndarray | None, v: Vals) -> int:
        loc, (name, cov) = v["loc"], MultivariateNormal._mat(v)
        d = loc.shape[-1]
        if cov.shape[-2:] != (d, d):
            raise DistributionError(f"MultivariateNormal argument {name!r} must end in ({d}, "
                                    f"{d}) to match 'loc', got shape {cov.shape}")
        if x is not None and np.shape(x)[-1:] != (d,):
            raise DistributionError(f"MultivariateNormal value must end in a {d}-vector, got "
                                    f"shape {np.shape(x)}")
        return d

    def _batch_shape(self, x: np.ndarray, v: Vals) -> tuple[int, ...]:
        self._d(x, v)
        return np.broadcast_shapes(np.shape(x)[:-1], self._param_shape(v))

    def _param_shape(self, v: Vals) -> tuple[int, ...]:
        return np.broadcast_shapes(v["loc"].shape[:-1], self._mat(v)[1].shape[:-2])

    def _event_shape(self, name: str, x: np.ndarray | None, v: Vals) -> tuple[int, ...]:
        d = self._d(x, v)
        return (d, d) if name in ("cov", "precision") else (d,)

    def _in_support(self, x: np.ndarray, v: Vals) -> np.ndarray:
        return real_vector.check(x)

    # ---------------------------------------------------------------- formulas
    def _logp(self, x: np.ndarray, v: Vals) -> np.ndarray:
        d = self._d(x, v)
        shape = self._batch_shape(x, v)
        r = np.broadcast_to(x - v["loc"], (*shape, d))
        if "precision" in v:  # ½ log|Λ| - ½ ‖Lᵀ r‖² with Λ = L Lᵀ
            chol = np.linalg.cholesky(np.broadcast_to(v["precision"], (*shape, d, d)))
            z = np.einsum("...ji,...j->...i", chol, r)
            half_logdet = np.sum(np.log(np.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
            return -0.5 * d * _LOG_2PI + half_logdet - 0.5 * np.sum(z * z, axis=-1)
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
        if "precision" in v:
            return self._grad_precision(x, v)
        p, s, t = self._solved(x, v)
        pt = np.swapaxes(p, -1, -2)
        return {"value": lambda: -0.5 * (s + t),
                "loc": lambda: 0.5 * (s + t),
                "cov": lambda: -0.5 * pt + 0.5 * t[..., :, None] * s[..., None, :]}

    def _hess(self, x: np.ndarray, v: Vals) -> dict[Pair, Thunk]:
        if "precision" in v:
            return self._hess_precision(x, v)
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
        if "precision" in v:
            lam = v["precision"]
            inv = np.linalg.inv(lam)
            return {("loc", "loc"): lambda: -lam,
                    ("precision", "precision"):
                        lambda: -0.5 * np.einsum("...bc,...ea->...abce", inv, inv)}
        p = np.linalg.inv(v["cov"])
        return {("loc", "loc"): lambda: -p,
                ("cov", "cov"): lambda: -0.5 * np.einsum("...ae,...bc->...abce", p, p)}

    # ---------------------------------------------------------------- precision form
    @staticmethod
    def _grad_precision(x: np.ndarray, v: Vals) -> dict[str, Thunk]:
        lam = v["precision"]
        r = x - v["loc"]
        sr = np.einsum("...ij,...j->...i", lam + np.swapaxes(lam, -1, -2), r)
        return {"value": lambda: -0.5 * sr, "loc": lambda: 0.5 * sr,
                "precision": lambda: (0.5 * np.swapaxes(np.linalg.inv(lam), -1, -2)
                                      - 0.5 * r[..., :, None] * r[..., None, :])}

    @staticmethod
    def _hess_precision(x: np.ndarray, v: Vals) -> dict[Pair, Thunk]:
        lam = v["precision"]
        sym = lam + np.swapaxes(lam, -1, -2)
        d = lam.shape[-1]
        eye = np.eye(d)

        def x_prec() -> np.ndarray:  # d/dΛ_ce of -½ (Λ + Λᵀ) r
            r = np.broadcast_to(x - v["loc"], np.broadcast_shapes(
                np.shape(x), v["loc"].shape, lam.shape[:-1]))
            return -0.5 * (np.einsum("ic,...e->...ice", eye, r)
                           + np.einsum("ie,...c->...ice", eye, r))

        def prec_prec() -> np.ndarray:
            inv = np.linalg.inv(lam)
            return -0.5 * np.einsum("...bc,...ea->...abce", inv, inv)

        return {("value", "value"): lambda: -0.5 * sym, ("loc", "loc"): lambda: -0.5 * sym,
                ("value", "loc"): lambda: 0.5 * sym, ("value", "precision"): x_prec,
                ("loc", "precision"): lambda: -x_prec(), ("precision", "precision"): prec_prec}

    def cov_of(self, vals: Any) -> np.ndarray:
        """The covariance matrix: ``cov``, or ``precision⁻¹`` by a Cholesky solve."""
        v = self._vals(vals)
        if "cov" in v:
            return v["cov"]
        lam = v["precision"]
        chol = np.linalg.cholesky(lam)
        inv_l = np.linalg.solve(chol, np.broadcast_to(np.eye(lam.shape[-1]), lam.shape))
        return np.swapaxes(inv_l, -1, -2) @ inv_l

    # ---------------------------------------------------------------- sampling and moments
    def sample_from(self, rng: np.random.Generator, vals: Any,
                    size: int | tuple[int, ...] | None = None) -> np.ndarray:
        """Draws of shape ``size + batch + (d,)``."""
        v = self._vals(vals)
        d = self._d(None, v)
        shape = size_tuple(size) + self._param_shape(v)
        z = rng.standard_normal((*shape, d))
        if "precision" in v:  # x = loc + L⁻ᵀ z with Λ = L Lᵀ
            chol = np.broadcast_to(np.linalg.cholesky(v["precision"]), (*shape, d, d))
            return v["loc"] + np.linalg.solve(np.swapaxes(chol, -1, -2), z[..., None])[..., 0]
        chol = np.linalg.cholesky(v["cov"])
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
        diag = np.diagonal(self.cov_of(v), axis1=-2, axis2=-1)
        return np.broadcast_to(diag, (*self._param_shape(v), d)).copy()
