"""Device identity for profiled data: a re-export of :mod:`layerpower.hardware`, where it now lives.

``layerpower.hardware`` sits below both profiling and the predictors; this module keeps the older
``layerpower.profiling.device`` import path working.
"""

from __future__ import annotations

from layerpower.hardware import (
    cpu_model_name,
    cpu_name,
    device_id,
    device_name,
    gpu_name,
    kind_and_index,
    nvml_device_names,
    slugify,
)

__all__ = [
    "cpu_model_name",
    "cpu_name",
    "device_id",
    "device_name",
    "gpu_name",
    "kind_and_index",
    "nvml_device_names",
    "slugify",
]
