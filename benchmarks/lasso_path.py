"""Lasso-penalised logistic regression path: probfit next to glum and sklearn, same data.

n = 100 000 rows, p = 200 standard-normal covariates (20 nonzero true coefficients), an
unpenalised intercept, and a 30-point path λ_k = λ_max · 0.01^(k/29) in probfit's convention
(objective = −Σ log p(yᵢ) + λ‖w‖₁, sums over rows). Each library gets its own constants:
glum ``alpha = λ/n``, sklearn ``C = 1/λ``. Every library is timed over the whole path with warm
starts where it supports them, and the objective of its final (smallest-λ) fit is evaluated
here in probfit's convention; the gap is relative to the best of them. The machine is often
shared, so next to each wall time the script prints the process CPU time and the load average.

Run once, from the repository root, with the bench extra installed (one BLAS/OpenMP thread
each, so a shared machine does not make the timings depend on thread contention)::

    .venv/bin/pip install -e '.[bench]'
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
        .venv/bin/python benchmarks/lasso_path.py
"""

from __future__ import annotations

import os
import platform
import time
import warnings

import numpy as np

#: Epoch cap per λ for sklearn (saga needs thousands of epochs to reach tol=1e-6 here; the cap
#: keeps the run to minutes, and the objective gap column shows what it costs).
SAGA_EPOCHS = 100


def make_data(n: int = 100_000, p: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    beta = np.zeros(p)
    beta[:20] = rng.normal(0.0, 0.5, 20)
    eta = X @ beta - 0.5
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    return X, y


def objective(b0: float, w: np.ndarray, X: np.ndarray, y: np.ndarray, lam: float) -> float:
    eta = b0 + X @ w
    return float(np.sum(np.logaddexp(0.0, eta) - y * eta) + lam * np.sum(np.abs(w)))


def lambda_grid(X: np.ndarray, y: np.ndarray, k: int = 30, ratio: float = 1e-2) -> np.ndarray:
    g = X.T @ (y.mean() - y)
    return float(np.max(np.abs(g))) * ratio ** (np.arange(k) / (k - 1))


def run_probfit(X: np.ndarray, y: np.ndarray, lams: np.ndarray) -> tuple[float, float, np.ndarray]:
    import probfit as pf

    t0 = time.perf_counter()  # compile included, import excluded (as for the others)
    m = pf.Model("lasso_logistic")
    Xh, yh = m.data("X", ("n", "p")), m.data("y", ("n",))
    w = m.param("w", ("p",), prior=pf.Laplace(0.0, 1.0))
    b = m.param("b")
    m.observe(yh, pf.Bernoulli(logit=Xh @ w + b))
    res = pf.path(m, {"X": X, "y": y}, "w", strengths=lams)
    elapsed = time.perf_counter() - t0
    theta = res.theta[-1]
    return elapsed, float(theta[-1]), res.coef[-1]


def run_glum(X: np.ndarray, y: np.ndarray, lams: np.ndarray) -> tuple[float, float, np.ndarray]:
    from glum import GeneralizedLinearRegressor

    t0 = time.perf_counter()
    g = GeneralizedLinearRegressor(family="binomial", alpha_search=True, alphas=lams / len(y),
                                   l1_ratio=1.0, fit_intercept=True)
    g.fit(X, y)
    return time.perf_counter() - t0, float(g.intercept_), np.asarray(g.coef_)


def run_sklearn(X: np.ndarray, y: np.ndarray, lams: np.ndarray, solver: str
                ) -> tuple[float, float, np.ndarray]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    t0 = time.perf_counter()
    kw = {"intercept_scaling": 100.0} if solver == "liblinear" else {"warm_start": True}
    m = LogisticRegression(l1_ratio=1.0, solver=solver, tol=1e-6, max_iter=SAGA_EPOCHS, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for lam in lams:
            m.set_params(C=1.0 / lam)
            m.fit(X, y)
    return time.perf_counter() - t0, float(m.intercept_[0]), m.coef_[0].copy()


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if "model name" in line)
    except (OSError, StopIteration):
        pass
    return (f"{cpu}; {os.cpu_count()} logical CPUs visible (shared with other jobs); "
            f"Python {platform.python_version()}; numpy {np.__version__}")


def main() -> None:
    import glum  # noqa: F401  (imports are not timed)
    import sklearn.linear_model  # noqa: F401

    import probfit  # noqa: F401

    X, y = make_data()
    lams = lambda_grid(X, y)
    runs = {"probfit (newton: IRLS + CD)": lambda: run_probfit(X, y, lams),
            "glum (irls-cd)": lambda: run_glum(X, y, lams),
            "sklearn saga": lambda: run_sklearn(X, y, lams, "saga"),
            "sklearn liblinear": lambda: run_sklearn(X, y, lams, "liblinear")}
    print(f"machine: {machine()}")
    print(f"n = {X.shape[0]}, p = {X.shape[1]}, 30 λ from {lams[0]:.6g} to {lams[-1]:.6g}")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    results = {}
    for name, run in runs.items():
        cpu0 = time.process_time()
        t, b0, w = run()
        cpu = time.process_time() - cpu0
        results[name] = (t, cpu, objective(b0, w, X, y, lams[-1]), int(np.sum(w != 0)))
        print(f"{name}: {t:.2f} s ({cpu:.2f} s CPU), final objective {results[name][2]:.10f}, "
              f"load average {os.getloadavg()[0]:.2f}", flush=True)
    best = min(r[2] for r in results.values())
    print("| library | path time (s) | CPU time (s) | final objective | relative gap | nonzero |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, (t, cpu, obj, nnz) in results.items():
        print(f"| {name} | {t:.2f} | {cpu:.2f} | {obj:.10f} | {(obj - best) / abs(best):.2e} "
              f"| {nnz} |")

if __name__ == "__main__":
    main()
