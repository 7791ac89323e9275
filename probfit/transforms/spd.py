"""The Cholesky bijector onto symmetric positive-definite matrices (covariances)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from probfit.transforms.bijectors import Bijector

__all__ = ["CholeskySPD"]


@dataclass(frozen=True)
class CholeskySPD(Bijector):
    """``Sigma = L Lᵀ`` per trailing ``(d, d)`` matrix, ``L`` lower triangular.

    Each matrix takes ``d(d+1)/2`` free coordinates: the strictly-lower entries of ``L`` as
    they are and the log of its diagonal (so ``L_ii = exp(u_ii) > 0``). Leading axes (e.g.
    one covariance per mixture component) are independent blocks. The log-determinant of the
    map from ``u`` to the lower triangle of ``Sigma`` is
    ``Σ_i [log 2 + (d - i + 1) u_ii]`` (``i`` from 0), linear in ``u``.
    """

    elementwise = False

    @property
    def d(self) -> int:
        return self.shape[-1]

    @property
    def n_blocks(self) -> int:
        return int(np.prod(self.shape[:-2], dtype=int))

    @property
    def per_block(self) -> int:
        return self.d * (self.d + 1) // 2

    @property
    def size_u(self) -> int:
        return self.n_blocks * self.per_block

    def _tril(self) -> tuple[np.ndarray, np.ndarray]:
        return _tril_indices(self.d)

    def _chol(self, u: np.ndarray) -> np.ndarray:
        """Cholesky factors, shape ``(n_blocks, d, d)``."""
        rows, cols = self._tril()
        ub = np.asarray(u, dtype=float).reshape(self.n_blocks, self.per_block)
        diag = rows == cols
        vals = np.where(diag, np.exp(np.where(diag, ub, 0.0)), ub)
        chol = np.zeros((self.n_blocks, self.d, self.d))
        chol[:, rows, cols] = vals
        return chol

    def _basis(self, chol: np.ndarray) -> np.ndarray:
        """``E[b, m] = dL_b / du_m`` for one block's coordinates, shape ``(B, M, d, d)``."""
        rows, cols = self._tril()
        m = np.arange(self.per_block)
        e = np.zeros((chol.shape[0], self.per_block, self.d, self.d))
        scale = np.where(rows == cols, chol[:, rows, cols], 1.0)
        e[:, m, rows, cols] = scale
        return e

    def forward(self, u: np.ndarray) -> np.ndarray:
        chol = self._chol(u)
        return (chol @ np.swapaxes(chol, -1, -2)).reshape(self.shape)

    def inverse(self, x: np.ndarray) -> np.ndarray:
        mats = np.asarray(x, dtype=float).reshape(self.n_blocks, self.d, self.d)
        chol = np.linalg.cholesky(mats)
        rows, cols = self._tril()
        vals = chol[:, rows, cols]
        vals = np.where(rows == cols, np.log(np.where(rows == cols, vals, 1.0)), vals)
        return vals.reshape(-1)

    def jac(self, u: np.ndarray) -> np.ndarray:
        chol = self._chol(u)
        e = self._basis(chol)
        lt = np.swapaxes(chol, -1, -2)[:, None]
        blocks = e @ lt + np.swapaxes(e @ lt, -1, -2)  # (B, M, d, d)
        out = np.zeros((self.n_blocks, self.d, self.d, self.n_blocks, self.per_block))
        for b in range(self.n_blocks):
            out[b, :, :, b, :] = np.moveaxis(blocks[b], 0, -1)
        return out.reshape(*self.shape, self.size_u)

    def curv(self, u: np.ndarray, g: np.ndarray) -> np.ndarray:
        chol = self._chol(u)
        e = self._basis(chol)
        gb = np.broadcast_to(np.asarray(g, dtype=float), self.shape).reshape(
            self.n_blocks, self.d, self.d)
        rows, cols = self._tril()
        out = np.zeros((self.size_u, self.size_u))
        for b in range(self.n_blocks):
            t = np.einsum("ab,mac,nbc->mn", gb[b], e[b], e[b])
            h = t + t.T
            gs = gb[b] + gb[b].T
            diag = np.flatnonzero(rows == cols)
            i = rows[diag]
            h[diag, diag] += chol[b, i, i] * np.einsum("ic,ci->i", gs[i], chol[b][:, i])
            sl = slice(b * self.per_block, (b + 1) * self.per_block)
            out[sl, sl] = h
        return out

    def _ld_coef(self) -> np.ndarray:
        rows, cols = self._tril()
        coef = np.where(rows == cols, self.d - rows + 1.0, 0.0)
        return np.tile(coef, self.n_blocks)

    def log_det(self, u: np.ndarray) -> float:
        return float(self.n_blocks * self.d * np.log(2.0) + self._ld_coef() @ np.asarray(u))

    def log_det_grad(self, u: np.ndarray) -> np.ndarray:
        return self._ld_coef()

    def log_det_hess(self, u: np.ndarray) -> np.ndarray:
        return np.zeros((self.size_u, self.size_u))


@lru_cache(maxsize=32)
def _tril_indices(d: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.tril_indices(d)
    rows.flags.writeable = False
    cols.flags.writeable = False
    return rows, cols
