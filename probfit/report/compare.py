"""``pf.compare([fit_a, fit_b, ...], test=data_test)``: several fits of one model, side by side.

The report holds

* a parameter table: estimate, uncertainty and what kind it is (Wald SE, Laplace posterior sd,
  VI posterior sd), 95% interval, and shrinkage relative to the MLE (``1 - est / est_MLE``)
  when an MLE fit is among those compared;
* per fit: held-out calibration (Brier and ECE for binary/categorical responses, PIT p-value and
  interval coverage for continuous and count responses) and log score on ``test`` (else
  in-sample), PSIS-LOO elpd via ArviZ on the training data (``loo_approximate_posterior``, with
  the Laplace or variational log-densities as the proposal), and a convergence report;
* notes on which numbers are not comparable across methods;
* figures: forest plot by method, overlaid calibration curves, residual panels, objective
  traces, and the regularization paths passed as ``paths=`` (results of :func:`probfit.path`).

``to_html(path)`` writes one self-contained HTML file (figures embedded as base64 PNG);
``to_markdown()`` returns the tables as Markdown.
"""

from __future__ import annotations

import base64
import html
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from arviz_stats import loo_approximate_posterior

from probfit.diagnostics.arviz_export import to_arviz
from probfit.diagnostics.calibration import Calibration, calibration
from probfit.diagnostics.convergence import ConvergenceReport, convergence_report
from probfit.diagnostics.draws import PosteriorDraws, posterior_draws
from probfit.diagnostics.mixture import is_latent, observed_names
from probfit.diagnostics.mixture_checks import latent_notes, latent_param_rows
from probfit.diagnostics.residuals import Residuals, residuals
from probfit.errors import DataError, ProbfitError
from probfit.report import figures, mixture_figures

__all__ = ["Comparison", "compare"]

_SCORE_KEYS = {
    "binary": ["log_score", "brier", "reliability", "resolution", "uncertainty", "ece_binned",
               "mce_binned", "ece_pav", "mce_pav"],
    "categorical": ["log_score", "brier", "reliability", "resolution", "uncertainty",
                    "ece_binned", "ece_pav"],
    "continuous": ["log_score", "pit_pvalue", "loo_pit_pvalue", "coverage_50", "coverage_80",
                   "coverage_95"],
    "count": ["log_score", "pit_pvalue", "loo_pit_pvalue", "coverage_50", "coverage_80",
              "coverage_95"],
}


@dataclass
class FitEntry:
    """Everything the report knows about one fit."""

    label: str
    fit: Any
    draws: PosteriorDraws
    calibration: Calibration
    convergence: ConvergenceReport
    residuals: Residuals | None
    loo: dict[str, float] | None
    loo_note: str = ""


@dataclass
class Comparison:
    """The comparison report (see the module docstring).

    Attributes
    ----------
    entries
        One :class:`FitEntry` per fit, in the order given.
    rows
        Parameter table: ``{"param": label, "fits": {fit label: {...}}}``.
    scored_on
        ``"held-out test data"`` or ``"training data"``.
    notes
        What is not comparable, and warnings.
    """

    entries: list[FitEntry]
    rows: list[dict[str, Any]]
    scored_on: str
    notes: list[str] = field(default_factory=list)
    title: str = ""
    paths: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        """Fit labels, in order."""
        return [e.label for e in self.entries]

    def scores(self) -> dict[str, dict[str, float]]:
        """Per fit: calibration metrics, log score and LOO elpd."""
        out = {}
        for e in self.entries:
            row = dict(e.calibration.metrics)
            if e.loo is not None:
                row.update({f"loo_{k}": v for k, v in e.loo.items()})
            out[e.label] = row
        return out

    # ------------------------------------------------------------------ figures
    def figures(self) -> dict[str, Any]:
        """Name -> matplotlib Figure for every figure of the report."""
        figs = {"forest": figures.forest_figure(self.rows, self.labels),
                "calibration": figures.calibration_figure([e.calibration for e in self.entries])}
        if any(is_latent(e.fit) for e in self.entries):
            figs.update(mixture_figures.figures_of(self))
        for e in self.entries:
            if e.residuals is not None and not is_latent(e.fit):
                figs[f"residuals_{e.label}"] = figures.residual_figure(
                    e.residuals, label=f"residuals of {e.label} on the {self.scored_on}")
        figs["traces"] = figures.trace_figure([e.fit for e in self.entries], self.labels)
        for label, path in self.paths.items():
            figs[f"path_{label}"] = figures.path_figure(
                {"lambda": path.lam, "coef": path.coef, "names": path.labels}, label)
        return figs

    # ------------------------------------------------------------------ tables
    def _param_table(self) -> tuple[list[str], list[list[str]]]:
        head = ["parameter"]
        for lab in self.labels:
            head += [f"{lab} estimate", f"{lab} ±", f"{lab} 95% interval"]
        shrunk = [lab for lab in self.labels
                  if any("shrinkage" in r["fits"].get(lab, {}) for r in self.rows)]
        head += [f"{lab} shrinkage vs MLE" for lab in shrunk]
        body = []
        for r in self.rows:
            line = [r["param"]]
            for lab in self.labels:
                c = r["fits"].get(lab, {})
                line.append(_num(c.get("estimate")))
                line.append(_num(c.get("uncertainty")))
                lo, hi = c.get("lower"), c.get("upper")
                line.append("-" if lo is None else f"[{_num(lo)}, {_num(hi)}]")
            line += [_pct(r["fits"].get(lab, {}).get("shrinkage")) for lab in shrunk]
            body.append(line)
        return head, body

    def _score_table(self) -> tuple[list[str], list[list[str]]]:
        kind = self.entries[0].calibration.kind
        keys = [k for k in _SCORE_KEYS[kind]
                if any(k in e.calibration.metrics for e in self.entries)]
        head = ["score", *self.labels]
        body = [[k, *[_num(e.calibration.metrics.get(k)) for e in self.entries]] for k in keys]
        body.append(["LOO elpd (train)", *[_num(None if e.loo is None else e.loo["elpd"])
                                           for e in self.entries]])
        body.append(["LOO elpd se", *[_num(None if e.loo is None else e.loo["se"])
                                      for e in self.entries]])
        body.append(["LOO p_eff", *[_num(None if e.loo is None else e.loo["p"])
                                    for e in self.entries]])
        body.append(["log-likelihood (train)", *[_num(e.fit.loglik) for e in self.entries]])
        if any(is_latent(e.fit) for e in self.entries):
            body.append(["components k", *[str(getattr(e.fit, "k", "-")) for e in self.entries]])
            body.append(["free parameters", *[str(e.fit.n_params) for e in self.entries]])
            body.append(["BIC (train)", *[_num(e.fit.bic) for e in self.entries]])
        return head, body

    def _uncertainty_table(self) -> tuple[list[str], list[list[str]]]:
        head = ["fit", "method", "engine", "uncertainty kind", "approximation"]
        body = [[e.label, e.fit.method, e.fit.engine, _kind(e.fit), e.draws.kind]
                for e in self.entries]
        return head, body

    def _convergence_table(self) -> tuple[list[str], list[list[str]]]:
        keys: list[str] = []
        for e in self.entries:
            keys += [k for k, _ in e.convergence.rows() if k not in keys]
        body = []
        for k in keys:
            body.append([k, *[dict(e.convergence.rows()).get(k, "-") for e in self.entries]])
        return ["check", *self.labels], body

    def tables(self) -> dict[str, tuple[list[str], list[list[str]]]]:
        """Name -> (header, rows) of every table, as strings."""
        return {"Fits": self._uncertainty_table(), "Parameters": self._param_table(),
                f"Predictive scores ({self.scored_on})": self._score_table(),
                "Convergence": self._convergence_table()}

    def all_notes(self) -> list[str]:
        """Report-level notes plus each fit's convergence warnings and LOO notes."""
        out = list(self.notes)
        for e in self.entries:
            out += [f"{e.label}: {n}" for n in e.convergence.notes]
            if e.loo_note:
                out.append(f"{e.label}: {e.loo_note}")
        return out

    # ------------------------------------------------------------------ output
    def to_markdown(self) -> str:
        """The report's tables and notes as Markdown."""
        parts = [f"# {self.title or 'Comparison of fits'}", ""]
        for name, (head, body) in self.tables().items():
            parts += [f"## {name}", "", "| " + " | ".join(head) + " |",
                      "|" + "|".join(["---"] * len(head)) + "|"]
            parts += ["| " + " | ".join(row) + " |" for row in body]
            parts.append("")
        parts += ["## Notes", ""] + [f"- {n}" for n in self.all_notes()] + [""]
        return "\n".join(parts)

    def to_html(self, path: str | Path) -> Path:
        """Write one self-contained HTML file (figures embedded as base64 PNG).

        Returns
        -------
        pathlib.Path
            Where the file was written.
        """
        path = Path(path)
        if path.parent and not path.parent.exists():
            raise ProbfitError(f"cannot write the report: directory {str(path.parent)!r} "
                               "does not exist")
        out = [_HEAD.format(title=html.escape(self.title or "Comparison of fits"))]
        out.append(f"<h1>{html.escape(self.title or 'Comparison of fits')}</h1>")
        for name, (head, body) in self.tables().items():
            out.append(f"<h2>{html.escape(name)}</h2>")
            out.append(_html_table(head, body))
        out.append("<h2>Notes</h2><ul>")
        out += [f"<li>{html.escape(n)}</li>" for n in self.all_notes()]
        out.append("</ul><h2>Figures</h2>")
        for name, fig in self.figures().items():
            data = base64.b64encode(figures.png_bytes(fig)).decode("ascii")
            out.append(f'<figure><img alt="{html.escape(name)}" '
                       f'src="data:image/png;base64,{data}"><figcaption>'
                       f"{html.escape(_CAPTIONS.get(name.split('_')[0], name))}"
                       "</figcaption></figure>")
        out.append("</body></html>")
        path.write_text("\n".join(out), encoding="utf-8")
        return path

    def __str__(self) -> str:
        return self.to_markdown()


_CAPTIONS = {
    "forest": "Estimates and 95% intervals by method.",
    "calibration": "Calibration of the predictive distribution, fits overlaid.",
    "residuals": "Randomized quantile residuals and influence.",
    "traces": "Optimizer traces.",
    "path": "Regularization path.",
    "components": "The data with each mixture fit's components.",
    "mixresiduals": "Quantile residuals under the plug-in mixture predictive.",
}

_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
th {{ background: #f2f2f2; }}
figure {{ margin: 1em 0; }} img {{ max-width: 100%; }}
figcaption {{ color: #555; font-size: 0.9em; }}
</style></head><body>"""


def _html_table(head: list[str], body: list[list[str]]) -> str:
    rows = ["<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)
            + "</tr></thead><tbody>"]
    for r in body:
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>")
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _num(x: Any) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "-"
    x = float(x)
    if x != 0 and not 1e-3 <= abs(x) < 1e5:
        return f"{x:.3e}"
    return f"{x:.4g}"


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _kind(fit: Any) -> str:
    return fit.uncertainty_kind if fit.se is not None else f"none ({fit.se_note})"


def _loo(fit: Any, cal_tree: Any, draws: PosteriorDraws) -> tuple[dict[str, float] | None, str]:
    if draws.lp_approx is None:
        return None, "no LOO: the fit has no posterior approximation to draw from"
    if not (np.all(np.isfinite(draws.lp)) and np.all(np.isfinite(draws.lp_approx))):
        return None, "no LOO: non-finite log densities at some posterior draws"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = loo_approximate_posterior(cal_tree, draws.lp, draws.lp_approx, pointwise=True)
    k = np.asarray(res.pareto_k, dtype=float)
    out = {"elpd": float(res.elpd), "se": float(res.se), "p": float(res.p),
           "max_pareto_k": float(np.max(k))}
    note = ""
    if res.warning or caught:
        note = (f"LOO: {int(np.sum(k > res.good_k))} observation(s) with Pareto k̂ > "
                f"{res.good_k:.2f}; treat the elpd with caution")
    return out, note


def _param_rows(entries: list[FitEntry]) -> list[dict[str, Any]]:
    mle = next((e for e in entries if e.fit.method == "mle"), None)
    rows: list[dict[str, Any]] = []
    index: dict[str, dict[str, Any]] = {}
    for e in entries:
        fit = e.fit
        ci = fit.conf_int(0.95) if fit.cov is not None else None
        for label, name, idx in fit.labels():
            cell: dict[str, Any] = {"estimate": float(fit.params[name][idx]),
                                    "kind": _kind(fit)}
            if fit.se is not None:
                cell["uncertainty"] = float(fit.se[name][idx])
                cell["lower"] = float(ci[name][0][idx])
                cell["upper"] = float(ci[name][1][idx])
            if mle is not None and e is not mle:
                ref = float(mle.fit.params[name][idx])
                if ref != 0.0:
                    cell["shrinkage"] = 1.0 - cell["estimate"] / ref
            if label not in index:
                index[label] = {"param": label, "fits": {}}
                rows.append(index[label])
            index[label]["fits"][e.label] = cell
    return rows


def _notes(entries: list[FitEntry], scored_on: str) -> list[str]:
    notes = []
    methods = {e.fit.method for e in entries}
    kinds = {_kind(e.fit) for e in entries}
    if len(kinds) > 1:
        notes.append("uncertainty columns are of different kinds (" + "; ".join(sorted(kinds))
                     + "): a Wald SE is a frequentist sampling SD, a Laplace or VI sd a "
                     "posterior SD")
    if "map" in methods and "mle" in methods:
        notes.append("objective values are not comparable across methods: MAP adds the "
                     "log-prior to the log-likelihood; compare predictive scores instead")
    if any("elbo" in e.fit.history.columns for e in entries):
        notes.append("ELBO traces bound the log marginal likelihood; they are not "
                     "log-likelihoods and not comparable with MLE/MAP objectives")
    if any(e.draws.kind == "laplace" and e.fit.method == "mle" for e in entries):
        notes.append("MLE posterior draws come from the Laplace approximation under a flat "
                     "prior, so its LOO and predictive scores integrate over the Wald "
                     "uncertainty")
    notes.append(f"calibration and log scores are computed on the {scored_on}; LOO elpd is "
                 "always on the training data")
    return notes


def compare(fits: Sequence[Any], test: Mapping[str, Any] | None = None,
            labels: Sequence[str] | None = None, n_draws: int = 400, seed: int = 0,
            title: str = "", paths: Mapping[str, Any] | None = None) -> Comparison:
    """Compare fits of one model.

    Parameters
    ----------
    fits
        Two or more fits of the same model (e.g. MLE, MAP, VI).
    test
        Held-out data (with the observed variable) for calibration and log scores; without it
        they are computed on the training data.
    labels
        Names of the fits (default: their methods, made unique).
    n_draws, seed
        Posterior draws per fit for predictive scores and LOO.
    title
        Title of the report.
    paths
        Regularization paths to draw, by caption (results of :func:`probfit.path`).

    Raises
    ------
    DataError
        If the fits observe different variables or ``labels`` do not match ``fits``.
    """
    fits = list(fits)
    if not fits:
        raise DataError("compare needs at least one fit")
    obs = [tuple(observed_names(fit) if is_latent(fit) else
                 [f.name for f in fit.objective.obs_factors()]) for fit in fits]
    if len(set(obs)) > 1:
        raise DataError(f"fits observe different variables: {obs}; compare fits of one model")
    labels = _labels(fits, labels)
    entries = []
    for fit, lab in zip(fits, labels, strict=True):
        draws = posterior_draws(fit, n_draws, seed)
        cal = calibration(fit, test, draws=draws, seed=seed, label=lab)
        train_tree = cal.tree if test is None else to_arviz(fit, draws=draws, seed=seed)
        loo, loo_note = _loo(fit, train_tree, draws)
        res = None
        if cal.kind != "categorical":
            res = residuals(fit, test, seed=seed)
        entries.append(FitEntry(lab, fit, draws, cal, convergence_report(fit, draws), res, loo,
                                loo_note))
    scored_on = "held-out test data" if test is not None else "training data"
    notes = _notes(entries, scored_on)
    if any(is_latent(e.fit) for e in entries):
        rows, relabelled = latent_param_rows(entries)
        notes += latent_notes(entries) + relabelled
    else:
        rows = _param_rows(entries)
    paths = dict(paths or {})
    for label, path in paths.items():
        if not hasattr(path, "lam") or not hasattr(path, "coef"):
            raise DataError(f"paths[{label!r}] must be a result of pf.path, got "
                            f"{type(path).__name__}")
    return Comparison(entries, rows, scored_on, notes,
                      title or f"Comparison of fits of model {fits[0].model.name!r}", paths)


def _labels(fits: list[Any], labels: Sequence[str] | None) -> list[str]:
    if labels is not None:
        labels = [str(x) for x in labels]
        if len(labels) != len(fits) or len(set(labels)) != len(labels):
            raise DataError(f"labels must be {len(fits)} distinct names, got {labels}")
        return labels
    out: list[str] = []
    for fit in fits:
        base = fit.method.upper()
        lab, i = base, 2
        while lab in out:
            lab, i = f"{base}-{i}", i + 1
        out.append(lab)
    return out
