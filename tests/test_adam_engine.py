"""The adam engine: Newton optima on convex models, minibatch scaling, proximal L1 zeros,
early stopping, the divergence guard, and bit-exact checkpoint/resume."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import probfit as pf
from probfit.compile.start import initial_theta
from probfit.engines.adam import AdamState

#: On convex models adam (default Adam, lr=0.05, started at zero coefficients) must match
#: Newton within these tolerances.
OBJ_RTOL = 1e-8  # full objective gap relative to max(1, |f|)
SE_TOL = 1e-4  # parameter difference in units of Newton's standard error


@pytest.mark.parametrize("spec", ["logistic", "poisson", "linear_regression"])
@pytest.mark.parametrize("method", ["mle", "map"])
def test_adam_reaches_the_newton_optimum(spec, method, spec_data):
    m = pf.Model.from_spec(f"specs/{spec}.yaml")
    data, dims = spec_data[spec]
    ref = m.fit(data, method=method, engine="newton", dims=dims)
    init = {"w": np.zeros(3), "b": 0.0} | ({"sigma": 1.0} if "sigma" in ref.params else {})
    fit = m.fit(data, method=method, engine="adam", dims=dims, lr=0.05, init=init)
    assert fit.converged, fit.message
    assert fit.engine == "adam"
    f_ref = ref.objective.total(ref.theta)
    assert fit.objective.total(fit.theta) - f_ref <= OBJ_RTOL * max(1.0, abs(f_ref))
    for name in ref.params:
        assert np.max(np.abs(fit.params[name] - ref.params[name]) / ref.se[name]) <= SE_TOL
    assert fit.se is not None  # the Fit is built like every other engine's
    for col in ("loss", "lr", "grad_norm", "step_norm", "param_norm"):
        assert np.all(np.isfinite(fit.history[col]))
    assert len(fit.history) == fit.n_iter


@pytest.mark.parametrize("optimizer", [pf.optim.SGD(), pf.optim.Momentum(0.9),
                                       pf.optim.Momentum(0.9, nesterov=True),
                                       pf.optim.RMSProp()], ids=repr)
def test_other_update_rules_reach_the_optimum(optimizer, spec_data):
    m = pf.Model.from_spec("specs/logistic.yaml")
    data, _ = spec_data["logistic"]
    ref = m.fit(data, method="map", engine="newton")
    lr = 0.002 if isinstance(optimizer, pf.optim.SGD | pf.optim.Momentum) else \
        pf.optim.Exponential(0.01, 0.99)
    fit = m.fit(data, method="map", engine="adam", optimizer=optimizer, lr=lr)
    assert fit.converged, fit.message
    np.testing.assert_allclose(fit.params["w"], ref.params["w"], atol=1e-3 * ref.se["w"].min())


def test_minibatch_estimates_average_to_the_full_objective(spec_data):
    m = pf.Model.from_spec("specs/logistic.yaml")
    data, _ = spec_data["logistic"]
    obj = m.compile(data, "map")
    theta = np.random.default_rng(1).normal(size=obj.size)
    f, g, _ = obj.evaluate(theta, 1)
    parts = np.random.default_rng(2).permutation(obj.n_obs).reshape(6, -1)
    est = [obj.evaluate(theta, 1, data=obj.minibatch(r), obs_scale=obj.n_obs / r.size)
           for r in parts]
    assert np.mean([e[0] for e in est]) == pytest.approx(f, rel=1e-12)
    np.testing.assert_allclose(np.mean([e[1] for e in est], axis=0), g, rtol=1e-10)


def test_optimizers_doc_example_runs(capsys):
    text = Path("docs/optimizers.md").read_text()
    for code in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        exec(compile(code, "docs/optimizers.md", "exec"), {})
    assert "converged" in capsys.readouterr().out


def _lasso():
    rng = np.random.default_rng(3)
    n, p = 200, 6
    X = rng.normal(size=(n, p))
    y = X @ np.array([2.0, -1.5, 0, 0, 0, 0]) + rng.normal(size=n)
    m = pf.Model("lasso")
    Xh, yh = m.data("X", ("n", "p")), m.data("y", ("n",))
    b = m.param("b")
    w = m.param("w", ("p",), prior=pf.Laplace(0.0, 0.02))
    m.observe(yh, pf.Normal(Xh @ w + b, 1.0))
    return m, {"X": X, "y": y}


def test_proximal_step_gives_exact_zeros_matching_lbfgs():
    m, data = _lasso()
    ref = m.fit(data, method="map", engine="lbfgs")
    fit = m.fit(data, method="map", engine="adam", lr=0.05)
    assert fit.converged, fit.message
    zero = ref.params["w"] == 0.0
    assert zero.sum() == 4
    np.testing.assert_array_equal(fit.params["w"] == 0.0, zero)
    np.testing.assert_allclose(fit.params["w"], ref.params["w"], atol=1e-5)
    f_ref = ref.objective.total(ref.theta)
    assert abs(fit.objective.total(fit.theta) - f_ref) <= 1e-8 * abs(f_ref)
    assert fit.se is None and "L1" in fit.se_note


@pytest.mark.parametrize("optimizer", [pf.optim.SGD(), pf.optim.Adam(eps=1e-3)], ids=repr)
def test_one_proximal_step_is_a_soft_threshold_in_the_update_metric(optimizer):
    m, data = _lasso()
    init = {"b": 0.1, "w": [0.5, -0.5, 0.01, -0.01, 0.0, 2.0]}
    fit = m.fit(data, method="map", engine="adam", optimizer=optimizer, lr=0.02, max_iter=1,
                init=init)
    obj = fit.objective
    theta0 = np.array([0.1, *init["w"]])
    g = obj.grad(theta0)
    # per-coordinate step factor: 1 for SGD; 1/(√v̂ + eps) = 1/(|g| + eps) after one Adam step
    factor = np.ones_like(g) if isinstance(optimizer, pf.optim.SGD) else 1 / (np.abs(g) + 1e-3)
    z = theta0 - 0.02 * factor * g
    expected = z.copy()
    threshold = 0.02 * factor[1:] / 0.02  # lr · factor · (1 / Laplace scale)
    expected[1:] = np.sign(z[1:]) * np.maximum(np.abs(z[1:]) - threshold, 0.0)
    np.testing.assert_allclose(fit.theta, expected, rtol=1e-12, atol=1e-15)
    assert np.any(fit.theta[1:] == 0.0)


def test_minibatch_loss_and_sgd_step_use_n_over_batch_scaling(spec_data):
    m = pf.Model.from_spec("specs/poisson.yaml")
    data, _ = spec_data["poisson"]
    fit = m.fit(data, method="map", engine="adam", optimizer=pf.optim.SGD(), lr=1e-4,
                batch_size=32, max_iter=1, seed=11)
    obj = fit.objective
    n = obj.n_obs
    rows = np.random.default_rng(11).permutation(n)[:32]
    theta0 = initial_theta(obj)
    f, g, _ = obj.evaluate(theta0, 1, data=obj.minibatch(rows), obs_scale=n / 32)
    assert fit.history["loss"][0] == pytest.approx(f, rel=1e-12)
    np.testing.assert_allclose(fit.theta, theta0 - 1e-4 * g, rtol=1e-12)
    assert fit.history["step_norm"][0] == pytest.approx(1e-4 * np.linalg.norm(g), rel=1e-12)


def test_minibatch_adam_gets_close_to_the_optimum(spec_data):
    m = pf.Model.from_spec("specs/logistic.yaml")
    data, _ = spec_data["logistic"]
    ref = m.fit(data, method="map", engine="newton")
    fit = m.fit(data, method="map", engine="adam", batch_size=50, epochs=150,
                lr=pf.optim.Cosine(0.02, 150 * 6))
    assert not fit.converged and "epochs=150" in fit.message
    assert np.all(fit.history["epoch"] < 150)
    assert np.max(np.abs(fit.params["w"] - ref.params["w"]) / ref.se["w"]) < 0.05


def _overfit_model():
    rng = np.random.default_rng(5)
    n, p = 60, 20
    X = rng.normal(size=(n, p))
    y = X[:, 0] + rng.normal(size=n)
    m = pf.Model("over")
    Xh, yh = m.data("X", ("n", "p")), m.data("y", ("n",))
    w = m.param("w", ("p",))
    m.observe(yh, pf.Normal(Xh @ w, 1.0))
    return m, {"X": X, "y": y}, p


def test_early_stopping_restores_the_best_parameters():
    m, data, p = _overfit_model()
    fit = m.fit(data, engine="adam", optimizer=pf.optim.SGD(), lr=0.001, validation=0.3,
                patience=5, init={"w": np.zeros(p)})
    assert fit.converged and "early stopping" in fit.message
    val = fit.history["val_loss"]
    best = int(np.argmin(val))
    assert 0 < best == len(val) - 6  # stopped 5 epochs after the best one
    obj = fit.objective
    held_out = obj.minibatch(fit.engine_state.val_rows)
    assert -obj.loglik(fit.theta, data=held_out) == pytest.approx(val[best], rel=1e-12)
    assert np.linalg.norm(fit.theta) == pytest.approx(fit.history["param_norm"][best], rel=1e-12)
    assert fit.engine_state.val_rows.size == 18
    assert np.intersect1d(fit.engine_state.val_rows, fit.engine_state.train_rows).size == 0
    again = m.fit(data, engine="adam", optimizer=pf.optim.SGD(), lr=0.001, validation=0.3,
                  patience=5, resume=fit.engine_state)
    np.testing.assert_array_equal(again.theta, fit.theta)  # a stopped run stays stopped
    assert again.n_iter == fit.n_iter and again.message == fit.message


def _poisson():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2))
    y = rng.poisson(np.exp(X @ [1.0, 0.5] + 1.0)).astype(float)
    m = pf.Model("pois")
    Xh, yh = m.data("X", ("n", "p")), m.data("y", ("n",))
    w, b = m.param("w", ("p",)), m.param("b")
    m.observe(yh, pf.Poisson(log_rate=Xh @ w + b))
    return m, {"X": X, "y": y}


def test_divergence_guard_rolls_back_and_halves_the_step():
    m, data = _poisson()
    ref = m.fit(data)
    fit = m.fit(data, engine="adam", optimizer=pf.optim.SGD(), lr=1.0,
                init={"w": [0.0, 0.0], "b": 0.0})
    rollbacks = fit.history["rollbacks"]
    assert rollbacks[-1] >= 5 and "rollback" in fit.message
    assert fit.history["lr"][-1] == 0.5 ** rollbacks[-1]
    # rows describe the accepted (retried) steps: the first one already needed halving, and
    # SGD moves by lr · ‖g‖
    assert rollbacks[0] >= 1 and fit.history["lr"][0] == 0.5 ** rollbacks[0]
    np.testing.assert_allclose(fit.history["step_norm"],
                               fit.history["lr"] * fit.history["grad_norm"], rtol=1e-8)
    assert fit.converged, fit.message
    np.testing.assert_allclose(fit.params["w"], ref.params["w"], atol=1e-5)


def test_persistent_divergence_raises_with_the_history():
    m, data = _poisson()
    with pytest.raises(pf.ConvergenceError, match="3 consecutive rollbacks") as err:
        m.fit(data, engine="adam", optimizer=pf.optim.SGD(), lr=1.0, max_rollbacks=3,
              init={"w": [0.0, 0.0], "b": 0.0})
    hist = err.value.history
    assert len(hist) >= 1 and np.all(np.isfinite(hist["loss"]))


def test_non_finite_start_raises():
    m, data = _poisson()
    with pytest.raises(pf.ConvergenceError, match="starting point"):
        m.fit(data, engine="adam", init={"w": [800.0, 0.0], "b": 0.0})


# ---------------------------------------------------------------------- checkpoints
OPTIONS = {"batch_size": 40, "validation": 0.2, "clip": 50.0, "patience": 100, "seed": 4,
           "lr": pf.optim.ReduceOnPlateau(pf.optim.LinearWarmup(0.05, 10), patience=1,
                                          threshold=0.05)}


def test_checkpoint_resume_is_bit_identical(tmp_path):
    m, data = _lasso()
    full = m.fit(data, method="map", engine="adam", epochs=8, **OPTIONS)
    assert np.any(full.params["w"] == 0.0)
    assert np.any(np.diff(full.history["lr"][10:]) < 0)  # the plateau schedule did act
    states: list[AdamState] = []
    m.fit(data, method="map", engine="adam", epochs=8, checkpoint_every=7,
          checkpoint=states.append, **OPTIONS)
    assert [s.step for s in states] == [7, 14, 21, 28]
    for state in (states[1], states[3]):  # mid-epoch (step 14) and at an epoch end (28)
        resumed = m.fit(data, method="map", engine="adam", epochs=8, resume=state, **OPTIONS)
        np.testing.assert_array_equal(resumed.theta, full.theta)
        assert resumed.history.rows() == full.history.rows()
        assert resumed.n_iter == full.n_iter and resumed.message == full.message
    path = tmp_path / "adam.npz"
    m.fit(data, method="map", engine="adam", epochs=8, checkpoint_every=9, checkpoint=path,
          max_iter=18, **OPTIONS)
    assert AdamState.load(path).step == 18
    resumed = m.fit(data, method="map", engine="adam", epochs=8, resume=path, **OPTIONS)
    np.testing.assert_array_equal(resumed.theta, full.theta)


def test_a_finished_run_continues_from_its_engine_state(spec_data):
    m = pf.Model.from_spec("specs/poisson.yaml")
    data, _ = spec_data["poisson"]
    options = {"batch_size": 64, "lr": pf.optim.Step(0.02, step_size=15, gamma=0.5),
               "optimizer": pf.optim.AdamW(weight_decay=1e-3), "seed": 2}
    straight = m.fit(data, method="map", engine="adam", epochs=6, **options)
    first = m.fit(data, method="map", engine="adam", epochs=3, **options)
    second = m.fit(data, method="map", engine="adam", epochs=6, resume=first.engine_state,
                   **options)
    np.testing.assert_array_equal(second.theta, straight.theta)
    assert second.history.rows() == straight.history.rows()


def test_resume_with_different_options_is_refused():
    m, data = _lasso()
    fit = m.fit(data, method="map", engine="adam", max_iter=5, lr=0.05)
    with pytest.raises(pf.EngineError, match="'schedule'"):
        m.fit(data, method="map", engine="adam", lr=0.01, resume=fit.engine_state)
    with pytest.raises(pf.EngineError, match="cannot read an adam checkpoint"):
        m.fit(data, method="map", engine="adam", resume="no/such/file.npz")


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    m, data = _lasso()
    path = tmp_path / "other.npz"
    np.savez(path, theta=np.zeros(7))
    with pytest.raises(pf.EngineError, match="not an adam checkpoint"):
        m.fit(data, method="map", engine="adam", resume=path)


@pytest.mark.parametrize(("options", "match"), [
    ({"optimizer": "adam"}, "optimizer"), ({"validation": 1.5}, "validation"),
    ({"batch_size": 0}, "batch_size"), ({"checkpoint_every": 3}, "together"),
    ({"lr": -1.0}, "lr"), ({"clip": 0.0}, "max_norm"), ({"seed": 1.5}, "seed"),
    ({"max_iter": 0}, "max_iter"),
])
def test_bad_options_raise_engine_error(options, match):
    m, data = _lasso()
    with pytest.raises(pf.EngineError, match=match):
        m.fit(data, method="map", engine="adam", **options)


def test_clip_and_schedule_act_on_the_steps(spec_data):
    m = pf.Model.from_spec("specs/poisson.yaml")
    data, _ = spec_data["poisson"]
    init = {"w": np.zeros(3), "b": 0.0}
    fit = m.fit(data, method="map", engine="adam", optimizer=pf.optim.SGD(), clip=2.0,
                lr=pf.optim.Exponential(1e-2, gamma=0.9), max_iter=5, init=init)
    assert np.all(fit.history["grad_norm"] > 2.0)
    np.testing.assert_allclose(fit.history["step_norm"], 1e-2 * 0.9 ** np.arange(5) * 2.0,
                               rtol=1e-12)
    np.testing.assert_allclose(fit.history["lr"], 1e-2 * 0.9 ** np.arange(5), rtol=1e-15)
    assert not fit.converged and "max_iter=5" in fit.message


def test_separation_stops_an_adam_mle_fit():
    x = np.array([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0])
    m = pf.Model("sep")
    xh, yh = m.data("x", ("n",)), m.data("y", ("n",))
    w, b = m.param("w"), m.param("b")
    m.observe(yh, pf.Bernoulli(logit=xh * w + b))
    with pytest.warns(pf.SeparationWarning):
        fit = m.fit({"x": x, "y": (x > 0).astype(float)}, engine="adam", lr=0.5)
    assert not fit.converged and "separation" in fit.message
