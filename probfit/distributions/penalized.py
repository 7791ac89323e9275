r"""The elastic-net prior: a Laplace and a Normal kernel multiplied together.

.. math:: \log p(x) = -\lambda_1 |x - \mu| - \tfrac12 \lambda_2 (x - \mu)^2 - \log Z

with ``Z = sqrt(2π/λ₂) · erfcx(λ₁ / sqrt(2λ₂))`` (``2/λ₁`` when ``λ₂ = 0``). Under MAP it is
exactly the elastic-net penalty ``λ₁‖w − μ‖₁ + ½λ₂‖w − μ‖²`` (DESIGN.md conventions: objectives
are sums). Entries with ``λ₁ = λ₂ = 0`` are flat (penalty factor 0: unpenalized).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy import special, stats

from probfit.distributions._core import Family, Pair, Thunk, Vals
from probfit.distributions.constraints import Constraint, nonnegative, real
from probfit.errors import DistributionError

__all__ = ["ElasticNet", "elastic_net_log_norm"]


def elastic_net_log_norm(l1: np.ndarray, l2: np.ndarray) -> np.ndarray:
    """``log Z`` of the elastic-net kernel, elementwise (0 where both weights are 0: flat)."""
    l1, l2 = np.broadcast_arrays(np.asarray(l1, float), np.asarray(l2, float))
    out = np.zeros(l1.shape)
    ridge = l2 > 0
    lasso = ~ridge & (l1 > 0)
    safe = np.where(ridge, l2, 1.0)
    out = np.where(ridge, 0.5 * np.log(2.0 * np.pi / safe)
                   + np.log(special.erfcx(l1 / np.sqrt(2.0 * safe))), out)
    return np.where(lasso, np.log(2.0 / np.where(lasso, l1, 1.0)), out)


class ElasticNet(Family):
    r"""Elastic-net prior with L1 weight ``l1``, L2 weight ``l2`` and location ``loc``.

    Parameters
    ----------
    l1
        ``λ₁ ≥ 0``: the MAP penalty is ``λ₁ |w − loc|`` (a Laplace(loc, 1/λ₁) kernel).
    l2
        ``λ₂ ≥ 0``: the MAP penalty is ``½ λ₂ (w − loc)²`` (a Normal(loc, 1/sqrt(λ₂)) kernel).
    loc
        Centre of the penalty.

    Notes
    -----
    Arrays give per-coefficient weights (glmnet's penalty factors); entries with both weights 0
    are unpenalized. The arguments must be numbers or arrays, not model expressions.
    :meth:`mix` builds it from a total strength and an ``l1_ratio`` (glmnet's ``α``).
    Derivatives use ``sign(x − loc)`` (0 at the kink); MAP never differentiates the kink: the
    compiler moves the L1 part into exact ``Objective.l1`` terms.
    """

    support: ClassVar[Constraint] = real
    domains: ClassVar[dict[str, Constraint]] = {"loc": real, "l1": nonnegative,
                                                "l2": nonnegative}
    nondiff: ClassVar[tuple[str, ...]] = ("l1", "l2")
    restricted: ClassVar[bool] = False

    def __init__(self, l1: Any = 0.0, l2: Any = 0.0, loc: Any = 0.0) -> None:
        for name, v in (("l1", l1), ("l2", l2), ("loc", loc)):
            if not isinstance(v, (int, float, np.integer, np.floating, np.ndarray, list, tuple)):
                raise DistributionError(f"ElasticNet argument {name!r} must be a number or an "
                                        f"array, got {type(v).__name__}")
        super().__init__(loc=loc, l1=l1, l2=l2)

    @classmethod
    def mix(cls, strength: Any, l1_ratio: float, loc: Any = 0.0) -> ElasticNet:
        """``l1 = strength · l1_ratio`` and ``l2 = strength · (1 − l1_ratio)`` (glmnet's mix).

        Raises
        ------
        DistributionError
            If ``l1_ratio`` is outside [0, 1].
        """
        if not 0.0 <= float(l1_ratio) <= 1.0:
            raise DistributionError(f"ElasticNet l1_ratio must be in [0, 1], got {l1_ratio}")
        s = np.asarray(strength, dtype=float)
        return cls(l1=s * l1_ratio, l2=s * (1.0 - l1_ratio), loc=loc)

    def _logp(self, x: np.ndarray, v: Vals) -> np.ndarray:
        d = x - v["loc"]
        return (-v["l1"] * np.abs(d) - 0.5 * v["l2"] * d * d
                - elastic_net_log_norm(v["l1"], v["l2"]))

    def _grad(self, x: np.ndarray, v: Vals) -> dict[str, Thunk]:
        d = x - v["loc"]

        def dv() -> np.ndarray:
            return -v["l1"] * np.sign(d) - v["l2"] * d

        return {"value": dv, "loc": lambda: -dv()}

    def _hess(self, x: np.ndarray, v: Vals) -> dict[Pair, Thunk]:
        l2 = v["l2"]
        return {("value", "value"): lambda: -l2, ("loc", "loc"): lambda: -l2,
                ("value", "loc"): lambda: l2}

    def _ehess(self, v: Vals) -> dict[Pair, Thunk]:
        return {("loc", "loc"): lambda: -1.0 / self._var(v)}

    def _improper(self, v: Vals) -> None:
        if np.any((v["l1"] == 0) & (v["l2"] == 0)):
            raise DistributionError("ElasticNet with l1 = l2 = 0 is flat (improper): it has no "
                                    "samples, mean or variance")

    def _sample(self, rng: np.random.Generator, v: Vals, shape: tuple[int, ...]) -> np.ndarray:
        self._improper(v)
        l1 = np.broadcast_to(v["l1"], shape)
        l2 = np.broadcast_to(v["l2"], shape)
        sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
        safe2 = np.where(l2 > 0, l2, 1.0)
        s = 1.0 / np.sqrt(safe2)
        m = -l1 / safe2
        half = stats.truncnorm.rvs(-m / s, np.inf, loc=m, scale=s, size=shape, random_state=rng)
        expo = rng.exponential(size=shape) / np.where(l1 > 0, l1, 1.0)
        return v["loc"] + sign * np.where(l2 > 0, half, expo)

    def _mean(self, v: Vals) -> np.ndarray:
        self._improper(v)
        return np.broadcast_to(v["loc"], self._param_shape(v)).copy()

    def _var(self, v: Vals) -> np.ndarray:
        self._improper(v)
        l1, l2 = v["l1"], v["l2"]
        safe2 = np.where(l2 > 0, l2, 1.0)
        alpha = l1 / np.sqrt(safe2)
        lam = np.sqrt(2.0 / np.pi) / special.erfcx(alpha / np.sqrt(2.0))
        mean_half = (lam - alpha) / np.sqrt(safe2)
        var_half = (1.0 + alpha * lam - lam * lam) / safe2
        ridge = var_half + mean_half**2
        lasso = 2.0 / np.where(l1 > 0, l1, 1.0) ** 2
        return np.broadcast_to(np.where(l2 > 0, ridge, lasso), self._param_shape(v)).copy()


class RidgeKernel(Family):
    r"""The smooth half of an elastic-net prior: ``log k(x) = −½ λ₂ (x − loc)²`` (unnormalised).

    Internal to the MAP compiler; its normalising constant is carried by the matching
    ``L1Term.log_norm``.
    """

    support: ClassVar[Constraint] = real
    domains: ClassVar[dict[str, Constraint]] = {"loc": real, "l2": nonnegative}
    nondiff: ClassVar[tuple[str, ...]] = ("l2",)
    restricted: ClassVar[bool] = False

    def __init__(self, loc: Any, l2: Any) -> None:
        super().__init__(loc=loc, l2=l2)

    def _logp(self, x: np.ndarray, v: Vals) -> np.ndarray:
        d = x - v["loc"]
        return -0.5 * v["l2"] * d * d

    def _grad(self, x: np.ndarray, v: Vals) -> dict[str, Thunk]:
        d = x - v["loc"]
        return {"value": lambda: -v["l2"] * d, "loc": lambda: v["l2"] * d}

    def _hess(self, x: np.ndarray, v: Vals) -> dict[Pair, Thunk]:
        l2 = v["l2"]
        return {("value", "value"): lambda: -l2, ("loc", "loc"): lambda: -l2,
                ("value", "loc"): lambda: l2}

    def _ehess(self, v: Vals) -> dict[Pair, Thunk]:
        return {("loc", "loc"): lambda: -v["l2"]}
