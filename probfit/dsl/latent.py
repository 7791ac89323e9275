"""Discrete latent variables: the handle ``Model.latent`` returns and its declaration."""

from __future__ import annotations

from dataclasses import dataclass

from probfit.distributions import Distribution
from probfit.dsl.expr import Data

__all__ = ["Latent", "LatentDecl"]


class Latent(Data):
    """An unobserved discrete variable (one label per row), usable as an index: ``mu[z]``.

    Fitting marginalizes it by enumeration: every expression that uses it is evaluated with the
    latent set to each of its values in turn.
    """


@dataclass
class LatentDecl:
    """A declared latent variable: its handle and its (discrete) distribution."""

    handle: Latent
    dist: Distribution
