"""Compare MLE and MAP logistic regressions on held-out breast-cancer diagnoses (UCI)."""

import numpy as np

import probfit as pf

ds = pf.datasets.load("breast_cancer")
cols = ["radius_mean", "texture_mean", "concave_points_mean"]
X = np.column_stack([ds[c] for c in cols])
X = (X - X.mean(0)) / X.std(0)
y = ds["malignant"]
held_out = np.arange(len(y)) % 4 == 0

m = pf.Model("breast_cancer")
Xh, yh = m.data("X", dims=("n", "p")), m.data("y", dims=("n",))
w = m.param("w", dims=("p",), prior=pf.Normal(0.0, 1.0))
b = m.param("b")
m.observe(yh, pf.Bernoulli(logit=Xh @ w + b))

train = {"X": X[~held_out], "y": y[~held_out]}
test = {"X": X[held_out], "y": y[held_out]}
fits = [m.fit(train, method=method, coords={"p": cols}) for method in ("mle", "map")]

report = pf.compare(fits, test=test, n_draws=150)
print(report.to_markdown())
# report.to_html("report.html") writes the same tables plus the figures, in one file.
