"""Shared machinery of the concrete distributions (private to ``probfit.distributions``).

Concrete classes derive from :class:`Family`, which implements the public numeric protocol of
:class:`~probfit.distributions.base.Distribution` once: it resolves argument values, checks
``wrt``, orders second-derivative keys, broadcasts every output to the full batch shape and
masks ``logp`` outside the support. A concrete class only supplies formulas:

* ``_logp(x, v)``, and ``_log_base(x, v)`` when ``log p`` has terms that depend on ``x`` and
  the never-differentiated arguments only (such as ``-log x!``): ``_logp`` then leaves them
  out, and they are added by the protocol, or summed once by a caller that evaluates the
  same rows many times (:meth:`Family.log_base`);
* ``_grad(x, v)`` → ``{name: thunk}`` and ``_hess(x, v)`` → ``{(a, b): thunk}`` (pairs in
  either order; a missing pair is identically zero);
* ``_ehess(v)`` → ``{(a, b): thunk}`` for the expected second derivatives;
* ``_sample(rng, v, shape)``, ``_mean(v)``, ``_var(v)``.

Thunks are zero-argument callables, so only the requested derivatives are computed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from probfit.distributions.base import Distribution
from probfit.errors import DistributionError

Thunk = Callable[[], np.ndarray]
Pair = tuple[str, str]
Vals = dict[str, np.ndarray]


def one_of(owner: str, **alternatives: Any) -> str:
    """The name of the single alternative that is not ``None``.

    Raises
    ------
    DistributionError
        If none or several of ``alternatives`` are given; the message names them all.
    """
    given = [k for k, v in alternatives.items() if v is not None]
    if len(given) != 1:
        got = "none" if not given else " and ".join(repr(k) for k in given)
        names = ", ".join(repr(k) for k in alternatives)
        raise DistributionError(f"{owner} needs exactly one of {names}; got {got}")
    return given[0]


def require(owner: str, **args: Any) -> None:
    """Raise :class:`DistributionError` naming the first argument that is ``None``."""
    for name, value in args.items():
        if value is None:
            raise DistributionError(f"{owner} argument {name!r} is required")


def fit_shape(a: np.ndarray | float, shape: tuple[int, ...]) -> np.ndarray:
    """``a`` as a writable float64 array of exactly ``shape`` (broadcasting if needed)."""
    a = np.asarray(a, dtype=float)
    if a.shape == shape:
        return a
    return np.broadcast_to(a, shape).copy()


def size_tuple(size: int | tuple[int, ...] | None) -> tuple[int, ...]:
    """``size`` of :meth:`Distribution.sample_from` as a tuple of sample axes."""
    if size is None:
        return ()
    if isinstance(size, (int, np.integer)):
        return (int(size),)
    return tuple(int(s) for s in size)


class Family(Distribution):
    """Base of the concrete distributions: the generic half of the numeric protocol."""

    restricted: ClassVar[bool] = True
    """Whether ``logp`` must be masked to ``-inf`` outside the support."""

    # ------------------------------------------------------------------ argument values
    def _vals(self, vals: Mapping[str, Any]) -> Vals:
        """Values of every stored argument: from ``vals``, else the stored number."""
        out: Vals = {}
        for name, stored in self.args.items():
            if name in vals:
                out[name] = np.asarray(vals[name], dtype=float)
            elif isinstance(stored, np.ndarray):
                out[name] = stored
            else:
                raise DistributionError(
                    f"{type(self).__name__} argument {name!r} is a model expression and "
                    "vals holds no value for it"
                )
        return out

    def _partial_vals(self, vals: Mapping[str, Any]) -> Vals:
        """Like :meth:`_vals` but silently skipping arguments without a value."""
        out: Vals = {}
        for name, stored in self.args.items():
            if name in vals:
                out[name] = np.asarray(vals[name], dtype=float)
            elif isinstance(stored, np.ndarray):
                out[name] = stored
        return out

    # ------------------------------------------------------------------ shapes
    def _batch_shape(self, x: np.ndarray, v: Vals) -> tuple[int, ...]:
        return np.broadcast_shapes(np.shape(x), *(np.shape(a) for a in v.values()))

    def _param_shape(self, v: Vals) -> tuple[int, ...]:
        return np.broadcast_shapes(*(np.shape(a) for a in v.values()))

    def _event_shape(self, name: str, x: np.ndarray | None, v: Vals) -> tuple[int, ...]:
        return ()

    # ------------------------------------------------------------------ formulas (subclasses)
    def _logp(self, x: np.ndarray, v: Vals) -> np.ndarray:
        raise NotImplementedError

    def _grad(self, x: np.ndarray, v: Vals) -> dict[str, Thunk]:
        raise NotImplementedError

    def _hess(self, x: np.ndarray, v: Vals) -> dict[Pair, Thunk]:
        raise NotImplementedError

    def _ehess(self, v: Vals) -> dict[Pair, Thunk]:
        raise NotImplementedError

    def _sample(self, rng: np.random.Generator, v: Vals, shape: tuple[int, ...]) -> np.ndarray:
        raise NotImplementedError

    def _mean(self, v: Vals) -> np.ndarray:
        raise NotImplementedError

    def _var(self, v: Vals) -> np.ndarray:
        raise NotImplementedError

    def _in_support(self, x: np.ndarray, v: Vals) -> np.ndarray:
        return self.support.check(x)

    # ------------------------------------------------------------------ protocol
    @property
    def diff_names(self) -> tuple[str, ...]:
        """Names accepted in ``wrt``: ``"value"`` (continuous only) and differentiable args."""
        value = () if self.support.discrete else ("value",)
        return value + tuple(a for a in self.args if a not in self.nondiff)

    def _check_wrt(self, wrt: tuple[str, ...], *, value: bool = True) -> None:
        allowed = self.diff_names if value else tuple(n for n in self.diff_names
                                                       if n != "value")
        for name in wrt:
            if name not in allowed:
                raise DistributionError(
                    f"{type(self).__name__} cannot be differentiated with respect to {name!r}"
                    f" here; expected names from {list(allowed)}"
                )
        if len(set(wrt)) != len(wrt):
            raise DistributionError(f"wrt repeats a name: {list(wrt)}")

    def in_support(self, x: np.ndarray, vals: Mapping[str, np.ndarray]) -> np.ndarray:
        """Boolean mask over the batch shape: which observations lie in the support.

        Arguments missing from ``vals`` (model expressions not yet evaluated) are not used, so
        a support that depends on them is checked only as far as it can be.
        """
        return self._in_support(np.asarray(x, dtype=float), self._partial_vals(vals))

    def row_terms(self, x: np.ndarray, vals: Mapping[str, np.ndarray], arg: str, order: int,
                  hessian: str = "observed", value: bool = True, base: bool = True
                  ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """``log p`` (unless ``value`` is false) and, up to ``order``, its first and second
        derivatives with respect to the scalar argument ``arg``, per row, for a likelihood's
        inner loop.

        The rows of ``x`` must already be known to lie in the support wherever it depends on
        ``x`` alone (the objective checks the observed data once); a support that depends on
        the arguments (a family with its own support check, such as ``Binomial``'s
        ``x ≤ trials``) is still applied. ``hessian="expected"``
        gives the expected second derivative. Outputs broadcast against ``x`` but are not
        broadcast to it, and ``arg`` is not validated. With ``base=False`` the value leaves out
        :meth:`log_base`, which a caller that evaluates the same rows many times sums once.
        """
        v = self._vals(vals)
        lp = None
        if value:
            with np.errstate(divide="ignore", invalid="ignore"):
                lp = self._full_logp(x, v) if base else self._logp(x, v)
            if self.restricted and type(self)._in_support is not Family._in_support:
                lp = np.where(self._in_support(x, v), lp, -np.inf)
        if order == 0:
            return lp, None, None
        d1 = self._grad(x, v).get(arg)
        d1 = 0.0 if d1 is None else d1()
        if order == 1:
            return lp, d1, None
        table = self._ehess(v) if hessian == "expected" else self._hess(x, v)
        d2 = table.get((arg, arg))
        return lp, d1, 0.0 if d2 is None else d2()

    def _log_base(self, x: np.ndarray, v: Vals) -> np.ndarray | float:
        return 0.0

    def _full_logp(self, x: np.ndarray, v: Vals) -> np.ndarray:
        lp = self._logp(x, v)
        return lp if type(self)._log_base is Family._log_base else lp + self._log_base(x, v)

    def log_base(self, x: np.ndarray, vals: Mapping[str, np.ndarray]) -> np.ndarray | float:
        """The terms of :meth:`logp` that depend only on ``x`` and the arguments that are never
        differentiated (for ``Poisson``, ``-log x!``), elementwise, or ``0.0`` when there are
        none; ``x`` must lie in the support."""
        x = np.asarray(x, dtype=float)
        return self._log_base(x, self._partial_vals(vals))

    def logp(self, x: np.ndarray, vals: Mapping[str, np.ndarray]) -> np.ndarray:
        """Log density (or mass) of ``x``, elementwise; ``-inf`` outside the support."""
        x = np.asarray(x, dtype=float)
        v = self._vals(vals)
        shape = self._batch_shape(x, v)
        if not self.restricted:
            return fit_shape(self._full_logp(x, v), shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            lp = self._full_logp(x, v)
        inside = self._in_support(x, v)
        return fit_shape(lp if np.all(inside) else np.where(inside, lp, -np.inf), shape)

    def dlogp(self, x: np.ndarray, vals: Mapping[str, np.ndarray],
              wrt: tuple[str, ...]) -> dict[str, np.ndarray]:
        """First derivatives of :meth:`logp` with respect to each name in ``wrt``."""
        wrt = tuple(wrt)
        self._check_wrt(wrt)
        x = np.asarray(x, dtype=float)
        v = self._vals(vals)
        shape = self._batch_shape(x, v)
        table = self._grad(x, v) if wrt else {}
        out = {}
        for name in wrt:
            full = shape + self._event_shape(name, x, v)
            out[name] = fit_shape(table[name]() if name in table else 0.0, full)
        return out

    def d2logp(self, x: np.ndarray, vals: Mapping[str, np.ndarray],
               wrt: tuple[str, ...]) -> dict[tuple[str, str], np.ndarray]:
        """Second derivatives of :meth:`logp`, keys ``(a, b)`` with ``a`` at or before ``b``."""
        wrt = tuple(wrt)
        self._check_wrt(wrt)
        x = np.asarray(x, dtype=float)
        v = self._vals(vals)
        table = self._hess(x, v) if wrt else {}
        return self._pairs(table, wrt, self._batch_shape(x, v), x, v)

    def expected_d2logp(self, vals: Mapping[str, np.ndarray],
                        wrt: tuple[str, ...]) -> dict[tuple[str, str], np.ndarray]:
        """``E_x[d2logp(x)]`` under the distribution (minus the Fisher information)."""
        wrt = tuple(wrt)
        self._check_wrt(wrt, value=False)
        v = self._vals(vals)
        table = self._ehess(v) if wrt else {}
        return self._pairs(table, wrt, self._param_shape(v), None, v)

    def _pairs(self, table: dict[Pair, Thunk], wrt: tuple[str, ...], shape: tuple[int, ...],
               x: np.ndarray | None, v: Vals) -> dict[Pair, np.ndarray]:
        out = {}
        for i, a in enumerate(wrt):
            ea = self._event_shape(a, x, v)
            for b in wrt[i:]:
                eb = self._event_shape(b, x, v)
                if (a, b) in table:
                    h = table[(a, b)]()
                elif (b, a) in table:
                    h = table[(b, a)]()
                    if ea and eb:
                        h = np.swapaxes(np.asarray(h, dtype=float), -1, -2)
                else:
                    h = 0.0
                out[(a, b)] = fit_shape(h, shape + ea + eb)
        return out

    def sample_from(self, rng: np.random.Generator, vals: Mapping[str, np.ndarray],
                    size: int | tuple[int, ...] | None = None) -> np.ndarray:
        """Draws of shape ``size + batch shape`` (+ the event axis for vector events)."""
        v = self._vals(vals)
        shape = size_tuple(size) + self._param_shape(v)
        return np.asarray(self._sample(rng, v, shape), dtype=float)

    def mean_of(self, vals: Mapping[str, np.ndarray]) -> np.ndarray:
        """The mean, with the broadcast shape of the argument values."""
        v = self._vals(vals)
        return fit_shape(self._mean(v), self._param_shape(v))

    def variance_of(self, vals: Mapping[str, np.ndarray]) -> np.ndarray:
        """The variance, with the broadcast shape of the argument values."""
        v = self._vals(vals)
        return fit_shape(self._var(v), self._param_shape(v))
