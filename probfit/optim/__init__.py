"""Composable first-order optimisation pieces (schedules, update rules, clipping).

Used by the ``adam`` engine: ``model.fit(data, engine="adam", optimizer=pf.optim.Adam(),
lr=pf.optim.Cosine(0.05, 2000), clip=pf.optim.GlobalNormClip(10.0))``.
"""

from probfit.optim.clip import GlobalNormClip, clip_by_global_norm
from probfit.optim.schedules import (
    Constant,
    Cosine,
    Exponential,
    LinearWarmup,
    ReduceOnPlateau,
    Schedule,
    Step,
    as_schedule,
)
from probfit.optim.updates import SGD, Adam, AdamW, Momentum, Optimizer, RMSProp

__all__ = [
    "SGD", "Adam", "AdamW", "Constant", "Cosine", "Exponential", "GlobalNormClip",
    "LinearWarmup", "Momentum", "Optimizer", "RMSProp", "ReduceOnPlateau", "Schedule", "Step",
    "as_schedule", "clip_by_global_norm",
]
