"""Residuals of a fit, and leverage and Cook's distance for GLM-shaped models.

* response: ``y - μ̂``;
* Pearson: ``(y - μ̂) / sqrt(Var(y))`` with the fitted variance (dispersion included);
* deviance: ``sign(y - μ̂) sqrt(d_i)`` with the GLM unit deviance ``d_i`` (R's convention,
  unscaled; ``None`` for families that are not GLM families);
* randomized quantile (Dunn and Smyth, 1996): ``Φ⁻¹(u_i)`` with ``u_i = F(y_i)`` for continuous
  responses and ``u_i ~ Uniform(F(y_i - 1), F(y_i))`` for discrete ones; standard normal
  under a correct model, whatever the family.

Leverage is the diagonal of the weighted hat matrix ``W½ J (Jᵀ W J)⁻¹ Jᵀ W½`` where ``J`` is the
Jacobian of the linear predictor with respect to the parameters that enter it and ``W`` the
Fisher working weights ``-E[∂² log p / ∂η²]`` — for a GLM ``η = Xβ`` this is the usual hat
matrix. Cook's distance is ``r_P² h / (k (1 - h)²)`` with Pearson residual ``r_P`` (which already
includes the dispersion at its maximum-likelihood value, where statsmodels and R use the
Pearson estimate ``χ²/(n - k)``) and ``k`` the number of coefficients in ``η``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import linalg, stats

from probfit.diagnostics.mixture import is_latent
from probfit.diagnostics.predictive import ObsTerm, obs_terms
from probfit.dsl.expr import Expr
from probfit.errors import DataError
from probfit.results.deviance import unit_deviance

__all__ = ["Residuals", "quantile_residuals", "residuals"]

_TINY = 1e-12


@dataclass
class Residuals:
    """Residuals of one observed variable.

    Attributes
    ----------
    var
        The observed variable.
    y, fitted
        Observations and fitted means.
    response, pearson, deviance, quantile
        The four kinds of residual (``deviance`` is ``None`` for non-GLM families).
    leverage, cooks
        Hat values and Cook's distances (``None`` unless the model is GLM-shaped).
    """

    var: str
    y: np.ndarray
    fitted: np.ndarray
    response: np.ndarray
    pearson: np.ndarray
    deviance: np.ndarray | None
    quantile: np.ndarray
    leverage: np.ndarray | None
    cooks: np.ndarray | None

    def plot(self, fig: Any = None) -> Any:
        """Residual-vs-fitted, normal QQ, and leverage (or scale-location) panels.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from probfit.report.figures import residual_figure

        return residual_figure(self, fig=fig)


def quantile_residuals(term: ObsTerm, rng: np.random.Generator) -> np.ndarray:
    """Randomized quantile residuals of ``term`` (Dunn and Smyth, 1996)."""
    dist = term.frozen()
    y = term.y
    if term.kind in ("binary", "count"):
        lo = dist.cdf(y - 1.0)
        hi = dist.cdf(y)
        u = lo + rng.random(np.shape(y)) * (hi - lo)
    else:
        u = dist.cdf(y)
    return stats.norm.ppf(np.clip(u, _TINY, 1.0 - _TINY))


def _mean_arg(term: ObsTerm, factor: Any) -> str | None:
    """The argument of the likelihood that carries the linear predictor, if GLM-shaped."""
    candidates = [k for k, v in factor.args.items()
                  if isinstance(v, Expr) and v.params and k not in factor.dist.nondiff
                  and len(v.dims) == len(term.dims)]
    return candidates[0] if len(candidates) == 1 else None


def _leverage(fit: Any, term: ObsTerm, bound: Mapping[str, np.ndarray]
              ) -> tuple[np.ndarray, int] | None:
    objective = fit.objective
    factor = next(f for f in objective.obs_factors() if f.name == term.name)
    arg = _mean_arg(term, factor)
    if arg is None or term.kind == "categorical":
        return None
    expr = factor.args[arg]
    idx = np.concatenate([np.arange(objective.layout[p].start, objective.layout[p].stop)
                          for p in sorted(expr.params)])
    theta = fit.theta
    cols = []
    for j in idx:
        h = 1e-6 * max(1.0, abs(theta[j]))
        tp, tm = theta.copy(), theta.copy()
        tp[j] += h
        tm[j] -= h
        ep = expr.value(objective.data_context(tp, bound))
        em = expr.value(objective.data_context(tm, bound))
        cols.append((np.asarray(ep) - np.asarray(em)).ravel() / (2 * h))
    jac = np.column_stack(cols)
    wts = -np.asarray(factor.dist.expected_d2logp(term.vals, (arg,))[(arg, arg)], dtype=float)
    wts = np.broadcast_to(wts, term.y.shape).ravel()
    a = jac * np.sqrt(np.clip(wts, 0.0, None))[:, None]
    try:
        c = linalg.cho_factor(a.T @ a)
    except linalg.LinAlgError:
        return None
    hat = np.sum(a * linalg.cho_solve(c, a.T).T, axis=1)
    return hat.reshape(term.y.shape), int(idx.size)


def residuals(fit: Any, data: Mapping[str, Any] | None = None, var: str | None = None,
              seed: int | None = 0) -> Residuals:
    """Residuals of observed variable ``var`` of ``fit`` on ``data`` (default: fitted data).

    Parameters
    ----------
    fit
        A :class:`~probfit.Fit`.
    data
        Data including the observed variable (defaults to the fitted data).
    var
        Which observed variable (needed only when the model observes several).
    seed
        Seed of the uniform draws of the randomized quantile residuals for discrete responses.

    Raises
    ------
    DataError
        For a categorical response (use :func:`probfit.calibration`) or data without ``var``.

    Latent-variable fits are scored under their plug-in mixture predictive
    (:func:`~probfit.diagnostics.mixture_checks.latent_residuals`).
    """
    if is_latent(fit):
        from probfit.diagnostics.mixture_checks import latent_residuals

        return latent_residuals(fit, data, var, seed)
    bound = fit.objective.data if data is None else fit._bind(data)
    terms = obs_terms(fit, bound)
    names = [t.name for t in terms]
    if var is None and len(terms) > 1:
        raise DataError(f"the model observes {names}; pass var=")
    if var is not None and var not in names:
        raise DataError(f"{var!r} is not an observed variable; expected one of {names}")
    term = terms[0] if var is None else terms[names.index(var)]
    if term.y is None:
        raise DataError(f"residuals need the observed values of {term.name!r}; data lacks them")
    if term.kind == "categorical":
        raise DataError(f"{term.name!r} is categorical: residuals are not defined per row; "
                        "use pf.calibration(fit, data) for its reliability")
    mean = np.broadcast_to(term.mean, term.y.shape)  # intercept-only models: one mean
    resp = term.y - mean
    pearson = resp / np.sqrt(np.clip(term.variance, 1e-300, None))
    dev = unit_deviance(type(term.dist).__name__, term.y, mean, term.vals)
    dres = None if dev is None else np.sign(resp) * np.sqrt(np.clip(dev, 0.0, None))
    qres = quantile_residuals(term, np.random.default_rng(seed))
    lev = _leverage(fit, term, bound)
    hat = cooks = None
    if lev is not None:
        hat, k = lev
        cooks = pearson**2 * hat / (k * np.clip(1.0 - hat, 1e-12, None) ** 2)
    return Residuals(term.name, term.y, mean, resp, pearson, dres, qres, hat, cooks)
