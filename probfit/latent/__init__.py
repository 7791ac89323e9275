"""Discrete latent variables: enumeration, EM fits and their results."""

from probfit.latent.compare import align_components, match_components
from probfit.latent.fit import LatentFit
from probfit.latent.mixture import Mixture
from probfit.latent.problem import LatentProblem
from probfit.latent.vi import LatentVIFit

__all__ = ["LatentFit", "LatentProblem", "Mixture", "align_components", "match_components"]
__all__ += ["LatentVIFit"]
