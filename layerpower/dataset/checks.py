"""Checks of the rows read: types and values per column, runtimes, duplicates, mixed sources or devices.

Every check is one vectorised operation per column over all rows, and every error names the file, the data
row and the column as written in that file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerpower.config import SCHEMA_VERSION
from layerpower.config.vocab import POWER_SOURCES
from layerpower.dataset.sources import LoadedTable, SourceFile
from layerpower.dataset.tables import (
    BOOL_COLUMNS,
    INT_COLUMNS,
    KNOWN_SCHEMA_VERSIONS,
    NON_NEGATIVE_COLUMNS,
    OPTIONAL_TEXT,
    POSITIVE_COLUMNS,
    SOURCE_COLUMN,
    TEXT_COLUMNS,
)
from layerpower.errors import SchemaError

_MAX_SHOWN = 3  # offending rows named in one message


def check_version_text(path: Path, value: str | None, where: str) -> None:
    """Refuse a ``schema_version`` cell (``value``, at ``where`` in ``path``) this reader does not know."""
    if value is None:
        return
    try:
        version = int(float(value))
    except ValueError:
        raise SchemaError(f"{path}: {where}, column 'schema_version': not a number: {value!r}") from None
    if version not in KNOWN_SCHEMA_VERSIONS:
        raise SchemaError(
            f"{path}: {where}, column 'schema_version': schema version {version} is not known to this reader "
            f"(it reads {', '.join(map(str, sorted(KNOWN_SCHEMA_VERSIONS)))})",
            "re-profile with this layerpower version, or upgrade layerpower to read the newer files",
        )


def check_own_header(source: SourceFile) -> None:
    """A file of our schema must hold exactly its table's columns (no column missing, none extra)."""
    path, spec, columns = source.path, source.spec, source.columns
    missing = [c for c in spec.columns if c not in columns]
    extra = [c for c in columns if c not in spec.columns]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(map(repr, missing))}")
        if extra:
            parts.append(f"extra column(s) {', '.join(map(repr, extra))}")
        raise SchemaError(
            f"{path}: header (line 1): {'; '.join(parts)}",
            f"{spec.name} files of schema version {SCHEMA_VERSION} have exactly the columns of "
            f"layerpower.config.schema ({'MODEL_COLUMNS' if spec.name == 'model' else 'LAYER_COLUMNS'})",
        )


class RowLocator:
    """Names the file, data row and column of offending rows in one parsed group."""

    def __init__(self, files: list[SourceFile], file_index: np.ndarray, rows: np.ndarray) -> None:
        self.files, self.file_index, self.rows = files, file_index, rows

    def fail(
        self,
        mask: np.ndarray | pd.Series,
        column: str,
        problem: str,
        values: Any = None,
        hint: str | None = None,
    ) -> None:
        positions = np.flatnonzero(np.asarray(mask, dtype=bool))
        if not len(positions):
            return
        first = positions[0]
        source = self.files[int(self.file_index[first])]
        same_file = positions[self.file_index[positions] == self.file_index[first]]
        rows = ", ".join(str(int(r)) for r in self.rows[same_file[:_MAX_SHOWN]])
        more = len(positions) - min(len(same_file), _MAX_SHOWN)
        label = "data row" if len(same_file) == 1 else "data rows"
        message = f"{source.path}: {label} {rows}, column {source.written(column)!r}: {problem}"
        if values is not None:
            message += f" (got {_show(values[first])})"
        if more:
            message += f"; {more} more row(s) like this"
        raise SchemaError(message, hint)


def _show(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (np.integer, np.bool_)):
        return repr(value.item())
    return repr(value)


def coerce_columns(frame: pd.DataFrame, source: SourceFile, locate: RowLocator) -> None:
    """Make numeric columns numbers and ``is_estimate`` a bool, refusing values that are neither."""
    for written in source.columns:
        name = source.rename.get(written, written)
        column = frame[written]
        if name in BOOL_COLUMNS:
            if column.dtype == bool:
                continue
            text = column.astype(str).str.strip().str.lower()
            mapped = text.map(
                {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}
            )
            locate.fail(column.isna().to_numpy(), name, "empty value; expected True or False")
            locate.fail(mapped.isna().to_numpy(), name, "not True or False", column.to_numpy())
            frame[written] = mapped.astype(bool)
        elif name in TEXT_COLUMNS:
            frame[written] = column.fillna("")
        elif column.dtype == bool:
            locate.fail(np.ones(len(column), dtype=bool), name, "not a number", column.to_numpy())
        elif not pd.api.types.is_numeric_dtype(column):
            numbers = pd.to_numeric(column, errors="coerce")
            bad = (numbers.isna() & column.notna()).to_numpy()
            locate.fail(bad, name, "not a number", column.to_numpy())
            frame[written] = numbers.astype(float)


def check_values(frame: pd.DataFrame, source: SourceFile, locate: RowLocator) -> None:
    """Vectorised value checks on one group, in the file's own units (before conversion)."""
    spec = source.spec
    for written in source.columns:
        name = source.rename.get(written, written)
        if name not in spec.numeric:
            continue
        values = frame[written].to_numpy(dtype=float, na_value=np.nan)
        if name in source.required:
            locate.fail(np.isnan(values), name, "empty or NaN value; expected a finite number")
        locate.fail(np.isinf(values), name, "infinite value", values)
        finite = np.isfinite(values)
        if name in INT_COLUMNS:
            locate.fail(finite & (values != np.round(values)), name, "not an integer", values)
        if name in POSITIVE_COLUMNS:
            problem = "runtime must be > 0" if "runtime" in name else "must be > 0"
            locate.fail(finite & (values <= 0), name, problem, values)
        if name in NON_NEGATIVE_COLUMNS:
            hint = None
            if source.foreign and name == "power_w":
                hint = (
                    "if this file's power has the idle power subtracted (dynamic power), say so: "
                    'idle_subtracted=True, CLI --idle-subtracted, or "idle_subtracted": true in units.json'
                )
            locate.fail(
                finite & (values < 0),
                name,
                f"{'power' if 'power' in name else name} must be >= 0",
                values,
                hint,
            )
        if name == "schema_version":
            known = np.isin(values, sorted(KNOWN_SCHEMA_VERSIONS))
            locate.fail(
                finite & ~known,
                name,
                f"schema version not known to this reader (it reads {', '.join(map(str, sorted(KNOWN_SCHEMA_VERSIONS)))})",
                values,
                "re-profile with this layerpower version, or upgrade layerpower",
            )
    for written in source.columns:
        name = source.rename.get(written, written)
        if name in TEXT_COLUMNS and name not in OPTIONAL_TEXT:
            locate.fail((frame[written] == "").to_numpy(), name, "empty value")
    if "power_source" in source.present:
        sources = frame[source.written("power_source")]
        locate.fail(
            (~sources.isin(POWER_SOURCES)).to_numpy(),
            "power_source",
            f"unknown power source; expected one of {', '.join(POWER_SOURCES)}",
            sources.to_numpy(),
        )
        if "is_estimate" in source.present:
            flags = frame[source.written("is_estimate")].to_numpy(dtype=bool)
            locate.fail(
                flags != (sources == "estimate").to_numpy(),
                "is_estimate",
                "disagrees with power_source (is_estimate must be True exactly when power_source is 'estimate')",
                flags,
            )


def check_runtime_present(table: LoadedTable) -> None:
    """A layer row needs a runtime: in context (``runtime_s``) or alone (``runtime_isolated_s``)."""
    frame = table.frame
    if "runtime_isolated_s" not in frame.columns or frame.empty:
        return
    missing = (frame["runtime_s"].isna() & frame["runtime_isolated_s"].isna()).to_numpy()
    if missing.any():
        position = int(np.flatnonzero(missing)[0])
        raise SchemaError(
            f"{table.where(position)}, columns 'runtime_s' and 'runtime_isolated_s': both empty; "
            f"{int(missing.sum())} row(s) without any runtime",
            "re-profile the model",
        )


def check_duplicates(table: LoadedTable) -> None:
    """Refuse rows that repeat another row: the same key (named layers), or every column (unnamed ones)."""
    frame, spec = table.frame, table.spec
    if frame.empty:
        return
    checks: list[tuple[np.ndarray, list[str]]] = []
    if "layer_name" in spec.columns:
        named = (frame["layer_name"] != "").to_numpy()
        checks.append((named, list(spec.key)))
        checks.append((~named, list(spec.columns)))
    else:
        checks.append((np.ones(len(frame), dtype=bool), list(spec.key)))
    for mask, key in checks:
        if not mask.any():
            continue
        sub = frame.loc[mask, key]
        dup = sub.duplicated(keep="first").to_numpy()
        if not dup.any():
            continue
        rows = np.flatnonzero(mask)
        hashes = pd.util.hash_pandas_object(sub, index=False).to_numpy()
        first_dup = int(np.flatnonzero(dup)[0])
        position = int(rows[first_dup])
        original = int(rows[np.flatnonzero(hashes == hashes[first_dup])[0]])
        what = "key columns " + ", ".join(key) if len(key) < len(spec.columns) else "every column"
        raise SchemaError(
            f"{table.where(position)}: duplicate row: equals {table.where(original)} in {what}; "
            f"{int(dup.sum())} duplicate row(s) in all",
            "remove the repeated rows (a layer is measured once per batch size and dtype)",
        )


def check_mixing(tables: Sequence[LoadedTable], allow_mixed_sources: bool, allow_mixed_devices: bool) -> None:
    """Refuse measured and estimated power together, or several devices, unless allowed."""
    checks = []
    if not allow_mixed_sources:
        checks.append(
            (
                SOURCE_COLUMN,
                "mixes measured and estimated power",
                "allow_mixed_sources=True (CLI --allow-mixed-sources) to keep both; "
                "the 'source' column tells them apart",
            )
        )
    if not allow_mixed_devices:
        checks.append(
            (
                "device_id",
                "mixes devices",
                "build one dataset per device (--device-id), or allow_mixed_devices=True "
                "(CLI --allow-mixed-devices)",
            )
        )
    for column, problem, hint in checks:
        first_seen: dict[str, str] = {}
        for table in tables:
            if table.frame.empty:
                continue
            values = table.frame[column]
            for value in pd.unique(values):
                if value not in first_seen:
                    position = int(np.flatnonzero((values == value).to_numpy())[0])
                    first_seen[value] = table.where(position)
        if len(first_seen) > 1:
            shown = "; ".join(f"{value!r} first in {where}" for value, where in list(first_seen.items())[:4])
            raise SchemaError(f"the dataset {problem}: {shown}", hint)
