"""GLM maximum-likelihood problems: probfit's Newton/IRLS (and its L-BFGS) next to statsmodels,
sklearn, glum.

Every runner receives the same data and returns ``(intercept, coefficients)`` with its
iteration count; the harness scores every solution with probfit's own negative
log-likelihood (a sum over rows), so objectives are comparable across libraries.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

import probfit as pf
from benchmarks.harness import Data, Outcome, Problem, Row, Runner, kernel_seconds
from probfit.contract import weighted_gram

#: The size at which issue #7 states the GLM engine's target.
TARGET_SIZE = (1_000_000, 50)


def simulate(family: str, n: int, p: int, seed: int = 0) -> Data:
    """Standard-normal covariates scaled by 1/sqrt(p), coefficients uniform on (-1, 1), an
    intercept of 0.3; Bernoulli (logit link) or Poisson (log link) responses."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    X /= np.sqrt(p)
    beta = rng.uniform(-1.0, 1.0, p)
    eta = X @ beta + 0.3
    if family == "logistic":
        y = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    else:
        y = rng.poisson(np.exp(eta)).astype(float)
    return {"X": X, "y": y}


def glm_model(name: str, family: str, prior: pf.Normal | None = None) -> pf.Model:
    """``y ~ Bernoulli(logit = Xw + b)`` or ``Poisson(log rate = Xw + b)``; ``prior`` on ``w``
    only (the intercept is never penalised)."""
    m = pf.Model(name)
    X, y = m.data("X", ("n", "p")), m.data("y", ("n",))
    eta = X @ m.param("w", ("p",), prior=prior) + m.param("b")
    m.observe(y, pf.Bernoulli(logit=eta) if family == "logistic" else pf.Poisson(log_rate=eta))
    return m


def score(model: pf.Model, data: Data, method: str, b: float, w: np.ndarray) -> float:
    """probfit's objective (``mle``: −Σ log-lik; ``map``: plus the prior's penalty) at
    ``(b, w)``."""
    obj = model.compile({"X": data["X"], "y": data["y"]}, method)
    return obj.total(obj.layout.pack({"w": w, "b": b}))


def xtwx_seconds(X: np.ndarray) -> float:
    """Median seconds of one ``XᵀWX`` with probfit's kernel :func:`weighted_gram`."""
    h = np.full(X.shape[0], 0.25)
    return kernel_seconds(lambda: weighted_gram(X, h))


def _params(params: dict | Callable[[Data], dict], data: Data) -> dict:
    return params(data) if callable(params) else params


def sklearn_runner(family: str, solver: str, params: dict | Callable[[Data], dict]) -> Runner:
    """scikit-learn's LogisticRegression / PoissonRegressor with ``solver`` and ``params``
    (keyword arguments, or a function of the data returning them)."""

    def fn(data: Data) -> Outcome:
        from sklearn.linear_model import LogisticRegression, PoissonRegressor

        kw = _params(params, data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if family == "logistic":
                est = LogisticRegression(solver=solver, tol=1e-10, max_iter=10_000, **kw)
                est.fit(data["X"], data["y"])
                return Outcome((float(est.intercept_[0]), est.coef_[0]),
                               int(np.max(est.n_iter_)))
            est = PoissonRegressor(solver=solver, tol=1e-10, max_iter=10_000, **kw)
            est.fit(data["X"], data["y"])
            return Outcome((float(est.intercept_), est.coef_), int(est.n_iter_))

    return Runner(f"sklearn {solver}", fn, ("sklearn.linear_model",))


def glum_runner(family: str, params: dict | Callable[[Data], dict]) -> Runner:
    """glum's GeneralizedLinearRegressor with ``params`` (alpha, l1_ratio, P2, ...; or a
    function of the data returning them)."""

    def fn(data: Data) -> Outcome:
        from glum import GeneralizedLinearRegressor

        est = GeneralizedLinearRegressor(family="binomial" if family == "logistic"
                                         else "poisson", gradient_tol=1e-10, max_iter=1000,
                                         **_params(params, data))
        est.fit(data["X"], data["y"])
        return Outcome((float(est.intercept_), est.coef_), int(est.n_iter_))

    return Runner("glum", fn, ("glum",))


@dataclass(frozen=True)
class GLMProblem(Problem):
    """A GLM maximum-likelihood fit of a given family and size."""

    name: str
    family: str  # "logistic" or "poisson"
    n: int
    p: int

    def describe(self) -> str:
        return (f"{self.family.capitalize()} regression by maximum likelihood, n = {self.n:,}, "
                f"p = {self.p} dense standard-normal covariates / √p plus an intercept (seed 0; "
                f"X takes {self.n * self.p * 8 / 2**20:,.0f} MB). "
                "Objective: probfit's −Σᵢ log p(yᵢ | θ) at each library's estimate. Floor: "
                "probfit's Newton iterations × one `XᵀWX` by `probfit.contract.weighted_gram`. "
                "probfit lbfgs is the same model fitted with `engine=\"lbfgs\"` (it forms no "
                "`XᵀWX`, so it has no floor here).")

    def data(self) -> Data:
        return simulate(self.family, self.n, self.p)

    def model(self) -> pf.Model:
        return glm_model(self.name, self.family)

    def runners(self) -> list[Runner]:
        none = {"C": np.inf} if self.family == "logistic" else {"alpha": 0.0}
        return [Runner("probfit newton", partial(self._probfit, "newton"), probfit=True),
                Runner("probfit lbfgs", partial(self._probfit, "lbfgs"), probfit=True),
                Runner("statsmodels GLM (IRLS)", self._statsmodels, ("statsmodels.api",)),
                sklearn_runner(self.family, "lbfgs", none),
                sklearn_runner(self.family, "newton-cholesky", none),
                glum_runner(self.family, {"alpha": 0.0})]

    def objective(self, data: Data, outcome: Outcome) -> float:
        b, w = outcome.solution
        return score(self.model(), data, "mle", b, w)

    def floor(self, data: Data, runner: Runner, outcome: Outcome) -> tuple[float, str] | None:
        if runner.library != "probfit newton":
            return None
        return (outcome.iterations * xtwx_seconds(data["X"]),
                f"{outcome.iterations} × one XᵀWX")

    def verdict(self, rows: list[Row]) -> str | None:
        """Issue #7's target at n = 1,000,000, p = 50 (``None`` at other sizes): at least as
        fast as the fastest peer, objective within 1e-8 relative of the best, within 2× of the
        floor, peak memory under 3× the design."""
        if (self.n, self.p) != TARGET_SIZE:
            return None
        pf_row = rows[0]
        peers = [r for r in rows[1:] if not r.library.startswith("probfit")]
        x_mb = self.n * self.p * 8 / 2**20
        checks = [("objective within 1e-8 of the best", pf_row.gap <= 1e-8),
                  ("time ≤ 2 × floor", pf_row.floor_multiple is not None
                   and pf_row.floor_multiple <= 2.0)]
        if peers:
            fastest = min(peers, key=lambda r: r.time_s)
            checks.insert(0, (f"at least as fast as the fastest peer ({fastest.library}, "
                              f"{fastest.time_s:.3f} s)", pf_row.time_s <= fastest.time_s))
        if pf_row.peak_mb is not None:
            checks.append((f"peak memory < 3 × X ({3 * x_mb:,.0f} MB)",
                           pf_row.peak_mb < 3 * x_mb))
        return "Target (issue #7): " + "; ".join(
            f"{what}: {'met' if ok else 'NOT met'}" for what, ok in checks) + "."

    def _probfit(self, engine: str, data: Data) -> Outcome:
        fit = self.model().fit({"X": data["X"], "y": data["y"]}, method="mle", engine=engine)
        return Outcome((float(fit.params["b"]), fit.params["w"]), fit.n_iter)

    def _statsmodels(self, data: Data) -> Outcome:
        import statsmodels.api as sm

        fam = sm.families.Binomial() if self.family == "logistic" else sm.families.Poisson()
        X1 = np.column_stack([np.ones(self.n), data["X"]])
        res = sm.GLM(data["y"], X1, family=fam).fit(tol=1e-10)
        return Outcome((float(res.params[0]), res.params[1:]),
                       int(res.fit_history["iteration"]))


def problems(size: str) -> list[GLMProblem]:
    """The GLM problems of the suite at ``size`` (``"quick"``, ``"medium"`` or ``"full"``)."""
    if size == "quick":
        return [GLMProblem("logistic_mle_quick", "logistic", 2000, 5),
                GLMProblem("poisson_mle_quick", "poisson", 2000, 5)]
    k = 10 if size == "medium" else 1
    return [GLMProblem(f"logistic_mle_{1_000_000 // k:.0e}x50".replace("+0", ""), "logistic",
                       1_000_000 // k, 50),
            GLMProblem(f"poisson_mle_{1_000_000 // k:.0e}x50".replace("+0", ""), "poisson",
                       1_000_000 // k, 50),
            GLMProblem(f"logistic_mle_{200_000 // k:.0e}x500".replace("+0", ""), "logistic",
                       200_000 // k, 500),
            GLMProblem(f"poisson_mle_{200_000 // k:.0e}x500".replace("+0", ""), "poisson",
                       200_000 // k, 500)]
