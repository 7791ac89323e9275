"""Gaussian mixture EM: probfit next to scikit-learn's GaussianMixture (full covariances).

n = 100 000 rows, d = 5, k = 4 components. Both fit the same simulated data from a k-means
initialisation with one start (``n_init=1``); scikit-learn with its defaults (``tol=1e-3`` on
the per-row lower bound, ``reg_covar=1e-6``), probfit with its defaults (``tol=1e-10`` relative
on the objective, ``reg_covar=1e-6``) and with a stopping rule matched to scikit-learn's (``tol``
scaled so both stop at a per-row change of 1e-3). Every solution is scored by probfit's
observed-data log-likelihood.

Part of the suite (``python -m benchmarks.run --problems gmm_em_1e5``); on its own, from the
repository root with the bench extra installed::

    python -m benchmarks.gmm_em
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import probfit as pf
from benchmarks.harness import Data, Outcome, Problem, Runner, kernel_seconds
from probfit.latent.problem import LatentProblem

N, D, K = 100_000, 5, 4
SEED = 0


def simulate(n: int = N, d: int = D, seed: int = SEED) -> np.ndarray:
    """``n`` rows from a 4-component Gaussian mixture in ``d`` dimensions."""
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=4.0, size=(K, d))
    parts = []
    for j, size in enumerate(rng.multinomial(n, [0.4, 0.3, 0.2, 0.1])):
        a = rng.normal(size=(d, d))
        cov = a @ a.T / d + 0.5 * np.eye(d)
        parts.append(rng.multivariate_normal(means[j], cov, size=size))
    return np.concatenate(parts)


def model() -> pf.Model:
    m = pf.Model("gmm")
    x = m.data("x", dims=("n", "d"))
    pi = m.param("pi", dims=("k",), support="simplex")
    mu = m.param("mu", dims=("k", "d"))
    cov = m.param("cov", dims=("k", "d", "d"))
    z = m.latent("z", pf.Categorical(probs=pi), dims=("n",))
    m.observe(x, pf.MultivariateNormal(mu[z], cov[z]))
    return m


def estep(x: np.ndarray, w: np.ndarray, mu: np.ndarray, cov: np.ndarray
          ) -> tuple[np.ndarray, float]:
    """One E-step with a Cholesky factor per component: responsibilities ``(n, k)`` and the
    total log-likelihood (the least work an EM iteration must do on the data). Plain numpy:
    scipy's ``solve_triangular`` and ``logsumexp`` cost milliseconds of overhead per call."""
    n, d = x.shape
    logp = np.empty((n, len(w)))
    for j in range(len(w)):
        c = np.linalg.cholesky(cov[j])
        z = (x - mu[j]) @ np.linalg.inv(c).T
        logp[:, j] = (np.log(w[j]) - 0.5 * d * np.log(2.0 * np.pi)
                      - np.sum(np.log(np.diag(c))) - 0.5 * np.einsum("ij,ij->i", z, z))
    top = logp.max(axis=1, keepdims=True)
    resp = np.exp(logp - top)
    total = resp.sum(axis=1, keepdims=True)
    resp /= total
    return resp, float(np.sum(np.log(total) + top))


def loglik(x: np.ndarray, w: np.ndarray, mu: np.ndarray, cov: np.ndarray) -> float:
    """probfit's observed-data log-likelihood ``Σ_n log Σ_j π_j N(x_n | μ_j, Σ_j)``."""
    problem = LatentProblem(model(), {"x": x}, k=len(w))
    return problem.loglik(problem.objective.layout.pack({"pi": w, "mu": mu, "cov": cov}))


@dataclass(frozen=True)
class GMMProblem(Problem):
    """EM for a full-covariance Gaussian mixture on ``simulate(n)``."""

    name: str
    n: int

    def describe(self) -> str:
        return (f"Gaussian mixture, n = {self.n:,}, d = {D}, k = {K}, full covariances, one "
                "k-means start each (seed 0); scikit-learn `GaussianMixture` with its defaults "
                "(tol 1e-3 per row), probfit's EM with its defaults (tol 1e-10 relative) and "
                "with the stopping rule matched to scikit-learn's (tol = 1e-3·n/|loglik|). "
                "Objective: probfit's −Σ log-likelihood (`LatentProblem.loglik`) at each "
                "library's estimate. Floor: EM iterations × one E-step (Cholesky log "
                "densities and log-sum-exp responsibilities of all rows, `gmm_em.estep`).")

    def data(self) -> Data:
        return {"x": simulate(self.n)}

    def extras(self, data: Data) -> Data:
        """probfit's tol matched to scikit-learn's per-row 1e-3 (from one default fit)."""
        ll = model().fit(data, k=K, seed=SEED, n_init=1).loglik
        return {"matched_tol": 1e-3 * self.n / abs(ll)}

    def runners(self) -> list[Runner]:
        return [Runner("probfit EM", lambda d: self._probfit(d, 1e-10), probfit=True),
                Runner("probfit EM (sklearn's stopping rule)",
                       lambda d: self._probfit(d, d["matched_tol"]), probfit=True),
                Runner("sklearn GaussianMixture", self._sklearn, ("sklearn.mixture",))]

    def objective(self, data: Data, outcome: Outcome) -> float:
        return -loglik(data["x"], *outcome.solution)

    def floor(self, data: Data, runner: Runner, outcome: Outcome) -> tuple[float, str]:
        w, mu, cov = outcome.solution
        unit = kernel_seconds(lambda: estep(data["x"], w, mu, cov))
        return outcome.iterations * unit, f"{outcome.iterations} × one E-step"

    def _probfit(self, data: Data, tol: float) -> Outcome:
        fit = model().fit({"x": data["x"]}, k=K, seed=SEED, n_init=1, tol=tol)
        p = fit.params
        return Outcome((p["pi"], p["mu"], p["cov"]), fit.n_iter)

    def _sklearn(self, data: Data) -> Outcome:
        from sklearn.mixture import GaussianMixture

        gm = GaussianMixture(K, covariance_type="full", random_state=SEED).fit(data["x"])
        return Outcome((gm.weights_, gm.means_, gm.covariances_), int(gm.n_iter_))


def problems(size: str) -> list[GMMProblem]:
    """The mixture problem at ``size`` (``"quick"``, ``"medium"`` or ``"full"``)."""
    n = {"quick": 2000, "medium": 20_000, "full": N}[size]
    name = "gmm_em_quick" if size == "quick" else f"gmm_em_{n:.0e}".replace("+0", "")
    return [GMMProblem(name, n)]


if __name__ == "__main__":
    from benchmarks import run

    raise SystemExit(run.main(["--problems", "gmm_em_1e5"]))
