"""McCullagh & Nelder's clotting times: a Gamma GLM with the canonical inverse link."""

import numpy as np

import probfit as pf

ds = pf.datasets.load("clotting")
m = pf.Model.from_spec({
    "name": "clotting",
    "data": {"x": {"dims": ["n"]}, "y": {"dims": ["n"]}},
    "params": {"a": {}, "b": {}, "shape": {"support": "positive"}},
    "observe": [{"data": "y", "dist": "Gamma",
                 "args": {"shape": "shape", "inverse_mean": "a + b * x"}}],
})
fit = m.fit({"x": np.log(ds.data["u"]), "y": ds.data["lot1"]})
print(fit.summary())
print("deviance (R's convention):", round(fit.deviance, 6))
