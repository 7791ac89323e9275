"""The one-pass GLM evaluation, the GLM line along a Newton step, and what they change in fits.

A GLM-shaped likelihood term is evaluated block by block in one pass over its design
(:mod:`probfit.compile.glm_pass`); every such term must give exactly what the general
expression path gives, which these tests compare by switching the plan off.
"""

from __future__ import annotations

import numpy as np
import pytest

import probfit as pf
from probfit.compile import objective as objective_module
from probfit.compile.glm_pass import as_rows
from probfit.compile.start import initial_theta
from probfit.dsl.expr import MatMul
from probfit.engines.newton import _minimiser, newton

RNG = np.random.default_rng(11)
#: large enough for several blocks of rows and a split across threads
N, P = 60_000, 40
X = RNG.normal(size=(N, P)) / np.sqrt(P)
BETA = RNG.uniform(-1.0, 1.0, P)
ETA = X @ BETA + 0.2
OFFSET = RNG.normal(scale=0.1, size=N)
TRIALS = RNG.integers(1, 6, size=N).astype(float)


def _model(kind: str, prior: pf.Normal | None = None) -> tuple[pf.Model, dict[str, np.ndarray]]:
    m = pf.Model(kind)
    x, y = m.data("X", ("n", "p")), m.data("y", ("n",))
    w, b = m.param("w", ("p",), prior=prior), m.param("b")
    data = {"X": X}
    if kind == "poisson":
        m.observe(y, pf.Poisson(log_rate=x @ w + b))
        data["y"] = RNG.poisson(np.exp(ETA)).astype(float)
    elif kind == "logistic_offset":
        off = m.data("off", ("n",))
        m.observe(y, pf.Bernoulli(logit=x @ w + b + off))
        data["y"] = (RNG.random(N) < 1 / (1 + np.exp(-ETA - OFFSET))).astype(float)
        data["off"] = OFFSET
    elif kind == "binomial_trials":
        t = m.data("t", ("n",))
        m.observe(y, pf.Binomial(t, logit=x @ w - b))
        data["y"] = RNG.binomial(TRIALS.astype(int), 1 / (1 + np.exp(-ETA))).astype(float)
        data["t"] = TRIALS
    elif kind == "probit":
        m.observe(y, pf.Bernoulli(probit=x @ w + b))
        data["y"] = (RNG.random(N) < 0.5 + 0.3 * np.tanh(ETA)).astype(float)
    elif kind == "normal":
        m.observe(y, pf.Normal(x @ w + b, 2.0))
        data["y"] = ETA + 2.0 * RNG.normal(size=N)
    elif kind == "gamma":
        m.observe(y, pf.Gamma(3.0, log_mean=x @ w + b))
        data["y"] = RNG.gamma(3.0, np.exp(ETA) / 3.0)
    elif kind == "negative_binomial":
        m.observe(y, pf.NegativeBinomial(mean=x @ w + b, dispersion=2.0))
        mu = np.exp(ETA)
        data["y"] = RNG.negative_binomial(2.0, 2.0 / (2.0 + mu)).astype(float)
    return m, data


KINDS = ["poisson", "logistic_offset", "binomial_trials", "probit", "normal", "gamma",
         "negative_binomial"]


def _without_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(objective_module, "glm_plan", lambda *a, **k: None)


@pytest.mark.parametrize("kind", KINDS)
def test_one_pass_matches_the_expression_path(kind, monkeypatch):
    m, data = _model(kind)
    fused = m.compile(data, "mle")
    assert fused.glm_plan_of(fused.factors[0]) is not None
    theta = RNG.normal(scale=0.2, size=fused.size)
    if kind == "negative_binomial":
        theta[-1] = 5.0  # the identity-link mean must stay positive
    start = theta.copy()
    start[fused.layout["w"].slice] = 0.0  # η the same on every row unless there is an offset
    thetas = (theta, start)
    got = [{h: fused.evaluate(t, 2, h) for h in ("observed", "expected")} for t in thetas]
    _without_plans(monkeypatch)
    plain = m.compile(data, "mle")
    for t, at in zip(thetas, got, strict=True):
        for h, (f, g, hess) in at.items():
            f0, g0, h0 = plain.evaluate(t, 2, h)
            assert f == pytest.approx(f0, rel=1e-12)
            np.testing.assert_allclose(g, g0, rtol=1e-9, atol=1e-9 * np.max(np.abs(g0)))
            np.testing.assert_allclose(hess, h0, rtol=1e-9, atol=1e-9 * np.max(np.abs(h0)))
        assert fused.value(t) == pytest.approx(plain.value(t), rel=1e-12)
        assert fused.loglik(t) == pytest.approx(plain.loglik(t), rel=1e-12)


def test_mixed_sign_curvature_takes_the_general_product():
    """The negative binomial's observed curvature in its mean changes sign between small and
    large counts; such blocks cannot use the square-root rows."""
    m, data = _model("negative_binomial")
    obj = m.compile(data, "mle")
    theta = np.zeros(obj.size)
    theta[-1] = 5.0
    d2 = obj.factors[0].dist.row_terms(data["y"], {"mean": np.full(N, 5.0)}, "mean", 2)[2]
    assert np.any(d2 > 0) and np.any(d2 < 0)
    h = obj.hess(theta)
    w = -d2
    np.testing.assert_allclose(h[:P, :P], X.T @ (w[:, None] * X), rtol=1e-9)
    np.testing.assert_allclose(h[:P, P], X.T @ w, rtol=1e-9, atol=1e-9)
    assert h[P, P] == pytest.approx(np.sum(w), rel=1e-12)


def test_a_row_term_the_same_on_every_row_is_written_out():
    """A constant curvature (the normal's) becomes an array, not a broadcast view: BLAS cannot
    read a vector of stride 0, and the pass's ``Xᵀw`` would leave BLAS for a slow loop."""
    rows = as_rows(-0.25, (7,))
    assert rows.flags.c_contiguous and rows.strides == (8,)
    np.testing.assert_array_equal(rows, np.full(7, -0.25))
    per_row = np.arange(7.0)
    assert as_rows(per_row, (7,)) is per_row


def test_a_design_without_columns_leaves_the_intercept_alone():
    """``X`` with no columns: the pass still forms the intercept's products, and the MLE is
    the closed form ``logit(ȳ)``."""
    m = pf.Model("empty")
    x, y = m.data("X", ("n", "p")), m.data("y", ("n",))
    m.observe(y, pf.Bernoulli(logit=x @ m.param("w", ("p",)) + m.param("b")))
    data = {"X": np.zeros((N, 0)), "y": (RNG.random(N) < 0.3).astype(float)}
    obj = m.compile(data, "mle")
    assert obj.glm_plan_of(obj.factors[0]) is not None
    fit = m.fit(data, method="mle", engine="newton")
    ybar = data["y"].mean()
    assert fit.params["b"] == pytest.approx(np.log(ybar / (1 - ybar)), rel=1e-10)
    assert fit.loglik == pytest.approx(N * (ybar * np.log(ybar) + (1 - ybar) * np.log1p(-ybar)),
                                       rel=1e-12)


def test_terms_that_are_not_glm_shaped_have_no_plan():
    m = pf.Model("scale")
    x, y = m.data("X", ("n", "p")), m.data("y", ("n",))
    m.observe(y, pf.Normal(x @ m.param("w", ("p",)), m.param("s", support="positive")))
    obj = m.compile({"X": X, "y": ETA}, "mle")
    assert obj.glm_plan_of(obj.factors[0]) is None
    assert obj.line(np.ones(obj.size), np.ones(obj.size)) is None


@pytest.mark.parametrize("kind", ["poisson", "binomial_trials", "logistic_offset"])
def test_line_matches_the_objective_along_the_ray(kind):
    m, data = _model(kind, prior=pf.Normal(0.0, 0.5))
    obj = m.compile(data, "map")
    theta = RNG.normal(scale=0.2, size=obj.size)
    step = RNG.normal(scale=0.3, size=obj.size)
    obj.evaluate(theta, 2)
    line = obj.line(theta, step)
    for alpha in (0.0, 0.37, 1.0):
        f, g, h = obj.evaluate(theta + alpha * step, 2)
        value, slope, curv = line(alpha)
        assert value == pytest.approx(f, rel=1e-12)
        assert slope == pytest.approx(g @ step, rel=1e-9)
        assert curv == pytest.approx(step @ h @ step, rel=1e-9)
        assert np.isnan(line(alpha, False)[0])


@pytest.mark.parametrize("kind", ["poisson", "logistic_offset"])
def test_the_accepted_step_takes_eta_from_the_line(kind, monkeypatch):
    """After ``line(α)``, an evaluation at ``theta + α·step`` builds ``η`` from the line's
    ``η + α·u`` without multiplying the design, and gives what a fresh evaluation gives."""
    m, data = _model(kind)
    obj, fresh = m.compile(data, "mle"), m.compile(data, "mle")
    theta = RNG.normal(scale=0.2, size=obj.size)
    step = RNG.normal(scale=0.3, size=obj.size)
    obj.evaluate(theta, 2)
    line = obj.line(theta, step)
    line(0.37, False)
    calls = []
    real = objective_module.glm_pass
    monkeypatch.setattr(objective_module, "glm_pass",
                        lambda *a, **k: calls.append(a[-1]) or real(*a, **k))
    f, g, h = obj.evaluate(theta + 0.37 * step, 2)
    assert calls and calls[0] is not None and calls[0][2] == 0.37
    f0, g0, h0 = fresh.evaluate(theta + 0.37 * step, 2)
    assert f == pytest.approx(f0, rel=1e-13)
    np.testing.assert_allclose(g, g0, rtol=1e-9, atol=1e-9 * np.max(np.abs(g0)))
    np.testing.assert_allclose(h, h0, rtol=1e-11, atol=1e-11 * np.max(np.abs(h0)))


@pytest.mark.parametrize("kind", ["poisson", "binomial_trials", "logistic_offset"])
def test_sampled_line_is_the_line_up_to_two_to_the_fifteen_rows(kind):
    """On up to 2¹⁵ rows the sample is every row: the sampled line is the line itself, with
    the prior terms."""
    m, data = _model(kind, prior=pf.Normal(0.0, 0.5))
    obj = m.compile({k: v[:20_000] for k, v in data.items()}, "map")
    theta = RNG.normal(scale=0.2, size=obj.size)
    step = RNG.normal(scale=0.3, size=obj.size)
    sample, line = obj.sampled_line(theta, step), obj.line(theta, step)
    for alpha in (0.0, 0.4, 1.0):
        np.testing.assert_allclose(sample(alpha), line(alpha), rtol=1e-10)
        assert sample(alpha)[0] == pytest.approx(obj.value(theta + alpha * step), rel=1e-10)


@pytest.mark.parametrize("kind", ["poisson", "logistic_offset"])
def test_sampled_line_estimates_a_newton_step_from_every_third_row(kind, monkeypatch):
    """At 60 000 rows every third row is used; for the first Newton step from the mean start
    (a decrease for the logistic model, an overshoot for the Poisson one) the estimated change
    is within 5 % of the change, the minimiser along the sampled line within 1 % of the one
    along the line, and ``theta``'s linear predictor stays cached for a line."""
    m, data = _model(kind)
    obj = m.compile(data, "mle")
    theta = initial_theta(obj)
    f, g, h = obj.evaluate(theta, 2)
    step = -np.linalg.solve(h, g)
    decrement = float(-g @ step)
    sample = obj.sampled_line(theta, step)
    change = obj.value(theta + step) - f
    assert sample(1.0)[0] - sample(0.0)[0] == pytest.approx(change, rel=0.05)
    assert (change < 0) == (kind == "logistic_offset")
    estimate = _minimiser(sample, 1.0, decrement, 40)
    if kind == "poisson":
        exact = _minimiser(obj.line(theta, step), 0.5, decrement, 40)
        assert 0.3 < exact < 0.8 and estimate == pytest.approx(exact, rel=0.01)
    else:
        assert estimate == 1.0 and obj.line(theta, step)(1.0)[1] < 0.0
    obj.evaluate(theta, 0)
    sample = obj.sampled_line(theta, step)
    sample(0.5)
    products = []
    real = MatMul.value
    monkeypatch.setattr(MatMul, "value", lambda self, ctx: products.append(1) or real(self, ctx))
    obj.line(theta, step)
    assert not products


@pytest.mark.parametrize(("minimum", "start"), [(0.3, 0.9), (0.3, 0.05), (0.3, 1.0), (2.5, 0.2)])
def test_the_minimiser_along_a_line_from_any_guess(minimum, start):
    """Newton's method on ``φ'`` for ``φ(α) = exp(cα) − c·e^{c·minimum}·α`` from a guess on
    either side of the minimum; a minimum beyond the full step gives the full step."""
    c = 3.0
    scale = c * np.exp(c * minimum)

    def phi(alpha, value=True, derivatives=True):
        return (np.exp(c * alpha) - scale * alpha, c * np.exp(c * alpha) - scale,
                c * c * np.exp(c * alpha))

    decrement = -phi(0.0)[1]
    alpha = _minimiser(phi, start, decrement, 40)
    if minimum < 1.0:
        assert abs(phi(alpha)[1]) <= 1e-3 * decrement
        assert alpha == pytest.approx(minimum, rel=1e-3)
    else:
        assert alpha == 1.0


def test_the_line_search_starts_at_the_minimiser_along_the_sampled_line(monkeypatch):
    """The Poisson model's first Newton step overshoots; the search along the line starts from
    the minimiser along the sampled line, so it evaluates the line's derivatives twice and
    never its value (the value at the minimiser comes with the next iteration's pass)."""
    m, data = _model("poisson")
    obj = m.compile(data, "mle")
    calls = []
    real = type(obj).line

    def counted(self, theta, step):
        phi = real(self, theta, step)
        return lambda *a: calls.append(a) or phi(*a)

    monkeypatch.setattr(type(obj), "line", counted)
    res = newton(obj, initial_theta(obj))
    assert res.converged
    assert len(calls) <= 2 and all(value is False for _, value in calls)
    assert 0.0 < np.asarray(res.history["step_size"])[1] < 1.0
    ref = m.fit(data, engine="lbfgs")
    assert res.objective == pytest.approx(-ref.loglik, rel=1e-10)


def test_newton_takes_a_predicted_full_step_without_forming_a_line(monkeypatch):
    """The logistic model's first Newton step from the mean start passes; the row sample
    predicts it, so no line along it (a product of the whole design with the step) is
    formed, and the run ends where L-BFGS does."""
    m, data = _model("logistic_offset")
    obj = m.compile(data, "mle")
    lines = []
    real = type(obj).line
    monkeypatch.setattr(type(obj), "line", lambda self, *a: lines.append(a) or real(self, *a))
    res = newton(obj, initial_theta(obj))
    assert res.converged and not lines
    assert np.all(np.asarray(res.history["step_size"])[1:] == 1.0)
    ref = m.fit(data, engine="lbfgs")
    assert res.objective == pytest.approx(-ref.loglik, rel=1e-10)


def test_a_full_step_the_sample_wrongly_passes_is_still_tested_exactly(monkeypatch):
    """The sample only decides which trial comes first: when it promises a decrease that the
    full step does not give, the Armijo test on the exact value rejects the step and the line
    search finds the same step length as when the sample is right, one pass later."""
    m, data = _model("poisson")
    passes = []
    real_pass = objective_module.glm_pass
    monkeypatch.setattr(objective_module, "glm_pass",
                        lambda *a, **k: passes.append(1) or real_pass(*a, **k))
    plain = newton(obj := m.compile(data, "mle"), initial_theta(obj))
    plain_passes, passes[:] = len(passes), []
    fooled = m.compile(data, "mle")
    real = type(fooled).sampled_line

    def fooling(self, theta, step):
        sample = real(self, theta, step)
        return lambda a, value=True, derivatives=True: \
            (-1e300 * a, *sample(a, False, derivatives)[1:])

    monkeypatch.setattr(type(fooled), "sampled_line", fooling)
    res = newton(fooled, initial_theta(fooled))
    assert res.converged
    first = np.asarray(res.history["step_size"])[1]
    assert 0.0 < first < 1.0
    assert first == np.asarray(plain.history["step_size"])[1]
    assert res.objective == pytest.approx(plain.objective, rel=1e-12)
    assert len(passes) == plain_passes + 1


def test_newton_minimises_along_a_damped_step():
    """From the mean start the Poisson model's first Newton step overshoots; the step length
    is then the minimiser along it (not a power of 1/2), and the run ends where L-BFGS
    does."""
    m, data = _model("poisson")
    obj = m.compile(data, "mle")
    res = newton(obj, initial_theta(obj))
    sizes = np.asarray(res.history["step_size"])[1:]
    assert res.converged
    damped = sizes[sizes < 1.0]
    assert damped.size and not np.any(np.isin(damped, 0.5 ** np.arange(1, 30)))
    ref = m.fit(data, engine="lbfgs")
    assert res.objective == pytest.approx(-ref.loglik, rel=1e-10)


def test_standard_errors_are_formed_when_first_used():
    m, data = _model("poisson")
    fit = m.fit(data, engine="newton")
    assert "cov" not in vars(fit) and "se" not in vars(fit)
    info = fit.objective.hess(fit.theta)
    np.testing.assert_allclose(fit.cov, np.linalg.inv(info), rtol=1e-8)
    np.testing.assert_allclose(fit.se["w"], np.sqrt(np.diag(np.linalg.inv(info)))[:P],
                               rtol=1e-8)
    assert fit.se_note == ""
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        _ = fit.nonsense
