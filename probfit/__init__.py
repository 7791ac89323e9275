"""probfit: declare a generative model once; fit it by MLE or MAP; compare the fits.

>>> import probfit as pf
>>> m = pf.Model("churn")
"""

from probfit import datasets, errors
from probfit.compile import Objective, compile_objective
from probfit.distributions import (
    Bernoulli,
    Beta,
    Binomial,
    Categorical,
    Dirichlet,
    Distribution,
    ElasticNet,
    Exponential,
    Flat,
    Gamma,
    HalfNormal,
    Laplace,
    NegativeBinomial,
    Normal,
    Poisson,
    StudentT,
    Uniform,
)
from probfit.dsl import (
    Expr,
    Model,
    exp,
    log,
    log_softmax,
    prepend_zero,
    sigmoid,
    softmax,
    softplus,
)
from probfit.errors import (
    ConvergenceError,
    ConvergenceWarning,
    DataError,
    DistributionError,
    EngineError,
    ProbfitError,
    ProbfitWarning,
    SeparationWarning,
    SingularInformationError,
    SpecError,
)
from probfit.penalties.cv import CVResult, cv
from probfit.penalties.explain import Explanation, explain
from probfit.penalties.path import PathResult, path
from probfit.results import Fit, Summary
from probfit.spec import ModelSpec, load_spec

__version__ = "0.1.0"

__all__ = [
    "Bernoulli", "Beta", "Binomial", "Categorical", "ConvergenceError", "ConvergenceWarning",
    "DataError", "Dirichlet", "Distribution", "DistributionError", "EngineError", "Exponential",
    "Expr", "Fit", "Flat", "Gamma", "HalfNormal", "Laplace", "Model", "ModelSpec",
    "NegativeBinomial", "Normal", "Objective", "Poisson", "ProbfitError", "ProbfitWarning",
    "SeparationWarning", "SingularInformationError", "SpecError", "StudentT", "Summary",
    "Uniform", "__version__", "compile_objective", "datasets", "errors", "exp", "load_spec",
    "log", "log_softmax", "prepend_zero", "sigmoid", "softmax", "softplus",
]
__all__ += ["CVResult", "ElasticNet", "Explanation", "PathResult", "cv", "explain", "path"]
