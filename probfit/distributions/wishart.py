"""The Wishart distribution over symmetric positive-definite matrices, and its expectations.

Besides the :class:`Wishart` family (a prior on a precision matrix) this module holds the
closed-form facts variational inference needs (Bishop, PRML eqs. B.78–B.82):
:func:`wishart_log_norm` (``log B(W, ν)``), :func:`wishart_e_logdet` (``E[log |Λ|]``) and
:func:`wishart_entropy`. Every determinant comes from a Cholesky factor.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy import special

from probfit.distributions._core import Family, Pair, Thunk, Vals, require, size_tuple
from probfit.distributions.constraints import Constraint, positive
from probfit.distributions.mvn import spd
from probfit.errors import DistributionError

__all__ = ["Wishart", "multigammaln", "wishart_e_logdet", "wishart_entropy", "wishart_log_norm"]

_LOG2 = float(np.log(2.0))


def _chol_logdet(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower Cholesky factors of the SPD matrices ``m`` and their log-determinants."""
    chol = np.linalg.cholesky(m)
    return chol, 2.0 * np.sum(np.log(np.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)


def _multidigamma(a: np.ndarray, d: int) -> np.ndarray:
    """``Σ_{j=1}^{d} ψ(a + (1 − j)/2)``, the derivative of ``log Γ_d(a)``."""
    a = np.asarray(a, dtype=float)
    return np.sum(special.digamma(a[..., None] - 0.5 * np.arange(d)), axis=-1)


def _multitrigamma(a: np.ndarray, d: int) -> np.ndarray:
    """``Σ_{j=1}^{d} ψ'(a + (1 − j)/2)``."""
    a = np.asarray(a, dtype=float)
    return np.sum(special.polygamma(1, a[..., None] - 0.5 * np.arange(d)), axis=-1)


def wishart_log_norm(scale_logdet: np.ndarray, df: np.ndarray, d: int) -> np.ndarray:
    """``log B(W, ν) = −(ν/2) log|W| − (ν d/2) log 2 − log Γ_d(ν/2)`` (PRML B.79).

    Parameters
    ----------
    scale_logdet
        ``log |W|`` of the scale matrices.
    df
        Degrees of freedom ``ν > d − 1``.
    d
        Dimension of the matrices.
    """
    df = np.asarray(df, dtype=float)
    return -0.5 * df * scale_logdet - 0.5 * df * d * _LOG2 - multigammaln(0.5 * df, d)


def multigammaln(a: np.ndarray, d: int) -> np.ndarray:
    """``log Γ_d(a) = d(d − 1)/4 · log π + Σ_{j=0}^{d-1} log Γ(a − j/2)``, elementwise."""
    a = np.asarray(a, dtype=float)
    return (0.25 * d * (d - 1) * np.log(np.pi)
            + np.sum(special.gammaln(a[..., None] - 0.5 * np.arange(d)), axis=-1))


def wishart_e_logdet(scale_logdet: np.ndarray, df: np.ndarray, d: int) -> np.ndarray:
    """``E[log |Λ|] = Σ_i ψ((ν + 1 − i)/2) + d log 2 + log |W|`` for ``Λ ~ W(W, ν)`` (B.81)."""
    return _multidigamma(0.5 * np.asarray(df, dtype=float), d) + d * _LOG2 + scale_logdet


def wishart_entropy(scale_logdet: np.ndarray, df: np.ndarray, d: int) -> np.ndarray:
    """``H[Λ] = −log B(W, ν) − ((ν − d − 1)/2) E[log |Λ|] + ν d/2`` (B.82)."""
    df = np.asarray(df, dtype=float)
    return (-wishart_log_norm(scale_logdet, df, d)
            - 0.5 * (df - d - 1.0) * wishart_e_logdet(scale_logdet, df, d) + 0.5 * df * d)


class Wishart(Family):
    r"""Wishart distribution of a ``d × d`` symmetric positive-definite matrix.

    .. math:: \log p(X) = \tfrac{\nu - d - 1}{2}\log|X| - \tfrac12 \operatorname{tr}(W^{-1}X)
              - \tfrac{\nu d}{2}\log 2 - \tfrac{\nu}{2}\log|W| - \log\Gamma_d(\nu/2)

    Parameters
    ----------
    df
        Degrees of freedom ``ν > d − 1`` (a scalar per matrix).
    scale
        The scale matrix ``W``, symmetric positive definite on the last two axes ``(d, d)``.

    Notes
    -----
    The mean is ``ν W``; as a prior on a precision matrix ``Λ`` it is conjugate to a
    ``MultivariateNormal(loc, precision=Λ)`` likelihood. ``logp`` uses Cholesky factors of
    ``X`` and ``W`` (log-determinants from their diagonals, a triangular solve for the trace).
    Derivatives treat the ``d²`` entries of ``X`` and ``W`` as free coordinates (the symmetry
    is left to a bijector, as for ``MultivariateNormal``'s ``cov``): with ``P = W⁻¹``,
    ``d/dX = ((ν − d − 1)/2) X⁻ᵀ − ½ Pᵀ``, ``d/dW = −(ν/2) Pᵀ + ½ Pᵀ Xᵀ Pᵀ`` and
    ``d/dν = ½ log|X| − (d/2) log 2 − ½ log|W| − ½ Σ_j ψ(ν/2 + (1 − j)/2)``. Matrix
    derivatives carry two trailing ``(d, d)`` axes, second derivatives between two matrices four
    (``(a, b), (c, e)``). Samples use the Bartlett decomposition ``X = L A Aᵀ Lᵀ`` with
    ``W = L Lᵀ``, ``A`` lower triangular, ``A_ii² ~ χ²(ν − i)`` (``i`` from 0) and standard
    normal entries below the diagonal. ``variance_of`` gives the entrywise variances
    ``ν (W_ab² + W_aa W_bb)``.
    """

    support: ClassVar[Constraint] = spd
    event_ndim: ClassVar[int] = 2
    domains: ClassVar[dict[str, Constraint]] = {"df": positive, "scale": spd}

    def __init__(self, df: Any, scale: Any) -> None:
        require("Wishart", df=df, scale=scale)
        if isinstance(scale, (int, float, np.number)):
            raise DistributionError("Wishart argument 'scale' must be a matrix, got a scalar")
        super().__init__(df=df, scale=scale)
        s, nu = self.args["scale"], self.args["df"]
        if isinstance(s, np.ndarray) and isinstance(nu, np.ndarray):
            self._d(None, {"df": nu, "scale": s})

    # ---------------------------------------------------------------- shapes
    @staticmethod
    def _d(x: np.ndarray | None, v: Vals) -> int:
        w, nu = v["scale"], v["df"]
        if w.ndim < 2 or w.shape[-1] != w.shape[-2]:
            raise DistributionError(f"Wishart argument 'scale' must be square on its last two "
                                    f"axes, got shape {w.shape}")
        d = w.shape[-1]
        if np.any(nu <= d - 1):
            raise DistributionError(f"Wishart argument 'df' must be > d - 1 = {d - 1} for "
                                    f"{d} x {d} matrices, got {np.ravel(nu)[:5].tolist()}")
        if x is not None and np.shape(x)[-2:] != (d, d):
            raise DistributionError(f"Wishart value must end in a ({d}, {d}) matrix, got "
                                    f"shape {np.shape(x)}")
        return d

    def _param_shape(self, v: Vals) -> tuple[int, ...]:
        return np.broadcast_shapes(v["df"].shape, v["scale"].shape[:-2])

    def _batch_shape(self, x: np.ndarray, v: Vals) -> tuple[int, ...]:
        self._d(x, v)
        return np.broadcast_shapes(np.shape(x)[:-2], self._param_shape(v))

    def _event_shape(self, name: str, x: np.ndarray | None, v: Vals) -> tuple[int, ...]:
        if name == "df":
            return ()
        d = self._d(x, v)
        return (d, d)

    def _in_support(self, x: np.ndarray, v: Vals) -> np.ndarray:
        return spd.check(x)

    # ---------------------------------------------------------------- formulas
    def _logp(self, x: np.ndarray, v: Vals) -> np.ndarray:
        d = self._d(x, v)
        shape = self._batch_shape(x, v)
        nu = np.broadcast_to(v["df"], shape)
        xs = np.broadcast_to(x, (*shape, d, d))
        ws = np.broadcast_to(v["scale"], (*shape, d, d))
        ok = spd.check(xs)
        safe = np.where(ok[..., None, None], xs, np.eye(d))
        x_chol, x_logdet = _chol_logdet(safe)
        w_chol, w_logdet = _chol_logdet(ws)
        # tr(W⁻¹ X) = ‖L_W⁻¹ L_X‖_F² with X = L_X L_Xᵀ
        z = np.linalg.solve(w_chol, x_chol)
        trace = np.sum(z * z, axis=(-1, -2))
        return (0.5 * (nu - d - 1.0) * x_logdet - 0.5 * trace
                + wishart_log_norm(w_logdet, nu, d))

    @staticmethod
    def _inverses(x: np.ndarray, v: Vals) -> tuple[np.ndarray, np.ndarray]:
        """``X⁻¹`` and ``P = W⁻¹`` (general-matrix formulas for the free coordinates)."""
        return np.linalg.inv(x), np.linalg.inv(v["scale"])

    def _grad(self, x: np.ndarray, v: Vals) -> dict[str, Thunk]:
        d = self._d(x, v)
        nu = v["df"]
        xi, p = self._inverses(x, v)
        pt = np.swapaxes(p, -1, -2)

        def df() -> np.ndarray:
            _, x_logdet = np.linalg.slogdet(x)
            _, w_logdet = np.linalg.slogdet(v["scale"])
            return (0.5 * x_logdet - 0.5 * d * _LOG2 - 0.5 * w_logdet
                    - 0.5 * _multidigamma(0.5 * nu, d))

        def scale() -> np.ndarray:
            m = pt @ np.swapaxes(x, -1, -2) @ pt
            return -0.5 * nu[..., None, None] * pt + 0.5 * m

        return {"value": lambda: (0.5 * (nu - d - 1.0))[..., None, None]
                * np.swapaxes(xi, -1, -2) - 0.5 * pt,
                "df": df, "scale": scale}

    def _hess(self, x: np.ndarray, v: Vals) -> dict[Pair, Thunk]:
        d = self._d(x, v)
        nu = v["df"]
        xi, p = self._inverses(x, v)
        c = (0.5 * (nu - d - 1.0))[..., None, None, None, None]
        half_nu = (0.5 * nu)[..., None, None, None, None]

        def scale_scale() -> np.ndarray:
            m = p @ x @ p
            return (half_nu * np.einsum("...bc,...ea->...abce", p, p)
                    - 0.5 * np.einsum("...bc,...ea->...abce", p, m)
                    - 0.5 * np.einsum("...bc,...ea->...abce", m, p))

        return {("value", "value"): lambda: -c * np.einsum("...bc,...ea->...abce", xi, xi),
                ("value", "scale"): lambda: 0.5 * np.einsum("...bc,...ea->...abce", p, p),
                ("value", "df"): lambda: 0.5 * np.swapaxes(xi, -1, -2),
                ("df", "df"): lambda: -0.25 * _multitrigamma(0.5 * nu, d),
                ("df", "scale"): lambda: -0.5 * np.swapaxes(p, -1, -2),
                ("scale", "scale"): scale_scale}

    def _ehess(self, v: Vals) -> dict[Pair, Thunk]:
        d = self._d(None, v)
        nu = v["df"]
        p = np.linalg.inv(v["scale"])
        half_nu = (0.5 * nu)[..., None, None, None, None]
        return {("df", "df"): lambda: -0.25 * _multitrigamma(0.5 * nu, d),
                ("df", "scale"): lambda: -0.5 * np.swapaxes(p, -1, -2),
                ("scale", "scale"): lambda: -half_nu * np.einsum("...bc,...ea->...abce", p, p)}

    # ---------------------------------------------------------------- sampling and moments
    def sample_from(self, rng: np.random.Generator, vals: Any,
                    size: int | tuple[int, ...] | None = None) -> np.ndarray:
        """Draws of shape ``size + batch + (d, d)`` by the Bartlett decomposition."""
        v = self._vals(vals)
        d = self._d(None, v)
        shape = size_tuple(size) + self._param_shape(v)
        nu = np.broadcast_to(v["df"], shape)
        a = np.zeros((*shape, d, d))
        rows, cols = np.tril_indices(d, -1)
        a[..., rows, cols] = rng.standard_normal((*shape, rows.size))
        idx = np.arange(d)
        a[..., idx, idx] = np.sqrt(rng.chisquare(nu[..., None] - idx))
        chol = np.linalg.cholesky(np.broadcast_to(v["scale"], (*shape, d, d)))
        la = chol @ a
        return la @ np.swapaxes(la, -1, -2)

    def mean_of(self, vals: Any) -> np.ndarray:
        """The mean ``ν W`` (broadcast to the batch shape)."""
        v = self._vals(vals)
        d = self._d(None, v)
        return np.broadcast_to(v["df"][..., None, None] * v["scale"],
                               (*self._param_shape(v), d, d)).copy()

    def variance_of(self, vals: Any) -> np.ndarray:
        """Entrywise variances ``ν (W_ab² + W_aa W_bb)``."""
        v = self._vals(vals)
        d = self._d(None, v)
        w = v["scale"]
        diag = np.diagonal(w, axis1=-2, axis2=-1)
        var = v["df"][..., None, None] * (w * w + diag[..., :, None] * diag[..., None, :])
        return np.broadcast_to(var, (*self._param_shape(v), d, d)).copy()

