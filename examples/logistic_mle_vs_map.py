"""Fit the Spector & Mazzeo logistic regression by MLE and MAP and compare the estimates."""

import numpy as np

import probfit as pf

ds = pf.datasets.load("spector")
cols = ["GPA", "TUCE", "PSI"]
X = np.column_stack([ds.data[c] for c in cols])
data = {"X": X, "y": ds.data["GRADE"]}

m = pf.Model("spector")
Xh, y = m.data("X", dims=("n", "p")), m.data("y", dims=("n",))
w = m.param("w", dims=("p",), prior=pf.Normal(0.0, 1.0))
b = m.param("b")
m.observe(y, pf.Bernoulli(logit=Xh @ w + b))

mle = m.fit(data, method="mle", coords={"p": cols})
map_ = m.fit(data, method="map", coords={"p": cols})
print(mle.summary())
print(map_.summary())
for i, c in enumerate(cols):
    print(f"{c:>5}: MLE {mle.params['w'][i]: .3f}  MAP {map_.params['w'][i]: .3f}")
