"""The ``probfit`` command line: ``demo``, ``validate`` and ``fit``.

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
from pathlib import Path

import numpy as np

from probfit import datasets
from probfit.distributions import Bernoulli, Normal
from probfit.dsl.model import Model
from probfit.errors import ProbfitError, ProbfitWarning

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    ds = datasets.load("spector")
    cols = ["GPA", "TUCE", "PSI"]
    X = np.column_stack([ds.data[c] for c in cols])
    X = (X - X.mean(0)) / X.std(0)
    data = {"X": X, "y": ds.data["GRADE"]}

    m = Model("spector")
    Xh, y = m.data("X", dims=("n", "p")), m.data("y", dims=("n",))
    w = m.param("w", dims=("p",), prior=Normal(0.0, args.prior_scale))
    b = m.param("b")
    m.observe(y, Bernoulli(logit=Xh @ w + b))

    coords = {"p": cols}
    mle = m.fit(data, method="mle", coords=coords)
    map_ = m.fit(data, method="map", coords=coords)
    out = [
        f"Spector & Mazzeo (1980): {len(data['y'])} students, GRADE ~ GPA + TUCE + PSI "
        "(standardised), logistic regression.",
        "",
        mle.summary().text,
        "",
        map_.summary().text,
        "",
        f"Normal(0, {args.prior_scale:g}) prior on w  <=>  ridge penalty "
        f"0.5 * {1 / args.prior_scale**2:g} * ||w||^2 on the summed log-likelihood.",
        f"{'coef':<8}{'MLE':>10}{'MAP':>10}{'shrinkage':>11}",
    ]
    for i, c in enumerate(cols):
        a, b_ = mle.params["w"][i], map_.params["w"][i]
        out.append(f"{c:<8}{a:>10.4f}{b_:>10.4f}{1 - b_ / a:>10.1%}")
    print("\n".join(out))
    return 0


def _validate(args: argparse.Namespace) -> int:
    m = Model.from_spec(args.spec)
    print(f"{args.spec}: valid model {m.name!r} with data {sorted(m.data_decls)}, parameters "
          f"{sorted(m.param_decls)}")
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
    m = Model.from_spec(args.spec)
    data = _bind_columns(m, _read_csv(args.data))
    fit = m.fit(data, method=args.method, engine=args.engine)
    text = fit.summary().text
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.txt").write_text(text + "\n")
        est = {k: np.asarray(v).tolist() for k, v in fit.params.items()}
        se = None if fit.se is None else {k: np.asarray(v).tolist() for k, v in fit.se.items()}
        (out / "fit.json").write_text(json.dumps(
            {"model": m.name, "method": fit.method, "engine": fit.engine, "params": est,
             "se": se, "uncertainty_kind": fit.uncertainty_kind, "loglik": fit.loglik,
             "converged": fit.converged, "n_iter": fit.n_iter}, indent=2))
        print(f"wrote {out / 'summary.txt'} and {out / 'fit.json'}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="probfit", description="Declare once; fit by MLE or MAP.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="fit MLE and MAP logistic regressions on bundled data")
    d.add_argument("--prior-scale", type=float, default=1.0,
                   help="scale of the Normal prior on the coefficients (default 1)")
    d.set_defaults(run=_demo)
    v = sub.add_parser("validate", help="check a model spec file")
    v.add_argument("spec")
    v.set_defaults(run=_validate)
    f = sub.add_parser("fit", help="fit a spec to a CSV file")
    f.add_argument("spec")
    f.add_argument("--data", required=True, help="CSV file with one column per variable")
    f.add_argument("--method", default="mle", choices=["mle", "map", "vi"])
    f.add_argument("--engine", default=None, choices=["newton", "lbfgs", "advi", "cavi"])
    f.add_argument("--out", default=None, help="directory for summary.txt and fit.json")
    f.set_defaults(run=_fit)
    return p


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


if __name__ == "__main__":
    sys.exit(main())
