"""Probability distributions: log densities, their derivatives, sampling and moments.

Every class implements the :class:`~probfit.distributions.base.Distribution` protocol. The
observed (or parameter) value ``x`` and the argument values are float64 arrays that broadcast
together; outputs are elementwise over the batch shape, never summed.
"""

from probfit.distributions import constraints
from probfit.distributions.base import Distribution
from probfit.distributions.continuous import (
    Beta,
    Exponential,
    Flat,
    Gamma,
    HalfNormal,
    Laplace,
    Normal,
    StudentT,
    Uniform,
)
from probfit.distributions.discrete import (
    Bernoulli,
    Binomial,
    Categorical,
    NegativeBinomial,
    Poisson,
)
from probfit.distributions.multivariate import Dirichlet
from probfit.distributions.mvn import MultivariateNormal
from probfit.distributions.penalized import ElasticNet
from probfit.distributions.wishart import Wishart

__all__ = [
    "Bernoulli",
    "Beta",
    "Binomial",
    "Categorical",
    "Dirichlet",
    "Distribution",
    "ElasticNet",
    "Exponential",
    "Flat",
    "Gamma",
    "HalfNormal",
    "Laplace",
    "MultivariateNormal",
    "NegativeBinomial",
    "Normal",
    "Poisson",
    "StudentT",
    "Uniform",
    "Wishart",
    "constraints",
]
