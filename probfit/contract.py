"""Contractions of (lazily broadcast) Jacobians with per-observation weights.

These are the only places where the data-sized work of an objective happens: ``JᵀWJ`` blocks
(one matrix product for a GLM's ``XᵀWX``) and ``Jᵀd`` vectors.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import blas

__all__ = ["bilinear", "contract", "gram", "is_const", "sum_to_shape", "weighted_gram"]


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


def contract(d: np.ndarray, j: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``Σ_i d_i J_i`` with ``J`` lazily broadcast over the leading axes of ``shape``."""
    d = sum_to_shape(np.asarray(d, dtype=float), shape)
    if j.ndim == 1 or all(s == 1 for s in j.shape[:-1]):
        return float(np.sum(d)) * j.reshape(-1, j.shape[-1])[0]
    jf = np.broadcast_to(j, shape + j.shape[-1:])
    return np.tensordot(d, jf, axes=d.ndim)


def is_const(j: np.ndarray) -> bool:
    return j.ndim == 1 or all(s == 1 for s in j.shape[:-1])


def weighted_gram(x: np.ndarray, h: np.ndarray, buffer: np.ndarray | None = None) -> np.ndarray:
    """``Xᵀ diag(h) X`` for a C-contiguous ``(n, p)`` matrix: one BLAS ``syrk`` on the rows
    scaled by ``sqrt|h|`` when ``h`` has one sign (always, for log-concave likelihoods), one
    ``gemm`` otherwise. ``buffer`` (same shape as ``x``) receives the scaled rows, so repeated
    calls allocate nothing data-sized."""
    if buffer is None or buffer.shape != x.shape:
        buffer = np.empty_like(x)
    h = h.reshape(-1)
    sign = -1.0 if np.all(h <= 0.0) else 1.0 if np.all(h >= 0.0) else 0.0
    if sign == 0.0 or not x.flags.c_contiguous:
        np.multiply(x, h[:, None], out=buffer)
        return x.T @ buffer
    np.multiply(x, np.sqrt(np.abs(h))[:, None], out=buffer)
    upper = blas.dsyrk(sign, buffer.T, trans=0, lower=0)
    return np.triu(upper) + np.triu(upper, 1).T


def gram(ja: np.ndarray, va: tuple[int, ...], na: int, h: np.ndarray, jb: np.ndarray,
         vb: tuple[int, ...], nb: int, buffer: np.ndarray | None = None) -> np.ndarray:
    """``Σ_batch J_aᵀ h J_b`` for scalar or vector (event) arguments.

    When ``J_a`` and ``J_b`` are the same 2-d matrix (a GLM's design ``X``) this is
    :func:`weighted_gram`, using ``buffer`` as its work space."""
    batch = h.shape[: h.ndim - na - nb]
    if na == 0 and nb == 0:
        if is_const(ja) and is_const(jb):
            return float(np.sum(h)) * np.outer(ja.reshape(-1, ja.shape[-1])[0],
                                               jb.reshape(-1, jb.shape[-1])[0])
        if is_const(ja):
            return np.outer(ja.reshape(-1, ja.shape[-1])[0], contract(h, jb, vb))
        if is_const(jb):
            return np.outer(contract(h, ja, va), jb.reshape(-1, jb.shape[-1])[0])
        if va == vb == batch:
            if ja is jb and ja.ndim == 2 and ja.dtype == np.float64:
                return weighted_gram(ja, h, buffer)
            a2 = ja.reshape(-1, ja.shape[-1])
            b2 = jb.reshape(-1, jb.shape[-1])
            return a2.T @ (h.reshape(-1, 1) * b2)
        return bilinear(np.broadcast_to(ja, batch + ja.shape[-1:]), h,
                        np.broadcast_to(jb, batch + jb.shape[-1:]))
    fa = np.broadcast_to(ja, h.shape[: len(batch) + na] + ja.shape[-1:])
    fb = np.broadcast_to(jb, batch + h.shape[len(batch) + na:] + jb.shape[-1:])
    return bilinear(fa, h, fb, na, nb)
