"""Every name the package spells in more than one place: one ``Literal`` type and one tuple each.

Modules, CLI options and file readers take their choices from here, so a new power source, precision or
backend is one edit. Importing this module imports nothing heavy.
"""

from __future__ import annotations

from typing import Literal

#: where a power or energy figure came from, in order of preference (a sensor before the estimate)
PowerSourceName = Literal["nvml", "jetson", "rapl", "estimate"]
POWER_SOURCES: tuple[PowerSourceName, ...] = ("nvml", "jetson", "rapl", "estimate")
#: the sources that are real sensors (everything but the estimate)
SENSOR_SOURCES: tuple[PowerSourceName, ...] = ("nvml", "jetson", "rapl")

#: the kinds of layer call the profiler, the dataset and the predictors know
LayerKind = Literal["convolutional", "pooling", "dense", "attention", "other"]
LAYER_KINDS: tuple[LayerKind, ...] = ("convolutional", "pooling", "dense", "attention", "other")
#: the ``model`` column and folder name of rows from the sampled layer space (``profile-layers``)
SAMPLED_MODEL = "_sampled"

#: canonical element types of a profiled layer (``torch`` attribute names)
LayerDtype = Literal["float32", "float16", "bfloat16"]
LAYER_DTYPES: tuple[LayerDtype, ...] = ("float32", "float16", "bfloat16")
#: short spelling of each layer dtype, used on the command line and in file names
DTYPE_SHORT_NAMES: dict[LayerDtype, str] = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}

#: numeric precisions of an experiment run, in the backend x precision study's spelling and order (see
#: :mod:`layerpower.experiments.precision`; ``mixed-fp16`` is accepted as input and normalised)
PrecisionName = Literal["fp32", "fp16", "bf16", "mixed_fp16", "mixed_bf16"]
PRECISIONS: tuple[PrecisionName, ...] = ("fp32", "fp16", "bf16", "mixed_fp16", "mixed_bf16")

#: precision modes of the repeated MLP benchmark: the layer dtypes plus int8 dynamic quantisation
RepeatedPrecision = Literal["float32", "float16", "bfloat16", "int8"]
REPEATED_PRECISIONS: tuple[RepeatedPrecision, ...] = (*LAYER_DTYPES, "int8")

#: deep-learning stacks an experiment run can use
BackendName = Literal["torch", "jax", "tf-keras", "jax-keras", "torch-keras"]
BACKENDS: tuple[BackendName, ...] = ("torch", "jax", "tf-keras", "jax-keras", "torch-keras")

#: experiment tasks and their sizes
TaskName = Literal["mlp", "cnn", "lstm"]
TASKS: tuple[TaskName, ...] = ("mlp", "cnn", "lstm")
Complexity = Literal["simple", "complex"]
COMPLEXITIES: tuple[Complexity, ...] = ("simple", "complex")

#: timestamp format at the start of every run-folder name (the study's ``YYYYmmdd-HHMMSS``)
TIMESTAMP_FORMAT = "%Y%m%d-%H%M%S"
#: the timestamp format of run folders written before the study's layout (still read)
LEGACY_TIMESTAMP_FORMAT = "%Y%m%dT%H%M%S"
