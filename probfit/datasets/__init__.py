"""Small classic datasets bundled with probfit, each public domain or CC BY 4.0.

Binary: ``breast_cancer`` (and the grouped-binomial ``budworm``); counts: ``dobson``;
continuous: ``clotting``; mixture and categorical: ``faithful``, ``iris``.

Each dataset is a CSV file in this package next to ``catalog.json``, which records for every
dataset its columns (with units), a description of what a row is, its full bibliographic
source and its licence. Load one with :func:`load`; list them with :func:`names`::

    >>> from probfit import datasets
    >>> ds = datasets.load("clotting")
    >>> ds.data["lot1"][:3]
    array([118.,  58.,  42.])

Numeric columns are float64 (integer-valued counts too); categorical columns are numpy
unicode string arrays. Every call to :func:`load` returns fresh arrays, so callers may modify
them freely.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from probfit.errors import DataError

__all__ = ["Dataset", "load", "names"]

_CATALOG_FILE = "catalog.json"


@dataclass(frozen=True)
class Dataset:
    """A bundled dataset.

    Attributes
    ----------
    name:
        The name :func:`load` knows it by.
    data:
        Column name -> 1-d numpy array (float64 for numeric columns, numpy unicode strings for
        categorical columns), in the column order of the CSV file.
    description:
        What a row is and what the columns are.
    source:
        Full bibliographic provenance.
    license:
        Licence or copyright status of the data.
    column_descriptions:
        Column name -> meaning and unit.
    """

    name: str
    data: dict[str, np.ndarray] = field(repr=False)
    description: str
    source: str
    license: str
    column_descriptions: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def columns(self) -> list[str]:
        """Column names, in file order."""
        return list(self.data)

    @property
    def n_rows(self) -> int:
        """Number of rows (observations)."""
        return len(next(iter(self.data.values()))) if self.data else 0

    def __getitem__(self, column: str) -> np.ndarray:
        try:
            return self.data[column]
        except KeyError:
            raise DataError(
                f"dataset {self.name!r} has no column {column!r}; "
                f"its columns are: {', '.join(self.data)}"
            ) from None


@cache
def _catalog() -> dict[str, dict[str, Any]]:
    text = resources.files(__name__).joinpath(_CATALOG_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def names() -> list[str]:
    """Names of the bundled datasets, sorted."""
    return sorted(_catalog())


def load(name: str) -> Dataset:
    """Load the bundled dataset ``name``.

    Raises
    ------
    DataError
        If no dataset of that name is bundled (the message lists the available names), or if
        the bundled file does not match its catalog entry.
    """
    catalog = _catalog()
    if not isinstance(name, str) or name not in catalog:
        raise DataError(f"unknown dataset {name!r}; available datasets are: {', '.join(names())}")
    entry = catalog[name]
    columns: dict[str, dict[str, str]] = entry["columns"]
    text = resources.files(__name__).joinpath(entry["file"]).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], [r for r in rows[1:] if r]
    if header != list(columns):
        raise DataError(
            f"dataset {name!r}: file {entry['file']} has columns {header}, "
            f"catalog expects {list(columns)}"
        )
    if len(body) != entry["n_rows"]:
        raise DataError(
            f"dataset {name!r}: file {entry['file']} has {len(body)} rows, "
            f"catalog expects {entry['n_rows']}"
        )
    data: dict[str, np.ndarray] = {}
    for j, col in enumerate(header):
        kind = columns[col]["kind"]
        values = [r[j] for r in body]
        if kind == "float":
            data[col] = np.array([float(v) for v in values], dtype=np.float64)
        elif kind == "category":
            data[col] = np.array(values, dtype=np.str_)
        else:  # pragma: no cover - guarded by the catalog test
            raise DataError(f"dataset {name!r}: column {col!r} has unknown kind {kind!r}")
    return Dataset(
        name=name,
        data=data,
        description=entry["description"],
        source=entry["source"],
        license=entry["license"],
        column_descriptions={c: meta["description"] for c, meta in columns.items()},
    )
