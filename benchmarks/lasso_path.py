"""Lasso-penalised logistic regression path: probfit next to glum and sklearn, same data.

n = 100 000 rows, p = 200 standard-normal covariates (20 nonzero true coefficients), an
unpenalised intercept, and a 30-point path λ_k = λ_max · 0.01^(k/29) in probfit's convention
(objective = −Σ log p(yᵢ) + λ‖w‖₁, sums over rows). Each library gets its own constants:
glum ``alpha = λ/n``, sklearn ``C = 1/λ``. Every library is timed over the whole path with warm
starts where it supports them, and the objective of its final (smallest-λ) fit is evaluated by
probfit (the MAP objective of the model with ``w ~ Laplace(0, 1/λ)``); the gap is relative to
the best of them.

Part of the suite (``python -m benchmarks.run --problems lasso_path_1e5x200``); on its own, from
the repository root with the bench extra installed::

    python -m benchmarks.lasso_path
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

import probfit as pf
from benchmarks.harness import Data, Outcome, Problem, Runner, kernel_seconds
from probfit.contract import weighted_gram

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


def model(scale: float = 1.0) -> pf.Model:
    """Logistic regression with ``w ~ Laplace(0, scale)`` (penalty ``‖w‖₁ / scale``)."""
    m = pf.Model("lasso_logistic")
    Xh, yh = m.data("X", ("n", "p")), m.data("y", ("n",))
    w = m.param("w", ("p",), prior=pf.Laplace(0.0, scale))
    b = m.param("b")
    m.observe(yh, pf.Bernoulli(logit=Xh @ w + b))
    return m


def objective(b0: float, w: np.ndarray, X: np.ndarray, y: np.ndarray, lam: float) -> float:
    """probfit's MAP objective ``−Σ log p(yᵢ) + λ‖w‖₁`` at ``(b0, w)``."""
    obj = model(1.0 / lam).compile({"X": X, "y": y}, "map")
    return obj.total(obj.layout.pack({"w": w, "b": b0}))


def lambda_grid(X: np.ndarray, y: np.ndarray, k: int = 30, ratio: float = 1e-2) -> np.ndarray:
    g = X.T @ (y.mean() - y)
    return float(np.max(np.abs(g))) * ratio ** (np.arange(k) / (k - 1))


def run_probfit(X: np.ndarray, y: np.ndarray, lams: np.ndarray
                ) -> tuple[float, float, np.ndarray, pf.PathResult]:
    """Seconds, final intercept and coefficients, and the whole path."""
    t0 = time.perf_counter()  # compile included, import excluded (as for the others)
    res = pf.path(model(), {"X": X, "y": y}, "w", strengths=lams)
    elapsed = time.perf_counter() - t0
    theta = res.theta[-1]
    return elapsed, float(theta[-1]), res.coef[-1], res


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


def path_floor(X: np.ndarray, n_iter: np.ndarray, n_active: np.ndarray) -> float:
    """``Σ_k n_iter_k × t(X_Aᵀ W X_A)`` with ``|A_k|`` = nonzero coefficients at point ``k``
    plus the intercept; each distinct ``|A|`` is timed once (``weighted_gram`` on that many
    contiguous columns)."""
    h = np.full(X.shape[0], 0.25)
    unit = {}
    for m in np.unique(n_active):
        cols = np.ascontiguousarray(X[:, : int(m)])
        unit[int(m)] = kernel_seconds(lambda c=cols: weighted_gram(c, h))
    return float(sum(k * unit[int(m)] for k, m in zip(n_iter, n_active, strict=True)))


@dataclass(frozen=True)
class LassoPath(Problem):
    """A lasso logistic path of ``points`` λ values on ``make_data(n, p)``."""

    name: str
    n: int
    p: int
    points: int

    def describe(self) -> str:
        return (f"Lasso logistic regression path, n = {self.n:,}, p = {self.p} standard-normal "
                f"covariates (20 nonzero true coefficients, seed 0), unpenalised intercept, "
                f"{self.points} λ from λ_max down to λ_max/100 (probfit's sum convention; glum "
                "`alpha = λ/n` with `alpha_search`, sklearn `C = 1/λ` refitted per λ, saga with "
                f"warm starts and at most {SAGA_EPOCHS} epochs per λ, liblinear with "
                "`intercept_scaling=100`). Time: the whole path. Objective: probfit's "
                "−Σᵢ log p(yᵢ | θ) + λ‖w‖₁ at the smallest λ. Floor: Σ over the path's points "
                "of (proximal Newton iterations × one active-set `X_AᵀWX_A`), A = the nonzero "
                "coefficients at that point's solution plus the intercept. sklearn's saga and "
                "liblinear take minutes, so they run once (no repeats).")

    def data(self) -> Data:
        X, y = make_data(self.n, self.p)
        return {"X": X, "y": y}

    def extras(self, data: Data) -> Data:
        return {"lams": lambda_grid(data["X"], data["y"], self.points)}

    def runners(self) -> list[Runner]:
        def peer(fn):
            def run(data: Data) -> Outcome:
                t, b0, w = fn(data["X"], data["y"], data["lams"])
                return Outcome((b0, w), None, seconds=t)
            return run

        return [Runner("probfit newton (IRLS + CD)", self._probfit, probfit=True),
                Runner("glum (irls-cd)", peer(run_glum), ("glum",)),
                Runner("sklearn saga", peer(lambda X, y, lams: run_sklearn(X, y, lams, "saga")),
                       ("sklearn.linear_model",), max_repeats=1),
                Runner("sklearn liblinear",
                       peer(lambda X, y, lams: run_sklearn(X, y, lams, "liblinear")),
                       ("sklearn.linear_model",), max_repeats=1)]

    def objective(self, data: Data, outcome: Outcome) -> float:
        b0, w = outcome.solution
        return objective(b0, w, data["X"], data["y"], float(data["lams"][-1]))

    def floor(self, data: Data, runner: Runner, outcome: Outcome) -> tuple[float, str]:
        n_iter, n_active = outcome.work
        return (path_floor(data["X"], n_iter, n_active),
                f"Σ over {len(n_iter)} points of iterations × X_AᵀWX_A ({int(n_iter.sum())} "
                f"iterations, |A| from {int(n_active.min())} to {int(n_active.max())})")

    def _probfit(self, data: Data) -> Outcome:
        t, b0, w, res = run_probfit(data["X"], data["y"], data["lams"])
        return Outcome((b0, w), int(res.n_iter.sum()), seconds=t,
                       work=(res.n_iter, res.n_nonzero + 1))


def problems(size: str) -> list[LassoPath]:
    """The lasso path at ``size`` (``"quick"``, ``"medium"`` or ``"full"``)."""
    if size == "quick":
        return [LassoPath("lasso_path_quick", 2000, 20, 10)]
    if size == "medium":
        return [LassoPath("lasso_path_2e4x200", 20_000, 200, 30)]
    return [LassoPath("lasso_path_1e5x200", 100_000, 200, 30)]


if __name__ == "__main__":
    from benchmarks import run

    raise SystemExit(run.main(["--problems", "lasso_path_1e5x200"]))
