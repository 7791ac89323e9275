"""Fit results."""

from probfit.results.fit import Fit, Summary

__all__ = ["Fit", "Summary"]
