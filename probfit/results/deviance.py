"""GLM deviances in R's convention: ``2 Σ (log p(y|y) - log p(y|μ̂))`` times the dispersion.

For families with a dispersion factor (Normal σ², Gamma 1/shape) R reports the *unscaled*
deviance, so that is what these functions return; for Bernoulli, Binomial, Poisson and the
negative binomial (dispersion held at its estimate) the scaled and unscaled deviances agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from scipy.special import xlogy

__all__ = ["unit_deviance"]


def _normal(y, mu, vals):
    return (y - mu) ** 2


def _bernoulli(y, mu, vals):
    return -2.0 * (xlogy(y, mu) + xlogy(1.0 - y, 1.0 - mu))


def _binomial(y, mu, vals):
    t = vals["trials"]
    return 2.0 * (xlogy(y, y / mu) + xlogy(t - y, (t - y) / (t - mu)))


def _poisson(y, mu, vals):
    return 2.0 * (xlogy(y, y / mu) - (y - mu))


def _gamma(y, mu, vals):
    return 2.0 * (-np.log(y / mu) + (y - mu) / mu)


def _negbin(y, mu, vals):
    a = vals["dispersion"]
    return 2.0 * (xlogy(y, y / mu) - (y + 1.0 / a) * np.log((1.0 + a * y) / (1.0 + a * mu)))


_UNIT: dict[str, Callable] = {
    "Normal": _normal,
    "Bernoulli": _bernoulli,
    "Binomial": _binomial,
    "Poisson": _poisson,
    "Gamma": _gamma,
    "NegativeBinomial": _negbin,
}


def unit_deviance(dist_name: str, y: np.ndarray, mean: np.ndarray,
                  vals: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """Per-observation deviance contributions, or ``None`` for a non-GLM family."""
    fn = _UNIT.get(dist_name)
    if fn is None:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return fn(y, mean, vals)
