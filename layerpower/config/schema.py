"""The on-disk schema of profiled data (version :data:`SCHEMA_VERSION`).

``training_data/<device-id>/<model>/`` holds ``convolutional.csv``, ``pooling.csv``, ``dense.csv``,
``attention.csv``, ``other.csv`` (one row per layer call and batch size / dtype), ``model.csv`` (one row per batch size and
dtype: the whole model end to end) and ``meta.json``. Units are SI and named in the column: seconds
(``_s``), watts (``_w``), joules (``_j``), bytes. Every row carries ``schema_version``; readers refuse a
version they do not know, naming the file and the column.
"""

from __future__ import annotations

from layerpower.config.features import FEATURES_EXTENDED_BY_KIND, VALUE_FEATURES
from layerpower.config.vocab import LAYER_KINDS

SCHEMA_VERSION = 1
#: the columns that name one layer row: no two rows of a file share them
LAYER_KEY: tuple[str, ...] = ("device_id", "model", "dtype", "batch_size", "layer_name", "call_index")

#: identity columns, first in every layer file
ID_COLUMNS: list[str] = [
    "schema_version",
    "device_id",
    "model",
    "dtype",
    "layer_name",
    "layer_type",
    "call_index",
]

#: the measured targets and how they were measured; power and energy from isolated windows
MEASUREMENT_COLUMNS: list[str] = [
    "runtime_s",  # per call, timed in context inside whole-model forwards (median); the default target
    "runtime_isolated_s",  # per call, the layer alone: window time / iterations (median across trials)
    "power_w",  # total power while the layer runs alone: window energy / window time (median of trials)
    "dynamic_power_w",  # power_w minus idle_power_w
    "idle_power_w",  # idle power measured before the layers
    "energy_j",  # per call: window energy / iterations (median across trials)
    "trials",  # number of measured windows
    "iterations",  # calls per window (calibrated)
    "runtime_cv",  # coefficient of variation of the per-call runtime across trials
    "power_cv",  # coefficient of variation of power across trials
    "power_source",  # nvml | rapl | jetson | estimate
    "is_estimate",  # True when power comes from a model, not a sensor
    "measured_as",  # layer_name of the identical layer whose measurement this row reuses ('' if its own)
]

#: every column of one layer file, per kind, in order
LAYER_COLUMNS: dict[str, list[str]] = {
    kind: [*ID_COLUMNS, *FEATURES_EXTENDED_BY_KIND[kind], *VALUE_FEATURES, *MEASUREMENT_COLUMNS]
    for kind in LAYER_KINDS
}


def layer_columns(kind: str) -> list[str]:
    """The ordered columns of ``<kind>.csv``."""
    return list(LAYER_COLUMNS[kind])


#: columns of model.csv: the whole model end to end
MODEL_COLUMNS: list[str] = [
    "schema_version",
    "device_id",
    "model",
    "dtype",
    "batch_size",
    "runtime_s",  # median across fresh processes of each process's median over repeats
    "runtime_min_s",  # smallest per-process value
    "runtime_max_s",  # largest per-process value
    "runtime_cv",  # CV across processes
    "processes",  # fresh processes measured
    "repeats",  # forward passes per process
    "statistic",  # how the per-process figure was computed, e.g. "median of 30 forwards"
    "power_w",
    "dynamic_power_w",
    "energy_j",  # per forward pass
    "power_source",
    "is_estimate",
    "layer_calls",  # number of layer rows (all kinds) for this batch size and dtype
    "sum_runtime_s",  # sum of in-context per-layer runtimes
    "sum_runtime_isolated_s",  # sum of isolated per-layer runtimes
]
