"""Figures of the diagnostics and the comparison report (matplotlib, no pyplot state).

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so figures
render with the Agg canvas whatever the interactive backend and never leak open windows.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

__all__ = ["calibration_figure", "forest_figure", "path_figure", "png_bytes",
           "residual_figure", "trace_figure"]

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def png_bytes(fig: Any, dpi: int = 80) -> bytes:
    """The figure rendered to PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def residual_figure(res: Any, fig: Figure | None = None, label: str = "") -> Figure:
    """Quantile residuals vs fitted, their normal QQ plot, and Cook's distance vs leverage."""
    fig = fig or Figure(figsize=(11, 3.4))
    axes = fig.subplots(1, 3)
    q = np.ravel(res.quantile)
    fitted = np.ravel(res.fitted)
    ax = axes[0]
    ax.scatter(fitted, q, s=12, alpha=0.7, color=COLORS[0])
    ax.axhline(0.0, color="0.4", lw=1, ls="--")
    for z in (-2, 2):
        ax.axhline(z, color="0.7", lw=0.8, ls=":")
    ax.set_xlabel(f"fitted mean of {res.var}")
    ax.set_ylabel("randomized quantile residual")
    ax.set_title("residuals vs fitted")
    ax = axes[1]
    theo = stats.norm.ppf((np.arange(1, q.size + 1) - 0.5) / q.size)
    ax.scatter(theo, np.sort(q), s=12, alpha=0.7, color=COLORS[0])
    lim = [min(theo[0], np.min(q)), max(theo[-1], np.max(q))]
    ax.plot(lim, lim, color="0.4", lw=1, ls="--")
    ax.set_xlabel("standard normal quantile")
    ax.set_ylabel("sorted quantile residual")
    ax.set_title("normal QQ")
    ax = axes[2]
    if res.leverage is not None:
        lev, cooks = np.ravel(res.leverage), np.ravel(res.cooks)
        ax.scatter(lev, cooks, s=12, alpha=0.7, color=COLORS[0])
        thresh = 4.0 / max(lev.size, 1)
        ax.axhline(thresh, color="0.5", lw=0.8, ls=":", label=f"4/n = {thresh:.3g}")
        for i in np.argsort(-cooks)[:3]:
            ax.annotate(str(i), (lev[i], cooks[i]), fontsize=8, xytext=(3, 3),
                        textcoords="offset points")
        ax.set_xlabel("leverage (hat value)")
        ax.set_ylabel("Cook's distance")
        ax.set_title("influence")
        ax.legend(fontsize=8, frameon=False)
    else:
        ax.scatter(fitted, np.sqrt(np.abs(q)), s=12, alpha=0.7, color=COLORS[0])
        ax.set_xlabel(f"fitted mean of {res.var}")
        ax.set_ylabel("sqrt |quantile residual|")
        ax.set_title("scale-location")
    if label:
        fig.suptitle(label, fontsize=11)
    fig.tight_layout()
    return fig


def forest_figure(rows: Sequence[dict[str, Any]], labels: Sequence[str]) -> Figure:
    """Estimates with 95% intervals, one row per parameter entry, one colour per fit.

    ``rows`` are comparison-table rows with ``param`` and per-fit dicts under each label.
    """
    n = len(rows)
    fig = Figure(figsize=(7.5, 1.2 + 0.45 * n * max(1, len(labels)) ** 0.5))
    ax = fig.subplots()
    width = 0.7
    for j, lab in enumerate(labels):
        off = (j - (len(labels) - 1) / 2) * width / max(len(labels), 1)
        for i, row in enumerate(rows):
            cell = row["fits"].get(lab)
            if cell is None:
                continue
            y = n - 1 - i + off
            if cell.get("lower") is not None:
                ax.plot([cell["lower"], cell["upper"]], [y, y], color=COLORS[j % 6], lw=2)
            ax.plot(cell["estimate"], y, "o", color=COLORS[j % 6], ms=5,
                    label=lab if i == 0 else None)
    ax.axvline(0.0, color="0.6", lw=0.8, ls=":")
    ax.set_yticks(range(n))
    ax.set_yticklabels([r["param"] for r in rows][::-1])
    ax.set_xlabel("estimate (95% interval)")
    ax.set_title("estimates by method")
    ax.legend(fontsize=9, frameon=False, loc="best")
    fig.tight_layout()
    return fig


def calibration_figure(cals: Sequence[Any]) -> Figure:
    """Calibration curves of several fits overlaid (binary: PAV reliability; continuous:
    PIT ECDF minus uniform; counts: hanging rootogram per fit)."""
    kind = cals[0].kind
    fig = Figure(figsize=(6.5, 4.2))
    ax = fig.subplots()
    if kind in ("binary", "categorical"):
        ax.plot([0, 1], [0, 1], color="0.5", ls="--", lw=1, label="perfect")
        for j, c in enumerate(cals):
            ece = c.metrics["ece_pav"]
            ax.step(c.curve["p"], c.curve["pav"], where="post", color=COLORS[j % 6], lw=1.8,
                    label=f"{c.label} (ECE_PAV {ece:.3f})")
        ax.set_xlabel("predicted probability" + (" (top label)" if kind == "categorical"
                                                 else ""))
        ax.set_ylabel("observed frequency (PAV)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"reliability of {cals[0].var}")
    elif kind == "count":
        k = cals[0].curve["k"]
        obs = np.sqrt(cals[0].curve["observed"])
        ax.bar(k, obs, color="0.8", width=0.8, label="observed")
        for j, c in enumerate(cals):
            ax.plot(c.curve["k"], np.sqrt(c.curve["expected"]), "o-", color=COLORS[j % 6],
                    ms=3, lw=1.5, label=f"{c.label} expected")
        ax.set_xlabel(f"count {cals[0].var}")
        ax.set_ylabel("sqrt(frequency)")
        ax.set_title("rootogram")
    else:
        for j, c in enumerate(cals):
            pit = np.sort(c.curve["pit"])
            ecdf = np.arange(1, pit.size + 1) / pit.size
            p = c.metrics["pit_pvalue"]
            ax.step(pit, ecdf - pit, where="post", color=COLORS[j % 6], lw=1.5,
                    label=f"{c.label} (uniformity p = {p:.2f})")
        ax.axhline(0.0, color="0.5", ls="--", lw=1)
        n = cals[0].curve["pit"].size
        band = 1.36 / np.sqrt(n)
        ax.axhspan(-band, band, color="#eef2f7", zorder=0, label="95% KS band")
        ax.set_xlabel("PIT value")
        ax.set_ylabel("ECDF - uniform")
        ax.set_title(f"PIT of {cals[0].var}")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def trace_figure(fits: Sequence[Any], labels: Sequence[str]) -> Figure:
    """Objective (minus its final value) and gradient norm per iteration, by fit."""
    fig = Figure(figsize=(10, 3.4))
    ax1, ax2 = fig.subplots(1, 2)
    for j, (fit, lab) in enumerate(zip(fits, labels, strict=True)):
        h = fit.history
        if not len(h):
            continue
        col = "elbo" if "elbo" in h.columns else "objective"
        obj = h[col]
        gap = np.maximum(np.abs(obj[:-1] - obj[-1]), 1e-16)
        it = np.arange(len(obj))
        if gap.size:
            ax1.semilogy(it[:-1], gap, "o-", ms=3, color=COLORS[j % 6], label=f"{lab} ({col})")
        if "grad_norm" in h.columns:
            ax2.semilogy(it, np.maximum(h["grad_norm"], 1e-17), "o-", ms=3,
                         color=COLORS[j % 6], label=lab)
    ax1.set_xlabel("iteration")
    ax1.set_ylabel("|objective - final value|")
    ax1.set_title("objective trace")
    ax1.legend(fontsize=8, frameon=False)
    ax2.set_xlabel("iteration")
    ax2.set_ylabel("gradient norm")
    ax2.set_title("gradient norm")
    if ax2.get_legend_handles_labels()[0]:
        ax2.legend(fontsize=8, frameon=False)
    else:
        ax2.text(0.5, 0.5, "no gradient norm recorded\n(e.g. EM records its objective)",
                 ha="center", va="center", transform=ax2.transAxes, color="0.4")
    fig.tight_layout()
    return fig


def path_figure(path: dict[str, Any], label: str) -> Figure:
    """A regularization path: ``path["lambda"]`` (m,) against ``path["coef"]`` (m, p)."""
    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    lam = np.asarray(path["lambda"], dtype=float)
    coef = np.asarray(path["coef"], dtype=float)
    names = path.get("names") or [f"coef {i}" for i in range(coef.shape[1])]
    for i in range(coef.shape[1]):
        ax.plot(lam, coef[:, i], color=COLORS[i % 6], lw=1.5, label=names[i])
    ax.set_xscale("log")
    ax.set_xlabel("penalty λ")
    ax.set_ylabel("coefficient")
    ax.set_title(f"regularization path ({label})")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig
