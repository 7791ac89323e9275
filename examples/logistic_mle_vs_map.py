"""Fit a logistic regression of the UCI breast-cancer diagnoses by MLE and MAP and compare."""

import numpy as np

import probfit as pf

ds = pf.datasets.load("breast_cancer")
cols = ["radius_mean", "texture_mean", "smoothness_mean"]
X = np.column_stack([ds.data[c] for c in cols])
X = (X - X.mean(0)) / X.std(0)
data = {"X": X, "y": ds.data["malignant"]}

m = pf.Model("breast_cancer")
Xh, y = m.data("X", dims=("n", "p")), m.data("y", dims=("n",))
w = m.param("w", dims=("p",), prior=pf.Normal(0.0, 1.0))
b = m.param("b")
m.observe(y, pf.Bernoulli(logit=Xh @ w + b))

mle = m.fit(data, method="mle", coords={"p": cols})
map_ = m.fit(data, method="map", coords={"p": cols})
print(mle.summary())
print(map_.summary())
for i, c in enumerate(cols):
    print(f"{c:>16}: MLE {mle.params['w'][i]: .3f}  MAP {map_.params['w'][i]: .3f}")
