"""Read profiled layer files (ours and other tools') into one validated, SI-unit frame.

Speed: files with the same header are parsed together in one ``pandas.read_csv`` call (their bodies joined),
and every check is one vectorised operation per column over all rows, so 600 small files parse and validate
in well under a second. Each row keeps its file (``_file``, an index into the file list) and its 1-based
data row (``_row``: the n-th row after the header) so that every error names the file, the data row and the
column as written in that file.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerpower.config import FEATURES_BY_KIND, SCHEMA_VERSION
from layerpower.config.vocab import POWER_SOURCES
from layerpower.dataset.tables import (
    BOOL_COLUMNS,
    INT_COLUMNS,
    KNOWN_SCHEMA_VERSIONS,
    NON_NEGATIVE_COLUMNS,
    OPTIONAL_NUMBERS,
    OPTIONAL_TEXT,
    POSITIVE_COLUMNS,
    SOURCE_COLUMN,
    SOURCE_ESTIMATE,
    SOURCE_MEASURED,
    TABLE_SPECS,
    TEXT_COLUMNS,
    UNKNOWN_POWER_SOURCE,
    TableSpec,
)
from layerpower.dataset.units import (
    POWER_COLUMN_UNITS,
    RUNTIME_COLUMN_UNITS,
    Sidecar,
    power_factor,
    read_sidecar,
    runtime_factor,
)
from layerpower.errors import SchemaError

META_NAME = "meta.json"
FILE_COLUMN = "_file"
ROW_COLUMN = "_row"
_MAX_SHOWN = 3  # offending rows named in one message


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


def _check_version_text(path: Path, value: str | None, where: str) -> None:
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


def read_meta(folder: Path, cache: dict[Path, dict[str, Any] | None]) -> dict[str, Any] | None:
    """Read and check ``folder/meta.json`` (schema version, device id); None when absent."""
    if folder in cache:
        return cache[folder]
    path = folder / META_NAME
    meta: dict[str, Any] | None = None
    if path.is_file():
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SchemaError(f"{path}: not readable JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise SchemaError(f"{path}: expected a JSON object")
        if "schema_version" not in meta:
            raise SchemaError(f"{path}: key 'schema_version' is missing")
        version = meta["schema_version"]
        if not isinstance(version, int) or version not in KNOWN_SCHEMA_VERSIONS:
            raise SchemaError(
                f"{path}: key 'schema_version': schema version {version!r} is not known to this reader "
                f"(it reads {', '.join(map(str, sorted(KNOWN_SCHEMA_VERSIONS)))})",
                "re-profile with this layerpower version, or upgrade layerpower",
            )
        configs = meta.get("configs")
        if configs is not None and not isinstance(configs, dict):
            raise SchemaError(f"{path}: key 'configs' must be an object (configuration -> its facts)")
    cache[folder] = meta
    return meta


def meta_device_id(meta: dict[str, Any]) -> str | None:
    """The device id in a meta.json: ``device.id`` or ``device_id`` (None when it names none)."""
    device = meta.get("device")
    if isinstance(device, dict) and device.get("id"):
        return str(device["id"])
    return str(meta["device_id"]) if meta.get("device_id") else None


def meta_configs(meta: dict[str, Any] | None) -> set[tuple[int, str]] | None:
    """The complete (batch_size, dtype) configurations a meta.json lists; None when it does not list them."""
    if not meta or not isinstance(meta.get("configs"), dict):
        return None
    complete = set()
    for entry in meta["configs"].values():
        if isinstance(entry, dict) and "batch_size" in entry and "dtype" in entry:
            complete.add((int(entry["batch_size"]), str(entry["dtype"])))
    return complete


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


def _agree(path: Path, what: str, from_sidecar: Any, from_options: Any, option_name: str) -> Any:
    if from_sidecar is not None and from_options is not None and from_sidecar != from_options:
        raise SchemaError(
            f"{path}: {what} is {from_sidecar!r} in its units.json but {from_options!r} was passed ({option_name})",
            "remove one of them",
        )
    return from_sidecar if from_sidecar is not None else from_options


def _foreign_column(
    path: Path, columns: tuple[str, ...], names: dict[str, str | None], what: str
) -> tuple[str, str | None]:
    found = [c for c in columns if c in names]
    if not found:
        raise SchemaError(
            f"{path}: header (line 1): no {what} column",
            f"expected one of {', '.join(names)} (or a layerpower schema file with schema_version)",
        )
    if len(found) > 1:
        raise SchemaError(f"{path}: header (line 1): several {what} columns ({', '.join(found)}); keep one")
    return found[0], names[found[0]]


def _resolve_foreign(source: SourceFile, options: ReadOptions, sidecar: Sidecar | None) -> None:
    """Map another tool's columns and units onto ours (bare power/runtime need a unit from metadata)."""
    path, spec, columns = source.path, source.spec, source.columns
    if spec.name == "model":
        raise SchemaError(
            f"{path}: header (line 1): column 'schema_version' is missing",
            "model.csv files must be written by layerpower's profiler",
        )
    idle = _agree(
        path,
        "idle_subtracted",
        sidecar.idle_subtracted if sidecar else None,
        options.idle_subtracted,
        "idle_subtracted / --idle-subtracted",
    )
    power_col, power_unit = _foreign_column(path, columns, POWER_COLUMN_UNITS, "power")
    runtime_col, runtime_unit = _foreign_column(path, columns, RUNTIME_COLUMN_UNITS, "runtime")
    units: dict[str, float] = {}
    for col, unit, key, option, option_name, to_factor, choices in (
        (
            power_col,
            power_unit,
            "power",
            options.power_unit,
            "power_unit / --power-unit",
            power_factor,
            "uW|mW|W",
        ),
        (
            runtime_col,
            runtime_unit,
            "runtime",
            options.runtime_unit,
            "runtime_unit / --runtime-unit",
            runtime_factor,
            "us|ms|s",
        ),
    ):
        side = getattr(sidecar, key) if sidecar else None
        if unit is not None:  # the column name says it
            if side is not None and to_factor(side) != to_factor(unit):
                raise SchemaError(
                    f"{path}: column {col!r} is in {unit} but its units.json says {key} is {side!r}"
                )
        else:
            unit = _agree(path, f"the unit of column {col!r}", side, option, option_name)
            if unit is None:
                raise SchemaError(
                    f"{path}: column {col!r} does not say its unit and no metadata gives it",
                    f"pass {option_name.split(' / ')[0]}= (CLI {option_name.split(' / ')[1]} {choices}) or write "
                    f'units.json beside the file, e.g. {{"power": "uW", "runtime": "ms"}}',
                )
        units[key] = to_factor(unit, f"{path}: unit of column {col!r}")

    power_target = "dynamic_power_w" if idle else "power_w"
    rename = {power_col: power_target, runtime_col: "runtime_s"}
    allowed = set(spec.columns)
    for name in columns:
        if name in rename:
            continue
        if name in rename.values() or name not in allowed:
            raise SchemaError(
                f"{path}: header (line 1), column {name!r}: "
                + (
                    "clashes with the converted power or runtime column"
                    if name in allowed
                    else "is not known"
                ),
                f"{spec.name} files may hold the columns of schema version {SCHEMA_VERSION}: "
                f"features, layer_name, layer_type, dtype, model, device_id, ...",
            )
    features = list(options.features or FEATURES_BY_KIND[spec.name])
    missing = [f for f in features if f not in columns]
    if missing:
        raise SchemaError(
            f"{path}: header (line 1): missing feature column(s) {', '.join(map(repr, missing))}",
            f"{spec.name} files need {', '.join(features)}",
        )

    power_source = _agree(
        path, "power_source", sidecar.power_source if sidecar else None, options.power_source, "power_source"
    )
    power_source = power_source or UNKNOWN_POWER_SOURCE
    fill: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "device_id": (sidecar.device_id if sidecar and sidecar.device_id else None)
        or options.device_id
        or "",
        "model": (sidecar.model if sidecar and sidecar.model else None) or path.parent.name,
        "dtype": (sidecar.dtype if sidecar and sidecar.dtype else None) or "",
        "layer_name": "",
        "layer_type": "",
        "call_index": 0,
        "measured_as": "",
        "power_source": power_source,
        "is_estimate": power_source == "estimate",
    }
    if sidecar and sidecar.idle_power_w is not None:
        fill["idle_power_w"] = sidecar.idle_power_w
    source.foreign = True
    source.rename = rename
    source.factors = {power_target: units["power"], "runtime_s": units["runtime"]}
    source.fill = {k: v for k, v in fill.items() if k not in source.present}
    source.required = frozenset(
        {c for c in source.present if c in spec.numeric and c not in OPTIONAL_NUMBERS}
        | {power_target, "runtime_s"}
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
        _check_version_text(path, _first_value(path, body, columns, "schema_version"), "data row 1")
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
        source.required = frozenset(c for c in spec.numeric if c not in OPTIONAL_NUMBERS)
        source.meta = read_meta(path.parent, meta_cache)
        source.meta_path = path.parent / META_NAME if source.meta is not None else None
    else:
        if path.parent not in sidecar_cache:
            sidecar_cache[path.parent] = read_sidecar(path.parent)
        _resolve_foreign(source, options, sidecar_cache[path.parent])
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


class _Locator:
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


def _coerce(frame: pd.DataFrame, source: SourceFile, locate: _Locator) -> None:
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


def _check_values(frame: pd.DataFrame, source: SourceFile, locate: _Locator) -> None:
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
        locate = _Locator(files, file_index, rows)
        _coerce(frame, group[0], locate)
        _check_values(frame, group[0], locate)
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


# --------------------------------------------------------------------------------------------- whole-table checks


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


def drop_incomplete_configs(table: LoadedTable) -> None:
    """Leave out rows of configurations that meta.json does not list as complete (an interrupted profile)."""
    listed = {i: meta_configs(source.meta) for i, source in enumerate(table.files)}
    listed = {i: configs for i, configs in listed.items() if configs is not None}
    frame = table.frame
    if not listed or frame.empty:
        return
    keys = [FILE_COLUMN, "batch_size", "dtype"]
    allowed = pd.DataFrame(
        [(i, b, d) for i, configs in listed.items() for b, d in configs] or None, columns=keys
    ).astype({FILE_COLUMN: "int64", "batch_size": "Int64", "dtype": str})
    rows = frame[keys].astype({"batch_size": "Int64", "dtype": str})
    found = rows.merge(allowed.assign(_complete=True), how="left", on=keys)["_complete"].notna().to_numpy()
    drop = np.isin(frame[FILE_COLUMN].to_numpy(), list(listed)) & ~found
    if not drop.any():
        return
    dropped = frame.loc[drop, keys].drop_duplicates()
    for file_index, batch, dtype in dropped.itertuples(index=False):
        source = table.files[int(file_index)]
        table.notes.append(
            f"{source.path.parent}: configuration batch {batch}/{dtype} is not listed as complete in "
            f"{META_NAME} (an interrupted profile); its rows are left out (profile-model --resume completes it)"
        )
    table.frame = frame.loc[~drop].reset_index(drop=True)


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


def check_meta(table: LoadedTable) -> None:
    """Rows of our files must agree with their folder's meta.json on device id and power source."""
    frame = table.frame
    if frame.empty:
        return
    for key, column in (("device id", "device_id"), ("power_source", "power_source")):
        expected = []
        for source in table.files:
            meta = source.meta or {}
            expected.append(meta_device_id(meta) if column == "device_id" else meta.get(key))
        expected_rows = np.asarray(expected, dtype=object)[frame[FILE_COLUMN].to_numpy()]
        known = np.asarray([e is not None for e in expected_rows], dtype=bool)
        bad = known & (frame[column].to_numpy(dtype=object) != expected_rows)
        if bad.any():
            position = int(np.flatnonzero(bad)[0])
            source = table.files[int(frame[FILE_COLUMN].iat[position])]
            raise SchemaError(
                f"{table.where(position)}, column {column!r}: {frame[column].iat[position]!r} disagrees with "
                f"{source.meta_path} ({key}: {expected_rows[position]!r})",
                "the files of one model folder come from one profiling run; re-profile the model",
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
