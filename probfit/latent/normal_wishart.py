"""Recognise the full-covariance Bayesian Gaussian mixture (Normal–Wishart components).

The accepted structure (Bishop, PRML §10.2)::

    pi  ~ Dirichlet(alpha0)                                   # simplex, dims (k,)
    Lam ~ Wishart(nu0, W0)                                    # precisions, dims (k, d, d)
    mu  ~ MultivariateNormal(m0, precision=beta0 * Lam)       # means, dims (k, d)
    z   ~ Categorical(probs=pi)                               # the latent, dims (n,)
    x   ~ MultivariateNormal(mu[z], precision=Lam[z])         # data, dims (n, d)

with numeric ``alpha0``, ``nu0`` (a number or one per component), ``W0`` (``(d, d)`` or
``(k, d, d)``), ``m0`` (``(d,)`` or ``(k, d)``) and a positive number ``beta0``
(``precision=Lam`` means ``beta0 = 1``). The mean prior may instead be independent of ``Lam``
with numeric arguments — ``MultivariateNormal(m0, cov=S0)`` or ``precision=P0`` (``(d, d)`` or
``(k, d, d)``), or an elementwise ``Normal(m0, s0)`` — the conditionally conjugate
Gaussian–Wishart prior, whose ``q(μ_k) q(Λ_k)`` factorise. A covariance instead of a precision
in the likelihood, a mean prior that depends on other parameters, or any other prior is
refused with an :class:`~probfit.errors.EngineError` naming the node and its prior and
suggesting ``engine="advi"``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from probfit.distributions import MultivariateNormal, Normal, Wishart
from probfit.dsl.expr import Const, Expr, Mul, Param
from probfit.errors import EngineError
from probfit.latent.problem import LatentProblem

__all__ = ["NormalWishartPlan", "recognise_normal_wishart"]

_ADVICE = "; use engine='advi' for this model"


@dataclass
class NormalWishartPlan:
    """The Normal–Wishart mixture found in a declaration: names, data and priors.

    Attributes
    ----------
    weights, means, precisions
        Names of the simplex weights, component means ``(k, d)`` and precision matrices
        ``(k, d, d)``.
    x
        The observed data, ``(n, d)``.
    alpha0
        Dirichlet concentration, ``(k,)``.
    m0, beta0
        The mean prior ``μ_k | Λ_k ~ N(m0_k, (beta0 Λ_k)⁻¹)``: ``m0`` shaped ``(k, d)``;
        ``beta0`` is ``None`` for an independent prior.
    nu0, w0
        The Wishart prior ``Λ_k ~ W(w0_k, nu0_k)``: ``nu0`` shaped ``(k,)``, ``w0`` ``(k, d, d)``.
    p0
        For an independent mean prior ``μ_k ~ N(m0_k, p0_k⁻¹)``: its precision ``(k, d, d)``
        (``None`` with the coupling).
    """

    weights: str
    means: str
    precisions: str
    x: np.ndarray
    alpha0: np.ndarray
    m0: np.ndarray
    beta0: float | None
    nu0: np.ndarray
    w0: np.ndarray
    p0: np.ndarray | None = None


def _src(e: object) -> str:
    return repr(e.to_source()) if isinstance(e, Expr) else repr(e)


def _beta0(prec: object, precisions: str) -> float | None:
    """``beta0`` if ``prec`` is ``Lam`` or ``c * Lam`` (``c > 0`` a number), else ``None``."""
    if isinstance(prec, Param) and prec.name == precisions:
        return 1.0
    if isinstance(prec, Mul):
        for c, p in ((prec.a, prec.b), (prec.b, prec.a)):
            if isinstance(c, Const) and isinstance(p, Param) and p.name == precisions \
                    and np.ndim(c.const) == 0 and c.const > 0:
                return float(c.const)
    return None


def recognise_normal_wishart(problem: LatentProblem, weights: str,
                             alpha0: np.ndarray) -> NormalWishartPlan:
    """The :class:`NormalWishartPlan` of ``problem``, or a refusal.

    Parameters
    ----------
    problem
        A ``method="vi"`` latent problem whose one observed variable is
        ``MultivariateNormal``.
    weights, alpha0
        The Dirichlet-prior weights of the latent and their concentration (already checked).

    Raises
    ------
    EngineError
        If the declaration is not the conjugate Normal–Wishart mixture; the message names the
        node and its prior.
    """
    model, latent = problem.model, problem.latent
    obs = model.observations[0]
    xname, args = obs.handle.name, obs.dist.args
    means = problem.indexed_param(args["loc"])
    if means is None:
        raise EngineError(f"{xname!r}: the MultivariateNormal loc {_src(args['loc'])} is not "
                          f"mu[{latent}] for a parameter mu{_ADVICE}")
    if "cov" in args:
        cov = problem.indexed_param(args["cov"])
        prior = model.param_decls[cov].prior if cov is not None else None
        raise EngineError(f"{xname!r}: CAVI for a full-covariance mixture needs "
                          f"MultivariateNormal(mu[{latent}], precision=Lam[{latent}]) with a "
                          f"Wishart prior on Lam; the covariance {_src(args['cov'])} "
                          f"(prior {prior!r}) is not conjugate{_ADVICE}")
    precisions = problem.indexed_param(args["precision"])
    if precisions is None:
        raise EngineError(f"{xname!r}: the MultivariateNormal precision "
                          f"{_src(args['precision'])} is not Lam[{latent}] for a parameter "
                          f"Lam{_ADVICE}")
    wprior = model.param_decls[precisions].prior
    if not isinstance(wprior, Wishart) or any(isinstance(v, Expr)
                                              for v in wprior.args.values()):
        raise EngineError(f"CAVI for a full-covariance mixture needs a Wishart prior with "
                          f"numeric arguments on the precision {precisions!r}, but param "
                          f"{precisions!r} has prior {wprior!r} (not conjugate){_ADVICE}")
    mprior = model.param_decls[means].prior
    beta0 = None
    independent = isinstance(mprior, (MultivariateNormal, Normal)) and not any(
        isinstance(v, Expr) for v in mprior.args.values())
    if isinstance(mprior, MultivariateNormal) and "precision" in mprior.args \
            and not isinstance(mprior.args["loc"], Expr):
        beta0 = _beta0(mprior.args["precision"], precisions)
    if beta0 is None and not independent:
        raise EngineError(f"param {means!r} with prior {mprior!r}: CAVI for a full-covariance "
                          f"mixture needs the Normal-Wishart coupling MultivariateNormal(m0, "
                          f"precision=beta0 * {precisions}) with numeric m0 and beta0 > 0, or "
                          f"an independent MultivariateNormal or Normal prior with numeric "
                          f"arguments{_ADVICE}")
    others = set(model.param_decls) - {weights, means, precisions}
    if others:
        raise EngineError(f"CAVI for a Gaussian mixture takes only {weights!r}, {means!r} and "
                          f"{precisions!r}; the model also has {sorted(others)}{_ADVICE}")
    layout, k = problem.objective.layout, problem.k
    x = np.asarray(problem.objective.data[xname], dtype=float)
    d = x.shape[-1]
    if x.ndim != 2 or layout[means].shape != (k, d) or layout[precisions].shape != (k, d, d):
        raise EngineError(f"CAVI for a full-covariance mixture needs {xname!r} shaped (n, d), "
                          f"{means!r} (k, d) and {precisions!r} (k, d, d); got {x.shape}, "
                          f"{layout[means].shape} and {layout[precisions].shape}{_ADVICE}")
    nu0 = np.asarray(wprior.args["df"], dtype=float)
    w0 = np.asarray(wprior.args["scale"], dtype=float)
    m0 = np.asarray(mprior.args.get("loc", 0.0), dtype=float)
    try:
        nu0 = np.broadcast_to(nu0, (k,)).astype(float)
        w0 = np.broadcast_to(w0, (k, d, d)).astype(float)
        m0 = np.broadcast_to(m0, (k, d)).astype(float)
        p0 = None if beta0 is not None else _mean_precision(mprior, k, d)
    except ValueError:
        raise EngineError(f"the priors of {means!r} and {precisions!r} do not broadcast to "
                          f"{k} components of dimension {d}: Wishart df {nu0.shape}, scale "
                          f"{w0.shape}, mean prior {mprior!r}") from None
    if np.any(nu0 <= d - 1):
        raise EngineError(f"param {precisions!r}: the Wishart prior needs df > d - 1 = {d - 1}"
                          f", got {nu0.tolist()}")
    return NormalWishartPlan(weights=weights, means=means, precisions=precisions, x=x,
                             alpha0=np.broadcast_to(alpha0, (k,)).astype(float), m0=m0,
                             beta0=beta0, nu0=nu0, w0=w0, p0=p0)


def _mean_precision(prior: MultivariateNormal | Normal, k: int, d: int) -> np.ndarray:
    """The precision ``(k, d, d)`` of an independent numeric mean prior."""
    if isinstance(prior, Normal):
        scale = np.broadcast_to(np.asarray(prior.args.get("scale", 1.0), dtype=float), (k, d))
        return np.eye(d) * scale[:, :, None] ** -2.0
    if "precision" in prior.args:
        return np.broadcast_to(np.asarray(prior.args["precision"], dtype=float),
                               (k, d, d)).astype(float)
    cov = np.broadcast_to(np.asarray(prior.args["cov"], dtype=float), (k, d, d))
    chol = np.linalg.cholesky(cov)
    inv_l = np.linalg.solve(chol, np.broadcast_to(np.eye(d), chol.shape))
    return np.swapaxes(inv_l, -1, -2) @ inv_l
