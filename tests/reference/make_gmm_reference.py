"""Regenerate ``gmm_reference.json``: scikit-learn GaussianMixture fits for probfit's EM tests.

Run in a throwaway venv (never the project venv), from anywhere::

    python3.12 -m venv /tmp/ref-em && /tmp/ref-em/bin/pip install scikit-learn numpy
    /tmp/ref-em/bin/python tests/reference/make_gmm_reference.py

Cases:

* ``separated``: 450 rows of three well-separated 2-d Gaussians simulated with
  ``numpy.random.default_rng(20261122)`` (the data are stored in the JSON too), fitted with
  every covariance type;
* ``faithful``: Old Faithful (eruptions, waiting), read from ``probfit/datasets/faithful.csv``,
  two components, full covariance.

Every fit: ``GaussianMixture(k, covariance_type=..., reg_covar=1e-6, tol=1e-12,
max_iter=100000, n_init=20, init_params="kmeans", random_state=0)``; the JSON records the total
log-likelihood ``score(X) * n``, weights, means, covariances, BIC and iterations.
"""

from __future__ import annotations

import csv
import datetime
import json
import platform
from pathlib import Path

import numpy as np
import sklearn
from sklearn.mixture import GaussianMixture

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SEED = 20261122


def separated() -> np.ndarray:
    rng = np.random.default_rng(SEED)
    means = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 7.0]])
    covs = np.array([[[1.0, 0.3], [0.3, 0.6]], [[0.5, 0.0], [0.0, 1.5]],
                     [[0.8, -0.2], [-0.2, 0.4]]])
    sizes = [200, 150, 100]
    parts = [rng.multivariate_normal(m, c, size=s) for m, c, s in zip(means, covs, sizes,
                                                                      strict=True)]
    return np.concatenate(parts)


def faithful() -> np.ndarray:
    with open(ROOT / "probfit" / "datasets" / "faithful.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return np.array([[float(r["eruptions"]), float(r["waiting"])] for r in rows])


def fit(x: np.ndarray, k: int, cov: str) -> dict:
    gm = GaussianMixture(k, covariance_type=cov, reg_covar=1e-6, tol=1e-12, max_iter=100000,
                         n_init=20, init_params="kmeans", random_state=0).fit(x)
    covs = gm.covariances_
    d = x.shape[1]
    if cov == "diag":
        full = np.array([np.diag(c) for c in covs])
    elif cov == "spherical":
        full = np.array([c * np.eye(d) for c in covs])
    elif cov == "tied":
        full = np.broadcast_to(covs, (k, d, d))
    else:
        full = covs
    return {"covariance": cov, "k": k, "loglik": float(gm.score(x) * len(x)),
            "weights": gm.weights_.tolist(), "means": gm.means_.tolist(),
            "covariances": np.asarray(full).tolist(), "bic": float(gm.bic(x)),
            "n_iter": int(gm.n_iter_), "converged": bool(gm.converged_)}


def main() -> None:
    xs = separated()
    xf = faithful()
    out = {
        "provenance": {
            "script": "tests/reference/make_gmm_reference.py",
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(), "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
            "call": "GaussianMixture(k, covariance_type=cov, reg_covar=1e-6, tol=1e-12, "
                    "max_iter=100000, n_init=20, init_params='kmeans', random_state=0)",
        },
        "separated": {"seed": SEED, "x": xs.tolist(),
                      "fits": {c: fit(xs, 3, c) for c in ("full", "diag", "spherical", "tied")}},
        "faithful": {"columns": ["eruptions", "waiting"], "fits": {"full": fit(xf, 2, "full")}},
    }
    (HERE / "gmm_reference.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
