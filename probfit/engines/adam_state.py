"""The complete state of an ``adam`` engine run, for checkpointing and exact resumption."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from probfit.errors import EngineError

__all__ = ["AdamState"]

_ARRAYS = ("theta", "perm", "train_rows", "val_rows", "best_theta", "prev_theta", "prev_grad")
_DICTS = ("opt", "prev_opt")


@dataclass(repr=False)
class AdamState:
    """Everything an ``adam`` run needs to continue bit for bit where it stopped.

    Pass it back with ``fit(..., engine="adam", resume=state)`` (with the same model, data and
    engine options), or save it with :meth:`save` and resume from the file path.

    Attributes
    ----------
    config
        The options that must match on resumption (optimizer, schedule, batch size, ...).
    step, epoch, position
        Updates taken, epochs completed, batches consumed in the current epoch.
    theta
        Current parameters (flat, unconstrained).
    opt
        Optimizer state (moments, counts).
    history
        The per-step records so far.
    """

    config: dict[str, Any]
    step: int
    epoch: int
    position: int
    theta: np.ndarray
    opt: dict[str, np.ndarray]
    rng: dict[str, Any]
    perm: np.ndarray
    train_rows: np.ndarray
    val_rows: np.ndarray
    schedule: dict[str, Any]
    lr_scale: float = 1.0
    rollbacks: int = 0
    consecutive: int = 0
    f_ref: float = float("nan")
    best_theta: np.ndarray = field(default_factory=lambda: np.zeros(0))
    best_val: float = float("inf")
    best_epoch: int = -1
    bad_epochs: int = 0
    epoch_loss: float = 0.0
    prev_theta: np.ndarray = field(default_factory=lambda: np.zeros(0))
    prev_opt: dict[str, np.ndarray] = field(default_factory=dict)
    prev_grad: np.ndarray = field(default_factory=lambda: np.zeros(0))
    prev_step: int = -1
    history: list[dict[str, float]] = field(default_factory=list)

    def __repr__(self) -> str:
        return (f"AdamState(step={self.step}, epoch={self.epoch}, position={self.position}, "
                f"{self.theta.size} parameters, {self.config['optimizer']})")

    def copy(self) -> AdamState:
        """A deep copy (arrays and nested records are not shared)."""
        return AdamState.from_dict(json.loads(json.dumps(self._meta())), self._arrays())

    def _meta(self) -> dict[str, Any]:
        skip = set(_ARRAYS) | set(_DICTS)
        return {k: v for k, v in self.__dict__.items() if k not in skip}

    def _arrays(self) -> dict[str, np.ndarray]:
        out = {k: np.array(getattr(self, k)) for k in _ARRAYS}
        for d in _DICTS:
            out.update({f"{d}/{k}": np.array(v) for k, v in getattr(self, d).items()})
        return out

    @classmethod
    def from_dict(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> AdamState:
        kw = dict(meta)
        for k in _ARRAYS:
            kw[k] = np.array(arrays[k])
        for d in _DICTS:
            kw[d] = {k.split("/", 1)[1]: np.array(v) for k, v in arrays.items()
                     if k.startswith(d + "/")}
        return cls(**kw)

    def save(self, path: str | Path) -> None:
        """Write the state to ``path`` (a NumPy ``.npz`` archive; no pickling)."""
        arrays = self._arrays()
        arrays["__meta__"] = np.array(json.dumps(self._meta()))
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> AdamState:
        """Read a state written by :meth:`save`."""
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as err:
            raise EngineError(f"resume: cannot read an adam checkpoint from {str(path)!r} "
                              f"({err})") from None
        if "__meta__" not in arrays:
            raise EngineError(f"resume: {str(path)!r} is not an adam checkpoint")
        meta = json.loads(str(arrays.pop("__meta__")))
        return cls.from_dict(meta, arrays)
