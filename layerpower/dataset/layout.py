"""The files ``build-dataset`` writes into a dataset folder (default ``datasets/<device-id>/``), by name.

One file per table, ``<kind>.<fmt>`` for each layer kind and ``model.<fmt>``, in one format (parquet or csv),
and ``summary.json``. :mod:`layerpower.dataset.build` writes them; readers of a built dataset (such as
:mod:`layerpower.predictors.data`) find them with :func:`find_table` and :data:`SUMMARY_NAME`.
"""

from __future__ import annotations

from pathlib import Path

from layerpower.config import LAYER_KINDS

#: file formats of the merged tables, in the order a reader looks for them
FORMATS: tuple[str, ...] = ("parquet", "csv")
SUMMARY_NAME = "summary.json"
#: the whole-model table (``model.csv`` rows of every model)
MODEL_TABLE = "model"
#: every table of a dataset folder: the layer kinds, then the whole-model table
TABLES: tuple[str, ...] = (*LAYER_KINDS, MODEL_TABLE)


def table_name(table: str, fmt: str) -> str:
    """The file name of ``table`` (a layer kind or ``model``) in format ``fmt``: ``<table>.<fmt>``."""
    return f"{table}.{fmt}"


#: every name build-dataset may write into its output folder (any other file there is not ours)
OUTPUT_NAMES: frozenset[str] = frozenset(
    {table_name(t, fmt) for t in TABLES for fmt in FORMATS} | {SUMMARY_NAME}
)


def table_path(folder: Path, table: str, fmt: str) -> Path:
    """The path of ``table``'s file in format ``fmt`` inside the dataset folder ``folder``."""
    return folder / table_name(table, fmt)


def find_table(folder: Path, table: str) -> Path | None:
    """``table``'s file in ``folder``: ``<table>.parquet``, else ``<table>.csv``, else None."""
    for fmt in FORMATS:
        path = table_path(folder, table, fmt)
        if path.is_file():
            return path
    return None
