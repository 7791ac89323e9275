"""The GLM mean start: the intercept matches the link of a slightly shrunk response in least
squares, and the design's coefficients stay at 0 (R's ``glm`` starts the same way). The
least-squares solve adds a ridge of 1e-10 relative, hence the tolerance."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

import probfit as pf
from probfit.compile.start import initial_theta

RNG = np.random.default_rng(5)
N, P = 500, 3
X = RNG.normal(size=(N, P))
BINARY = (RNG.random(N) < 0.3).astype(float)
COUNTS = RNG.poisson(2.0, N).astype(float)


def _start(dist) -> dict[str, np.ndarray]:
    m = pf.Model("start")
    x, y = m.data("X", ("n", "p")), m.data("y", ("n",))
    likelihood = dist(x @ m.param("w", ("p",)) + m.param("b"))
    m.observe(y, likelihood)
    obj = m.compile({"X": X, "y": COUNTS if isinstance(likelihood, pf.Poisson) else BINARY},
                    "mle")
    return obj.layout.unpack(initial_theta(obj))


@pytest.mark.parametrize(("link", "g"), [
    ("logit", special.logit),
    ("probit", special.ndtri),
    ("cloglog", lambda m: np.log(-np.log1p(-m))),
])
def test_bernoulli_intercept_is_the_mean_link_of_the_shrunk_response(link, g):
    start = _start(lambda eta: pf.Bernoulli(**{link: eta}))
    # μ₀ = (y + 1/2) / 2, one value per row, and the least-squares intercept is their mean
    assert float(start["b"]) == pytest.approx(np.mean(g((BINARY + 0.5) / 2.0)), rel=1e-9)
    assert np.all(start["w"] == 0.0)


def test_poisson_intercept_is_the_mean_log_of_the_shifted_counts():
    start = _start(lambda eta: pf.Poisson(log_rate=eta))
    assert float(start["b"]) == pytest.approx(np.mean(np.log(COUNTS + 0.1)), rel=1e-9)
    assert np.all(start["w"] == 0.0)


def test_an_offset_is_taken_out_of_the_intercept():
    """With a per-row offset ``c`` in the predictor the intercept is the mean of the target less
    the offset, and an intercept entered twice (``b − a``) shares it (the minimum-norm split,
    to the precision of the solve of its singular normal equations)."""
    m = pf.Model("start")
    x, y, off = m.data("X", ("n", "p")), m.data("y", ("n",)), m.data("off", ("n",))
    b, a = m.param("b"), m.param("a")
    m.observe(y, pf.Poisson(log_rate=x @ m.param("w", ("p",)) + b - a + off))
    offset = RNG.normal(size=N)
    obj = m.compile({"X": X, "y": COUNTS, "off": offset}, "mle")
    start = obj.layout.unpack(initial_theta(obj))
    mean = np.mean(np.log(COUNTS + 0.1) - offset)
    assert float(start["b"]) == pytest.approx(mean / 2.0, rel=1e-5)
    assert float(start["a"]) == pytest.approx(-mean / 2.0, rel=1e-5)
    assert np.all(start["w"] == 0.0)
