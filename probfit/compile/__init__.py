"""Compile a spec and data into an objective over a flat unconstrained vector."""

from probfit.compile.objective import Objective, compile_objective

__all__ = ["Objective", "compile_objective"]
