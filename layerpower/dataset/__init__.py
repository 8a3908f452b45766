"""Datasets for the predictors: read, validate and merge profiled per-layer measurements.

- :class:`DatasetBuilder` reads layer CSVs (the profiler's, or other tools' with their units named),
  validates them (columns, numbers, schema version, duplicates, sources, devices), converts power to W and
  runtime to s, and merges them into :class:`LayerData`.
- :func:`build_dataset` merges a whole ``training_data/<device-id>/`` tree into one file per layer kind.
- :func:`grouped_split` and :func:`leave_one_model_out` keep each model on one side of a split.

Names are imported lazily (``from layerpower.dataset import build_dataset`` loads pandas only then), so the
small modules such as :mod:`~layerpower.dataset.layout` stay cheap to import.
"""

from __future__ import annotations

from layerpower._lazy import lazy_exports

_EXPORTS = {
    "BuildResult": "layerpower.dataset.build",
    "build_dataset": "layerpower.dataset.build",
    "DatasetBuilder": "layerpower.dataset.dataset_builder",
    "LayerData": "layerpower.dataset.dataset_builder",
    "grouped_split": "layerpower.dataset.split",
    "grouped_split_indices": "layerpower.dataset.split",
    "leave_one_model_out": "layerpower.dataset.split",
    "leave_one_model_out_indices": "layerpower.dataset.split",
    "LayerSummary": "layerpower.dataset.summary",
    "count_table": "layerpower.dataset.summary",
    "layers_per_model": "layerpower.dataset.summary",
    "suspicious_models": "layerpower.dataset.summary",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
