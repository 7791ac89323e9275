"""First-order engine: composable update rules (``pf.optim``) with schedules, clipping,
minibatches, early stopping, a proximal L1 step, a divergence guard and exact checkpoints.

One *step* evaluates the smooth objective and its gradient on a batch of rows (the likelihood
scaled by ``n_train / batch`` so the estimate is unbiased; priors unscaled), clips the
gradient, asks the update rule for ``delta`` and sets ``θ ← prox(θ + delta)``. The proximal
map soft-thresholds every coordinate with a Laplace prior (an :class:`L1Term`) towards its
location by ``lr · preconditioner · (1 / scale)``, so lasso coefficients become exactly zero.
An *epoch* is one pass over the (shuffled, seeded) training rows; a full-batch run has one
step per epoch.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from probfit.compile.objective import Objective
from probfit.engines.adam_state import AdamState
from probfit.engines.base import EngineResult, History
from probfit.errors import ConvergenceError, EngineError
from probfit.optim.clip import GlobalNormClip
from probfit.optim.schedules import Schedule, as_schedule
from probfit.optim.updates import Adam, Optimizer

__all__ = ["AdamState", "adam"]

Checkpoint = Callable[[AdamState], None] | str | Path


def adam(objective: Objective, theta0: np.ndarray, *, optimizer: Optimizer | None = None,
         lr: Schedule | float = 1e-2, batch_size: int | None = None, max_iter: int = 20000,
         epochs: int | None = None, seed: int = 0, clip: GlobalNormClip | float | None = None,
         validation: float = 0.0, patience: int = 10, min_delta: float = 0.0,
         tol: float = 1e-10, gtol: float = 1e-6, window: int = 20, max_rollbacks: int = 20,
         blowup: float = 1e3, checkpoint_every: int | None = None,
         checkpoint: Checkpoint | None = None, resume: AdamState | str | Path | None = None,
         monitor: Callable[[np.ndarray, int], str | None] | None = None) -> EngineResult:
    """Minimise the objective (smooth part plus L1 terms) with a first-order update rule.

    Parameters
    ----------
    objective
        The :class:`~probfit.compile.objective.Objective`.
    theta0
        Starting point (flat, unconstrained); ignored when resuming.
    optimizer
        A :mod:`probfit.optim` update rule (default :class:`~probfit.optim.Adam`).
    lr
        A learning rate or a :mod:`probfit.optim` schedule (``lr(step)``).
    batch_size
        Rows per minibatch; ``None`` (or at least the number of training rows) is full batch.
    max_iter
        Limit on the number of steps.
    epochs
        Limit on the number of epochs (``None``: only ``max_iter``).
    seed
        Seeds the validation split and the per-epoch shuffles.
    clip
        Global-norm bound on the smooth gradient (a number or
        :class:`~probfit.optim.GlobalNormClip`).
    validation
        Fraction of rows held out for early stopping (0: none). The held-out negative
        log-likelihood is computed after every epoch; after ``patience`` epochs without an
        improvement of more than ``min_delta · max(1, |best|)`` the run stops and the best
        parameters are restored.
    patience, min_delta
        Early-stopping settings.
    tol, gtol, window
        Convergence test of full-batch runs: after at least ``window`` steps, the run converges
        when ``|f_{t-window} - f_t| ≤ tol · max(1, |f_t|)`` and the largest entry of the
        minimum-norm subgradient is at most ``gtol · max(1, |f_t|)``. Minibatch runs stop on
        ``epochs``, ``max_iter`` or early stopping.
    max_rollbacks
        Divergence guard: when the loss or gradient at a new point is not finite, or the loss
        exceeds the first loss by more than ``blowup · max(1, |first loss|)``, the step is
        undone and the learning rate halved for the rest of the run; after ``max_rollbacks``
        consecutive failures :class:`~probfit.errors.ConvergenceError` is raised with the
        history.
    blowup
        See ``max_rollbacks``.
    checkpoint_every, checkpoint
        Every ``checkpoint_every`` steps the current :class:`AdamState` is passed to
        ``checkpoint`` (a callable) or saved to it (a path, overwritten each time).
    resume
        An :class:`AdamState` (or a path written by a checkpoint): continue that run exactly.
        The model, data and the options in ``state.config`` must be the same.
    monitor
        Called as ``monitor(theta, step)`` after every epoch; a returned string stops the run.
    """
    run = _Run(objective, theta0, optimizer=optimizer or Adam(), lr=lr, batch_size=batch_size,
               seed=seed, clip=clip, validation=validation)
    if resume is not None:
        run.restore(resume if isinstance(resume, AdamState) else AdamState.load(resume))
    limits = _Limits(max_iter=_positive_int("max_iter", max_iter),
                     epochs=None if epochs is None else _positive_int("epochs", epochs),
                     patience=_positive_int("patience", patience), min_delta=float(min_delta),
                     tol=float(tol), gtol=float(gtol), window=_positive_int("window", window),
                     max_rollbacks=_positive_int("max_rollbacks", max_rollbacks),
                     blowup=float(blowup))
    every = None if checkpoint_every is None else _positive_int("checkpoint_every",
                                                                 checkpoint_every)
    if (every is None) != (checkpoint is None):
        raise EngineError("checkpoint_every and checkpoint must be given together")
    return run.loop(limits, every, checkpoint, monitor)


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise EngineError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class _Limits:
    """Stopping rules and guard settings of one call (they may change between resumptions)."""

    max_iter: int
    epochs: int | None
    patience: int
    min_delta: float
    tol: float
    gtol: float
    window: int
    max_rollbacks: int
    blowup: float


class _Run:
    """The mutable state of one run; :meth:`snapshot` / :meth:`restore` make it an AdamState."""

    def __init__(self, objective: Objective, theta0: np.ndarray, *, optimizer: Optimizer,
                 lr: Schedule | float, batch_size: int | None, seed: int,
                 clip: GlobalNormClip | float | None, validation: float) -> None:
        if not isinstance(optimizer, Optimizer):
            raise EngineError(f"optimizer must be a pf.optim update rule (e.g. pf.optim.Adam()), "
                              f"got {type(optimizer).__name__}")
        self.obj, self.opt = objective, optimizer
        self.schedule = copy.deepcopy(as_schedule(lr))
        self.clip = clip if clip is None or isinstance(clip, GlobalNormClip) else \
            GlobalNormClip(clip)
        validation = float(validation)
        if not 0.0 <= validation < 1.0:
            raise EngineError(f"validation must be a fraction in [0, 1), got {validation!r}")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
            raise EngineError(f"seed must be an integer, got {seed!r}")
        n = objective.n_obs
        rng = np.random.default_rng(int(seed))
        if validation > 0.0:
            n_val = round(validation * n)
            if n_val < 1 or n_val >= n:
                raise EngineError(f"validation={validation} of {n} rows leaves no rows for "
                                  "validation or for training")
            order = rng.permutation(n)
            train, val = np.sort(order[n_val:]), np.sort(order[:n_val])
        else:
            train, val = np.arange(n), np.zeros(0, dtype=np.intp)
        n_train = train.size
        if batch_size is not None:
            batch_size = _positive_int("batch_size", batch_size)
        self.batch = n_train if batch_size is None else min(batch_size, n_train)
        self.full = self.batch == n_train
        self.n_batches = math.ceil(n_train / self.batch)
        self.train_data = objective.data if validation == 0.0 else objective.minibatch(train)
        self.val_data = objective.minibatch(val) if val.size else None
        terms = objective.l1
        self.l1_idx = np.concatenate([np.arange(objective.size)[t.slice] for t in terms]) \
            if terms else np.zeros(0, dtype=np.intp)
        self.l1_loc = np.concatenate([t.loc for t in terms]) if terms else np.zeros(0)
        self.l1_w = np.concatenate([t.weight for t in terms]) if terms else np.zeros(0)
        theta = np.array(theta0, dtype=float)
        self.s = AdamState(
            config={"optimizer": repr(optimizer), "schedule": repr(self.schedule),
                    "batch_size": self.batch, "seed": int(seed), "clip": repr(self.clip),
                    "validation": validation, "size": objective.size, "n_obs": n},
            step=0, epoch=0, position=0, theta=theta, opt=optimizer.init(theta),
            rng=rng.bit_generator.state, perm=np.arange(n_train), train_rows=train,
            val_rows=val, schedule=self.schedule.state_dict(), best_theta=theta.copy())
        self.rng = rng

    # ------------------------------------------------------------------ state
    def snapshot(self) -> AdamState:
        self.s.rng = self.rng.bit_generator.state
        self.s.schedule = self.schedule.state_dict()
        return self.s.copy()

    def restore(self, state: AdamState) -> None:
        for key, value in self.s.config.items():
            if state.config.get(key) != value:
                raise EngineError(f"resume: option {key!r} was {state.config.get(key)!r} in the "
                                  f"checkpointed run but is {value!r} now; resume with the same "
                                  "model, data and options")
        self.s = state.copy()
        self.rng.bit_generator.state = self.s.rng
        self.schedule.load_state_dict(self.s.schedule)

    # ------------------------------------------------------------------ pieces
    def rows(self) -> tuple[dict[str, np.ndarray] | None, float]:
        """The data of the current batch and its likelihood scale."""
        if self.full:
            return self.train_data, 1.0
        s = self.s
        if s.position == 0:
            s.perm = self.rng.permutation(s.train_rows.size)
        idx = s.perm[s.position * self.batch:(s.position + 1) * self.batch]
        return self.obj.minibatch(s.train_rows[idx]), s.train_rows.size / idx.size

    def loss_grad(self, theta: np.ndarray, data: dict[str, np.ndarray] | None, scale: float
                  ) -> tuple[float, np.ndarray]:
        f, g, _ = self.obj.evaluate(theta, 1, data=data, obs_scale=scale)
        return f + self.obj.penalty(theta), g

    def propose(self, theta: np.ndarray, state: dict[str, np.ndarray], grad: np.ndarray,
                lr: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One update from ``theta`` followed by the proximal L1 step."""
        delta, new = self.opt.update(grad, state, lr, theta)
        out = theta + delta
        if self.l1_idx.size:
            pre = np.broadcast_to(self.opt.preconditioner(new), theta.shape)[self.l1_idx]
            z = out[self.l1_idx] - self.l1_loc
            shrunk = np.maximum(np.abs(z) - lr * pre * self.l1_w, 0.0)
            out[self.l1_idx] = self.l1_loc + np.sign(z) * shrunk
        return out, new

    def subgrad(self, theta: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """Minimum-norm subgradient of smooth part plus L1 terms."""
        out = grad.copy()
        if self.l1_idx.size:
            g = grad[self.l1_idx]
            d = theta[self.l1_idx] - self.l1_loc
            at_kink = np.sign(g) * np.maximum(np.abs(g) - self.l1_w, 0.0)
            out[self.l1_idx] = np.where(d == 0.0, at_kink, g + self.l1_w * np.sign(d))
        return out

    def bad(self, f: float, g: np.ndarray, lim: _Limits) -> bool:
        if not (math.isfinite(f) and np.all(np.isfinite(g))):
            return True
        ref = self.s.f_ref
        return math.isfinite(ref) and f - ref > lim.blowup * max(1.0, abs(ref))

    def val_loss(self, theta: np.ndarray) -> float:
        with np.errstate(all="ignore"):
            v = -float(self.obj.loglik(theta, data=self.val_data))
        return v if math.isfinite(v) else math.inf

    # ------------------------------------------------------------------ the loop
    def loop(self, lim: _Limits, every: int | None, checkpoint: Checkpoint | None,
             monitor: Callable[[np.ndarray, int], str | None] | None) -> EngineResult:
        s = self.s
        converged, message = False, ""
        while True:
            if self.val_data is not None and s.bad_epochs >= lim.patience:
                converged, message = True, self.early_message(lim)  # resumed a stopped run
                break
            if s.step >= lim.max_iter:
                message = f"reached max_iter={lim.max_iter} steps"
                break
            if lim.epochs is not None and s.epoch >= lim.epochs:
                message = f"completed epochs={lim.epochs}"
                break
            data, scale = self.rows()
            f, g = self.loss_grad(s.theta, data, scale)
            while self.bad(f, g, lim):
                if s.prev_step < 0:
                    raise ConvergenceError(f"the objective or its gradient is not finite at the "
                                           f"starting point (loss={f}); give init= values",
                                           self.history())
                s.consecutive += 1
                s.rollbacks += 1
                if s.consecutive > lim.max_rollbacks:
                    raise ConvergenceError(
                        f"diverged: the loss stayed non-finite or exploding after "
                        f"{lim.max_rollbacks} consecutive rollbacks halving the learning rate "
                        f"(now {self.schedule.lr(s.prev_step) * s.lr_scale:.3g}) at step "
                        f"{s.step}; lower lr or add clip=", self.history())
                s.lr_scale *= 0.5
                rate = self.schedule.lr(s.prev_step) * s.lr_scale
                s.theta, s.opt = self.propose(s.prev_theta, s.prev_opt, s.prev_grad, rate)
                s.history[-1].update(lr=rate, rollbacks=s.rollbacks, **self.norms())
                f, g = self.loss_grad(s.theta, data, scale)
            s.consecutive = 0
            if not math.isfinite(s.f_ref):
                s.f_ref = f
            sub = self.subgrad(s.theta, g)
            if self.full and s.step >= lim.window:
                old = s.history[s.step - lim.window]["loss"]
                size = max(1.0, abs(f))
                if abs(old - f) <= lim.tol * size and \
                        float(np.max(np.abs(sub), initial=0.0)) <= lim.gtol * size:
                    converged = True
                    message = (f"converged (objective change over {lim.window} steps and "
                               "gradient below tol)")
                    break
            rate = self.schedule.lr(s.step) * s.lr_scale
            grad = g if self.clip is None else self.clip(g)
            s.prev_theta, s.prev_opt, s.prev_grad, s.prev_step = s.theta, s.opt, grad, s.step
            s.theta, s.opt = self.propose(s.theta, s.opt, grad, rate)
            row = {"loss": f, "lr": rate, "grad_norm": float(np.linalg.norm(sub)),
                   **self.norms(), "epoch": s.epoch, "rollbacks": s.rollbacks}
            s.step += 1
            s.position += 1
            s.epoch_loss += f
            stop = None
            if s.position == self.n_batches:
                stop = self.end_epoch(row, lim, monitor)
            s.history.append(row)
            if every is not None and s.step % every == 0:
                state = self.snapshot()
                if callable(checkpoint):
                    checkpoint(state)
                else:
                    state.save(checkpoint)
            if stop is not None:
                converged, message = stop
                break
        theta = s.theta
        return EngineResult(theta, float(self.obj.total(theta)), converged, s.step,
                            f"{message}; {s.rollbacks} rollback(s)" if s.rollbacks else message,
                            "adam", self.history(), state=self.snapshot())

    def norms(self) -> dict[str, float]:
        """Step and parameter norms of the last update."""
        s = self.s
        return {"step_norm": float(np.linalg.norm(s.theta - s.prev_theta)),
                "param_norm": float(np.linalg.norm(s.theta))}

    def history(self) -> History:
        """The per-step records as a :class:`History`."""
        hist = History()
        for row in self.s.history:
            hist.record(**row)
        return hist

    def early_message(self, lim: _Limits) -> str:
        s = self.s
        return (f"early stopping at epoch {s.epoch}: no validation improvement for "
                f"{lim.patience} epochs; restored the best parameters (epoch {s.best_epoch}, "
                f"held-out loss {s.best_val:.6g})")

    def end_epoch(self, row: dict[str, float], lim: _Limits,
                  monitor: Callable[[np.ndarray, int], str | None] | None
                  ) -> tuple[bool, str] | None:
        """Epoch bookkeeping: schedule, early stopping, monitor."""
        s = self.s
        mean_loss = s.epoch_loss / self.n_batches
        s.epoch += 1
        s.position, s.epoch_loss = 0, 0.0
        if self.val_data is None:
            self.schedule.observe(mean_loss)
        else:
            v = self.val_loss(s.theta)
            row["val_loss"] = v
            self.schedule.observe(v)
            if v < s.best_val - lim.min_delta * (max(1.0, abs(s.best_val))
                                                 if math.isfinite(s.best_val) else 1.0):
                s.best_val, s.best_theta, s.best_epoch, s.bad_epochs = v, s.theta.copy(), \
                    s.epoch, 0
            else:
                s.bad_epochs += 1
                if s.bad_epochs >= lim.patience:
                    s.theta = s.best_theta.copy()
                    return True, self.early_message(lim)
        if monitor is not None:
            msg = monitor(s.theta, s.step)
            if msg:
                return False, msg
        return None
