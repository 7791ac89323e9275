"""Bind data to a declaration: names, dtypes, shapes, dim sizes, finiteness, index ranges."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from probfit.contract import over_row_ranges
from probfit.dsl.expr import Index
from probfit.dsl.model import Model
from probfit.errors import DataError

__all__ = ["bind_data"]


def bind_data(model: Model, data: Mapping[str, Any], dims: Mapping[str, int] | None = None,
              require_observed: bool = True) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Check ``data`` against ``model`` and return float64 arrays and the bound dim sizes.

    Parameters
    ----------
    model
        The declaration.
    data
        Name → array-like for every declared data variable.
    dims
        Explicit sizes for dims no data variable determines.
    require_observed
        False for prediction, where observed variables may be left out.

    Raises
    ------
    DataError
        Missing or unknown names, non-numeric values, wrong number of axes, dim size clashes,
        NaN/inf, non-integers in integer data, out-of-range indices.
    """
    if not isinstance(data, Mapping):
        raise DataError(f"data must be a mapping from names to arrays, got {type(data).__name__}")
    declared = set(model.data_decls)
    observed = {o.handle.name for o in model.observations}
    extra = sorted(set(data) - declared)
    if extra:
        raise DataError(f"unknown data name(s) {extra}; model {model.name!r} declares "
                        f"{sorted(declared)}")
    needed = declared if require_observed else declared - observed
    missing = sorted(needed - set(data))
    if missing:
        raise DataError(f"missing data {missing} for model {model.name!r}")

    sizes: dict[str, int] = {}
    origin: dict[str, str] = {}
    for name, size in (dims or {}).items():
        if not isinstance(size, (int, np.integer)) or size < 1:
            raise DataError(f"dims[{name!r}] must be a positive integer, got {size!r}")
        sizes[name], origin[name] = int(size), "dims="
    out: dict[str, np.ndarray] = {}
    for name, decl in model.data_decls.items():
        if name not in data:
            continue
        arr = _as_float(data[name], name)
        dnames = decl.handle.dims
        if arr.ndim != len(dnames):
            raise DataError(f"data {name!r} has {arr.ndim} axes (shape {arr.shape}) but is "
                            f"declared with dims {dnames}")
        for axis, (d, size) in enumerate(zip(dnames, arr.shape, strict=True)):
            if d in sizes and sizes[d] != size:
                raise DataError(f"dim {d!r} is {sizes[d]} from {origin[d]} but {size} from "
                                f"data {name!r} (axis {axis})")
            if d not in sizes:
                sizes[d], origin[d] = size, f"data {name!r} (axis {axis})"
        _check_finite(arr, name)
        if decl.kind == "integer":
            _check_integer(arr, name)
        out[name] = arr
    _check_indices(model, out, sizes)
    return out, sizes


def _as_float(value: Any, name: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == bool:
        return arr.astype(float)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise DataError(f"data {name!r} must be numeric, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=float)


def _check_integer(arr: np.ndarray, name: str) -> None:
    frac = arr != np.round(arr)
    if frac.any():
        row = int(np.argwhere(frac)[0][0])
        raise DataError(f"data {name!r} must hold integers; row {row} is "
                        f"{arr.reshape(arr.shape[0], -1)[row][:3].tolist()}")


def _check_indices(model: Model, data: Mapping[str, np.ndarray],
                   sizes: Mapping[str, int]) -> None:
    exprs = [e for o in model.observations for e in o.dist.args.values()]
    exprs += [e for p in model.param_decls.values() if p.prior is not None
              for e in p.prior.args.values()]
    for root in exprs:
        if not hasattr(root, "walk"):
            continue
        for node in root.walk():
            if not isinstance(node, Index):
                continue
            for axis, k in enumerate(node.key):
                if not hasattr(k, "name") or k.name not in data:
                    continue
                idx = data[k.name]
                _check_integer(idx, k.name)
                dim = node.a.dims[axis] if axis < len(node.a.dims) else None
                size = _axis_size(data, sizes, node.a, axis)
                if size is not None and ((idx < 0).any() or (idx >= size).any()):
                    bad = int(np.argwhere((idx < 0) | (idx >= size))[0][0])
                    raise DataError(
                        f"index data {k.name!r} has value {int(idx.reshape(-1)[bad])} at row "
                        f"{bad}, outside 0..{size - 1} for dim {dim!r} of "
                        f"{node.a.to_source()!r}")


def _axis_size(data: Mapping[str, np.ndarray], sizes: Mapping[str, int], e: Any,
               axis: int) -> int | None:
    name = getattr(e, "name", None)
    if name in data:
        return data[name].shape[axis]
    dims = e.dims
    if axis < len(dims) and dims[axis] is not None:
        return sizes.get(dims[axis])
    return None


def _check_finite(arr: np.ndarray, name: str) -> None:
    """Raise on NaN/inf, naming the first bad row. A finite sum proves every entry finite
    (NaN and ±inf propagate through it) at the cost of one read of the array, shared by the
    cores for a large one; only when the sum is not finite (a bad entry, or an overflow) are
    the entries examined one by one."""
    if arr.size == 0:
        return
    rows = arr.reshape(arr.shape[0], -1) if arr.ndim >= 2 else arr.reshape(1, -1)

    def part(lo: int, hi: int) -> bool:
        with np.errstate(over="ignore", invalid="ignore"):
            return bool(np.isfinite(np.sum(rows[lo:hi])))

    if all(over_row_ranges(rows, part)):
        return
    bad = ~np.isfinite(arr)
    if bad.any():
        row = np.argwhere(bad)[0]
        where = int(row[0]) if row.size == 1 else tuple(int(i) for i in row)
        raise DataError(f"data {name!r} holds a non-finite value (NaN or inf) at row "
                        f"{where} ({int(bad.sum())} in all); remove or impute before fitting")
