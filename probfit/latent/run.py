"""Fitting a model with a latent variable: build the enumeration, run the engine, wrap a Fit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from probfit.compile.start import initial_theta
from probfit.dsl.model import Model
from probfit.engines.base import call_engine
from probfit.engines.em import kmeans_start
from probfit.errors import EngineError
from probfit.latent.fit import LatentFit
from probfit.latent.marginal import MarginalObjective
from probfit.latent.problem import LatentProblem
from probfit.latent.vi import LatentVIFit, fit_latent_cavi, fit_latent_vi

__all__ = ["fit_latent"]


def fit_latent(model: Model, data: Mapping[str, Any], method: str = "mle",
               engine: str | None = None, *, jacobian: bool = False,
               dims: Mapping[str, int] | None = None, coords: Mapping[str, Any] | None = None,
               init: Mapping[str, Any] | None = None, k: int | None = None,
               **options: Any) -> LatentFit | LatentVIFit:
    """Fit ``model`` (which declares a latent) to ``data``; see :meth:`Model.fit`.

    ``k`` sizes the latent's category dim; ``options`` go to the engine (for EM: ``n_init``,
    ``seed``, ``covariance``, ``reg_covar``, ``max_iter``, ``tol``, ``newton_steps``).
    ``engine="lbfgs"`` minimises the marginal objective (:class:`MarginalObjective`) from a
    k-means++ start (``seed``) instead. ``method="vi"`` runs ADVI on the marginal log joint
    (:func:`probfit.latent.vi.fit_latent_vi`), ``engine="cavi"`` the closed-form updates of
    the Bayesian Gaussian mixture (:func:`probfit.latent.vi.fit_latent_cavi`); both return
    a :class:`LatentVIFit`.
    """
    from probfit.engines.registry import ENGINES, refusal

    problem = LatentProblem(model, data, method, jacobian=jacobian, dims=dims, k=k)
    if method == "vi":
        if engine == "cavi":
            return fit_latent_cavi(problem, coords=coords, **options)
        if engine not in (None, "advi"):
            raise EngineError(f"method='vi' on a model with the latent {problem.latent!r} "
                              f"takes engine='advi' or 'cavi', got {engine!r}")
        theta0 = initial_theta(problem.objective, init) if init else None
        return fit_latent_vi(problem, theta0, coords=coords, **options)
    name = engine or "em"
    why = refusal(name, problem)
    if why:
        raise EngineError(why)
    theta0 = initial_theta(problem.objective, init) if init else None
    target: LatentProblem | MarginalObjective = problem
    if name != "em":
        target = MarginalObjective(problem)
        seed = options.pop("seed", None)
        theta0 = kmeans_start(problem, seed) if theta0 is None else theta0
    result = call_engine(name, ENGINES[name], target, theta0, **options)
    return LatentFit(problem, result, coords=coords)
