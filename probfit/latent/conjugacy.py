"""Recognise the conjugate Bayesian Gaussian mixture in a latent declaration, for CAVI.

The accepted structure (independent Normal and Gamma priors, one precision per component and
coordinate, i.e. a diagonal-covariance mixture; ``d = 1`` for 1-d data)::

    pi  ~ Dirichlet(alpha0)                      # simplex, dims (k,)
    mu  ~ Normal(m0, s0)                         # dims (k,) or (k, d)
    tau ~ Gamma(a0, b0)                          # rate parameterisation, positive, like mu
    z   ~ Categorical(probs=pi)                  # the latent, dims (n,)
    x   ~ Normal(mu[z], tau[z] ** -0.5)          # data, dims (n,) or (n, d)

with numeric prior arguments (scalars or arrays broadcasting to the parameter's shape);
``1 / tau[z] ** 0.5`` is accepted for the scale too. The mean prior may instead be Bishop's
conjugate Normal–Gamma coupling (PRML §10.2) ``mu ~ Normal(m0, (beta0 * tau) ** -0.5)``
(``beta0`` a positive number; ``tau ** -0.5`` means ``beta0 = 1``). Anything else raises
:class:`~probfit.errors.EngineError` naming the node and the prior that break conjugacy and
suggesting ``engine="advi"``. The full-covariance mixture with ``x ~ MultivariateNormal(mu[z],
precision=Lam[z])`` and Normal–Wishart priors is recognised by
:mod:`probfit.latent.normal_wishart`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from probfit.compile.conjugacy import _precision
from probfit.distributions import Categorical, Dirichlet, Gamma, MultivariateNormal, Normal
from probfit.dsl.expr import Const, Expr, Mul, Param
from probfit.errors import EngineError
from probfit.latent.normal_wishart import NormalWishartPlan, recognise_normal_wishart
from probfit.latent.problem import LatentProblem

__all__ = ["MixturePlan", "recognise_mixture"]

_ADVICE = "; use engine='advi' for this model"


@dataclass
class MixturePlan:
    """The Bayesian Gaussian mixture found in a declaration: names, data and priors.

    Attributes
    ----------
    weights, means, precisions
        Names of the simplex weights, component means and component precisions.
    x
        The observed data as an ``(n, d)`` array.
    alpha0
        Dirichlet concentration, shape ``(k,)``.
    m0, lam0
        Normal prior mean and precision ``1 / s0²`` of the means, shape ``(k, d)``.
    a0, b0
        Gamma prior shape and rate of the precisions, shape ``(k, d)``.
    shape
        The declared shape of ``mu`` and ``tau`` (``(k,)`` or ``(k, d)``).
    beta0
        ``None`` for independent priors; for the Normal–Gamma coupling
        ``mu ~ Normal(m0, (beta0 tau) ** -0.5)`` the factor ``beta0`` (and ``lam0`` is unused).
    """

    weights: str
    means: str
    precisions: str
    x: np.ndarray
    alpha0: np.ndarray
    m0: np.ndarray
    lam0: np.ndarray
    a0: np.ndarray
    b0: np.ndarray
    shape: tuple[int, ...]
    beta0: float | None = None


def _numeric_prior(problem: LatentProblem, name: str, kind: type, label: str) -> dict:
    decl = problem.model.param_decls[name]
    prior = decl.prior
    if not isinstance(prior, kind):
        raise EngineError(f"CAVI for a Gaussian mixture needs a {label} prior on {name!r}, "
                          f"but param {name!r} has prior {prior!r}{_ADVICE}")
    if any(isinstance(v, Expr) for v in prior.args.values()):
        raise EngineError(f"param {name!r} with prior {prior!r}: CAVI needs numeric prior "
                          f"arguments{_ADVICE}")
    if kind is Gamma and prior.param != "rate":
        raise EngineError(f"param {name!r} with prior {prior!r}: CAVI needs Gamma(shape, rate)"
                          f"{_ADVICE}")
    return {k: np.asarray(v, dtype=float) for k, v in prior.args.items()}


def recognise_mixture(problem: LatentProblem) -> MixturePlan | NormalWishartPlan:
    """The :class:`MixturePlan` of ``problem``, or a refusal.

    A ``MultivariateNormal`` likelihood is handed to
    :func:`~probfit.latent.normal_wishart.recognise_normal_wishart` (full covariances,
    Normal–Wishart components), which returns a
    :class:`~probfit.latent.normal_wishart.NormalWishartPlan`.

    Parameters
    ----------
    problem
        A ``method="vi"`` latent problem.

    Raises
    ------
    EngineError
        If the declaration is not the conjugate Gaussian mixture described in this module;
        the message names the node and its prior.
    """
    model, latent = problem.model, problem.latent
    ldist = model.latent_decls[latent].dist
    probs = ldist.args.get("probs") if isinstance(ldist, Categorical) else None
    if not isinstance(probs, Param):
        raise EngineError(f"CAVI needs the latent {latent!r} to be Categorical(probs=pi) with "
                          f"pi a parameter, got {ldist!r}{_ADVICE}")
    weights = probs.name
    alpha0 = _numeric_prior(problem, weights, Dirichlet, "Dirichlet")["concentration"]
    if len(model.observations) != 1:
        raise EngineError(f"CAVI for a Gaussian mixture needs exactly one observed variable, "
                          f"got {[o.handle.name for o in model.observations]}{_ADVICE}")
    obs = model.observations[0]
    xname = obs.handle.name
    if isinstance(obs.dist, MultivariateNormal):
        return recognise_normal_wishart(problem, weights, alpha0)
    if not isinstance(obs.dist, Normal):
        raise EngineError(f"CAVI for a Gaussian mixture needs {xname!r} ~ Normal(mu[{latent}], "
                          f"tau[{latent}] ** -0.5) (diagonal components) or "
                          f"MultivariateNormal(mu[{latent}], precision=Lam[{latent}]) (full "
                          f"covariances, Wishart prior on Lam), got {obs.dist!r}{_ADVICE}")
    loc, scale = obs.dist.args["loc"], obs.dist.args["scale"]
    means = problem.indexed_param(loc)
    if means is None:
        raise EngineError(f"{xname!r}: the Normal loc {_source(loc)} is not mu[{latent}] for a "
                          f"parameter mu{_ADVICE}")
    tau_expr = _precision(scale) if isinstance(scale, Expr) else None
    precisions = problem.indexed_param(tau_expr) if tau_expr is not None else None
    if precisions is None:
        raise EngineError(f"{xname!r}: the Normal scale {_source(scale)} is not "
                          f"tau[{latent}] ** -0.5 with tau a Gamma-prior precision "
                          f"(a scale with another prior is not conjugate){_ADVICE}")
    norm, beta0 = _mean_prior(problem, means, precisions)
    gam = _numeric_prior(problem, precisions, Gamma, "Gamma(shape, rate)")
    others = set(model.param_decls) - {weights, means, precisions}
    if others:
        raise EngineError(f"CAVI for a Gaussian mixture takes only {weights!r}, {means!r} and "
                          f"{precisions!r}; the model also has {sorted(others)}{_ADVICE}")
    layout = problem.objective.layout
    shape = layout[means].shape
    k = problem.k
    x = np.asarray(problem.objective.data[xname], dtype=float)
    if layout[precisions].shape != shape or shape[0] != k or len(shape) > 2 \
            or x.shape[1:] != shape[1:]:
        raise EngineError(f"CAVI for a Gaussian mixture needs {means!r} and {precisions!r} "
                          f"shaped (k,) for 1-d {xname!r} or (k, d) for {xname!r} shaped "
                          f"(n, d); got {shape}, {layout[precisions].shape} and data "
                          f"{x.shape}{_ADVICE}")
    full = (k, int(np.prod(shape[1:], dtype=int)))
    return MixturePlan(
        weights=weights, means=means, precisions=precisions, x=x.reshape(x.shape[0], -1),
        alpha0=np.broadcast_to(alpha0, (k,)).astype(float),
        m0=np.broadcast_to(norm["loc"], shape).reshape(full).astype(float),
        lam0=np.broadcast_to(norm["scale"] ** -2.0, shape).reshape(full).astype(float),
        a0=np.broadcast_to(gam["shape"], shape).reshape(full).astype(float),
        b0=np.broadcast_to(gam["rate"], shape).reshape(full).astype(float),
        shape=tuple(shape), beta0=beta0)


def _mean_prior(problem: LatentProblem, means: str, precisions: str
                ) -> tuple[dict, float | None]:
    """The Normal prior of the means: numeric, or coupled to the precisions."""
    prior = problem.model.param_decls[means].prior
    scale = prior.args.get("scale") if isinstance(prior, Normal) else None
    if not isinstance(scale, Expr):
        norm = _numeric_prior(problem, means, Normal, "Normal")
        return norm, None
    prec = _precision(scale)
    beta0: float | None = None
    if isinstance(prec, Param) and prec.name == precisions:
        beta0 = 1.0
    elif isinstance(prec, Mul) and isinstance(prec.a, Const) and isinstance(prec.b, Param) \
            and prec.b.name == precisions and np.ndim(prec.a.const) == 0 and prec.a.const > 0:
        beta0 = float(prec.a.const)
    if beta0 is None or isinstance(prior.args["loc"], Expr):
        raise EngineError(f"param {means!r} with prior {prior!r}: CAVI needs numeric prior "
                          f"arguments or the Normal-Gamma coupling Normal(m0, (beta0 * "
                          f"{precisions}) ** -0.5){_ADVICE}")
    loc = np.asarray(prior.args["loc"], dtype=float)
    return {"loc": loc, "scale": np.ones_like(loc)}, beta0


def _source(e: object) -> str:
    return repr(e.to_source()) if isinstance(e, Expr) else repr(e)
