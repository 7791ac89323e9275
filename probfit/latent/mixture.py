"""``pf.Mixture``: declare a finite mixture in one call."""

from __future__ import annotations

from collections.abc import Callable

from probfit.distributions import Categorical, Distribution
from probfit.dsl.expr import Data, Param
from probfit.dsl.latent import Latent
from probfit.dsl.model import Model
from probfit.errors import SpecError

__all__ = ["Mixture"]


class Mixture:
    """Sugar for ``weights ~ simplex``, ``z ~ Categorical(weights)`` per row, ``data ~ f(z)``.

    Parameters
    ----------
    model
        The model to declare into.
    data
        The observed data handle; its first dim is the row dim of the latent.
    component
        ``z -> distribution``, e.g. ``lambda z: pf.MultivariateNormal(mu[z], cov[z])``.
    k_dim
        Name of the component dim (sized by ``fit(..., k=...)``).
    latent, weights
        Names of the latent and of the weight parameter.
    prior
        Prior of the weights (e.g. ``pf.Dirichlet(1.0)``; used by MAP).

    Attributes
    ----------
    weights : Param
        The mixing weights (a simplex over ``k_dim``).
    latent : Latent
        The component label of each row.

    Examples
    --------
    >>> import probfit as pf
    >>> m = pf.Model("gmm")
    >>> x = m.data("x", dims=("n", "d"))
    >>> mu = m.param("mu", dims=("k", "d"))
    >>> cov = m.param("cov", dims=("k", "d", "d"))
    >>> mix = pf.Mixture(m, x, lambda z: pf.MultivariateNormal(mu[z], cov[z]))
    """

    def __init__(self, model: Model, data: Data, component: Callable[[Latent], Distribution],
                 *, k_dim: str = "k", latent: str = "z", weights: str = "weights",
                 prior: Distribution | None = None) -> None:
        if not isinstance(model, Model):
            raise SpecError(f"Mixture needs a pf.Model, got {type(model).__name__}")
        if not isinstance(data, Data) or not data.dims:
            raise SpecError("Mixture needs a data handle with a row dim, e.g. "
                            "m.data('x', dims=('n', 'd'))")
        if not callable(component):
            raise SpecError("Mixture component must be a function of the latent returning a "
                            "distribution")
        self.weights: Param = model.param(weights, dims=(k_dim,), prior=prior,
                                          support=None if prior is not None else "simplex")
        self.latent: Latent = model.latent(latent, Categorical(probs=self.weights),
                                           dims=(data.dims[0],))
        dist = component(self.latent)
        model.observe(data, dist)
