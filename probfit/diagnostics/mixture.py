"""Diagnostics of latent-variable fits (:class:`~probfit.LatentFit`: EM or L-BFGS mixtures).

A latent is not an observed variable: the observed variables are the model's observations
minus the latent, and everything is computed under the *plug-in mixture predictive* at the
estimate ``θ̂``

``p(y_n | θ̂) = Σ_j p(z_n = j | θ̂) p(y_n | z_n = j, θ̂)``,

with the prior mixing weights ``p(z_n = j | θ̂)`` (never the responsibilities, which have
seen ``y_n``):

* pointwise log-likelihood: the marginal ``log Σ_j p(y_n, z_n = j | θ̂)`` per row
  (a log-sum-exp of the enumerated complete-data terms);
* posterior predictive draws: ``z_n`` from the mixing weights, then ``y_n | z_n``;
* PIT values: the mixture CDF ``Σ_j w_nj F_j(y)`` (randomized for counts); for a
  multivariate normal component, each coordinate's marginal (a univariate normal mixture);
* posterior draws: a latent fit has no covariance (no standard errors), so the "posterior" is
  the point mass at the estimate (kind ``"point"``); no LOO or Pareto k̂ is computed;
* convergence: the gradient of the marginal objective (Fisher's identity,
  :class:`~probfit.latent.marginal.MarginalObjective`) and EM monotonicity from the recorded
  objective trace; no Hessian is formed, so no curvature claim is made.

A variational latent fit (:class:`~probfit.latent.vi.LatentVIFit`) uses draws ``θ_s`` from
``q`` wherever a point fit uses ``θ̂``: the posterior holds the draws, the pointwise marginal
log-likelihood and each predictive replicate are taken at their own draw, and calibration and
residuals score the mixture predictive averaged over the draws (a mixture of ``S·k``
components with weights ``p(z_n = j | θ_s) / S``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from arviz_base import from_dict
from scipy import stats
from scipy.special import logsumexp

from probfit.diagnostics.arviz_export import _as_kind, _attr, _coords, _trace_dataset
from probfit.diagnostics.draws import PosteriorDraws
from probfit.diagnostics.predictive import ObsTerm, frozen, obs_terms, response_kind
from probfit.dsl.expr import Expr
from probfit.errors import DataError

__all__ = ["MixturePredictive", "bind_observed", "is_latent", "is_variational",
           "latent_posterior_draws", "latent_to_arviz", "log_weights", "marginal_loglik",
           "mixture_predictive", "observed_names", "predictive_thetas", "responsibilities_of"]


def is_latent(fit: Any) -> bool:
    """True for a fit whose model declares a latent: a :class:`~probfit.LatentFit` (point
    estimate) or a :class:`~probfit.latent.vi.LatentVIFit` (variational)."""
    from probfit.latent.fit import LatentFit
    from probfit.latent.vi import LatentVIFit

    return isinstance(fit, (LatentFit, LatentVIFit))


def is_variational(fit: Any) -> bool:
    """True for a latent fit whose parameters have a variational posterior ``q``."""
    from probfit.latent.vi import LatentVIFit

    return isinstance(fit, LatentVIFit)


def predictive_thetas(fit: Any, n_draws: int, seed: int | None) -> np.ndarray | None:
    """Parameter draws the mixture predictive integrates over: ``None`` (the estimate) for a
    point fit, ``(n_draws, d)`` seeded draws of ``θ`` from ``q`` for a variational one."""
    if not is_variational(fit):
        return None
    return fit.q.sample_u(np.random.default_rng(seed), int(n_draws))


def observed_names(fit: Any) -> list[str]:
    """The model's observed variables, without the latent."""
    return [f.name for f in fit.objective.obs_factors() if f.name != fit.latent]


def bind_observed(fit: Any, data: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
    """The fitted data (default) or ``data`` bound and checked, without the latent.

    Raises
    ------
    DataError
        If ``data`` contains the latent or lacks an observed variable.
    """
    if data is None:
        return {k: v for k, v in fit.objective.data.items() if k != fit.latent}
    if fit.latent in data:
        raise DataError(f"{fit.latent!r} is the latent variable of the model; do not pass it "
                        "as data")
    missing = [name for name in observed_names(fit) if name not in data]
    if missing:
        raise DataError(f"diagnostics need the observed variables; data lacks {missing}")
    return fit._bind(data)


def _rows(fit: Any, bound: Mapping[str, np.ndarray]) -> int:
    for name, decl in fit.model.data_decls.items():
        if fit.problem.row_dim in decl.handle.dims and name in bound:
            return int(np.shape(bound[name])[decl.handle.dims.index(fit.problem.row_dim)])
    raise DataError(f"no data variable has the latent's row dim {fit.problem.row_dim!r}")


def _with_latent(fit: Any, bound: Mapping[str, np.ndarray], j: int) -> dict[str, np.ndarray]:
    return {**bound, fit.latent: np.full(_rows(fit, bound), float(j))}


def marginal_loglik(fit: Any, bound: Mapping[str, np.ndarray],
                    theta: np.ndarray | None = None) -> np.ndarray:
    """Pointwise marginal log-likelihood ``log Σ_j p(y_n, z_n = j | θ)``, shape ``(n,)``."""
    th = fit.theta if theta is None else theta
    joint = fit.problem.joint(th, _with_latent(fit, bound, 0))
    return logsumexp(joint, axis=1)


def responsibilities_of(fit: Any, bound: Mapping[str, np.ndarray]) -> np.ndarray:
    """Membership probabilities ``p(z_n = j | y_n, θ̂)`` of the rows of bound data, ``(n, k)``."""
    joint = fit.problem.joint(fit.theta, _with_latent(fit, bound, 0))
    return np.exp(joint - logsumexp(joint, axis=1, keepdims=True))


def log_weights(fit: Any, bound: Mapping[str, np.ndarray],
                theta: np.ndarray | None = None) -> np.ndarray:
    """Log mixing weights ``log p(z_n = j | θ)`` per row, shape ``(n, k)``."""
    th = fit.theta if theta is None else theta
    lat = fit.problem.latent_factor
    cols = []
    for j in range(fit.k):
        dj = _with_latent(fit, bound, j)
        ctx = fit.objective.data_context(th, dj)
        vals = {k: (v.value(ctx) if isinstance(v, Expr) else v) for k, v in lat.args.items()}
        cols.append(np.broadcast_to(lat.dist.logp(dj[fit.latent], vals), (len(dj[fit.latent]),)))
    return np.stack(cols, axis=1)


def _marginal(term: ObsTerm) -> Any:
    """Frozen scipy distribution of each element of ``term`` (MVN: per-coordinate marginals)."""
    if type(term.dist).__name__ == "MultivariateNormal":
        loc = np.asarray(term.vals["loc"], dtype=float)
        cov = np.asarray(term.dist.cov_of(term.vals), dtype=float)
        sd = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
        return stats.norm(*np.broadcast_arrays(loc, sd))
    return frozen(term.dist, term.vals)


@dataclass(frozen=True)
class MixturePredictive:
    """The plug-in mixture predictive of one observed variable at the estimate.

    Attributes
    ----------
    var
        The observed variable.
    kind
        ``"binary"``, ``"categorical"``, ``"count"`` or ``"continuous"`` (of the components).
    log_weights
        ``(n, k)`` log mixing weights ``log p(z_n = j | θ̂)``.
    components
        One :class:`~probfit.diagnostics.predictive.ObsTerm` per component ``j``.
    y
        Observed values (``None`` when the data lack them).
    """

    var: str
    kind: str
    log_weights: np.ndarray
    components: list[ObsTerm]

    @property
    def y(self) -> np.ndarray | None:
        """Observed values of :attr:`var`."""
        return self.components[0].y

    def _mix(self, per_component: list[np.ndarray]) -> np.ndarray:
        """``Σ_j w_nj a_j`` with each ``a_j`` broadcast to rows first (row-free arguments)."""
        arrs = [np.asarray(a, dtype=float) for a in per_component]
        shape = np.broadcast_shapes(*(a.shape for a in arrs))
        n = len(self.log_weights)
        if not shape or shape[0] != n:
            shape = (n, *shape)
        arr = np.stack([np.broadcast_to(a, shape) for a in arrs], axis=1)
        w = np.exp(self.log_weights).reshape(self.log_weights.shape + (1,) * (arr.ndim - 2))
        return np.sum(w * arr, axis=1)

    def cdf(self, y: np.ndarray) -> np.ndarray:
        """Mixture CDF at ``y``, element by element (per coordinate for MVN rows)."""
        return self._mix([np.broadcast_to(_marginal(t).cdf(y), np.shape(y))
                          for t in self.components])

    @property
    def mean(self) -> np.ndarray:
        """Mixture mean (class probabilities for a categorical response)."""
        return self._mix([np.broadcast_to(t.mean, t.mean.shape) for t in self.components])

    @property
    def variance(self) -> np.ndarray:
        """Mixture variance per element: ``Σ_j w_j (σ_j² + μ_j²) - μ²``."""
        margs = [_marginal(t) for t in self.components]
        second = self._mix([m.var() + m.mean() ** 2 for m in margs])
        first = self._mix([m.mean() for m in margs])
        return np.clip(second - first**2, 0.0, None)

    def _component_logp(self, t: ObsTerm) -> np.ndarray:
        lp = np.asarray(t.dist.logp(t.y, t.vals), dtype=float)
        return lp if lp.ndim else np.full(len(self.log_weights), float(lp))

    def component_logp(self) -> np.ndarray:
        """``log p(y_n | z_n = j, θ̂)`` per row and component, shape ``(n, k)``."""
        cols = [self._component_logp(t) for t in self.components]
        return np.stack([c.reshape(c.shape[0], -1).sum(axis=1) for c in cols], axis=1)

    def n_terms(self) -> int:
        """Number of scored terms: rows, or elements for families scored elementwise."""
        return int(self._component_logp(self.components[0]).size)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One draw of the variable: ``z_n`` from the mixing weights, then ``y_n | z_n``."""
        w = np.exp(self.log_weights)
        cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
        z = np.minimum(np.sum(rng.random((len(w), 1)) > cum, axis=1), w.shape[1] - 1)
        draws = np.stack([t.sample(rng) for t in self.components])
        return draws[z, np.arange(len(z))]


def mixture_predictive(fit: Any, bound: Mapping[str, np.ndarray], var: str | None = None,
                       theta: np.ndarray | None = None) -> MixturePredictive:
    """The plug-in mixture predictive of observed variable ``var`` on bound data.

    ``theta`` is the flat unconstrained vector (default: the estimate), or ``(S, d)`` draws:
    the predictive is then the average over the draws, itself a mixture of ``S·k``
    components with weights ``p(z_n = j | θ_s) / S``.

    Raises
    ------
    DataError
        If ``var`` is not given for a model with several observed variables, or unknown.
    """
    names = observed_names(fit)
    if var is None:
        if len(names) > 1:
            raise DataError(f"the model observes {names}; pass var=")
        var = names[0]
    if var not in names:
        raise DataError(f"{var!r} is not an observed variable; expected one of {names}")
    th = fit.theta if theta is None else np.asarray(theta, dtype=float)
    thetas = th[None, :] if th.ndim == 1 else th
    comps, logw = [], []
    for t in thetas:
        comps += [next(o for o in obs_terms(fit, _with_latent(fit, bound, j), t, checked=True)
                       if o.name == var) for j in range(fit.k)]
        logw.append(log_weights(fit, bound, t) - np.log(len(thetas)))
    return MixturePredictive(var, response_kind(comps[0].dist), np.concatenate(logw, axis=1),
                             comps)


def latent_posterior_draws(fit: Any) -> PosteriorDraws:
    """The point "draw" at the estimate, with the marginal log target density."""
    from probfit.latent.marginal import MarginalObjective

    value, _, _ = MarginalObjective(fit.problem).evaluate(fit.theta, 0)
    lp = -value
    if not fit.objective.jacobian:
        lp += sum(float(s.bijector.log_det(fit.theta[s.slice])) for s in fit.objective.layout)
    return PosteriorDraws(fit.theta[None, :].copy(), np.array([lp]), None, "point")


def latent_to_arviz(fit: Any, data: Mapping[str, Any] | None = None, n_draws: int = 1000,
                    seed: int | None = 0, responsibilities: bool = True,
                    draws: PosteriorDraws | None = None) -> xr.DataTree:
    """A latent-variable fit as an ArviZ DataTree (see :mod:`probfit.diagnostics.arviz_export`).

    The posterior is the point mass at the estimate, repeated over ``n_draws`` draws so that
    the ``posterior_predictive`` group holds ``n_draws`` replicates of the plug-in mixture
    predictive. ``log_likelihood`` holds the marginal log-likelihood per row under the name
    of the observed variable (models observing several variables: under ``"joint"``, as the
    row's terms do not split per variable). With ``responsibilities``, the group
    ``responsibilities`` holds ``p(z_n = j | y_n, θ̂)`` with dims ``(row dim, category dim)``
    and the mixing weights.

    For a variational fit (:class:`~probfit.latent.vi.LatentVIFit`) the posterior holds
    ``n_draws`` seeded draws of ``θ`` from ``q`` (or the given ``draws``); the pointwise
    log-likelihood is the marginal one at each draw, each predictive replicate comes from the
    mixture at its own draw, ``sample_stats`` holds ``lp`` (marginal log target with the
    log-det-Jacobian) and ``lp_approx`` (``log q``), and the ``responsibilities`` group holds
    ``E_q[p(z_n = j | y_n, θ)]`` and ``E_q[p(z_n = j | θ)]``.
    """
    if not isinstance(n_draws, int) or n_draws < 1:
        raise DataError(f"n_draws must be a positive integer, got {n_draws!r}")
    bound = bind_observed(fit, data)
    rng = np.random.default_rng(None if seed is None else seed + 1)
    objective = fit.objective
    sizes = dict(objective.sizes)
    for name, arr in bound.items():
        decl = fit.model.data_decls.get(name)
        if decl is not None:
            sizes.update(zip(decl.handle.dims, np.shape(arr), strict=False))
    cat_dim = fit.problem.category_dim or f"{fit.latent}_value"
    sizes[cat_dim] = fit.k
    dims: dict[str, list[str]] = {}
    posterior = {}
    variational = is_variational(fit)
    if variational:
        draws = draws or fit.posterior_draws(n_draws, np.random.default_rng(seed))
        n_draws = draws.n_draws
    else:
        draws = latent_posterior_draws(fit)
    thetas = draws.theta if variational else np.repeat(draws.theta, n_draws, axis=0)
    values = fit._constrained(thetas) if variational else None
    for s in objective.layout:
        posterior[s.name] = (values[s.name][None] if values is not None
                             else np.broadcast_to(fit.params[s.name], (1, n_draws, *s.shape)))
        dims[s.name] = list(s.dims)
    names = observed_names(fit)
    observed, predictive = {}, {}
    for var in names:
        decl_dims = list(fit.model.data_decls[var].handle.dims)
        if variational:  # one replicate from the mixture predictive at each draw
            mps = [mixture_predictive(fit, bound, var, t) for t in thetas]
            reps = [mp.sample(rng) for mp in mps]
        else:
            mps = [mixture_predictive(fit, bound, var)]
            reps = [mps[0].sample(rng) for _ in range(n_draws)]
        discrete = mps[0].kind != "continuous"
        dims[var] = decl_dims
        observed[var] = _as_kind(bound[var], discrete)
        predictive[var] = _as_kind(np.stack(reps)[None], discrete)
    ll_name = names[0] if len(names) == 1 else "joint"
    row = fit.problem.row_dim
    dims[ll_name] = [row]
    pointwise = (np.stack([marginal_loglik(fit, bound, t) for t in thetas]) if variational
                 else np.broadcast_to(marginal_loglik(fit, bound), (n_draws, sizes[row])))
    loglik = {ll_name: pointwise[None]}
    constant = {}
    for name, arr in bound.items():
        if name not in observed:
            constant[name] = np.asarray(arr)
            dims[name] = list(fit.model.data_decls[name].handle.dims)
    stats = {"lp": draws.lp[None] if variational else np.full((1, n_draws), draws.lp[0])}
    if variational:
        stats["lp_approx"] = draws.lp_approx[None]
    groups = {"posterior": posterior, "posterior_predictive": predictive,
              "log_likelihood": loglik, "observed_data": observed, "constant_data": constant,
              "sample_stats": stats}
    attrs = {
        "/": {"created_by": "probfit", "model": fit.model.name, "method": fit.method,
              "engine": fit.engine, "approximation": draws.kind,
              "predictive": ("mixture predictive at each draw from q (z from the mixing "
                             "weights, then y | z)" if variational else
                             "plug-in mixture predictive at the estimate (z from the mixing "
                             "weights, then y | z)"),
              "uncertainty_kind": fit.uncertainty_kind, "latent": fit.latent, "k": fit.k,
              "converged": int(bool(fit.converged))},
        "posterior": {f"estimate_{k}": _attr(v) for k, v in fit.params.items()},
    }
    coords = _coords(fit, sizes)
    for name, names in dims.items():
        dims[name] = _distinct(names)
        coords.update({d: coords[d.rsplit("_", 1)[0]] for d in dims[name] if d not in coords})
    tree = from_dict(groups, dims=dims, coords=coords, attrs=attrs)
    tree["optimizer_trace"] = xr.DataTree(_trace_dataset(fit))
    if responsibilities:
        pair = (row, cat_dim)
        if variational:
            resp = fit.responsibilities if data is None else fit.predict_proba(data)
            weights = np.mean([np.exp(log_weights(fit, bound, t)) for t in thetas], axis=0)
            where = "E_q over theta of "
        else:
            resp, weights = responsibilities_of(fit, bound), np.exp(log_weights(fit, bound))
            where = ""
        tree["responsibilities"] = xr.DataTree(xr.Dataset(
            {fit.latent: (pair, resp), "weights": (pair, weights)},
            coords={d: coords[d] for d in pair},
            attrs={"description": f"{where}p({fit.latent}_n = j | data_n, theta) and the "
                                  f"mixing weights p({fit.latent}_n = j | theta), theta the "
                                  + ("draws from q" if variational else "estimate")}))
    return tree


def _distinct(names: list[str]) -> list[str]:
    """Dims with repeats renamed (``("k", "d", "d")`` -> ``["k", "d", "d_1"]``): xarray needs
    distinct dims, e.g. for the ``(d, d)`` covariance of each component."""
    out: list[str] = []
    for name in names:
        seen = sum(1 for o in out if o == name or o.rsplit("_", 1)[0] == name)
        out.append(name if seen == 0 else f"{name}_{seen}")
    return out
