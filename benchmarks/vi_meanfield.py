"""Mean-field VI for Bayesian logistic regression, as a problem of the suite.

The data, the probfit runner (one per probfit VI engine), the NumPyro and PyMC runners and the
exact mean-field optimum all come from :mod:`benchmarks.vi_logistic`; this module only turns
them into a :class:`~benchmarks.harness.Problem`. Every library's ``q`` is scored as the
mean-field Gaussian ``N(mean, diag(sd²))`` it reports, by minus its exact ELBO (Gauss–Hermite
expectations, :func:`benchmarks.vi_logistic.neg_elbo`) in probfit's convention: the sum of the
log-likelihood over rows plus the ``Normal(0, 1)`` log prior plus the entropy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks import vi_logistic
from benchmarks.harness import Data, Outcome, Problem, Runner, kernel_seconds
from probfit.contract import weighted_gram

#: probfit VI engines run on this problem, in order (the first installed one is the baseline);
#: names the installed probfit does not have are skipped.
PROBFIT_ENGINES = ["advi", "cavi", "quadrature"]

#: ADVI's default number of reparameterised draws per ELBO gradient.
ADVI_DRAWS = 2


def _installed_engines() -> list[str]:
    from probfit.engines import ENGINES

    return [e for e in PROBFIT_ENGINES if e in ENGINES]


@dataclass(frozen=True)
class VILogistic(Problem):
    """Mean-field VI on ``vi_logistic.simulate(n, p)`` with a ``Normal(0, 1)`` prior."""

    name: str
    n: int
    p: int

    def describe(self) -> str:
        missing = [e for e in PROBFIT_ENGINES if e not in _installed_engines()]
        skip = f" (not in this probfit: {', '.join(missing)})" if missing else ""
        return (f"Mean-field VI, Bayesian logistic regression, n = {self.n:,}, p = {self.p}, "
                f"`w ~ Normal(0, {vi_logistic.PRIOR_SD:g})`, no intercept (seed 0). probfit "
                f"engines {', '.join(PROBFIT_ENGINES)}{skip}, each timed by "
                "`vi_logistic.run_probfit` (compile and engine, without the PSIS diagnostic); "
                "NumPyro SVI with `AutoNormal`: the shortest of runs of 1000, 2000, 5000, ... "
                "steps whose means are within 0.05 sd of the exact mean-field optimum (that "
                "run's time only); PyMC ADVI until `CheckParametersConvergence` (at most 50,000 "
                "steps; it takes minutes, so it runs once). Objective: "
                "minus the exact mean-field ELBO of N(mean, diag(sd²)) as each library reports "
                "it (Gauss–Hermite, 40 nodes; for CAVI's full-covariance q, its marginals). "
                "Floor: iterations × one ELBO-gradient evaluation — ADVI: "
                f"{ADVI_DRAWS} gradients of the log joint (its default draws); CAVI: one "
                "`XᵀWX` (`weighted_gram`) per sweep; any other engine: one exact "
                "(Gauss–Hermite) ELBO gradient.")

    def data(self) -> Data:
        X, y = vi_logistic.simulate(n=self.n, p=self.p)
        return {"X": X, "y": y}

    def extras(self, data: Data) -> Data:
        """The exact mean-field optimum (NumPyro's runs stop against it)."""
        exact = vi_logistic.exact_meanfield(data["X"], data["y"])
        return {"ref_mean": exact["mean"], "ref_sd": exact["sd"]}

    def runners(self) -> list[Runner]:
        def probfit(engine: str):
            def fn(data: Data) -> Outcome:
                r = vi_logistic.run_probfit(data["X"], data["y"], engine)
                return Outcome((np.asarray(r["mean"]), np.asarray(r["sd"])), r["iterations"],
                               seconds=r["seconds"], work=engine)
            return fn

        def peer(r: dict) -> Outcome:
            return Outcome((np.asarray(r["mean"]), np.asarray(r["sd"])), r["iterations"],
                           seconds=r["seconds"])

        return [*(Runner(f"probfit {e}", probfit(e), probfit=True)
                  for e in _installed_engines()),
                Runner("numpyro SVI AutoNormal",
                       lambda d: peer(vi_logistic.run_numpyro(d["X"], d["y"], d["ref_mean"],
                                                              d["ref_sd"])),
                       ("jax", "numpyro")),
                Runner("pymc ADVI", lambda d: peer(vi_logistic.run_pymc(d["X"], d["y"])),
                       ("pymc",), max_repeats=1)]

    def objective(self, data: Data, outcome: Outcome) -> float:
        mean, sd = outcome.solution
        lam = np.concatenate([mean, np.log(sd)])
        return vi_logistic.neg_elbo(lam, data["X"], data["y"])[0]

    def floor(self, data: Data, runner: Runner, outcome: Outcome) -> tuple[float, str]:
        X, y = data["X"], data["y"]
        mean, sd = outcome.solution
        if outcome.work == "advi":
            obj = vi_logistic.model().compile({"X": X, "y": y}, "vi")
            unit = kernel_seconds(lambda: [obj.evaluate(mean, 1) for _ in range(ADVI_DRAWS)])
            what = f"{ADVI_DRAWS}-draw ELBO gradient"
        elif outcome.work == "cavi":
            h = np.full(X.shape[0], 0.125)
            unit = kernel_seconds(lambda: weighted_gram(X, h))
            what = "XᵀWX"
        else:
            lam = np.concatenate([mean, np.log(sd)])
            unit = kernel_seconds(lambda: vi_logistic.neg_elbo(lam, X, y))
            what = "exact ELBO gradient"
        return outcome.iterations * unit, f"{outcome.iterations} × one {what}"


def problems(size: str) -> list[VILogistic]:
    """The VI problem at ``size`` (``"quick"``, ``"medium"`` or ``"full"``)."""
    if size == "quick":
        return [VILogistic("vi_logistic_quick", 2000, 5)]
    if size == "medium":
        return [VILogistic("vi_logistic_5e3x20", 5000, vi_logistic.P)]
    return [VILogistic(f"vi_logistic_{vi_logistic.N:.0e}x{vi_logistic.P}".replace("+0", ""),
                       vi_logistic.N, vi_logistic.P)]
