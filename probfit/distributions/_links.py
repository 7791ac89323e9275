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

    # ``memo``: a dict made afresh for each evaluation at one ``eta``, in which a link may
    # keep what ``lx``, ``dlx``, ``d2lx`` and ``info`` have in common (the logit link keeps
    # ``exp(-|eta|)``), so that a value and its derivatives share it
    def lx(self, x: np.ndarray, e: np.ndarray, memo: dict | None = None) -> np.ndarray:
        """``log p`` where ``x == 1`` and ``log(1 - p)`` where ``x == 0``."""
        return np.where(x == 1.0, self.lp(e), self.lq(e))

    def dlx(self, x: np.ndarray, e: np.ndarray, memo: dict | None = None) -> np.ndarray:
        """``d lx / d eta``."""
        return np.where(x == 1.0, self.dlp(e), self.dlq(e))

    def d2lx(self, x: np.ndarray, e: np.ndarray, memo: dict | None = None) -> np.ndarray:
        """``d² lx / d eta²``."""
        return np.where(x == 1.0, self.d2lp(e), self.d2lq(e))

    def info(self, e: np.ndarray, memo: dict | None = None) -> np.ndarray:
        """``-E[d² lx / d eta²] = -d log p · d log(1 - p)``, the Fisher information in ``eta``."""
        return -self.dlp(e) * self.dlq(e)


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

    # The elementwise hot path of a logistic fit: with a = exp(-|eta|) (taken once per
    # evaluation, kept in ``memo``) and the outcome's sign σ = 2x - 1, log p(x) =
    # log sigmoid(σ·eta) = min(σ·eta, 0) - log1p(a), the score is σ·sigmoid(-σ·eta) =
    # σ·(1 or a)/(1 + a) and the curvature sigmoid(eta)·sigmoid(-eta) = a/(1 + a)². All keep
    # full relative precision in both tails; x is 0 or 1 (|σ·eta| = |eta|).
    @staticmethod
    def _a(e: np.ndarray, memo: dict | None) -> np.ndarray:
        if memo is None:
            return exp_neg_abs(e)
        if "logit_exp_neg_abs" not in memo:
            memo["logit_exp_neg_abs"] = exp_neg_abs(e)
        return memo["logit_exp_neg_abs"]

    def lx(self, x: np.ndarray, e: np.ndarray, memo: dict | None = None) -> np.ndarray:
        out = np.minimum((2.0 * x - 1.0) * e, 0.0)
        out -= np.log1p(self._a(e, memo))
        return out

    def dlx(self, x: np.ndarray, e: np.ndarray, memo: dict | None = None) -> np.ndarray:
        sign = 2.0 * x - 1.0
        a = self._a(e, memo)
        t = np.where(sign * e <= 0.0, 1.0, a)
        t /= 1.0 + a
        t *= sign
        return t

    def d2lx(self, x: np.ndarray, e: np.ndarray, memo: dict | None = None) -> np.ndarray:
        return -self.info(e, memo)

    def info(self, e: np.ndarray, memo: dict | None = None) -> np.ndarray:
        a = self._a(e, memo)
        b = 1.0 + a
        b *= b
        return a / b

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
