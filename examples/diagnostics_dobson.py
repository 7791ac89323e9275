"""Diagnose a Poisson log-linear fit of Dobson's trial: convergence, residuals, calibration,
and the ArviZ export (written to netCDF and read back)."""

import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

import probfit as pf

ds = pf.datasets.load("dobson")
outcome = ds.data["outcome"].astype(int)
treatment = ds.data["treatment"].astype(int)
X = np.column_stack([outcome == 2, outcome == 3, treatment == 2, treatment == 3]).astype(float)
data = {"X": X, "y": ds.data["counts"]}

m = pf.Model("dobson")
Xh, y = m.data("X", dims=("cell", "term")), m.data("y", dims=("cell",))
w = m.param("w", dims=("term",))
b = m.param("b")
m.observe(y, pf.Poisson(log_rate=Xh @ w + b))
fit = m.fit(data, coords={"term": ["outcome2", "outcome3", "treatment2", "treatment3"]})

print(pf.convergence_report(fit))

res = pf.residuals(fit)
print("deviance residuals:", np.round(res.deviance, 3))
print("leverage (sums to the 5 coefficients):", np.round(res.leverage, 3), res.leverage.sum())
print("largest Cook's distance: cell", int(np.argmax(res.cooks)), f"{res.cooks.max():.3f}")

cal = pf.calibration(fit, n_draws=200)
print(cal)

tree = fit.to_arviz(n_draws=200)
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "dobson.nc"
    tree.to_netcdf(path, engine="h5netcdf")
    back = xr.open_datatree(path, engine="h5netcdf")
    print("groups after the netCDF round trip:", sorted(back.children))
