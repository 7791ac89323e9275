"""Every kind of bad input gets a typed ProbfitError naming the culprit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import probfit as pf
from probfit.engines.registry import _least_tail_probability

RNG = np.random.default_rng(3)


def logistic():
    m = pf.Model("logit")
    X, y = m.data("X", ("n", "p")), m.data("y", ("n",))
    w, b = m.param("w", ("p",)), m.param("b")
    m.observe(y, pf.Bernoulli(logit=X @ w + b))
    return m


def data(n=50, p=2):
    X = RNG.normal(size=(n, p))
    return {"X": X, "y": (RNG.random(n) < 0.5).astype(float)}


def test_missing_and_extra_names():
    m = logistic()
    with pytest.raises(pf.DataError, match=r"missing data \['y'\]"):
        m.fit({"X": np.zeros((3, 2))})
    with pytest.raises(pf.DataError, match=r"unknown data name\(s\) \['Z'\]"):
        m.fit({**data(), "Z": np.zeros(3)})


def test_dim_mismatch_names_both_sources():
    m = logistic()
    d = data()
    d["y"] = d["y"][:-1]
    with pytest.raises(pf.DataError, match=r"dim 'n' is 50 from data 'X' \(axis 0\) but 49 "
                                           r"from data 'y'"):
        m.fit(d)


def test_wrong_number_of_axes():
    m = logistic()
    d = data()
    d["X"] = d["X"][:, 0]
    with pytest.raises(pf.DataError, match=r"data 'X' has 1 axes .* dims \('n', 'p'\)"):
        m.fit(d)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_data(bad):
    m = logistic()
    d = data()
    d["X"][7, 1] = bad
    with pytest.raises(pf.DataError, match=r"data 'X' holds a non-finite value .* row \(7, 1\)"):
        m.fit(d)


def test_non_numeric_data():
    m = logistic()
    d = data()
    d["y"] = np.array(["a"] * 50)
    with pytest.raises(pf.DataError, match="data 'y' must be numeric"):
        m.fit(d)


@pytest.mark.parametrize(("dist", "y", "row"), [
    ("bernoulli", 2.0, 4), ("poisson", -1.0, 4), ("poisson", 1.5, 4), ("gamma", 0.0, 4),
    ("gamma", -2.0, 4),
])
def test_y_outside_support(dist, y, row):
    m = pf.Model("s")
    X, yh = m.data("X", ("n", "p")), m.data("y", ("n",))
    w = m.param("w", ("p",))
    eta = X @ w
    d = {"bernoulli": pf.Bernoulli(logit=eta), "poisson": pf.Poisson(log_rate=eta),
         "gamma": pf.Gamma(m.param("k", support="positive"), log_mean=eta)}[dist]
    m.observe(yh, d)
    yy = np.ones(10)
    yy[row] = y
    with pytest.raises(pf.DataError, match=rf"'y' .*support.* row {row}"):
        m.fit({"X": RNG.normal(size=(10, 2)), "y": yy})


def test_binomial_count_above_trials():
    m = pf.Model("b")
    X, y, t = m.data("X", ("n", "p")), m.data("y", ("n",)), m.data("t", ("n",))
    w = m.param("w", ("p",))
    m.observe(y, pf.Binomial(t, logit=X @ w))
    with pytest.raises(pf.DataError, match=r"'y'.* row 2"):
        m.fit({"X": np.ones((3, 1)), "y": np.array([1.0, 2.0, 6.0]), "t": np.full(3, 5.0)})


@pytest.mark.parametrize("make", [lambda: pf.Normal(0.0, -1.0), lambda: pf.Laplace(0.0, 0.0),
                                  lambda: pf.HalfNormal(-2.0)])
def test_prior_with_non_positive_scale(make):
    with pytest.raises(pf.DistributionError, match="scale"):
        make()


def test_param_named_twice():
    m = pf.Model("twice")
    m.param("w")
    with pytest.raises(pf.SpecError, match="'w' is declared twice"):
        m.param("w")
    with pytest.raises(pf.SpecError, match="'w' is declared twice"):
        m.data("w")


def test_unconstrained_param_as_scale():
    m = pf.Model("sc")
    y = m.data("y", ("n",))
    s = m.param("s")
    with pytest.raises(pf.SpecError, match=r"parameter 's' is unconstrained.*support='positive'"):
        m.observe(y, pf.Normal(0.0, s))


def test_dims_clash_at_declaration():
    m = pf.Model("dims")
    X = m.data("X", ("n", "p"))
    w = m.param("w", ("k",))
    with pytest.raises(pf.SpecError, match=r"contracted dims differ \('p' vs 'k'\)"):
        X @ w


SPEC = """
name: broken
data:
  X: {dims: [n, p]}
  y: {dims: [n]}
params:
  w: {dims: [p]}
observe:
  - data: y
    dist: %s
    args: {logit: "%s"}
"""


def test_spec_unknown_distribution(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SPEC % ("Bernouli", "X @ w"))
    with pytest.raises(pf.SpecError, match=r"observe\[0\].dist: unknown distribution 'Bernouli'"):
        pf.Model.from_spec(path)


@pytest.mark.parametrize(("expr", "why"), [
    ("X @@ w", "malformed expression"),
    ("__import__('os').system('true')", "only calls of named functions are allowed"),
    ("__import__('os')", "unknown function '__import__'"),
    ("open('f') @ w", "unknown function 'open'"),
    ("X.T @ w", "unsupported syntax Attribute"),
    ("X @ v", "unknown name 'v'"),
    ("lambda: 1", "unsupported syntax Lambda"),
    ("[X][0] @ w", "unsupported syntax List"),
])
def test_spec_malformed_expression(tmp_path, expr, why):
    path = tmp_path / "s.yaml"
    path.write_text(SPEC % ("Bernoulli", expr))
    with pytest.raises(pf.SpecError, match=rf"observe\[0\]\.args\.logit: .*{why}"):
        pf.Model.from_spec(path)


def test_spec_param_declared_twice(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SPEC.replace("  w: {dims: [p]}", "  w: {dims: [p]}\n  w: {}")
                    % ("Bernoulli", "X @ w"))
    with pytest.raises(pf.SpecError, match="'w' is declared twice"):
        pf.Model.from_spec(path)


def test_spec_unknown_field(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text((SPEC % ("Bernoulli", "X @ w")).replace("dims: [p]}", "dims: [p], prio: 1}"))
    with pytest.raises(pf.SpecError, match=r"params\.w\.prio"):
        pf.Model.from_spec(path)


def test_spec_bad_prior_scale():
    spec = {"name": "p", "data": {"y": {"dims": ["n"]}},
            "params": {"m": {"prior": {"dist": "Normal", "args": {"loc": 0, "scale": -1}}}},
            "observe": [{"data": "y", "dist": "Normal", "args": {"loc": "m"}}]}
    with pytest.raises(pf.SpecError, match=r"params.m.prior.*scale"):
        pf.Model.from_spec(spec)


def test_missing_spec_file():
    with pytest.raises(pf.SpecError, match="does not exist"):
        pf.Model.from_spec("no/such/file.yaml")


def test_separation_is_detected_and_stops():
    x = np.linspace(-2, 2, 40)
    X = np.column_stack([x, RNG.normal(size=40)])
    y = (x > 0.1).astype(float)
    m = logistic()
    with pytest.warns(pf.SeparationWarning, match=r"w\[0\].*method='map'"):
        fit = m.fit({"X": X, "y": y})
    assert not fit.converged
    assert fit.n_iter < 30
    assert "w[0]" in fit.separated
    assert fit.se is None and "separation" in fit.se_note
    # the MAP fit of the same data is finite and converges
    mp = pf.Model("logit_map")
    Xh, yh = mp.data("X", ("n", "p")), mp.data("y", ("n",))
    w, b = mp.param("w", ("p",), prior=pf.Normal(0, 2.5)), mp.param("b")
    mp.observe(yh, pf.Bernoulli(logit=Xh @ w + b))
    fit_map = mp.fit({"X": X, "y": y}, method="map")
    assert fit_map.converged and np.all(np.isfinite(fit_map.se["w"]))


def test_quasi_complete_separation():
    x = np.array([-3.0, -2, -1, 0, 0, 1, 2, 3])
    y = np.array([0.0, 0, 0, 0, 1, 1, 1, 1])
    m = logistic()
    with pytest.warns(pf.SeparationWarning):
        fit = m.fit({"X": x[:, None], "y": y})
    assert fit.separated


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["logit", "probit", "cloglog"]), st.booleans(),
       st.lists(st.floats(-40.0, 40.0), min_size=1, max_size=40))
def test_separation_screen_finds_the_least_tail_probability(link, binomial, etas):
    """The separation monitor evaluates the link at the least and greatest linear predictor
    only; that must be ``min(p, 1 - p)`` over every row (to the rounding of ``p`` near 1,
    where the binomial mean divided by the trials differs from ``p`` in its last bits)."""
    m = pf.Model("screen")
    X, y = m.data("X", ("n", "p")), m.data("y", ("n",))
    eta = X @ m.param("w", ("p",))
    if binomial:
        t = m.data("t", ("n",))
        m.observe(y, pf.Binomial(trials=t, **{link: eta}))
    else:
        m.observe(y, pf.Bernoulli(**{link: eta}))
    n = len(etas)
    d = {"X": np.ones((n, 1)), "y": np.zeros(n)} | ({"t": np.arange(1.0, n + 1)} if binomial
                                                    else {})
    f = m.compile(d).obs_factors()[0]
    e = np.array(etas)
    vals = {link: e} | ({"trials": d["t"]} if binomial else {})
    p = f.dist.mean_of(vals) / (d["t"] if binomial else 1.0)
    assert _least_tail_probability(f, vals) == pytest.approx(np.min(np.minimum(p, 1 - p)),
                                                              rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("separated", [True, False])
def test_separation_check_on_many_rows_by_constraint_generation(separated):
    """Above 2000 rows the separation LP starts from the rows nearest the boundary and adds
    violated ones; it must reach the same verdict as on the whole data: separated data are
    caught, and a large, well-determined fit with extreme fitted probabilities is not flagged."""
    rng = np.random.default_rng(3)
    n = 6000
    X = rng.normal(size=(n, 2))
    eta = 12.0 * X[:, 0] + X[:, 1]
    y = (eta > 0).astype(float) if separated else \
        (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    m = logistic()
    if separated:
        with pytest.warns(pf.SeparationWarning):
            fit = m.fit({"X": X, "y": y})
        assert "w[0]" in fit.separated and "w[1]" in fit.separated
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pf.SeparationWarning)
            fit = m.fit({"X": X, "y": y})
        assert fit.converged and not fit.separated
        assert np.min(np.abs(X @ fit.params["w"] + fit.params["b"])) < 1.0
        assert np.max(np.abs(X @ fit.params["w"] + fit.params["b"])) > 14.0


def test_collinear_columns_are_named():
    X = RNG.normal(size=(60, 3))
    X = np.column_stack([X, X[:, 0] - 2 * X[:, 2]])
    y = (RNG.random(60) < 0.5).astype(float)
    with pytest.raises(pf.SingularInformationError, match=r"w\[0\].*w\[2\].*w\[3\]|w\[3\].*w\["):
        logistic().fit({"X": X, "y": y})


def test_unknown_engine_and_refusal():
    m = pf.Model("lasso")
    X, y = m.data("X", ("n", "p")), m.data("y", ("n",))
    w = m.param("w", ("p",), prior=pf.Laplace(0.0, 0.5))
    m.observe(y, pf.Normal(X @ w, 1.0))
    d = {"X": RNG.normal(size=(30, 2)), "y": RNG.normal(size=30)}
    with pytest.raises(pf.EngineError, match="unknown engine 'no_such_engine'"):
        m.fit(d, engine="no_such_engine")
    # Laplace priors are not refused by Newton: it runs proximal Newton with CD
    assert m.fit(d, method="map", engine="newton").engine == "newton"
    with pytest.raises(pf.EngineError, match="unknown option"):
        m.fit(d, engine="newton", max_iterations=3)


def test_a_type_error_inside_an_engine_is_not_called_an_unknown_option(monkeypatch):
    from probfit.engines import registry

    def broken(objective, theta0, *, monitor=None, max_iter=100):
        raise TypeError("raised inside the engine")

    monkeypatch.setitem(registry.ENGINES, "newton", broken)
    m = pf.Model("ols")
    X, y = m.data("X", ("n", "p")), m.data("y", ("n",))
    m.observe(y, pf.Normal(X @ m.param("w", ("p",)), 1.0))
    d = {"X": RNG.normal(size=(30, 2)), "y": RNG.normal(size=30)}
    with pytest.raises(TypeError, match="raised inside the engine"):
        m.fit(d, engine="newton", max_iter=5)
    with pytest.raises(pf.EngineError, match="engine 'newton' got an unknown option"):
        m.fit(d, engine="newton", max_iterations=5)


def test_index_out_of_range():
    m = pf.Model("idx")
    z, y = m.data("z", ("n",), kind="integer"), m.data("y", ("n",))
    mu = m.param("mu", ("k",))
    m.observe(y, pf.Normal(mu[z], 1.0))
    with pytest.raises(pf.DataError, match=r"index data 'z' has value 3 at row 1"):
        m.fit({"z": np.array([0, 3, 1]), "y": np.zeros(3)}, dims={"k": 3})
    with pytest.raises(pf.DataError, match="'z' must hold integers"):
        m.fit({"z": np.array([0, 1.5, 1]), "y": np.zeros(3)}, dims={"k": 3})


def test_unbound_dim():
    m = pf.Model("k")
    y = m.data("y", ("n",))
    mu = m.param("mu", ("k",))
    m.observe(y, pf.Normal(mu[0], 1.0))
    with pytest.raises(pf.DataError, match=r"dim 'k' of param 'mu' has no size"):
        m.fit({"y": np.zeros(3)})
