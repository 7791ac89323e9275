"""The result of a fit: named estimates, labelled uncertainty, fit statistics, prediction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import linalg, stats

from probfit.compile.bind import bind_data
from probfit.compile.objective import Objective
from probfit.dsl.expr import Expr
from probfit.engines.base import EngineResult, History
from probfit.errors import DataError, SingularInformationError
from probfit.penalties.kkt import kkt_violation
from probfit.results.deviance import unit_deviance

__all__ = ["Fit", "Summary"]

_KIND = {
    ("mle", "observed"): "Wald SE (observed information)",
    ("mle", "expected"): "Wald SE (expected information)",
    ("map", "observed"): "Laplace posterior sd",
    ("map", "expected"): "Laplace posterior sd (expected information)",
}


@dataclass(frozen=True)
class Summary:
    """A printable summary; ``rows`` holds the coefficient table as dicts."""

    text: str
    rows: list[dict[str, Any]]

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


class Fit:
    """One fitted model, whatever the method and engine.

    Attributes
    ----------
    params
        Estimates on the constrained scale, by parameter name (arrays shaped by their dims).
    se
        Standard errors (MLE: Wald, from the inverse information; MAP: Laplace posterior sd),
        by name, or ``None`` with :attr:`se_note` saying why. With :attr:`cov` (the inverse
        information on the unconstrained scale) they are formed when first used, unless the
        engine left the information matrix at the estimate (Newton does not evaluate a
        Hessian at its last point, so a fit that only needs estimates skips that cost, one
        ``XᵀWX`` for a GLM). A singular information matrix of a converged fit raises
        :class:`~probfit.SingularInformationError` then.
    uncertainty_kind
        What :attr:`se` is.
    loglik, log_prior
        Σ log p(y | θ̂) and Σ log p(θ̂) (0 for MLE).
    kkt
        MAP only: the largest violation of the optimality (KKT) conditions of the penalised
        objective at the estimate (see :func:`probfit.penalties.kkt.kkt_violation`).
    converged, n_iter, history, message
        What the engine reported; ``history`` holds per-iteration objective, gradient norm and
        step norm.
    engine_state
        What the engine needs to continue the run (``engine="adam"``: an ``AdamState`` to pass
        back as ``resume=``), else ``None``.
    """

    _constrained_note = ("constrained parameters: std err by the delta method; intervals "
                         "mapped from the unconstrained scale")

    def __init__(self, objective: Objective, result: EngineResult,
                 coords: Mapping[str, Any] | None = None, hessian: str = "observed") -> None:
        self.objective = objective
        self.model = objective.model
        self.method = objective.method
        self.engine = result.engine
        self.theta = result.theta
        self.converged = result.converged
        self.n_iter = result.n_iter
        self.message = result.message
        self.history: History = result.history
        self.separated = result.separated
        self.engine_state = result.state
        self.jacobian = objective.jacobian
        self.coords = _check_coords(coords, objective)
        self.params = objective.unpack(self.theta)
        self.loglik = float(objective.loglik(self.theta))
        self.log_prior = float(objective.log_prior(self.theta))
        self.uncertainty_kind = _KIND[(self.method, hessian)]
        self._hessian = hessian
        self._info = result.hess if result.hess is not None and result.hessian == hessian \
            else None
        if self.separated:
            self._no_uncertainty("not reported: separation makes the MLE infinite for "
                                 + ", ".join(self.separated))
        elif not objective.smooth:
            self._no_uncertainty("not reported: an L1 (Laplace or elastic-net prior) mode has "
                                 "no Gaussian approximation at coefficients that are exactly "
                                 "zero; use VI for posterior uncertainty")
        elif self._info is not None:
            self._uncertainty()
        self.kkt: float | None = (kkt_violation(objective, self.theta)
                                  if self.method == "map" else None)

    # ------------------------------------------------------------------ uncertainty
    def __getattr__(self, name: str) -> Any:
        # cov, se and se_note are formed on first use when the engine did not leave the
        # information matrix at the estimate (one more Hessian evaluation, e.g. one XᵀWX)
        if name in ("cov", "se", "se_note") and "_hessian" in self.__dict__:
            self._uncertainty()
            return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _no_uncertainty(self, note: str) -> None:
        self.cov: np.ndarray | None = None
        self.se: dict[str, np.ndarray] | None = None
        self.se_note = note

    def _uncertainty(self) -> None:
        """Set :attr:`cov`, :attr:`se` and :attr:`se_note` from the information matrix."""
        info = self._info if self._info is not None else \
            self.objective.hess(self.theta, self._hessian)
        self._no_uncertainty("")
        try:
            self.cov = _invert_information(info, self.objective.layout.labels())
        except SingularInformationError as err:
            if self.converged:
                raise
            self.se_note = f"not reported: the fit did not converge and {err}"
        else:
            self.se = self._constrained_se()

    def _constrained_se(self) -> dict[str, np.ndarray]:
        out = {}
        for s in self.objective.layout:
            u = self.theta[s.slice]
            j = s.bijector.jac(u).reshape(-1, s.size)
            cov = j @ self.cov[s.slice, s.slice] @ j.T
            out[s.name] = np.sqrt(np.clip(np.diag(cov), 0.0, None)).reshape(s.shape)
        return out

    def conf_int(self, level: float = 0.95) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Intervals by parameter: ``(lower, upper)`` arrays.

        For unconstrained parameters this is estimate ± z·se. For constrained ones the
        symmetric interval is formed on the unconstrained scale and mapped back (so it stays
        inside the support); for a simplex the delta-method interval is clipped to [0, 1].
        """
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must be in (0, 1), got {level}")
        if self.cov is None:
            raise SingularInformationError(f"no intervals: standard errors were {self.se_note}")
        z = stats.norm.ppf(0.5 + level / 2.0)
        out = {}
        for s in self.objective.layout:
            bij = s.bijector
            if bij.elementwise:
                u = self.theta[s.slice]
                su = np.sqrt(np.clip(np.diag(self.cov[s.slice, s.slice]), 0.0, None))
                lo, hi = bij.forward(u - z * su), bij.forward(u + z * su)
            else:
                x, se = self.params[s.name], self.se[s.name]
                lo, hi = np.clip(x - z * se, 0.0, 1.0), np.clip(x + z * se, 0.0, 1.0)
            out[s.name] = (np.asarray(lo), np.asarray(hi))
        return out

    # ------------------------------------------------------------------ statistics
    @property
    def dims(self) -> dict[str, tuple[str, ...]]:
        """Named dims of each parameter (sizes are the shapes of :attr:`params`)."""
        return {s.name: s.dims for s in self.objective.layout}

    @property
    def n_obs(self) -> int:
        """Number of observations (rows of the first observed variable)."""
        return self.objective.n_obs

    @property
    def n_params(self) -> int:
        """Number of free (unconstrained) parameters."""
        return self.objective.size

    @property
    def aic(self) -> float:
        """``-2 loglik + 2k`` with ``k`` free parameters (dispersion included)."""
        return -2.0 * self.loglik + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        """``-2 loglik + k log n``."""
        return -2.0 * self.loglik + self.n_params * np.log(self.n_obs)

    @property
    def deviance(self) -> float | None:
        """R's (unscaled) GLM deviance, or ``None`` if a likelihood is not a GLM family."""
        ctx = self.objective.data_context(self.theta, self.objective.data)
        total = 0.0
        for f in self.objective.obs_factors():
            vals = _vals(f, ctx)
            dev = unit_deviance(type(f.dist).__name__, self.objective.data[f.name],
                                f.dist.mean_of(vals), vals)
            if dev is None:
                return None
            total += float(np.sum(dev))
        return total

    # ------------------------------------------------------------------ prediction
    def _bind(self, data: Mapping[str, Any]) -> dict[str, np.ndarray]:
        bound, sizes = bind_data(self.model, data, require_observed=False)
        for s in self.objective.layout:
            for dim, size in zip(s.dims, s.shape, strict=True):
                if dim in sizes and sizes[dim] != size:
                    raise DataError(f"dim {dim!r} is {sizes[dim]} in the new data but "
                                    f"{size} in the fit (parameter {s.name!r})")
        return bound

    def _factor(self, var: str | None):
        obs = self.objective.obs_factors()
        if var is None:
            if len(obs) > 1:
                raise DataError(f"the model observes {[f.name for f in obs]}; pass var=")
            return obs[0]
        for f in obs:
            if f.name == var:
                return f
        raise DataError(f"{var!r} is not an observed variable; expected one of "
                        f"{[f.name for f in obs]}")

    def predict(self, data: Mapping[str, Any] | None = None, var: str | None = None
                ) -> np.ndarray:
        """Mean response of observed variable ``var`` at the estimates, on ``data``.

        ``data`` defaults to the fitted data; observed variables may be left out of it.
        """
        bound = self.objective.data if data is None else self._bind(data)
        f = self._factor(var)
        ctx = self.objective.data_context(self.theta, bound)
        return np.asarray(f.dist.mean_of(_vals(f, ctx)))

    def sample_predictive(self, data: Mapping[str, Any] | None = None,
                          rng: np.random.Generator | int | None = None,
                          size: int | tuple[int, ...] | None = None,
                          var: str | None = None) -> np.ndarray:
        """Draws of ``var`` from the likelihood at the estimates (plug-in predictive)."""
        bound = self.objective.data if data is None else self._bind(data)
        f = self._factor(var)
        ctx = self.objective.data_context(self.theta, bound)
        return f.dist.sample_from(np.random.default_rng(rng), _vals(f, ctx), size)

    def to_arviz(self, data: Mapping[str, Any] | None = None, n_draws: int = 1000,
                 seed: int | None = 0):
        """The fit as an ArviZ ``xarray.DataTree`` (see :mod:`probfit.diagnostics.arviz_export`).

        Draws come from the Laplace approximation (MLE/MAP) on the unconstrained scale, as one
        chain of ``n_draws``; the point estimate is in the posterior group's attrs.
        """
        from probfit.diagnostics.arviz_export import to_arviz

        return to_arviz(self, data, n_draws=n_draws, seed=seed)

    # ------------------------------------------------------------------ summary
    def labels(self) -> list[tuple[str, str, tuple[int, ...]]]:
        """``(label, param, index)`` per constrained entry, using ``coords`` where given."""
        out = []
        for s in self.objective.layout:
            if s.shape == ():
                out.append((s.name, s.name, ()))
                continue
            for idx in np.ndindex(*s.shape):
                names = []
                for dim, i in zip(s.dims, idx, strict=True):
                    labels = self.coords.get(dim)
                    names.append(str(labels[i]) if labels is not None else str(i))
                out.append((f"{s.name}[{','.join(names)}]", s.name, idx))
        return out

    def summary(self, level: float = 0.95) -> Summary:
        """A statsmodels-style table of estimates, uncertainty and fit statistics."""
        ci = self.conf_int(level) if self.cov is not None else None
        show_z = self.method == "mle" and self.se is not None
        rows = []
        for label, name, idx in self.labels():
            row: dict[str, Any] = {"param": label, "estimate": float(self.params[name][idx])}
            if self.se is not None:
                row["se"] = float(self.se[name][idx])
                row["lower"], row["upper"] = float(ci[name][0][idx]), float(ci[name][1][idx])
                identity = self.objective.layout[name].bijector.is_identity()
                if show_z and identity and row["se"] > 0:
                    row["z"] = row["estimate"] / row["se"]
                    row["p"] = float(2.0 * stats.norm.sf(abs(row["z"])))
            rows.append(row)
        return Summary(self._summary_text(rows, level), rows)

    def _summary_text(self, rows: list[dict[str, Any]], level: float) -> str:
        obs = ", ".join(f"{f.name} ~ {type(f.dist).__name__}({', '.join(f.args)})"
                        for f in self.objective.obs_factors())
        dev = self.deviance
        left = [("Model", self.model.name), ("Method", self.method.upper()
                 + (" (Jacobian-adjusted)" if self.jacobian else "")),
                ("Engine", self.engine), ("Observed", obs), ("No. observations", self.n_obs),
                ("Free parameters", self.n_params)]
        right = [("Log-likelihood", f"{self.loglik:.6g}"),
                 ("Deviance", "n/a" if dev is None else f"{dev:.6g}"),
                 ("AIC", f"{self.aic:.6g}"), ("BIC", f"{self.bic:.6g}"),
                 ("Converged", f"{'yes' if self.converged else 'NO'} ({self.n_iter} iter)")]
        if self.method == "map":
            right.insert(1, ("Log-prior", f"{self.log_prior:.6g}"))
            right.append(("Max KKT viol.", f"{self.kkt:.2e}"))
        width = 78
        lines = [f"probfit {self.method.upper()} fit".center(width), "=" * width]
        for i in range(max(len(left), len(right))):
            lt = f"{left[i][0] + ':':<18}{str(left[i][1])[:21]:<22}" if i < len(left) else ""
            rt = f"{right[i][0] + ':':<16}{right[i][1]:>22}" if i < len(right) else ""
            lines.append(f"{lt:<40}{rt}".rstrip())
        lines.append("=" * width)
        lo_h = f"[{(1 - level) / 2:.3f}"
        hi_h = f"{1 - (1 - level) / 2:.3f}]"
        header = f"{'':<16}{'estimate':>11}{'std err':>11}{'z':>9}{'P>|z|':>8}{lo_h:>11}{hi_h:>11}"
        lines += [header, "-" * width]
        for r in rows:
            lines.append(f"{r['param'][:16]:<16}{_cell(r, 'estimate', '.5g', 11)}"
                         f"{_cell(r, 'se', '.4g', 11)}{_cell(r, 'z', '.3f', 9)}"
                         f"{_cell(r, 'p', '.3f', 8)}{_cell(r, 'lower', '.4g', 11)}"
                         f"{_cell(r, 'upper', '.4g', 11)}")
        lines.append("=" * width)
        notes = [f"std err: {self.uncertainty_kind}" if self.se is not None
                 else f"std err: {self.se_note}"]
        if self.se is not None and any(not s.bijector.is_identity()
                                       for s in self.objective.layout):
            notes.append(self._constrained_note)
        if not self.converged:
            notes.append(f"WARNING: {self.message}")
        lines += notes
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<Fit {self.model.name} {self.method}/{self.engine}: loglik={self.loglik:.6g}, "
                f"converged={self.converged}>")


def _cell(row: dict[str, Any], key: str, spec: str, width: int) -> str:
    if key not in row:
        return f"{'-':>{width}}"
    x = row[key]
    if spec.endswith("g") and not (x == 0 or 1e-4 <= abs(x) < 1e6):
        return f"{x:{width}.3e}"
    if spec.endswith("g"):
        return f"{x:{width}.4f}"
    return f"{x:{width}{spec}}"


def _vals(f, ctx) -> dict[str, np.ndarray]:
    return {k: (v.value(ctx) if isinstance(v, Expr) else v) for k, v in f.args.items()}


def _check_coords(coords: Mapping[str, Any] | None, objective: Objective) -> dict[str, list]:
    out: dict[str, list] = {}
    for dim, labels in (coords or {}).items():
        labels = list(labels)
        size = objective.sizes.get(dim)
        if size is None:
            raise DataError(f"coords given for unknown dim {dim!r}; dims are "
                            f"{sorted(objective.sizes)}")
        if len(labels) != size:
            raise DataError(f"coords[{dim!r}] has {len(labels)} labels but dim {dim!r} has "
                            f"size {size}")
        out[dim] = labels
    return out


def _invert_information(info: np.ndarray, labels: list[str]) -> np.ndarray:
    """Inverse of the information matrix via Cholesky; a singular one is reported by name."""
    if info.size == 0:
        return info
    d = np.sqrt(np.clip(np.abs(np.diag(info)), 1e-300, None))
    scaled = info / np.outer(d, d)
    w, v = np.linalg.eigh(scaled)
    if w[0] <= 1e-10 * max(w[-1], 1e-300):
        vec = v[:, 0] / d
        vec = vec / np.max(np.abs(vec))
        involved = [(labels[i], vec[i]) for i in np.argsort(-np.abs(vec)) if abs(vec[i]) > 1e-3]
        combo = " + ".join(f"{c:.3g}·{lab}" for lab, c in involved[:6])
        what = "singular" if w[0] <= 1e-10 * max(w[-1], 1e-300) and w[0] > -1e-8 * w[-1] \
            else "not positive definite"
        raise SingularInformationError(
            f"the information matrix is {what} (smallest relative eigenvalue {w[0]:.2e}): "
            f"{', '.join(lab for lab, _ in involved)} are not identified — the combination "
            f"{combo} leaves the likelihood flat. Check for collinear columns or a redundant "
            "parameter, or add a prior (method='map')."
        )
    c = linalg.cho_factor(scaled)
    inv = linalg.cho_solve(c, np.eye(len(scaled)))
    return inv / np.outer(d, d)
