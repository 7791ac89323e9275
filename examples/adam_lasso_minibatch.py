"""First-order fits: minibatch Adam with a schedule and early stopping, a proximal lasso that
gives exact zeros, and a checkpoint that resumes bit for bit."""

import numpy as np

import probfit as pf

rng = np.random.default_rng(0)
n, p = 1000, 8
X = rng.normal(size=(n, p))
w_true = np.array([1.5, -1.0, 0.5, 0, 0, 0, 0, 0])
y = (rng.random(n) < 1 / (1 + np.exp(-(X @ w_true - 0.3)))).astype(float)
data = {"X": X, "y": y}

m = pf.Model("sparse_logistic")
Xh, yh = m.data("X", ("n", "p")), m.data("y", ("n",))
w = m.param("w", ("p",), prior=pf.Laplace(0.0, 0.05))
b = m.param("b")
m.observe(yh, pf.Bernoulli(logit=Xh @ w + b))

# Full batch: proximal Adam reaches the L-BFGS lasso optimum with exact zeros.
exact = m.fit(data, method="map", engine="lbfgs")
prox = m.fit(data, method="map", engine="adam", lr=0.05)
print(prox.message)
print("lbfgs w:", np.round(exact.params["w"], 4))
print("adam  w:", np.round(prox.params["w"], 4))
print("zeros agree:", np.array_equal(exact.params["w"] == 0, prox.params["w"] == 0))

# Minibatches of 100 rows, warm-up into cosine decay, clipping, 20% validation split.
schedule = pf.optim.LinearWarmup(pf.optim.Cosine(0.05, total_steps=8 * 40), warmup_steps=8)
options = {"batch_size": 100, "lr": schedule, "clip": 100.0, "validation": 0.2,
           "patience": 5, "seed": 1}
sgd = m.fit(data, method="map", engine="adam", epochs=40, **options)
print(sgd.message)
print("held-out loss by epoch:", np.round(sgd.history["val_loss"][~np.isnan(
    sgd.history["val_loss"])][:5], 2), "...")

# Stop after 5 epochs, then resume: identical to an uninterrupted 15-epoch run.
options = {"batch_size": 100, "lr": pf.optim.Step(0.05, step_size=100, gamma=0.5), "seed": 2}
straight = m.fit(data, method="map", engine="adam", epochs=15, **options)
first = m.fit(data, method="map", engine="adam", epochs=5, **options)
resumed = m.fit(data, method="map", engine="adam", epochs=15, resume=first.engine_state,
                **options)
print("resumed run identical:", np.array_equal(resumed.theta, straight.theta))
