"""Translating other tools' layer files (e.g. a Jetson peer's CSV) onto our schema and SI units.

A file without ``schema_version`` is foreign: its power and runtime columns are renamed to ours, their units
come from the column name, its ``units.json`` sidecar or the reader's options (see
:mod:`layerpower.dataset.units`), and the columns it lacks are filled in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from layerpower.config import FEATURES_BY_KIND, SCHEMA_VERSION
from layerpower.dataset.sources import ReadOptions, SourceFile
from layerpower.dataset.tables import OPTIONAL_NUMBERS, UNKNOWN_POWER_SOURCE
from layerpower.dataset.units import (
    POWER_COLUMN_UNITS,
    RUNTIME_COLUMN_UNITS,
    Sidecar,
    power_factor,
    runtime_factor,
)
from layerpower.errors import SchemaError


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


def resolve_foreign(source: SourceFile, options: ReadOptions, sidecar: Sidecar | None) -> None:
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
