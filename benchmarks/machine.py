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


#: Where Linux describes the caches of the first core, one ``index*`` folder per cache.
CACHE_DIR = Path("/sys/devices/system/cpu/cpu0/cache")


def _caches() -> str:
    """The sizes of the caches the first core sees, from Linux's sysfs ("" elsewhere): the
    model name alone does not tell two virtual machines apart, and the block size of
    probfit's passes is tuned against the L2 and L3 caches."""
    sizes = []
    for index in sorted(CACHE_DIR.glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
            shared = (index / "shared_cpu_list").read_text().strip()
        except OSError:
            continue
        if kind != "Instruction":
            sizes.append(f"L{level} {size}B (cores {shared})")
    return ", ".join(sizes)


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
    pools = [f"{i['internal_api']} {i.get('version')}"
             + (f" {i['architecture']} kernels" if i.get("architecture") else "")
             + f" ({i.get('num_threads')} threads)"
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
    """CPU model, caches, cores, RAM, Python, BLAS and library versions, as one paragraph."""
    caches = _caches()
    return (f"{_cpu()}{f' ({caches})' if caches else ''}, {os.cpu_count()} logical cores, "
            f"{_ram()}; Python {platform.python_version()} ({platform.system()}); "
            f"numpy {np.__version__}; "
            f"{_blas()}. Libraries: {versions()}.")
