"""Export a fit to an ArviZ ``xarray.DataTree`` (arviz >= 1.3 conventions).

Groups: ``posterior`` (draws of every parameter on the constrained scale), ``posterior_predictive``
(draws of every observed variable, one replicate per posterior draw), ``log_likelihood``
(pointwise, per draw), ``observed_data``, ``constant_data`` (every other data variable),
``sample_stats`` (``lp`` = log target density, ``lp_approx`` = log density of the approximation,
both per draw and on the unconstrained scale) and ``optimizer_trace`` (the engine's
per-iteration history). Every sampled array is shaped ``(chain, draw, ...)`` with one chain.
The point estimate is stored in the posterior group's attrs (``estimate_<name>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr
from arviz_base import from_dict

from probfit.diagnostics.draws import PosteriorDraws, posterior_draws
from probfit.diagnostics.predictive import obs_terms
from probfit.errors import DataError

__all__ = ["to_arviz"]


def _coords(fit: Any, sizes: Mapping[str, int]) -> dict[str, list]:
    out: dict[str, list] = {}
    for dim, size in sizes.items():
        labels = fit.coords.get(dim)
        if labels is not None and len(labels) == size:
            out[dim] = [str(v) for v in labels]
        else:  # no labels, or new data with another number of rows
            out[dim] = list(range(size))
    return out


def to_arviz(fit: Any, data: Mapping[str, Any] | None = None, n_draws: int = 1000,
             seed: int | None = 0, draws: PosteriorDraws | None = None) -> xr.DataTree:
    """The fit as an ArviZ DataTree.

    Parameters
    ----------
    fit
        A :class:`~probfit.Fit`.
    data
        Data to evaluate the likelihood and predictive on (defaults to the fitted data; it must
        include the observed variables).
    n_draws
        Number of posterior draws ``S``.
    seed
        Seed for the posterior and predictive draws.
    draws
        Precomputed draws (e.g. from :func:`~probfit.diagnostics.draws.posterior_draws`).

    Returns
    -------
    xarray.DataTree
        With the groups listed in the module docstring; ``lp_approx`` is absent when the fit
        has no Gaussian approximation (one point "draw" at the estimate). Latent-variable fits
        are exported by :func:`~probfit.diagnostics.mixture.latent_to_arviz` (marginal
        log-likelihood per row, plug-in mixture predictive, responsibilities).
    """
    from probfit.diagnostics.mixture import is_latent, latent_to_arviz

    if is_latent(fit):
        return latent_to_arviz(fit, data, n_draws=n_draws, seed=seed)
    objective = fit.objective
    bound = objective.data if data is None else fit._bind(data)
    missing = [f.name for f in objective.obs_factors() if f.name not in bound]
    if missing:
        raise DataError(f"to_arviz needs the observed variables; data lacks {missing}")
    pd = draws if draws is not None else posterior_draws(fit, n_draws, seed)
    rng = np.random.default_rng(None if seed is None else seed + 1)
    s_count = pd.n_draws
    sizes = dict(objective.sizes)
    for name, arr in bound.items():
        decl = objective.model.data_decls.get(name)
        if decl is not None:
            sizes.update(zip(decl.handle.dims, np.shape(arr), strict=False))

    posterior = {}
    dims: dict[str, list[str]] = {}
    for s in objective.layout:
        vals = np.stack([s.bijector.forward(t[s.slice]) for t in pd.theta]).reshape(
            (1, s_count, *s.shape))
        posterior[s.name] = vals
        dims[s.name] = list(s.dims)

    predictive: dict[str, list[np.ndarray]] = {}
    loglik: dict[str, list[np.ndarray]] = {}
    discrete = {}
    for t in pd.theta:
        for term in obs_terms(fit, bound, t, checked=True):
            discrete[term.name] = term.kind != "continuous"
            predictive.setdefault(term.name, []).append(term.sample(rng))
            loglik.setdefault(term.name, []).append(np.broadcast_to(
                np.asarray(term.dist.logp(term.y, term.vals), dtype=float), term.y.shape))
    observed = {}
    for f in objective.obs_factors():
        dims[f.name] = list(f.value.dims)
        observed[f.name] = _as_kind(bound[f.name], discrete[f.name])
    constant = {}
    for name, arr in bound.items():
        if name in observed:
            continue
        constant[name] = np.asarray(arr)
        dims[name] = list(objective.model.data_decls[name].handle.dims)

    stats = {"lp": pd.lp.reshape(1, s_count)}
    if pd.lp_approx is not None:
        stats["lp_approx"] = pd.lp_approx.reshape(1, s_count)
    groups = {
        "posterior": posterior,
        "posterior_predictive": {k: _as_kind(np.stack(v)[None], discrete[k])
                                 for k, v in predictive.items()},
        "log_likelihood": {k: np.stack(v)[None] for k, v in loglik.items()},
        "observed_data": observed,
        "constant_data": constant,
        "sample_stats": stats,
    }
    attrs = {
        "/": {"created_by": "probfit", "model": objective.model.name, "method": fit.method,
              "engine": fit.engine, "approximation": pd.kind,
              "uncertainty_kind": fit.uncertainty_kind,
              "converged": int(bool(fit.converged))},
        "posterior": {f"estimate_{k}": _attr(v) for k, v in fit.params.items()},
    }
    tree = from_dict(groups, dims=dims, coords=_coords(fit, sizes), attrs=attrs)
    tree["optimizer_trace"] = xr.DataTree(_trace_dataset(fit))
    return tree


def _attr(value: Any) -> float | list[float]:
    """A point estimate as a netCDF attribute: a float, or a flat list for arrays."""
    arr = np.asarray(value, dtype=float)
    return float(arr) if arr.ndim == 0 else arr.ravel().tolist()


def _as_kind(values: Any, discrete: bool) -> np.ndarray:
    """Discrete responses as int64 (ArviZ's discrete checks rely on the dtype)."""
    arr = np.asarray(values, dtype=float)
    return np.rint(arr).astype(np.int64) if discrete else arr


def _trace_dataset(fit: Any) -> xr.Dataset:
    history = fit.history
    iteration = np.arange(len(history))
    return xr.Dataset({col: ("iteration", history[col]) for col in history.columns},
                      coords={"iteration": iteration},
                      attrs={"engine": fit.engine, "n_iter": int(fit.n_iter),
                             "message": str(fit.message)})
