"""What every engine returns, the per-iteration history it keeps, and how it is called with a
user's options."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from probfit.errors import EngineError

__all__ = ["EngineResult", "History", "call_engine"]


def call_engine[T](name: str, engine: Callable[..., T], *args: Any, **options: Any) -> T:
    """``engine(*args, **options)``, where an option ``engine`` does not take is an
    :class:`~probfit.errors.EngineError` naming the engine ``name``. The options are checked
    against the signature before the call, so a ``TypeError`` raised inside the engine
    propagates as itself."""
    try:
        inspect.signature(engine).bind(*args, **options)
    except TypeError as err:
        raise EngineError(f"engine {name!r} got an unknown option: {err}") from None
    return engine(*args, **options)


class History:
    """Per-iteration records (objective, gradient norm, step norm, ...), as arrays by column."""

    def __init__(self) -> None:
        self._rows: list[dict[str, float]] = []

    def record(self, **values: float) -> None:
        self._rows.append({k: float(v) for k, v in values.items()})

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, column: str) -> np.ndarray:
        return np.array([r.get(column, np.nan) for r in self._rows])

    @property
    def columns(self) -> list[str]:
        cols: list[str] = []
        for r in self._rows:
            cols.extend(k for k in r if k not in cols)
        return cols

    def rows(self) -> list[dict[str, float]]:
        """The records as a list of dicts (one per iteration)."""
        return [dict(r) for r in self._rows]

    def __repr__(self) -> str:
        return f"History({len(self)} iterations; columns {self.columns})"


@dataclass
class EngineResult:
    """The outcome of one engine run on an objective."""

    theta: np.ndarray
    objective: float
    converged: bool
    n_iter: int
    message: str
    engine: str
    history: History = field(default_factory=History)
    separated: list[str] | None = None
    hess: np.ndarray | None = None  # the objective's Hessian at theta, when the engine has it
    hessian: str = "observed"  # which Hessian ``hess`` is
    state: object | None = None  # engine state for resumption (the adam engine's AdamState)
