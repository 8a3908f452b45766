"""Run folders written by the backend x precision study's own tool, read into this package's columns.

The study's folders differ from :mod:`layerpower.experiments.run_one`'s:

* no ``config.json``: the configuration is in the folder name and in ``global_metrics.csv``, whose columns
  include ``backend, model_type, model_complexity, precision, epochs, batch_size, seed`` and ``gpus`` or
  ``gpu_ids`` (:func:`config_from_global` maps them to ``model``, ``complexity`` and ``gpus``);
* older folders ``<timestamp>_<backend>_<model>_<complexity>`` (precision fp32, seed from the parent
  ``<root>/<seed>/`` folder);
* ``test.csv`` as ``loss,accuracy,epoch_time`` or ``loss,metric,time`` (:func:`normalise_test`);
* ``*_samples.csv`` with ``timestamp, gpu_<i>_utilization, gpu_<i>_memory_used, gpu_<i>_power`` only: NVML
  watts and MiB, no provenance columns (:func:`normalise_samples` adds them and converts MiB to bytes);
* partial runs lacking some of :data:`STUDY_CSV_FILES` (the reader lists them in ``missing_files``);
* no per-phase energy in ``global_metrics.csv``: :func:`samples_energy` integrates the NVML samples, and
  :func:`phase_power` refuses (NaN, with a note) any phase too short for its samples, ours included.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from layerpower.experiments.precision import normalise_precision
from layerpower.profiling.sampler import MIN_PHASE_INTERVALS, PhaseEnergy, phase_energy

#: the five CSV files of a complete run, in both layouts
STUDY_CSV_FILES: tuple[str, ...] = (
    "train.csv",
    "test.csv",
    "train_samples.csv",
    "test_samples.csv",
    "global_metrics.csv",
)
#: study column -> this package's column, for the configuration in ``global_metrics.csv``
CONFIG_RENAMES: dict[str, str] = {"model_type": "model", "model_complexity": "complexity", "gpu_ids": "gpus"}
#: configuration columns of the study's ``global_metrics.csv`` besides the five that name a run
STUDY_SETTING_KEYS: tuple[str, ...] = ("epochs", "batch_size", "gpus")
_GPU_MEMORY = re.compile(r"gpu_\d+_memory_used")
_GPU_POWER = re.compile(r"gpu_\d+_power")
MIB = 2**20


def config_from_global(row: dict[str, Any]) -> dict[str, Any]:
    """Pop the study's configuration columns out of a ``global_metrics.csv`` row, in this package's names.

    ``model_type`` -> ``model``, ``model_complexity`` -> ``complexity``, ``gpu_ids`` -> ``gpus`` (as text,
    ``0,1``); ``precision`` normalised (``mixed-fp16`` -> ``mixed_fp16``); ``seed`` an int.
    """
    config: dict[str, Any] = {}
    for key in ("backend", "model", "complexity", "precision", "seed", *STUDY_SETTING_KEYS, *CONFIG_RENAMES):
        if key in row:
            value = row.pop(key)
            if _present(value):
                config[CONFIG_RENAMES.get(key, key)] = value
    if isinstance(config.get("precision"), str):
        config["precision"] = normalise_precision(config["precision"])
    for key in ("seed", "epochs", "batch_size"):
        if key in config:
            config[key] = _as_int(config[key])
    if "gpus" in config:
        config["gpus"] = _gpu_text(config["gpus"])
    return config


def normalise_test(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``test.csv`` in this package's columns: ``metric`` -> ``metric`` (``accuracy`` | ``mae``), ``time``
    and ``epoch_time`` -> ``time`` (seconds of the test pass)."""
    renames = {"metric": metric, "epoch_time": "time"}
    return frame.rename(columns={k: v for k, v in renames.items() if k in frame.columns})


def metric_of(history: pd.DataFrame | None, model: Any) -> str:
    """The quality metric of a run: the one in ``train.csv`` (``accuracy`` | ``mae``), else by task."""
    if history is not None:
        for name in ("accuracy", "mae"):
            if name in history.columns:
                return name
    return "mae" if model == "lstm" else "accuracy"


def is_study_samples(frame: pd.DataFrame) -> bool:
    """True for a samples file of the study's tool: GPU columns and no provenance columns."""
    return "source" not in frame.columns and any(_GPU_POWER.fullmatch(str(c)) for c in frame.columns)


def normalise_samples(frame: pd.DataFrame) -> pd.DataFrame:
    """A study samples file in the sampler's columns: ``timestamp`` in Unix seconds, GPU memory in bytes
    (from MiB), and provenance columns saying the power is NVML's (``source`` = ``nvml``, not an estimate).
    Frames that already carry provenance are returned unchanged."""
    if not is_study_samples(frame):
        return frame
    frame = frame.copy()
    frame["timestamp"] = unix_seconds(frame["timestamp"]) if "timestamp" in frame else np.nan
    for column in [c for c in frame.columns if _GPU_MEMORY.fullmatch(str(c))]:
        frame[column] = pd.to_numeric(frame[column], errors="coerce") * MIB
    frame["source"] = "nvml"
    frame["is_estimate"] = False
    frame["gpu_power_source"] = "nvml"
    frame["cpu_power_source"] = ""
    return frame


def unix_seconds(stamps: pd.Series) -> pd.Series:
    """Timestamps as Unix seconds: numbers stay, date-time text (``2024-05-01 12:00:00.1``) is converted."""
    numeric = pd.to_numeric(stamps, errors="coerce")
    if numeric.notna().sum() >= stamps.notna().sum():
        return numeric
    parsed = pd.to_datetime(stamps, errors="coerce")
    return (parsed - pd.Timestamp("1970-01-01")).dt.total_seconds()


def samples_energy(frame: pd.DataFrame) -> PhaseEnergy:
    """Energy of the span of one samples file (the phase), by :func:`phase_energy`: integrated when the
    file spans three sampling intervals (its median spacing), else NaN with the reason. No window exists."""
    stamps = pd.to_numeric(frame.get("timestamp"), errors="coerce").dropna().sort_values()
    if len(stamps) < 2:
        return PhaseEnergy({}, "none", "not measurable: fewer than 2 samples")
    interval = float(np.median(np.diff(stamps.to_numpy())))
    return phase_energy(
        frame,
        float(stamps.iloc[0]),
        float(stamps.iloc[-1]),
        interval_s=interval,
        window_note="the study's files hold no meter window",
    )


def power_sources(frame: pd.DataFrame) -> str:
    """``nvml``, ``estimate``, ``nvml+estimate``: the power sources a samples frame names."""
    names = []
    for column in ("gpu_power_source", "cpu_power_source"):
        values = frame[column].dropna().astype(str) if column in frame else pd.Series(dtype=str)
        names += [values.iloc[0]] if len(values) and values.iloc[0] not in ("", "nan") else []
    if names:
        return "+".join(dict.fromkeys(names))
    return str(frame["source"].iloc[0]) if "source" in frame and len(frame) else ""


def phase_power(row: dict[str, Any], phase: str) -> None:
    """``<phase>_power_w`` = energy / time. A run written before phases were checked (no
    ``<phase>_energy_method``) whose phase is shorter than 3 sampling intervals gets NaN energy and a note."""
    t, e = _number(row.get(f"{phase}_time")), _number(row.get(f"{phase}_energy_j"))
    interval = _number(row.get("sample_interval_s"))
    if f"{phase}_energy_method" not in row and np.isfinite(e) and t < MIN_PHASE_INTERVALS * interval:
        for key in [k for k in row if k.startswith(f"{phase}_") and k.endswith("energy_j")]:
            row[key] = np.nan
        e = np.nan
        row[f"{phase}_energy_method"] = "none"
        row[f"{phase}_energy_note"] = (
            f"not measurable: phase of {t * 1e3:.1f} ms is shorter than {MIN_PHASE_INTERVALS} sampling "
            f"intervals ({MIN_PHASE_INTERVALS * interval * 1e3:.0f} ms) and the run recorded no meter window"
        )
    row[f"{phase}_power_w"] = e / t if t and t > 0 and np.isfinite(e) else np.nan


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _present(value: Any) -> bool:
    return not (value is None or (isinstance(value, float) and np.isnan(value)) or value == "")


def _as_int(value: Any) -> Any:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return int(number) if number.is_integer() else value


def _gpu_text(value: Any) -> str:
    """GPU ids as ``0,1`` text, whatever the study wrote (``[0, 1]``, ``0;1``, ``0``, ``0.0``)."""
    if isinstance(value, (int, float, np.number)):
        return str(int(value))
    return ",".join(re.findall(r"\d+", str(value)))
