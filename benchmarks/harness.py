"""The problem interface of the benchmark suite and the interleaved timing loop.

A :class:`Problem` makes its data (deterministically: every library and every process sees the
same arrays), lists its runners (:class:`Runner`; probfit's first: it is the baseline of the ratio
column), scores every runner's :class:`Outcome` with probfit's own objective, and knows
probfit's floor (the least time its algorithm could take: iterations × one kernel).
:func:`time_problem` runs every installed runner ``repeats`` times, interleaved (the order
rotates each repeat), and reports the median time per library.
"""

from __future__ import annotations

import importlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Data of a problem: the arrays from :meth:`Problem.data` plus the small untimed extras from
#: :meth:`Problem.extras` (a λ grid, a reference solution a runner stops against, ...).
Data = dict[str, Any]


@dataclass
class Outcome:
    """What one run of a library returns.

    Attributes
    ----------
    solution
        What :meth:`Problem.objective` scores (coefficients, mixture parameters, ...).
    iterations
        The library's own iteration count (``None`` when it does not report one).
    seconds
        The runner's own timing of its fit, when part of the call must not count (for example
        post-processing after the fit); ``None``: the harness times the whole call.
    work
        Anything the floor needs (per-point iterations of a path, ...).
    """

    solution: Any
    iterations: int | None
    seconds: float | None = None
    work: Any = None


@dataclass(frozen=True)
class Runner:
    """One library (or one probfit engine) on a problem.

    Attributes
    ----------
    library
        Name in the table.
    fn
        ``fn(data) -> Outcome``.
    requires
        Modules imported before anything is timed; if one is missing the runner is skipped.
    probfit
        Whether this is probfit (its rows get the floor column).
    max_repeats
        Run at most this many of the timed repeats (for peers that take minutes).
    """

    library: str
    fn: Callable[[Data], Outcome]
    requires: tuple[str, ...] = ()
    probfit: bool = False
    max_repeats: int | None = None

    def missing(self) -> str | None:
        """The first required module that cannot be imported (``None``: all import)."""
        for mod in self.requires:
            try:
                importlib.import_module(mod)
            except ImportError:
                return mod
        return None


class Problem(ABC):
    """A benchmark problem: data, runners, one objective and probfit's floor."""

    #: Short name (the ``--problems`` key and the RESULTS.md section).
    name: str

    @abstractmethod
    def describe(self) -> str:
        """Sizes, settings and the convention in which the objective column is scored."""

    @abstractmethod
    def data(self) -> Data:
        """The problem's arrays, the same on every call (fixed seed)."""

    def extras(self, data: Data) -> Data:
        """Small untimed precomputations every runner may use (default: none)."""
        return {}

    @abstractmethod
    def runners(self) -> list[Runner]:
        """All runners, probfit's baseline first (missing peers are skipped by the harness)."""

    @abstractmethod
    def objective(self, data: Data, outcome: Outcome) -> float:
        """The objective at ``outcome``'s solution, computed by probfit (lower is better)."""

    @abstractmethod
    def floor(self, data: Data, runner: Runner, outcome: Outcome) -> tuple[float, str] | None:
        """probfit's floor in seconds for this run, and how it was formed (``None``: none)."""

    def verdict(self, rows: list[Row]) -> str | None:
        """A check of the table against the problem's stated target (default: none)."""
        return None


def kernel_seconds(fn: Callable[[], Any], repeats: int = 5) -> float:
    """The shortest wall time of ``repeats`` calls of ``fn`` after one untimed warm-up call: a
    floor's unit is the least time its kernel takes, so scheduling noise is not counted."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def available(problem: Problem) -> tuple[list[Runner], list[str]]:
    """The runners whose modules import, and a note per skipped one."""
    ok, skipped = [], []
    for r in problem.runners():
        mod = r.missing()
        if mod is None:
            ok.append(r)
        else:
            skipped.append(f"{r.library} ({mod} not installed)")
    return ok, skipped


def run_once(runner: Runner, data: Data) -> tuple[float, Outcome]:
    """One timed call: the runner's own seconds if it reports them, else the call's."""
    t0 = time.perf_counter()
    out = runner.fn(data)
    elapsed = time.perf_counter() - t0
    return (elapsed if out.seconds is None else out.seconds), out


@dataclass
class Row:
    """One line of the results table."""

    problem: str
    library: str
    time_s: float
    ratio: float
    objective: float
    gap: float
    iterations: int | None
    floor_multiple: float | None = None
    floor_note: str = ""
    peak_mb: float | None = None
    times: list[float] = field(default_factory=list)


def time_problem(problem: Problem, repeats: int, data: Data) -> tuple[list[Row], list[str]]:
    """Interleaved repeats of every installed runner on one copy of ``data`` (the problem's
    arrays and extras).

    A peer that raises is dropped with a note (a probfit runner's error propagates). Returns
    the table rows (the baseline's first) and the notes of skipped or failed runners.
    """
    runners, skipped = available(problem)
    times: dict[str, list[float]] = {r.library: [] for r in runners}
    floors: dict[str, list[tuple[float, str]]] = {r.library: [] for r in runners}
    last: dict[str, Outcome] = {}
    failed: set[str] = set()
    for rep in range(repeats):
        k = rep % len(runners)
        for r in runners[k:] + runners[:k]:
            done = len(times[r.library])
            if r.library in failed or (r.max_repeats is not None and done >= r.max_repeats):
                continue
            try:
                seconds, out = run_once(r, data)
            except Exception as err:
                if r.probfit:
                    raise
                failed.add(r.library)
                skipped.append(f"{r.library} (failed: {type(err).__name__}: {err})")
                continue
            times[r.library].append(seconds)
            last[r.library] = out
            if r.probfit:
                # the floor's kernel is timed right after each fit, so that both sides of the
                # multiple come from the same stretch of the machine's (varying) speed
                floor = problem.floor(data, r, out)
                if floor is not None:
                    floors[r.library].append(floor)
    runners = [r for r in runners if r.library not in failed]
    objectives = {r.library: problem.objective(data, last[r.library]) for r in runners}
    best = min(objectives.values())
    base = float(np.median(times[runners[0].library]))
    rows = []
    for r in runners:
        t = float(np.median(times[r.library]))
        row = Row(problem.name, r.library, t, t / base, objectives[r.library],
                  (objectives[r.library] - best) / max(1.0, abs(best)),
                  last[r.library].iterations, times=times[r.library])
        if floors[r.library]:
            # least time over least time: the kernel's unit leaves scheduling noise out, so
            # the fit's side does too
            row.floor_multiple = min(times[r.library]) / min(f[0] for f in floors[r.library])
            row.floor_note = floors[r.library][-1][1]
        rows.append(row)
    return rows, skipped


def to_markdown(rows: list[Row]) -> str:
    """The results table (peak memory blank where it was not measured)."""
    head = ("| problem | library | time (s) | ratio to probfit | final objective | relative gap "
            "to best | peak memory (MB) | iterations | probfit time / floor |")
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        floor = "" if r.floor_multiple is None else f"{r.floor_multiple:.2f}"
        peak = "" if r.peak_mb is None else f"{r.peak_mb:.0f}"
        its = "" if r.iterations is None else str(r.iterations)
        lines.append(f"| {r.problem} | {r.library} | {r.time_s:.3f} | {r.ratio:.2f} "
                     f"| {r.objective:.10g} | {r.gap:.1e} | {peak} | {its} | {floor} |")
    return "\n".join(lines)
