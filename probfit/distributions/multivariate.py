"""Distributions over vectors: Dirichlet (the Categorical lives with the discrete ones)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy import special

from probfit.distributions._core import Family, Pair, Thunk, Vals, fit_shape, require, size_tuple
from probfit.distributions.constraints import Constraint, positive, simplex
from probfit.errors import DistributionError

__all__ = ["Dirichlet"]


def _trigamma(x: np.ndarray) -> np.ndarray:
    return special.polygamma(1, x)


def _diag(d: np.ndarray) -> np.ndarray:
    return d[..., :, None] * np.eye(d.shape[-1])


class Dirichlet(Family):
    r"""Dirichlet distribution on the probability simplex of dimension ``k``.

    .. math:: \log p(x) = \log\Gamma(\alpha_0) - \sum_j \log\Gamma(\alpha_j)
              + \sum_j (\alpha_j - 1)\log x_j, \qquad \alpha_0 = \sum_j \alpha_j

    Parameters
    ----------
    concentration
        ``alpha > 0`` with the ``k`` components on the last axis, or a scalar for the symmetric
        Dirichlet (all ``alpha_j`` equal), whose ``k`` is taken from the value.

    Notes
    -----
    The value has shape ``batch + (k,)``. Derivatives with respect to ``value`` treat the ``k``
    coordinates as free (``(alpha_j - 1)/x_j``), ignoring the sum-to-one constraint; a
    bijector to the simplex supplies that. With a vector concentration its derivatives carry a
    trailing ``k`` axis (``ψ(alpha_0) - ψ(alpha_j) + log x_j``); with a scalar one they are
    scalars per event (``k ψ(k alpha) - k ψ(alpha) + Σ log x_j``). The second derivatives in
    the concentration do not depend on the value, so the expected ones equal them.
    ``mean_of`` is ``alpha/alpha_0`` and ``variance_of`` the marginal variances
    ``alpha_j (alpha_0 - alpha_j)/(alpha_0² (alpha_0 + 1))``. A scalar concentration has no
    ``k`` of its own: sampling, the moments and ``expected_d2logp`` need a vector one.
    """

    support: ClassVar[Constraint] = simplex
    event_ndim: ClassVar[int] = 1
    domains: ClassVar[dict[str, Constraint]] = {"concentration": positive}

    def __init__(self, concentration: Any) -> None:
        require("Dirichlet", concentration=concentration)
        super().__init__(concentration=concentration)

    # ---------------------------------------------------------------- shapes
    @staticmethod
    def _k(x: np.ndarray | None, v: Vals) -> int:
        a = v["concentration"]
        if a.ndim:
            if x is not None and np.ndim(x) and np.shape(x)[-1] != a.shape[-1]:
                raise DistributionError(
                    f"Dirichlet argument 'concentration' has {a.shape[-1]} components but the "
                    f"value has {np.shape(x)[-1]}")
            return a.shape[-1]
        if x is None:
            raise DistributionError("Dirichlet with a scalar 'concentration' has no dimension "
                                    "k of its own; give a vector concentration")
        return np.shape(x)[-1]

    def _batch_shape(self, x: np.ndarray, v: Vals) -> tuple[int, ...]:
        a = v["concentration"]
        self._k(x, v)
        return np.broadcast_shapes(np.shape(x)[:-1], a.shape[:-1] if a.ndim else ())

    def _param_shape(self, v: Vals) -> tuple[int, ...]:
        a = v["concentration"]
        return a.shape[:-1] if a.ndim else ()

    def _event_shape(self, name: str, x: np.ndarray | None, v: Vals) -> tuple[int, ...]:
        if name == "concentration" and v["concentration"].ndim == 0:
            return ()
        return (self._k(x, v),)

    # ---------------------------------------------------------------- formulas
    def _logp(self, x: np.ndarray, v: Vals) -> np.ndarray:
        a = v["concentration"]
        if a.ndim == 0:
            k = self._k(x, v)
            return (special.gammaln(k * a) - k * special.gammaln(a)
                    + np.sum(special.xlogy(a - 1.0, x), axis=-1))
        return (special.gammaln(np.sum(a, axis=-1)) - np.sum(special.gammaln(a), axis=-1)
                + np.sum(special.xlogy(a - 1.0, x), axis=-1))

    def _grad(self, x: np.ndarray, v: Vals) -> dict[str, Thunk]:
        a = v["concentration"]

        def conc() -> np.ndarray:
            if a.ndim == 0:
                k = self._k(x, v)
                return (k * (special.digamma(k * a) - special.digamma(a))
                        + np.sum(np.log(x), axis=-1))
            return (special.digamma(np.sum(a, axis=-1))[..., None] - special.digamma(a)
                    + np.log(x))

        return {"value": lambda: (a - 1.0) / x, "concentration": conc}

    def _hess(self, x: np.ndarray, v: Vals) -> dict[Pair, Thunk]:
        a = v["concentration"]

        def value_conc() -> np.ndarray:
            return 1.0 / x if a.ndim == 0 else _diag(1.0 / x)

        return {("value", "value"): lambda: _diag(-(a - 1.0) / x**2),
                ("value", "concentration"): value_conc,
                ("concentration", "concentration"): lambda: self._conc_conc(x, v)}

    def _conc_conc(self, x: np.ndarray | None, v: Vals) -> np.ndarray:
        a = v["concentration"]
        if a.ndim == 0:
            k = self._k(x, v)
            return k * k * _trigamma(k * a) - k * _trigamma(a)
        return _trigamma(np.sum(a, axis=-1))[..., None, None] - _diag(_trigamma(a))

    def _ehess(self, v: Vals) -> dict[Pair, Thunk]:
        return {("concentration", "concentration"): lambda: self._conc_conc(None, v)}

    # ---------------------------------------------------------------- sampling and moments
    def sample_from(self, rng: np.random.Generator, vals: Any,
                    size: int | tuple[int, ...] | None = None) -> np.ndarray:
        """Draws of shape ``size + batch + (k,)``."""
        v = self._vals(vals)
        k = self._k(None, v)
        a = v["concentration"]
        g = rng.gamma(np.broadcast_to(a, size_tuple(size) + self._param_shape(v) + (k,)))
        return g / np.sum(g, axis=-1, keepdims=True)

    def mean_of(self, vals: Any) -> np.ndarray:
        """The mean vector ``alpha / alpha_0``."""
        v = self._vals(vals)
        self._k(None, v)
        a = v["concentration"]
        return fit_shape(a / np.sum(a, axis=-1, keepdims=True), a.shape)

    def variance_of(self, vals: Any) -> np.ndarray:
        """Marginal variances ``alpha_j (alpha_0 - alpha_j) / (alpha_0² (alpha_0 + 1))``."""
        v = self._vals(vals)
        self._k(None, v)
        a = v["concentration"]
        a0 = np.sum(a, axis=-1, keepdims=True)
        return a * (a0 - a) / (a0 * a0 * (a0 + 1.0))
