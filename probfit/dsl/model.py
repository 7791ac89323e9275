"""The model builder: ``pf.Model`` declares data, parameters and likelihoods."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from probfit import distributions as dist_module
from probfit.distributions import Distribution, constraints
from probfit.dsl.expr import Const, Data, Expr, Param
from probfit.dsl.latent import Latent, LatentDecl
from probfit.errors import SpecError

if TYPE_CHECKING:
    from probfit.compile.objective import Objective
    from probfit.results.fit import Fit
    from probfit.spec.ir import DistSpec, ModelSpec

__all__ = ["DISTRIBUTIONS", "Model"]

DISTRIBUTIONS: dict[str, type[Distribution]] = {
    name: cls for name, cls in vars(dist_module).items()
    if isinstance(cls, type) and issubclass(cls, Distribution) and cls is not Distribution
}

_SUPPORTS = {
    "real": constraints.real,
    "positive": constraints.positive,
    "unit_interval": constraints.unit_interval,
    "simplex": constraints.simplex,
    "spd": dist_module.mvn.spd,
}


@dataclass
class ParamDecl:
    """A declared parameter: handle, prior, support and optional initial value."""

    handle: Param
    prior: Distribution | None
    support: constraints.Constraint
    init: np.ndarray | None


@dataclass
class DataDecl:
    handle: Data
    kind: str


@dataclass
class Observation:
    handle: Data
    dist: Distribution


class Model:
    """A generative model declared once and fitted by any method.

    Examples
    --------
    >>> import probfit as pf
    >>> m = pf.Model("churn")
    >>> X = m.data("X", dims=("n", "p"))
    >>> y = m.data("y", dims=("n",))
    >>> w = m.param("w", dims=("p",), prior=pf.Normal(0.0, 2.5))
    >>> b = m.param("b")
    >>> m.observe(y, pf.Bernoulli(logit=X @ w + b))
    """

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise SpecError("Model name must be a non-empty string")
        self.name = name
        self.data_decls: dict[str, DataDecl] = {}
        self.param_decls: dict[str, ParamDecl] = {}
        self.observations: list[Observation] = []
        self.latent_decls: dict[str, LatentDecl] = {}

    # ------------------------------------------------------------------ declaring
    def _check_new_name(self, name: str) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise SpecError(f"name {name!r} is not a valid identifier")
        from probfit.spec.parse import FUNCTIONS

        if name in FUNCTIONS or name == "pf":
            raise SpecError(f"name {name!r} is reserved for a function")
        if name in self.data_decls or name in self.param_decls or name in self.latent_decls:
            raise SpecError(f"{name!r} is declared twice in model {self.name!r}")

    def data(self, name: str, dims: tuple[str, ...] | list[str] = (),
             kind: str = "real") -> Data:
        """Declare a data variable with named dims; its values come with ``fit``.

        Parameters
        ----------
        name
            Identifier used in expressions and in the data mapping.
        dims
            Named dimensions, e.g. ``("n", "p")``; sizes bind from the data.
        kind
            ``"real"`` or ``"integer"`` (values must be whole numbers, e.g. indices).
        """
        self._check_new_name(name)
        if kind not in ("real", "integer"):
            raise SpecError(f"data {name!r}: kind must be 'real' or 'integer', got {kind!r}")
        handle = Data(name, _dims(dims, f"data {name!r}"))
        self.data_decls[name] = DataDecl(handle, kind)
        return handle

    def param(self, name: str, dims: tuple[str, ...] | list[str] = (), *,
              prior: Distribution | None = None, support: str | None = None,
              lower: float | None = None, upper: float | None = None,
              init: Any = None) -> Param:
        """Declare a parameter.

        Parameters
        ----------
        name
            Identifier used in expressions and in results.
        dims
            Named dimensions (sizes bind from data or from ``fit(dims=...)``); the last two
            may repeat for a matrix, e.g. ``("k", "d", "d")``.
        prior
            A distribution over the parameter (used by MAP and VI; ignored by MLE).
            No prior means flat and, under MAP, unpenalized.
        support
            ``"real"``, ``"positive"``, ``"unit_interval"``, ``"simplex"`` or ``"spd"``
            (symmetric positive-definite ``(..., d, d)``, via a Cholesky bijector); defaults to
            the prior's support, else real (a square real parameter used as a
            ``MultivariateNormal`` covariance becomes ``"spd"``). ``lower``/``upper`` give other
            bounds.
        init
            Starting value on the constrained scale (a number or array).
        """
        self._check_new_name(name)
        dims_t = _dims(dims, f"param {name!r}", square=True)
        cons = _support(name, support, lower, upper, prior)
        if prior is not None:
            if not isinstance(prior, Distribution):
                raise SpecError(f"param {name!r}: prior must be a probfit distribution, "
                                f"got {type(prior).__name__}")
            vector_batch = prior.support.name == "real_vector" and len(dims_t) >= 1
            if prior.event_ndim == 1 and len(dims_t) != 1 and not vector_batch:
                raise SpecError(f"param {name!r}: a {type(prior).__name__} prior needs a 1-d "
                                f"parameter, got dims {dims_t}")
            if prior.event_ndim == 2 and (len(dims_t) < 2 or dims_t[-1] != dims_t[-2]):
                raise SpecError(f"param {name!r}: a {type(prior).__name__} prior needs square "
                                f"matrices, dims like ('k', 'd', 'd'), got dims {dims_t}")
        init_arr = None
        if init is not None:
            init_arr = np.asarray(init, dtype=float)
            if not np.all(cons.check(init_arr)):
                raise SpecError(f"param {name!r}: init {init!r} is outside its support "
                                f"({cons.describe()})")
        handle = Param(name, dims_t, identity=cons.name in ("real", "real_vector"))
        self.param_decls[name] = ParamDecl(handle, None, cons, init_arr)
        if prior is not None:
            self._set_prior(name, prior)
        return handle

    def _set_prior(self, name: str, prior: Distribution) -> None:
        for arg, value in prior.args.items():
            if isinstance(value, Expr):
                self._check_expr(value, f"param {name!r} prior argument {arg!r}")
                if name in value.params:
                    raise SpecError(f"param {name!r}: its prior argument {arg!r} depends on "
                                    f"{name!r} itself")
        self.param_decls[name].prior = prior

    def latent(self, name: str, dist: Distribution,
               dims: tuple[str, ...] | list[str] = ()) -> Latent:
        """Declare a discrete latent variable, one value per row, e.g. a mixture label.

        Parameters
        ----------
        name
            Identifier used in expressions (``mu[z]``) and in results.
        dist
            Its distribution: ``pf.Categorical(probs=...)`` (labels ``0..k-1``) or
            ``pf.Bernoulli(...)`` (labels 0, 1); arguments may be parameter expressions.
        dims
            Named dims, normally the row dim of the data, e.g. ``("n",)``.

        Returns
        -------
        Latent
            A handle usable as an index in expressions. Fitting marginalizes it (``engine="em"``).
        """
        self._check_new_name(name)
        if not isinstance(dist, Distribution):
            raise SpecError(f"latent {name!r} needs a probfit distribution, "
                            f"got {type(dist).__name__}")
        if type(dist).__name__ not in ("Categorical", "Bernoulli"):
            raise SpecError(f"latent {name!r}: only Categorical and Bernoulli latents can be "
                            f"enumerated, got {type(dist).__name__}")
        dims_t = _dims(dims, f"latent {name!r}")
        if len(dims_t) != 1:
            raise SpecError(f"latent {name!r} needs exactly one dim (the rows), got {dims_t}")
        for arg, value in dist.args.items():
            if isinstance(value, Expr):
                self._check_expr(value, f"latent {name!r}: {type(dist).__name__} argument "
                                        f"{arg!r}")
        handle = Latent(name, dims_t)
        self.latent_decls[name] = LatentDecl(handle, dist)
        return handle

    def observe(self, data: Data, dist: Distribution) -> None:
        """Declare that data variable ``data`` is drawn from ``dist``."""
        if not isinstance(data, Data) or self.data_decls.get(data.name, None) is None \
                or self.data_decls[data.name].handle is not data:
            raise SpecError("observe() takes a data handle returned by this model's data()")
        if not isinstance(dist, Distribution):
            raise SpecError(f"observe({data.name!r}, ...) needs a probfit distribution, "
                            f"got {type(dist).__name__}")
        if any(o.handle is data for o in self.observations):
            raise SpecError(f"data {data.name!r} is observed twice")
        for arg, value in dist.args.items():
            where = f"observe {data.name!r}: {type(dist).__name__} argument {arg!r}"
            if isinstance(value, Expr):
                self._check_expr(value, where)
                self._promote_spd(value, dist.domains[arg])
                self._check_arg_support(value, dist.domains[arg], where)
        self.observations.append(Observation(data, dist))

    def _promote_spd(self, e: Expr, domain: constraints.Constraint) -> None:
        """A real matrix parameter used as a covariance gets the SPD (Cholesky) support."""
        from probfit.dsl.expr import Index

        base = e.a if isinstance(e, Index) else e
        if domain.name != "spd" or not isinstance(base, Param):
            return
        decl = self.param_decls[base.name]
        dims = base.dims
        if decl.support.name == "real" and decl.prior is None and len(dims) >= 2 \
                and dims[-1] == dims[-2]:
            decl.support = _SUPPORTS["spd"]
            base.linear = False

    def _check_expr(self, e: Expr, where: str) -> None:
        for node in e.walk():
            if isinstance(node, Latent):
                ldecl = self.latent_decls.get(node.name)
                if ldecl is None or ldecl.handle is not node:
                    raise SpecError(f"{where}: {node.name!r} is not a latent of model "
                                    f"{self.name!r}")
            elif isinstance(node, Data):
                decl = self.data_decls.get(node.name)
                if decl is None or decl.handle is not node:
                    raise SpecError(f"{where}: {node.name!r} is not data of model {self.name!r}")
            elif isinstance(node, Param):
                decl = self.param_decls.get(node.name)
                if decl is None or decl.handle is not node:
                    raise SpecError(f"{where}: {node.name!r} is not a parameter of model "
                                    f"{self.name!r}")

    def _check_arg_support(self, e: Expr, domain: constraints.Constraint, where: str) -> None:
        if isinstance(e, Param) and domain.name != "real":
            have = self.param_decls[e.name].support
            if have.name in ("real", "real_vector") and domain.name not in ("real_vector",):
                raise SpecError(
                    f"{where} must be {domain.describe()}, but parameter {e.name!r} is "
                    f"unconstrained; declare it with support={_support_name(domain)!r} "
                    f"(or use e.g. pf.exp(...))"
                )

    # ------------------------------------------------------------------ spec round trip
    def to_spec(self) -> ModelSpec:
        """The pydantic IR of this declaration."""
        from probfit.spec.ir import DataSpec, LatentSpec, ModelSpec, ObserveSpec, ParamSpec

        if not self.observations:
            raise SpecError(f"model {self.name!r} observes nothing; call observe() first")
        params = {}
        for name, d in self.param_decls.items():
            kw: dict[str, Any] = {"dims": d.handle.dims}
            if d.prior is not None:
                kw["prior"] = _dist_spec(d.prior)
            if d.support.name in _SUPPORTS:
                if d.prior is None or d.prior.support.name != d.support.name:
                    kw["support"] = d.support.name
            else:
                kw["lower"], kw["upper"] = d.support.lower, d.support.upper
            if d.init is not None:
                kw["init"] = d.init.tolist()
            params[name] = ParamSpec(**kw)
        observe = []
        for o in self.observations:
            ds = _dist_spec(o.dist)
            observe.append(ObserveSpec(data=o.handle.name, dist=ds.dist, args=ds.args))
        latents = {}
        for name, ld in self.latent_decls.items():
            ds = _dist_spec(ld.dist)
            latents[name] = LatentSpec(dims=ld.handle.dims, dist=ds.dist, args=ds.args)
        return ModelSpec(
            name=self.name,
            data={k: DataSpec(dims=d.handle.dims, kind=d.kind) for k, d in self.data_decls.items()},
            params=params,
            observe=observe,
            **({"latents": latents} if latents else {}),
        )

    @classmethod
    def from_spec(cls, source: str | Path | Mapping[str, Any] | ModelSpec) -> Model:
        """Build a model from a spec file path, a mapping, or a :class:`ModelSpec`."""
        from probfit.spec.ir import ModelSpec, load_spec

        spec = source if isinstance(source, ModelSpec) else load_spec(source)
        m = cls(spec.name)
        for name, d in spec.data.items():
            m.data(name, d.dims, kind=d.kind)
        names: dict[str, Expr] = {k: d.handle for k, d in m.data_decls.items()}
        priors = {}
        for name, p in spec.params.items():
            prior_cls = _dist_class(p.prior.dist, f"params.{name}.prior") if p.prior else None
            support, lower, upper = p.support, p.lower, p.upper
            if support is None and lower is None and upper is None and prior_cls:
                bounds = _uniform_bounds(prior_cls, p.prior.args)
                if bounds is not None:
                    lower, upper = bounds
                else:
                    support = _prior_support(prior_cls, name)
            names[name] = m.param(name, p.dims, support=support, lower=lower, upper=upper,
                                  init=p.init)
            priors[name] = p.prior
        for name, ps in priors.items():
            if ps is not None:
                m._set_prior(name, _build_dist(ps.dist, ps.args, names,
                                               f"params.{name}.prior"))
        for name, ls in spec.latents.items():
            names[name] = m.latent(name, _build_dist(ls.dist, ls.args, names,
                                                     f"latents.{name}"), ls.dims)
        for i, o in enumerate(spec.observe):
            where = f"observe[{i}]"
            if o.data not in m.data_decls:
                raise SpecError(f"{where}.data: {o.data!r} is not declared under data")
            m.observe(m.data_decls[o.data].handle, _build_dist(o.dist, o.args, names, where))
        return m

    # ------------------------------------------------------------------ fitting
    def compile(self, data: Mapping[str, Any], method: str = "mle", *, jacobian: bool = False,
                dims: Mapping[str, int] | None = None) -> Objective:
        """Bind ``data`` and build the objective for ``method`` (``"mle"`` or ``"map"``)."""
        from probfit.compile.objective import compile_objective

        if self.latent_decls:
            raise SpecError(f"model {self.name!r} has latent variables "
                            f"{sorted(self.latent_decls)}; they are marginalized by fit(..., "
                            "engine='em'), not compiled into a single objective")
        return compile_objective(self.to_spec(), data, method, jacobian=jacobian, dims=dims)

    def fit(self, data: Mapping[str, Any], method: str = "mle", engine: str | None = None, *,
            jacobian: bool = False, dims: Mapping[str, int] | None = None,
            coords: Mapping[str, Any] | None = None, init: Mapping[str, Any] | None = None,
            **options: Any) -> Fit:
        """Fit the model to ``data``.

        Parameters
        ----------
        data
            Mapping from every declared data name to an array.
        method
            ``"mle"`` (priors ignored), ``"map"`` (priors added) or ``"vi"`` (an approximate
            posterior; returns a :class:`~probfit.results.vi.VIFit`).
        engine
            ``"newton"``, ``"lbfgs"`` or ``"adam"`` (MLE/MAP), ``"advi"`` or ``"cavi"``
            (VI); ``None`` picks the default for the model. Models with a latent variable are
            fitted by ``"em"`` (see ``docs/latent-variables.md``).
        jacobian
            MAP only: include the log-det-Jacobian of constrained parameters (mode in the
            unconstrained space) instead of the mode on the constrained scale.
        dims
            Sizes of parameter dims that no data variable determines.
        coords
            Labels per dim for summaries, e.g. ``{"p": ["age", "income"]}``.
        init
            Starting values on the constrained scale, by parameter name.
        **options
            Engine options (``max_iter``, ``tol``, ``hessian="expected"`` for Fisher scoring ...).
        """
        from probfit.engines.registry import run_engine

        if self.latent_decls:
            from probfit.latent.run import fit_latent

            return fit_latent(self, data, method, engine, jacobian=jacobian, dims=dims,
                              coords=coords, init=init, **options)
        objective = self.compile(data, method, jacobian=jacobian, dims=dims)
        return run_engine(objective, engine, init=init, coords=coords, **options)


def _dims(dims: Any, where: str, square: bool = False) -> tuple[str, ...]:
    if isinstance(dims, str):
        dims = (dims,)
    dims = tuple(dims)
    for d in dims:
        if not isinstance(d, str) or not d.isidentifier():
            raise SpecError(f"{where}: dim names must be identifiers, got {d!r}")
    unique = dims[:-1] if square and len(dims) >= 2 and dims[-1] == dims[-2] else dims
    if len(set(unique)) != len(unique):
        raise SpecError(f"{where}: a dim name repeats in {dims}")
    return dims


def _support_name(c: constraints.Constraint) -> str:
    return c.name if c.name in _SUPPORTS else "positive" if c.name == "positive_vector" else c.name


def _support(name: str, support: str | None, lower: float | None, upper: float | None,
             prior: Distribution | None) -> constraints.Constraint:
    if support is not None and (lower is not None or upper is not None):
        raise SpecError(f"param {name!r}: give either support= or lower=/upper=, not both")
    if support is not None:
        if support not in _SUPPORTS:
            raise SpecError(f"param {name!r}: unknown support {support!r}; expected one of "
                            f"{sorted(_SUPPORTS)}")
        return _SUPPORTS[support]
    if lower is not None or upper is not None:
        if lower is not None and upper is not None:
            if not lower < upper:
                raise SpecError(f"param {name!r}: lower={lower} must be below upper={upper}")
            return constraints.interval(lower, upper)
        if upper is not None:
            raise SpecError(f"param {name!r}: an upper bound alone is not supported; "
                            "give lower= too")
        return constraints.Constraint("lower_bounded", lower=float(lower))
    if prior is not None:
        bounds = _uniform_bounds(type(prior), prior.args)
        if bounds is not None:
            return constraints.interval(*bounds)
        return _SUPPORTS[_prior_support(type(prior), name)]
    return constraints.real


def _uniform_bounds(prior_cls: type[Distribution], args: Mapping[str, Any]
                    ) -> tuple[float, float] | None:
    """A Uniform prior with numeric bounds makes its parameter live on ``(low, high)``."""
    if prior_cls.__name__ != "Uniform":
        return None
    low, high = args.get("low", 0.0), args.get("high", 1.0)
    if all(isinstance(v, (int, float, np.ndarray)) and np.ndim(v) == 0 for v in (low, high)):
        return float(low), float(high)
    return None


def _prior_support(prior_cls: type[Distribution], name: str) -> str:
    s = prior_cls.support
    if s.discrete:
        raise SpecError(f"param {name!r}: a {prior_cls.__name__} prior is discrete; "
                        "continuous parameters need a continuous prior")
    if s.name in _SUPPORTS:
        return s.name
    if s.lower == 0.0 and s.upper is None:
        return "positive"
    if s.lower == 0.0 and s.upper == 1.0:
        return "unit_interval"
    if s.name == "positive_vector":
        return "positive"
    return "real"


def _dist_spec(d: Distribution) -> DistSpec:
    from probfit.spec.ir import DistSpec

    args: dict[str, Any] = {}
    for k, v in d.args.items():
        if isinstance(v, Expr):
            args[k] = v.to_source()
        elif isinstance(v, np.ndarray):
            args[k] = float(v) if v.ndim == 0 else v.tolist()
        else:
            args[k] = v
    return DistSpec(dist=type(d).__name__, args=args)


def _dist_class(name: str, where: str) -> type[Distribution]:
    if name not in DISTRIBUTIONS:
        raise SpecError(f"{where}.dist: unknown distribution {name!r}; expected one of "
                        f"{sorted(DISTRIBUTIONS)}")
    return DISTRIBUTIONS[name]


def _build_dist(name: str, args: Mapping[str, Any], names: Mapping[str, Expr],
                where: str) -> Distribution:
    from probfit.spec.parse import parse_expr

    cls = _dist_class(name, where)
    built: dict[str, Any] = {}
    for k, v in args.items():
        if isinstance(v, str):
            e = parse_expr(v, names, f"{where}.args.{k}")
            built[k] = e.const if isinstance(e, Const) else e
        else:
            built[k] = v
    try:  # the names are checked before the call: a TypeError inside it stays itself
        inspect.signature(cls).bind(**built)
    except TypeError as err:
        raise SpecError(f"{where}: {name} does not accept these arguments "
                        f"({sorted(args)}): {err}") from None
    try:
        return cls(**built)
    except SpecError as err:
        raise SpecError(f"{where}: {err}") from None

