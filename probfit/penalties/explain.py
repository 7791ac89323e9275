"""``explain()``: what each prior does to the MAP objective, and the same fit in other libraries.

probfit's objectives are sums over the ``n`` rows (DESIGN.md), so a prior adds a penalty
``λ₁‖w − μ‖₁ + ½λ₂‖w − μ‖²`` to ``−Σ log p(yᵢ | θ)``. The other libraries minimise a *mean* loss
(or scale the penalty instead of the loss); dividing probfit's objective by the right constant
gives their settings:

* sklearn ``LogisticRegression``: ``C·Σ loss + l1_ratio‖w‖₁ + ½(1 − l1_ratio)‖w‖²`` ⇒
  ``C = 1/(λ₁ + λ₂)``, ``l1_ratio = λ₁/(λ₁ + λ₂)``; Gaussian ``ElasticNet``/``Lasso``:
  ``RSS/(2n) + α·l1_ratio‖w‖₁ + ½α(1 − l1_ratio)‖w‖²`` ⇒ ``α = σ²(λ₁ + λ₂)/n``; ``Ridge``:
  ``RSS + α‖w‖²`` ⇒ ``α = σ²λ₂``.
* glmnet and statsmodels ``fit_regularized``: ``−loglik/n + λ(α‖w‖₁ + ½(1 − α)‖w‖²)`` ⇒
  ``λ = (λ₁ + λ₂)/n``, ``α = L1_wt = λ₁/(λ₁ + λ₂)`` (times σ² for a Gaussian likelihood, whose
  loss is ``RSS/(2n)``); statsmodels takes a per-coefficient ``alpha`` vector, glmnet
  penalty factors rescaled to average 1.
* glum: ``deviance/(2n) + α(l1_ratio‖P1 w‖₁ + ½(1 − l1_ratio) wᵀ diag(P2) w)`` ⇒ the same
  ``α`` and ``l1_ratio`` with per-coefficient ``P1``, ``P2``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from probfit.compile.objective import Objective, compile_objective
from probfit.distributions import ElasticNet, Laplace, Normal
from probfit.dsl.expr import Expr
from probfit.dsl.model import Model
from probfit.errors import SpecError

__all__ = ["Explanation", "PenaltyInfo", "explain", "penalty_weights"]


@dataclass(frozen=True)
class PenaltyInfo:
    """How the prior on one parameter enters the MAP objective.

    Attributes
    ----------
    param
        Parameter name.
    prior
        The prior as written.
    penalty
        The penalty term, as text.
    l1, l2, loc
        Per-coefficient ``λ₁``, ``λ₂`` and centre (flattened), or ``None`` for a prior that is
        not an L1/L2 penalty.
    settings
        Equivalent settings by library (``"sklearn"``, ``"glmnet"``, ``"statsmodels"``,
        ``"glum"``); a value is a dict of keyword arguments, or a string saying why there is none.
    """

    param: str
    prior: str
    penalty: str
    l1: np.ndarray | None
    l2: np.ndarray | None
    loc: np.ndarray | None
    settings: dict[str, dict[str, Any] | str] = field(default_factory=dict)


def penalty_weights(prior: Any, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray] | None:
    """``(λ₁, λ₂, loc)`` per coefficient (flattened) of a Normal, Laplace or ElasticNet prior.

    Returns ``None`` for any other prior, or one whose arguments are model expressions.
    """
    if not isinstance(prior, (Normal, Laplace, ElasticNet)):
        return None
    if any(isinstance(v, Expr) for v in prior.args.values()):
        return None

    def full(name: str, default: float) -> np.ndarray:
        v = np.asarray(prior.args.get(name, default), dtype=float)
        return np.broadcast_to(v, shape).reshape(-1).copy()

    loc = full("loc", 0.0)
    zero = np.zeros_like(loc)
    if isinstance(prior, Normal):
        return zero, 1.0 / full("scale", 1.0) ** 2, loc
    if isinstance(prior, Laplace):
        return 1.0 / full("scale", 1.0), zero, loc
    return full("l1", 0.0), full("l2", 0.0), loc


def _fmt(x: np.ndarray | float) -> str:
    a = np.asarray(x, dtype=float)
    if a.ndim == 0 or np.all(a == a.flat[0]):
        return f"{float(a.flat[0]):.6g}"
    return "[" + ", ".join(f"{v:.6g}" for v in a.ravel()) + "]"


def _penalty_text(name: str, l1: np.ndarray, l2: np.ndarray, loc: np.ndarray) -> str:
    centre = f"{name}" if np.all(loc == 0) else f"({name} − {_fmt(loc)})"
    parts = []
    if np.any(l1 > 0):
        parts.append(f"Σ λ₁·|{centre}|" if not np.all(l1 == l1[0])
                     else f"λ₁·‖{centre}‖₁")
    if np.any(l2 > 0):
        parts.append(f"½ Σ λ₂·{centre}²" if not np.all(l2 == l2[0])
                     else f"½·λ₂·‖{centre}‖²")
    return " + ".join(parts) if parts else "0 (flat: unpenalized)"


def _settings(family: str, phi: float, n: int, l1: np.ndarray, l2: np.ndarray
              ) -> dict[str, dict[str, Any] | str]:
    s = phi * (l1 + l2)
    pen = s > 0
    if not np.any(pen):
        return {k: "unpenalized" for k in ("sklearn", "glmnet", "statsmodels", "glum")}
    ratios = np.divide(l1, l1 + l2, out=np.zeros_like(l1), where=pen)
    common = bool(np.allclose(ratios[pen], ratios[pen][0], rtol=1e-12))
    r = float(ratios[pen][0]) if common else 0.5
    uniform = common and bool(np.all(pen)) and bool(np.allclose(s, s[0], rtol=1e-12))
    out: dict[str, dict[str, Any] | str] = {}
    if not uniform:
        out["sklearn"] = ("not expressible: sklearn applies one penalty to every coefficient "
                          "(per-coefficient weights or unpenalized columns differ here)")
    elif family == "Bernoulli":
        out["sklearn"] = {"estimator": "LogisticRegression", "C": 1.0 / float(s[0]),
                          "l1_ratio": r, "solver": "lbfgs" if r == 0 else "saga"}
    elif family == "Normal":
        if r == 0:
            out["sklearn"] = {"estimator": "Ridge", "alpha": float(s[0])}
        else:
            out["sklearn"] = {"estimator": "ElasticNet", "alpha": float(s[0]) / n,
                              "l1_ratio": r}
    elif family == "Poisson" and r == 0:
        out["sklearn"] = {"estimator": "PoissonRegressor", "alpha": float(s[0]) / n}
    else:
        out["sklearn"] = f"no sklearn estimator for a {family} likelihood with this penalty"
    if common:
        out["statsmodels"] = {"method": "elastic_net", "alpha": s / n, "L1_wt": r}
        mean = float(np.mean(s))
        out["glmnet"] = {"lambda": mean / n, "alpha": r, "penalty.factor": s / mean,
                         "standardize": False}
    else:
        why = "not expressible: L1_wt (glmnet's alpha) is one number, but λ₁/(λ₁+λ₂) varies"
        out["statsmodels"] = out["glmnet"] = why
    top = float(np.max(s))
    p1 = l1 * phi / (top * r) if r > 0 else np.zeros_like(l1)
    p2 = l2 * phi / (top * (1.0 - r)) if r < 1 else np.zeros_like(l2)
    out["glum"] = {"alpha": top / n, "l1_ratio": r, "P1": p1, "P2": p2}
    return out


def _family(objective: Objective) -> tuple[str, Any]:
    obs = objective.obs_factors()
    if len(obs) != 1:
        return "several likelihoods", None
    return type(obs[0].dist).__name__, obs[0]


def _dispersion(objective: Objective, model: Model, data: Mapping[str, Any],
                factor: Any) -> tuple[float, str]:
    """σ² of a Normal likelihood (from the MAP fit if σ is a parameter); 1 otherwise."""
    if factor is None or type(factor.dist).__name__ != "Normal":
        return 1.0, ""
    scale = factor.args.get("scale")
    if not isinstance(scale, Expr):
        sigma = float(np.mean(scale))
        return sigma**2, f"σ = {sigma:.6g} (fixed)"
    if scale.params:
        fit = model.fit(data, method="map")
        ctx = objective.data_context(fit.theta, objective.data)
        sigma = float(np.mean(scale.value(ctx)))
        return sigma**2, f"σ̂ = {sigma:.6g} from the MAP fit"
    sigma = float(np.mean(scale.value(objective.data_context(np.zeros(objective.size),
                                                           objective.data))))
    return sigma**2, f"σ = {sigma:.6g} (from data)"


class Explanation:
    """What :func:`explain` found: one :class:`PenaltyInfo` per parameter with a prior.

    Print it for the table; index it by parameter name for the numbers.
    """

    def __init__(self, model: Model, n: int, family: str, dispersion_note: str,
                 rows: list[PenaltyInfo], unpenalized: list[str], method: str) -> None:
        self.model, self.n, self.family, self.method = model, n, family, method
        self.dispersion_note = dispersion_note
        self.rows = rows
        self.unpenalized = unpenalized

    def __getitem__(self, param: str) -> PenaltyInfo:
        for r in self.rows:
            if r.param == param:
                return r
        raise KeyError(f"{param!r} has no prior; parameters with priors: "
                       f"{[r.param for r in self.rows]}")

    def __str__(self) -> str:
        lines = [f"Priors as penalties: model {self.model.name!r}, {self.method.upper()}, "
                 f"{self.family} likelihood, n = {self.n}",
                 "objective = −Σᵢ log p(yᵢ | θ) + Σ penalties   (sums over rows, not means)"]
        if self.dispersion_note:
            lines.append(f"Gaussian loss: other libraries' constants include σ² with "
                         f"{self.dispersion_note}")
        for r in self.rows:
            lines += ["", f"{r.param}: prior {r.prior}", f"  penalty      {r.penalty}"]
            if r.l1 is None:
                lines.append("  (not an L1/L2 penalty: no equivalent in the other libraries)")
                continue
            lines.append(f"  λ₁ = {_fmt(r.l1)}   λ₂ = {_fmt(r.l2)}")
            for lib in ("sklearn", "glmnet", "statsmodels", "glum"):
                v = r.settings[lib]
                text = v if isinstance(v, str) else ", ".join(
                    f"{k}={_fmt(x) if isinstance(x, (float, np.ndarray)) else repr(x)}"
                    for k, x in v.items())
                lines.append(f"  {lib:<12} {text}")
        if self.unpenalized:
            lines += ["", f"unpenalized (no prior): {', '.join(self.unpenalized)}"]
        return "\n".join(lines)

    __repr__ = __str__


def explain(model: Model, data: Mapping[str, Any], method: str = "map", *,
            dims: Mapping[str, int] | None = None) -> Explanation:
    """Explain each prior as a penalty, with its λ and the equivalent settings elsewhere.

    Parameters
    ----------
    model
        The declared model.
    data
        The data it will be fitted to (``n`` and, for a Gaussian likelihood with a fitted σ,
        the dispersion come from it).
    method
        ``"map"`` (priors are penalties) or ``"mle"`` (priors are ignored: nothing is penalised).
    dims
        Sizes of dims that no data variable has.

    Raises
    ------
    SpecError
        If ``method`` is not ``"map"`` or ``"mle"``.
    """
    if method not in ("map", "mle"):
        raise SpecError(f"explain: method must be 'map' or 'mle', got {method!r}")
    objective = compile_objective(model, data, "map", dims=dims)
    family, factor = _family(objective)
    phi, note = _dispersion(objective, model, data, factor) if method == "map" else (1.0, "")
    rows, unpenalized = [], []
    for name, decl in model.param_decls.items():
        if decl.prior is None or method == "mle":
            unpenalized.append(name)
            continue
        slot = objective.layout[name]
        w = penalty_weights(decl.prior, slot.shape)
        if w is None:
            rows.append(PenaltyInfo(name, repr(decl.prior), f"−log p({name}) of the prior",
                                    None, None, None))
            continue
        l1, l2, loc = w
        rows.append(PenaltyInfo(name, repr(decl.prior), _penalty_text(name, l1, l2, loc),
                                l1, l2, loc, _settings(family, phi, objective.n_obs, l1, l2)))
    return Explanation(model, objective.n_obs, family, note, rows, unpenalized, method)
