"""Datasets for the predictors: read, validate and merge profiled per-layer measurements.

- :class:`DatasetBuilder` reads layer CSVs (the profiler's, or other tools' with their units named),
  validates them (columns, numbers, schema version, duplicates, sources, devices), converts power to W and
  runtime to s, and merges them into :class:`LayerData`.
- :func:`build_dataset` merges a whole ``training_data/<device-id>/`` tree into one file per layer kind.
- :func:`grouped_split` and :func:`leave_one_model_out` keep each model on one side of a split.
"""

from layerpower.dataset.build import BuildResult, build_dataset
from layerpower.dataset.dataset_builder import DatasetBuilder, LayerData
from layerpower.dataset.split import (
    grouped_split,
    grouped_split_indices,
    leave_one_model_out,
    leave_one_model_out_indices,
)
from layerpower.dataset.summary import LayerSummary, count_table, layers_per_model, suspicious_models

__all__ = [
    "BuildResult",
    "DatasetBuilder",
    "LayerData",
    "LayerSummary",
    "build_dataset",
    "count_table",
    "grouped_split",
    "grouped_split_indices",
    "layers_per_model",
    "leave_one_model_out",
    "leave_one_model_out_indices",
    "suspicious_models",
]
