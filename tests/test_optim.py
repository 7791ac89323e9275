"""pf.optim pieces: schedule values by formula, update rules against hand-computed steps,
global-norm clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import probfit as pf
from probfit.optim import (
    SGD,
    Adam,
    AdamW,
    Constant,
    Cosine,
    Exponential,
    GlobalNormClip,
    LinearWarmup,
    Momentum,
    ReduceOnPlateau,
    RMSProp,
    Step,
    clip_by_global_norm,
)

steps = st.integers(min_value=0, max_value=10_000)


# ---------------------------------------------------------------------- schedules
@given(steps)
def test_constant_step_exponential_by_formula(t):
    assert Constant(0.3).lr(t) == 0.3
    assert Step(0.3, step_size=7, gamma=0.5).lr(t) == pytest.approx(0.3 * 0.5 ** (t // 7))
    assert Exponential(0.3, gamma=0.99, decay_steps=10).lr(t) == \
        pytest.approx(0.3 * 0.99 ** (t / 10))


@given(steps)
def test_cosine_by_formula(t):
    s = Cosine(0.1, total_steps=500, min_lr=0.01)
    frac = min(t, 500) / 500
    assert s.lr(t) == pytest.approx(0.01 + 0.09 * 0.5 * (1 + math.cos(math.pi * frac)))
    assert 0.01 - 1e-15 <= s.lr(t) <= 0.1


def test_cosine_end_points():
    s = Cosine(0.1, total_steps=100)
    assert s.lr(0) == 0.1
    assert s.lr(50) == pytest.approx(0.05)
    assert s.lr(100) == pytest.approx(0.0, abs=1e-17)
    assert s.lr(1000) == s.lr(100)


def test_linear_warmup_then_inner_schedule():
    s = LinearWarmup(Step(0.2, step_size=10, gamma=0.5), warmup_steps=4)
    assert [s.lr(t) for t in range(4)] == pytest.approx([0.05, 0.1, 0.15, 0.2])
    assert s.lr(4) == 0.2
    assert s.lr(4 + 10) == pytest.approx(0.1)
    assert LinearWarmup(0.5, 2).lr(0) == 0.25


def test_reduce_on_plateau_counts_bad_epochs_and_keeps_state():
    s = ReduceOnPlateau(0.1, factor=0.5, patience=2, threshold=0.0, min_lr=0.02)
    for loss in [10.0, 9.0, 9.5, 9.0]:  # improves twice, then two non-improvements
        s.observe(loss)
    assert s.lr(0) == pytest.approx(0.05)
    s.observe(8.0)  # improvement resets the count
    s.observe(8.0)
    assert s.lr(0) == pytest.approx(0.05)
    s.observe(8.0)
    assert s.lr(0) == pytest.approx(0.025)
    s.observe(8.0)
    s.observe(8.0)
    assert s.lr(0) == 0.02  # floored at min_lr
    fresh = ReduceOnPlateau(0.1, factor=0.5, patience=2, threshold=0.0, min_lr=0.02)
    fresh.load_state_dict(s.state_dict())
    assert fresh.lr(0) == s.lr(0) and fresh.state_dict() == s.state_dict()


def test_reduce_on_plateau_relative_threshold():
    s = ReduceOnPlateau(1.0, factor=0.1, patience=1, threshold=1e-2)
    s.observe(100.0)
    s.observe(99.5)  # less than 1% better: not an improvement
    assert s.lr(3) == pytest.approx(0.1)


@pytest.mark.parametrize("make", [
    lambda: Constant(0.0), lambda: Constant(float("nan")), lambda: Step(0.1, 0),
    lambda: Step(0.1, 5, gamma=1.5), lambda: Exponential(0.1, gamma=0.0),
    lambda: Cosine(0.1, 10, min_lr=0.2), lambda: LinearWarmup(0.1, 0),
    lambda: ReduceOnPlateau(0.1, factor=1.0), lambda: ReduceOnPlateau(0.1, patience=0),
    lambda: pf.optim.as_schedule("0.1"),
])
def test_bad_schedule_arguments_raise(make):
    with pytest.raises(pf.EngineError):
        make()


# ---------------------------------------------------------------------- update rules
G1, G2 = np.array([1.0, -2.0, 0.5]), np.array([-0.5, 1.0, 2.0])
THETA = np.array([0.3, -0.1, 2.0])


def two_steps(opt, lr):
    state = opt.init(THETA)
    d1, state = opt.update(G1, state, lr, THETA)
    d2, state = opt.update(G2, state, lr, THETA + d1)
    return d1, d2, state


def test_sgd_step():
    d1, d2, state = two_steps(SGD(), 0.1)
    np.testing.assert_array_equal(d1, -0.1 * G1)
    np.testing.assert_array_equal(d2, -0.1 * G2)
    assert int(state["count"]) == 2


def test_heavy_ball_momentum_step():
    d1, d2, state = two_steps(Momentum(beta=0.9), 0.1)
    v1 = G1
    v2 = 0.9 * v1 + G2
    np.testing.assert_allclose(d1, -0.1 * v1, rtol=1e-15)
    np.testing.assert_allclose(d2, -0.1 * v2, rtol=1e-15)
    np.testing.assert_allclose(state["v"], v2, rtol=1e-15)


def test_nesterov_momentum_step():
    _, d2, _ = two_steps(Momentum(beta=0.9, nesterov=True), 0.1)
    v2 = 0.9 * G1 + G2
    np.testing.assert_allclose(d2, -0.1 * (G2 + 0.9 * v2), rtol=1e-15)


def test_rmsprop_step():
    _, d2, state = two_steps(RMSProp(rho=0.9, eps=1e-3), 0.01)
    s2 = 0.9 * (0.1 * G1**2) + 0.1 * G2**2
    np.testing.assert_allclose(d2, -0.01 * G2 / (np.sqrt(s2) + 1e-3), rtol=1e-14)
    np.testing.assert_allclose(state["s"], s2, rtol=1e-15)


def test_adam_step_with_bias_correction_and_eps_outside_sqrt():
    b1, b2, eps, lr = 0.9, 0.999, 1e-3, 0.01
    d1, d2, state = two_steps(Adam(b1, b2, eps), lr)
    # step 1: bias-corrected moments are g and g² exactly
    np.testing.assert_allclose(d1, -lr * G1 / (np.abs(G1) + eps), rtol=1e-14)
    m = b1 * (1 - b1) * G1 + (1 - b1) * G2
    v = b2 * (1 - b2) * G1**2 + (1 - b2) * G2**2
    m_hat, v_hat = m / (1 - b1**2), v / (1 - b2**2)
    np.testing.assert_allclose(d2, -lr * m_hat / (np.sqrt(v_hat) + eps), rtol=1e-13)
    np.testing.assert_allclose(state["m"], m, rtol=1e-15)
    np.testing.assert_allclose(state["v"], v, rtol=1e-15)
    assert int(state["count"]) == 2


def test_adamw_decay_is_decoupled():
    wd, lr = 0.1, 0.01
    adam, adamw = Adam(), AdamW(weight_decay=wd)
    da, _ = adam.update(G1, adam.init(THETA), lr, THETA)
    dw, _ = adamw.update(G1, adamw.init(THETA), lr, THETA)
    np.testing.assert_allclose(dw, da - lr * wd * THETA, rtol=1e-14)
    # coupled L2 (wd·θ added to g) would be rescaled by 1/√v̂: not what AdamW does
    dc, _ = adam.update(G1 + wd * THETA, adam.init(THETA), lr, THETA)
    assert not np.allclose(dw, dc)


@pytest.mark.parametrize("opt", [SGD(), Momentum(), Momentum(nesterov=True), RMSProp(), Adam(),
                                 AdamW()], ids=repr)
def test_update_does_not_modify_its_input_state(opt):
    state = opt.init(THETA)
    _, state = opt.update(G1, state, 0.1, THETA)
    before = {k: v.copy() for k, v in state.items()}
    opt.update(G2, state, 0.1, THETA)
    for k, v in state.items():
        np.testing.assert_array_equal(v, before[k])


def test_preconditioners():
    assert SGD().preconditioner(SGD().init(THETA)) == 1.0
    adam = Adam(eps=1e-3)
    _, state = adam.update(G1, adam.init(THETA), 0.1, THETA)
    np.testing.assert_allclose(adam.preconditioner(state), 1 / (np.abs(G1) + 1e-3), rtol=1e-14)


@pytest.mark.parametrize("make", [lambda: Momentum(beta=1.0), lambda: Adam(b1=-0.1),
                                  lambda: Adam(eps=0.0), lambda: RMSProp(rho=1.0),
                                  lambda: AdamW(weight_decay=-1.0)])
def test_bad_update_arguments_raise(make):
    with pytest.raises(pf.EngineError):
        make()


# ---------------------------------------------------------------------- clipping
vectors = st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=8).map(np.array)


@settings(max_examples=60)
@given(vectors, st.floats(1e-3, 1e3))
def test_clip_by_global_norm_properties(g, max_norm):
    clipped, norm = clip_by_global_norm(g, max_norm)
    assert norm == pytest.approx(np.linalg.norm(g))
    if norm <= max_norm:
        assert clipped is g
    else:
        assert np.linalg.norm(clipped) == pytest.approx(max_norm)
        np.testing.assert_allclose(clipped * norm / max_norm, g, rtol=1e-12, atol=1e-300)


def test_clip_example_and_bad_bound():
    np.testing.assert_allclose(GlobalNormClip(1.0)(np.array([3.0, 4.0])), [0.6, 0.8])
    np.testing.assert_array_equal(GlobalNormClip(10.0)(np.array([3.0, 4.0])), [3.0, 4.0])
    with pytest.raises(pf.EngineError, match="max_norm"):
        GlobalNormClip(0.0)
