"""Gradient clipping by global norm."""

from __future__ import annotations

import numpy as np

from probfit.errors import EngineError

__all__ = ["GlobalNormClip", "clip_by_global_norm"]


def clip_by_global_norm(grad: np.ndarray, max_norm: float) -> tuple[np.ndarray, float]:
    """Rescale ``grad`` so its Euclidean norm is at most ``max_norm``.

    Parameters
    ----------
    grad
        The gradient (any shape; the norm is over all entries).
    max_norm
        Positive bound on the norm.

    Returns
    -------
    clipped, norm
        ``grad · min(1, max_norm / ‖grad‖)`` and the norm before clipping.
    """
    max_norm = float(max_norm)
    if not (np.isfinite(max_norm) and max_norm > 0.0):
        raise EngineError(f"max_norm must be a positive finite number, got {max_norm!r}")
    norm = float(np.linalg.norm(grad))
    if norm > max_norm:
        return grad * (max_norm / norm), norm
    return grad, norm


class GlobalNormClip:
    """A clipping transform: ``GlobalNormClip(5.0)(g)`` is ``g`` with norm at most 5."""

    def __init__(self, max_norm: float) -> None:
        clip_by_global_norm(np.zeros(1), max_norm)
        self.max_norm = float(max_norm)

    def __call__(self, grad: np.ndarray) -> np.ndarray:
        return clip_by_global_norm(grad, self.max_norm)[0]

    def __repr__(self) -> str:
        return f"GlobalNormClip({self.max_norm!r})"
