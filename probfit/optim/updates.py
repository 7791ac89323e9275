"""Update rules: SGD, heavy-ball / Nesterov momentum, RMSProp, Adam, AdamW.

Each rule is a small object with hyperparameters and two pure functions:

* ``init(theta)`` returns the optimizer state (a dict of float64 arrays and the step count);
* ``update(grad, state, lr, theta)`` returns ``(delta, new_state)``; the engine then sets
  ``theta ← theta + delta``. The input state is never modified, so an engine can roll back.

``preconditioner(state)`` is the per-coordinate factor by which a rule scales the learning
rate (1 for SGD and momentum, ``1 / (√v̂ + eps)`` for Adam); the proximal L1 step uses it so
that soft-thresholding happens in the same metric as the gradient step.

Conventions (DESIGN.md): heavy-ball momentum is ``v = βv + g; θ -= ηv``; Adam uses bias
correction and puts ``eps`` outside the square root.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from probfit.errors import EngineError

__all__ = ["SGD", "Adam", "AdamW", "Momentum", "Optimizer", "RMSProp"]

State = dict[str, np.ndarray]


def _unit(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise EngineError(f"{name} must be in [0, 1), got {value!r}")
    return value


def _nonneg(name: str, value: float, positive: bool = False) -> float:
    value = float(value)
    if not (np.isfinite(value) and (value > 0.0 if positive else value >= 0.0)):
        raise EngineError(f"{name} must be a {'positive' if positive else 'non-negative'} "
                          f"finite number, got {value!r}")
    return value


class Optimizer(ABC):
    """Base class of the update rules."""

    def init(self, theta: np.ndarray) -> State:
        """Fresh state for parameters shaped like ``theta``."""
        return {"count": np.zeros((), dtype=np.int64)}

    @abstractmethod
    def update(self, grad: np.ndarray, state: State, lr: float, theta: np.ndarray
               ) -> tuple[np.ndarray, State]:
        """The change ``delta`` to add to ``theta`` and the new state."""

    def preconditioner(self, state: State) -> np.ndarray | float:
        """Per-coordinate learning-rate factor of the last update (for the proximal step)."""
        return 1.0


class SGD(Optimizer):
    """Plain gradient descent: ``θ -= η g``."""

    def update(self, grad: np.ndarray, state: State, lr: float, theta: np.ndarray
               ) -> tuple[np.ndarray, State]:
        return -lr * grad, {"count": state["count"] + 1}

    def __repr__(self) -> str:
        return "SGD()"


class Momentum(Optimizer):
    """Heavy-ball momentum ``v = βv + g; θ -= ηv``; with ``nesterov=True``, ``θ -= η(g + βv)``.

    Parameters
    ----------
    beta
        Momentum coefficient in [0, 1).
    nesterov
        Use the Nesterov look-ahead form (as in PyTorch's ``SGD(nesterov=True)``).
    """

    def __init__(self, beta: float = 0.9, nesterov: bool = False) -> None:
        self.beta = _unit("beta", beta)
        self.nesterov = bool(nesterov)

    def init(self, theta: np.ndarray) -> State:
        return {"count": np.zeros((), dtype=np.int64), "v": np.zeros_like(theta, dtype=float)}

    def update(self, grad: np.ndarray, state: State, lr: float, theta: np.ndarray
               ) -> tuple[np.ndarray, State]:
        v = self.beta * state["v"] + grad
        direction = grad + self.beta * v if self.nesterov else v
        return -lr * direction, {"count": state["count"] + 1, "v": v}

    def __repr__(self) -> str:
        return f"Momentum(beta={self.beta!r}, nesterov={self.nesterov})"


class RMSProp(Optimizer):
    """``s = ρs + (1-ρ)g²; θ -= η g / (√s + eps)``.

    Parameters
    ----------
    rho
        Decay of the squared-gradient average, in [0, 1).
    eps
        Added to ``√s`` (outside the square root).
    """

    def __init__(self, rho: float = 0.9, eps: float = 1e-8) -> None:
        self.rho = _unit("rho", rho)
        self.eps = _nonneg("eps", eps, positive=True)

    def init(self, theta: np.ndarray) -> State:
        return {"count": np.zeros((), dtype=np.int64), "s": np.zeros_like(theta, dtype=float)}

    def update(self, grad: np.ndarray, state: State, lr: float, theta: np.ndarray
               ) -> tuple[np.ndarray, State]:
        s = self.rho * state["s"] + (1.0 - self.rho) * grad * grad
        return -lr * grad / (np.sqrt(s) + self.eps), {"count": state["count"] + 1, "s": s}

    def preconditioner(self, state: State) -> np.ndarray:
        return 1.0 / (np.sqrt(state["s"]) + self.eps)

    def __repr__(self) -> str:
        return f"RMSProp(rho={self.rho!r}, eps={self.eps!r})"


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction, ``eps`` outside the square root.

    ``m = β₁m + (1-β₁)g``, ``v = β₂v + (1-β₂)g²``, ``m̂ = m/(1-β₁ᵗ)``, ``v̂ = v/(1-β₂ᵗ)``,
    ``θ -= η m̂ / (√v̂ + eps)``.

    Parameters
    ----------
    b1, b2
        Decay rates of the first and second moment averages, in [0, 1).
    eps
        Added to ``√v̂``.
    """

    def __init__(self, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> None:
        self.b1 = _unit("b1", b1)
        self.b2 = _unit("b2", b2)
        self.eps = _nonneg("eps", eps, positive=True)

    def init(self, theta: np.ndarray) -> State:
        z = np.zeros_like(theta, dtype=float)
        return {"count": np.zeros((), dtype=np.int64), "m": z, "v": z.copy()}

    def _moments(self, grad: np.ndarray, state: State) -> State:
        t = state["count"] + 1
        m = self.b1 * state["m"] + (1.0 - self.b1) * grad
        v = self.b2 * state["v"] + (1.0 - self.b2) * grad * grad
        return {"count": t, "m": m, "v": v}

    def _direction(self, new: State) -> np.ndarray:
        t = int(new["count"])
        m_hat = new["m"] / (1.0 - self.b1**t)
        return m_hat * self.preconditioner(new)

    def update(self, grad: np.ndarray, state: State, lr: float, theta: np.ndarray
               ) -> tuple[np.ndarray, State]:
        new = self._moments(grad, state)
        return -lr * self._direction(new), new

    def preconditioner(self, state: State) -> np.ndarray | float:
        t = int(state["count"])
        if t == 0:
            return 1.0
        v_hat = state["v"] / (1.0 - self.b2**t)
        return 1.0 / (np.sqrt(v_hat) + self.eps)

    def __repr__(self) -> str:
        return f"Adam(b1={self.b1!r}, b2={self.b2!r}, eps={self.eps!r})"


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019).

    ``θ -= η (m̂ / (√v̂ + eps) + weight_decay · θ)``: the decay is applied to the parameters
    directly rather than added to the gradient, so it is not rescaled by ``1/√v̂``. It acts on
    every coordinate of the flat unconstrained vector.
    """

    def __init__(self, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 1e-2) -> None:
        super().__init__(b1, b2, eps)
        self.weight_decay = _nonneg("weight_decay", weight_decay)

    def update(self, grad: np.ndarray, state: State, lr: float, theta: np.ndarray
               ) -> tuple[np.ndarray, State]:
        new = self._moments(grad, state)
        return -lr * (self._direction(new) + self.weight_decay * theta), new

    def __repr__(self) -> str:
        return (f"AdamW(b1={self.b1!r}, b2={self.b2!r}, eps={self.eps!r}, "
                f"weight_decay={self.weight_decay!r})")
