"""Figures of latent-variable (mixture) fits for the comparison report (no pyplot state).

* :func:`estimate_panels`: estimates as small multiples, one panel (and x scale) per
  parameter, components lined up across fits; symmetric duplicates of matrix entries dropped;
* :func:`component_figure`: the data with each fit's components (2-D: scatter coloured by the
  most probable component with 2-sd ellipses of the first two coordinates; 1-D: histogram with
  the fitted mixture density);
* :func:`mixture_residual_figure`: quantile residuals of the plug-in mixture predictive,
  normal QQ per coordinate and by most probable component.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from probfit.report.figures import COLORS

__all__ = ["component_figure", "estimate_panels", "figures_of", "mixture_residual_figure"]

_LABEL = re.compile(r"^(?P<name>[^\[]+)(?:\[(?P<idx>.*)\])?$")


def _split(label: str) -> tuple[str, list[str]]:
    m = _LABEL.match(label)
    name = m.group("name") if m else label
    idx = m.group("idx") if m and m.group("idx") else ""
    return name, idx.split(",") if idx else []


def _mirror_duplicate(row: Mapping[str, Any], by_label: Mapping[str, Any]) -> bool:
    """True for an upper-triangle matrix entry whose mirror holds the same value in every fit."""
    name, idx = _split(row["param"])
    if len(idx) < 2 or idx[-1] <= idx[-2]:
        return False
    mirror = by_label.get(f"{name}[{','.join([*idx[:-2], idx[-1], idx[-2]])}]")
    if mirror is None:
        return False
    return all(np.isclose(c["estimate"], mirror["fits"].get(lab, {}).get("estimate", np.nan))
               for lab, c in row["fits"].items())


def estimate_panels(rows: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> Figure:
    """Estimates by fit, one panel per parameter so each has its own scale."""
    by_label = {r["param"]: r for r in rows}
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        if not _mirror_duplicate(r, by_label):
            groups.setdefault(_split(r["param"])[0], []).append(r)
    for name in groups:
        groups[name].sort(key=lambda r: [int(i) if i.isdigit() else i
                                         for i in _split(r["param"])[1]])
    tallest = max(len(g) for g in groups.values())
    fig = Figure(figsize=(3.3 * len(groups) + 0.6, 1.3 + 0.32 * tallest * len(labels) ** 0.5))
    axes = np.atleast_1d(fig.subplots(1, len(groups)))
    handles: dict[str, Any] = {}
    for ax, (name, group) in zip(axes, groups.items(), strict=True):
        n = len(group)
        for j, lab in enumerate(labels):
            off = (j - (len(labels) - 1) / 2) * 0.7 / max(len(labels), 1)
            for i, row in enumerate(group):
                cell = row["fits"].get(lab)
                if cell is not None and cell.get("lower") is not None:
                    ax.plot([cell["lower"], cell["upper"]], [tallest - 1 - i + off] * 2,
                            color=COLORS[j % 6], lw=2)
                if cell is not None:
                    (dot,) = ax.plot(cell["estimate"], tallest - 1 - i + off, "o",
                                     color=COLORS[j % 6], ms=5)
                    handles.setdefault(lab, dot)
        ax.set_yticks(range(tallest - n, tallest))
        ax.set_yticklabels([r["param"] for r in group][::-1], fontsize=8)
        ax.set_ylim(-0.7, tallest - 0.3)
        ax.set_title(name, fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", color="0.9")
    fig.suptitle("estimates, with 95% intervals where the fit has them (components matched "
                 "across fits)", fontsize=10)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=len(labels),
               fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def _ellipse(mean: np.ndarray, cov: np.ndarray, scale: float = 2.0) -> np.ndarray:
    w, v = np.linalg.eigh(0.5 * (cov + cov.T))
    t = np.linspace(0.0, 2.0 * np.pi, 100)
    circle = np.stack([np.cos(t), np.sin(t)])
    return (mean[:, None] + scale * v @ (np.sqrt(np.clip(w, 0.0, None))[:, None] * circle)).T


def component_figure(fits: Sequence[Any], labels: Sequence[str]) -> Figure | None:
    """The fitted data with each fit's components (``None`` if the data are not 1- or 2-D+).

    Component parameters are read from the first row's plug-in predictive, so the figure is
    drawn only for models without covariates.
    """
    from probfit.diagnostics.mixture import bind_observed, mixture_predictive, observed_names

    fit0 = fits[0]
    covariates = [k for k in fit0.model.data_decls if k not in observed_names(fit0)]
    if covariates or len(observed_names(fit0)) != 1:
        return None
    preds = [mixture_predictive(f, bind_observed(f, None)) for f in fits]
    y = preds[0].y
    if preds[0].kind != "continuous" or y.ndim > 2:
        return None
    fig = Figure(figsize=(3.6 * len(fits) + 0.4, 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(fits)))
    colour = _colour_maps(fits)
    for ax, fit, mp, lab, col in zip(axes, fits, preds, labels, colour, strict=True):
        w = np.exp(mp.log_weights[0])
        if y.ndim == 1:
            grid = np.linspace(np.min(y), np.max(y), 300)
            ax.hist(y, bins=30, density=True, color="0.85")
            dens = sum(wj * _row0(t, grid) for wj, t in zip(w, mp.components, strict=True))
            ax.plot(grid, dens, color=COLORS[0], lw=1.8)
            ax.set_xlabel(mp.var)
        else:
            assign = np.argmax(fit.responsibilities, axis=1)
            for j, t in enumerate(mp.components):
                color = COLORS[col[j] % 6]
                ax.scatter(y[assign == j, 0], y[assign == j, 1], s=7, alpha=0.5, color=color)
                mean, cov = _mean_cov(t)
                ell = _ellipse(mean[:2], cov[:2, :2])
                ax.plot(ell[:, 0], ell[:, 1], color=color, lw=1.5)
                ax.plot(*mean[:2], "x", color="k", ms=7)
                ax.annotate(f"{j}: w={w[j]:.2f}", mean[:2], fontsize=8, xytext=(6, -12),
                            textcoords="offset points",
                            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                                  "alpha": 0.8})
            ax.set_xlabel(f"{mp.var}[:, 0]")
            ax.set_ylabel(f"{mp.var}[:, 1]")
        ax.set_title(f"{lab}: k={fit.k}, BIC {fit.bic:.1f}", fontsize=10)
    fig.suptitle("components (2-sd ellipses, points by most probable component)"
                 if y.ndim == 2 else "data and fitted mixture density", fontsize=10)
    fig.tight_layout()
    return fig


def _colour_maps(fits: Sequence[Any]) -> list[np.ndarray]:
    """Per fit, the colour index of each component: components matched to the first fit's
    (:func:`~probfit.diagnostics.mixture_checks.component_perm`) share its colours."""
    from probfit.diagnostics.mixture_checks import component_perm

    out = []
    for fit in fits:
        col = np.empty(fit.k, dtype=int)
        col[component_perm(fit, fits[0])] = np.arange(fit.k)
        out.append(col)
    return out


def _row0(term: Any, grid: np.ndarray) -> np.ndarray:
    from probfit.diagnostics.mixture import _marginal

    dist = _marginal(term)
    args = [np.ravel(a)[0] for a in dist.args]
    kwds = {k: np.ravel(v)[0] for k, v in dist.kwds.items()}
    return dist.dist.pdf(grid, *args, **kwds)


def _mean_cov(term: Any) -> tuple[np.ndarray, np.ndarray]:
    if type(term.dist).__name__ == "MultivariateNormal":
        loc = np.asarray(term.vals["loc"], dtype=float)
        cov = np.asarray(term.dist.cov_of(term.vals), dtype=float)
        return loc.reshape(-1, loc.shape[-1])[0], cov.reshape(-1, *cov.shape[-2:])[0]
    from probfit.diagnostics.mixture import _marginal

    dist = _marginal(term)
    mean = np.broadcast_to(dist.mean(), term.y.shape)[0]
    return mean, np.diag(np.broadcast_to(dist.var(), term.y.shape)[0])


def mixture_residual_figure(res: Any, label: str = "") -> Figure:
    """Normal QQ of the quantile residuals and histogram of the PIT values, per coordinate.

    Under a correct plug-in mixture the quantile residuals are standard normal and the PIT
    values ``Φ(residual)`` uniform (the dashed line). Residuals are not split by most
    probable component: conditioned on the assignment they are not centred even when the
    mixture is right.
    """
    fig = Figure(figsize=(10, 3.4))
    ax1, ax2 = fig.subplots(1, 2)
    q = np.asarray(res.quantile, dtype=float)
    cols = q.reshape(q.shape[0], -1)
    names = [f"{res.var}[:, {c}]" for c in range(cols.shape[1])] if cols.shape[1] > 1 \
        else [res.var]
    edge = float(-stats.norm.ppf(0.5 / cols.shape[0]))
    for c, name in enumerate(names):
        v = np.sort(cols[:, c])
        theo = stats.norm.ppf((np.arange(1, v.size + 1) - 0.5) / v.size)
        ax1.scatter(theo, v, s=8, alpha=0.6, color=COLORS[c % 6], label=name)
        ax2.hist(stats.norm.cdf(cols[:, c]), bins=np.linspace(0, 1, 11), density=True,
                 histtype="step", lw=1.8, color=COLORS[c % 6], label=name)
    ax1.plot([-edge, edge], [-edge, edge], color="0.4", lw=1, ls="--")
    ax1.set_xlabel("standard normal quantile")
    ax1.set_ylabel("sorted quantile residual")
    ax1.set_title("normal QQ")
    ax1.legend(fontsize=8, frameon=False)
    ax2.axhline(1.0, color="0.4", lw=1, ls="--")
    ax2.set_xlim(0, 1)
    ax2.set_xlabel("PIT value (mixture CDF)")
    ax2.set_ylabel("density")
    ax2.set_title("PIT histogram")
    ax2.legend(fontsize=8, frameon=False, loc="lower center")
    if label:
        fig.suptitle(label, fontsize=11)
    fig.tight_layout()
    return fig


def figures_of(report: Any) -> dict[str, Figure]:
    """The mixture figures of a comparison report, by name.

    ``forest`` (replaced by :func:`estimate_panels`), ``components`` (when drawable) and one
    ``mixresiduals_<label>`` per latent fit with residuals.
    """
    figs = {"forest": estimate_panels(report.rows, report.labels)}
    latent = [e for e in report.entries if hasattr(e.fit, "latent")]
    comp = component_figure([e.fit for e in latent], [e.label for e in latent])
    if comp is not None:
        figs["components"] = comp
    for e in latent:
        if e.residuals is not None:
            figs[f"mixresiduals_{e.label}"] = mixture_residual_figure(
                e.residuals, label=f"residuals of {e.label} on the {report.scored_on}")
    return figs
