"""Benchmark: probfit EM vs scikit-learn GaussianMixture (n=100000, d=5, k=4, full covariance).

Run on demand (not in CI), with scikit-learn installed (``pip install -e '.[bench]'``)::

    python benchmarks/gmm_em.py

Both fit the same simulated data from a k-means initialisation with one start
(``n_init=1``), scikit-learn with its defaults (``tol=1e-3`` on the per-row lower bound,
``reg_covar=1e-6``) and probfit with its defaults (``tol=1e-10`` relative on the objective,
``reg_covar=1e-6``) and with a stopping rule matched to scikit-learn's (``tol`` scaled so both
stop at a per-row change of 1e-3). Prints wall-clock time to convergence, iterations and the
final total log-likelihood of each, evaluated by the same formula.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import stats

import probfit as pf

N, D, K = 100_000, 5, 4
SEED = 0


def simulate() -> np.ndarray:
    rng = np.random.default_rng(SEED)
    means = rng.normal(scale=4.0, size=(K, D))
    parts = []
    for j, size in enumerate(rng.multinomial(N, [0.4, 0.3, 0.2, 0.1])):
        a = rng.normal(size=(D, D))
        cov = a @ a.T / D + 0.5 * np.eye(D)
        parts.append(rng.multivariate_normal(means[j], cov, size=size))
    return np.concatenate(parts)


def loglik(x: np.ndarray, w: np.ndarray, mu: np.ndarray, cov: np.ndarray) -> float:
    comp = np.stack([np.log(w[j]) + stats.multivariate_normal(mu[j], cov[j]).logpdf(x)
                     for j in range(len(w))], axis=1)
    return float(np.sum(np.logaddexp.reduce(comp, axis=1)))


def model() -> pf.Model:
    m = pf.Model("gmm")
    x = m.data("x", dims=("n", "d"))
    pi = m.param("pi", dims=("k",), support="simplex")
    mu = m.param("mu", dims=("k", "d"))
    cov = m.param("cov", dims=("k", "d", "d"))
    z = m.latent("z", pf.Categorical(probs=pi), dims=("n",))
    m.observe(x, pf.MultivariateNormal(mu[z], cov[z]))
    return m


def main() -> None:
    from sklearn.mixture import GaussianMixture

    x = simulate()
    t0 = time.perf_counter()
    gm = GaussianMixture(K, covariance_type="full", random_state=SEED).fit(x)
    t_sk = time.perf_counter() - t0
    ll_sk = loglik(x, gm.weights_, gm.means_, gm.covariances_)
    print(f"scikit-learn GaussianMixture: {t_sk:7.2f} s  {gm.n_iter_:4d} iter  "
          f"loglik {ll_sk:.6f}")
    m = model()
    for label, tol in (("default tol=1e-10", 1e-10), ("tol matched to sklearn", None)):
        if tol is None:
            tol = 1e-3 * N / abs(ll_sk)
        t0 = time.perf_counter()
        fit = m.fit({"x": x}, k=K, seed=SEED, n_init=1, tol=tol)
        t_pf = time.perf_counter() - t0
        p = fit.params
        ll_pf = loglik(x, p["pi"], p["mu"], p["cov"])
        print(f"probfit EM ({label}): {t_pf:7.2f} s  {fit.n_iter:4d} iter  loglik {ll_pf:.6f}"
              f"  (probfit's own: {fit.loglik:.6f})")


if __name__ == "__main__":
    main()
