"""Comparing mixture components up to relabelling (label switching)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import linear_sum_assignment

from probfit.errors import DataError

if TYPE_CHECKING:
    from probfit.latent.fit import LatentFit

__all__ = ["align_components", "match_components"]


def match_components(estimate: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The relabelling of ``estimate`` that best matches ``reference``.

    Parameters
    ----------
    estimate, reference
        Arrays with the ``k`` components on the first axis (e.g. ``(k, d)`` means); the other
        axes are flattened and compared by squared Euclidean distance.

    Returns
    -------
    numpy.ndarray
        ``perm`` such that ``estimate[perm]`` lines up with ``reference`` (an optimal
        assignment, by the Hungarian method).

    Raises
    ------
    DataError
        If the shapes differ.
    """
    est = np.asarray(estimate, dtype=float)
    ref = np.asarray(reference, dtype=float)
    if est.shape != ref.shape or est.ndim == 0:
        raise DataError(f"estimate has shape {est.shape} but reference has {ref.shape}; both "
                        "need the components on the first axis")
    a, b = est.reshape(len(est), -1), ref.reshape(len(ref), -1)
    cost = np.sum((b[:, None, :] - a[None, :, :]) ** 2, axis=2)
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty(len(ref), dtype=np.intp)
    perm[rows] = cols
    return perm


def align_components(fit: LatentFit, reference: Mapping[str, np.ndarray],
                     by: Sequence[str] | None = None
                     ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Relabel a mixture fit's components to match reference parameter values.

    Parameters
    ----------
    fit
        A fit of a model with a Categorical latent.
    reference
        Reference values by parameter name, components on the first axis.
    by
        Parameters to match on (default: every parameter of ``reference`` that has the
        component dim first).

    Returns
    -------
    perm, params
        The permutation (see :func:`match_components`) and the fit's parameters with every
        component-indexed one reordered by it.
    """
    dim = fit.problem.category_dim
    if dim is None:
        raise DataError(f"latent {fit.latent!r} has no category dim to align")
    indexed = {s.name for s in fit.objective.layout if s.dims[:1] == (dim,)}
    names = list(by) if by is not None else [k for k in reference if k in indexed]
    unknown = [k for k in names if k not in indexed]
    if unknown or not names:
        raise DataError(f"cannot match components on {unknown or names}; choose from "
                        f"{sorted(indexed)}")
    est = np.concatenate([fit.params[k].reshape(fit.k, -1) for k in names], axis=1)
    ref = np.concatenate([np.asarray(reference[k], float).reshape(fit.k, -1) for k in names],
                         axis=1)
    perm = match_components(est, ref)
    params = {k: (v[perm] if k in indexed else v) for k, v in fit.params.items()}
    return perm, params
