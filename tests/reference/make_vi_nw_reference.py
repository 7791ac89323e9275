"""Reference posterior of the full-covariance Bayesian Gaussian mixture from scikit-learn.

Regenerate (in a throwaway venv, never at test time):

    python3.12 -m venv /tmp/ref-nw && /tmp/ref-nw/bin/pip install scikit-learn numpy
    /tmp/ref-nw/bin/python tests/reference/make_vi_nw_reference.py

writes tests/reference/vi_nw_reference.json. ``BayesianGaussianMixture`` with
``covariance_type="full"`` and ``weight_concentration_prior_type="dirichlet_distribution"``
fits Bishop's PRML §10.2 mean-field posterior of the mixture with Dirichlet weights and
Normal–Wishart components. Its priors map onto probfit's declaration

    pi ~ Dirichlet(alpha0); Lam ~ Wishart(nu0, W0)
    mu ~ MultivariateNormal(m0, precision=beta0 * Lam)
    x ~ MultivariateNormal(mu[z], precision=Lam[z])

as ``weight_concentration_prior = alpha0``, ``mean_precision_prior = beta0``,
``mean_prior = m0``, ``degrees_of_freedom_prior = nu0`` and ``covariance_prior = W0⁻¹``; its
fitted attributes as ``weight_concentration_ = α``, ``mean_precision_ = β``, ``means_ = m``,
``degrees_of_freedom_ = ν`` and ``covariances_ = W⁻¹ / ν`` (so ``W = precisions_ / ν``).
``reg_covar=0`` removes sklearn's covariance regulariser. scikit-learn's ``lower_bound_`` drops
constants (and is evaluated with the responsibilities of the previous E-step), so only the
variational parameters are compared; probfit's ELBO is checked by its own properties.

Both fits start from the same responsibilities ``resp0`` (stored here): sklearn's
``_initialize_parameters`` is overridden to use them (a private hook; this script only runs
offline). sklearn's iteration ``t`` (E-step then M-step) matches probfit's sweep ``t + 1``
(its first sweep is the update from ``resp0``), so a 3-iteration snapshot is stored too.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture

ALPHA0, BETA0, M0, NU0 = 0.7, 0.5, [0.5, -0.5], 4.0
COV_PRIOR = np.array([[1.5, 0.3], [0.3, 1.0]])  # sklearn's covariance_prior = W0⁻¹
W0 = np.linalg.inv(COV_PRIOR)

rng = np.random.default_rng(20261122)
means = np.array([[-3.0, 0.0], [2.0, 3.0], [3.0, -2.0]])
covs = np.array([[[1.0, 0.6], [0.6, 1.0]], [[0.6, -0.3], [-0.3, 0.8]], [[0.4, 0.0], [0.0, 1.5]]])
sizes = (80, 60, 50)
x = np.vstack([rng.multivariate_normal(mu, c, n)
               for mu, c, n in zip(means, covs, sizes, strict=True)])
# a rough partition (nearest of three perturbed centres), softened
centres = means + rng.normal(0.0, 1.0, means.shape)
labels = np.argmin(((x[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
resp0 = 0.8 * np.eye(3)[labels] + 0.2 * rng.dirichlet(np.ones(3), x.shape[0])


class FixedStart(BayesianGaussianMixture):
    """BayesianGaussianMixture started from the responsibilities ``resp0``."""

    def _initialize_parameters(self, X, random_state, xp=None):
        self._initialize(X, resp0.copy())


def fit(max_iter):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return FixedStart(
            n_components=3, covariance_type="full",
            weight_concentration_prior_type="dirichlet_distribution",
            weight_concentration_prior=ALPHA0, mean_precision_prior=BETA0, mean_prior=M0,
            degrees_of_freedom_prior=NU0, covariance_prior=COV_PRIOR, reg_covar=0.0,
            tol=1e-13, max_iter=max_iter, n_init=1, random_state=0).fit(x)


def params(f):
    return {"alpha": f.weight_concentration_.tolist(), "beta": f.mean_precision_.tolist(),
            "m": f.means_.tolist(), "nu": f.degrees_of_freedom_.tolist(),
            "W": (f.precisions_ / f.degrees_of_freedom_[:, None, None]).tolist()}


final = fit(5000)
out = {
    "provenance": f"scikit-learn {sklearn.__version__}, numpy {np.__version__}; "
                  "tests/reference/make_vi_nw_reference.py",
    "priors": {"alpha0": ALPHA0, "beta0": BETA0, "m0": M0, "nu0": NU0, "W0": W0.tolist()},
    "x": x.tolist(),
    "resp0": resp0.tolist(),
    "converged": bool(final.converged_),
    "n_iter": int(final.n_iter_),
    "final": params(final),
    "after_3_iterations": params(fit(3)),
}
Path(__file__).with_name("vi_nw_reference.json").write_text(json.dumps(out) + "\n")
