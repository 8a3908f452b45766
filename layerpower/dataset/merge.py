"""The one read-validate-merge path, behind both ``build_dataset`` and ``DatasetBuilder``.

Both check the units they are given, read each table's files with
:func:`~layerpower.dataset.reader.load_table` (validated, power in W, runtime in s), refuse mixed sources or
devices across everything read (:func:`load_tables`), and merge the rows of one table into a frame of the
merged-file columns (:func:`merged_frame`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from layerpower.dataset.checks import check_mixing
from layerpower.dataset.reader import empty_table, load_table
from layerpower.dataset.sources import FILE_COLUMN, ROW_COLUMN, LoadedTable, ReadOptions
from layerpower.dataset.tables import TableSpec
from layerpower.dataset.units import power_factor, runtime_factor

#: one read: the files of one table, how to read other tools' files among them, and the table (None: infer)
ReadJob = tuple[Sequence[Path], ReadOptions, str | None]


def check_units(power_unit: str | None, runtime_unit: str | None, labels: tuple[str, str]) -> None:
    """Refuse an unknown power unit (uW|mW|W) or runtime unit (us|ms|s); ``labels`` name the two options."""
    if power_unit is not None:
        power_factor(power_unit, labels[0])
    if runtime_unit is not None:
        runtime_factor(runtime_unit, labels[1])


def load_tables(
    jobs: Iterable[ReadJob],
    allow_mixed_sources: bool,
    allow_mixed_devices: bool,
    contents: dict[Path, bytes] | None = None,
) -> list[LoadedTable]:
    """Read and check every job's files (one table each), then refuse mixed sources or devices across all.

    ``contents`` holds files already read (path -> bytes); others are read from disk.
    """
    tables = [load_table(paths, options, kind, contents) for paths, options, kind in jobs]
    check_mixing(tables, allow_mixed_sources, allow_mixed_devices)
    return tables


def merged_frame(tables: Sequence[LoadedTable], spec: TableSpec) -> pd.DataFrame:
    """The rows of ``tables`` (all of ``spec``) in one frame of the merged-file columns (W, s), 0-based index.

    The columns are the schema columns, then ``source``; ``_file``/``_row`` are dropped. No tables: no rows.
    """
    parts = [t.frame for t in tables] or [empty_table(spec)]
    frame = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    return frame.drop(columns=[FILE_COLUMN, ROW_COLUMN])[spec.output_columns].reset_index(drop=True)
