"""Ridge-penalised logistic regression (MAP with a Normal prior on the coefficients).

probfit fits ``y ~ Bernoulli(logit = Xw + b)`` with ``w ~ Normal(0, τ)`` and no prior on ``b``:
the objective ``−Σ log p(yᵢ | θ) + ½·(1/τ²)·‖w‖²``. Every peer gets the exactly equivalent
constants from :func:`probfit.explain` (sklearn ``C``, glum ``alpha``/``l1_ratio=0``/``P2``,
statsmodels ``fit_regularized`` ``alpha`` with ``L1_wt=0``, a zero for the intercept), and every
solution is scored with probfit's penalised objective.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

import probfit as pf
from benchmarks.glm import glm_model, glum_runner, score, simulate, sklearn_runner, xtwx_seconds
from benchmarks.harness import Data, Outcome, Problem, Runner


@dataclass(frozen=True)
class RidgeLogistic(Problem):
    """Ridge logistic regression of a given size and prior scale ``tau``."""

    name: str
    n: int
    p: int
    tau: float

    def describe(self) -> str:
        lam = 1.0 / self.tau**2
        return (f"Ridge logistic regression (MAP, `w ~ Normal(0, {self.tau:g})`, intercept "
                f"unpenalised), n = {self.n:,}, p = {self.p} (the logistic MLE data; X takes "
                f"{self.n * self.p * 8 / 2**20:,.0f} MB). Penalty "
                f"½·λ₂·‖w‖² with λ₂ = {lam:g}; peers get the constants `pf.explain` gives: "
                f"sklearn C = {1 / lam:g}, glum alpha = {lam / self.n:.6g} with l1_ratio = 0, "
                f"statsmodels `fit_regularized(alpha = {lam / self.n:.6g}, L1_wt = 0)` (its "
                "ridge path: scipy BFGS). Objective: probfit's −Σᵢ log p(yᵢ | θ) + ½·λ₂·‖w‖². "
                "Floor: Newton iterations × one `XᵀWX` (`weighted_gram`).")

    def model(self) -> pf.Model:
        return glm_model(self.name, "logistic", prior=pf.Normal(0.0, self.tau))

    def data(self) -> Data:
        return simulate("logistic", self.n, self.p)

    def extras(self, data: Data) -> Data:
        """The peers' constants, from ``pf.explain`` (sklearn, glum, statsmodels)."""
        settings = pf.explain(self.model(), data)["w"].settings
        return {"settings": {k: settings[k] for k in ("sklearn", "glum", "statsmodels")}}

    def runners(self) -> list[Runner]:
        def sklearn(data: Data) -> dict:
            s = data["settings"]["sklearn"]
            return {"C": s["C"], "l1_ratio": s["l1_ratio"]}

        def glum(data: Data) -> dict:
            s = data["settings"]["glum"]
            return {"alpha": s["alpha"], "l1_ratio": s["l1_ratio"], "P2": s["P2"]}

        return [Runner("probfit newton", self._probfit, probfit=True),
                Runner("statsmodels GLM fit_regularized", self._statsmodels,
                       ("statsmodels.api",)),
                sklearn_runner("logistic", "lbfgs", sklearn),
                sklearn_runner("logistic", "newton-cholesky", sklearn),
                glum_runner("logistic", glum)]

    def objective(self, data: Data, outcome: Outcome) -> float:
        b, w = outcome.solution
        return score(self.model(), data, "map", b, w)

    def floor(self, data: Data, runner: Runner, outcome: Outcome) -> tuple[float, str]:
        return (outcome.iterations * xtwx_seconds(data["X"]),
                f"{outcome.iterations} × one XᵀWX")

    def _probfit(self, data: Data) -> Outcome:
        fit = self.model().fit({"X": data["X"], "y": data["y"]}, method="map",
                               engine="newton")
        return Outcome((float(fit.params["b"]), fit.params["w"]), fit.n_iter)

    def _statsmodels(self, data: Data) -> Outcome:
        import statsmodels.api as sm

        s = data["settings"]["statsmodels"]
        X1 = np.column_stack([np.ones(self.n), data["X"]])
        alpha = np.concatenate([[0.0], np.broadcast_to(s["alpha"], (self.p,))])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sm.GLM(data["y"], X1, family=sm.families.Binomial()).fit_regularized(
                method="elastic_net", alpha=alpha, L1_wt=s["L1_wt"])
        return Outcome((float(res.params[0]), np.asarray(res.params[1:])), None)


def problems(size: str) -> list[RidgeLogistic]:
    """The ridge problem at ``size`` (``"quick"``, ``"medium"`` or ``"full"``)."""
    if size == "quick":
        return [RidgeLogistic("ridge_logistic_quick", 2000, 5, 0.1)]
    n = 100_000 if size == "medium" else 1_000_000
    return [RidgeLogistic(f"ridge_logistic_{n:.0e}x50".replace("+0", ""), n, 50, 0.02)]
