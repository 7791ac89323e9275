"""Peak memory of one fit: resident-set growth in a fresh process.

``tracemalloc`` sees only what numpy's allocator hands out, not BLAS work buffers, compiled
extensions (glum, scikit-learn's Cython), JAX or PyTensor. So each (problem, library) pair runs
once in a new interpreter (``multiprocessing`` with the ``spawn`` start method): it rebuilds the
problem's data from its seed, imports the library and runs the fit once untimed (so modules a
library imports lazily on first use, and one-off caches, are loaded as they are in the timing
pass; runners that take minutes and run once there skip this), then resets the kernel's
high-water mark of its resident set (writing ``5`` to ``/proc/self/clear_refs``), notes the
current resident set, runs the fit, and reports ``VmHWM − baseline``: the most memory the fit
held above what the data and the imported libraries already took. The child's glibc keeps a
fixed ``mmap`` threshold of 128 KiB (``MALLOC_MMAP_THRESHOLD_``), so the large buffers freed by
the first fit go back to the system instead of being reused unseen by the second. Memory of
helper processes a library may start (PyTensor's compiler) is not counted. Linux only;
elsewhere the column stays empty.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.harness import Problem

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")

#: glibc settings of the measuring process: a fixed mmap threshold (no dynamic raising after
#: large frees) and trimming, so freed large buffers leave the resident set.
_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}


def _status_kb(key: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise OSError(f"{key} not in {_STATUS}")


def supported() -> bool:
    """Whether this system exposes a resettable resident-set high-water mark."""
    try:
        _status_kb("VmHWM")
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_growth_in_this_process(problem: Problem, library: str, extras: dict[str, Any],
                                warmup: bool = False) -> float:
    """Run ``library`` on ``problem`` here (after one untimed run if ``warmup``); return the
    resident-set peak growth of the measured run in MB."""
    data = {**problem.data(), **extras}
    runner = next(r for r in problem.runners() if r.library == library)
    missing = runner.missing()
    if missing is not None:
        raise ImportError(f"{library}: {missing} is not installed")
    if warmup:
        runner.fn(data)
    gc.collect()
    _CLEAR_REFS.write_text("5")
    base = _status_kb("VmRSS")
    runner.fn(data)
    return (_status_kb("VmHWM") - base) / 1024.0


def peak_growth(problem: Problem, library: str, extras: dict[str, Any]) -> float:
    """:func:`peak_growth_in_this_process` in a fresh interpreter (``spawn``), with a warm-up
    run unless the runner runs only once in the timing pass."""
    runner = next(r for r in problem.runners() if r.library == library)
    ctx = multiprocessing.get_context("spawn")
    saved = {k: os.environ.get(k) for k in _MALLOC_ENV}
    os.environ.update(_MALLOC_ENV)
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
            return pool.submit(peak_growth_in_this_process, problem, library, extras,
                               runner.max_repeats is None).result()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
