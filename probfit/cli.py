"""The ``probfit`` command line: ``demo``, ``validate``, ``fit`` and ``compare``.

Errors in arguments or files print one line to stderr and exit with status 2; nothing prints a
traceback for a user mistake.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import numpy as np
from tqdm import tqdm

from probfit import datasets
from probfit.compile.objective import METHODS
from probfit.distributions import Bernoulli, Normal
from probfit.dsl.model import Model
from probfit.errors import ProbfitError, ProbfitWarning

__all__ = ["main"]


_DEMO_COLS = ["radius_mean", "texture_mean", "smoothness_mean", "concave_points_mean"]


def _demo(args: argparse.Namespace) -> int:
    from probfit.report import compare

    if not args.prior_scale > 0:
        raise ProbfitError(f"--prior-scale must be a positive scale, got {args.prior_scale}")
    ds = datasets.load("breast_cancer")
    X = np.column_stack([ds.data[c] for c in _DEMO_COLS])
    X = (X - X.mean(0)) / X.std(0)
    y = ds.data["malignant"]
    test_rows = np.arange(len(y)) % 4 == 0
    train = {"X": X[~test_rows], "y": y[~test_rows]}
    test = {"X": X[test_rows], "y": y[test_rows]}

    m = Model("breast_cancer")
    Xh, yh = m.data("X", dims=("n", "p")), m.data("y", dims=("n",))
    w = m.param("w", dims=("p",), prior=Normal(0.0, args.prior_scale))
    b = m.param("b")
    m.observe(yh, Bernoulli(logit=Xh @ w + b))

    coords = {"p": _DEMO_COLS}
    with _progress(3, args) as bar:
        mle = m.fit(train, method="mle", coords=coords)
        bar.update()
        map_ = m.fit(train, method="map", coords=coords)
        bar.update()
        report = compare([mle, map_], test=test, title="Breast cancer (UCI, CC BY 4.0): "
                         "logistic regression by MLE and MAP")
        path = report.to_html(args.report)
        bar.update()
    out = [
        f"Wisconsin diagnostic breast cancer (UCI): {len(train['y'])} training and "
        f"{len(test['y'])} held-out tumours, malignant ~ {' + '.join(_DEMO_COLS)} "
        "(standardised), logistic regression.",
        "",
        mle.summary().text,
        "",
        map_.summary().text,
        "",
        f"Normal(0, {args.prior_scale:g}) prior on w  <=>  ridge penalty "
        f"0.5 * {1 / args.prior_scale**2:g} * ||w||^2 on the summed log-likelihood.",
        f"{'coef':<22}{'MLE':>10}{'MAP':>10}{'shrinkage':>11}",
    ]
    for i, c in enumerate(_DEMO_COLS):
        a, b_ = mle.params["w"][i], map_.params["w"][i]
        out.append(f"{c:<22}{a:>10.4f}{b_:>10.4f}{1 - b_ / a:>10.1%}")
    scores = report.scores()
    out += ["", f"held-out log score: MLE {scores['MLE']['log_score']:.4f}, "
            f"MAP {scores['MAP']['log_score']:.4f} (mean log predictive density)",
            f"comparison report written to {path.resolve()}"]
    print("\n".join(out))
    return 0


def _validate(args: argparse.Namespace) -> int:
    m = Model.from_spec(args.spec)
    print(f"{args.spec}: valid model {m.name!r} with data {sorted(m.data_decls)}, parameters "
          f"{sorted(m.param_decls)}")
    return 0


def _explain(args: argparse.Namespace) -> int:
    from probfit.penalties.explain import explain

    m = Model.from_spec(args.spec)
    print(explain(m, _bind_columns(m, _read_csv(args.data)), method=args.method))
    return 0


def _read_csv(path: str) -> dict[str, np.ndarray]:
    p = Path(path)
    if not p.is_file():
        raise ProbfitError(f"data file {path!r} does not exist")
    with p.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ProbfitError(f"data file {path!r} has no rows")
    out = {}
    for col in rows[0]:
        try:
            out[col] = np.array([float(r[col]) for r in rows])
        except ValueError:
            raise ProbfitError(f"column {col!r} of {path!r} is not numeric") from None
    return out


def _bind_columns(m: Model, table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map CSV columns to declared data: a 1-d variable takes its column; a 2-d variable ``X``
    takes every column named ``X[...]`` or ``X_...`` (in file order)."""
    data = {}
    for name, decl in m.data_decls.items():
        if len(decl.handle.dims) <= 1 and name in table:
            data[name] = table[name]
            continue
        cols = [c for c in table if c.startswith(f"{name}[") or c.startswith(f"{name}_")]
        if len(decl.handle.dims) == 2 and cols:
            data[name] = np.column_stack([table[c] for c in cols])
        else:
            raise ProbfitError(f"data {name!r} has no column in the CSV (for a matrix, name "
                               f"columns {name}_1, {name}_2, ...)")
    return data


def _fit(args: argparse.Namespace) -> int:
    from probfit.diagnostics.convergence import convergence_report

    m = Model.from_spec(args.spec)
    data = _bind_columns(m, _read_csv(args.data))
    with _progress(2 if args.out else 1, args) as bar:
        fit = m.fit(data, method=args.method, engine=args.engine, **_latent_options(args))
        bar.update()
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            fit.to_arviz(n_draws=args.draws).to_netcdf(out / "fit.nc", engine="h5netcdf")
            bar.update()
    text = fit.summary().text
    conv = convergence_report(fit)
    print(text)
    print(conv)
    if args.out:
        (out / "summary.txt").write_text(text + "\n" + str(conv) + "\n")
        est = {k: np.asarray(v).tolist() for k, v in fit.params.items()}
        se = None if fit.se is None else {k: np.asarray(v).tolist() for k, v in fit.se.items()}
        (out / "fit.json").write_text(json.dumps(
            {"model": m.name, "method": fit.method, "engine": fit.engine, "params": est,
             "se": se, "uncertainty_kind": fit.uncertainty_kind, "loglik": fit.loglik,
             "converged": fit.converged, "n_iter": fit.n_iter,
             "convergence": {k: v for k, v in conv.to_dict().items()
                             if isinstance(v, (bool, int, float, str, list)) or v is None}},
            indent=2))
        print(f"wrote {out / 'summary.txt'}, {out / 'fit.json'} and {out / 'fit.nc'} "
              "(ArviZ DataTree, netCDF)")
    return 0


def _latent_options(args: argparse.Namespace) -> dict[str, int]:
    """``k`` (and a seed for reproducible k-means++ starts) for specs with a latent."""
    return {} if args.k is None else {"k": args.k, "seed": 0}


def _methods(text: str) -> list[str]:
    methods = [x.strip() for x in text.split(",") if x.strip()]
    if not methods:
        raise ProbfitError("--methods needs at least one method, e.g. mle,map")
    bad = [x for x in methods if x not in METHODS]
    if bad:
        raise ProbfitError(f"method(s) {', '.join(bad)} not available here; available "
                           f"methods: {', '.join(METHODS)}")
    return methods


def _compare(args: argparse.Namespace) -> int:
    from probfit.report import compare

    methods = _methods(args.methods)
    m = Model.from_spec(args.spec)
    data = _bind_columns(m, _read_csv(args.data))
    test = _bind_columns(m, _read_csv(args.test)) if args.test else None
    if not args.report.endswith((".html", ".htm")):
        raise ProbfitError(f"--report must name an .html file, got {args.report!r}")
    fits = []
    with _progress(len(methods) + 1, args) as bar:
        for method in methods:
            fits.append(m.fit(data, method=method, **_latent_options(args)))
            bar.update()
        report = compare(fits, test=test, n_draws=args.draws)
        path = report.to_html(args.report)
        bar.update()
    print(report.to_markdown())
    print(f"comparison report written to {path.resolve()}")
    return 0


@contextmanager
def _progress(total: int, args: argparse.Namespace):
    """A tqdm bar on stderr (shown when stderr is a terminal, or with --progress)."""
    show = getattr(args, "progress", False) or sys.stderr.isatty()
    with tqdm(total=total, file=sys.stderr, disable=not show, desc="probfit",
              leave=False) as bar:
        yield bar


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="probfit", description="Declare once; fit by MLE or MAP; compare the fits.")
    p.add_argument("--progress", action="store_true",
                   help="show progress bars on stderr even when it is not a terminal")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    d = sub.add_parser("demo", help="fit MLE and MAP logistic regressions on bundled data and "
                       "write the comparison report")
    d.add_argument("--prior-scale", type=float, default=1.0,
                   help="scale of the Normal prior on the coefficients (default 1)")
    d.add_argument("--report", default="probfit-demo-report.html",
                   help="where to write the HTML report (default probfit-demo-report.html)")
    d.set_defaults(run=_demo)
    v = sub.add_parser("validate", help="check a model spec file")
    v.add_argument("spec")
    v.set_defaults(run=_validate)
    f = sub.add_parser("fit", help="fit a spec to a CSV file")
    f.add_argument("spec")
    f.add_argument("--data", required=True, help="CSV file with one column per variable")
    f.add_argument("--method", default="mle", choices=["mle", "map", "vi"])
    f.add_argument("--engine", default=None,
                   choices=["newton", "lbfgs", "adam", "em", "advi", "cavi",
                            "quadrature"])
    f.add_argument("--out", default=None,
                   help="directory for summary.txt, fit.json and fit.nc (ArviZ netCDF)")
    f.add_argument("--draws", type=_positive_int, default=1000,
                   help="posterior draws in fit.nc (default 1000)")
    f.add_argument("--k", type=_positive_int, default=None,
                   help="number of values of the latent (mixture specs), e.g. --k 2")
    f.set_defaults(run=_fit)
    c = sub.add_parser("compare", help="fit a spec by several methods and write a comparison "
                       "report")
    c.add_argument("spec")
    c.add_argument("--data", required=True, help="CSV file with one column per variable")
    c.add_argument("--test", default=None, help="held-out CSV file for predictive scores")
    c.add_argument("--methods", default="mle,map",
                   help="comma-separated methods (default mle,map)")
    c.add_argument("--report", default="report.html", help="HTML report path")
    c.add_argument("--draws", type=_positive_int, default=400,
                   help="posterior draws per fit (default 400)")
    c.add_argument("--k", type=_positive_int, default=None,
                   help="number of values of the latent (mixture specs), e.g. --k 2")
    c.set_defaults(run=_compare)
    e = sub.add_parser("explain", help="show each prior of a spec as a penalty, with the "
                       "equivalent settings of sklearn, glmnet/statsmodels and glum")
    e.add_argument("spec")
    e.add_argument("--data", required=True, help="CSV file with one column per variable")
    e.add_argument("--method", default="map", choices=["map", "mle"])
    e.set_defaults(run=_explain)
    return p


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"probfit: error: {message} (see {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``probfit`` console script."""
    args = _parser().parse_args(argv)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ProbfitWarning)
            code = args.run(args)
        for w in caught:
            print(f"warning: {w.message}", file=sys.stderr)
        return code
    except ProbfitError as err:
        print(f"probfit: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"probfit: error: {err.strerror or err}: {err.filename or ''}".rstrip(": "),
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
