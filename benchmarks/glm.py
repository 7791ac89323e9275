"""GLM maximum-likelihood problems: probfit's Newton/IRLS next to statsmodels, sklearn, glum.

Every runner receives the same data and returns ``(intercept, coefficients, iterations)``;
the harness scores every solution with probfit's own log-likelihood, so objectives are
comparable across libraries.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

import probfit as pf


@dataclass(frozen=True)
class GLMProblem:
    """A GLM fit of a given family and size."""

    name: str
    family: str  # "logistic" or "poisson"
    n: int
    p: int

    def data(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Standard-normal covariates scaled by 1/sqrt(p), coefficients with moderate effects."""
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((self.n, self.p)) / np.sqrt(self.p)
        beta = rng.uniform(-1.0, 1.0, self.p)
        eta = X @ beta + 0.3
        if self.family == "logistic":
            y = (rng.random(self.n) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
        else:
            y = rng.poisson(np.exp(eta)).astype(float)
        return {"X": X, "y": y}

    def model(self) -> pf.Model:
        m = pf.Model(self.name)
        X, y = m.data("X", ("n", "p")), m.data("y", ("n",))
        eta = X @ m.param("w", ("p",)) + m.param("b")
        m.observe(y, pf.Bernoulli(logit=eta) if self.family == "logistic"
                  else pf.Poisson(log_rate=eta))
        return m

    def objective(self, data: dict[str, np.ndarray], b: float, w: np.ndarray) -> float:
        """The negative log-likelihood (a sum) at ``(b, w)``, computed by probfit."""
        obj = self.model().compile(data)
        theta = obj.layout.pack({"w": w, "b": b})
        return obj.value(theta)

    # ------------------------------------------------------------------ runners
    def runners(self) -> dict[str, Any]:
        """Library name → callable(data) returning (intercept, coef, iterations)."""
        out: dict[str, Any] = {"probfit newton": self._probfit}
        try:
            import statsmodels.api  # noqa: F401

            out["statsmodels GLM (IRLS)"] = self._statsmodels
        except ImportError:
            pass
        try:
            import sklearn  # noqa: F401

            out["sklearn lbfgs"] = lambda d: self._sklearn(d, "lbfgs")
            out["sklearn newton-cholesky"] = lambda d: self._sklearn(d, "newton-cholesky")
        except ImportError:
            pass
        try:
            import glum  # noqa: F401

            out["glum"] = self._glum
        except ImportError:
            pass
        return out

    def _probfit(self, data):
        fit = self.model().fit(data, method="mle", engine="newton")
        return float(fit.params["b"]), fit.params["w"], fit.n_iter

    def _statsmodels(self, data):
        import statsmodels.api as sm

        fam = sm.families.Binomial() if self.family == "logistic" else sm.families.Poisson()
        X1 = np.column_stack([np.ones(self.n), data["X"]])
        res = sm.GLM(data["y"], X1, family=fam).fit(tol=1e-10)
        return float(res.params[0]), res.params[1:], int(res.fit_history["iteration"])

    def _sklearn(self, data, solver):
        from sklearn.linear_model import LogisticRegression, PoissonRegressor

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.family == "logistic":
                est = LogisticRegression(C=np.inf, solver=solver, tol=1e-10, max_iter=10_000)
                est.fit(data["X"], data["y"])
                return float(est.intercept_[0]), est.coef_[0], int(np.max(est.n_iter_))
            est = PoissonRegressor(alpha=0.0, solver=solver, tol=1e-10, max_iter=10_000)
            est.fit(data["X"], data["y"])
            return float(est.intercept_), est.coef_, int(est.n_iter_)

    def _glum(self, data):
        from glum import GeneralizedLinearRegressor

        fam = "binomial" if self.family == "logistic" else "poisson"
        est = GeneralizedLinearRegressor(family=fam, alpha=0.0, gradient_tol=1e-10,
                                         max_iter=1000)
        est.fit(data["X"], data["y"])
        return float(est.intercept_), est.coef_, int(est.n_iter_)

    def floor(self, data: dict[str, np.ndarray], iterations: int) -> float:
        """Seconds of ``iterations`` weighted cross-products ``XᵀWX`` (the Newton floor)."""
        import time

        X = data["X"]
        w = np.full(self.n, 0.25)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            _ = X.T @ (w[:, None] * X)
            times.append(time.perf_counter() - t0)
        return iterations * float(np.median(times))


def problems(quick: bool) -> list[GLMProblem]:
    """The GLM problems of the suite (tiny sizes with ``quick``)."""
    if quick:
        return [GLMProblem("logistic_mle_quick", "logistic", 2000, 5),
                GLMProblem("poisson_mle_quick", "poisson", 2000, 5)]
    return [GLMProblem("logistic_mle_1e6x50", "logistic", 1_000_000, 50),
            GLMProblem("poisson_mle_1e6x50", "poisson", 1_000_000, 50),
            GLMProblem("logistic_mle_2e5x500", "logistic", 200_000, 500),
            GLMProblem("poisson_mle_2e5x500", "poisson", 200_000, 500)]
