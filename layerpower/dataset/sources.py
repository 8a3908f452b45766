"""What reading produces: the options for other tools' files, one input file, and the rows of a table.

Every row read keeps its file (``_file``, an index into the file list) and its 1-based data row (``_row``: the
n-th row after the header), so that every error can name the file, the data row and the column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from layerpower.dataset.tables import TableSpec

FILE_COLUMN = "_file"
ROW_COLUMN = "_row"


@dataclass(frozen=True)
class ReadOptions:
    """How to read files that do not carry our schema (see :mod:`layerpower.dataset.units`)."""

    features: tuple[str, ...] | None = None  # columns a foreign layer file must have
    power_unit: str | None = None  # unit of a bare ``power`` column: uW, mW or W
    runtime_unit: str | None = None  # unit of a bare ``runtime`` column: us, ms or s
    idle_subtracted: bool | None = None  # True: the foreign power column is dynamic power (idle subtracted)
    power_source: str | None = None  # sensor of foreign files: nvml, rapl, jetson or estimate
    device_id: str | None = None  # device of foreign files that do not name one


@dataclass
class SourceFile:
    """One input file, its header resolved against a :class:`TableSpec`."""

    path: Path
    spec: TableSpec
    columns: tuple[str, ...]  # as written
    header: bytes
    body: bytes
    rows: int  # data lines counted in the body
    foreign: bool = False
    rename: dict[str, str] = field(default_factory=dict)  # written name -> canonical name
    factors: dict[str, float] = field(default_factory=dict)  # canonical column -> factor to W or s
    fill: dict[str, Any] = field(default_factory=dict)  # canonical columns the file lacks -> value
    required: frozenset[str] = frozenset()  # canonical numeric columns that must hold a finite number
    meta: dict[str, Any] | None = None
    meta_path: Path | None = None

    def written(self, canonical: str) -> str:
        """The column's name as written in this file."""
        for written, name in self.rename.items():
            if name == canonical:
                return written
        return canonical

    @property
    def present(self) -> list[str]:
        """Canonical names of the columns this file holds."""
        return [self.rename.get(c, c) for c in self.columns]


@dataclass
class LoadedTable:
    """Rows of several files of one kind, validated, SI units, with ``_file`` and ``_row`` columns."""

    spec: TableSpec
    frame: pd.DataFrame
    files: list[SourceFile]
    notes: list[str] = field(default_factory=list)  # rows left out and why

    def where(self, position: int) -> str:
        """``<path>: data row N`` for the row at ``position``."""
        source = self.files[int(self.frame[FILE_COLUMN].iat[position])]
        return f"{source.path}: data row {int(self.frame[ROW_COLUMN].iat[position])}"
