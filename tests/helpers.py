"""Shared test utilities: finite differences with DESIGN.md's tolerance."""

from __future__ import annotations

import numpy as np


def rel_err(g: np.ndarray, g_hat: np.ndarray) -> float:
    """DESIGN.md's gradient-check error ``‖g − ĝ‖ / max(1, ‖g‖, ‖ĝ‖)``."""
    g, g_hat = np.asarray(g, float), np.asarray(g_hat, float)
    return float(np.linalg.norm(g - g_hat) / max(1.0, np.linalg.norm(g), np.linalg.norm(g_hat)))


def central_diff(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Richardson-extrapolated central differences of ``f`` (scalar or array valued) at ``x``."""
    x = np.asarray(x, float)
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        step = h * max(1.0, abs(x.flat[i]))
        e.flat[i] = step
        d1 = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * step)
        d2 = (np.asarray(f(x + 2 * e)) - np.asarray(f(x - 2 * e))) / (4 * step)
        cols.append((4 * d1 - d2) / 3)
    return np.stack(cols, axis=-1)
