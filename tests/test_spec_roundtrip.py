"""DSL → spec → model gives identical fits; spec files load, dump and reload unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import probfit as pf

SPECS = sorted(Path("specs").glob("*.yaml")) if Path("specs").is_dir() else []


def test_all_required_specs_exist():
    names = {p.stem for p in Path(__file__).parent.parent.joinpath("specs").glob("*.yaml")}
    assert names >= {"linear_regression", "logistic", "probit", "poisson", "gamma",
                     "negative_binomial", "multinomial_logistic", "robust_regression"}


@pytest.mark.parametrize("name", ["linear_regression", "logistic", "probit", "poisson", "gamma",
                                  "negative_binomial", "multinomial_logistic",
                                  "robust_regression"])
def test_spec_file_loads_fits_and_round_trips(name, spec_data, tmp_path):
    m = pf.Model.from_spec(f"specs/{name}.yaml")
    spec = m.to_spec()
    path = tmp_path / f"{name}.yaml"
    path.write_text(spec.to_yaml())
    again = pf.load_spec(path)
    assert again == spec
    data, dims = spec_data[name]
    a = m.fit(data, method="map", dims=dims)
    b = pf.Model.from_spec(again).fit(data, method="map", dims=dims)
    assert a.converged
    np.testing.assert_array_equal(a.theta, b.theta)
    json_path = tmp_path / f"{name}.json"
    json_path.write_text(spec.model_dump_json())
    assert pf.load_spec(json_path) == spec


def test_dsl_to_spec_to_model_identical_fit():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = (rng.random(120) < 1 / (1 + np.exp(-(X @ [1.0, -0.5, 0.2])))).astype(float)
    m = pf.Model("churn")
    Xh, yh = m.data("X", dims=("n", "p")), m.data("y", dims=("n",))
    w = m.param("w", dims=("p",), prior=pf.Normal(0.0, 1.5))
    b = m.param("b")
    m.observe(yh, pf.Bernoulli(logit=Xh @ w + b))
    m2 = pf.Model.from_spec(m.to_spec().to_dict())
    for method in ("mle", "map"):
        f1 = m.fit({"X": X, "y": y}, method=method)
        f2 = m2.fit({"X": X, "y": y}, method=method)
        np.testing.assert_array_equal(f1.theta, f2.theta)
        assert str(f1.summary()) == str(f2.summary())


def test_expression_source_round_trip():
    m = pf.Model("e")
    X, z = m.data("X", ("n", "p")), m.data("z", ("n",), kind="integer")
    w, mu = m.param("w", ("p",)), m.param("mu", ("k",))
    a = m.param("a", support="positive")
    exprs = [X @ w - -mu[z] / a ** 2.0, pf.exp(-(X[:, 0] * a)) + 1.0,
             (X @ w + 1.0) * (2.0 - mu[z]), pf.softplus(X[:, 1:2] @ w[1:2])]
    names = {"X": X, "z": z, "w": w, "mu": mu, "a": a}
    from probfit.spec.parse import parse_expr

    for e in exprs:
        again = parse_expr(e.to_source(), names, "test")
        assert again.to_source() == e.to_source()


def test_spec_distribution_arguments_are_checked_before_the_call(monkeypatch):
    from probfit.dsl import model as model_module

    m = pf.Model("s")
    y = m.data("y", ("n",))
    m.observe(y, pf.Normal(m.param("mu"), 1.0))
    spec = m.to_spec().to_dict()
    spec["observe"][0]["args"]["spread"] = 2.0
    with pytest.raises(pf.SpecError, match="Normal does not accept these arguments"):
        pf.Model.from_spec(spec)

    class Broken(pf.Normal):
        def __init__(self, loc, scale):
            raise TypeError("raised inside the constructor")

    monkeypatch.setitem(model_module.DISTRIBUTIONS, "Normal", Broken)
    with pytest.raises(TypeError, match="raised inside the constructor"):
        pf.Model.from_spec(m.to_spec().to_dict())
