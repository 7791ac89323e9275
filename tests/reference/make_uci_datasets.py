"""Write probfit/datasets/breast_cancer.csv and iris.csv from scikit-learn's UCI copies.

Both datasets are from the UCI Machine Learning Repository, which licenses them under
Creative Commons Attribution 4.0 (CC BY 4.0). scikit-learn ships verbatim copies of the UCI
files; this script only selects columns and renames them. Run it in a throwaway venv, never
the project venv::

    python3.12 -m venv /tmp/ref-diag && /tmp/ref-diag/bin/pip install scikit-learn
    /tmp/ref-diag/bin/python tests/reference/make_uci_datasets.py

Last run with scikit-learn 1.9.1 and numpy 2.5.5 (Python 3.12).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import sklearn
from sklearn.datasets import load_breast_cancer, load_iris

OUT = Path(__file__).resolve().parent.parent.parent / "probfit" / "datasets"

BC_FEATURES = ["radius", "texture", "perimeter", "area", "smoothness", "compactness",
               "concavity", "concave points", "symmetry", "fractal dimension"]


def _fmt(x: float) -> str:
    return np.format_float_positional(float(x), trim="-")


def main() -> None:
    bc = load_breast_cancer()
    names = list(bc.feature_names)
    cols = [names.index(f"mean {f}") for f in BC_FEATURES]
    header = [f"{f.replace(' ', '_')}_mean" for f in BC_FEATURES] + ["malignant"]
    with open(OUT / "breast_cancer.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for row, target in zip(bc.data[:, cols], bc.target, strict=True):
            w.writerow([_fmt(v) for v in row] + [str(1 - int(target))])  # sklearn: 0 = malignant
    iris = load_iris()
    with open(OUT / "iris.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["sepal_length", "sepal_width", "petal_length", "petal_width", "species"])
        for row, target in zip(iris.data, iris.target, strict=True):
            w.writerow([_fmt(v) for v in row] + [str(iris.target_names[target])])
    print(f"scikit-learn {sklearn.__version__}, numpy {np.__version__}: wrote "
          f"{OUT / 'breast_cancer.csv'} ({len(bc.target)} rows) and {OUT / 'iris.csv'} "
          f"({len(iris.target)} rows)")


if __name__ == "__main__":
    main()
