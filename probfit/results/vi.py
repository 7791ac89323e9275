"""The result of a variational fit: a :class:`~probfit.results.fit.Fit` backed by ``q``.

Estimates are posterior means under ``q`` and their uncertainty is the ``q`` posterior sd
(exact where ``q`` has closed-form constrained moments, otherwise from seeded draws mapped to
the constrained scale). Intervals are equal-tailed quantiles of those draws. The fit also keeps
the ELBO trace and the PSIS Pareto k̂ of ``log p − log q`` on draws from ``q``: k̂ below 0.5 means
``q`` is a good importance proposal, above 0.7 that it misses important posterior mass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from probfit.compile.objective import Objective
from probfit.engines.base import EngineResult
from probfit.engines.qfamilies import FactorQ, GaussianQ, forward_many
from probfit.errors import EngineError
from probfit.results.fit import Fit, _check_coords

__all__ = ["VIFit"]

#: Draws from q used for the Pareto k̂, the ELBO estimate, intervals and MC moments.
N_DRAWS = 1000

#: Fewest draws for the PSIS diagnostic: its Pareto tail is min(S/5, 3√S) draws and needs 5.
MIN_DRAWS = 25


class VIFit(Fit):
    """A variational fit.

    Attributes
    ----------
    params, se
        Posterior means and posterior sds under ``q`` on the constrained scale, by name.
    q
        The variational family (:class:`~probfit.engines.qfamilies.GaussianQ` or
        :class:`~probfit.engines.qfamilies.FactorQ`).
    elbo
        The final ELBO (the exact one for CAVI, the Gauss–Hermite one for the quadrature
        engine; a Monte Carlo estimate on ``n_draws`` draws for ADVI) and :attr:`elbo_trace`,
        one value per iteration.
    log_weights
        ``log p − log q`` on the ``n_draws`` draws (their mean is :attr:`elbo_mc`).
    pareto_k
        PSIS Pareto k̂ of ``log p − log q`` on ``n_draws`` draws (the importance-sampling
        diagnostic: above 0.7, ``q`` is not trustworthy; ``-inf`` if ``q`` is exact).
    """

    _constrained_note = ("constrained parameters: posterior mean and sd of q mapped to the "
                         "constrained scale; intervals are quantiles of draws from q")

    def __init__(self, objective: Objective, result: EngineResult,
                 coords: Mapping[str, Any] | None = None, n_draws: int = N_DRAWS,
                 seed: int | None = 0) -> None:
        q = getattr(result, "q", None)
        if not isinstance(n_draws, (int, np.integer)) or n_draws < MIN_DRAWS:
            raise EngineError(f"n_draws must be an integer of at least {MIN_DRAWS} (the PSIS "
                              f"diagnostic fits a Pareto tail to them), got {n_draws!r}")
        if not isinstance(q, (GaussianQ, FactorQ)):
            raise EngineError(f"engine {result.engine!r} returned no variational posterior")
        self.objective, self.model = objective, objective.model
        self.method, self.engine = objective.method, result.engine
        self.q, self.family = q, getattr(result, "family", "")
        self.converged, self.n_iter = result.converged, result.n_iter
        self.message, self.history = result.message, result.history
        self.separated, self.jacobian = None, objective.jacobian
        self.coords = _check_coords(coords, objective)
        self.uncertainty_kind = "VI posterior sd"
        self.se_note = ""
        rng = np.random.default_rng(seed)
        self._u = q.sample_u(rng, n_draws)
        self._draws = self._constrained(self._u)
        exact = q.moments()
        self.params, self.se = {}, {}
        for s in objective.layout:
            if s.name in exact:
                self.params[s.name], self.se[s.name] = exact[s.name]
            else:
                self.params[s.name] = self._draws[s.name].mean(axis=0)
                self.se[s.name] = self._draws[s.name].std(axis=0, ddof=1)
        self.theta = q.mean if isinstance(q, GaussianQ) else objective.layout.pack(self.params)
        self.cov = q.cov if isinstance(q, GaussianQ) else q.cov_u(rng)
        self.loglik = float(objective.loglik(self.theta))
        self.log_prior = float(objective.log_prior(self.theta))
        log_p = np.array([-objective.value(u) for u in self._u])
        log_w = log_p - q.log_q(self._u)
        self.log_weights = log_w
        finite = np.isfinite(log_w)
        self.elbo_mc = float(np.mean(log_w[finite])) if finite.any() else -np.inf
        exact = result.engine in ("cavi", "quadrature")
        self.elbo = -float(result.objective) if exact else self.elbo_mc
        self.pareto_k = _pareto_k(log_w)

    @property
    def elbo_trace(self) -> np.ndarray:
        """The ELBO per iteration (stochastic estimates for ADVI, exact for CAVI and the
        quadrature engine)."""
        return self.history["elbo"]

    def _constrained(self, u: np.ndarray) -> dict[str, np.ndarray]:
        out = {}
        for s in self.objective.layout:
            out[s.name] = forward_many(s.bijector, u[:, s.slice])
        return out

    def sample(self, n: int, rng: np.random.Generator | int | None = None
               ) -> dict[str, np.ndarray]:
        """``n`` draws from ``q`` on the constrained scale, by name (leading axis ``n``)."""
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise EngineError(f"n must be a positive integer, got {n!r}")
        return self._constrained(self.q.sample_u(np.random.default_rng(rng), int(n)))

    def posterior_draws(self, n_draws: int, rng: np.random.Generator):
        """Draws from ``q`` for the diagnostics and the ArviZ export, with ``log p`` and
        ``log q`` on the unconstrained scale (see :mod:`probfit.diagnostics.draws`)."""
        from probfit.diagnostics.draws import PosteriorDraws, log_target

        u = self.q.sample_u(rng, int(n_draws))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            lp = np.array([log_target(self.objective, t) for t in u])
        return PosteriorDraws(u, lp, np.asarray(self.q.log_q(u), dtype=float), "variational")

    def conf_int(self, level: float = 0.95) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Equal-tailed posterior intervals from the draws of ``q``, by parameter."""
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must be in (0, 1), got {level}")
        lo, hi = (1.0 - level) / 2.0, (1.0 + level) / 2.0
        return {k: (np.quantile(v, lo, axis=0), np.quantile(v, hi, axis=0))
                for k, v in self._draws.items()}

    def _summary_text(self, rows: list[dict[str, Any]], level: float) -> str:
        text = super()._summary_text(rows, level)
        flag = "  (> 0.7: q is not a trustworthy posterior)" if self.pareto_k > 0.7 else ""
        extra = [f"ELBO: {self.elbo:.6g}   family: {self.family or self.engine}",
                 f"PSIS Pareto k-hat of log p - log q: {self.pareto_k:.3f}{flag}"]
        return text + "\n" + "\n".join(extra)

    def __repr__(self) -> str:
        return (f"<VIFit {self.model.name} vi/{self.engine}: elbo={self.elbo:.6g}, "
                f"pareto_k={self.pareto_k:.3g}, converged={self.converged}>")


def _pareto_k(log_w: np.ndarray) -> float:
    """PSIS k̂ of the log importance ratios (``-inf`` when they are all equal, i.e. ``q`` is
    the exact posterior; ``inf`` when too few are finite)."""
    finite = np.isfinite(log_w)
    if finite.sum() <= 10:
        return np.inf
    spread = np.ptp(log_w[finite])
    if spread <= 1e-9 * max(1.0, float(np.max(np.abs(log_w[finite])))):
        return -np.inf
    from arviz_stats.base.array import array_stats  # ArviZ loads on first use, not on import

    return float(array_stats.psislw(np.where(finite, log_w, -np.inf), r_eff=1.0)[1])
