"""Reports built from fits: the side-by-side comparison (:func:`compare`) and its figures."""

from probfit.report.compare import Comparison, compare

__all__ = ["Comparison", "compare"]
