"""The result of fitting a latent-variable model: a :class:`Fit` with memberships."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.special import logsumexp

from probfit.dsl.expr import Expr
from probfit.engines.base import EngineResult
from probfit.engines.em import EMResult
from probfit.errors import DataError
from probfit.latent.problem import LatentProblem
from probfit.results.fit import Fit, Summary, _check_coords

__all__ = ["LatentFit"]


class LatentFit(Fit):
    """A fit of a model with a discrete latent variable (e.g. a mixture).

    Attributes
    ----------
    params
        Estimates on the constrained scale, by parameter name.
    responsibilities
        ``(n, k)`` membership probabilities ``p(z_n = j | x_n, θ̂)`` of the fitted rows.
    loglik
        The observed-data log-likelihood ``Σ_n log Σ_j p(x_n, z_n = j | θ̂)``.
    log_prior, penalty
        Log prior (MAP) and the covariance-regularization penalty at the estimate.
    history
        Per-iteration ``loglik``, ``log_prior``, ``penalty`` and ``objective`` (minus
        ``loglik + log_prior - penalty``, the quantity EM never increases).
    restarts
        One record per initialisation (objective, log-likelihood, iterations, converged).
    collapsed
        Messages naming empty or collapsing components (empty if none).
    se
        ``None``: EM gives no information matrix; :attr:`se_note` says so.
    """

    def __init__(self, problem: LatentProblem, result: EMResult,
                 coords: Mapping[str, Any] | None = None) -> None:
        self.problem = problem
        self.objective = problem.objective
        self.model = problem.model
        self.method = problem.method
        self.engine = result.engine
        self.theta = result.theta
        self.converged = result.converged
        self.n_iter = result.n_iter
        self.message = result.message
        self.history = result.history
        self.separated = None
        self.jacobian = problem.objective.jacobian
        self.coords = _check_coords(coords, problem.objective)
        self.params = problem.objective.unpack(self.theta)
        if not isinstance(result, EMResult):
            result = _as_em_result(problem, result)
        self.loglik = float(result.loglik)
        self.log_prior = float(result.log_prior)
        self.penalty = float(result.penalty)
        self.responsibilities = result.responsibilities
        self.restarts = result.restarts
        self.collapsed = list(result.collapsed)
        self.covariance = result.covariance
        self.reg_covar = result.reg_covar
        self.closed_form = result.closed_form
        self.generalized = result.generalized
        self._n_free = result.n_free
        self.uncertainty_kind = "none (EM point estimate)"
        self.cov = None
        self.se = None
        self.se_note = ("not reported: no information matrix of the marginal likelihood is "
                        "computed for latent-variable fits")

    # ------------------------------------------------------------------ statistics
    @property
    def latent(self) -> str:
        """Name of the latent variable."""
        return self.problem.latent

    @property
    def k(self) -> int:
        """Number of values (components) of the latent."""
        return self.problem.k

    @property
    def n_params(self) -> int:
        """Free parameters, counting a covariance by its structure (e.g. ``d(d+1)/2``)."""
        return self._n_free

    @property
    def deviance(self) -> None:
        """Mixtures have no GLM deviance."""
        return None

    @property
    def loglik_trace(self) -> np.ndarray:
        """The observed-data log-likelihood after each EM iteration (entry 0: the start).

        Other engines record their objective instead; this is then all NaN.
        """
        return self.history["loglik"]

    @property
    def weights(self) -> np.ndarray:
        """Mixing weights ``p(z = j | θ̂)``, shape ``(k,)`` (from the latent's distribution)."""
        lat = self.problem.latent_factor
        ctx = self.objective.data_context(self.theta, self.problem.data_with(0))
        vals = {k: (v.value(ctx) if isinstance(v, Expr) else v) for k, v in lat.args.items()}
        mean = np.asarray(lat.dist.mean_of(vals), dtype=float)
        return mean if mean.ndim else np.array([1.0 - float(mean), float(mean)])

    # ------------------------------------------------------------------ membership
    def _joint(self, data: Mapping[str, Any] | None) -> np.ndarray:
        if data is None:
            return self.problem.joint(self.theta)
        missing = [o.handle.name for o in self.model.observations if o.handle.name not in data]
        if missing:
            raise DataError(f"membership needs the observed variables; {missing} missing")
        return self.problem.joint(self.theta, self._bind(data))

    def predict_proba(self, data: Mapping[str, Any] | None = None) -> np.ndarray:
        """Membership probabilities ``(n, k)`` of ``data``'s rows (default: the fitted rows)."""
        j = self._joint(data)
        return np.exp(j - logsumexp(j, axis=1, keepdims=True))

    def predict(self, data: Mapping[str, Any] | None = None, var: str | None = None
                ) -> np.ndarray:
        """The most probable component of each row of ``data`` (default: the fitted rows).

        ``var`` is accepted for the :class:`Fit` signature and must be ``None``.
        """
        if var is not None:
            raise DataError("predict() of a latent-variable fit returns component "
                            "assignments; it takes no var")
        return np.argmax(self.predict_proba(data), axis=1)

    def sample(self, n: int | None = None, rng: np.random.Generator | int | None = None
               ) -> dict[str, np.ndarray]:
        """Draw ``n`` rows (default: as many as fitted) of the latent and the observed data.

        Returns a dict with the latent's labels and each observed variable's draws. Models with
        covariates are sampled at the fitted rows (``n`` must then be ``None``).
        """
        rng = np.random.default_rng(rng)
        data = self.objective.data
        covariates = [k for k in self.model.data_decls
                      if k not in {o.handle.name for o in self.model.observations}]
        rows = self.problem.n if n is None else int(n)
        if covariates and rows != self.problem.n:
            raise DataError(f"the model has covariates {covariates}; sample at the fitted rows "
                            "(n=None)")
        if rows < 1:
            raise DataError(f"n must be a positive integer, got {n!r}")
        bound = {}
        for name, arr in data.items():
            if name in covariates:
                bound[name] = arr
            else:
                bound[name] = np.zeros((rows, *arr.shape[1:]))
        lat = self.problem.latent_factor
        ctx = self.objective.data_context(self.theta, bound)
        vals = {k: (v.value(ctx) if isinstance(v, Expr) else v) for k, v in lat.args.items()}
        z = lat.dist.sample_from(rng, vals, size=rows if np.ndim(
            next(iter(vals.values()))) <= 1 else None)
        bound[self.latent] = np.asarray(z, dtype=float).reshape(rows)
        ctx = self.objective.data_context(self.theta, bound)
        out = {self.latent: bound[self.latent].astype(int)}
        for f in self.objective.obs_factors():
            if f.name == self.latent:
                continue
            fv = {k: (v.value(ctx) if isinstance(v, Expr) else v) for k, v in f.args.items()}
            out[f.name] = f.dist.sample_from(rng, fv)
        return out

    def _factor(self, var: str | None):
        obs = [f for f in self.objective.obs_factors() if f.name != self.latent]
        if var is None and len(obs) == 1:
            return obs[0]
        for f in obs:
            if f.name == var:
                return f
        raise DataError(f"pass var= naming an observed variable, one of "
                        f"{[f.name for f in obs]}; got {var!r}")

    def sample_predictive(self, data: Mapping[str, Any] | None = None,
                          rng: np.random.Generator | int | None = None,
                          size: int | tuple[int, ...] | None = None,
                          var: str | None = None) -> np.ndarray:
        """Draws of observed variable ``var`` at the fitted rows, the latent drawn first.

        Only the fitted rows are supported (``data`` and ``size`` must be ``None``); use
        :meth:`sample` for the latent labels too.
        """
        if data is not None or size is not None:
            raise DataError("sample_predictive() of a latent-variable fit draws at the fitted "
                            "rows; use sample(n) for other sizes")
        return self.sample(rng=rng)[self._factor(var).name]

    # ------------------------------------------------------------------ diagnostics
    def posterior_draws(self, n_draws: int, rng: np.random.Generator):
        """The point "draw" at the estimate (no covariance: see :attr:`se_note`).

        ``n_draws`` and ``rng`` are accepted for the hook's signature; the log target is the
        marginal one (see :mod:`probfit.diagnostics.mixture`).
        """
        from probfit.diagnostics.mixture import latent_posterior_draws

        return latent_posterior_draws(self)

    def to_arviz(self, data: Mapping[str, Any] | None = None, n_draws: int = 1000,
                 seed: int | None = 0, responsibilities: bool = True):
        """The fit as an ArviZ DataTree: marginal log-likelihood per row, plug-in mixture
        predictive draws and (with ``responsibilities``) a ``responsibilities`` group with
        dims ``(row dim, category dim)``; see :func:`probfit.diagnostics.mixture.latent_to_arviz`.
        """
        from probfit.diagnostics.mixture import latent_to_arviz

        return latent_to_arviz(self, data, n_draws=n_draws, seed=seed,
                               responsibilities=responsibilities)

    # ------------------------------------------------------------------ summary
    def summary(self, level: float = 0.95) -> Summary:
        """The coefficient table plus EM's report (weights, sizes, regularization)."""
        base = super().summary(level)
        nk = self.responsibilities.sum(axis=0)
        lines = [f"{self.engine}: {len(self.restarts)} initialisation(s); best objective "
                 f"{-self.history['objective'][-1]:.8g}",
                 "component sizes N_k: " + ", ".join(f"{v:.4g}" for v in nk),
                 f"covariance: {self.covariance}; regularization reg_covar={self.reg_covar:g} "
                 f"(penalty ½·reg·Σ tr(Σ⁻¹) = {self.penalty:.3g})",
                 "closed-form M-step: " + (", ".join(self.closed_form) or "none")
                 + "; generalized (Newton) M-step: " + (", ".join(self.generalized) or "none")
                 if self.engine == "em" else
                 f"{self.engine} on the marginal likelihood (gradient by Fisher's identity)"]
        lines += [f"WARNING: {c}" for c in self.collapsed]
        return Summary(base.text + "\n" + "\n".join(lines), base.rows)

    def __repr__(self) -> str:
        return (f"<LatentFit {self.model.name} {self.method}/{self.engine} k={self.k}: "
                f"loglik={self.loglik:.6g}, converged={self.converged}>")


def _as_em_result(problem: LatentProblem, result: EngineResult) -> EMResult:
    """The memberships and statistics EM records, computed for another engine's result."""
    joint = problem.joint(result.theta)
    top = np.max(joint, axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.sum(np.exp(joint - top), axis=1))
    loglik = float(np.sum(lse))
    names = tuple(s.name for s in problem.objective.layout)
    return EMResult(theta=result.theta, objective=result.objective,
                    converged=result.converged, n_iter=result.n_iter, message=result.message,
                    engine=result.engine, history=result.history,
                    responsibilities=np.exp(joint - lse[:, None]), loglik=loglik,
                    log_prior=problem.log_prior(result.theta), penalty=0.0,
                    n_free=problem.objective.size,
                    restarts=[{"start": "k-means++ or init", "objective": result.objective,
                               "loglik": loglik, "n_iter": result.n_iter,
                               "converged": result.converged}],
                    covariance="as declared", reg_covar=0.0, closed_form=(),
                    generalized=names)
