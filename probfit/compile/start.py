"""Starting points: user values first, then the GLM mean-start, then neutral defaults.

The GLM mean-start: for a likelihood whose mean-carrying argument is an affine function of
unconstrained parameters (``X @ w + b``), the link applied to a slightly shrunk response
``g(μ₀)`` is matched in least squares by the intercept-like parameters alone (coefficients
stay at 0, so ``η`` is the mean of ``g(μ₀)`` and the design is not read); a predictor without
an intercept gets the least-squares fit ``g(μ₀) ≈ Jθ`` over its whole design, as in R's
``glm``.
Scale-like parameters used directly as a Normal/StudentT/Laplace ``scale`` or a Gamma
``shape`` then get moment estimates from the residuals. Everything else starts at the bijector
image of 0 (1 for positive parameters, the centre of an interval, the uniform simplex).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from scipy import linalg, special

from probfit.compile.objective import Objective
from probfit.contract import contract, gram, is_const
from probfit.dsl.expr import Expr, Param
from probfit.errors import SpecError

__all__ = ["initial_theta"]


def _logit(m):
    return np.log(m) - np.log1p(-m)


# (distribution, argument) -> target(y, vals): the link at a slightly shrunk response, g(μ₀)
_MEAN_START: dict[tuple[str, str], Callable] = {}


def _reg(dist: str, args: tuple[str, ...], mu0: Callable, links: tuple[Callable, ...]) -> None:
    for a, g in zip(args, links, strict=True):
        _MEAN_START[(dist, a)] = lambda y, vals, mu0=mu0, g=g: g(mu0(y, vals))


def _binary(g: Callable) -> Callable:
    """``g(μ₀)`` for 0/1 responses: ``μ₀ = (y + 1/2)/2`` is 1/4 or 3/4, so the link is
    evaluated twice, not once per row."""
    lo, hi = g(np.array([0.25, 0.75]))
    return lambda y, vals: (y > 0.5) * (hi - lo) + lo


def _binomial_mu0(y, vals):
    return (y + 0.5) / (vals["trials"] + 1.0)


def _count_mu0(y, vals):
    return y + 0.1


def _identity_mu0(y, vals):
    return y


_PROB_ARGS = ("logit", "probit", "cloglog", "p")
_PROB_LINKS = (_logit, special.ndtri, lambda m: np.log(-np.log1p(-m)), lambda m: m)
for _a, _g in zip(_PROB_ARGS, _PROB_LINKS, strict=True):
    _MEAN_START[("Bernoulli", _a)] = _binary(_g)
_reg("Binomial", _PROB_ARGS, _binomial_mu0, _PROB_LINKS)
_reg("Poisson", ("log_rate", "rate"), _count_mu0, (np.log, lambda m: m))
_reg("NegativeBinomial", ("log_mean", "mean"), _count_mu0, (np.log, lambda m: m))
_reg("Gamma", ("log_mean", "inverse_mean", "mean"), _identity_mu0,
     (np.log, lambda m: 1.0 / m, lambda m: m))
for _d in ("Normal", "StudentT", "Laplace"):
    _reg(_d, ("loc",), _identity_mu0, (lambda m: m,))


def initial_theta(objective: Objective, init: Mapping[str, Any] | None = None) -> np.ndarray:
    """A starting flat vector for ``objective``.

    Parameters
    ----------
    objective
        The compiled objective.
    init
        Constrained starting values by parameter name (override declared ``init=``).
    """
    layout = objective.layout
    init = dict(init or {})
    unknown = sorted(set(init) - set(layout.slots))
    if unknown:
        raise SpecError(f"init names unknown parameter(s) {unknown}; parameters are "
                        f"{sorted(layout.slots)}")
    theta = np.zeros(layout.size)
    given: set[str] = set()
    for name, decl in objective.model.param_decls.items():
        value = init.get(name, decl.init)
        if value is None:
            continue
        slot = layout[name]
        arr = np.asarray(value, dtype=float)
        try:
            arr = np.broadcast_to(arr, slot.shape)
        except ValueError:
            raise SpecError(f"init for {name!r} has shape {arr.shape}; expected {slot.shape}") \
                from None
        if not np.all(decl.support.check(arr)):
            raise SpecError(f"init for {name!r} is outside its support "
                            f"({decl.support.describe()})")
        theta[slot.slice] = slot.bijector.inverse(arr)
        given.add(name)
    for f in objective.obs_factors():
        _mean_start(objective, f, theta, given)
    return theta


def _mean_start(objective: Objective, f, theta: np.ndarray, given: set[str]) -> None:
    dist = type(f.dist).__name__
    arg = next((a for a in f.args if (dist, a) in _MEAN_START), None)
    if arg is None:
        return
    e = f.args[arg]
    if not isinstance(e, Expr) or not e.params or not e.linear or e.params & given:
        return
    ctx = objective.data_context(theta, objective.data)
    y = objective.data[f.name]
    vals = {k: (v.value(ctx) if isinstance(v, Expr) else v) for k, v in f.args.items()
            if not (isinstance(v, Expr) and v.params)}
    with np.errstate(all="ignore"):
        target = _MEAN_START[(dist, arg)](y, vals)
    if not np.all(np.isfinite(target)):
        return
    jac = e.jac(ctx)
    names = sorted(jac, key=lambda p: objective.layout[p].start)
    # the GLM mean-start: when the predictor has intercept-like parameters (the same
    # Jacobian on every row) fit only those, with no data-sized work; otherwise least squares
    # on the whole design
    intercepts = [p for p in names if is_const(jac[p])]
    names = intercepts or names
    plan = objective.glm_plan_of(f)
    if intercepts and plan is not None:
        # the design's coefficients are still 0: η is the offset and the intercepts alone, and
        # with the same Jacobian row r on every one of the n rows the normal equations are
        # n·r rᵀ δ = Σ(target − η)·r
        eta = plan.offset + sum(float(r @ theta[objective.layout[p].slice])
                                for p, r in plan.rows.items())
        n = plan.x.shape[0]
        r = np.concatenate([plan.rows[p] for p in names])
        ata = n * np.outer(r, r)
        rhs = (float(np.sum(target)) - float(np.sum(np.broadcast_to(eta, (n,))))) * r
    else:
        eta = e.value(ctx)
        shape = eta.shape
        resid = target - eta
        ones = np.ones(resid.shape)
        ata = np.block([[gram(jac[a], shape, 0, ones, jac[b], shape, 0) for b in names]
                        for a in names])
        rhs = np.concatenate([contract(resid, jac[a], shape) for a in names])
    try:
        delta = linalg.solve(ata + 1e-10 * np.trace(ata) / len(ata) * np.eye(len(ata)), rhs,
                             assume_a="pos")
    except (linalg.LinAlgError, ValueError):
        return
    pos = 0
    for p in names:
        sl = objective.layout[p].slice
        k = sl.stop - sl.start
        theta[sl] += delta[pos:pos + k]
        pos += k
    given.update(jac)
    _scale_start(objective, f, theta, given, arg)


def _scale_start(objective: Objective, f, theta: np.ndarray, given: set[str], arg: str) -> None:
    kind = type(f.dist).__name__
    scale = {"Normal": "scale", "StudentT": "scale", "Laplace": "scale", "Gamma": "shape"}
    if not isinstance(f.args.get(scale.get(kind, "")), Param):
        return
    ctx = objective.data_context(theta, objective.data)
    y = objective.data[f.name]
    vals = {k: (v.value(ctx) if isinstance(v, Expr) else v) for k, v in f.args.items()}
    with np.errstate(all="ignore"):
        mu = f.dist.mean_of(vals) if kind != "StudentT" else vals["loc"]
    name = f.args[scale[kind]].name
    if kind in ("Normal", "StudentT"):
        value = np.sqrt(np.mean((y - mu) ** 2))
    elif kind == "Laplace":
        value = np.mean(np.abs(y - mu))
    else:
        value = 1.0 / np.mean((y / mu - 1.0) ** 2)
    if name in given or not np.isfinite(value) or value <= 0:
        return
    slot = objective.layout[name]
    theta[slot.slice] = slot.bijector.inverse(np.full(slot.shape, value))
    given.add(name)
