"""The model-declaration DSL: the builder and expression nodes."""

from probfit.dsl.expr import (
    Expr,
    exp,
    log,
    log_softmax,
    prepend_zero,
    sigmoid,
    softmax,
    softplus,
)
from probfit.dsl.model import Model

__all__ = ["Expr", "Model", "exp", "log", "log_softmax", "prepend_zero", "sigmoid", "softmax",
           "softplus"]
