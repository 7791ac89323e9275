"""The deterministic ELBO of a Gaussian ``q`` over a GLM-shaped objective.

For a likelihood whose only parameter-dependent argument is a linear predictor
``η = Jθ + c`` (:class:`~probfit.engines.glm_view.GLMView`) and ``q(θ) = N(m, C)``, every
``η_i`` is Gaussian, ``N(J_i m + c_i, J_i C J_iᵀ)``, so

    ELBO = Σ_i E[log p(y_i | η_i)] + Σ_j E[log p(θ_j)] + H[q]

is a sum of 1-d Gaussian expectations: the likelihood terms by Gauss–Hermite quadrature
(:mod:`probfit.engines.gauss_hermite`) on the distribution's own ``logp``/``dlogp``/``d2logp``,
Normal and Laplace priors in closed form, Student-t priors by quadrature per coordinate, and the
entropy ``½ d log(2πe) + ½ log det C`` in closed form. The data enter through ``J m``, the
row variances (``(J∘J) s²`` for mean-field, ``rowsum((J L)²)`` for full-rank) and products
``Jᵀ(·)`` with per-row weights: ``O(n d)`` per evaluation for mean-field (``O(n d²)`` for
full-rank and for the mean-field Hessian), never an ``n × n`` matrix. Rows are processed in
chunks so the ``n × K`` node arrays stay small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from probfit.compile.context import Context
from probfit.compile.objective import Objective
from probfit.contract import weighted_gram
from probfit.distributions import Distribution, Flat, Laplace, Normal, StudentT
from probfit.dsl.expr import Expr
from probfit.engines.gauss_hermite import Expectation, expect, rule, sd_to_var
from probfit.engines.glm_view import GLMView

__all__ = ["QuadratureELBO", "quadrature_refusal"]

_LOG_2PI = np.log(2.0 * np.pi)
_SQRT_HALF = np.sqrt(0.5)

#: Design entries per block of :func:`_meanfield_blocks`.
_BLOCK_ELEMENTS = 1 << 15

#: Node evaluations (rows × nodes) per chunk of the likelihood: the chunk's work arrays
#: (256 KB each) stay in cache between the elementwise passes.
CHUNK_ELEMENTS = 1 << 15

_CLOSED_FORM = (Normal, Laplace)
_BY_QUADRATURE = (StudentT,)

_ADVI = "use engine='advi' for this model"


def quadrature_refusal(objective: Objective) -> str | None:
    """Why the quadrature engine cannot fit ``objective`` (``None`` if it can)."""
    for s in objective.layout:
        if not s.bijector.is_identity():
            support = objective.model.param_decls[s.name].support
            return (f"param {s.name!r} is constrained ({support.describe()}); the quadrature "
                    f"engine needs every parameter unconstrained (real); {_ADVI}")
    view = GLMView.of(objective)
    if view is None:
        return _not_glm(objective)
    domain = view.factor.dist.domains.get(view.arg)
    if domain is not None and (domain.lower is not None or domain.upper is not None):
        return (f"argument {view.arg!r} of the likelihood of {view.factor.name!r} must be "
                f"{domain.describe()}, but a Gaussian q puts the linear predictor on the whole "
                "real line; use a link (e.g. logit=, log_rate=) or engine='advi'")
    for f in objective.factors:
        if f.kind != "prior":
            continue
        dist = f.dist
        if any(isinstance(v, Expr) and v.params for v in f.args.values()):
            return (f"the prior {dist!r} of param {f.name!r} depends on parameters (a "
                    f"hierarchical prior), so E_q[log p({f.name})] is not a 1-d integral; "
                    f"{_ADVI}")
        if type(dist) not in (*_CLOSED_FORM, *_BY_QUADRATURE, Flat):
            return (f"the prior {dist!r} of param {f.name!r} is not supported by the quadrature "
                    "engine (it takes Normal and Laplace priors in closed form, StudentT by "
                    f"quadrature, Flat or no prior); {_ADVI}")
    elbo = QuadratureELBO(objective, nodes=2)
    covered = np.any(elbo.jac != 0.0, axis=0)
    for p in elbo.priors:
        covered[p.index] = True
    if not covered.all():
        label = objective.layout.labels()[int(np.argmin(covered))]
        return (f"{label!r} enters neither the linear predictor nor a prior, so its posterior "
                "is improper; give it a prior or remove it")
    return None


def _not_glm(objective: Objective) -> str:
    obs = objective.obs_factors()
    need = ("the quadrature engine needs one observed variable whose only parameter-dependent "
            "argument is a linear predictor such as X @ w + b")
    if len(obs) != 1:
        found = f"the model has {len(obs)} observed variables"
    else:
        f = obs[0]
        wrt = f.diff_args
        if len(wrt) != 1:
            found = (f"the likelihood of {f.name!r} has parameter-dependent arguments "
                     f"{list(wrt)}")
        elif f.dist.event_ndim != 0:
            found = f"the likelihood of {f.name!r} is multivariate ({type(f.dist).__name__})"
        elif not f.expr_of(wrt[0]).linear:
            found = f"argument {wrt[0]!r} of the likelihood of {f.name!r} is not linear"
        else:
            found = (f"argument {wrt[0]!r} of the likelihood of {f.name!r} is not one value "
                     "per row")
    return f"{need}; {found}; {_ADVI}"


@dataclass
class _Prior:
    """One prior factor over coordinates ``index`` of ``θ`` (numeric arguments, flattened)."""

    name: str
    index: np.ndarray
    dist: Distribution
    args: dict[str, np.ndarray]

    def expect(self, mu: np.ndarray, var: np.ndarray, order: int, nodes: int) -> Expectation:
        if isinstance(self.dist, Normal):
            return _normal_prior(mu, var, self.args["loc"], self.args["scale"], order)
        if isinstance(self.dist, Laplace):
            return _laplace_prior(mu, var, self.args["loc"], self.args["scale"], order)
        dist, args = self.dist, {k: v[:, None] for k, v in self.args.items()}

        def f(eta: np.ndarray, order: int):
            lp = dist.logp(eta, args)
            d1 = dist.dlogp(eta, args, ("value",))["value"] if order >= 1 else None
            d2 = dist.d2logp(eta, args, ("value",))[("value", "value")] if order >= 2 else None
            return lp, d1, d2

        return expect(f, mu, var, rule(nodes), order)


def _normal_prior(mu: np.ndarray, var: np.ndarray, loc: np.ndarray, scale: np.ndarray,
                  order: int) -> Expectation:
    """``E[log N(θ | loc, scale)]`` for ``θ ~ N(mu, var)``: closed form."""
    prec = 1.0 / (scale * scale)
    r = mu - loc
    value = -0.5 * (r * r + var) * prec - np.log(scale) - 0.5 * _LOG_2PI
    if order == 0:
        return Expectation(value)
    zero = np.zeros_like(mu)
    return Expectation(value, -r * prec, -0.5 * prec + zero, -prec + zero, zero, zero)


def _laplace_prior(mu: np.ndarray, var: np.ndarray, loc: np.ndarray, scale: np.ndarray,
                   order: int) -> Expectation:
    """``E[log Laplace(θ | loc, b)] = −log 2b − E|θ − loc| / b`` with
    ``E|θ − loc| = σ(2φ(z) + z erf(z/√2))``, ``z = (mu − loc)/σ`` (``σ > 0``)."""
    sd = np.sqrt(var)
    z = (mu - loc) / sd
    phi2 = 2.0 * np.exp(-0.5 * z * z - 0.5 * _LOG_2PI)
    erf = special.erf(z * _SQRT_HALF)
    k = -1.0 / scale
    value = k * sd * (phi2 + z * erf) - np.log(2.0 * scale)
    if order == 0:
        return Expectation(value)
    if order == 1:
        return sd_to_var(value, k * erf, k * phi2, None, None, None, sd)
    return sd_to_var(value, k * erf, k * phi2, k * phi2 / sd, -k * phi2 * z / sd,
                     k * phi2 * z * z / sd, sd)


def _meanfield_blocks(jac: np.ndarray, jac2: np.ndarray, a: np.ndarray, b: np.ndarray,
                      c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``Jᵀ diag(a) J``, ``Jᵀ diag(b) J2`` and ``J2ᵀ diag(c) J2`` in one pass over blocks of
    rows (two small BLAS calls per block, on rows that stay in cache)."""
    n, d = jac.shape
    rows = max(1, min(n, _BLOCK_ELEMENTS // max(2 * d, 1)))
    top, h_uu = np.zeros((d, 2 * d)), np.zeros((d, d))
    work = np.empty((rows, 2 * d))
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        j, j2, w = jac[start:stop], jac2[start:stop], work[: stop - start]
        np.multiply(j, a[start:stop, None], out=w[:, :d])
        np.multiply(j2, b[start:stop, None], out=w[:, d:])
        top += j.T @ w
        np.multiply(j2, c[start:stop, None], out=w[:, :d])
        h_uu += j2.T @ w[:, :d]
    return top[:, :d], top[:, d:], h_uu


class QuadratureELBO:
    """The ELBO of ``q = N(m, C)`` over a GLM-shaped ``method="vi"`` objective.

    Parameters
    ----------
    objective
        An objective :func:`quadrature_refusal` accepts.
    nodes
        Gauss–Hermite nodes per likelihood (and Student-t prior) expectation.

    Attributes
    ----------
    jac, offset
        ``η = jac @ θ + offset`` (``jac`` is ``n × d``).
    priors
        The prior factors (Flat priors and parameters without a prior contribute 0).
    """

    def __init__(self, objective: Objective, nodes: int = 20) -> None:
        view = GLMView.of(objective)
        self.objective, self.nodes, self.quad = objective, int(nodes), rule(int(nodes))
        self.dist, self.arg = view.factor.dist, view.arg
        d = objective.size
        ctx = Context(objective.layout, np.zeros(d), objective.data)
        self.offset = np.asarray(view.expr.value(ctx), dtype=float)
        self.n = self.offset.shape[0]
        self.jac = np.ascontiguousarray(view.columns(np.arange(d)))
        self._jac2: np.ndarray | None = None
        f = view.factor
        x = np.asarray(f.value.value(ctx), dtype=float)
        self.x = x[:, None] if x.ndim == 1 else x
        self.consts = {}
        for k, v in f.args.items():
            if k == self.arg:
                continue
            a = np.asarray(v.value(ctx) if isinstance(v, Expr) else v, dtype=float)
            self.consts[k] = a[:, None] if a.ndim == 1 and a.shape[0] == self.n else a
        self.priors: list[_Prior] = []
        for f in objective.factors:
            if f.kind != "prior" or isinstance(f.dist, Flat):
                continue
            slot = objective.layout[f.name]
            args = {k: np.broadcast_to(np.asarray(v.value(ctx) if isinstance(v, Expr) else v,
                                                  dtype=float), slot.shape).reshape(-1)
                    for k, v in f.args.items()}
            self.priors.append(_Prior(f.name, np.arange(slot.start, slot.stop), f.dist, args))
        self.size = d

    @property
    def jac2(self) -> np.ndarray:
        """``J ∘ J`` (made on first use: the mean-field row variances are ``(J∘J) s²``)."""
        if self._jac2 is None:
            self._jac2 = self.jac * self.jac
        return self._jac2

    # ------------------------------------------------------------------ the pieces
    def likelihood(self, mu: np.ndarray, var: np.ndarray, order: int,
                   nodes: int | None = None) -> Expectation:
        """Per-row ``E[log p(y_i | η_i)]`` for ``η_i ~ N(mu_i, var_i)`` and its derivatives
        (with ``nodes`` Gauss–Hermite nodes instead of :attr:`nodes` if given)."""
        dist, arg, x, consts = self.dist, self.arg, self.x, self.consts
        quad = self.quad if nodes is None else rule(int(nodes))
        chunk = max(1, CHUNK_ELEMENTS // quad.nodes.size)
        parts = []
        for a in range(0, self.n, chunk):
            rows = slice(a, min(a + chunk, self.n))
            vals = {k: (v[rows] if v.ndim and v.shape[0] == self.n else v)
                    for k, v in consts.items()}
            xr = x[rows]

            def f(eta: np.ndarray, order: int, vals=vals, xr=xr):
                vals = {**vals, arg: eta}
                lp = dist.logp(xr, vals)
                d1 = dist.dlogp(xr, vals, (arg,))[arg] if order >= 1 else None
                d2 = dist.d2logp(xr, vals, (arg,))[(arg, arg)] if order >= 2 else None
                return lp, d1, d2

            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                parts.append(expect(f, mu[rows], var[rows], quad, order))
        if len(parts) == 1:
            return parts[0]
        fields = ("value", "d_mu", "d_var", "d_mumu", "d_muvar", "d_varvar")
        return Expectation(*(None if getattr(parts[0], k) is None else
                             np.concatenate([getattr(p, k) for p in parts]) for k in fields))

    def prior(self, mean: np.ndarray, var: np.ndarray, order: int) -> Expectation:
        """``Σ E[log p(θ_j)]`` (``value``, a scalar) and its derivatives in each coordinate's
        mean and variance (length-``d`` arrays; 0 for coordinates without a prior)."""
        keys = ("d_mu", "d_var", "d_mumu", "d_muvar", "d_varvar")[:(0, 2, 5)[min(order, 2)]]
        grads = {k: np.zeros(self.size) for k in keys}
        total = 0.0
        for p in self.priors:
            e = p.expect(mean[p.index], var[p.index], order, self.nodes)
            total += float(np.sum(e.value))
            for k, g in grads.items():
                g[p.index] += getattr(e, k)
        return Expectation(np.asarray(total), **grads)

    # ------------------------------------------------------------------ the two families
    def meanfield(self, lam: np.ndarray, order: int = 2
                  ) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        """ELBO, gradient and Hessian in ``lam = (m, log s)`` for ``q = N(m, diag(s²))``."""
        d = self.size
        m, rho = lam[:d], lam[d:]
        with np.errstate(over="ignore"):
            u = np.exp(2.0 * rho)
        jac, jac2 = self.jac, self.jac2
        lik = self.likelihood(jac @ m + self.offset, jac2 @ u, order)
        pri = self.prior(m, u, order)
        entropy = 0.5 * d * (1.0 + _LOG_2PI) + float(np.sum(rho))
        elbo = float(np.sum(lik.value)) + float(pri.value) + entropy
        if order == 0:
            return elbo, None, None
        if order == 1:
            g_m = jac.T @ lik.d_mu + pri.d_mu
            g_u = jac2.T @ lik.d_var + pri.d_var
            return elbo, np.concatenate([g_m, 2.0 * u * g_u + 1.0]), None
        g_m = jac.T @ lik.d_mu + pri.d_mu
        g_u = jac2.T @ lik.d_var + pri.d_var
        grad = np.concatenate([g_m, 2.0 * u * g_u + 1.0])
        two_u = 2.0 * u
        h_mm, h_mu, h_uu = _meanfield_blocks(jac, jac2, lik.d_mumu, lik.d_muvar, lik.d_varvar)
        h_mm += np.diag(pri.d_mumu)
        h_mu += np.diag(pri.d_muvar)
        h_uu += np.diag(pri.d_varvar)
        h_mr = h_mu * two_u
        h_rr = two_u[:, None] * h_uu * two_u + np.diag(2.0 * two_u * g_u)
        hess = np.block([[h_mm, h_mr], [h_mr.T, h_rr]])
        return elbo, grad, 0.5 * (hess + hess.T)

    def expected_log_joint(self, mean: np.ndarray, chol: np.ndarray, order: int = 1,
                           nodes: int | None = None
                           ) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        """``E_q[log p(y, θ)]`` for ``q = N(mean, L Lᵀ)`` and its gradients in ``mean`` and in
        the lower-triangular ``L`` (the entropy is not included; ``nodes`` as in
        :meth:`likelihood`)."""
        a = self.jac @ chol
        var = np.einsum("ij,ij->i", a, a)
        cvar = np.einsum("ij,ij->i", chol, chol)
        lik = self.likelihood(self.jac @ mean + self.offset, var, min(order, 1), nodes)
        pri = self.prior(mean, cvar, min(order, 1))
        value = float(np.sum(lik.value)) + float(pri.value)
        if order == 0:
            return value, None, None
        g_mean = self.jac.T @ lik.d_mu + pri.d_mu
        g_chol = np.tril(2.0 * (self.jac.T @ (lik.d_var[:, None] * a))
                         + 2.0 * pri.d_var[:, None] * chol)
        return value, g_mean, g_chol

    def fullrank(self, mean: np.ndarray, chol: np.ndarray
                 ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """ELBO of ``q = N(mean, L Lᵀ)`` with the pieces of its stationarity conditions:
        ``∂/∂mean``, ``∂²/∂mean²`` and ``G = ∂E_q[log p]/∂C`` (symmetric; the ELBO's gradient
        in ``C`` is ``G + ½ C⁻¹``, zero at the optimum)."""
        d = self.size
        a = self.jac @ chol
        lik = self.likelihood(self.jac @ mean + self.offset, np.einsum("ij,ij->i", a, a), 2)
        pri = self.prior(mean, np.einsum("ij,ij->i", chol, chol), 2)
        entropy = 0.5 * d * (1.0 + _LOG_2PI) + float(np.sum(np.log(np.diag(chol))))
        value = float(np.sum(lik.value)) + float(pri.value) + entropy
        h_mean, (g_mean,) = weighted_gram(self.jac, lik.d_mumu, (lik.d_mu,))
        g_cov = weighted_gram(self.jac, lik.d_var)[0] + np.diag(pri.d_var)
        return (value, g_mean + pri.d_mu, h_mean + np.diag(pri.d_mumu), g_cov)

    def elbo(self, mean: np.ndarray, chol: np.ndarray, nodes: int | None = None) -> float:
        """The ELBO of ``q = N(mean, L Lᵀ)`` (any lower-triangular ``L`` with positive
        diagonal, e.g. diagonal for mean-field; ``nodes`` as in :meth:`likelihood`)."""
        d = self.size
        entropy = 0.5 * d * (1.0 + _LOG_2PI) + float(np.sum(np.log(np.diag(chol))))
        return self.expected_log_joint(mean, chol, 0, nodes)[0] + entropy
