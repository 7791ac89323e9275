"""Old Faithful: compare Gaussian mixtures with 2 and 3 components in an HTML report.

The report scores each fit under its plug-in mixture predictive (PIT, interval coverage, log
score), lists BIC and the marginal log-likelihood, checks convergence on the marginal
objective, and writes everything to one HTML file.
"""

import tempfile
from pathlib import Path

import numpy as np

import probfit as pf

ds = pf.datasets.load("faithful")
data = {"x": np.column_stack([ds["eruptions"], ds["waiting"]])}

m = pf.Model("faithful_gmm")
x = m.data("x", dims=("n", "d"))
pi = m.param("pi", dims=("k",), prior=pf.Dirichlet(1.0))
mu = m.param("mu", dims=("k", "d"))
cov = m.param("cov", dims=("k", "d", "d"))
z = m.latent("z", pf.Categorical(probs=pi), dims=("n",))
m.observe(x, pf.MultivariateNormal(mu[z], cov[z]))

em2 = m.fit(data, engine="em", k=2, n_init=3, seed=0)
em3 = m.fit(data, engine="em", k=3, n_init=3, seed=0)

print(pf.convergence_report(em2))
report = pf.compare([em2, em3], labels=["k=2", "k=3"],
                    title="Old Faithful: Gaussian mixtures")
scores = report.scores()
for label in report.labels:
    print(f"{label}: log score {scores[label]['log_score']:.4f}, "
          f"PIT p-value {scores[label]['pit_pvalue']:.3f}")
print({e.label: round(float(e.fit.bic), 2) for e in report.entries})
with tempfile.TemporaryDirectory() as tmp:
    out = report.to_html(Path(tmp) / "faithful_mixtures.html")
    print("report written:", out.name, out.stat().st_size, "bytes")
