"""Peak memory of one fit: resident-set growth in a fresh process.

``tracemalloc`` sees only what numpy's allocator hands out, not BLAS work buffers, compiled
extensions (glum, scikit-learn's Cython), JAX or PyTensor. So each (problem, library) pair runs
once in a new interpreter (``multiprocessing`` with the ``spawn`` start method): it rebuilds the
problem's data from its seed, imports the library, then resets the kernel's high-water mark of
its resident set (writing ``5`` to ``/proc/self/clear_refs``), notes the current resident set,
runs the fit, and reports ``VmHWM − baseline``: the most memory the fit held above what the
data and the imported libraries already took. Memory of helper processes a library may start
(PyTensor's compiler) is not counted. Linux only; elsewhere the column stays empty.
"""

from __future__ import annotations

import gc
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.harness import Problem

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


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


def peak_growth_in_this_process(problem: Problem, library: str, extras: dict[str, Any]
                                ) -> float:
    """Run ``library`` on ``problem`` here; return the resident-set peak growth in MB."""
    data = {**problem.data(), **extras}
    runner = next(r for r in problem.runners() if r.library == library)
    missing = runner.missing()
    if missing is not None:
        raise ImportError(f"{library}: {missing} is not installed")
    gc.collect()
    _CLEAR_REFS.write_text("5")
    base = _status_kb("VmRSS")
    runner.fn(data)
    return (_status_kb("VmHWM") - base) / 1024.0


def peak_growth(problem: Problem, library: str, extras: dict[str, Any]) -> float:
    """:func:`peak_growth_in_this_process` in a fresh interpreter (``spawn``)."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(peak_growth_in_this_process, problem, library, extras).result()
