"""The L1 structure of an objective as flat arrays, and the KKT optimality check."""

from __future__ import annotations

import numpy as np

from probfit.compile.objective import Objective

__all__ = ["kkt_violation", "kkt_violations", "l1_arrays", "soft_threshold"]


def l1_arrays(objective: Objective) -> tuple[np.ndarray, np.ndarray]:
    """Per-coordinate L1 weight and centre over the flat vector (weight 0 where no L1 term)."""
    weight = np.zeros(objective.size)
    loc = np.zeros(objective.size)
    for t in objective.l1:
        weight[t.slice] = t.weight
        loc[t.slice] = t.loc
    return weight, loc


def soft_threshold(u: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``sign(u) · max(|u| − t, 0)``: the proximal map of ``t·|·|``."""
    return np.sign(u) * np.maximum(np.abs(u) - t, 0.0)


def kkt_violation(objective: Objective, theta: np.ndarray,
                  grad: np.ndarray | None = None) -> float:
    """Largest violation of the optimality conditions of the full objective at ``theta``.

    For a smooth coordinate this is ``|g_j|``; for an L1 coordinate away from its centre it is
    ``|g_j + w_j·sign(θ_j − loc_j)|`` and at its centre ``max(|g_j| − w_j, 0)`` (the gradient
    must lie inside the subdifferential). Units are those of the objective (a sum over rows).

    Parameters
    ----------
    objective
        The objective.
    theta
        Flat unconstrained point.
    grad
        Gradient of the smooth part at ``theta`` if already computed.
    """
    g = objective.grad(theta) if grad is None else grad
    weight, loc = l1_arrays(objective)
    return float(np.max(kkt_violations(theta, g, weight, loc), initial=0.0))


def kkt_violations(theta: np.ndarray, grad: np.ndarray, weight: np.ndarray, loc: np.ndarray
                   ) -> np.ndarray:
    """Per-coordinate violations of the optimality conditions (see :func:`kkt_violation`).

    Parameters
    ----------
    theta
        Coordinates.
    grad
        Gradient of the smooth part at them.
    weight
        Their L1 weights (0 for smooth coordinates).
    loc
        Their L1 centres.
    """
    d = np.asarray(theta, dtype=float) - loc
    return np.where(d == 0.0, np.maximum(np.abs(grad) - weight, 0.0),
                    np.abs(grad + weight * np.sign(d)))
