"""A description of the machine and of the library versions a benchmark ran with."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

import numpy as np

#: Distributions whose versions the results state (those installed).
LIBRARIES = ("probfit", "numpy", "scipy", "statsmodels", "scikit-learn", "glum", "tabmat",
             "numpyro", "jax", "jaxlib", "pymc", "pytensor", "threadpoolctl")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB RAM"
    except OSError:
        pass
    return "RAM unknown"


def _blas() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS: threadpoolctl not installed"
    pools = [f"{i['internal_api']} {i.get('version')} ({i.get('num_threads')} threads)"
             for i in threadpool_info()]
    return "BLAS/OpenMP: " + ("; ".join(pools) or "none loaded")


def versions() -> str:
    """``name version`` of every installed library of :data:`LIBRARIES`."""
    out = []
    for name in LIBRARIES:
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(out)


def describe() -> str:
    """CPU model, cores, RAM, Python, BLAS and library versions, as one paragraph."""
    return (f"{_cpu()}, {os.cpu_count()} logical cores, {_ram()}; Python "
            f"{platform.python_version()} ({platform.system()}); numpy {np.__version__}; "
            f"{_blas()}. Libraries: {versions()}.")
