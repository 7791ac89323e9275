"""Contractions of (lazily broadcast) Jacobians with per-observation weights.

These are the only places where the data-sized work of an objective happens: ``JᵀWJ`` blocks
(one matrix product for a GLM's ``XᵀWX``) and ``Jᵀd`` vectors.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["DesignProducts", "bilinear", "contract", "gram", "is_const", "sum_to_shape",
           "weighted_gram"]


def sum_to_shape(u: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``u`` over the axes that broadcasting added to reach ``u.shape`` from ``shape``."""
    if u.shape == shape:
        return u
    lead = u.ndim - len(shape)
    if lead > 0:
        u = u.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and u.shape[i] != 1)
    if axes:
        u = u.sum(axis=axes, keepdims=True)
    return u


def bilinear(a: np.ndarray, w: np.ndarray, b: np.ndarray, na: int = 0, nb: int = 0
             ) -> np.ndarray:
    """``Σ_batch aᵀ w b``: ``a`` is ``batch (+e) + (A,)``, ``w`` is ``batch (+e)(+f)``, ``b`` is
    ``batch (+f) + (B,)``, where ``na``/``nb`` count the event axes ``e``/``f`` (a matrix
    argument has two)."""
    m = int(np.prod(w.shape[: w.ndim - na - nb], dtype=int))
    e = int(np.prod(w.shape[w.ndim - na - nb: w.ndim - nb], dtype=int))
    f = int(np.prod(w.shape[w.ndim - nb:], dtype=int))
    a3 = np.reshape(a, (m, e, a.shape[-1]))
    b3 = np.reshape(b, (m, f, b.shape[-1]))
    w3 = np.reshape(w, (m, e, f))
    if e == 1 and f == 1:
        return a3[:, 0, :].T @ (w3[:, 0, :] * b3[:, 0, :])
    return np.einsum("mea,mef,mfb->ab", a3, w3, b3)


def contract(d: np.ndarray, j: np.ndarray, shape: tuple[int, ...],
             known: DesignProducts | None = None) -> np.ndarray:
    """``Σ_i d_i J_i`` with ``J`` lazily broadcast over the leading axes of ``shape`` (looked up
    in ``known`` when computed there)."""
    if known is not None and (done := known.get(j, d, "vec")) is not None:
        return done
    d = sum_to_shape(np.asarray(d, dtype=float), shape)
    if j.ndim == 1 or all(s == 1 for s in j.shape[:-1]):
        return float(np.sum(d)) * j.reshape(-1, j.shape[-1])[0]
    jf = np.broadcast_to(j, shape + j.shape[-1:])
    return np.tensordot(d, jf, axes=d.ndim)


def is_const(j: np.ndarray) -> bool:
    return j.ndim == 1 or all(s == 1 for s in j.shape[:-1])


#: Rows per block of the blocked design products: a block of a 50-column design is about 1 MB,
#: so the scaled rows stay in cache between the BLAS calls that read them. A block has at least
#: 8·p rows, so that for wide designs the p × p accumulator is not re-read for too few rows
#: (at p = 500, 4000-row blocks ran 1.5x faster than 262-row ones).
_BLOCK_ELEMENTS = 1 << 17
_MIN_ROWS_PER_COLUMN = 8

#: Designs smaller than this (in elements) are not split across threads.
_THREADED_ELEMENTS = 1 << 21

_POOL: ThreadPoolExecutor | None = None


def _workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=_workers(), thread_name_prefix="probfit-gram")
    return _POOL


def weighted_gram(x: np.ndarray, h: np.ndarray, vectors: tuple[np.ndarray, ...] = ()
                  ) -> tuple[np.ndarray, list[np.ndarray]]:
    """``Xᵀ diag(h) X`` and ``Xᵀv`` for each of ``vectors``, from one pass over ``X``.

    ``X`` is an ``(n, p)`` matrix, ``h`` and the vectors have ``n`` entries. The rows are read
    in blocks: each block is scaled by ``sqrt|h|`` into a small work array and added into the
    Gram matrix by one BLAS ``syrk`` (numpy's product of a matrix with its own transpose) when
    ``h`` has one sign (always, for log-concave likelihoods), or by one ``gemm`` on the
    ``h``-scaled rows otherwise; the vector products are taken from the same block while it is
    in cache. Nothing data-sized is allocated. A large design is cut into one contiguous range
    of rows per available core, summed by threads (numpy releases the GIL in these products;
    BLAS does not thread such small blocks itself), so the result depends only on the number
    of cores.
    """
    n, p = x.shape
    h = np.asarray(h, dtype=float).reshape(-1)
    vs = np.column_stack([np.asarray(v, dtype=float).reshape(-1) for v in vectors]) \
        if vectors else np.zeros((n, 0))
    sign = -1.0 if np.all(h <= 0.0) else 1.0 if np.all(h >= 0.0) else 0.0
    root = np.sqrt(np.abs(h)) if sign else h
    rows = max(1, min(n, max(_BLOCK_ELEMENTS // max(p, 1), _MIN_ROWS_PER_COLUMN * p)))

    def part(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        work = np.empty((rows, p))
        g = np.zeros((p, p))
        xv = np.zeros((p, vs.shape[1]))
        for start in range(lo, hi, rows):
            stop = min(hi, start + rows)
            block, scaled = x[start:stop], work[: stop - start]
            np.multiply(block, root[start:stop, None], out=scaled)
            g += (scaled.T @ scaled) if sign else (block.T @ scaled)
            xv += block.T @ vs[start:stop]
        return g, xv

    k = min(_workers(), max(1, n // rows)) if x.size >= _THREADED_ELEMENTS else 1
    if k == 1:
        g, xv = part(0, n)
    else:
        cuts = np.linspace(0, n, k + 1).astype(int)
        parts = list(_pool().map(part, cuts[:-1], cuts[1:]))
        g, xv = sum(q[0] for q in parts), sum(q[1] for q in parts)
    if sign < 0:
        g = -g
    return g, list(xv.T)


class DesignProducts:
    """Products with data-sized design matrices computed ahead, for :func:`contract` and
    :func:`gram` to look up.

    When one likelihood argument needs its gradient ``Xᵀd`` and its Hessian blocks ``XᵀHX``
    and ``Xᵀh`` (an intercept's cross term), :meth:`add` computes all three in one pass over
    ``X`` (:func:`weighted_gram`) instead of three.
    """

    def __init__(self) -> None:
        self._known: dict[tuple[int, int, str], np.ndarray] = {}
        self._alive: list[np.ndarray] = []

    def add(self, x: np.ndarray, h: np.ndarray, d: np.ndarray) -> None:
        """Compute ``XᵀHX``, ``Xᵀh`` and ``Xᵀd`` when ``x`` is an ``(n, p)`` float matrix with
        one row per entry of ``h`` and ``d``."""
        if not (x.ndim == 2 and x.dtype == np.float64 and np.ndim(h) == 1
                and np.shape(h) == np.shape(d) == x.shape[:1]):
            return
        g, (xh, xd) = weighted_gram(x, h, (h, d))
        self._known[id(x), id(h), "gram"] = g
        self._known[id(x), id(h), "vec"] = xh
        self._known[id(x), id(d), "vec"] = xd
        self._alive += [x, h, d]

    def get(self, x: np.ndarray, v: np.ndarray, kind: str) -> np.ndarray | None:
        return self._known.get((id(x), id(v), kind))


def gram(ja: np.ndarray, va: tuple[int, ...], na: int, h: np.ndarray, jb: np.ndarray,
         vb: tuple[int, ...], nb: int, known: DesignProducts | None = None) -> np.ndarray:
    """``Σ_batch J_aᵀ h J_b`` for scalar or vector (event) arguments.

    When ``J_a`` and ``J_b`` are the same 2-d matrix (a GLM's design ``X``) this is
    :func:`weighted_gram`; products computed ahead are taken from ``known``."""
    batch = h.shape[: h.ndim - na - nb]
    if na == 0 and nb == 0:
        if is_const(ja) and is_const(jb):
            return float(np.sum(h)) * np.outer(ja.reshape(-1, ja.shape[-1])[0],
                                               jb.reshape(-1, jb.shape[-1])[0])
        if is_const(ja):
            return np.outer(ja.reshape(-1, ja.shape[-1])[0], contract(h, jb, vb, known))
        if is_const(jb):
            return np.outer(contract(h, ja, va, known), jb.reshape(-1, jb.shape[-1])[0])
        if va == vb == batch:
            if ja is jb and ja.ndim == 2 and ja.dtype == np.float64:
                done = known.get(ja, h, "gram") if known is not None else None
                return done if done is not None else weighted_gram(ja, h)[0]
            a2 = ja.reshape(-1, ja.shape[-1])
            b2 = jb.reshape(-1, jb.shape[-1])
            return a2.T @ (h.reshape(-1, 1) * b2)
        return bilinear(np.broadcast_to(ja, batch + ja.shape[-1:]), h,
                        np.broadcast_to(jb, batch + jb.shape[-1:]))
    fa = np.broadcast_to(ja, h.shape[: len(batch) + na] + ja.shape[-1:])
    fb = np.broadcast_to(jb, batch + h.shape[len(batch) + na:] + jb.shape[-1:])
    return bilinear(fa, h, fb, na, nb)
