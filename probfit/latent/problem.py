"""Marginalizing a discrete latent by enumeration.

A model with a latent ``z`` is rewritten as its *complete-data* model: ``z`` becomes integer data
observed from its declared distribution. Setting ``z = j`` on every row and evaluating the
complete-data log density gives ``log p(x_n, z_n = j | θ)`` for each row and value ``j``; a
log-sum-exp over ``j`` gives the observed-data log-likelihood, and the same evaluation with
per-row weights ``r_nj`` gives the expected complete-data log-likelihood (EM's ``Q``), its
gradient and Hessian through the ordinary :class:`~probfit.compile.objective.Objective`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.special import logsumexp

from probfit.compile.objective import Objective, compile_objective
from probfit.dsl.expr import Expr, Param
from probfit.dsl.model import Model
from probfit.errors import DataError, SpecError

__all__ = ["LatentProblem", "complete_data_model"]


def complete_data_model(model: Model) -> Model:
    """The model with each latent turned into integer data observed from its distribution."""
    spec = model.to_spec().to_dict()
    latents = spec.pop("latents", {})
    if not latents:
        raise SpecError(f"model {model.name!r} declares no latent variable")
    for name, ls in latents.items():
        spec["data"][name] = {"dims": ls.get("dims", []), "kind": "integer"}
        spec["observe"].append({"data": name, "dist": ls["dist"], "args": ls.get("args", {})})
    return Model.from_spec(spec)


def _row_size(model: Model, dim: str, data: Mapping[str, Any]) -> int:
    for name, decl in model.data_decls.items():
        if dim in decl.handle.dims and name in data:
            return int(np.shape(data[name])[decl.handle.dims.index(dim)])
    raise DataError(f"no data variable has the latent's dim {dim!r}, so its size is unknown")


def _category_dim(model: Model, name: str) -> str | None:
    dist = model.latent_decls[name].dist
    if type(dist).__name__ == "Bernoulli":
        return None
    arg = next(iter(dist.args.values()))
    if isinstance(arg, Expr) and arg.dims and arg.dims[-1] is not None:
        return arg.dims[-1]
    return None


class LatentProblem:
    """A model with one discrete latent, bound to data, ready for enumeration.

    Attributes
    ----------
    model
        The user's declaration (with the latent).
    objective
        The complete-data :class:`Objective` (the latent is integer data there).
    latent
        The latent's name.
    k
        Number of values the latent takes.
    n
        Number of rows.
    """

    def __init__(self, model: Model, data: Mapping[str, Any], method: str = "mle", *,
                 jacobian: bool = False, dims: Mapping[str, int] | None = None,
                 k: int | None = None) -> None:
        if len(model.latent_decls) != 1:
            raise SpecError(f"model {model.name!r} declares {len(model.latent_decls)} latent "
                            "variables; exactly one is supported")
        self.model = model
        self.latent = next(iter(model.latent_decls))
        decl = model.latent_decls[self.latent]
        self.row_dim = decl.handle.dims[0]
        dims = dict(dims or {})
        cat_dim = _category_dim(model, self.latent)
        if type(decl.dist).__name__ == "Bernoulli":
            if k not in (None, 2):
                raise SpecError(f"latent {self.latent!r} is Bernoulli, so k must be 2, got {k}")
            k = 2
        elif k is not None:
            if not isinstance(k, (int, np.integer)) or k < 1:
                raise SpecError(f"k must be a positive integer, got {k!r}")
            if cat_dim is None:
                raise SpecError(f"latent {self.latent!r}: its probabilities have no named "
                                "category dim for k to size")
            if cat_dim in dims and dims[cat_dim] != k:
                raise SpecError(f"k={k} disagrees with dims[{cat_dim!r}]={dims[cat_dim]}")
            dims[cat_dim] = int(k)
        if self.latent in data:
            raise DataError(f"{self.latent!r} is a latent variable; do not pass it as data")
        self.complete = complete_data_model(model)
        self.n = _row_size(model, self.row_dim, data)
        bound = {**data, self.latent: np.zeros(self.n)}
        self.objective: Objective = compile_objective(self.complete, bound, method,
                                                      jacobian=jacobian, dims=dims)
        if k is None:
            if cat_dim is None or cat_dim not in self.objective.sizes:
                raise SpecError(f"the number of values of latent {self.latent!r} is unknown; "
                                "pass k=")
            k = self.objective.sizes[cat_dim]
        self.k = int(k)
        self.category_dim = cat_dim
        self.method = method
        self._data_k = [{**self.objective.data, self.latent: np.full(self.n, float(j))}
                        for j in range(self.k)]

    # ------------------------------------------------------------------ structure
    @property
    def latent_factor(self):
        """The complete-data factor of the latent's own distribution."""
        return next(f for f in self.objective.obs_factors() if f.name == self.latent)

    def data_with(self, j: int) -> dict[str, np.ndarray]:
        """The bound data with the latent set to ``j`` on every row."""
        return self._data_k[j]

    def indexed_param(self, e: Any) -> str | None:
        """``p`` if ``e`` is exactly ``p[z]`` for a parameter ``p`` and this latent."""
        from probfit.dsl.expr import Index

        if isinstance(e, Index) and isinstance(e.a, Param) and len(e.key) == 1 \
                and getattr(e.key[0], "name", None) == self.latent:
            return e.a.name
        return None

    # ------------------------------------------------------------------ enumeration
    def joint(self, theta: np.ndarray, data: Mapping[str, np.ndarray] | None = None
              ) -> np.ndarray:
        """``log p(x_n, z_n = j | θ)`` as an ``(n, k)`` array (on ``data`` if given)."""
        cols = []
        for j in range(self.k):
            dj = self.data_with(j) if data is None else {**data, self.latent: np.full(
                _rows(data, self), float(j))}
            parts = self.objective.loglik(theta, dj, pointwise=True)
            cols.append(sum(_row_sum(v) for v in parts.values()))
        return np.stack(cols, axis=1)

    def loglik(self, theta: np.ndarray) -> float:
        """The observed-data log-likelihood ``Σ_n log Σ_j p(x_n, z_n = j | θ)``."""
        return float(np.sum(logsumexp(self.joint(theta), axis=1)))

    def q_evaluate(self, theta: np.ndarray, resp: np.ndarray, order: int = 2
                   ) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        """Minus the expected complete-data log density (plus minus log-prior under MAP).

        ``-Σ_j Σ_n r_nj log p(x_n, z_n = j | θ) - log p(θ)``, its gradient and Hessian in the
        unconstrained coordinates.
        """
        zeros = np.zeros(self.n)
        p_val, p_grad, p_hess = self.objective.evaluate(theta, order, data=self.data_with(0),
                                                        obs_scale=zeros)
        val, grad, hess = p_val, p_grad, p_hess
        for j in range(self.k):
            v, g, h = self.objective.evaluate(theta, order, data=self.data_with(j),
                                              obs_scale=resp[:, j])
            val += v - p_val
            if order >= 1:
                grad = grad + g - p_grad
            if order >= 2:
                hess = hess + h - p_hess
        return val, grad, hess

    def log_prior(self, theta: np.ndarray) -> float:
        """``log p(θ)`` (with the log-Jacobian if ``jacobian=True`` or ``method="vi"``);
        0 for MLE."""
        if self.method not in ("map", "vi"):
            return 0.0
        val, _, _ = self.objective.evaluate(theta, 0, data=self.data_with(0),
                                            obs_scale=np.zeros(self.n))
        return -val


def _rows(data: Mapping[str, np.ndarray], problem: LatentProblem) -> int:
    return _row_size(problem.complete, problem.row_dim, data)


def _row_sum(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v.reshape(v.shape[0], -1).sum(axis=1) if v.ndim > 1 else v
