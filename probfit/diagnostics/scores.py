"""Proper scores and calibration errors of probability forecasts (pure numpy/scipy).

Binary forecasts ``p`` of outcomes ``y ∈ {0, 1}``:

* Brier score ``mean (p - y)²`` and its exact CORP decomposition (Dimitriadis, Gneiting and
  Jordan, 2021): with ``p̃`` the PAV (isotonic) recalibration of ``p``,
  ``MCB = Brier(p) - Brier(p̃)`` (reliability / miscalibration),
  ``DSC = Brier(ȳ) - Brier(p̃)`` (resolution / discrimination), ``UNC = ȳ(1 - ȳ)``
  (uncertainty), and ``Brier = MCB - DSC + UNC`` exactly;
* expected and maximum calibration error, binned (``n_bins`` equal-width bins,
  ``ECE = Σ_b (n_b/n) |p̄_b - ȳ_b|``, ``MCE = max_b |p̄_b - ȳ_b|``) and PAV-based
  (``mean |p - p̃|`` and ``max |p - p̃|``).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import isotonic_regression

__all__ = ["binary_scores", "pav"]


def pav(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Isotonic (pool-adjacent-violators) regression of ``y`` on ``p``, in the order of ``p``."""
    order = np.argsort(p, kind="mergesort")
    fitted = np.empty(len(p))
    fitted[order] = isotonic_regression(np.asarray(y, dtype=float)[order]).x
    return fitted


def binary_scores(p: np.ndarray, y: np.ndarray, n_bins: int = 10) -> dict[str, float]:
    """Brier score with its CORP decomposition, and binned and PAV calibration errors.

    Parameters
    ----------
    p
        Forecast probabilities of ``y = 1``.
    y
        Outcomes in ``{0, 1}``.
    n_bins
        Number of equal-width bins for the binned ECE/MCE.
    """
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    y = np.asarray(y, dtype=float)
    ybar = float(np.mean(y))
    recal = pav(p, y)
    brier = float(np.mean((p - y) ** 2))
    brier_pav = float(np.mean((recal - y) ** 2))
    unc = ybar * (1.0 - ybar)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    gaps, weights = [], []
    for b in range(n_bins):
        sel = bins == b
        if np.any(sel):
            gaps.append(abs(float(np.mean(p[sel]) - np.mean(y[sel]))))
            weights.append(float(np.mean(sel)))
    return {
        "brier": brier,
        "reliability": brier - brier_pav,
        "resolution": unc - brier_pav,
        "uncertainty": unc,
        "ece_binned": float(np.dot(weights, gaps)),
        "mce_binned": float(max(gaps)),
        "ece_pav": float(np.mean(np.abs(p - recal))),
        "mce_pav": float(np.max(np.abs(p - recal))),
    }
