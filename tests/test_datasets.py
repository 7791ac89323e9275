"""Tests of the bundled datasets (probfit.datasets)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from probfit import datasets
from probfit.errors import DataError

EXPECTED = {
    "breast_cancer": (
        569,
        [
            "radius_mean",
            "texture_mean",
            "perimeter_mean",
            "area_mean",
            "smoothness_mean",
            "compactness_mean",
            "concavity_mean",
            "concave_points_mean",
            "symmetry_mean",
            "fractal_dimension_mean",
            "malignant",
        ],
    ),
    "dobson": (9, ["counts", "outcome", "treatment"]),
    "clotting": (9, ["u", "lot1", "lot2"]),
    "budworm": (12, ["ldose", "numdead", "total", "sex"]),
    "faithful": (272, ["eruptions", "waiting"]),
    "iris": (150, ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]),
}
CATEGORICAL = {
    ("dobson", "outcome"),
    ("dobson", "treatment"),
    ("budworm", "sex"),
    ("iris", "species"),
}
#: Datasets the GLM reference fits used that are no longer bundled (licences neither public
#: domain nor CC BY); their X and y stay embedded in tests/reference/glm_reference.json.
REMOVED = {"spector", "scotland", "cpunish"}


def test_names_lists_every_dataset():
    assert datasets.names() == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shape_columns_and_metadata(name):
    ds = datasets.load(name)
    n, cols = EXPECTED[name]
    assert isinstance(ds, datasets.Dataset)
    assert ds.name == name
    assert ds.columns == cols
    assert ds.n_rows == n
    for col, arr in ds.data.items():
        assert arr.ndim == 1 and arr.shape == (n,), col
        if (name, col) in CATEGORICAL:
            assert arr.dtype.kind == "U", col
            assert all(len(v) > 0 for v in arr), col
        else:
            assert arr.dtype == np.float64, col
            assert np.all(np.isfinite(arr)), col
    for text in (ds.description, ds.source, ds.license):
        assert isinstance(text, str) and len(text) > 20
    assert set(ds.column_descriptions) == set(cols)


def test_load_returns_fresh_arrays():
    a = datasets.load("clotting")
    a.data["lot1"][0] = -1.0
    assert datasets.load("clotting").data["lot1"][0] == 118.0


def test_dataset_is_frozen():
    ds = datasets.load("dobson")
    with pytest.raises(AttributeError):
        ds.name = "other"  # type: ignore[misc]


def test_unknown_name_lists_available():
    with pytest.raises(DataError) as exc:
        datasets.load("no_such_data")
    msg = str(exc.value)
    assert "no_such_data" in msg
    for name in EXPECTED:
        assert name in msg


def test_unknown_column_names_columns():
    ds = datasets.load("clotting")
    np.testing.assert_array_equal(ds["lot1"], ds.data["lot1"])
    with pytest.raises(DataError, match="u, lot1, lot2"):
        ds["LOT1"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_licence_is_public_domain_or_cc_by(name):
    text = datasets.load(name).license
    assert text.startswith(("public domain", "CC BY 4.0")), text


def test_breast_cancer_known_values():
    d = datasets.load("breast_cancer").data
    assert d["radius_mean"][0] == 17.99 and d["area_mean"][0] == 1001
    assert d["malignant"].sum() == 212 and set(np.unique(d["malignant"])) == {0.0, 1.0}
    assert d["fractal_dimension_mean"][-1] == 0.05884


def test_iris_known_values():
    d = datasets.load("iris").data
    assert [d[c][0] for c in ("sepal_length", "sepal_width", "petal_length", "petal_width")] \
        == [5.1, 3.5, 1.4, 0.2]
    assert list(np.unique(d["species"], return_counts=True)[1]) == [50, 50, 50]
    assert d["petal_length"].mean() == pytest.approx(3.758, abs=5e-4)


def test_dobson_values():
    d = datasets.load("dobson").data
    np.testing.assert_array_equal(d["counts"], [18, 17, 15, 20, 10, 20, 25, 13, 12])
    assert list(d["outcome"]) == ["1", "2", "3"] * 3
    assert list(d["treatment"]) == ["1"] * 3 + ["2"] * 3 + ["3"] * 3


def test_clotting_values():
    d = datasets.load("clotting").data
    np.testing.assert_array_equal(d["u"], [5, 10, 15, 20, 30, 40, 60, 80, 100])
    np.testing.assert_array_equal(d["lot1"], [118, 58, 42, 35, 27, 25, 21, 19, 18])
    np.testing.assert_array_equal(d["lot2"], [69, 35, 26, 21, 18, 16, 13, 12, 12])


def test_budworm_values():
    d = datasets.load("budworm").data
    np.testing.assert_array_equal(d["ldose"], np.tile(np.arange(6.0), 2))
    np.testing.assert_array_equal(d["numdead"], [1, 4, 9, 13, 18, 20, 0, 2, 6, 10, 12, 16])
    np.testing.assert_array_equal(d["total"], np.full(12, 20.0))
    assert list(d["sex"]) == ["M"] * 6 + ["F"] * 6


def test_faithful_values_and_summaries():
    d = datasets.load("faithful").data
    first = [(3.600, 79), (1.800, 54), (3.333, 74), (2.283, 62), (4.533, 85)]
    for i, (e, w) in enumerate(first):
        assert d["eruptions"][i] == e and d["waiting"][i] == w
    assert (d["eruptions"][-1], d["waiting"][-1]) == (4.467, 74)
    # R: mean(faithful$eruptions) 3.487783, mean(faithful$waiting) 70.89706, cor 0.9008112
    assert d["eruptions"].mean() == pytest.approx(3.487783, abs=5e-7)
    assert d["waiting"].mean() == pytest.approx(70.89706, abs=5e-6)
    assert np.corrcoef(d["eruptions"], d["waiting"])[0, 1] == pytest.approx(0.9008112, abs=5e-8)
    assert d["eruptions"].min() == 1.6 and d["eruptions"].max() == 5.1
    assert d["waiting"].min() == 43 and d["waiting"].max() == 96


# --- the GLM reference file (tests/reference/glm_reference.json) uses these datasets ---------

REFERENCE = Path(__file__).parent / "reference" / "glm_reference.json"


def _reference_cases():
    return json.loads(REFERENCE.read_text(encoding="utf-8"))["cases"]


def _mean(link, eta):
    return {
        "logit": special.expit,
        "probit": special.ndtr,
        "log": np.exp,
        "inverse": np.reciprocal,
    }[link](eta)


@pytest.mark.parametrize("key", sorted(_reference_cases()))
def test_glm_reference_is_consistent_with_datasets(key):
    case = _reference_cases()[key]
    X, y = np.array(case["X"]), np.array(case["y"])
    p = len(case["design_columns"])
    assert X.shape == (y.size, p)
    assert np.all(X[:, 0] == 1.0) and case["design_columns"][0] == "Intercept"
    if case["dataset"] in REMOVED:
        assert case["dataset"] not in datasets.names()
    else:
        ds = datasets.load(case["dataset"])
        assert y.shape == (ds.n_rows,)
        response = case["formula"].split("~")[0].strip()
        column = {"cbind(numdead, 20 - numdead)": "numdead"}.get(response, response)
        np.testing.assert_array_equal(y, ds[column])
    beta = np.array(case["coef"])
    mu = _mean(case["link"], X @ beta)
    if case["family"] == "binomial":
        n = np.ones_like(y) if case["trials"] is None else np.array(case["trials"])
        ll = stats.binom.logpmf(y, n, mu).sum()
    elif case["family"] == "poisson":
        ll = stats.poisson.logpmf(y, mu).sum()
    else:
        k = case["shape"]
        assert case["scale"] == pytest.approx(1.0 / k, rel=1e-15)
        ll = stats.gamma.logpdf(y, a=k, scale=mu / k).sum()
    assert ll == pytest.approx(case["loglik"], rel=1e-10)
    assert case["aic"] == pytest.approx(-2 * ll + 2 * case["n_params"], rel=1e-10)
    assert case["bic"] == pytest.approx(-2 * ll + case["n_params"] * np.log(len(y)), rel=1e-10)
    assert np.array(case["se"]) == pytest.approx(np.sqrt(np.diag(case["cov"])), rel=1e-12)
