"""Bayesian logistic regression on the UCI breast-cancer data by VI: CAVI, ADVI, quadrature.

Compares the approximate posterior means and sds with the Laplace approximation at the MAP,
and shows the Pareto k̂ diagnostic of each q.
"""

import numpy as np

import probfit as pf

ds = pf.datasets.load("breast_cancer")
cols = ["radius_mean", "texture_mean", "smoothness_mean"]
X = np.column_stack([ds.data[c] for c in cols])
X = (X - X.mean(axis=0)) / X.std(axis=0)
data = {"X": X, "y": ds.data["malignant"]}

m = pf.Model("breast_cancer_vi")
Xh, y = m.data("X", dims=("n", "p")), m.data("y", dims=("n",))
w = m.param("w", dims=("p",), prior=pf.Normal(0.0, 2.5))
b = m.param("b", prior=pf.Normal(0.0, 5.0))
m.observe(y, pf.Bernoulli(logit=Xh @ w + b))

fits = {
    "MAP + Laplace": m.fit(data, method="map", coords={"p": cols}),
    "CAVI (JJ bound)": m.fit(data, method="vi", engine="cavi", coords={"p": cols}),
    "ADVI mean-field": m.fit(data, method="vi", coords={"p": cols}),
    "ADVI full-rank": m.fit(data, method="vi", family="fullrank", coords={"p": cols}),
    "Quadrature MF": m.fit(data, method="vi", engine="quadrature", coords={"p": cols}),
    "Quadrature FR": m.fit(data, method="vi", engine="quadrature", family="fullrank",
                           coords={"p": cols}),
}
print(fits["ADVI full-rank"].summary())
print(f"\n{'':<17}" + "".join(f"{c:>16}" for c in cols) + f"{'ELBO':>10}{'k-hat':>8}")
for name, fit in fits.items():
    cells = "".join(f"{fit.params['w'][i]:>8.3f} ±{fit.se['w'][i]:<6.3f}" for i in range(3))
    extra = (f"{fit.elbo:>10.3f}{fit.pareto_k:>8.2f}" if isinstance(fit, pf.VIFit) else "")
    print(f"{name:<17}{cells}{extra}")
