"""Typed column sets of the profiler's files: which columns are integers, text, flags, optional or bounded.

The column *lists* live in :mod:`layerpower.config.schema`; this module only classifies them so the reader
can check values with a few vectorised operations per column.
"""

from __future__ import annotations

from dataclasses import dataclass

from layerpower.config import (
    ATTENTION_FIELDS,
    LAYER_COLUMNS,
    LAYER_KEY,
    LAYER_KINDS,
    MODEL_COLUMNS,
    SCHEMA_VERSION,
)

#: schema versions this reader understands
KNOWN_SCHEMA_VERSIONS: frozenset[int] = frozenset({SCHEMA_VERSION})

#: ``power_source`` of a file from another tool whose metadata does not name its sensor
UNKNOWN_POWER_SOURCE = "unknown"

#: columns added by the dataset builder: "measured" or "estimate", from ``is_estimate``
SOURCE_COLUMN = "source"
SOURCE_MEASURED = "measured"
SOURCE_ESTIMATE = "estimate"

TEXT_COLUMNS: frozenset[str] = frozenset(
    {"device_id", "model", "dtype", "layer_name", "layer_type", "power_source", "measured_as", "statistic"}
)
BOOL_COLUMNS: frozenset[str] = frozenset({"is_estimate"})
INT_COLUMNS: frozenset[str] = frozenset(
    {
        "schema_version",
        "call_index",
        "batch_size",
        "input_size_0",
        "input_size_1",
        "input_size_2",
        "output_size_0",
        "output_size_1",
        "output_size_2",
        "input_size",
        "output_size",
        "rows",
        "kernel_0",
        "kernel_1",
        "padding_0",
        "padding_1",
        "stride_0",
        "stride_1",
        "dilation_0",
        "dilation_1",
        "groups",
        *ATTENTION_FIELDS,
        "flops",
        "params",
        "bytes_read",
        "bytes_written",
        "trials",
        "iterations",
        "processes",
        "repeats",
        "layer_calls",
    }
)

#: numeric columns that may be empty (not measured): everything else numeric must be a finite number.
#: ``runtime_s`` of a layer is empty when the call was not seen in the in-context forwards (the profiler
#: lists such calls in meta.json); its isolated runtime is still measured.
OPTIONAL_NUMBERS: frozenset[str] = frozenset(
    {
        "runtime_s",
        "runtime_isolated_s",
        "dynamic_power_w",
        "idle_power_w",
        "runtime_cv",
        "power_cv",
        "runtime_min_s",
        "runtime_max_s",
        "sum_runtime_s",
        "sum_runtime_isolated_s",
    }
)
#: text columns that may be empty
OPTIONAL_TEXT: frozenset[str] = frozenset({"measured_as", "layer_type", "statistic"})

#: columns whose non-empty values must be > 0 (runtimes in s, counts)
POSITIVE_COLUMNS: frozenset[str] = frozenset(
    {
        "runtime_s",
        "runtime_isolated_s",
        "runtime_min_s",
        "runtime_max_s",
        "batch_size",
        "trials",
        "iterations",
        "repeats",
    }
)
#: columns whose non-empty values must be >= 0. ``dynamic_power_w`` is total minus idle power and may
#: legitimately be slightly negative, so only total power (and idle power, energy) is bounded here.
NON_NEGATIVE_COLUMNS: frozenset[str] = frozenset({"power_w", "idle_power_w", "energy_j", "processes"})


@dataclass(frozen=True)
class TableSpec:
    """The columns of one kind of file (a layer kind or ``model``) and the key that identifies a row."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]

    @property
    def numeric(self) -> tuple[str, ...]:
        """Columns holding numbers (integers and floats)."""
        return tuple(c for c in self.columns if c not in TEXT_COLUMNS and c not in BOOL_COLUMNS)

    @property
    def text(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c in TEXT_COLUMNS)

    @property
    def integers(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c in INT_COLUMNS)

    @property
    def output_columns(self) -> list[str]:
        """Columns of the merged dataset file: the schema columns, then ``source``."""
        return [*self.columns, SOURCE_COLUMN]


MODEL_KEY = ("device_id", "model", "dtype", "batch_size")

TABLE_SPECS: dict[str, TableSpec] = {
    kind: TableSpec(kind, tuple(LAYER_COLUMNS[kind]), LAYER_KEY) for kind in LAYER_KINDS
}
TABLE_SPECS["model"] = TableSpec("model", tuple(MODEL_COLUMNS), MODEL_KEY)
