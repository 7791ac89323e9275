"""k-means++ seeding and Lloyd iterations: the starting partition of EM."""

from __future__ import annotations

import numpy as np

__all__ = ["kmeans", "kmeans_plus_plus"]


def _sq_dist(x: np.ndarray, centers: np.ndarray, x_sq: np.ndarray | None = None
             ) -> np.ndarray:
    """Squared Euclidean distances, ``(n, k)`` (``x_sq``: the rows' squared norms)."""
    if x_sq is None:
        x_sq = np.einsum("ij,ij->i", x, x)
    d = x @ (-2.0 * centers.T)
    d += x_sq[:, None]
    d += np.einsum("ij,ij->i", centers, centers)[None, :]
    return np.maximum(d, 0.0, out=d)


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
    x_sq = np.einsum("ij,ij->i", x, x)
    trials = 2 + int(np.log(k))
    centers = np.empty((k, x.shape[1]))
    centers[0] = x[rng.integers(n)]
    closest = _sq_dist(x, centers[:1], x_sq)[:, 0]
    for c in range(1, k):
        total = closest.sum()
        if total <= 0.0:
            centers[c] = x[rng.integers(n)]
            continue
        cand = np.searchsorted(np.cumsum(closest), rng.random(trials) * total)
        cand = np.minimum(cand, n - 1)
        dist = np.minimum(closest[:, None], _sq_dist(x, x[cand], x_sq))
        best = int(np.argmin(dist.sum(axis=0)))
        centers[c] = x[cand[best]]
        closest = dist[:, best]
    return centers


def kmeans(x: np.ndarray, k: int, rng: np.random.Generator, max_iter: int = 100
           ) -> np.ndarray:
    """Hard labels ``(n,)`` from k-means++ seeding followed by Lloyd iterations."""
    centers = kmeans_plus_plus(x, k, rng)
    x_sq = np.einsum("ij,ij->i", x, x)
    labels = np.argmin(_sq_dist(x, centers, x_sq), axis=1)
    for _ in range(max_iter):
        counts = np.bincount(labels, minlength=k)
        sums = np.column_stack([np.bincount(labels, weights=x[:, j], minlength=k)
                                for j in range(x.shape[1])])
        filled = counts > 0
        centers[filled] = sums[filled] / counts[filled, None]
        new = np.argmin(_sq_dist(x, centers, x_sq), axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
    return labels
