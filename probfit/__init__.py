"""probfit: declare a generative model once; fit it by MLE, MAP or VI; compare the fits.

>>> import probfit as pf
>>> m = pf.Model("churn")
"""

from probfit import datasets, errors, optim
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
    MultivariateNormal,
    NegativeBinomial,
    Normal,
    Poisson,
    StudentT,
    Uniform,
    Wishart,
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
from probfit.latent import LatentFit, LatentVIFit, Mixture, align_components, match_components
from probfit.penalties.cv import CVResult, cv
from probfit.penalties.explain import Explanation, explain
from probfit.penalties.path import PathResult, path
from probfit.results import Fit, Summary, VIFit
from probfit.simulate import simulate
from probfit.spec import ModelSpec, load_spec

__version__ = "0.1.0"

__all__ = [
    "Bernoulli", "Beta", "Binomial", "Categorical", "ConvergenceError", "ConvergenceWarning",
    "DataError", "Dirichlet", "Distribution", "DistributionError", "EngineError", "Exponential",
    "Expr", "Fit", "Flat", "Gamma", "HalfNormal", "Laplace", "Model", "ModelSpec",
    "NegativeBinomial", "Normal", "Objective", "Poisson", "ProbfitError", "ProbfitWarning",
    "SeparationWarning", "SingularInformationError", "SpecError", "StudentT", "Summary",
    "Uniform", "VIFit", "__version__", "compile_objective", "datasets", "errors", "exp",
    "load_spec", "log", "log_softmax", "optim", "prepend_zero", "sigmoid", "softmax",
    "softplus",
]
__all__ += ["CVResult", "ElasticNet", "Explanation", "PathResult", "cv", "explain", "path"]
__all__ += ["LatentFit", "Mixture", "MultivariateNormal", "align_components",
            "match_components"]
__all__ += ["LatentVIFit"]
__all__ += ["Wishart"]
__all__ += ["Calibration", "Comparison", "ConvergenceReport", "Residuals", "calibration",
            "compare", "convergence_report", "residuals", "simulate"]

#: Diagnostics and reports import xarray/ArviZ, so they load on first use (PEP 562).
_LAZY = {
    "Calibration": "probfit.diagnostics.calibration",
    "calibration": "probfit.diagnostics.calibration",
    "ConvergenceReport": "probfit.diagnostics.convergence",
    "convergence_report": "probfit.diagnostics.convergence",
    "Residuals": "probfit.diagnostics.residuals",
    "residuals": "probfit.diagnostics.residuals",
    "Comparison": "probfit.report.compare",
    "compare": "probfit.report.compare",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'probfit' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
