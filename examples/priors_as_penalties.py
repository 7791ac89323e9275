"""Priors as penalties on the UCI breast-cancer data: explain(), lasso path, cross-validation.

Run with ``--save-plot FILE.png`` to write the path figure used in docs/priors-and-penalties.md.
"""

import sys

import numpy as np

import probfit as pf

ds = pf.datasets.load("breast_cancer")
cols = ["radius_mean", "texture_mean", "smoothness_mean", "compactness_mean",
        "concave_points_mean", "symmetry_mean"]
raw = np.column_stack([ds.data[c] for c in cols])
# one prior scale for every coefficient only makes sense on a common scale: standardise
X = (raw - raw.mean(axis=0)) / raw.std(axis=0)
data = {"X": X, "y": ds.data["malignant"]}


def model(prior: pf.Distribution) -> pf.Model:
    m = pf.Model("breast_cancer")
    Xh, y = m.data("X", dims=("n", "p")), m.data("y", dims=("n",))
    w = m.param("w", dims=("p",), prior=prior)
    b = m.param("b")  # no prior: the intercept is unpenalized
    m.observe(y, pf.Bernoulli(logit=Xh @ w + b))
    return m


lasso = model(pf.Laplace(0.0, 0.5))
print(pf.explain(lasso, data))
fit = lasso.fit(data, method="map", coords={"p": cols})
print(fit.summary())

path = pf.path(lasso, data, "w", n=30, coords={"p": cols})
print(f"\npath: λ from {path.lam[0]:.4g} down to {path.lam[-1]:.4g}")
print(f"{'λ':>9} {'b = 1/λ':>9} {'nonzero':>8} {'df':>5}  " + "  ".join(f"{c:>7}" for c in cols))
for k in range(0, len(path), 5):
    coefs = "  ".join(f"{v:7.3f}" for v in path.coef[k])
    print(f"{path.lam[k]:9.4g} {path.prior_scale[k]:9.4g} {path.n_nonzero[k]:8d} "
          f"{path.df[k]:5.1f}  {coefs}")

res = pf.cv(lasso, data, "w", n=30, folds=4, seed=0)
print(f"\n4-fold CV: min rule b = {res.prior_scale_min:.3g}, 1-SE rule b = "
      f"{res.prior_scale_1se:.3g}")
print(f"coefficients (min rule): {np.round(res.coef_min, 3)}")
print(f"coefficients (1-SE rule): {np.round(res.coef_1se, 3)}")

if "--save-plot" in sys.argv:
    import matplotlib

    matplotlib.use("Agg")
    ax = path.plot()
    for i in (res.index_min, res.index_1se):
        ax.axvline(path.lam[i], color="0.4", ls=":", lw=1)
    ax.set_title("Breast-cancer logistic regression, Laplace prior on standardised slopes")
    ax.figure.tight_layout()
    ax.figure.savefig(sys.argv[sys.argv.index("--save-plot") + 1], dpi=110)
