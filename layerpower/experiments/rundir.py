"""Run folders: where a run writes, how it is finished or failed, how a finished run is found again.

A run is written into a hidden sibling ``.<name>.partial/`` and renamed to ``<name>/`` only when every file
is written, so a run folder is always complete. A failed run's folder holds exactly ``config.json`` and
``error.txt`` (the traceback, or what the runner saw when the process died or timed out); anything the
run had written is removed. A run folder is *finished* when it holds ``global_metrics.csv``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from layerpower.experiments.config import RunConfig, parse_run_name
from layerpower.io import write_json_atomic

CONFIG_FILE = "config.json"
ERROR_FILE = "error.txt"
FINISHED_MARKER = "global_metrics.csv"
RUN_FILES: tuple[str, ...] = (
    "train.csv",
    "test.csv",
    "train_samples.csv",
    "test_samples.csv",
    "global_metrics.csv",
    "config.json",
)

DONE = "done"
FAILED = "failed"
SKIPPED = "skipped"


def partial_dir(run_dir: Path) -> Path:
    """The hidden folder a run writes into before it is renamed to ``run_dir``."""
    return run_dir.parent / f".{run_dir.name}.partial"


def write_failure(run_dir: Path, config_doc: dict[str, Any], message: str) -> Path:
    """Leave ``run_dir`` holding only ``config.json`` and ``error.txt`` (``message``); drop partial files."""
    shutil.rmtree(partial_dir(run_dir), ignore_errors=True)
    staging = run_dir.parent / f".{run_dir.name}.failed"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    write_json_atomic(config_doc, staging / CONFIG_FILE)
    (staging / ERROR_FILE).write_text(message if message.endswith("\n") else message + "\n", encoding="utf-8")
    if run_dir.exists():
        shutil.rmtree(run_dir)
    os.replace(staging, run_dir)
    return run_dir


def run_status(run_dir: Path) -> str | None:
    """``done`` (global_metrics.csv present), ``failed`` (error.txt present) or ``None`` (not a run)."""
    if (run_dir / FINISHED_MARKER).is_file():
        return DONE
    if (run_dir / ERROR_FILE).is_file():
        return FAILED
    return None


def read_config(run_dir: Path) -> RunConfig | None:
    """The :class:`RunConfig` stored in ``run_dir/config.json`` (``None`` when missing or unreadable)."""
    try:
        data = json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
        return RunConfig.from_dict(data)
    except Exception:  # a missing, truncated or foreign config.json is "not this run"
        return None


def find_runs(out: Path, config: RunConfig) -> list[tuple[Path, str]]:
    """Existing folders of runs with exactly ``config`` under ``out``, with their status, oldest first."""
    seed_dir = Path(out) / str(config.seed)
    if not seed_dir.is_dir():
        return []
    found = []
    # any spelling of the precision (older folders say mixed-fp16); config.json decides
    pattern = f"*_{config.backend}_{config.model}_{config.complexity}_*_{config.seed}"
    for path in sorted(seed_dir.glob(pattern)):
        if not path.is_dir() or path.name.startswith("."):
            continue
        try:
            parse_run_name(path.name)
        except Exception:
            continue
        status = run_status(path)
        if status is not None and read_config(path) == config:
            found.append((path, status))
    return found
