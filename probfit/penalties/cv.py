"""K-fold cross-validation of the prior scale along a regularization path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from probfit.compile.objective import compile_objective
from probfit.dsl.model import Model
from probfit.errors import SpecError
from probfit.penalties.path import PathResult, run_path

__all__ = ["CVResult", "cv"]


@dataclass
class CVResult:
    """Held-out log-likelihood along a path, and the two usual picks.

    Attributes
    ----------
    path
        The path on all the data (its strengths are the grid every fold used).
    mean, se
        Mean over folds of the held-out log-likelihood per held-out row, and its standard error
        (fold standard deviation / √k).
    fold_loglik
        ``(k, n_points)`` held-out log-likelihood per row, by fold.
    index_min, index_1se
        The point with the highest mean (``min`` rule: lowest held-out deviance), and the most
        penalised point whose mean is within one standard error of it (``1-SE`` rule).
    """

    path: PathResult
    mean: np.ndarray
    se: np.ndarray
    fold_loglik: np.ndarray
    index_min: int
    index_1se: int

    @property
    def strength_min(self) -> float:
        """Penalty multiplier chosen by the min rule."""
        return float(self.path.strength[self.index_min])

    @property
    def strength_1se(self) -> float:
        """Penalty multiplier chosen by the 1-SE rule."""
        return float(self.path.strength[self.index_1se])

    @property
    def prior_scale_min(self) -> float:
        """Prior scale (of the reference coefficient) chosen by the min rule."""
        return float(self.path.prior_scale[self.index_min])

    @property
    def prior_scale_1se(self) -> float:
        """Prior scale (of the reference coefficient) chosen by the 1-SE rule."""
        return float(self.path.prior_scale[self.index_1se])

    @property
    def coef_min(self) -> np.ndarray:
        """Full-data estimates of the swept parameter at the min-rule point."""
        return self.path.coef[self.index_min]

    @property
    def coef_1se(self) -> np.ndarray:
        """Full-data estimates of the swept parameter at the 1-SE point."""
        return self.path.coef[self.index_1se]


def cv(model: Model, data: Mapping[str, Any], param: str = "w", n: int = 50, *,
       folds: int = 5, ratio: float = 1e-3, seed: int | None = 0, engine: str = "newton",
       dims: Mapping[str, int] | None = None, **options: Any) -> CVResult:
    """Choose the prior scale of ``param`` by k-fold held-out log-likelihood.

    The grid is the full-data :func:`~probfit.penalties.path.path`; each fold refits the same
    grid (warm starts) on the other folds' rows and scores ``Σ log p(y | θ̂)`` on its own rows.

    Parameters
    ----------
    model, data, param, n, ratio, engine, dims, **options
        As for :func:`~probfit.penalties.path.path`.
    folds
        Number of folds ``k`` (rows are shuffled with ``seed`` and split as evenly as possible).
    seed
        Seed of the shuffle.

    Raises
    ------
    SpecError
        If ``folds`` is not between 2 and the number of rows.
    """
    full = compile_objective(model, data, "map", dims=dims)
    rows = full.n_obs
    if not 2 <= int(folds) <= rows:
        raise SpecError(f"cv: folds must be between 2 and the number of rows ({rows}), "
                        f"got {folds}")
    result = run_path(full, param, n=n, ratio=ratio, engine=engine,
                      mle=lambda: compile_objective(model, full.data, "mle", dims=dims),
                      **options)
    row_dim = full.row_dim
    sizes = {d: s for d, s in full.sizes.items() if d != row_dim}
    order = np.random.default_rng(seed).permutation(rows)
    scores = np.empty((int(folds), len(result)))
    for k, test in enumerate(np.array_split(order, int(folds))):
        train = np.setdiff1d(order, test)
        obj = compile_objective(model, full.minibatch(train), "map", dims=sizes)
        fold = run_path(obj, param, result.strength, engine=engine, theta0=result.theta[0],
                        **options)
        held = full.minibatch(test)
        scores[k] = [obj.loglik(t, data=held) / test.size for t in fold.theta]
    mean = scores.mean(axis=0)
    se = scores.std(axis=0, ddof=1) / np.sqrt(int(folds))
    best = int(np.argmax(mean))
    within = np.flatnonzero(mean >= mean[best] - se[best])
    return CVResult(result, mean, se, scores, best, int(within.min()))
