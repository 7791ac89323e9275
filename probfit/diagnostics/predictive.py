"""Predictive distributions of the observed variables as scipy objects, per fitted row.

Diagnostics need more of a likelihood than its log density: cumulative distribution
functions (PIT values, randomized quantile residuals), quantiles (interval coverage) and the
probability mass function over the support (rootograms). This module maps each probfit family
to the matching frozen :mod:`scipy.stats` distribution at given argument values, using the
family's own ``mean_of``/``variance_of`` so every link and parameterisation is covered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from probfit.dsl.expr import Expr
from probfit.errors import DataError

__all__ = ["ObsTerm", "frozen", "obs_terms", "response_kind"]

_KINDS = {
    "Bernoulli": "binary",
    "Categorical": "categorical",
    "Binomial": "count",
    "Poisson": "count",
    "NegativeBinomial": "count",
}


def response_kind(dist: Any) -> str:
    """``"binary"``, ``"categorical"``, ``"count"`` or ``"continuous"`` for a likelihood."""
    return _KINDS.get(type(dist).__name__, "continuous")


@dataclass(frozen=True)
class ObsTerm:
    """One observed variable evaluated at one parameter point.

    Attributes
    ----------
    name
        The observed data variable.
    dist
        Its probfit likelihood.
    vals
        Argument values of the likelihood, per row.
    y
        Observed values (``None`` when predicting on data without the response).
    kind
        See :func:`response_kind`.
    dims
        Named dims of the observed variable.
    """

    name: str
    dist: Any
    vals: dict[str, np.ndarray]
    y: np.ndarray | None
    kind: str
    dims: tuple[str, ...]

    @property
    def mean(self) -> np.ndarray:
        """Mean response per row (class probabilities for a categorical response)."""
        return np.asarray(self.dist.mean_of(self.vals), dtype=float)

    @property
    def variance(self) -> np.ndarray:
        """Variance per row."""
        return np.asarray(self.dist.variance_of(self.vals), dtype=float)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One draw of the observed variable, shaped like the observations."""
        draw = np.asarray(self.dist.sample_from(rng, self.vals), dtype=float)
        if self.y is None or draw.shape == self.y.shape:
            return draw
        extra = self.y.shape[: self.y.ndim - draw.ndim]
        return np.asarray(self.dist.sample_from(rng, self.vals, extra), dtype=float)

    def frozen(self) -> Any:
        """The frozen scipy distribution of every row (see :func:`frozen`)."""
        return frozen(self.dist, self.vals)


def obs_terms(fit: Any, data: Mapping[str, np.ndarray] | None = None,
              theta: np.ndarray | None = None, checked: bool = False) -> list[ObsTerm]:
    """Every observed variable of ``fit`` at ``theta`` (default: the estimate) on ``data``.

    Parameters
    ----------
    fit
        A :class:`~probfit.Fit`.
    data
        Bound data (defaults to the fitted data); raw user data is bound and checked.
    theta
        Flat unconstrained parameter vector.
    checked
        ``data`` is already bound (skips the checks when called once per posterior draw).
    """
    objective = fit.objective
    bound = objective.data if data is None else data if checked else fit._bind(data)
    th = fit.theta if theta is None else theta
    ctx = objective.data_context(th, bound)
    out = []
    for f in objective.obs_factors():
        vals = {k: (v.value(ctx) if isinstance(v, Expr) else v) for k, v in f.args.items()}
        y = bound.get(f.name)
        out.append(ObsTerm(f.name, f.dist, vals, None if y is None else np.asarray(y, float),
                           response_kind(f.dist), tuple(f.value.dims)))
    return out


def frozen(dist: Any, vals: Mapping[str, np.ndarray]) -> Any:
    """The frozen :mod:`scipy.stats` distribution matching ``dist`` at argument ``vals``.

    Raises
    ------
    DataError
        For a family without a scipy counterpart (Categorical, Dirichlet, Flat).
    """
    name = type(dist).__name__
    if name in ("Categorical", "Dirichlet", "Flat"):
        raise DataError(f"no predictive distribution for a {name} likelihood in diagnostics; "
                        "expected a univariate family")
    mean = np.asarray(dist.mean_of(vals), dtype=float)
    if name == "Normal":
        return stats.norm(vals["loc"], vals["scale"])
    if name == "StudentT":
        return stats.t(vals["df"], vals["loc"], vals["scale"])
    if name == "Laplace":
        return stats.laplace(vals["loc"], vals["scale"])
    if name == "Gamma":
        shape = np.asarray(vals["shape"], dtype=float)
        return stats.gamma(shape, scale=mean / shape)
    if name == "Exponential":
        return stats.expon(scale=mean)
    if name == "HalfNormal":
        return stats.halfnorm(scale=vals["scale"])
    if name == "Beta":
        return stats.beta(vals["a"], vals["b"])
    if name == "Uniform":
        return stats.uniform(vals["low"], np.asarray(vals["high"]) - np.asarray(vals["low"]))
    if name == "Bernoulli":
        return stats.bernoulli(mean)
    if name == "Binomial":
        trials = np.asarray(vals["trials"], dtype=float)
        return stats.binom(trials, mean / trials)
    if name == "Poisson":
        return stats.poisson(mean)
    if name == "NegativeBinomial":
        r = 1.0 / np.asarray(vals["dispersion"], dtype=float)
        return stats.nbinom(r, r / (r + mean))
    raise DataError(f"no predictive distribution for a {name} likelihood in diagnostics; "
                    "expected a univariate family")
