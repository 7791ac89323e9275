"""Calibration of a fit's predictive distribution: ``pf.calibration(fit, data)``.

Forecasts integrate over the fit's posterior approximation (Laplace draws for MLE and MAP,
the variational draws for VI), so every method is scored the same way:

* binary / categorical responses: Brier score with its reliability / resolution / uncertainty
  decomposition, ECE and MCE (binned and PAV-based; top-label for categorical), log score;
  the reliability diagram is ArviZ's PAV-adjusted calibration plot (``plot_ppc_pava``);
* continuous responses: PIT values ``F(y_i)`` of the posterior predictive and LOO-PIT values
  (``arviz_stats.loo_pit``), each with the p-value of ArviZ's uniformity test (``pot_c``), and
  the coverage of central predictive intervals at 50/80/95%; plots via ArviZ
  (``plot_loo_pit``, ``plot_ppc_pit``);
* counts: randomized PIT with its uniformity p-value, interval coverage and a rootogram
  (``plot_ppc_rootogram``; observed and expected frequencies are in :attr:`Calibration.curve`).

``log_score`` is the mean log predictive density per observation,
``mean_i log (1/S) Σ_s p(y_i | θ_s)`` (higher is better).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr
from arviz_stats import loo_pit
from arviz_stats.base import array_stats
from scipy.special import logsumexp

from probfit.diagnostics.arviz_export import to_arviz
from probfit.diagnostics.draws import PosteriorDraws, posterior_draws
from probfit.diagnostics.mixture import is_latent
from probfit.diagnostics.mixture_checks import latent_calibration
from probfit.diagnostics.predictive import obs_terms
from probfit.diagnostics.scores import binary_scores, pav
from probfit.errors import DataError

__all__ = ["Calibration", "calibration"]

LEVELS = (0.5, 0.8, 0.95)
#: Posterior draws averaged for the rootogram's expected frequencies.
ROOTOGRAM_DRAWS = 100


@dataclass
class Calibration:
    """Calibration numbers of one observed variable of one fit.

    Attributes
    ----------
    var, kind
        The observed variable and its kind (binary, categorical, count, continuous).
    n
        Number of observations scored.
    metrics
        Name -> value (see the module docstring for what each kind reports).
    curve
        Arrays behind the plots: ``p`` and ``pav`` (binary), ``pit`` (continuous and counts),
        ``k``, ``observed`` and ``expected`` frequencies (counts).
    tree
        The ArviZ DataTree the numbers and plots come from.
    label
        Name of the fit in reports (its method by default).
    default_plot
        The plot :meth:`plot` draws by default when set (``"pit"`` for latent-variable fits,
        whose pointwise log-likelihood is per row, so LOO-PIT does not apply).
    """

    var: str
    kind: str
    n: int
    metrics: dict[str, float]
    curve: dict[str, np.ndarray] = field(repr=False)
    tree: xr.DataTree = field(repr=False)
    label: str = ""
    default_plot: str = ""

    def plot(self, which: str | None = None) -> Any:
        """ArviZ's calibration plot for this kind of response, as a matplotlib Figure.

        Parameters
        ----------
        which
            ``"pava"`` (binary/categorical default), ``"loo_pit"`` (continuous default),
            ``"pit"``, or ``"rootogram"`` (counts default).
        """
        import arviz_plots as azp

        default = {"binary": "pava", "categorical": "pava", "continuous": "loo_pit",
                   "count": "rootogram"}[self.kind]
        which = which or self.default_plot or default
        kwargs: dict[str, Any] = {"var_names": [self.var], "backend": "matplotlib"}
        if which == "pava":
            pc = azp.plot_ppc_pava(self.tree, data_type="binary" if self.kind == "binary"
                                   else "categorical", **kwargs)
        elif which == "loo_pit":
            pc = azp.plot_loo_pit(self.tree, **kwargs)
        elif which == "pit":
            pc = azp.plot_ppc_pit(self.tree, **kwargs)
        elif which == "rootogram":
            pc = azp.plot_ppc_rootogram(self.tree, **kwargs)
        else:
            raise DataError(f"which must be 'pava', 'loo_pit', 'pit' or 'rootogram', "
                            f"got {which!r}")
        fig = pc.viz["figure"].item()
        fig.set_size_inches(max(7.0, 3.4 * len(fig.axes)), 4.0)
        fig.subplots_adjust(top=0.82)
        fig.suptitle(f"{self.label or 'fit'}: {which.replace('_', '-')} check of {self.var}",
                     fontsize=11)
        return fig

    def __str__(self) -> str:
        who = f" — {self.label}" if self.label else ""
        head = f"Calibration of {self.var} ({self.kind}, n={self.n}){who}"
        return "\n".join([head] + [f"  {k:<18}{v:.4g}" for k, v in self.metrics.items()])


def _check_var(fit: Any, bound: Mapping[str, np.ndarray], var: str | None) -> str:
    names = [f.name for f in fit.objective.obs_factors()]
    if var is None:
        if len(names) > 1:
            raise DataError(f"the model observes {names}; pass var=")
        var = names[0]
    if var not in names:
        raise DataError(f"{var!r} is not an observed variable; expected one of {names}")
    if var not in bound:
        raise DataError(f"calibration needs the observed values of {var!r}; data lacks them")
    return var


def calibration(fit: Any, data: Mapping[str, Any] | None = None, var: str | None = None,
                n_draws: int = 400, seed: int | None = 0,
                draws: PosteriorDraws | None = None, label: str | None = None) -> Calibration:
    """Calibration of ``fit``'s predictive distribution for ``var`` on ``data``.

    Parameters
    ----------
    fit
        A :class:`~probfit.Fit` (MLE or MAP; a VI fit that provides ``posterior_draws``).
    data
        Data with the observed variable (defaults to the fitted data; pass held-out data
        to score out of sample — LOO-PIT is then computed on that data too).
    var
        The observed variable (needed only when the model observes several).
    n_draws, seed
        Posterior draws used to integrate over parameter uncertainty.
    draws
        Precomputed posterior draws (overrides ``n_draws``/``seed``).
    label
        Name shown in plots and reports (default: the fit's method).

    Returns
    -------
    Calibration
        For a latent-variable fit, that of the plug-in mixture predictive
        (:func:`~probfit.diagnostics.mixture_checks.latent_calibration`).
    """
    if is_latent(fit):
        return latent_calibration(fit, data, var, seed=seed, label=label, n_draws=n_draws,
                                  draws=draws)
    bound = fit.objective.data if data is None else fit._bind(data)
    var = _check_var(fit, bound, var)
    pd = draws if draws is not None else posterior_draws(fit, n_draws, seed)
    tree = to_arviz(fit, bound, draws=pd, seed=seed)
    terms = [next(t for t in obs_terms(fit, bound, th, checked=True) if t.name == var)
             for th in pd.theta]
    y = terms[0].y
    kind = terms[0].kind
    logp = np.stack([np.broadcast_to(t.dist.logp(y, t.vals), np.shape(y)) for t in terms])
    log_score = float(np.mean(logsumexp(logp, axis=0) - np.log(len(terms))))
    rng = np.random.default_rng(None if seed is None else seed + 2)
    curve: dict[str, np.ndarray] = {}
    if kind == "binary":
        p = np.broadcast_to(np.mean([t.mean for t in terms], axis=0), np.shape(y))
        metrics = binary_scores(p, y)
        order = np.argsort(p)
        curve = {"p": p[order], "pav": pav(p, y)[order]}
    elif kind == "categorical":
        probs = np.mean([t.mean for t in terms], axis=0)
        probs = np.broadcast_to(probs, np.shape(y) + probs.shape[-1:])
        metrics = _categorical_scores(probs, y)
        conf = probs.max(axis=-1)
        order = np.argsort(conf)
        correct = (probs.argmax(axis=-1) == y).astype(float)
        curve = {"p": conf[order], "pav": pav(conf, correct)[order]}
    else:
        frozen = [t.frozen() for t in terms]
        pit = _pit(frozen, y, kind, rng)
        metrics = {"pit_pvalue": float(array_stats.uniformity_test(pit)[0])}
        loo = _loo_pit(tree, var)
        if loo is not None:
            metrics["loo_pit_pvalue"] = float(array_stats.uniformity_test(loo)[0])
            curve["loo_pit"] = loo
        reps = tree.posterior_predictive[var].values.reshape(pd.n_draws, *y.shape)
        for level in LEVELS:
            lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2], axis=0)
            metrics[f"coverage_{round(level * 100)}"] = float(np.mean((y >= lo) & (y <= hi)))
        curve["pit"] = pit
        if kind == "count":
            curve.update(_rootogram(frozen[:ROOTOGRAM_DRAWS], y))
    metrics["log_score"] = log_score
    return Calibration(var, kind, int(np.size(y) if kind != "categorical" else len(y)),
                       metrics, curve, tree, label or fit.method.upper())


def _categorical_scores(probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    k = probs.shape[-1]
    onehot = (y[..., None] == np.arange(k)).astype(float)
    per_class = [binary_scores(probs[..., j], onehot[..., j]) for j in range(k)]
    conf = probs.max(axis=-1)
    top = binary_scores(conf, (probs.argmax(axis=-1) == y).astype(float))
    return {
        "brier": float(np.mean(np.sum((probs - onehot) ** 2, axis=-1))),
        "reliability": float(sum(s["reliability"] for s in per_class)),
        "resolution": float(sum(s["resolution"] for s in per_class)),
        "uncertainty": float(sum(s["uncertainty"] for s in per_class)),
        "ece_binned": top["ece_binned"], "mce_binned": top["mce_binned"],
        "ece_pav": top["ece_pav"], "mce_pav": top["mce_pav"],
    }


def _pit(frozen: list, y: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    hi = np.mean([d.cdf(y) for d in frozen], axis=0)
    if kind != "count":
        return np.ravel(hi)
    lo = np.mean([d.cdf(y - 1.0) for d in frozen], axis=0)
    return np.ravel(lo + rng.random(np.shape(y)) * (hi - lo))


def _loo_pit(tree: xr.DataTree, var: str) -> np.ndarray | None:
    if tree.posterior.sizes.get("draw", 1) < 20:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = loo_pit(tree, var_names=[var], pareto_pit=True)
    return np.ravel(np.asarray(out[var].values, dtype=float))


def _rootogram(frozen: list, y: np.ndarray) -> dict[str, np.ndarray]:
    top = int(max(np.max(y), np.max(frozen[0].ppf(0.999))))
    k = np.arange(top + 1, dtype=float)
    expected = np.zeros(top + 1)
    for d in frozen:
        pmf = np.broadcast_to(d.pmf(k.reshape((-1,) + (1,) * y.ndim)), k.shape + y.shape)
        expected += pmf.reshape(top + 1, -1).sum(axis=1)
    expected /= len(frozen)
    observed = np.bincount(y.astype(int).ravel(), minlength=top + 1)[: top + 1].astype(float)
    return {"k": k, "observed": observed, "expected": expected}
