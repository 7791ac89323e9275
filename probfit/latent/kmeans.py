"""k-means++ seeding and Lloyd iterations: the starting partition of EM."""

from __future__ import annotations

import numpy as np

__all__ = ["kmeans", "kmeans_plus_plus"]


def _sq_dist(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances, ``(n, k)``."""
    d = (np.sum(x * x, axis=1)[:, None] - 2.0 * x @ centers.T
         + np.sum(centers * centers, axis=1)[None, :])
    return np.maximum(d, 0.0)


def kmeans_plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` centres chosen by k-means++ (greedy, ``2 + log k`` candidates per step).

    Parameters
    ----------
    x
        ``(n, d)`` points.
    k
        Number of centres.
    rng
        Random generator (the only source of randomness).
    """
    n = x.shape[0]
    trials = 2 + int(np.log(k))
    centers = np.empty((k, x.shape[1]))
    centers[0] = x[rng.integers(n)]
    closest = _sq_dist(x, centers[:1])[:, 0]
    for c in range(1, k):
        total = closest.sum()
        if total <= 0.0:
            centers[c] = x[rng.integers(n)]
            continue
        cand = np.searchsorted(np.cumsum(closest), rng.random(trials) * total)
        cand = np.minimum(cand, n - 1)
        dist = np.minimum(closest[:, None], _sq_dist(x, x[cand]))
        best = int(np.argmin(dist.sum(axis=0)))
        centers[c] = x[cand[best]]
        closest = dist[:, best]
    return centers


def kmeans(x: np.ndarray, k: int, rng: np.random.Generator, max_iter: int = 100
           ) -> np.ndarray:
    """Hard labels ``(n,)`` from k-means++ seeding followed by Lloyd iterations."""
    centers = kmeans_plus_plus(x, k, rng)
    labels = np.argmin(_sq_dist(x, centers), axis=1)
    for _ in range(max_iter):
        for c in range(k):
            members = labels == c
            if members.any():
                centers[c] = x[members].mean(axis=0)
        new = np.argmin(_sq_dist(x, centers), axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
    return labels
