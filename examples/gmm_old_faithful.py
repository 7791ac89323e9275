"""Old Faithful: a two-component Gaussian mixture fitted by EM, with memberships and draws."""

import numpy as np

import probfit as pf

ds = pf.datasets.load("faithful")
x = np.column_stack([ds["eruptions"], ds["waiting"]])

m = pf.Model("faithful_gmm")
xx = m.data("x", dims=("n", "d"))
pi = m.param("pi", dims=("k",), prior=pf.Dirichlet(1.0))
mu = m.param("mu", dims=("k", "d"))
cov = m.param("cov", dims=("k", "d", "d"))  # SPD, via a Cholesky bijector
z = m.latent("z", pf.Categorical(probs=pi), dims=("n",))
m.observe(xx, pf.MultivariateNormal(mu[z], cov[z]))

fit = m.fit({"x": x}, method="mle", engine="em", k=2, n_init=3, seed=0)
print(fit.summary())
print("log-likelihood per iteration:", np.round(fit.loglik_trace, 4))

# order the components by eruption length so the output does not depend on the labelling
perm, params = pf.align_components(fit, {"mu": np.array([[2.0, 55.0], [4.3, 80.0]])})
print("weights (short, long):", np.round(params["pi"], 4))
print("means:\n", np.round(params["mu"], 4))

new = {"x": np.array([[2.0, 50.0], [3.5, 70.0], [4.5, 85.0]])}
print("membership probabilities of three new eruptions (short, long):")
print(np.round(fit.predict_proba(new)[:, perm], 4))
draws = fit.sample(1000, rng=1)
print("simulated share of long eruptions:", np.mean(draws["z"] == perm[1]))

bic = {k: m.fit({"x": x}, k=k, seed=0).bic for k in (2, 3)}
print("BIC by number of components:", {k: round(float(v), 2) for k, v in bic.items()})
