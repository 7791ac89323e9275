"""Calibration, residuals, convergence and comparison rows for latent-variable fits.

Each function is the latent-fit counterpart of the generic diagnostic of the same role and is
called by it (see :mod:`probfit.diagnostics.mixture` for the plug-in mixture predictive they
all score).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from arviz_stats.base import array_stats
from scipy import stats
from scipy.optimize import linear_sum_assignment

from probfit.diagnostics.convergence import ConvergenceReport
from probfit.diagnostics.draws import PosteriorDraws
from probfit.diagnostics.mixture import (
    _marginal,
    bind_observed,
    is_latent,
    is_variational,
    latent_to_arviz,
    mixture_predictive,
    observed_names,
    predictive_thetas,
)
from probfit.diagnostics.scores import binary_scores, pav
from probfit.errors import DataError

__all__ = ["component_perm", "latent_calibration", "latent_convergence", "latent_notes",
           "latent_param_rows", "latent_residuals"]

LEVELS = (0.5, 0.8, 0.95)
_TINY = 1e-12
#: Draws from q averaged in the mixture predictive of a variational fit's residuals.
N_RESIDUAL_DRAWS = 200


def _pit(mp: Any, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    hi = mp.cdf(y)
    if mp.kind == "continuous":
        return hi
    lo = mp.cdf(y - 1.0)
    return lo + rng.random(np.shape(y)) * (hi - lo)


def latent_calibration(fit: Any, data: Mapping[str, Any] | None = None, var: str | None = None,
                       seed: int | None = 0, label: str | None = None,
                       n_draws: int = 400, draws: PosteriorDraws | None = None) -> Any:
    """Calibration of a latent fit's plug-in mixture predictive (see :func:`pf.calibration`).

    Continuous and count responses: PIT values of the mixture CDF (randomized for counts; per
    coordinate for multivariate normal rows) with ArviZ's uniformity p-value, and the coverage
    of the central predictive intervals, read off the PIT (``|PIT - ½| ≤ level/2``). Binary
    and categorical responses: the scores of the mixed class probabilities. ``log_score`` is
    the mean marginal log-likelihood per scored term (per row for multivariate rows).
    ``n_draws`` plug-in predictive replicates go into the ArviZ tree for plots. For a
    variational fit the predictive is the mixture averaged over ``n_draws`` seeded draws of
    ``θ`` from ``q`` (or over the given ``draws``), one replicate per draw in the tree.
    """
    from probfit.diagnostics.calibration import Calibration, _categorical_scores

    bound = bind_observed(fit, data)
    thetas = (draws.theta if draws is not None and is_variational(fit)
              else predictive_thetas(fit, n_draws, seed))
    mp = mixture_predictive(fit, bound, var, thetas)
    y = mp.y
    if y is None:
        raise DataError(f"calibration needs the observed values of {mp.var!r}; data lacks them")
    tree = latent_to_arviz(fit, data, n_draws=n_draws, seed=seed, responsibilities=False,
                           draws=draws)
    row_ll = np.logaddexp.reduce(mp.log_weights + mp.component_logp(), axis=1)
    log_score = float(np.sum(row_ll) / mp.n_terms())
    rng = np.random.default_rng(None if seed is None else seed + 2)
    curve: dict[str, np.ndarray] = {}
    if mp.kind == "binary":
        p = mp.mean
        metrics = binary_scores(p, y)
        order = np.argsort(p)
        curve = {"p": p[order], "pav": pav(p, y)[order]}
    elif mp.kind == "categorical":
        probs = mp.mean
        metrics = _categorical_scores(probs, y)
        conf = probs.max(axis=-1)
        order = np.argsort(conf)
        correct = (probs.argmax(axis=-1) == y).astype(float)
        curve = {"p": conf[order], "pav": pav(conf, correct)[order]}
    else:
        pit = np.ravel(_pit(mp, y, rng))
        metrics = {"pit_pvalue": float(array_stats.uniformity_test(pit)[0])}
        for level in LEVELS:
            metrics[f"coverage_{round(level * 100)}"] = float(
                np.mean(np.abs(pit - 0.5) <= level / 2))
        curve["pit"] = pit
        if mp.kind == "count":
            curve.update(_rootogram(mp, y))
    metrics["log_score"] = log_score
    n = int(np.size(y) if mp.kind != "categorical" else len(y))
    return Calibration(mp.var, mp.kind, n, metrics, curve, tree, label or fit.method.upper(),
                       default_plot="pit")


def _rootogram(mp: Any, y: np.ndarray) -> dict[str, np.ndarray]:
    """Observed and expected frequencies of each count under the mixture predictive."""
    margs = [_marginal(t) for t in mp.components]
    top = int(max(np.max(y), *[np.max(m.ppf(0.999)) for m in margs]))
    k = np.arange(top + 1, dtype=float)
    grid = k.reshape((-1,) + (1,) * y.ndim)
    pmf = mp._mix([np.moveaxis(np.broadcast_to(m.pmf(grid), k.shape + y.shape), 0, -1)
                   for m in margs])
    expected = pmf.reshape(-1, top + 1).sum(axis=0)
    observed = np.bincount(y.astype(int).ravel(), minlength=top + 1)[: top + 1].astype(float)
    return {"k": k, "observed": observed, "expected": expected}


def latent_residuals(fit: Any, data: Mapping[str, Any] | None = None, var: str | None = None,
                     seed: int | None = 0) -> Any:
    """Residuals of a latent fit under its plug-in mixture predictive.

    Fitted values and variances are the mixture's (per coordinate for multivariate rows);
    quantile residuals are ``Φ⁻¹`` of the mixture PIT; deviance residuals, leverage and
    Cook's distance are not defined for mixtures (``None``).
    """
    from probfit.diagnostics.residuals import Residuals

    bound = bind_observed(fit, data)
    mp = mixture_predictive(fit, bound, var, predictive_thetas(fit, N_RESIDUAL_DRAWS, seed))
    if mp.y is None:
        raise DataError(f"residuals need the observed values of {mp.var!r}; data lacks them")
    if mp.kind == "categorical":
        raise DataError(f"{mp.var!r} is categorical: residuals are not defined per row; "
                        "use pf.calibration(fit, data) for its reliability")
    y = mp.y
    if mp.kind == "binary":
        mean = mp.mean
        variance = mean * (1.0 - mean)
    else:
        mean = np.broadcast_to(mp.mean, y.shape)
        variance = mp.variance
    resp = y - mean
    pearson = resp / np.sqrt(np.clip(variance, 1e-300, None))
    u = _pit(mp, y, np.random.default_rng(seed))
    qres = stats.norm.ppf(np.clip(u, _TINY, 1.0 - _TINY))
    return Residuals(mp.var, y, mean, resp, pearson, None, qres, None, None)


def latent_convergence(fit: Any) -> ConvergenceReport:
    """Convergence of a latent fit: the marginal objective's gradient and EM monotonicity.

    The gradient is that of ``-Σ_n log Σ_j p(y_n, z_n = j | θ) - log p(θ)`` at the estimate
    (exact, by Fisher's identity). EM's covariance penalty ``reg_covar`` is not part of it, so
    with ``reg_covar > 0`` the gradient is small but not zero. For EM fits, monotonicity is
    checked on the recorded objective trace (log-likelihood + log prior - penalty), which EM
    must never decrease. The Hessian is not formed: ``hessian_pd`` and ``condition_number``
    stay ``None``.
    """
    from probfit.latent.marginal import MarginalObjective

    mo = MarginalObjective(fit.problem)
    value, grad, _ = mo.evaluate(fit.theta, 1)
    report = ConvergenceReport(fit.method, fit.engine, bool(fit.converged), int(fit.n_iter),
                               str(fit.message), float(np.linalg.norm(grad)))
    notes = []
    if not fit.converged:
        notes.append(f"the engine did not converge: {fit.message}")
    if is_variational(fit):
        _variational_checks(fit, report, notes)
    elif report.grad_norm > 1e-3 * max(1.0, abs(value)) ** 0.5:
        notes.append(f"gradient norm {report.grad_norm:.2g} of the marginal objective at the "
                     "estimate is not small")
    history = fit.history
    if fit.engine == "em" and len(history):
        obj = np.asarray(history["objective"], dtype=float)
        report.em_monotone = bool(np.all(np.diff(obj) <= 1e-8 * np.maximum(1, np.abs(obj[1:]))))
        if not report.em_monotone:
            notes.append("EM objective increased at some iteration: an E or M step is wrong")
    notes += list(getattr(fit, "collapsed", ()))
    report.notes = notes
    return report


def _variational_checks(fit: Any, report: ConvergenceReport, notes: list[str]) -> None:
    """ELBO stability and the fit's Pareto k̂ of ``log p − log q`` (the gradient at the mean
    of ``q`` need not vanish, so it is reported but not judged)."""
    history = fit.history
    if "elbo" in history.columns and len(history) >= 2:
        tail = np.asarray(history["elbo"], dtype=float)[-min(len(history), 10):]
        report.elbo_rel_change = float(abs(tail[-1] - tail[0]) / max(1.0, abs(tail[-1])))
    report.pareto_k = float(fit.pareto_k)
    if report.pareto_k > 0.7:
        notes.append(f"Pareto k̂ = {report.pareto_k:.2f} > 0.7: the variational "
                     "approximation of the posterior is poor")


def component_perm(fit: Any, ref: Any) -> np.ndarray:
    """Order of ``fit``'s components that best matches those of ``ref`` (``k ≥ k_ref``).

    Components are compared on every parameter indexed by the component dim in both fits
    (flattened, each column scaled by its spread so means and covariances weigh alike) and
    matched by the Hungarian method; ``fit``'s unmatched components follow in their own
    order. Returns the identity when ``fit`` has fewer components than ``ref``.
    """
    dim = fit.problem.category_dim
    if fit.k < ref.k or dim is None or ref.problem.category_dim != dim:
        return np.arange(fit.k)
    names = [s.name for s in fit.objective.layout if s.dims[:1] == (dim,)
             and s.name in ref.params and np.shape(ref.params[s.name])[1:] == s.shape[1:]]
    if not names:
        return np.arange(fit.k)
    a = np.concatenate([fit.params[n].reshape(fit.k, -1) for n in names], axis=1)
    b = np.concatenate([ref.params[n].reshape(ref.k, -1) for n in names], axis=1)
    spread = np.std(np.vstack([a, b]), axis=0)
    a, b = a / np.where(spread > 0, spread, 1.0), b / np.where(spread > 0, spread, 1.0)
    rows, cols = linear_sum_assignment(np.sum((b[:, None, :] - a[None, :, :]) ** 2, axis=2))
    matched = cols[np.argsort(rows)]
    return np.concatenate([matched, [c for c in range(fit.k) if c not in set(matched)]]
                          ).astype(np.intp)


def latent_param_rows(entries: list[Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """Comparison-table rows of latent fits, components relabelled to match.

    Fits without a latent (e.g. the one-component model a mixture is compared with) keep
    their standard errors and intervals. Each later latent fit's components are reordered
    (:func:`component_perm`) to match the first latent fit's, so a row such as ``mu[1,0]`` is
    the same component in every column (a fit with more components has its extra ones last).
    Returns the rows and notes naming the relabellings applied.
    """
    rows: list[dict[str, Any]] = []
    index: dict[str, dict[str, Any]] = {}
    ref = None
    notes = []
    for e in entries:
        fit = e.fit
        params = fit.params
        if is_latent(fit):
            ref = ref or e
            perm = component_perm(fit, ref.fit)
            if np.any(perm != np.arange(fit.k)):
                dim = fit.problem.category_dim
                params = {s.name: (params[s.name][perm] if s.dims[:1] == (dim,)
                                   else params[s.name]) for s in fit.objective.layout}
                notes.append(f"{e.label}: components relabelled {perm.tolist()} to match "
                             f"{ref.label}")
        ci = fit.conf_int(0.95) if fit.cov is not None else None
        for label, name, idx in fit.labels():
            cell = {"estimate": float(params[name][idx]), "kind": fit.uncertainty_kind}
            if ci is not None and fit.se is not None:  # a plain fit compared with mixtures
                cell.update(uncertainty=float(fit.se[name][idx]),
                            lower=float(ci[name][0][idx]), upper=float(ci[name][1][idx]))
            if label not in index:
                index[label] = {"param": label, "fits": {}}
                rows.append(index[label])
            index[label]["fits"][e.label] = cell
    return rows, notes


def latent_notes(entries: list[Any]) -> list[str]:
    """What a reader of a comparison of latent fits must know."""
    latent = [e for e in entries if is_latent(e.fit)]
    if not latent:
        return []
    notes = []
    if any(not is_variational(e.fit) for e in latent):
        notes += ["latent-variable point fits have no standard errors (no information matrix "
                  "of the marginal likelihood); their posterior is the point mass at the "
                  "estimate, so no LOO or Pareto k̂ is computed",
                  "their mixture predictive scores use the plug-in mixture predictive: z from "
                  "the mixing weights (not the responsibilities), then y | z, at the estimate"]
    if any(is_variational(e.fit) for e in latent):
        notes.append("variational latent fits score the mixture predictive averaged over "
                     "draws of the parameters from q (z from the mixing weights at each draw, "
                     "then y | z); their log-likelihood and BIC are at the mean of q on the "
                     "unconstrained scale")
    notes.append("log-likelihood and BIC are those of the marginal (observed-data) likelihood; "
                 "BIC counts covariance parameters by structure and is comparable across k on "
                 "the same data (lower is better)")
    if len(latent) < len(entries):
        notes.append("the scores of fits without a latent integrate over their posterior "
                     "approximation, those of mixtures use the plug-in estimate: compare "
                     "large differences, not small ones")
    ks = {e.fit.k for e in latent}
    if len(ks) > 1:
        notes.append(f"the fits have different numbers of components {sorted(ks)}: parameter "
                     "rows of extra components are blank for the smaller fits")
    if any(len(observed_names(e.fit)) > 1 for e in latent):
        notes.append("several observed variables share the latent: pointwise log-likelihoods "
                     "are per row (joint over the variables)")
    return notes

