"""The distribution protocol shared by likelihoods and priors.

A distribution object stores its *arguments* (numbers, arrays, or DSL expressions) under
canonical names. The numeric methods take the argument *values* explicitly as a mapping
``vals`` so the compiler can evaluate them at any parameter point:

* ``logp(x, vals)`` — log density/mass, elementwise over the batch shape (never summed);
* ``dlogp(x, vals, wrt)`` — first derivatives with respect to the names in ``wrt``
  (argument names, and ``"value"`` for the derivative in ``x``);
* ``d2logp(x, vals, wrt)`` — second derivatives, keys ``(a, b)`` for every pair with ``a``
  at or before ``b`` in ``wrt``;
* ``expected_d2logp(vals, wrt)`` — the expectation of ``d2logp`` under the distribution
  (minus the Fisher information), for Fisher scoring.

Shapes: for ``event_ndim == 0`` all outputs have the broadcast shape of ``x`` and the values.
For ``event_ndim == 1`` a derivative with respect to a vector argument (or the value) has a
trailing event axis of size ``k``, and a second derivative between two vector quantities has two.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from probfit.distributions.constraints import Constraint, real
from probfit.errors import DataError, DistributionError

__all__ = ["Distribution"]


def _is_numeric(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating, np.ndarray, list, tuple))


class Distribution:
    """Base class: stores arguments, validates numeric ones, and offers the convenience API.

    Subclasses set ``support``, ``event_ndim``, ``domains`` (argument name → constraint),
    ``nondiff`` (arguments that are never differentiated, e.g. Binomial ``trials``) and implement
    ``logp``, ``dlogp``, ``d2logp``, ``expected_d2logp``, ``sample_from``, ``mean_of`` and
    ``variance_of``.
    """

    support: ClassVar[Constraint] = real
    event_ndim: ClassVar[int] = 0
    domains: ClassVar[dict[str, Constraint]] = {}
    nondiff: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **args: Any) -> None:
        self.args: dict[str, Any] = {}
        for name, value in args.items():
            if value is None:
                continue
            if name not in self.domains:
                raise DistributionError(
                    f"{type(self).__name__} has no argument {name!r}; "
                    f"expected one of {sorted(self.domains)}"
                )
            if _is_numeric(value):
                value = np.asarray(value, dtype=float)
                dom = self.domains[name]
                ok = dom.check(value)
                if not np.all(ok):
                    bad = value if value.ndim == 0 else value[~ok] if ok.shape == value.shape \
                        else value
                    raise DistributionError(
                        f"{type(self).__name__} argument {name!r} must be {dom.describe()}, "
                        f"got {np.ravel(bad)[:5].tolist()}"
                    )
            self.args[name] = value

    # ------------------------------------------------------------------ description
    @property
    def arg_names(self) -> tuple[str, ...]:
        """Names of the stored arguments, in declaration order."""
        return tuple(self.args)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={_short(v)}" for k, v in self.args.items())
        return f"{type(self).__name__}({inner})"

    # ------------------------------------------------------------------ numeric protocol
    def logp(self, x: np.ndarray, vals: Mapping[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def dlogp(self, x: np.ndarray, vals: Mapping[str, np.ndarray],
              wrt: tuple[str, ...]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def d2logp(self, x: np.ndarray, vals: Mapping[str, np.ndarray],
               wrt: tuple[str, ...]) -> dict[tuple[str, str], np.ndarray]:
        raise NotImplementedError

    def expected_d2logp(self, vals: Mapping[str, np.ndarray],
                        wrt: tuple[str, ...]) -> dict[tuple[str, str], np.ndarray]:
        raise NotImplementedError

    def sample_from(self, rng: np.random.Generator, vals: Mapping[str, np.ndarray],
                    size: int | tuple[int, ...] | None = None) -> np.ndarray:
        raise NotImplementedError

    def mean_of(self, vals: Mapping[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def variance_of(self, vals: Mapping[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def in_support(self, x: np.ndarray, vals: Mapping[str, np.ndarray]) -> np.ndarray:
        """Boolean mask over the batch shape: which observations lie in the support."""
        return self.support.check(x)

    def check_support(self, x: np.ndarray, vals: Mapping[str, np.ndarray], name: str) -> None:
        """Raise :class:`DataError` naming ``name`` and the first offending row."""
        ok = np.asarray(self.in_support(x, vals))
        if not np.all(ok):
            idx = np.argwhere(~ok)[0]
            row = tuple(int(i) for i in idx)
            where = row[0] if len(row) == 1 else row
            xv = np.asarray(x)
            shown = xv[tuple(idx[: xv.ndim])] if xv.ndim else xv
            raise DataError(
                f"{name!r} has a value outside the support of {type(self).__name__} "
                f"at row {where}: got {np.ravel(shown)[:5].tolist()}, expected "
                f"{self.support_description(vals)}; {int((~ok).sum())} value(s) in all"
            )

    def support_description(self, vals: Mapping[str, np.ndarray]) -> str:
        """Phrase used in support errors."""
        return self.support.describe()

    # ------------------------------------------------------------------ convenience API
    def _numeric_args(self) -> dict[str, np.ndarray]:
        out = {}
        for k, v in self.args.items():
            if not isinstance(v, np.ndarray):
                raise DistributionError(
                    f"{type(self).__name__} argument {k!r} is a model expression; "
                    "numeric methods need numbers"
                )
            out[k] = v
        return out

    def log_prob(self, x: Any) -> np.ndarray:
        """Log density (or mass) of ``x`` under numeric arguments, elementwise."""
        return self.logp(np.asarray(x, dtype=float), self._numeric_args())

    def sample(self, rng: np.random.Generator | int | None = None,
               size: int | tuple[int, ...] | None = None) -> np.ndarray:
        """Draw samples; ``size`` prepends sample axes to the batch shape."""
        return self.sample_from(np.random.default_rng(rng), self._numeric_args(), size)

    def mean(self) -> np.ndarray:
        """Mean under numeric arguments."""
        return self.mean_of(self._numeric_args())

    def variance(self) -> np.ndarray:
        """Variance under numeric arguments."""
        return self.variance_of(self._numeric_args())


def _short(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return f"{float(v):g}" if v.ndim == 0 else f"array{v.shape}"
    return str(v)
