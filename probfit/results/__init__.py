"""Fit results."""

from probfit.results.fit import Fit, Summary
from probfit.results.vi import VIFit

__all__ = ["Fit", "Summary", "VIFit"]
