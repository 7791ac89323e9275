"""How close and how fast the adam engine gets to Newton's optimum (run on demand, not in CI).

Part 1: the convex specs of tests/ (same simulated data as the ``spec_data`` fixture), MLE and
MAP, full-batch Adam (lr=0.05) from zero coefficients. Part 2: a larger logistic regression
(n=100000, p=50) with full-batch Adam and with minibatch Adam (batch 1000, cosine decay).

    .venv/bin/python benchmarks/adam_vs_newton.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import probfit as pf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import _simulate  # noqa: E402


def compare(m: pf.Model, data: dict, method: str, init: dict, **options) -> str:
    t0 = time.perf_counter()
    ref = m.fit(data, method=method, engine="newton")
    t_newton = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit = m.fit(data, method=method, engine="adam", init=init, **options)
    t_adam = time.perf_counter() - t0
    obj = ref.objective
    gap = obj.total(fit.theta) - obj.total(ref.theta)
    dist = max(float(np.max(np.abs(fit.params[k] - ref.params[k]) / ref.se[k]))
               for k in ref.params)
    return (f"converged={fit.converged!s:5} steps={fit.n_iter:6d} gap={gap:9.2e} "
            f"max|Δ|/SE={dist:8.2e} time newton={t_newton:6.2f}s adam={t_adam:6.2f}s")


def main() -> None:
    sim = _simulate()
    for spec in ("logistic", "poisson", "linear_regression"):
        m = pf.Model.from_spec(ROOT / "specs" / f"{spec}.yaml")
        data, _ = sim[spec]
        init = {"w": np.zeros(3), "b": 0.0} | ({"sigma": 1.0} if "linear" in spec else {})
        for method in ("mle", "map"):
            print(f"{spec:18} {method}: {compare(m, data, method, init, lr=0.05)}")

    rng = np.random.default_rng(0)
    n, p = 100_000, 50
    X = rng.normal(size=(n, p))
    w = rng.normal(scale=0.3, size=p)
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ w - 0.5)))).astype(float)
    m = pf.Model("big_logistic")
    Xh, yh = m.data("X", ("n", "p")), m.data("y", ("n",))
    wh, bh = m.param("w", ("p",), prior=pf.Normal(0.0, 1.0)), m.param("b")
    m.observe(yh, pf.Bernoulli(logit=Xh @ wh + bh))
    init = {"w": np.zeros(p), "b": 0.0}
    data = {"X": X, "y": y}
    print(f"logistic n={n} p={p} full batch: {compare(m, data, 'map', init, lr=0.05)}")
    epochs = 5
    print(f"logistic n={n} p={p} minibatch 1000 x {epochs} epochs: " + compare(
        m, data, "map", init, batch_size=1000, epochs=epochs,
        lr=pf.optim.Cosine(0.02, total_steps=epochs * 100)))


if __name__ == "__main__":
    main()
