"""The evaluation context: one parameter point, the bound data, and derivative accumulators."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from probfit.transforms.bijectors import Bijector

__all__ = ["Context", "Layout", "ParamSlot"]


@dataclass(frozen=True)
class ParamSlot:
    """Where one parameter lives in the flat unconstrained vector, and how it is constrained."""

    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    start: int
    stop: int
    bijector: Bijector

    @property
    def slice(self) -> slice:
        return slice(self.start, self.stop)

    @property
    def size(self) -> int:
        return self.stop - self.start


class Layout:
    """The flat unconstrained vector: an ordered set of :class:`ParamSlot`."""

    def __init__(self, slots: list[ParamSlot]) -> None:
        self.slots = {s.name: s for s in slots}
        self.size = slots[-1].stop if slots else 0

    def __iter__(self):
        return iter(self.slots.values())

    def __getitem__(self, name: str) -> ParamSlot:
        return self.slots[name]

    def unpack(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Constrained parameter values by name."""
        return {s.name: s.bijector.forward(theta[s.slice]) for s in self}

    def pack(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """Unconstrained flat vector from constrained values."""
        theta = np.zeros(self.size)
        for s in self:
            theta[s.slice] = s.bijector.inverse(np.broadcast_to(values[s.name], s.shape))
        return theta

    def labels(self) -> list[str]:
        """One label per unconstrained coordinate, e.g. ``w[0]``."""
        out: list[str] = []
        for s in self:
            if s.size == 1 and s.shape == ():
                out.append(s.name)
            else:
                shape = s.shape if s.bijector.elementwise else (s.size,)
                out.extend(f"{s.name}[{','.join(map(str, idx))}]" for idx in np.ndindex(*shape))
        return out


class Context:
    """Everything an expression needs to evaluate itself and its derivatives at ``theta``."""

    def __init__(self, layout: Layout, theta: np.ndarray, data: Mapping[str, np.ndarray],
                 with_hess: bool = False) -> None:
        self.layout = layout
        self.theta = theta
        self.data = data
        self.values: dict[object, object] = {}
        self.jacs: dict[int, dict[str, np.ndarray]] = {}
        self._pvals: dict[str, np.ndarray] = {}
        self.hess = np.zeros((layout.size, layout.size)) if with_hess else None

    def share_cache(self, other: Context) -> None:
        """Use ``other``'s cached values and Jacobians (it must be at the same ``theta`` on
        the same data)."""
        self.values, self.jacs, self._pvals = other.values, other.jacs, other._pvals

    def bijector(self, name: str) -> Bijector:
        return self.layout[name].bijector

    def raw(self, name: str) -> np.ndarray:
        return self.theta[self.layout[name].slice]

    def param_value(self, name: str) -> np.ndarray:
        out = self._pvals.get(name)
        if out is None:
            out = self.bijector(name).forward(self.raw(name))
            self._pvals[name] = out
        return out

    def param_jac(self, name: str) -> np.ndarray:
        slot = self.layout[name]
        if slot.bijector.is_identity():
            return np.eye(slot.size).reshape((*slot.shape, slot.size))
        return slot.bijector.jac(self.raw(name))

    def add_hess(self, pa: str, pb: str, block: np.ndarray) -> None:
        self.hess[self.layout[pa].slice, self.layout[pb].slice] += block

    def add_param_curv(self, name: str, u: np.ndarray) -> None:
        bij = self.bijector(name)
        if not bij.is_identity():
            sl = self.layout[name].slice
            self.hess[sl, sl] += bij.curv(self.raw(name), np.broadcast_to(u, bij.shape))
