"""Recognise conditionally conjugate structure in a declaration, for CAVI.

Every parameter gets a variational factor chosen by its prior and support:

* real parameters with a ``Normal`` prior (numeric arguments) join one joint Gaussian block;
* positive parameters with a ``Gamma(shape, rate)`` prior get a Gamma factor;
* unit-interval parameters with a ``Beta`` prior get a Beta factor;
* simplex parameters with a ``Dirichlet`` prior get a Dirichlet factor.

Every likelihood argument must then be conjugate to those factors:

* ``Normal(loc, scale)``: ``loc`` affine in Gaussian-block parameters (``mu``, ``X @ w + b``,
  ...); ``scale`` known (numbers or data) or ``tau ** -0.5`` (equivalently ``1 / tau ** 0.5``)
  with ``tau`` — or an element of it, ``tau[g]`` — a Gamma-prior *precision*;
* ``Bernoulli(p=...)``/``Binomial(trials, p=...)``: ``p`` a Beta parameter (or ``p[g]``);
* ``Bernoulli(logit=...)``/``Binomial(trials, logit=...)``: ``logit`` affine in Gaussian-block
  parameters (Bayesian logistic regression, through the Jaakkola–Jordan bound);
* ``Poisson(rate=...)``: ``rate`` a Gamma parameter (or ``rate[g]``);
* ``Categorical(probs=...)``: ``probs`` a Dirichlet parameter.

Anything else raises :class:`~probfit.errors.EngineError` naming the node and the prior that
break conjugacy, and suggesting ``engine="advi"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import special

from probfit.compile.context import Context
from probfit.compile.objective import Factor, Objective
from probfit.distributions import Bernoulli, Beta, Binomial, Categorical, Dirichlet, Gamma, Normal
from probfit.distributions import Poisson as PoissonDist
from probfit.dsl.expr import Const, Div, Expr, Param, Pow
from probfit.errors import EngineError

__all__ = ["BlockTerm", "ConjugatePlan", "CountTerm", "recognise"]

_ADVICE = "; use engine='advi' for this model"


@dataclass
class BlockTerm:
    """A likelihood quadratic in the Gaussian block: ``η = A w + c`` per flattened row.

    ``kind`` is ``"normal"`` (precision known as ``prec`` or a Gamma selector ``(name, idx)``)
    or ``"logit"`` (Bernoulli/Binomial with ``trials``).
    """

    kind: str
    name: str
    y: np.ndarray
    A: np.ndarray
    c: np.ndarray
    prec: np.ndarray | None = None
    gamma: tuple[str, np.ndarray] | None = None
    trials: np.ndarray | None = None
    const: float = 0.0


@dataclass
class CountTerm:
    """Sufficient statistics for a Beta, Gamma or Dirichlet factor from one likelihood.

    ``stat_a``/``stat_b`` are added to the factor's first/second natural parameters at
    ``idx``; the expected log-likelihood is
    ``Σ stat_a·E[t_a] + Σ stat_b·E[t_b] + const`` with ``(t_a, t_b)`` = ``(log p, log(1-p))``
    (Beta), ``(log λ, -λ)`` (Gamma) or ``(log π, -)`` (Dirichlet).
    """

    name: str
    param: str
    idx: np.ndarray
    stat_a: np.ndarray
    stat_b: np.ndarray
    const: float


@dataclass
class ConjugatePlan:
    """What CAVI needs: the factors with their priors, and the likelihood terms."""

    block: list[str] = field(default_factory=list)
    block_m0: np.ndarray = field(default_factory=lambda: np.zeros(0))
    block_p0: np.ndarray = field(default_factory=lambda: np.zeros(0))
    gamma: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    beta: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    dirichlet: dict[str, np.ndarray] = field(default_factory=dict)
    block_terms: list[BlockTerm] = field(default_factory=list)
    count_terms: list[CountTerm] = field(default_factory=list)


def recognise(objective: Objective) -> ConjugatePlan:
    """The CAVI plan of a ``method="vi"`` objective.

    Raises
    ------
    EngineError
        If a prior or a likelihood argument is not conditionally conjugate; the message names
        the parameter or observed variable and the prior at fault.
    """
    plan = ConjugatePlan()
    layout = objective.layout
    m0, p0 = [], []
    for s in layout:
        decl = objective.model.param_decls[s.name]
        prior, support = decl.prior, decl.support.name
        what = f"param {s.name!r} with prior {prior!r}"
        if prior is None:
            raise EngineError(f"CAVI needs a proper conjugate prior, but param {s.name!r} has "
                              f"none{_ADVICE}")
        if any(isinstance(v, Expr) for v in prior.args.values()):
            raise EngineError(f"{what}: CAVI needs numeric prior arguments (hierarchical "
                              f"priors are not conditionally conjugate here){_ADVICE}")
        shape = s.shape
        if isinstance(prior, Normal) and s.bijector.is_identity():
            plan.block.append(s.name)
            m0.append(np.broadcast_to(prior.args["loc"], shape).reshape(-1))
            p0.append(np.broadcast_to(prior.args["scale"] ** -2.0, shape).reshape(-1))
        elif isinstance(prior, Gamma) and prior.param == "rate" and support in (
                "positive", "positive_vector"):
            plan.gamma[s.name] = (np.broadcast_to(prior.args["shape"], shape).astype(float),
                                  np.broadcast_to(prior.args["rate"], shape).astype(float))
        elif isinstance(prior, Beta) and support == "unit_interval":
            plan.beta[s.name] = (np.broadcast_to(prior.args["a"], shape).astype(float),
                                 np.broadcast_to(prior.args["b"], shape).astype(float))
        elif isinstance(prior, Dirichlet) and support == "simplex":
            plan.dirichlet[s.name] = np.broadcast_to(prior.args["concentration"],
                                                     shape).astype(float)
        else:
            raise EngineError(f"{what} (support {support!r}) has no conjugate CAVI factor: "
                              "CAVI supports Normal priors on real parameters, Gamma(shape, "
                              "rate) on positive ones, Beta on unit-interval ones and Dirichlet "
                              f"on simplexes{_ADVICE}")
    if plan.block:
        plan.block_m0, plan.block_p0 = np.concatenate(m0), np.concatenate(p0)
    rng = np.random.default_rng(0)
    ctx0 = Context(layout, np.zeros(layout.size), objective.data)
    ctx_r = Context(layout, rng.normal(scale=0.5, size=layout.size), objective.data)
    for f in objective.obs_factors():
        _likelihood(plan, objective, f, ctx0, ctx_r)
    return plan


def _prior_of(objective: Objective, name: str) -> str:
    return repr(objective.model.param_decls[name].prior)


def _likelihood(plan: ConjugatePlan, objective: Objective, f: Factor, ctx0: Context,
                ctx_r: Context) -> None:
    y = np.asarray(objective.data[f.name], dtype=float)
    dist = f.dist
    where = f"observe {f.name!r} ~ {type(dist).__name__}"
    if isinstance(dist, Normal):
        loc, scale = f.args["loc"], f.args["scale"]
        A, c = _affine(plan, objective, loc, y.shape, ctx0, f"{where}: loc")
        term = BlockTerm("normal", f.name, y.reshape(-1), A, c)
        if not (isinstance(scale, Expr) and scale.params):
            s = scale.value(ctx0) if isinstance(scale, Expr) else scale
            term.prec = np.broadcast_to(np.asarray(s, float) ** -2.0, y.shape).reshape(-1)
        else:
            tau = _precision(scale)
            if tau is None or len(tau.params) != 1 or next(iter(tau.params)) not in plan.gamma:
                culprits = ", ".join(f"{p!r} with prior {_prior_of(objective, p)}"
                                     for p in sorted(scale.params))
                raise EngineError(
                    f"{where}: scale {scale.to_source()!r} (depends on {culprits}) is not "
                    "conjugate; CAVI needs a known scale or tau ** -0.5 with a Gamma(shape, "
                    f"rate) prior on the precision tau{_ADVICE}")
            name = next(iter(tau.params))
            term.gamma = (name, _selector(objective, tau, name, y.shape, ctx_r,
                                          f"{where}: scale"))
        plan.block_terms.append(term)
    elif isinstance(dist, (Bernoulli, Binomial)):
        trials = np.ones_like(y)
        const = 0.0
        if isinstance(dist, Binomial):
            t = f.args["trials"]
            trials = np.broadcast_to(t.value(ctx0) if isinstance(t, Expr) else t,
                                     y.shape).astype(float)
            const = float(np.sum(special.gammaln(trials + 1) - special.gammaln(y + 1)
                                 - special.gammaln(trials - y + 1)))
        arg = f.args[dist.param]
        if dist.param == "logit" and isinstance(arg, Expr):
            A, c = _affine(plan, objective, arg, y.shape, ctx0, f"{where}: logit")
            plan.block_terms.append(BlockTerm("logit", f.name, y.reshape(-1), A, c,
                                              trials=trials.reshape(-1), const=const))
        elif dist.param == "p" and isinstance(arg, Expr) and len(arg.params) == 1 \
                and next(iter(arg.params)) in plan.beta:
            name = next(iter(arg.params))
            idx = _selector(objective, arg, name, y.shape, ctx_r, f"{where}: p")
            plan.count_terms.append(CountTerm(f.name, name, idx, y.reshape(-1),
                                              (trials - y).reshape(-1), const))
        else:
            raise EngineError(_arg_refusal(objective, where, dist.param, arg,
                                           "a Beta parameter as p, or a logit affine in "
                                           "Normal-prior parameters"))
    elif isinstance(dist, PoissonDist):
        arg = f.args[dist.param]
        if dist.param == "rate" and isinstance(arg, Expr) and len(arg.params) == 1 \
                and next(iter(arg.params)) in plan.gamma:
            name = next(iter(arg.params))
            idx = _selector(objective, arg, name, y.shape, ctx_r, f"{where}: rate")
            plan.count_terms.append(CountTerm(f.name, name, idx, y.reshape(-1),
                                              np.ones(y.size),
                                              -float(np.sum(special.gammaln(y + 1)))))
        else:
            raise EngineError(_arg_refusal(objective, where, dist.param, arg,
                                           "rate= a Gamma(shape, rate) parameter"))
    elif isinstance(dist, Categorical):
        arg = f.args[dist.param]
        if dist.param == "probs" and isinstance(arg, Param) and arg.name in plan.dirichlet:
            k = plan.dirichlet[arg.name].size
            labels = y.reshape(-1).astype(np.intp)
            counts = np.bincount(labels, minlength=k).astype(float)
            plan.count_terms.append(CountTerm(f.name, arg.name, np.arange(k), counts,
                                              np.zeros(k), 0.0))
        else:
            raise EngineError(_arg_refusal(objective, where, dist.param, arg,
                                           "probs= a Dirichlet parameter"))
    else:
        raise EngineError(f"{where}: no conjugate CAVI update for a {type(dist).__name__} "
                          f"likelihood{_ADVICE}")


def _arg_refusal(objective: Objective, where: str, arg_name: str, arg: object,
                 expected: str) -> str:
    if isinstance(arg, Expr) and arg.params:
        culprits = ", ".join(f"{p!r} with prior {_prior_of(objective, p)}"
                             for p in sorted(arg.params))
        got = f"{arg_name}={arg.to_source()!r} (depends on {culprits})"
    else:
        got = f"{arg_name} with no parameters"
    return f"{where}: {got} is not conjugate; CAVI needs {expected}{_ADVICE}"


def _precision(scale: Expr) -> Expr | None:
    """``tau`` if ``scale`` is ``tau ** -0.5`` or ``1 / tau ** 0.5``."""
    if isinstance(scale, Pow) and scale.power == -0.5:
        return scale.a
    if isinstance(scale, Div) and isinstance(scale.a, Const) and scale.a.const == 1.0 \
            and isinstance(scale.b, Pow) and scale.b.power == 0.5:
        return scale.b.a
    return None


def _affine(plan: ConjugatePlan, objective: Objective, e: Expr | np.ndarray,
            shape: tuple[int, ...], ctx0: Context, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``(A, c)`` with ``e = A w + c`` over the Gaussian block, rows flattened to ``shape``."""
    n = int(np.prod(shape, dtype=int))
    k = sum(objective.layout[p].size for p in plan.block)
    if not isinstance(e, Expr):
        return np.zeros((n, k)), np.broadcast_to(np.asarray(e, float), shape).reshape(-1)
    outside = sorted(p for p in e.params if p not in plan.block)
    if outside or not e.linear:
        culprits = ", ".join(f"{p!r} with prior {_prior_of(objective, p)}"
                             for p in (outside or sorted(e.params)))
        raise EngineError(f"{where} {e.to_source()!r} is not affine in Normal-prior parameters "
                          f"(because of {culprits}), so it is not conjugate{_ADVICE}")
    c = np.broadcast_to(e.value(ctx0), shape).reshape(-1).astype(float)
    A = np.zeros((n, k))
    jac = e.jac(ctx0)
    offset = 0
    for p in plan.block:
        size = objective.layout[p].size
        if p in jac:
            A[:, offset:offset + size] = np.broadcast_to(jac[p], (*shape, size)).reshape(n, size)
        offset += size
    return A, c


def _selector(objective: Objective, e: Expr, name: str, shape: tuple[int, ...],
              ctx: Context, where: str) -> np.ndarray:
    """Flat index into parameter ``name`` for every row, if ``e`` just picks its elements."""
    value = np.broadcast_to(e.value(ctx), shape).reshape(-1)
    jac = np.broadcast_to(e.jac(ctx)[name], (*shape, objective.layout[name].size))
    jac = jac.reshape(value.size, -1)
    nonzero = np.count_nonzero(jac, axis=1)
    idx = np.argmax(np.abs(jac), axis=1)
    flat = np.asarray(ctx.param_value(name), dtype=float).reshape(-1)
    if np.any(nonzero != 1) or not np.allclose(value, flat[idx], rtol=1e-12, atol=0.0):
        raise EngineError(f"{where} {e.to_source()!r} must be {name!r} itself or an element "
                          f"of it (e.g. {name}[g]) for a conjugate update{_ADVICE}")
    return idx
