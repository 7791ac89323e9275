"""Regularization paths: MAP fits over a sweep of prior scales, with warm starts.

The prior on ``param`` fixes the *shape* of its penalty (per-coefficient weights ``λ₁⁰``,
``λ₂⁰``); the path multiplies both by a strength ``s`` (glmnet's ``λ`` with fixed ``α``):
``λ₁ = s·λ₁⁰``, ``λ₂ = s·λ₂⁰``. It starts at the smallest ``s`` at which every penalised
coefficient is exactly at its centre (``s_max = max_j |g_j| / λ₁⁰_j`` with ``g`` the gradient of
the smooth part at that point) and goes down geometrically to ``s_max · ratio``, warm-starting
each fit from the previous one. For a pure ridge prior nothing is ever exactly zero and, as in
glmnet, ``s_max`` is computed as if ``λ₁⁰ = 10⁻³·λ₂⁰``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from probfit.compile.objective import Factor, L1Term, Objective, compile_objective
from probfit.compile.start import initial_theta
from probfit.distributions.penalized import RidgeKernel
from probfit.dsl.model import Model
from probfit.engines.glm_view import GLMView
from probfit.engines.registry import ENGINES
from probfit.errors import ConvergenceWarning, DataError, EngineError, SpecError
from probfit.penalties.explain import penalty_weights
from probfit.penalties.kkt import kkt_violation

__all__ = ["PathResult", "path", "run_path"]

#: glmnet's ridge convention: λ_max is computed as if l1_ratio were this small.
RIDGE_RATIO = 1e-3


@dataclass
class _Shape:
    """The prior's penalty shape on ``param`` and where its coefficients live."""

    param: str
    sl: slice
    l1: np.ndarray
    l2: np.ndarray
    loc: np.ndarray
    ref: int  # index of the reference coefficient for the λ / prior-scale axes

    @property
    def penalized(self) -> np.ndarray:
        return (self.l1 + self.l2) > 0


class _Penalized:
    """An objective whose prior on one parameter is rescaled in place."""

    def __init__(self, objective: Objective, param: str) -> None:
        decl = objective.model.param_decls.get(param)
        if decl is None:
            raise SpecError(f"path: {param!r} is not a parameter; parameters are "
                            f"{list(objective.model.param_decls)}")
        slot = objective.layout[param]
        w = None if decl.prior is None else penalty_weights(decl.prior, slot.shape)
        if w is None or not slot.bijector.is_identity():
            raise SpecError(f"path: param {param!r} needs a Normal, Laplace or ElasticNet prior "
                            f"with numeric arguments on an unconstrained parameter, got "
                            f"{decl.prior!r}")
        l1, l2, loc = w
        if not np.any(l1 + l2 > 0):
            raise SpecError(f"path: the prior on {param!r} penalises nothing (all weights 0)")
        ref = int(np.flatnonzero(l1 + l2 > 0)[0])
        self.objective = objective
        self.shape = _Shape(param, slot.slice, l1, l2, loc, ref)
        self.pure_ridge = not np.any(l1 > 0)
        self._others = [t for t in objective.l1 if t.param != param]
        self._factors = [f for f in objective.factors
                         if not (f.kind == "prior" and f.name == param)]
        self._handle = decl.handle

    def set(self, strength: float, *, pin: bool = False) -> None:
        """Use penalty ``strength·(λ₁⁰, λ₂⁰)``; ``pin`` holds penalised coefficients at loc."""
        sh, obj = self.shape, self.objective
        l1 = np.where(sh.penalized, 1e30, 0.0) if pin else strength * sh.l1
        term = L1Term(sh.param, sh.sl, sh.loc, l1, 0.0)
        obj.l1 = [*self._others, term]
        ridge = RidgeKernel(sh.loc, 0.0 if pin else strength * sh.l2)
        obj.factors = [*self._factors, Factor("prior", sh.param, self._handle, ridge,
                                              dict(ridge.args))]

    def s_max(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """The smallest strength at which all penalised coefficients sit at their centre.

        The other parameters are fitted with the penalised ones pinned (an L1 weight of 1e30,
        which proximal Newton's soft-thresholding keeps exactly at the centre).
        """
        self.set(0.0, pin=True)
        theta = theta.copy()
        theta[self.shape.sl] = np.where(self.shape.penalized, self.shape.loc,
                                        theta[self.shape.sl])
        res = ENGINES["newton"](self.objective, theta)
        g = self.objective.grad(res.theta)[self.shape.sl]
        sh = self.shape
        base = sh.l2 * RIDGE_RATIO if self.pure_ridge else sh.l1
        ok = base > 0
        s = float(np.max(np.abs(g[ok]) / base[ok], initial=0.0))
        return max(s, 1e-12), res.theta


@dataclass
class PathResult:
    """A regularization path.

    Attributes
    ----------
    param
        The parameter whose prior scale was swept.
    strength
        Multipliers ``s`` of the prior's penalty weights, decreasing.
    lam
        ``s·(λ₁⁰ + λ₂⁰)`` of the reference coefficient (the first penalised one): the λ axis.
    prior_scale
        The matching prior scale of that coefficient: Laplace ``b = 1/λ₁`` (and ``1/λ`` for an
        elastic net), Normal ``τ = 1/sqrt(λ₂)`` for a pure ridge prior.
    coef
        ``(n_points, n_coef)`` estimates of ``param`` (flattened).
    theta
        ``(n_points, size)`` full flat estimates (warm starts for reuse).
    objective
        Penalised objective (smooth part plus L1 terms) at each point.
    df
        Effective number of parameters ``tr[H_L (H_L + H_P)⁻¹]`` over the active set (nonzero
        coefficients and every unpenalised parameter); for the lasso, their count.
    n_nonzero
        Number of coefficients of ``param`` away from their centre.
    kkt
        KKT violation at each point.
    converged
        Engine convergence flag at each point.
    labels
        Coefficient labels.
    pure_ridge
        Whether the prior has no L1 part (then the prior-scale axis is the Normal ``τ``).
    n_iter
        Engine iterations at each point (for the proximal Newton engine, outer iterations).
    """

    param: str
    strength: np.ndarray
    lam: np.ndarray
    prior_scale: np.ndarray
    coef: np.ndarray
    theta: np.ndarray
    objective: np.ndarray
    df: np.ndarray
    n_nonzero: np.ndarray
    kkt: np.ndarray
    converged: np.ndarray
    labels: list[str]
    pure_ridge: bool
    n_iter: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.strength)

    def plot(self, ax: Any = None, log: bool = True) -> Any:
        """Coefficient paths against λ (bottom axis) and the prior scale (top axis).

        Parameters
        ----------
        ax
            A matplotlib Axes (default: a new figure).
        log
            Log-scaled λ axis.

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7.0, 4.5))
        for j, lab in enumerate(self.labels):
            ax.plot(self.lam, self.coef[:, j], label=lab, lw=1.6)
        ax.axhline(0.0, color="0.6", lw=0.8)
        if log:
            ax.set_xscale("log")
        ax.invert_xaxis()
        ax.set_xlabel("λ (penalty weight; sum-of-log-likelihood convention)")
        ax.set_ylabel(f"estimate of {self.param}")
        ridge = self.pure_ridge
        name = "prior scale τ = 1/√λ₂ (Normal)" if ridge else "prior scale b = 1/λ (Laplace)"

        def to_scale(lam: np.ndarray) -> np.ndarray:
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                return 1.0 / np.sqrt(lam) if ridge else 1.0 / lam

        def to_lam(scale: np.ndarray) -> np.ndarray:
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                return 1.0 / scale**2 if ridge else 1.0 / scale

        top = ax.secondary_xaxis("top", functions=(to_scale, to_lam))
        top.set_xlabel(name)
        ax.legend(fontsize="small", ncol=2 if len(self.labels) > 6 else 1)
        return ax


def _df(pen: _Penalized, mle: Objective | None, theta: np.ndarray) -> float:
    obj = pen.objective
    active = np.ones(obj.size, dtype=bool)
    for t in obj.l1:
        idx = np.arange(obj.size)[t.slice]
        active[idx] = (theta[t.slice] != t.loc) | (t.weight == 0)
    if mle is None:
        return float(np.sum(active))
    a = np.flatnonzero(active)
    h = obj.hess(theta)[np.ix_(a, a)]
    hl = mle.hess(theta)[np.ix_(a, a)]
    return float(np.trace(np.linalg.solve(h, hl)))


def _value_grad(objective: Objective, theta: np.ndarray) -> tuple[float, np.ndarray]:
    """Smooth value and gradient (through the GLM view when there is one: the engine's last
    evaluation at ``theta`` is reused)."""
    view = GLMView.of(objective)
    if view is None:
        f, g, _ = objective.evaluate(theta, 1)
        return f, g
    point = view.at(theta)
    return point.value, view.grad(point)


def run_path(objective: Objective, param: str, strengths: Sequence[float] | None = None, *,
             n: int = 50, ratio: float = 1e-3, engine: str = "newton",
             theta0: np.ndarray | None = None, mle: Callable[[], Objective] | None = None,
             **options: Any) -> PathResult:
    """:func:`path` on a compiled MAP objective (which it modifies; used by :func:`cv`).

    ``mle`` builds the MLE objective of the same data, needed (once) for the effective degrees
    of freedom when the penalty has a smooth part.
    """
    if engine not in ENGINES:
        raise EngineError(f"path: unknown engine {engine!r}; available: {sorted(ENGINES)}")
    pen = _Penalized(objective, param)
    if theta0 is None:
        # the path starts with every penalised coefficient at its centre; giving that as the
        # start also skips the least-squares start of the linear predictor
        slot = objective.layout[param]
        theta0 = initial_theta(objective, {param: pen.shape.loc.reshape(slot.shape)})
    theta = np.array(theta0, dtype=float)
    if strengths is None:
        if n < 2 or not 0.0 < ratio < 1.0:
            raise SpecError(f"path: need n >= 2 and 0 < ratio < 1, got n={n}, ratio={ratio}")
        top, theta = pen.s_max(theta)
        strengths = top * ratio ** (np.arange(n) / (n - 1))
    strengths = np.asarray(strengths, dtype=float)
    if strengths.ndim != 1 or strengths.size == 0 or np.any(strengths < 0):
        raise SpecError("path: strengths must be a non-empty 1-d array of numbers >= 0")
    smooth_prior = bool(np.any(pen.shape.l2 > 0)) or any(
        f.kind == "prior" and f.name != param for f in objective.factors)
    mle_obj = mle() if smooth_prior and mle is not None else None
    sh = pen.shape
    rows: dict[str, list[Any]] = {k: [] for k in ("coef", "theta", "objective", "df", "nnz",
                                                  "kkt", "conv", "iter")}
    for s in strengths:
        pen.set(float(s))
        res = ENGINES[engine](objective, theta, **options)
        theta = res.theta
        coef = theta[sh.sl]
        rows["coef"].append(coef.copy())
        rows["theta"].append(theta.copy())
        f, g = _value_grad(objective, theta)
        rows["objective"].append(f + objective.penalty(theta))
        rows["df"].append(_df(pen, mle_obj, theta))
        rows["nnz"].append(int(np.sum(coef != sh.loc)))
        rows["kkt"].append(kkt_violation(objective, theta, g))
        rows["conv"].append(bool(res.converged))
        rows["iter"].append(int(res.n_iter))
    lam = strengths * (sh.l1[sh.ref] + sh.l2[sh.ref])
    with np.errstate(divide="ignore"):
        scale = 1.0 / np.sqrt(lam) if pen.pure_ridge else 1.0 / lam
    labels = [lab for lab in objective.layout.labels() if lab.split("[")[0] == param]
    if not all(rows["conv"]):
        bad = int(np.sum(~np.asarray(rows["conv"])))
        warnings.warn(f"path: {bad} of {len(strengths)} fits did not converge",
                      ConvergenceWarning, stacklevel=3)
    return PathResult(param, strengths, lam, scale, np.array(rows["coef"]),
                      np.array(rows["theta"]), np.array(rows["objective"]),
                      np.array(rows["df"]), np.array(rows["nnz"]), np.array(rows["kkt"]),
                      np.array(rows["conv"]), labels, pen.pure_ridge,
                      n_iter=np.array(rows["iter"]))


def path(model: Model, data: Mapping[str, Any], param: str = "w", n: int = 50, *,
         ratio: float = 1e-3, strengths: Sequence[float] | None = None,
         engine: str = "newton", dims: Mapping[str, int] | None = None,
         coords: Mapping[str, Sequence[Any]] | None = None, **options: Any) -> PathResult:
    """MAP fits along a sweep of the prior scale of ``param``, from all-zero downwards.

    Parameters
    ----------
    model
        A model whose ``param`` has a Normal, Laplace or ElasticNet prior (its arguments give
        the penalty's shape: per-coefficient weights and the L1/L2 mix).
    data
        The data.
    param
        The parameter whose prior scale is swept.
    n
        Number of points.
    ratio
        Smallest strength as a fraction of the largest.
    strengths
        Explicit multipliers of the prior's weights instead of the automatic grid.
    engine
        ``"newton"`` (proximal Newton with coordinate descent), ``"fista"`` or ``"lbfgs"``.
    dims
        Sizes of dims that no data variable has.
    coords
        Labels by dim for the coefficients (as in ``fit(coords=...)``), e.g. ``{"p": names}``.
    **options
        Passed to the engine.

    Returns
    -------
    PathResult
    """
    objective = compile_objective(model, data, "map", dims=dims)
    result = run_path(objective, param, strengths, n=n, ratio=ratio, engine=engine,
                      mle=lambda: compile_objective(model, objective.data, "mle", dims=dims),
                      **options)
    slot = objective.layout[param]
    if coords and len(slot.dims) == 1 and slot.dims[0] in coords:
        names = [str(c) for c in coords[slot.dims[0]]]
        if len(names) != slot.size:
            raise DataError(f"coords[{slot.dims[0]!r}] has {len(names)} labels but {param!r} "
                            f"has {slot.size} coefficients")
        result.labels = [f"{param}[{c}]" for c in names]
    return result

