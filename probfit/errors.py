"""The probfit error hierarchy.

Every problem probfit detects in user input or in a fit is raised (or warned) as a subclass
of :class:`ProbfitError` (or :class:`ProbfitWarning`), with a message that names the variable,
row or field at fault and says what was expected.
"""

from __future__ import annotations


class ProbfitError(Exception):
    """Base class of every error probfit raises on purpose."""


class SpecError(ProbfitError, ValueError):
    """A model declaration or spec file is invalid (names, dims, supports, expressions)."""


class DistributionError(SpecError):
    """A distribution was given an argument outside its domain (e.g. a non-positive scale)."""


class DataError(ProbfitError, ValueError):
    """Data passed to a fit does not match the declaration (names, shapes, values, support)."""


class EngineError(ProbfitError, ValueError):
    """An engine was asked to fit a model it cannot fit, or was configured wrongly."""


class ConvergenceError(ProbfitError, RuntimeError):
    """An optimisation diverged or produced non-finite values."""

    def __init__(self, message: str, history: object | None = None) -> None:
        super().__init__(message)
        self.history = history


class SingularInformationError(ProbfitError, ArithmeticError):
    """The information matrix at the optimum is singular (e.g. collinear columns)."""


class ProbfitWarning(UserWarning):
    """Base class of every warning probfit emits."""


class SeparationWarning(ProbfitWarning):
    """Perfect or quasi-complete separation: some MLE coefficients diverge."""


class ConvergenceWarning(ProbfitWarning):
    """A fit stopped before meeting its convergence criteria."""
