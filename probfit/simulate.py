"""``pf.simulate(model, params, dims, seed)``: draw data from the declared generative model.

Only the *observed* variables are random in a probfit model: covariates (every data variable
that is not observed) are conditioned on, not modelled, so they are never invented. They must
be passed in ``data``; ``dims`` gives the sizes of dims that no covariate determines (e.g. the
number of rows of an intercept-only model). Observed variables are drawn in declaration order,
so a later likelihood may use an earlier simulated variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from probfit.compile.bind import bind_data
from probfit.compile.context import Context
from probfit.compile.objective import _layout
from probfit.dsl.expr import Expr
from probfit.dsl.model import Model
from probfit.errors import DataError

__all__ = ["simulate"]


def simulate(model: Model, params: Mapping[str, Any], dims: Mapping[str, int] | None = None,
             seed: int | np.random.Generator | None = None,
             data: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Draw every observed variable of ``model`` at parameter values ``params``.

    Parameters
    ----------
    model
        The declaration (a :class:`~probfit.Model`, or a spec loaded with ``Model.from_spec``).
    params
        Constrained value of every parameter, by name (e.g. ``fit.params``).
    dims
        Sizes of dims not determined by ``data`` (e.g. ``{"n": 100}``).
    seed
        Seed or generator.
    data
        Covariates: every data variable that is not observed.

    Returns
    -------
    dict
        The covariates as given (float64) plus one simulated array per observed variable,
        ready to pass to ``model.fit``.

    Raises
    ------
    DataError
        Missing covariates or parameters, or a parameter of the wrong shape.
    """
    if not isinstance(model, Model):
        raise DataError(f"simulate needs a probfit Model, got {type(model).__name__}")
    if not isinstance(params, Mapping):
        raise DataError(f"params must be a mapping from parameter names to values, got "
                        f"{type(params).__name__}")
    observed = [o.handle.name for o in model.observations]
    given = dict(data or {})
    clash = sorted(set(given) & set(observed))
    if clash:
        raise DataError(f"data gives observed variable(s) {clash}; simulate draws them")
    bound, sizes = bind_data(model, given, dims, require_observed=False)
    for o in model.observations:
        for d in o.handle.dims:
            if d not in sizes:
                raise DataError(f"dim {d!r} of observed {o.handle.name!r} has no size: pass "
                                f"dims={{{d!r}: ...}} or a covariate with that dim")
    layout = _layout(model, sizes)
    missing = sorted(set(model.param_decls) - set(params))
    unknown = sorted(set(params) - set(model.param_decls))
    if missing or unknown:
        raise DataError(f"params must give exactly the parameters {sorted(model.param_decls)}; "
                        f"missing {missing}, unknown {unknown}")
    values = {}
    for s in layout:
        v = np.asarray(params[s.name], dtype=float)
        try:
            values[s.name] = np.broadcast_to(v, s.shape)
        except ValueError:
            raise DataError(f"params[{s.name!r}] has shape {v.shape}, expected {s.shape} "
                            f"(dims {s.dims})") from None
        decl = model.param_decls[s.name]
        if not np.all(decl.support.check(values[s.name])):
            raise DataError(f"params[{s.name!r}] is outside its support "
                            f"({decl.support.describe()})")
    theta = layout.pack(values)
    rng = np.random.default_rng(seed)
    out = dict(bound)
    for o in model.observations:
        ctx = Context(layout, theta, out)
        vals = {k: (v.value(ctx) if isinstance(v, Expr) else v) for k, v in o.dist.args.items()}
        vals = {k: np.asarray(v, dtype=float) for k, v in vals.items()}
        target = tuple(sizes[d] for d in o.handle.dims)
        draw = np.asarray(o.dist.sample_from(rng, vals), dtype=float)
        if draw.shape != target:
            extra = target[: len(target) - draw.ndim]
            if draw.shape != target[len(extra):]:
                raise DataError(f"observed {o.handle.name!r}: its distribution has batch shape "
                                f"{draw.shape}, which does not fit dims {o.handle.dims} = "
                                f"{target}")
            draw = np.asarray(o.dist.sample_from(rng, vals, extra), dtype=float)
        out[o.handle.name] = draw
    return out
