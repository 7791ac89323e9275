"""Supports and argument domains: the sets a value or a distribution argument must lie in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Constraint",
    "integer_interval",
    "interval",
    "nonnegative",
    "nonnegative_integer",
    "positive",
    "positive_vector",
    "real",
    "real_vector",
    "simplex",
    "unit_interval",
]


@dataclass(frozen=True)
class Constraint:
    """A set of admissible values.

    Parameters
    ----------
    name
        Short name used in messages and spec files (``"positive"``, ``"simplex"`` ...).
    event_ndim
        0 for elementwise sets, 1 when the last axis forms one point (simplex).
    discrete
        True for sets of integers.
    lower, upper
        Bounds for interval-like sets (``None`` when unbounded).
    """

    name: str
    event_ndim: int = 0
    discrete: bool = False
    lower: float | None = None
    upper: float | None = None
    open_lower: bool = True
    open_upper: bool = True

    def check(self, x: np.ndarray) -> np.ndarray:
        """Boolean mask of the entries (or events) of ``x`` inside the set."""
        x = np.asarray(x, dtype=float)
        ok = np.isfinite(x)
        if self.discrete:
            ok &= x == np.round(x)
        if self.lower is not None:
            ok &= (x > self.lower) if self.open_lower else (x >= self.lower)
        if self.upper is not None:
            ok &= (x < self.upper) if self.open_upper else (x <= self.upper)
        if self.name == "simplex":
            ok = ok.all(axis=-1) & (np.abs(x.sum(axis=-1) - 1.0) <= 1e-8 * x.shape[-1])
        elif self.event_ndim == 1:
            ok = ok.all(axis=-1)
        return ok

    def describe(self) -> str:
        """A human phrase for error messages, e.g. ``"> 0"`` or ``"an integer in [0, 5]"``."""
        if self.name == "real":
            return "a finite real number"
        if self.name == "simplex":
            return "a probability vector (non-negative, summing to 1)"
        lo = "-inf" if self.lower is None else f"{self.lower:g}"
        hi = "inf" if self.upper is None else f"{self.upper:g}"
        left = "(" if self.open_lower or self.lower is None else "["
        right = ")" if self.open_upper or self.upper is None else "]"
        kind = "an integer" if self.discrete else "a number"
        return f"{kind} in {left}{lo}, {hi}{right}"


real = Constraint("real")
real_vector = Constraint("real_vector", event_ndim=1)
positive = Constraint("positive", lower=0.0)
nonnegative = Constraint("nonnegative", lower=0.0, open_lower=False)
positive_vector = Constraint("positive_vector", event_ndim=1, lower=0.0)
unit_interval = Constraint("unit_interval", lower=0.0, upper=1.0)
nonnegative_integer = Constraint("nonnegative_integer", discrete=True, lower=0.0, open_lower=False)
simplex = Constraint("simplex", event_ndim=1, lower=0.0, upper=1.0, open_lower=False,
                     open_upper=False)


def interval(lower: float, upper: float) -> Constraint:
    """The open interval ``(lower, upper)``."""
    return Constraint("interval", lower=float(lower), upper=float(upper))


def integer_interval(lower: int, upper: int | None) -> Constraint:
    """Integers in ``[lower, upper]`` (``upper=None``: unbounded above)."""
    return Constraint("integer_interval", discrete=True, lower=float(lower),
                      upper=None if upper is None else float(upper),
                      open_lower=False, open_upper=False)
