"""Success-probability parameterizations of the Bernoulli and binomial families (private).

Each link maps its argument ``eta`` to ``log p`` and ``log(1 - p)`` and gives their first and
second derivatives in ``eta``, all computed in log space so that they stay finite and accurate
for linear predictors far in either tail (``|eta|`` of 40 and beyond).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from probfit.numerics import (
    d2_log_ndtr,
    d_log_ndtr,
    exp_neg_abs,
    log1mexp,
    log_ndtr,
    log_sigmoid,
    sigmoid,
)

__all__ = ["LINKS", "Link"]


class Link:
    """``p = p(eta)`` for the ``p`` argument itself (the identity link on ``(0, 1)``)."""

    def lp(self, e: np.ndarray) -> np.ndarray:
        """``log p``."""
        return np.log(e)

    def lq(self, e: np.ndarray) -> np.ndarray:
        """``log(1 - p)``."""
        return np.log1p(-e)

    def dlp(self, e: np.ndarray) -> np.ndarray:
        """``d log p / d eta``."""
        return 1.0 / e

    def dlq(self, e: np.ndarray) -> np.ndarray:
        """``d log(1 - p) / d eta``."""
        return -1.0 / (1.0 - e)

    def d2lp(self, e: np.ndarray) -> np.ndarray:
        """``d² log p / d eta²``."""
        return -1.0 / (e * e)

    def d2lq(self, e: np.ndarray) -> np.ndarray:
        """``d² log(1 - p) / d eta²``."""
        return -1.0 / ((1.0 - e) * (1.0 - e))

    def p(self, e: np.ndarray) -> np.ndarray:
        """The success probability."""
        return np.asarray(e, dtype=float)

    def lx(self, x: np.ndarray, e: np.ndarray) -> np.ndarray:
        """``log p`` where ``x == 1`` and ``log(1 - p)`` where ``x == 0``."""
        return np.where(x == 1.0, self.lp(e), self.lq(e))

    def dlx(self, x: np.ndarray, e: np.ndarray) -> np.ndarray:
        """``d lx / d eta``."""
        return np.where(x == 1.0, self.dlp(e), self.dlq(e))

    def d2lx(self, x: np.ndarray, e: np.ndarray) -> np.ndarray:
        """``d² lx / d eta²``."""
        return np.where(x == 1.0, self.d2lp(e), self.d2lq(e))

    def info(self, e: np.ndarray) -> np.ndarray:
        """``-E[d² lx / d eta²] = -d log p · d log(1 - p)``, the Fisher information in ``eta``."""
        return -self.dlp(e) * self.dlq(e)

    def row_terms(self, x: np.ndarray, e: np.ndarray, order: int, expected: bool = False,
                  value: bool = True
                  ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """``lx`` (unless ``value`` is false) and, up to ``order``, its first and second
        derivatives (``expected``: ``-info``), per row: a Bernoulli likelihood's inner loop
        (:meth:`~probfit.distributions._core.Family.row_terms`)."""
        lp = None
        if value:
            with np.errstate(divide="ignore", invalid="ignore"):
                lp = self.lx(x, e)
        if order == 0:
            return lp, None, None
        d1 = self.dlx(x, e)
        if order == 1:
            return lp, d1, None
        return lp, d1, -self.info(e) if expected else self.d2lx(x, e)


class Logit(Link):
    """``p = sigmoid(eta)``."""

    def lp(self, e: np.ndarray) -> np.ndarray:
        return log_sigmoid(e)

    def lq(self, e: np.ndarray) -> np.ndarray:
        return log_sigmoid(-e)

    def dlp(self, e: np.ndarray) -> np.ndarray:
        return sigmoid(-e)

    def dlq(self, e: np.ndarray) -> np.ndarray:
        return -sigmoid(e)

    def p(self, e: np.ndarray) -> np.ndarray:
        return sigmoid(e)

    def lx(self, x: np.ndarray, e: np.ndarray) -> np.ndarray:
        return self.row_terms(x, e, 0)[0]

    def dlx(self, x: np.ndarray, e: np.ndarray) -> np.ndarray:
        return self.row_terms(x, e, 1, value=False)[1]

    def d2lx(self, x: np.ndarray, e: np.ndarray) -> np.ndarray:
        return -self.info(e)

    def info(self, e: np.ndarray) -> np.ndarray:
        a = exp_neg_abs(e)
        u = 1.0 + a
        return a / (u * u)

    # The elementwise hot path of a logistic fit, one ufunc call after another on shared
    # temporaries (their count sets its cost on a block of a few thousand rows): with
    # a = exp(-|eta|) and the outcome's sign σ = 2x - 1, log p(x) = log sigmoid(σ·eta) =
    # min(σ·eta, 0) - log1p(a), the score is σ·sigmoid(-σ·eta) = σ·(1 or a)/(1 + a) and the
    # curvature, observed and expected alike, -sigmoid(eta)·sigmoid(-eta) = -a/(1 + a)². All
    # keep full relative precision in both tails; x is 0 or 1 (|σ·eta| = |eta|). The score's
    # (1 or a) is max(a, [σ·eta ≤ 0]), as a ≤ 1: half the time of a where().
    def row_terms(self, x: np.ndarray, e: np.ndarray, order: int, expected: bool = False,
                  value: bool = True
                  ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        a = exp_neg_abs(e)
        sign = 2.0 * x - 1.0
        t = sign * e
        lp = None
        if value:
            lp = np.minimum(t, 0.0)
            lp -= np.log1p(a)
        if order == 0:
            return lp, None, None
        u = 1.0 + a
        d1 = np.maximum(a, t <= 0.0)
        d1 /= u
        d1 *= sign
        if order == 1:
            return lp, d1, None
        return lp, d1, -a / (u * u)

    def d2lp(self, e: np.ndarray) -> np.ndarray:
        return -self.info(e)

    def d2lq(self, e: np.ndarray) -> np.ndarray:
        return -self.info(e)


class Probit(Link):
    """``p = Phi(eta)``; derivatives through the inverse Mills ratio in both tails."""

    def lp(self, e: np.ndarray) -> np.ndarray:
        return log_ndtr(e)

    def lq(self, e: np.ndarray) -> np.ndarray:
        return log_ndtr(-e)

    def dlp(self, e: np.ndarray) -> np.ndarray:
        return d_log_ndtr(e)

    def dlq(self, e: np.ndarray) -> np.ndarray:
        return -d_log_ndtr(-e)

    def d2lp(self, e: np.ndarray) -> np.ndarray:
        return d2_log_ndtr(e)

    def d2lq(self, e: np.ndarray) -> np.ndarray:
        return d2_log_ndtr(-e)

    def p(self, e: np.ndarray) -> np.ndarray:
        return special.ndtr(e)


def _one_minus_u_over_1mexp(u: np.ndarray) -> np.ndarray:
    """``1 - u / (1 - exp(-u))`` for ``u >= 0``; a Bernoulli-number series below 0.01."""
    u = np.asarray(u, dtype=float)
    small = u < 0.01
    w = u * u
    series = -u * (0.5 + u * (1.0 / 12.0 + w * (-1.0 / 720.0 + w * (1.0 / 30240.0))))
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = 1.0 - 1.0 / special.exprel(-u)
    return np.where(small, series, direct)


class CLogLog(Link):
    """``p = 1 - exp(-exp(eta))``, with ``u = exp(eta)``: ``log(1 - p) = -u``."""

    def lp(self, e: np.ndarray) -> np.ndarray:
        e = np.asarray(e, dtype=float)
        u = np.exp(e)
        # log(1 - e^-u) = eta + log((1 - e^-u)/u) keeps precision when u underflows
        with np.errstate(divide="ignore"):
            tail = log1mexp(-u)
        return np.where(u < 1.0, e + np.log(special.exprel(-u)), tail)

    def lq(self, e: np.ndarray) -> np.ndarray:
        return -np.exp(e)

    def dlp(self, e: np.ndarray) -> np.ndarray:
        u = np.exp(e)
        return np.exp(-u) / special.exprel(-u)

    def dlq(self, e: np.ndarray) -> np.ndarray:
        return -np.exp(e)

    def d2lp(self, e: np.ndarray) -> np.ndarray:
        u = np.exp(e)
        return np.exp(-u) / special.exprel(-u) * _one_minus_u_over_1mexp(u)

    def d2lq(self, e: np.ndarray) -> np.ndarray:
        return -np.exp(e)

    def p(self, e: np.ndarray) -> np.ndarray:
        return -np.expm1(-np.exp(e))


LINKS: dict[str, Link] = {"p": Link(), "logit": Logit(), "probit": Probit(),
                          "cloglog": CLogLog()}
