"""Read a tree of experiment results into tidy DataFrames.

The experiment runner writes ``<root>/<seed>/<YYYYmmdd-HHMMSS>_<backend>_<model>_<complexity>_<precision>_
<seed>/``, the study's layout (see :mod:`layerpower.experiments.config`; older ``YYYYmmddTHHMMSS`` names and
``mixed-fp16`` precisions are read and normalised to ``mixed_fp16``). A successful run holds ``config.json``,
the five CSVs of :data:`~layerpower.stats.study_layout.STUDY_CSV_FILES`; a failed run ``config.json`` and
``error.txt``. Folders of the study's own tool (no ``config.json``, 4-field names, partial runs, other
column names) are read too: see :mod:`layerpower.stats.study_layout`.

:func:`read_results` reads every run in parallel (threads) and returns a :class:`ResultsFrame`:

* ``runs`` -- one row per run that is not failed: its configuration (``config.json``, else the study's
  columns of ``global_metrics.csv``, else the folder name and its ``<seed>/`` parent), ``missing_files``
  (those of the five CSVs it lacks, comma-separated; empty when complete), the global metrics, the test metrics (``test_loss``, ``test_accuracy`` | ``test_mae``), the
  last epoch of training (``final_*``), ``epochs_run``, ``mean_epoch_time``, average power per phase
  (``training_power_w = training_energy_j / training_time``; ``<phase>_energy_note`` says why one is NaN) and
  telemetry means (``*_sampled_power_w`` with ``*_sampled_power_source``).
* ``failed`` -- one row per failed run with ``reason`` (last line of ``error.txt``) and the full ``error``.
* ``skipped`` -- folders that could not be read (an unreadable file, an unrecognised folder name), with why.
* ``history`` -- every epoch of every run (``train.csv`` plus ``run_id``).
* ``samples`` -- every telemetry sample (``*_samples.csv`` plus ``run_id``, ``phase`` and ``elapsed_s``).

Nothing stops on a bad run: it lands in ``skipped`` with its reason.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerpower.errors import LayerpowerError
from layerpower.experiments.config import RUN_KEY_FIELDS, match_run_name, timestamp_format
from layerpower.experiments.precision import normalise_precision
from layerpower.stats.run_dirs import find_run_dirs, relative
from layerpower.stats.study_layout import (
    STUDY_CSV_FILES,
    STUDY_SETTING_KEYS,
    config_from_global,
    metric_of,
    normalise_samples,
    normalise_test,
    phase_power,
    power_sources,
    samples_energy,
)

#: configuration fields every run has, in order
CONFIG_FIELDS: tuple[str, ...] = RUN_KEY_FIELDS
#: keys of config.json that describe the bookkeeping of a run, not its configuration (left out of ``runs``)
BOOKKEEPING_KEYS: frozenset[str] = frozenset(
    {
        "run_name",
        "started_at",
        "schema_version",
        "layerpower_version",
        "python",
        "data_dir",
        "versions",
        "samples",
    }
)

#: quality metrics and their directions, as they appear in ``runs``
QUALITY_DIRECTIONS: dict[str, str] = {
    "test_accuracy": "max",
    "test_mae": "min",
    "final_val_accuracy": "max",
    "final_val_mae": "min",
}


@dataclass
class ResultsFrame:
    """Everything read from a results tree (see the module docstring for the columns)."""

    runs: pd.DataFrame
    failed: pd.DataFrame
    skipped: pd.DataFrame
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    samples: pd.DataFrame = field(default_factory=pd.DataFrame)
    root: Path | None = None

    def __iter__(self):  # ``runs, failed = read_results(root)`` (the two frames most callers want)
        return iter((self.runs, self.failed))

    @property
    def config_columns(self) -> list[str]:
        """The configuration columns present in ``runs`` (the five fields, then other config keys)."""
        return [c for c in self.runs.columns if c in CONFIG_FIELDS] + [
            c
            for c in self.runs.attrs.get("config_keys", [])
            if c in self.runs.columns and c not in CONFIG_FIELDS
        ]

    @property
    def metric_columns(self) -> list[str]:
        """The numeric measured columns of ``runs``."""
        skip = {*self.config_columns, "run_id", "run_dir", "timestamp"}
        return [
            c
            for c in self.runs.columns
            if c not in skip
            and not c.endswith("_source")
            and pd.api.types.is_numeric_dtype(self.runs[c])
            and not pd.api.types.is_bool_dtype(self.runs[c])
            and self.runs[c].notna().any()
        ]

    def summary_line(self) -> str:
        """``"12 runs read, 1 failed, 2 skipped"``."""
        return f"{len(self.runs)} run(s) read, {len(self.failed)} failed, {len(self.skipped)} skipped"


def parse_run_name(name: str) -> dict[str, Any] | None:
    """The fields of a run folder name (``seed`` int, ``timestamp`` Timestamp), or ``None`` if it is not one.

    :func:`layerpower.experiments.config.match_run_name` with the timestamp as a :class:`pandas.Timestamp`.
    """
    fields = match_run_name(name)
    if fields is None:
        return None
    text = fields["timestamp"]
    fields["timestamp"] = pd.to_datetime(text, format=timestamp_format(text), errors="coerce")
    return fields


def read_results(
    root: str | os.PathLike[str],
    *,
    workers: int | None = None,
    samples: bool = True,
    progress: bool = False,
    engine: str = "threads",
) -> ResultsFrame:
    """Read every run under ``root`` (see the module docstring). Raises only when ``root`` is missing.

    ``workers`` threads read runs in parallel (default: up to 8). ``samples=False`` skips the telemetry
    files (faster when only the summary is needed). ``progress`` shows a bar on stderr. ``engine="ray"``
    reads the run folders as Ray tasks instead of threads (very large trees; every node must see ``root``).
    """
    root = Path(root)
    if not root.is_dir():
        raise LayerpowerError(
            f"results folder {root} does not exist", "pass the --out folder of run-experiments"
        )
    candidates, skipped = find_run_dirs(root)
    workers = workers or min(8, (os.cpu_count() or 2) * 2)
    outcomes: list[_Outcome] = []
    if engine not in ("threads", "ray"):
        raise LayerpowerError(f"unknown engine {engine!r}", "choose threads or ray")
    if engine == "ray":  # the cluster extra; Ray is imported only here
        from functools import partial

        from layerpower.cluster.engine import ray_map

        outcomes = ray_map(partial(_read_run, root, with_samples=samples), candidates, progress=progress)
    else:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            iterator: Iterable[_Outcome] = pool.map(lambda p: _read_run(root, p, samples), candidates)
            if progress:
                from tqdm import tqdm

                iterator = tqdm(iterator, total=len(candidates), desc="reading runs", unit="run", leave=False)
            outcomes = list(iterator)
    runs = [o.run for o in outcomes if o.run is not None]
    failed = [o.failed for o in outcomes if o.failed is not None]
    skipped += [o.skipped for o in outcomes if o.skipped is not None]
    config_keys: list[str] = []
    for o in outcomes:
        config_keys += [k for k in o.config_keys if k not in config_keys]
    runs_frame = _runs_frame(runs)
    runs_frame.attrs["config_keys"] = config_keys
    history = _concat([o.history for o in outcomes if o.history is not None])
    sample_frame = _concat([s for o in outcomes for s in o.samples])
    failed_frame = pd.DataFrame(failed, columns=["run_id", "run_dir", *CONFIG_FIELDS, "reason", "error"])
    skipped_frame = pd.DataFrame(skipped, columns=["path", "reason"])
    return ResultsFrame(runs_frame, failed_frame, skipped_frame, history, sample_frame, root)


# -- reading one run ------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    run: dict[str, Any] | None = None
    failed: dict[str, Any] | None = None
    skipped: dict[str, str] | None = None
    history: pd.DataFrame | None = None
    samples: list[pd.DataFrame] = field(default_factory=list)
    config_keys: list[str] = field(default_factory=list)


class _Unreadable(Exception):
    pass


def _read_run(root: Path, path: Path, with_samples: bool) -> _Outcome:
    rel = relative(root, path)
    try:
        return _read_run_unsafe(path, rel, with_samples)
    except _Unreadable as exc:
        return _Outcome(skipped={"path": rel, "reason": str(exc)})
    except Exception as exc:  # a run must never stop the reader: report it
        return _Outcome(skipped={"path": rel, "reason": f"{type(exc).__name__}: {exc}"})


def _read_run_unsafe(path: Path, rel: str, with_samples: bool) -> _Outcome:
    from_name = parse_run_name(path.name) or {}
    config = _read_config(path / "config.json")
    present = [name for name in STUDY_CSV_FILES if (path / name).is_file()]
    global_row: dict[str, Any] = {}
    if "global_metrics.csv" in present:
        global_metrics = _read_csv(path / "global_metrics.csv")
        if global_metrics.empty:
            raise _Unreadable("global_metrics.csv has no rows")
        global_row = {str(k): v for k, v in global_metrics.iloc[-1].items()}
    study = config_from_global(global_row)  # the study's tool keeps the configuration there
    parent = path.parent.name
    info: dict[str, Any] = {
        "run_id": path.name,
        "run_dir": rel,
        "timestamp": from_name.get("timestamp", pd.NaT),
    }
    for key in CONFIG_FIELDS:  # config.json, then global_metrics.csv, then the folder name
        value = next((src[key] for src in (config, study, from_name) if src.get(key) is not None), None)
        if key == "seed" and value is None and re.fullmatch(r"-?\d+", parent):
            value = int(parent)  # the study's older 4-field names: <root>/<seed>/<run>
        info[key] = normalise_precision(value) if key == "precision" and isinstance(value, str) else value
    lacking = [k for k in CONFIG_FIELDS if info[k] is None]
    if lacking:
        raise _Unreadable(
            f"no {', '.join(lacking)}: unrecognised folder name (expected <YYYYmmdd-HHMMSS>_<backend>_<model>_"
            "<complexity>_<precision>_<seed>) and neither config.json nor global_metrics.csv says"
        )
    if isinstance(info["seed"], str) and info["seed"].lstrip("-").isdigit():
        info["seed"] = int(info["seed"])
    if pd.isna(info["timestamp"]) and isinstance(config.get("started_at"), str):
        info["timestamp"] = pd.to_datetime(config["started_at"], errors="coerce")
    extra_keys = [
        k for k, v in config.items() if k not in CONFIG_FIELDS and k not in BOOKKEEPING_KEYS and _is_scalar(v)
    ]
    for key in extra_keys:
        info[key] = config[key]
    for key in (k for k in STUDY_SETTING_KEYS if k in study and k not in info):
        info[key] = study[key]
        extra_keys.append(key)

    error_file = path / "error.txt"
    if error_file.is_file():
        text = _read_text(error_file)
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        failed = {
            **{k: info[k] for k in ("run_id", "run_dir", *CONFIG_FIELDS)},
            "reason": lines[-1] if lines else "(empty error.txt)",
            "error": text,
        }
        return _Outcome(failed=failed)
    if not present:
        raise _Unreadable(f"none of {', '.join(STUDY_CSV_FILES)} and no error.txt")

    row = {**info, **global_row}
    row["missing_files"] = ",".join(name for name in STUDY_CSV_FILES if name not in present)
    for key in [k for k in row if k.endswith("is_estimate")]:
        row[key] = _as_bool(row[key])

    history = None
    if "train.csv" in present:
        history = _read_csv(path / "train.csv")
        if not history.empty:
            last = history.iloc[-1]
            for key, value in last.items():
                if key in ("epoch", "epoch_time"):
                    continue
                row[f"final_{key}"] = value
            row["epochs_run"] = len(history)
            if "epoch_time" in history:
                row["mean_epoch_time"] = float(pd.to_numeric(history["epoch_time"], errors="coerce").mean())
        history.insert(0, "run_id", path.name)
    if "test.csv" in present:
        test = normalise_test(_read_csv(path / "test.csv"), metric_of(history, info["model"]))
        if not test.empty:
            for key, value in test.iloc[-1].items():
                row[f"test_{key}"] = value

    samples: list[pd.DataFrame] = []
    for phase, name in (("training", "train"), ("testing", "test")):
        file = path / f"{name}_samples.csv"
        needed = with_samples or f"{phase}_energy_j" not in row
        frame = normalise_samples(_read_csv(file)) if needed and file.is_file() else pd.DataFrame()
        if frame.empty:
            continue
        if f"{phase}_energy_j" not in row:  # the study's tool: energy from its NVML samples
            found = samples_energy(frame)
            row[f"{phase}_energy_j"] = found.total_j
            row[f"{phase}_energy_method"], row[f"{phase}_energy_note"] = found.method, found.note
            row.setdefault("energy_source", power_sources(frame))
            row.setdefault("energy_is_estimate", bool(frame["is_estimate"].map(_as_bool).any()))
        if not with_samples:
            continue
        _sample_means(frame, name, row)
        frame.insert(0, "phase", name)
        frame.insert(0, "run_id", path.name)
        if "timestamp" in frame:
            stamps = pd.to_numeric(frame["timestamp"], errors="coerce")
            frame["elapsed_s"] = stamps - stamps.min()
        samples.append(frame)
    for phase in ("training", "testing"):
        phase_power(row, phase)
    return _Outcome(run=row, history=history, samples=samples, config_keys=extra_keys)


def _sample_means(frame: pd.DataFrame, phase: str, row: dict[str, Any]) -> None:
    """Mean power (with its source) and utilisation and peak memory of one phase's telemetry, into ``row``."""
    power_cols = [c for c in frame.columns if c == "cpu_power" or re.fullmatch(r"gpu_\d+_power", str(c))]
    if power_cols:
        total = frame[power_cols].apply(pd.to_numeric, errors="coerce").sum(axis=1, min_count=1)
        row[f"{phase}_sampled_power_w"] = float(total.mean())
        row[f"{phase}_sampled_power_source"] = power_sources(frame)
    for kind in ("gpu", "cpu"):  # mean busy % of the GPUs (any index) and of the CPU
        columns = [c for c in frame.columns if re.fullmatch(rf"{kind}(_\d+)?_utilization", str(c))]
        if columns:
            row[f"{phase}_{kind}_utilization"] = float(
                frame[columns].apply(pd.to_numeric, errors="coerce").stack().mean()
            )
    if "memory_used" in frame:
        row[f"{phase}_peak_memory_used"] = float(pd.to_numeric(frame["memory_used"], errors="coerce").max())


def _read_config(file: Path) -> dict[str, Any]:
    if not file.is_file():
        return {}
    try:
        data = json.loads(_read_text(file))
    except json.JSONDecodeError as exc:
        raise _Unreadable(f"config.json is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise _Unreadable("config.json does not hold a JSON object")
    return data


def _read_text(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise _Unreadable(f"{file.name}: {exc.strerror or exc}") from None


def _read_csv(file: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(file)
    except pd.errors.EmptyDataError:
        raise _Unreadable(f"{file.name} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _Unreadable(f"{file.name} is not a readable CSV ({first})") from None
    except OSError as exc:
        raise _Unreadable(f"{file.name}: {exc.strerror or exc}") from None


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _as_bool(value: Any) -> Any:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.number)) and value in (0, 1):
        return bool(value)
    return value


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _runs_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    base = ["run_id", "run_dir", "timestamp", *CONFIG_FIELDS]
    if not rows:
        return pd.DataFrame(columns=base)
    frame = pd.DataFrame(rows)
    ordered = [c for c in base if c in frame.columns] + [c for c in frame.columns if c not in base]
    frame = frame[ordered]
    # numeric columns read as strings in some runs (mixed files) become numbers where every value parses
    for column in frame.columns:
        if column in base or not any(isinstance(v, str) for v in frame[column].dropna()):
            continue
        converted = pd.to_numeric(frame[column], errors="coerce")
        if converted.notna().sum() == frame[column].notna().sum() and frame[column].notna().any():
            frame[column] = converted
    return frame.sort_values(["timestamp", "run_id"], na_position="last", kind="stable").reset_index(
        drop=True
    )
