"""Contractions of (lazily broadcast) Jacobians with per-observation weights.

These are the only places where the data-sized work of an objective happens: ``JᵀWJ`` blocks
(one matrix product for a GLM's ``XᵀWX``) and ``Jᵀd`` vectors.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from functools import cache

import numpy as np
from threadpoolctl import ThreadpoolController

__all__ = ["DesignProducts", "add_gram", "bilinear", "block_rows", "contract", "gram", "is_const",
           "one_blas_thread", "over_row_ranges", "sum_to_shape", "weighted_gram"]


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


#: Rows per block of the blocked design products: a block of a 50-column design is 1 MB. Each thread
#: holds its block and the block's scaled copy while the ``syrk`` reads them, and on the first
#: 2-core AMD EPYC benchmark machine, whose 8 MB L3 cache both cores share, two threads with 2 MB
#: blocks filled it: ``weighted_gram`` at n = 10⁶, p = 50 took 0.170 s with 2 MB blocks against
#: 0.143 s with 1 MB ones (least of 24 alternating calls; the same 0.30 s either way on one thread),
#: and the logistic and Poisson fits took 0.997 s against 1.045 s and 0.769 s against 0.778 s (least
#: of 24). Halving the block again did not help the fit (1.107 s against 1.042 s, least of 12): a
#: block of the fused GLM pass costs some thirty numpy calls whatever its size. On the later Zen 4
#: machine (1 MB L2 cache per core, 32 MB L3) the fits took the same time with 1 and 2 MB blocks
#: (0.476 s and 0.473 s logistic, 0.386 s and 0.384 s Poisson, least of 10) and longer with 0.5 MB
#: ones (0.514 s, 0.421 s). There the kernel alone is fastest with 0.25 MB blocks, which stay in L2
#: with their copies (0.0769 s against 0.0830 s, least of 24), but the fit does not gain from that:
#: ``add_gram`` on 655-row slices of 1 MB blocks made the logistic fit slower (0.516 s against
#: 0.473 s). A block has at least 8·p rows, so that for wide designs the p × p accumulator is not
#: re-read for too few rows (at p = 500, 4000-row blocks ran 1.5x faster than 262-row ones).
_BLOCK_ELEMENTS = 1 << 17
_MIN_ROWS_PER_COLUMN = 8

#: Designs smaller than this (in elements) are not split across threads.
_THREADED_ELEMENTS = 1 << 21

#: Designs with this many columns or more are not split across threads either: the products
#: of their blocks are large enough for BLAS to thread them itself (on the Intel benchmark
#: machine an ``XᵀWX`` of 1e6/p rows took the same time either way at p = 100 to 150, and 1.3x
#: longer split at p = 300).
_THREADED_MAX_COLUMNS = 96

def _workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_workers(), thread_name_prefix="probfit-gram")


@cache
def _blas() -> ThreadpoolController:
    """The loaded BLAS libraries (found once: scanning them costs milliseconds)."""
    return ThreadpoolController()


def one_blas_thread() -> AbstractContextManager:
    """A context in which BLAS runs on one thread: for a product too small to gain from more,
    right before a threaded pass (:func:`over_row_ranges`). BLAS threads keep spinning for a
    while after a threaded call, and on two cores that cost the pass that followed a 16 000-row
    product 10-20 %."""
    return _blas().limit(limits=1, user_api="blas")


def block_rows(p: int) -> int:
    """Rows per block of a blocked pass over an ``(n, p)`` design (see :data:`_BLOCK_ELEMENTS`)."""
    return max(1, _BLOCK_ELEMENTS // max(p, 1), _MIN_ROWS_PER_COLUMN * p)


def over_row_ranges[T](x: np.ndarray, part: Callable[[int, int], T]) -> list[T]:
    """``part(lo, hi)`` over contiguous ranges of the rows of the design ``x``, in row order:
    one range per available core for a large, narrow design, run by threads (numpy releases the
    GIL in the products and ufuncs that do the work), a single range otherwise.

    While the threads run, BLAS is held to one thread: BLAS threads the product of even a
    narrow cache-sized block, and its threads on top of ours oversubscribe the cores (on a
    2-core AMD EPYC virtual machine the benchmark's logistic fit at n = 10⁶, p = 50 took
    4.2 s that way, 2.3 s with BLAS held to one thread, and 2.7 s unsplit). The split depends only
    on the shape and the number of cores, so results are reproducible on one machine."""
    n, p = x.shape
    split = x.size >= _THREADED_ELEMENTS and p < _THREADED_MAX_COLUMNS
    k = min(_workers(), max(1, n // block_rows(p))) if split else 1
    if k == 1:
        return [part(0, n)]
    cuts = np.linspace(0, n, k + 1).astype(int)
    with one_blas_thread():
        return list(_pool().map(part, cuts[:-1], cuts[1:]))


def add_gram(g: np.ndarray, block: np.ndarray, h: np.ndarray, work: np.ndarray,
             products: tuple[tuple[np.ndarray, np.ndarray], ...] = ()) -> None:
    """``g += blockᵀ diag(h) block``: one ``syrk`` on the ``sqrt|h|``-scaled rows (written into
    ``work``) when ``h`` has one sign, one ``gemm`` on the ``h``-scaled rows otherwise.

    Each ``(acc, v)`` of ``products`` gets ``acc += blockᵀ v`` (a ``gemv``), taken after the
    scaled copy has brought the block into cache and before the Gram product, whose packing
    evicts it: a block's vector products then cost no second read from memory. (On the 2-core
    benchmark machine, a logistic pass at n = 10⁶, p = 50 took 13 % longer with the products
    after the ``syrk``, least of 15 alternating passes; one ``gemm`` for two vectors took 1.6
    times as long as two ``gemv`` on a 5242 × 50 block in cache.)
    """
    if h.min() >= 0.0:
        sign, scale = 1.0, np.sqrt(h)
    elif h.max() <= 0.0:
        sign, scale = -1.0, np.sqrt(-h)
    else:
        sign, scale = 0.0, h
    np.multiply(block, scale[:, None], out=work)
    for acc, v in products:
        acc += block.T @ v
    if sign > 0.0:
        g += work.T @ work
    elif sign < 0.0:
        g -= work.T @ work
    else:
        g += block.T @ work


def weighted_gram(x: np.ndarray, h: np.ndarray, vectors: tuple[np.ndarray, ...] = ()
                  ) -> tuple[np.ndarray, list[np.ndarray]]:
    """``Xᵀ diag(h) X`` and ``Xᵀv`` for each of ``vectors``, from one pass over ``X``.

    ``X`` is an ``(n, p)`` matrix, ``h`` and the vectors have ``n`` entries. The rows are read
    in blocks (:func:`block_rows`), each added into the Gram matrix by :func:`add_gram` while
    the vector products are taken from the same block in cache; the blocks are spread over the
    cores by :func:`over_row_ranges`. Nothing data-sized is allocated.
    """
    n, p = x.shape
    h = np.asarray(h, dtype=float).reshape(-1)
    vs = [np.asarray(v, dtype=float).reshape(-1) for v in vectors]
    rows = min(n, block_rows(p))

    def part(lo: int, hi: int) -> tuple[np.ndarray, list[np.ndarray]]:
        work = np.empty((rows, p))
        g = np.zeros((p, p))
        xv = [np.zeros(p) for _ in vectors]
        for start in range(lo, hi, rows):
            stop = min(hi, start + rows)
            add_gram(g, x[start:stop], h[start:stop], work[: stop - start],
                     tuple(zip(xv, (v[start:stop] for v in vs), strict=True)))
        return g, xv

    parts = over_row_ranges(x, part)
    return sum(q[0] for q in parts), [sum(q[1][j] for q in parts) for j in range(len(vs))]


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
