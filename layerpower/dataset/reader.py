"""Read profiled layer files (ours and other tools') into one validated, SI-unit frame.

Speed: files with the same header are parsed together in one ``pandas.read_csv`` call (their bodies joined),
and every check is one vectorised operation per column over all rows, so 600 small files parse and validate
in well under a second. Each row keeps its file (``_file``) and its 1-based data row (``_row``) so that
every error names the file, the data row and the column as written in that file.

The jobs around the parsing live beside this module: :mod:`~layerpower.dataset.foreign` translates other
tools' files, :mod:`~layerpower.dataset.checks` checks the rows, :mod:`~layerpower.dataset.meta` reads
``meta.json`` and checks rows against it; :mod:`~layerpower.dataset.sources` holds the types they share.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerpower.config import FEATURES_BY_KIND
from layerpower.dataset.checks import (
    RowLocator,
    check_duplicates,
    check_own_header,
    check_runtime_present,
    check_values,
    check_version_text,
    coerce_columns,
)
from layerpower.dataset.foreign import resolve_foreign
from layerpower.dataset.meta import META_NAME, check_meta, drop_incomplete_configs, read_meta
from layerpower.dataset.sources import FILE_COLUMN, ROW_COLUMN, LoadedTable, ReadOptions, SourceFile
from layerpower.dataset.tables import (
    BOOL_COLUMNS,
    INT_COLUMNS,
    OPTIONAL_NUMBERS,
    SOURCE_COLUMN,
    SOURCE_ESTIMATE,
    SOURCE_MEASURED,
    TABLE_SPECS,
    TEXT_COLUMNS,
    TableSpec,
)
from layerpower.dataset.units import Sidecar, read_sidecar
from layerpower.errors import SchemaError

# --------------------------------------------------------------------------------------------- headers


def _split_header(path: Path, data: bytes) -> tuple[bytes, bytes, tuple[str, ...], int]:
    head, _, body = data.partition(b"\n")
    try:
        line = head.decode("utf-8-sig").rstrip("\r")
    except UnicodeDecodeError:
        raise SchemaError(f"{path}: line 1 is not UTF-8 text; expected a CSV header") from None
    if not line.strip():
        raise SchemaError(f"{path}: empty file or empty header (line 1); expected a CSV header")
    columns = tuple(name.strip() for name in next(csv.reader([line])))
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise SchemaError(f"{path}: header (line 1), column {name!r}: appears more than once")
        seen.add(name)
    if body and not body.endswith(b"\n"):
        body += b"\n"
    rows = body.count(b"\n")
    header = io.StringIO()
    csv.writer(header, lineterminator="").writerow(columns)  # names stripped of surrounding blanks
    return header.getvalue().encode("utf-8"), body, columns, rows


def _first_value(path: Path, body: bytes, columns: tuple[str, ...], column: str) -> str | None:
    first = body.partition(b"\n")[0].decode("utf-8", "replace").rstrip("\r")
    if not first:
        return None
    values = next(csv.reader([first]), [])
    index = columns.index(column)
    return values[index].strip() if index < len(values) else None


def infer_kind(path: Path, features: Sequence[str] | None) -> str:
    """The table a file holds: its name (``convolutional.csv``, ..., ``model.csv``), else the features."""
    if path.stem in TABLE_SPECS:
        return path.stem
    if features:
        kinds = [k for k, spec_features in FEATURES_BY_KIND.items() if set(spec_features) == set(features)]
        kinds = kinds or [k for k in FEATURES_BY_KIND if set(features) <= set(TABLE_SPECS[k].columns)]
        if len(kinds) == 1:
            return kinds[0]
    raise SchemaError(
        f"{path}: cannot tell which layer kind the file holds from its name",
        f"name it {', '.join(f'{k}.csv' for k in FEATURES_BY_KIND)} or pass kind=",
    )


def prepare_file(
    path: Path,
    data: bytes,
    options: ReadOptions,
    kind: str | None = None,
    meta_cache: dict[Path, dict[str, Any] | None] | None = None,
    sidecar_cache: dict[Path, Sidecar | None] | None = None,
) -> SourceFile:
    """Resolve one file's header: its table, whether it is ours, its units, its metadata."""
    meta_cache = {} if meta_cache is None else meta_cache
    sidecar_cache = {} if sidecar_cache is None else sidecar_cache
    header, body, columns, rows = _split_header(path, data)
    spec = TABLE_SPECS[kind or infer_kind(path, options.features)]
    source = SourceFile(path=path, spec=spec, columns=columns, header=header, body=body, rows=rows)
    if "schema_version" in columns:
        check_version_text(path, _first_value(path, body, columns, "schema_version"), "data row 1")
        check_own_header(source)
        source.required = frozenset(c for c in spec.numeric if c not in OPTIONAL_NUMBERS)
        source.meta = read_meta(path.parent, meta_cache)
        source.meta_path = path.parent / META_NAME if source.meta is not None else None
    else:
        if path.parent not in sidecar_cache:
            sidecar_cache[path.parent] = read_sidecar(path.parent)
        resolve_foreign(source, options, sidecar_cache[path.parent])
    return source


# --------------------------------------------------------------------------------------------- parsing


#: cells read as missing in numeric columns (pandas' defaults); in text columns only the empty cell is
#: missing, so a layer named "NA" or "None" keeps its name
NUMERIC_NA = [
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
]


def _read_csv(buffer: bytes, columns: tuple[str, ...], text_columns: list[str]) -> pd.DataFrame:
    na = {c: ([""] if c in text_columns else NUMERIC_NA) for c in columns}
    return pd.read_csv(
        io.BytesIO(buffer),
        dtype=dict.fromkeys(text_columns, str),
        keep_default_na=False,
        na_values=na,
        low_memory=False,
    )


def _parse_group(group: list[SourceFile]) -> tuple[pd.DataFrame, list[int]]:
    """Parse files sharing one header in one go; fall back to file by file when line counts disagree."""
    first = group[0]
    text_columns = [c for c in first.columns if first.rename.get(c, c) in TEXT_COLUMNS]
    counts = [f.rows for f in group]
    try:
        frame = _read_csv(first.header + b"\n" + b"".join(f.body for f in group), first.columns, text_columns)
        if len(frame) == sum(counts):
            return frame, counts
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError):
        pass  # locate the offending file below
    frames = []
    for source in group:
        try:
            frames.append(_read_csv(source.header + b"\n" + source.body, source.columns, text_columns))
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            raise SchemaError(f"{source.path}: not a readable CSV ({' '.join(str(exc).split())})") from None
    return pd.concat(frames, ignore_index=True), [len(f) for f in frames]


def _assemble(
    frame: pd.DataFrame, group: list[SourceFile], counts: list[int], indices: list[int]
) -> pd.DataFrame:
    """The group's rows in canonical columns and SI units, with ``_file``/``_row``."""
    spec = group[0].spec
    first = group[0]
    counts_arr = np.asarray(counts, dtype=np.int64)
    n = int(counts_arr.sum())
    data: dict[str, Any] = {}
    for name in spec.columns:
        if name in first.present:
            column = frame[first.written(name)]
            factors = np.asarray([source.factors.get(name, 1.0) for source in group])
            if np.any(factors != 1.0):
                column = column.astype(float) * np.repeat(factors, counts_arr)
            data[name] = column.to_numpy()
        else:
            fills = [source.fill.get(name, "" if name in TEXT_COLUMNS else np.nan) for source in group]
            data[name] = np.repeat(
                np.asarray(fills, dtype=object if name in TEXT_COLUMNS else None), counts_arr
            )
    out = pd.DataFrame(data, index=pd.RangeIndex(n))
    if first.foreign and "dynamic_power_w" in first.present:
        derived = out["dynamic_power_w"] + out["idle_power_w"].astype(float)
        out["power_w"] = out["power_w"].astype(float).where(out["power_w"].notna(), derived)
    file_index = np.repeat(np.asarray(indices, dtype=np.int64), counts_arr)
    starts = np.repeat(np.cumsum(counts_arr) - counts_arr, counts_arr)
    out[FILE_COLUMN] = file_index
    out[ROW_COLUMN] = np.arange(n, dtype=np.int64) - starts + 1
    return out


def _finalise_types(frame: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    for name in spec.columns:
        if name in TEXT_COLUMNS:
            frame[name] = frame[name].astype(str)
        elif name in BOOL_COLUMNS:
            frame[name] = frame[name].astype(bool)
        elif name in INT_COLUMNS:
            frame[name] = pd.array(
                frame[name].to_numpy(dtype=float, na_value=np.nan), dtype="Float64"
            ).astype("Int64")
        else:
            frame[name] = frame[name].astype(float)
    frame[SOURCE_COLUMN] = np.where(
        frame["is_estimate"].to_numpy(dtype=bool), SOURCE_ESTIMATE, SOURCE_MEASURED
    )
    return frame


def empty_table(spec: TableSpec) -> pd.DataFrame:
    """A frame with the merged-file columns and types and no rows."""
    frame = pd.DataFrame({name: pd.Series([], dtype=float) for name in spec.columns})
    frame = _finalise_types(frame, spec)
    frame[FILE_COLUMN] = np.zeros(0, dtype=np.int64)
    frame[ROW_COLUMN] = np.zeros(0, dtype=np.int64)
    return frame


def load_table(
    paths: Sequence[Path],
    options: ReadOptions,
    kind: str | None = None,
    contents: dict[Path, bytes] | None = None,
    progress: Callable[[Path], None] | None = None,
) -> LoadedTable:
    """Read, check and convert ``paths`` (all holding the same table) into one :class:`LoadedTable`."""
    meta_cache: dict[Path, dict[str, Any] | None] = {}
    sidecar_cache: dict[Path, Sidecar | None] = {}
    files: list[SourceFile] = []
    for path in paths:
        path = Path(path)
        try:
            data = contents[path] if contents is not None and path in contents else path.read_bytes()
        except OSError as exc:
            raise SchemaError(f"{path}: cannot read ({exc.strerror or exc})") from None
        files.append(prepare_file(path, data, options, kind, meta_cache, sidecar_cache))
        if progress is not None:
            progress(path)
    specs = {f.spec.name for f in files}
    if len(specs) > 1:
        raise SchemaError(
            f"files of several tables in one merge ({', '.join(sorted(specs))}), e.g. "
            + ", ".join(str(next(f.path for f in files if f.spec.name == s)) for s in sorted(specs)),
            "merge one layer kind at a time",
        )
    spec = files[0].spec if files else TABLE_SPECS[kind or "convolutional"]
    if not files:
        return LoadedTable(spec, empty_table(spec), [])

    groups: dict[tuple[Any, ...], list[int]] = {}
    for index, source in enumerate(files):
        key = (source.columns, tuple(sorted(source.rename.items())), source.foreign)
        groups.setdefault(key, []).append(index)
    parts = []
    for indices in groups.values():
        group = [files[i] for i in indices]
        frame, counts = _parse_group(group)
        file_index = np.repeat(np.asarray(indices, dtype=np.int64), counts)
        rows = np.arange(len(frame), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts) + 1
        locate = RowLocator(files, file_index, rows)
        coerce_columns(frame, group[0], locate)
        check_values(frame, group[0], locate)
        parts.append(_assemble(frame, group, counts, indices))
    merged = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    if len(parts) > 1:
        merged = merged.sort_values([FILE_COLUMN, ROW_COLUMN], kind="stable", ignore_index=True)
    table = LoadedTable(spec, _finalise_types(merged, spec), files)
    check_runtime_present(table)
    drop_incomplete_configs(table)
    check_duplicates(table)
    check_meta(table)
    return table
