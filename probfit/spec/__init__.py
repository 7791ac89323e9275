"""The spec IR and its loaders."""

from probfit.spec.ir import DataSpec, DistSpec, ModelSpec, ObserveSpec, ParamSpec, load_spec

__all__ = ["DataSpec", "DistSpec", "ModelSpec", "ObserveSpec", "ParamSpec", "load_spec"]
