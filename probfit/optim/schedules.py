"""Learning-rate schedules: objects with ``lr(step)`` (``step`` counts updates from 0).

:class:`ReduceOnPlateau` also observes a loss (once per epoch, from the engine) and keeps
state; every schedule exposes ``state_dict()`` / ``load_state_dict()`` so a run can be
checkpointed and resumed exactly.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

from probfit.errors import EngineError

__all__ = ["Constant", "Cosine", "Exponential", "LinearWarmup", "ReduceOnPlateau", "Schedule",
           "Step", "as_schedule"]


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0.0):
        raise EngineError(f"{name} must be a positive finite number, got {value!r}")
    return value


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise EngineError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _fraction(name: str, value: float, *, closed: bool = False) -> float:
    value = float(value)
    ok = 0.0 < value <= 1.0 if closed else 0.0 < value < 1.0
    if not ok:
        raise EngineError(f"{name} must be in (0, 1{']' if closed else ')'}, got {value!r}")
    return value


class Schedule(ABC):
    """Base class: a learning rate as a function of the update count."""

    @abstractmethod
    def lr(self, step: int) -> float:
        """The learning rate of update number ``step`` (0-based)."""

    def observe(self, loss: float) -> None:  # noqa: B027 - optional hook, no-op by default
        """Take note of an epoch's loss (only stateful schedules use it)."""

    def state_dict(self) -> dict[str, Any]:
        """The mutable state (empty for stateless schedules)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027 - stateless default
        """Restore what :meth:`state_dict` returned."""


class Constant(Schedule):
    """``lr(step) = lr``."""

    def __init__(self, lr: float) -> None:
        self.base = _positive("lr", lr)

    def lr(self, step: int) -> float:
        return self.base

    def __repr__(self) -> str:
        return f"Constant(lr={self.base!r})"


class Step(Schedule):
    """Piecewise constant decay: ``lr(step) = lr · gamma ** (step // step_size)``."""

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1) -> None:
        self.base = _positive("lr", lr)
        self.step_size = _count("step_size", step_size)
        self.gamma = _fraction("gamma", gamma, closed=True)

    def lr(self, step: int) -> float:
        return self.base * self.gamma ** (step // self.step_size)

    def __repr__(self) -> str:
        return f"Step(lr={self.base!r}, step_size={self.step_size}, gamma={self.gamma!r})"


class Exponential(Schedule):
    """Smooth exponential decay: ``lr(step) = lr · gamma ** (step / decay_steps)``."""

    def __init__(self, lr: float, gamma: float, decay_steps: int = 1) -> None:
        self.base = _positive("lr", lr)
        self.gamma = _fraction("gamma", gamma, closed=True)
        self.decay_steps = _count("decay_steps", decay_steps)

    def lr(self, step: int) -> float:
        return self.base * self.gamma ** (step / self.decay_steps)

    def __repr__(self) -> str:
        return (f"Exponential(lr={self.base!r}, gamma={self.gamma!r}, "
                f"decay_steps={self.decay_steps})")


class Cosine(Schedule):
    """Cosine annealing from ``lr`` to ``min_lr`` over ``total_steps``, then ``min_lr``.

    ``lr(step) = min_lr + (lr - min_lr) · (1 + cos(π · min(step, T) / T)) / 2``.
    """

    def __init__(self, lr: float, total_steps: int, min_lr: float = 0.0) -> None:
        self.base = _positive("lr", lr)
        self.total_steps = _count("total_steps", total_steps)
        self.min_lr = float(min_lr)
        if not 0.0 <= self.min_lr <= self.base:
            raise EngineError(f"min_lr must be in [0, lr={self.base}], got {min_lr!r}")

    def lr(self, step: int) -> float:
        frac = min(step, self.total_steps) / self.total_steps
        return self.min_lr + (self.base - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * frac))

    def __repr__(self) -> str:
        return (f"Cosine(lr={self.base!r}, total_steps={self.total_steps}, "
                f"min_lr={self.min_lr!r})")


class LinearWarmup(Schedule):
    """Linear warm-up into another schedule.

    ``lr(step) = after.lr(0) · (step + 1) / warmup_steps`` for ``step < warmup_steps``, then
    ``after.lr(step - warmup_steps)``.
    """

    def __init__(self, after: Schedule | float, warmup_steps: int) -> None:
        self.after = as_schedule(after)
        self.warmup_steps = _count("warmup_steps", warmup_steps)

    def lr(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.after.lr(0) * (step + 1) / self.warmup_steps
        return self.after.lr(step - self.warmup_steps)

    def observe(self, loss: float) -> None:
        self.after.observe(loss)

    def state_dict(self) -> dict[str, Any]:
        return self.after.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.after.load_state_dict(state)

    def __repr__(self) -> str:
        return f"LinearWarmup({self.after!r}, warmup_steps={self.warmup_steps})"


class ReduceOnPlateau(Schedule):
    """Multiply the rate by ``factor`` when the observed loss stops improving.

    The engine calls :meth:`observe` once per epoch with the validation loss (or, without a
    validation split, the epoch's mean training loss). An observation improves on the best so
    far when ``loss < best - threshold · max(1, |best|)``; after ``patience`` observations
    without improvement the multiplier is scaled by ``factor`` (never below ``min_lr``) and
    the count restarts.

    ``lr(step) = max(min_lr, after.lr(step) · multiplier)``.
    """

    def __init__(self, after: Schedule | float, factor: float = 0.5, patience: int = 10,
                 threshold: float = 1e-4, min_lr: float = 0.0) -> None:
        self.after = as_schedule(after)
        self.factor = _fraction("factor", factor)
        self.patience = _count("patience", patience)
        self.threshold = float(threshold)
        if not self.threshold >= 0.0:
            raise EngineError(f"threshold must be >= 0, got {threshold!r}")
        self.min_lr = float(min_lr)
        if not self.min_lr >= 0.0:
            raise EngineError(f"min_lr must be >= 0, got {min_lr!r}")
        self.multiplier, self.best, self.bad = 1.0, math.inf, 0

    def lr(self, step: int) -> float:
        return max(self.min_lr, self.after.lr(step) * self.multiplier)

    def observe(self, loss: float) -> None:
        loss = float(loss)
        scale = max(1.0, abs(self.best)) if math.isfinite(self.best) else 1.0
        if loss < self.best - self.threshold * scale:
            self.best, self.bad = loss, 0
        else:
            self.bad += 1
            if self.bad >= self.patience:
                self.multiplier *= self.factor
                self.bad = 0
        self.after.observe(loss)

    def state_dict(self) -> dict[str, Any]:
        return {"multiplier": self.multiplier, "best": self.best, "bad": self.bad,
                "after": self.after.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.multiplier = float(state["multiplier"])
        self.best = float(state["best"])
        self.bad = int(state["bad"])
        self.after.load_state_dict(state["after"])

    def __repr__(self) -> str:
        return (f"ReduceOnPlateau({self.after!r}, factor={self.factor!r}, "
                f"patience={self.patience}, threshold={self.threshold!r}, "
                f"min_lr={self.min_lr!r})")


def as_schedule(lr: Schedule | float) -> Schedule:
    """A schedule as is; a number as :class:`Constant`."""
    if isinstance(lr, Schedule):
        return lr
    if isinstance(lr, int | float) and not isinstance(lr, bool):
        return Constant(lr)
    raise EngineError(f"lr must be a number or a pf.optim schedule, got {type(lr).__name__}")
