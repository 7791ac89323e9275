"""Optimisation engines and the registry that picks one."""

from probfit.engines.registry import ENGINES, default_engine, refusal, run_engine

__all__ = ["ENGINES", "default_engine", "refusal", "run_engine"]
