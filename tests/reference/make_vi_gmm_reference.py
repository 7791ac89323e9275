"""Reference posterior of the 1-d Bayesian Gaussian mixture from scikit-learn.

Regenerate (in a throwaway venv, never at test time):

    python3.12 -m venv /tmp/ref && /tmp/ref/bin/pip install scikit-learn numpy
    /tmp/ref/bin/python tests/reference/make_vi_gmm_reference.py

writes tests/reference/vi_gmm_reference.json. ``BayesianGaussianMixture`` with a Dirichlet
weight prior fits Bishop's PRML §10.2 mean-field posterior; in one dimension its Wishart is
the Gamma ``τ ~ Gamma(ν₀/2, rate = covariance_prior/2)`` and the mean prior is
``μ | τ ~ N(m₀, 1/(β₀ τ))``, so probfit's declaration

    pi ~ Dirichlet(alpha0); tau ~ Gamma(nu0 / 2, cov0 / 2)
    mu ~ Normal(m0, (beta0 * tau) ** -0.5); x ~ Normal(mu[z], tau[z] ** -0.5)

has the same posterior: ``a = degrees_of_freedom_/2``, ``b = covariances_ · degrees_of_freedom_/2``,
``β = mean_precision_``, ``m = means_``, ``α = weight_concentration_``.
"""

import json
from pathlib import Path

import numpy as np
import sklearn
from sklearn.mixture import BayesianGaussianMixture

ALPHA0, BETA0, M0, NU0, COV0 = 0.8, 0.5, 1.0, 3.0, 2.0

rng = np.random.default_rng(20261122)
x = np.concatenate([rng.normal(-2.5, 0.8, 70), rng.normal(1.5, 0.5, 50),
                    rng.normal(5.0, 1.2, 40)])
fit = BayesianGaussianMixture(
    n_components=3, covariance_type="diag",
    weight_concentration_prior_type="dirichlet_distribution",
    weight_concentration_prior=ALPHA0, mean_precision_prior=BETA0, mean_prior=[M0],
    degrees_of_freedom_prior=NU0, covariance_prior=[COV0], reg_covar=0.0, tol=1e-14,
    max_iter=5000, n_init=1, init_params="kmeans", random_state=0).fit(x[:, None])
order = np.argsort(fit.means_[:, 0])
dof = fit.degrees_of_freedom_[order]
out = {
    "provenance": f"scikit-learn {sklearn.__version__}, numpy {np.__version__}; "
                  "tests/reference/make_vi_gmm_reference.py",
    "priors": {"alpha0": ALPHA0, "beta0": BETA0, "m0": M0, "a0": NU0 / 2, "b0": COV0 / 2},
    "x": x.tolist(),
    "converged": bool(fit.converged_),
    "alpha": fit.weight_concentration_[order].tolist(),
    "beta": fit.mean_precision_[order].tolist(),
    "m": fit.means_[order, 0].tolist(),
    "a": (dof / 2).tolist(),
    "b": (fit.covariances_[order, 0] * dof / 2).tolist(),
}
Path(__file__).with_name("vi_gmm_reference.json").write_text(json.dumps(out, indent=1) + "\n")
