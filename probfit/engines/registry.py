"""Which engine fits which model: defaults per method, and refusals with reasons."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from probfit.compile.objective import Factor, Objective
from probfit.compile.start import initial_theta
from probfit.diagnostics.separation import binary_predictor, separated_coefficients
from probfit.engines.adam import adam
from probfit.engines.advi import advi
from probfit.engines.base import EngineResult, call_engine
from probfit.engines.cavi import cavi, cavi_refusal
from probfit.engines.em import em
from probfit.engines.fista import fista
from probfit.engines.lbfgs import lbfgs
from probfit.engines.newton import newton
from probfit.engines.quadrature_elbo import quadrature_refusal
from probfit.engines.quadrature_vi import quadrature
from probfit.errors import EngineError, SeparationWarning

__all__ = ["ENGINES", "default_engine", "refusal", "run_engine"]

ENGINES: dict[str, Callable[..., EngineResult]] = {"newton": newton, "lbfgs": lbfgs, "em": em,
                                                   "adam": adam, "fista": fista, "advi": advi,
                                                   "cavi": cavi, "quadrature": quadrature}

#: Engines that can fit a model with a discrete latent variable (lbfgs on the marginal).
LATENT_ENGINES = ("em", "lbfgs")

#: Engines that return a variational posterior (method "vi") rather than a point estimate.
VI_ENGINES = ("advi", "cavi", "quadrature")

#: Above this many free parameters Newton's dense Hessian is not the default.
NEWTON_MAX_PARAMS = 2000


def refusal(name: str, objective: Objective | Any) -> str | None:
    """Why engine ``name`` cannot fit ``objective`` (``None`` if it can)."""
    if name not in ENGINES:
        return f"unknown engine {name!r}; available: {sorted(ENGINES)}"
    latent = getattr(objective, "latent", None)
    if latent is not None and name not in LATENT_ENGINES:
        return (f"{name} cannot fit a model with the discrete latent {latent!r}: the latent "
                f"must be marginalized; use engine={LATENT_ENGINES[0]!r}")
    if latent is None and name == "em":
        return (f"{name} fits models with a discrete latent variable (Model.latent); this "
                "model has none, use newton or lbfgs")
    if (name in VI_ENGINES) != (objective.method == "vi"):
        return (f"engine {name!r} cannot fit method={objective.method!r}; method='vi' takes "
                f"engine={VI_ENGINES[0]!r}, {VI_ENGINES[1]!r} or {VI_ENGINES[2]!r}, other "
                "methods 'newton', 'lbfgs' or 'adam'")
    if name == "cavi":
        return cavi_refusal(objective)
    if name == "quadrature":
        return quadrature_refusal(objective)
    return None


def default_engine(objective: Objective) -> str:
    """Newton (proximal Newton with coordinate descent under L1) up to 2000 parameters, else
    L-BFGS; ADVI for VI."""
    if objective.method == "vi":
        return "advi"
    if objective.size <= NEWTON_MAX_PARAMS:
        return "newton"
    return "lbfgs"


#: Iterations before the separation monitor starts looking. Separation shows as divergence, which
#: takes many iterations; each look costs a pass over the data, and a converged fit is checked
#: once more at its end anyway (:func:`run_engine`).
SEPARATION_GRACE = 5


def _separation_monitor(objective: Objective, found: dict[str, list[str]]):
    """A monitor that runs the separation LP once fitted probabilities reach 0 or 1 (from
    iteration :data:`SEPARATION_GRACE` on, or at any iteration when called with ``force``)."""
    factors = [f for f in objective.obs_factors() if binary_predictor(f)]
    if objective.method != "mle" or not factors:
        return None
    checked: set[int] = set()

    def monitor(theta: np.ndarray, iteration: int, force: bool = False) -> str | None:
        if iteration < SEPARATION_GRACE and not force:
            return None
        ctx = objective.data_context(theta, objective.data)
        for i, f in enumerate(factors):
            if i in checked:
                continue
            vals = {k: (v.value(ctx) if hasattr(v, "value") else v) for k, v in f.args.items()}
            if _least_tail_probability(f, vals) > 1e-6:
                continue
            checked.add(i)
            labels = separated_coefficients(objective, f, theta)
            if labels:
                found[f.name] = labels
                return (f"stopped at iteration {iteration}: separation in {f.name!r}; "
                        f"{', '.join(labels)} diverge")
        return None

    return monitor


def _least_tail_probability(f: Factor, vals: dict[str, Any]) -> float:
    """``min(p, 1 - p)`` over the rows of a binary factor at argument values ``vals``.

    ``p`` increases with the linear predictor for every link, and ``min(p, 1 - p)`` is concave
    in ``p``, so the least value is at the least or the greatest predictor: the link is
    evaluated at those two only, not on every row."""
    arg = binary_predictor(f)
    eta = np.asarray(vals[arg], dtype=float)
    ends = dict(vals, **{arg: np.array([eta.min(), eta.max()])})
    if "trials" in ends:
        ends["trials"] = 1.0  # the mean is then p itself
    p = f.dist.mean_of(ends)
    return float(np.min(np.minimum(p, 1.0 - p)))


def run_engine(objective: Objective, engine: str | None = None, *,
               init: Mapping[str, Any] | None = None, coords: Mapping[str, Any] | None = None,
               **options: Any):
    """Fit ``objective`` with ``engine`` (default chosen per model) and wrap a :class:`Fit`."""
    from probfit.results.fit import Fit
    from probfit.results.vi import VIFit

    name = engine or default_engine(objective)
    why = refusal(name, objective)
    if why:
        raise EngineError(why)
    theta0 = initial_theta(objective, init)
    found: dict[str, list[str]] = {}
    monitor = _separation_monitor(objective, found)
    result = call_engine(name, ENGINES[name], objective, theta0, monitor=monitor, **options)
    if monitor is not None and not found:
        monitor(result.theta, result.n_iter, force=True)
    if found:
        labels = [lab for v in found.values() for lab in v]
        result.separated = labels
        warnings.warn(
            f"perfect or quasi-complete separation: the MLE of {', '.join(labels)} is "
            "infinite, so the fit was stopped and its estimates and standard errors are not "
            "meaningful; use method='map' with a prior on these coefficients "
            "(e.g. pf.Normal(0, 2.5)) for finite estimates",
            SeparationWarning, stacklevel=3)
    if objective.method == "vi":
        return VIFit(objective, result, coords=coords)
    return Fit(objective, result, coords=coords, hessian=options.get("hessian", "observed"))
