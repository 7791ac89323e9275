"""Discrete distributions: Bernoulli, Binomial, Poisson, NegativeBinomial, Categorical.

Their support is a set of integers, so ``wrt`` never contains ``"value"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from scipy import special, stats

from probfit.distributions._core import Family, Pair, Thunk, Vals, one_of, require
from probfit.distributions._links import LINKS
from probfit.distributions.constraints import (
    Constraint,
    integer_interval,
    nonnegative_integer,
    positive,
    real,
    real_vector,
    simplex,
    unit_interval,
)
from probfit.errors import DistributionError
from probfit.numerics import (
    digamma_diff,
    lgamma_diff,
    log_factorial,
    log_softmax,
    softmax,
    softplus,
    trigamma_diff,
)

__all__ = ["Bernoulli", "Binomial", "Categorical", "NegativeBinomial", "Poisson"]

_LINK_DOMAINS: dict[str, Constraint] = {"logit": real, "p": unit_interval, "probit": real,
                                        "cloglog": real}


class Bernoulli(Family):
    r"""Bernoulli distribution on ``{0, 1}``, parameterized by one of four links.

    .. math:: \log p(x) = x \log p + (1 - x) \log(1 - p)

    Parameters
    ----------
    logit
        ``p = sigmoid(logit)`` (the canonical link).
    p
        The success probability itself, in ``(0, 1)``.
    probit
        ``p = Phi(probit)``, the standard normal CDF.
    cloglog
        ``p = 1 - exp(-exp(cloglog))``.

    Attributes
    ----------
    param
        Name of the argument given: the parameterization in use.

    Notes
    -----
    Exactly one argument must be given. ``log p`` and ``log(1 - p)`` and their derivatives are
    evaluated in log space for each link (``log_sigmoid``, ``log_ndtr`` and the inverse Mills
    ratio, ``log1mexp``), so values and derivatives stay accurate for ``|eta|`` up to 40 and
    beyond. The expected second derivative is ``d log p · d log(1 - p)`` (``-p(1 - p)`` for
    the logit link).
    """

    support: ClassVar[Constraint] = integer_interval(0, 1)
    domains: ClassVar[dict[str, Constraint]] = _LINK_DOMAINS

    def __init__(self, *, logit: Any = None, p: Any = None, probit: Any = None,
                 cloglog: Any = None) -> None:
        self.param = one_of("Bernoulli", logit=logit, p=p, probit=probit, cloglog=cloglog)
        super().__init__(logit=logit, p=p, probit=probit, cloglog=cloglog)
        self._link = LINKS[self.param]

    def _logp(self, x: np.ndarray, v: Vals) -> np.ndarray:
        return self._link.lx(x, v[self.param])

    def _grad(self, x: np.ndarray, v: Vals) -> dict[str, Thunk]:
        e, link = v[self.param], self._link
        return {self.param: lambda: link.dlx(x, e)}

    def _hess(self, x: np.ndarray, v: Vals) -> dict[Pair, Thunk]:
        e, link, n = v[self.param], self._link, self.param
        return {(n, n): lambda: link.d2lx(x, e)}

    def _ehess(self, v: Vals) -> dict[Pair, Thunk]:
        e, link, n = v[self.param], self._link, self.param
        return {(n, n): lambda: -link.info(e)}

    def row_terms(self, x: np.ndarray, vals: Mapping[str, np.ndarray], arg: str, order: int,
                  hessian: str = "observed", value: bool = True, base: bool = True
                  ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """:meth:`Family.row_terms <probfit.distributions._core.Family.row_terms>` by the
        link's own inner loop (for the logit link, the value and both derivatives share their
        temporaries). ``log p`` has no :meth:`log_base` terms, so ``base`` changes nothing."""
        e = self._vals(vals)[self.param]
        return self._link.row_terms(x, e, order, hessian == "expected", value)

    def _sample(self, rng: np.random.Generator, v: Vals, shape: tuple[int, ...]) -> np.ndarray:
        return rng.random(shape) < self._link.p(v[self.param])

    def _mean(self, v: Vals) -> np.ndarray:
        return self._link.p(v[self.param])

    def _var(self, v: Vals) -> np.ndarray:
        e = v[self.param]
        return np.exp(self._link.lp(e) + self._link.lq(e))


class Binomial(Family):
    r"""Binomial distribution: successes in ``trials`` independent Bernoulli trials.

    .. math:: \log p(x) = \log\binom{n}{x} + x \log p + (n - x) \log(1 - p)

    Parameters
    ----------
    trials
        Number of trials ``n``, a non-negative integer (never differentiated).
    logit, p, probit, cloglog
        The success probability, exactly one of them, as in :class:`Bernoulli`.

    Attributes
    ----------
    param
        Name of the argument given: the parameterization in use.

    Notes
    -----
    The support is the integers ``0..trials`` row by row. The log binomial coefficient is
    computed with :func:`~probfit.numerics.log_factorial` and is the family's
    :meth:`log_base`. The expected second derivative is ``n · d log p · d log(1 - p)``.
    """

    support: ClassVar[Constraint] = nonnegative_integer
    domains: ClassVar[dict[str, Constraint]] = {"trials": nonnegative_integer, **_LINK_DOMAINS}
    nondiff: ClassVar[tuple[str, ...]] = ("trials",)

    def __init__(self, trials: Any, *, logit: Any = None, p: Any = None, probit: Any = None,
                 cloglog: Any = None) -> None:
        require("Binomial", trials=trials)
        self.param = one_of("Binomial", logit=logit, p=p, probit=probit, cloglog=cloglog)
        super().__init__(trials=trials, logit=logit, p=p, probit=probit, cloglog=cloglog)
        self._link = LINKS[self.param]

    def _in_support(self, x: np.ndarray, v: Vals) -> np.ndarray:
        ok = self.support.check(x)
        if "trials" in v:
            ok = ok & (x <= v["trials"])
        return ok

    def support_description(self, vals: Mapping[str, np.ndarray]) -> str:
        """``"an integer in [0, n]"``, with ``n`` shown when it is a single number."""
        n = self._partial_vals(vals).get("trials")
        if n is not None and np.size(n) == 1:
            return f"an integer in [0, {float(np.ravel(n)[0]):g}] (trials)"
        return "an integer in [0, trials] (trials given per row)"

    def _log_base(self, x: np.ndarray, v: Vals) -> np.ndarray:
        n = v["trials"]
        return log_factorial(n) - log_factorial(x) - log_factorial(n - x)

    def _logp(self, x: np.ndarray, v: Vals) -> np.ndarray:
        n, e = v["trials"], v[self.param]
        return _xlog(x, self._link.lp(e)) + _xlog(n - x, self._link.lq(e))

    def _grad(self, x: np.ndarray, v: Vals) -> dict[str, Thunk]:
        n, e, link = v["trials"], v[self.param], self._link
        return {self.param: lambda: x * link.dlp(e) + (n - x) * link.dlq(e)}

    def _hess(self, x: np.ndarray, v: Vals) -> dict[Pair, Thunk]:
        n, e, link, k = v["trials"], v[self.param], self._link, self.param
        return {(k, k): lambda: x * link.d2lp(e) + (n - x) * link.d2lq(e)}

    def _ehess(self, v: Vals) -> dict[Pair, Thunk]:
        n, e, link, k = v["trials"], v[self.param], self._link, self.param
        return {(k, k): lambda: -n * link.info(e)}

    def _sample(self, rng: np.random.Generator, v: Vals, shape: tuple[int, ...]) -> np.ndarray:
        n = np.broadcast_to(v["trials"], shape).astype(np.int64)
        return rng.binomial(n, np.broadcast_to(self._link.p(v[self.param]), shape))

    def _mean(self, v: Vals) -> np.ndarray:
        return v["trials"] * self._link.p(v[self.param])

    def _var(self, v: Vals) -> np.ndarray:
        e = v[self.param]
        return v["trials"] * np.exp(self._link.lp(e) + self._link.lq(e))


def _xlog(x: np.ndarray, logp: np.ndarray) -> np.ndarray:
    """``x * logp`` with ``0 * (-inf) = 0``."""
    return np.where(x == 0.0, 0.0, x * logp)


class Poisson(Family):
    r"""Poisson distribution on the non-negative integers.

    .. math:: \log p(x) = x \log\lambda - \lambda - \log\Gamma(x + 1)

    Parameters
    ----------
    rate
        The mean ``lambda > 0``.
    log_rate
        ``log lambda`` (the canonical log link).

    Attributes
    ----------
    param
        Name of the argument given: the parameterization in use.

    Notes
    -----
    Exactly one argument must be given. Expected second derivatives: ``-1/lambda`` for
    ``rate``, ``-lambda`` for ``log_rate``.
    """

    support: ClassVar[Constraint] = nonnegative_integer
    domains: ClassVar[dict[str, Constraint]] = {"rate": positive, "log_rate": real}

    def __init__(self, *, rate: Any = None, log_rate: Any = None) -> None:
        self.param = one_of("Poisson", rate=rate, log_rate=log_rate)
        super().__init__(rate=rate, log_rate=log_rate)

    def _rate(self, v: Vals) -> np.ndarray:
        """``lambda``; under the log link ``exp(log_rate)`` is kept in ``v`` (made afresh for
        every call of the protocol), so the value and its derivatives take it once."""
        if self.param == "rate":
            return v["rate"]
        if "exp_log_rate" not in v:
            v["exp_log_rate"] = np.exp(v["log_rate"])
        return v["exp_log_rate"]

    def _log_base(self, x: np.ndarray, v: Vals) -> np.ndarray:
        return -log_factorial(x)

    def _logp(self, x: np.ndarray, v: Vals) -> np.ndarray:
        if self.param == "rate":
            lam = v["rate"]
            return special.xlogy(x, lam) - lam
        return x * v["log_rate"] - self._rate(v)

    def _grad(self, x: np.ndarray, v: Vals) -> dict[str, Thunk]:
        if self.param == "rate":
            return {"rate": lambda: x / v["rate"] - 1.0}
        return {"log_rate": lambda: x - self._rate(v)}

    def _hess(self, x: np.ndarray, v: Vals) -> dict[Pair, Thunk]:
        if self.param == "rate":
            return {("rate", "rate"): lambda: -x / v["rate"] ** 2}
        return {("log_rate", "log_rate"): lambda: -self._rate(v)}

    def _ehess(self, v: Vals) -> dict[Pair, Thunk]:
        if self.param == "rate":
            return {("rate", "rate"): lambda: -1.0 / v["rate"]}
        return {("log_rate", "log_rate"): lambda: -self._rate(v)}

    def _sample(self, rng: np.random.Generator, v: Vals, shape: tuple[int, ...]) -> np.ndarray:
        return rng.poisson(np.broadcast_to(self._rate(v), shape))

    def _mean(self, v: Vals) -> np.ndarray:
        return self._rate(v)

    def _var(self, v: Vals) -> np.ndarray:
        return self._rate(v)


# tail probability neglected by the series for NegativeBinomial's expected dispersion curvature
_NB_TAIL = 1e-17


class NegativeBinomial(Family):
    r"""Negative binomial (NB2) distribution on the non-negative integers.

    With mean ``mu``, dispersion ``alpha`` and ``r = 1/alpha``,

    .. math::
        \log p(x) = \log\Gamma(x + r) - \log\Gamma(r) - \log\Gamma(x + 1)
                    - r \log(1 + \alpha\mu) + x \log\frac{\alpha\mu}{1 + \alpha\mu},

    so that ``E x = mu`` and ``Var x = mu + alpha mu^2`` (statsmodels' ``NegativeBinomial``
    convention; ``alpha -> 0`` is the Poisson limit).

    Parameters
    ----------
    mean
        ``mu > 0``.
    log_mean
        ``log mu`` (the log link).
    dispersion
        ``alpha > 0``.

    Attributes
    ----------
    param
        Name of the argument given: the parameterization in use.

    Notes
    -----
    Exactly one of ``mean`` and ``log_mean`` must be given. ``log Γ(x + r) - log Γ(r)`` and its
    derivatives use :func:`~probfit.numerics.lgamma_diff` and friends, which do not cancel for
    large ``r``. Toward the Poisson limit the dispersion derivatives still cancel terms of order
    ``1/alpha`` (first) and ``1/alpha²`` (second): at ``mu = 4`` the first derivative keeps
    about 1e-11 relative accuracy at ``alpha = 1e-4``, the second about 1e-9 at
    ``alpha = 1e-3`` and 1e-7 at ``alpha = 1e-4``.

    The expected second derivative in the dispersion has no closed form: it is
    ``r² mu / (1 + alpha mu) + r⁴ E[ψ'(x + r) - ψ'(r)]``, computed as a series over the support
    (rearranged for ``alpha mu < 1`` so that its terms stay O(1) as ``alpha -> 0``; it tends to
    the Poisson-limit value ``-mu²/2``), truncated at the 1e-17 tail quantiles. Its cost is one
    term per support point in the bulk of the distribution (from 0 when ``alpha mu < 1``) per
    distinct ``(mu, alpha)`` pair. The expected second derivatives in the mean argument are
    ``-1/(mu (1 + alpha mu))`` (``mean``) and ``-mu/(1 + alpha mu)`` (``log_mean``); the mixed
    ones are 0.
    """

    support: ClassVar[Constraint] = nonnegative_integer
    domains: ClassVar[dict[str, Constraint]] = {"mean": positive, "log_mean": real,
                                                "dispersion": positive}

    def __init__(self, *, mean: Any = None, log_mean: Any = None, dispersion: Any = None) -> None:
        require("NegativeBinomial", dispersion=dispersion)
        self.param = one_of("NegativeBinomial", mean=mean, log_mean=log_mean)
        super().__init__(mean=mean, log_mean=log_mean, dispersion=dispersion)

    def _mu(self, v: Vals) -> np.ndarray:
        return v["mean"] if self.param == "mean" else np.exp(v["log_mean"])

    def _log_t(self, v: Vals) -> np.ndarray:
        """``log(alpha mu)``."""
        lmu = np.log(v["mean"]) if self.param == "mean" else v["log_mean"]
        return np.log(v["dispersion"]) + lmu

    def _log_base(self, x: np.ndarray, v: Vals) -> np.ndarray:
        return -log_factorial(x)

    def _logp(self, x: np.ndarray, v: Vals) -> np.ndarray:
        a = v["dispersion"]
        r = 1.0 / a
        log_t = self._log_t(v)
        l1pt = softplus(log_t)
        return lgamma_diff(x, r) - r * l1pt + _xlog(x, log_t - l1pt)

    def _grad(self, x: np.ndarray, v: Vals) -> dict[str, Thunk]:
        a = v["dispersion"]
        r = 1.0 / a
        mu = self._mu(v)
        t1 = 1.0 + a * mu
        out: dict[str, Thunk] = {
            "dispersion": lambda: (r * r * (np.log1p(a * mu) - digamma_diff(x, r))
                                   + r * (x - mu) / t1)}
        if self.param == "mean":
            out["mean"] = lambda: (x - mu) / (mu * t1)
        else:
            out["log_mean"] = lambda: (x - mu) / t1
        return out

    def _hess(self, x: np.ndarray, v: Vals) -> dict[Pair, Thunk]:
        a = v["dispersion"]
        r = 1.0 / a
        mu = self._mu(v)
        t1 = 1.0 + a * mu
        p = self.param

        def aa() -> np.ndarray:
            b = np.log1p(a * mu) - digamma_diff(x, r)
            return (-2.0 * r**3 * b + r * r * mu / t1 + r**4 * trigamma_diff(x, r)
                    - r * r * (x - mu) / t1 - r * mu * (x - mu) / t1**2)

        out: dict[Pair, Thunk] = {("dispersion", "dispersion"): aa}
        if p == "mean":
            out[(p, p)] = lambda: -x / mu**2 + a * (1.0 + a * x) / t1**2
            out[("dispersion", p)] = lambda: -(x - mu) / t1**2
        else:
            out[(p, p)] = lambda: -mu * (1.0 + a * x) / t1**2
            out[("dispersion", p)] = lambda: -mu * (x - mu) / t1**2
        return out

    def _ehess(self, v: Vals) -> dict[Pair, Thunk]:
        a = v["dispersion"]
        mu = self._mu(v)
        t1 = 1.0 + a * mu
        p = self.param
        out: dict[Pair, Thunk] = {("dispersion", "dispersion"): lambda: _nb_e_aa(mu, a)}
        if p == "mean":
            out[(p, p)] = lambda: -1.0 / (mu * t1)
        else:
            out[(p, p)] = lambda: -mu / t1
        return out

    def _sample(self, rng: np.random.Generator, v: Vals, shape: tuple[int, ...]) -> np.ndarray:
        a = np.broadcast_to(v["dispersion"], shape)
        mu = np.broadcast_to(self._mu(v), shape)
        return rng.negative_binomial(1.0 / a, 1.0 / (1.0 + a * mu))

    def _mean(self, v: Vals) -> np.ndarray:
        return self._mu(v)

    def _var(self, v: Vals) -> np.ndarray:
        mu = self._mu(v)
        return mu + v["dispersion"] * mu * mu


def _nb_e_aa(mu: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``E[d² log p / d alpha²]`` of NB2 as a series over the support.

    With ``t = alpha mu``, ``r = 1/alpha`` and ``ψ'(x + r) - ψ'(r) = -Σ_{j<x} (r + j)^-2``:

    * for ``t >= 1``: ``r² mu/(1 + t) + r⁴ Σ_x p(x) (ψ'(x + r) - ψ'(r))`` over the bulk of
      the distribution (between its lower and upper ``_NB_TAIL`` quantiles);
    * for ``t < 1``: ``mu² + Σ_x p(x) C(x)`` with ``C(x) = Σ_{j<x} c_j`` and
      ``c_j = [mu² - 3j² - (2j - mu)(alpha j² (1 + t) + 2 t j)] / ((1 + t)(1 + alpha j)²)``,
      the same sum rearranged with ``E x = mu`` and ``E[x(x - 1) - mu x] = alpha mu²`` so that
      nothing of order ``1/alpha²`` cancels (the Poisson limit is ``-mu²/2``); ``x`` runs from 0
      to the upper quantile, so the cost grows with ``mu``.

    At worst about ``log10(mu)`` digits are lost to cancellation. Probabilities come from the
    stable log-pmf (:func:`~probfit.numerics.lgamma_diff`); distinct ``(mu, alpha)`` pairs are
    summed once each, 256 support points at a time.
    """
    mu_b, a_b = np.broadcast_arrays(np.asarray(mu, dtype=float), np.asarray(a, dtype=float))
    pairs, inverse = np.unique(np.stack([mu_b.ravel(), a_b.ravel()], axis=1), axis=0,
                               return_inverse=True)
    m, al = pairs[:, 0], pairs[:, 1]
    t = al * m
    r = 1.0 / al
    prob = 1.0 / (1.0 + t)
    # never below a Poisson(mu) 1e-17 quantile bound, in case isf is inaccurate for huge r
    hi = np.fmax(stats.nbinom.isf(_NB_TAIL, r, prob), np.ceil(m + 10.0 * np.sqrt(m) + 40.0))
    small = t < 1.0
    lo = np.where(small, 0.0, np.fmax(stats.nbinom.ppf(_NB_TAIL, r, prob), 0.0))
    acc = np.zeros(m.shape)
    carry = np.zeros(m.shape)  # C(x) at the start of the current block (t < 1)
    block = np.arange(256.0)
    offset = 0.0
    while True:
        on = lo + offset <= hi
        if not on.any():
            break
        x = (lo[on] + offset)[:, None] + block
        mo, ao, to, ro = m[on, None], al[on, None], t[on, None], r[on, None]
        log_pmf = (lgamma_diff(x, ro) - special.gammaln(x + 1.0) - ro * np.log1p(to)
                   + x * (np.log(to) - np.log1p(to)))
        pmf = np.where(x <= hi[on, None], np.exp(log_pmf), 0.0)
        term = np.empty(x.shape)
        sm = small[on]
        if sm.any():
            xs, ms, as_, ts = x[sm], mo[sm], ao[sm], to[sm]
            c = ((ms * ms - 3.0 * xs * xs - (2.0 * xs - ms) * (as_ * xs * xs * (1.0 + ts)
                                                             + 2.0 * ts * xs))
                 / ((1.0 + ts) * (1.0 + as_ * xs) ** 2))
            cum = np.cumsum(c, axis=1)
            term[sm] = carry[on][sm, None] + cum - c
            idx = np.flatnonzero(on)[sm]
            carry[idx] += cum[:, -1]
        if (~sm).any():
            term[~sm] = ro[~sm] ** 2 * trigamma_diff(x[~sm], ro[~sm])
        acc[on] += np.sum(pmf * term, axis=1)
        offset += block.size
    e_aa = np.where(small, m * m + acc, r * r * (m / (1.0 + t) + acc))
    return e_aa[inverse.ravel()].reshape(mu_b.shape)


class Categorical(Family):
    r"""Categorical distribution over labels ``0..k-1``.

    .. math:: \log p(x) = \log \pi_x, \qquad \pi = \mathrm{softmax}(\text{logits})

    Parameters
    ----------
    logits
        Unnormalized log probabilities; the last axis holds the ``k`` categories.
    probs
        Probabilities on the simplex (last axis ``k``).

    Attributes
    ----------
    param
        Name of the argument given: the parameterization in use.

    Notes
    -----
    Exactly one argument must be given. The observed value is an integer label array of the
    batch shape. Derivatives with respect to the argument carry a trailing axis of size ``k``
    (and the second derivative two): for ``logits``, ``onehot(x) - pi`` and
    ``-(diag(pi) - pi pi^T)`` (also the expected second derivative). For ``probs`` the ``k``
    probabilities are treated as free coordinates: ``d log p / d probs_j = [x = j] / probs_j``,
    second derivative ``-[x = j] δ_jl / probs_j²``, expected ``-δ_jl / probs_j``.
    ``mean_of`` returns the probability vector and ``variance_of`` the marginal variances
    ``pi (1 - pi)`` of the one-hot encoding.
    """

    support: ClassVar[Constraint] = nonnegative_integer
    event_ndim: ClassVar[int] = 1
    domains: ClassVar[dict[str, Constraint]] = {"logits": real_vector, "probs": simplex}

    def __init__(self, *, logits: Any = None, probs: Any = None) -> None:
        self.param = one_of("Categorical", logits=logits, probs=probs)
        value = logits if self.param == "logits" else probs
        if isinstance(value, (int, float, np.number)) or (
                isinstance(value, (np.ndarray, list, tuple)) and np.ndim(value) == 0):
            raise DistributionError(f"Categorical argument {self.param!r} must have a last "
                                    "axis of k categories, got a scalar")
        super().__init__(logits=logits, probs=probs)

    # ---------------------------------------------------------------- shapes
    def _batch_shape(self, x: np.ndarray, v: Vals) -> tuple[int, ...]:
        return np.broadcast_shapes(np.shape(x), np.shape(v[self.param])[:-1])

    def _param_shape(self, v: Vals) -> tuple[int, ...]:
        return np.shape(v[self.param])[:-1]

    def _event_shape(self, name: str, x: np.ndarray | None, v: Vals) -> tuple[int, ...]:
        return np.shape(v[self.param])[-1:]

    def _log_pi(self, v: Vals) -> np.ndarray:
        if self.param == "logits":
            return log_softmax(v["logits"], axis=-1)
        with np.errstate(divide="ignore"):
            return np.log(v["probs"])

    def _pi(self, v: Vals) -> np.ndarray:
        return softmax(v["logits"], axis=-1) if self.param == "logits" else v["probs"]

    def _onehot(self, x: np.ndarray, v: Vals) -> np.ndarray:
        k = np.shape(v[self.param])[-1]
        return (np.asarray(x)[..., None] == np.arange(k)).astype(float)

    # ---------------------------------------------------------------- support
    def _in_support(self, x: np.ndarray, v: Vals) -> np.ndarray:
        ok = self.support.check(x)
        if self.param in v:
            ok = ok & (x <= np.shape(v[self.param])[-1] - 1)
        return ok

    def support_description(self, vals: Mapping[str, np.ndarray]) -> str:
        """``"an integer label in [0, k-1]"`` with ``k`` shown when known."""
        v = self._partial_vals(vals)
        if self.param in v:
            return f"an integer label in [0, {np.shape(v[self.param])[-1] - 1}]"
        return "an integer label in [0, k-1]"

    # ---------------------------------------------------------------- formulas
    def _logp(self, x: np.ndarray, v: Vals) -> np.ndarray:
        log_pi = self._log_pi(v)
        k = log_pi.shape[-1]
        shape = self._batch_shape(x, v)
        idx = np.clip(np.nan_to_num(np.broadcast_to(x, shape)), 0, k - 1).astype(np.intp)
        log_pi = np.broadcast_to(log_pi, (*shape, k))
        return np.take_along_axis(log_pi, idx[..., None], axis=-1)[..., 0]

    def _grad(self, x: np.ndarray, v: Vals) -> dict[str, Thunk]:
        onehot = self._onehot(x, v)
        if self.param == "logits":
            return {"logits": lambda: onehot - self._pi(v)}
        probs = v["probs"]
        return {"probs": lambda: _ratio(onehot, probs)}

    def _hess(self, x: np.ndarray, v: Vals) -> dict[Pair, Thunk]:
        if self.param == "logits":
            return {("logits", "logits"): lambda: _neg_softmax_jac(self._pi(v))}
        onehot = self._onehot(x, v)
        probs = v["probs"]
        return {("probs", "probs"): lambda: _diag(-_ratio(onehot, probs * probs))}

    def _ehess(self, v: Vals) -> dict[Pair, Thunk]:
        if self.param == "logits":
            return {("logits", "logits"): lambda: _neg_softmax_jac(self._pi(v))}
        probs = v["probs"]
        return {("probs", "probs"): lambda: _diag(-_ratio(np.ones_like(probs), probs))}

    def _sample(self, rng: np.random.Generator, v: Vals, shape: tuple[int, ...]) -> np.ndarray:
        cum = np.cumsum(self._pi(v), axis=-1)
        u = rng.random(shape)[..., None] * cum[..., -1:]
        k = cum.shape[-1]
        return np.minimum(np.sum(u >= cum, axis=-1), k - 1)

    def mean_of(self, vals: Any) -> np.ndarray:
        """The probability vector ``pi`` (the mean of the one-hot encoding)."""
        return np.array(self._pi(self._vals(vals)), dtype=float)

    def variance_of(self, vals: Any) -> np.ndarray:
        """Marginal variances ``pi (1 - pi)`` of the one-hot encoding."""
        pi = self._pi(self._vals(vals))
        return pi * (1.0 - pi)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with ``0 / 0 = 0`` (a zero numerator wins)."""
    num, den = np.broadcast_arrays(np.asarray(num, dtype=float), np.asarray(den, dtype=float))
    out = np.zeros(num.shape)
    nz = num != 0.0
    with np.errstate(divide="ignore"):
        out[nz] = num[nz] / den[nz]
    return out


def _diag(d: np.ndarray) -> np.ndarray:
    """Batch of diagonal matrices with diagonals ``d`` (last axis)."""
    k = d.shape[-1]
    return d[..., :, None] * np.eye(k)


def _neg_softmax_jac(pi: np.ndarray) -> np.ndarray:
    """``-(diag(pi) - pi pi^T)``."""
    return pi[..., :, None] * pi[..., None, :] - _diag(pi)
