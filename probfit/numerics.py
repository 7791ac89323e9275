"""Numerically stable elementwise primitives shared by distributions, expressions and engines.

Everything here works in float64 and in log space where it matters: no function overflows for
large ``|x|`` and none loses the small tail probabilities.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = [
    "d2_log_ndtr",
    "d_log_ndtr",
    "digamma_diff",
    "exp_neg_abs",
    "lgamma_diff",
    "log1mexp",
    "log_factorial",
    "log_ndtr",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "sigmoid",
    "softmax",
    "softplus",
    "trigamma_diff",
]


# The logistic family is written in numpy's vectorised exp/log1p (several times faster per
# element than scipy's expit/log_expit on large arrays): with a = exp(-|x|) <= 1 nothing
# overflows, and no difference of nearly equal numbers is formed, so both tails keep full
# relative precision. Arrays are worked on in place: two allocations per call instead of five
# (each fresh large array costs page faults comparable to the arithmetic).
def exp_neg_abs(x: np.ndarray) -> np.ndarray:
    """``exp(-|x|)`` in one new array (a plain value for a scalar)."""
    a = np.abs(x)
    if isinstance(a, np.ndarray) and a.ndim:
        np.negative(a, out=a)
        return np.exp(a, out=a)
    return np.exp(-a)


def _inplace(a: np.ndarray) -> bool:
    return isinstance(a, np.ndarray) and a.ndim > 0 and a.dtype == np.float64


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-x)) = exp(min(x, 0)) / (1 + exp(-|x|))``, where
    ``exp(min(x, 0))`` is 1 or ``exp(-|x|)``: one ``exp`` per element."""
    a = exp_neg_abs(x)
    top = np.where(np.asarray(x) >= 0.0, 1.0, a)
    if not (_inplace(a) and _inplace(top)):
        return top / (1.0 + a)
    a += 1.0
    top /= a
    return top


def log_sigmoid(x: np.ndarray) -> np.ndarray:
    """``log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))``."""
    a = exp_neg_abs(x)
    top = np.minimum(x, 0.0)
    if not (_inplace(a) and _inplace(top)):
        return top - np.log1p(a)
    top -= np.log1p(a, out=a)
    return top


def softplus(x: np.ndarray) -> np.ndarray:
    """``log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))``."""
    a = exp_neg_abs(x)
    top = np.maximum(x, 0.0)
    if not (_inplace(a) and _inplace(top)):
        return top + np.log1p(a)
    top += np.log1p(a, out=a)
    return top


def log_factorial(x: np.ndarray) -> np.ndarray:
    """``log(x!)`` for non-negative integer-valued ``x`` (other entries: ``gammaln(x + 1)``).

    Large arrays of moderate counts (the common case of count data) are served from a table of
    ``gammaln(k + 1)``, which costs a gather instead of a ``gammaln`` per entry.
    """
    x = np.asarray(x, dtype=float)
    if x.size >= 4096:
        low, high = np.min(x), np.max(x)
        if low >= 0.0 and high <= 1 << 16:
            k = x.astype(np.intp)
            if np.array_equal(k, x):
                return special.gammaln(np.arange(int(high) + 1) + 1.0)[k]
    return special.gammaln(x + 1.0)


def log1mexp(x: np.ndarray) -> np.ndarray:
    """``log(1 - exp(x))`` for ``x <= 0`` (Mächler's two-branch formula)."""
    x = np.asarray(x, dtype=float)
    return np.where(x > -np.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def logsumexp(x: np.ndarray, axis: int | tuple[int, ...] | None = None) -> np.ndarray:
    """``log(sum(exp(x)))`` along ``axis``, shifted by the maximum."""
    return special.logsumexp(x, axis=axis)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``x - logsumexp(x)`` along ``axis``."""
    return special.log_softmax(x, axis=axis)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``exp(log_softmax(x))`` along ``axis``."""
    return special.softmax(x, axis=axis)


def log_ndtr(x: np.ndarray) -> np.ndarray:
    """``log(Phi(x))`` for the standard normal CDF, accurate far into the lower tail."""
    return special.log_ndtr(x)


def d_log_ndtr(x: np.ndarray) -> np.ndarray:
    """Derivative of ``log(Phi(x))``: the inverse Mills ratio ``phi(x) / Phi(x)``, in log space."""
    x = np.asarray(x, dtype=float)
    return np.exp(-0.5 * x * x - 0.5 * np.log(2.0 * np.pi) - special.log_ndtr(x))


def d2_log_ndtr(x: np.ndarray) -> np.ndarray:
    """Second derivative of ``log(Phi(x))``: ``-m(x) (x + m(x))`` with ``m = d_log_ndtr``.

    For ``x < -4`` the difference ``x + m(x)``, which cancels badly in the lower tail, comes from
    Laplace's continued fraction for the Mills ratio, ``x + m(x) = 1/(t + 2/(t + 3/(t + ...)))``
    with ``t = -x`` (60 terms: full double precision for ``t >= 4``).
    """
    x = np.asarray(x, dtype=float)
    out = np.empty(np.shape(x))
    tail = x < -4.0
    t = -x[tail]
    acc = np.zeros_like(t)
    for k in range(60, 1, -1):
        acc = k / (t + acc)
    c = 1.0 / (t + acc)
    out[tail] = -(t + c) * c
    body = x[~tail]
    m = d_log_ndtr(body)
    out[~tail] = -m * (body + m)
    return out[()] if out.ndim == 0 else out


_STIRLING_MIN = 25.0


def _stirling_tail(z: np.ndarray) -> np.ndarray:
    """``lgamma(z) - [(z - 1/2) log z - z + log(2 pi)/2]`` for ``z >= 25`` (5 terms)."""
    w = 1.0 / (z * z)
    return (1.0 / 12.0 + w * (-1.0 / 360.0 + w * (1.0 / 1260.0 + w * (-1.0 / 1680.0
            + w / 1188.0)))) / z


def _digamma_tail(z: np.ndarray) -> np.ndarray:
    """``digamma(z) - log z + 1/(2z)`` for ``z >= 25`` (5 terms)."""
    w = 1.0 / (z * z)
    return w * (-1.0 / 12.0 + w * (1.0 / 120.0 + w * (-1.0 / 252.0 + w * (1.0 / 240.0
                - w / 132.0))))


def _trigamma_tail(z: np.ndarray) -> np.ndarray:
    """``trigamma(z) - 1/z - 1/(2 z^2)`` for ``z >= 25`` (5 terms)."""
    w = 1.0 / (z * z)
    return w / z * (1.0 / 6.0 + w * (-1.0 / 30.0 + w * (1.0 / 42.0 + w * (-1.0 / 30.0
                    + w * 5.0 / 66.0))))


def _by_size(x: np.ndarray, r: np.ndarray, small, large) -> np.ndarray:
    """Apply ``small(x, r)`` where ``r < 25`` and ``large(x, r)`` elsewhere (broadcast)."""
    x, r = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(r, dtype=float))
    out = np.empty(x.shape)
    big = r >= _STIRLING_MIN
    out[~big] = small(x[~big], r[~big])
    out[big] = large(x[big], r[big])
    return out[()] if out.ndim == 0 else out


def lgamma_diff(x: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``lgamma(x + r) - lgamma(r)`` for ``x >= 0``, ``r > 0``, without cancellation for large r.

    For ``r >= 25`` the two Stirling series are subtracted term by term, so the result keeps
    full relative precision even when ``x`` is tiny compared with ``r`` (the Poisson limit of the
    negative binomial); below that the gammaln difference is exact to rounding.
    """

    def large(x: np.ndarray, r: np.ndarray) -> np.ndarray:
        u = x / r
        return (x * np.log(r) + ((x + r - 0.5) * np.log1p(u) - x)
                + (_stirling_tail(x + r) - _stirling_tail(r)))

    return _by_size(x, r, lambda x, r: special.gammaln(x + r) - special.gammaln(r), large)


def digamma_diff(x: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``digamma(x + r) - digamma(r)`` for ``x >= 0``, ``r > 0`` (see :func:`lgamma_diff`)."""

    def large(x: np.ndarray, r: np.ndarray) -> np.ndarray:
        return (np.log1p(x / r) + x / (2.0 * r * (x + r))
                + (_digamma_tail(x + r) - _digamma_tail(r)))

    return _by_size(x, r, lambda x, r: special.digamma(x + r) - special.digamma(r), large)


def trigamma_diff(x: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``trigamma(x + r) - trigamma(r)`` for ``x >= 0``, ``r > 0`` (see :func:`lgamma_diff`)."""

    def large(x: np.ndarray, r: np.ndarray) -> np.ndarray:
        s = x + r
        return (-x / (r * s) - x * (2.0 * r + x) / (2.0 * r * r * s * s)
                + (_trigamma_tail(s) - _trigamma_tail(r)))

    return _by_size(x, r, lambda x, r: special.polygamma(1, x + r) - special.polygamma(1, r),
                    large)
