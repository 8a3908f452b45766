"""The sweep: every backend x model x complexity x precision x seed, one subprocess per run.

:func:`run_experiments` plans the runs, skips finished ones with ``resume``, starts
``python -m layerpower.experiments.run_one`` for each (in its own process group, killed on timeout or
interrupt) and returns one row per run with its status. A run that fails, crashes or times out leaves a
folder with ``config.json`` and ``error.txt`` and never stops the sweep.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from layerpower.errors import LayerpowerError
from layerpower.experiments.config import SWEEP_AXES, RunConfig, RunSettings, SweepSpec
from layerpower.experiments.data import resolve_dataset
from layerpower.experiments.run_one import config_document
from layerpower.experiments.rundir import (
    DONE,
    ERROR_FILE,
    FAILED,
    SKIPPED,
    find_runs,
    partial_dir,
    run_status,
    write_failure,
)

#: columns of the DataFrame :func:`run_experiments` returns
RESULT_COLUMNS: tuple[str, ...] = (
    "backend",
    "model",
    "complexity",
    "precision",
    "seed",
    "status",
    "wall_time_s",
    "run_dir",
    "error",
)

#: environment for every run: quiet TensorFlow, no up-front grab of all accelerator memory (so memory
#: figures show what a run uses)
CHILD_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
    "TF_FORCE_GPU_ALLOW_GROWTH": "true",
    "PYTHONUNBUFFERED": "1",
}
_STDERR_TAIL = 6000


def plan_sweep(spec: SweepSpec) -> list[RunConfig]:
    """Every run of ``spec``, seed-major (all runs of the first seed come first). Validates all names."""
    for kind in SWEEP_AXES:
        if not getattr(spec, kind):
            raise LayerpowerError(f"no {kind} given")
    from layerpower.profiling.power import SOURCE_NAMES

    settings = spec.settings
    power_source = settings.power_source or "auto"
    if power_source not in ("auto", *SOURCE_NAMES):
        raise LayerpowerError(
            f"unknown power source {power_source!r}", f"choose auto, {', '.join(SOURCE_NAMES)}"
        )
    if not settings.sample_interval_s > 0:
        raise LayerpowerError(f"sampling interval must be positive, got {settings.sample_interval_s}")
    data_dir = None if settings.data_dir is None else str(Path(settings.data_dir).resolve())
    configs = []
    for seed, backend, model, complexity, precision in itertools.product(
        spec.seeds,
        _unique(spec.backends),
        _unique(spec.models),
        _unique(spec.complexities),
        _unique(spec.precisions),
    ):
        run_settings = dataclasses.replace(
            settings,
            dataset=resolve_dataset(model, settings.dataset, data_dir),
            data_dir=data_dir if model != "lstm" else None,
            power_source=power_source,
        )
        configs.append(
            RunConfig.from_settings(
                run_settings,
                backend=backend,
                model=model,
                complexity=complexity,
                precision=precision,
                seed=int(seed),
            )
        )
    return list(dict.fromkeys(configs))  # aliases (mixed_fp16 / mixed-fp16) collapse to one run


def plan_runs(*axes: Sequence[Any], **settings: Any) -> list[RunConfig]:
    """:func:`plan_sweep` of ``SweepSpec(*axes, settings=RunSettings(**settings))``.

    The axes are backends, models, complexities, precisions and seeds, positionally or by name (see
    :class:`SweepSpec` for their defaults); ``settings`` are the keyword fields of :class:`RunSettings`.
    """
    return plan_sweep(SweepSpec.build(*axes, **settings))


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values if v.strip()))


def run_experiments(*axes: Sequence[Any], **fields: Any) -> pd.DataFrame:
    """Run ``SweepSpec(*axes, settings=RunSettings(**settings))`` with :func:`run_sweep`.

    The axes are backends, models, complexities, precisions and seeds, positionally or by name (see
    :class:`SweepSpec` for their defaults); ``fields`` are the keyword options of :func:`run_sweep` (``out``,
    ``resume``, ``timeout_s``, ``progress``, ``python``) and the fields of :class:`RunSettings` (``epochs``,
    ``batch_size``, ...).
    """
    options = {name: fields.pop(name) for name in _sweep_options() if name in fields}
    return run_sweep(SweepSpec.build(*axes, **fields), **options)


def _sweep_options() -> list[str]:
    """The keyword options of :func:`run_sweep` (all its parameters but the spec)."""
    return [name for name in inspect.signature(run_sweep).parameters if name != "spec"]


def run_sweep(
    spec: SweepSpec,
    *,
    out: str | os.PathLike[str] = "results",
    resume: bool = False,
    timeout_s: float | None = None,
    progress: bool = True,
    python: str = sys.executable,
) -> pd.DataFrame:
    """Run the sweep and return one row per run (:data:`RESULT_COLUMNS`; status done, failed or skipped).

    ``resume`` skips runs whose config already has a finished folder under ``out``; a failed run is retried
    and its old failed folder removed. ``timeout_s`` bounds each run (seconds). ``spec.settings.limit`` caps
    the training samples (quick checks). Progress goes to stderr.
    """
    configs = plan_sweep(spec)
    if timeout_s is not None and timeout_s <= 0:
        raise LayerpowerError(f"timeout must be positive, got {timeout_s}")
    out_path = Path(out)
    rows = []
    bar = tqdm(configs, unit="run", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    for config in bar:
        bar.set_postfix_str(config.stem, refresh=True)
        previous = find_runs(out_path, config) if resume else []
        finished = [path for path, status in previous if status == DONE]
        if finished:
            rows.append(_row(config, SKIPPED, 0.0, finished[-1], ""))
            continue
        start = time.perf_counter()
        run_dir = run_single(config, out_path, timeout_s=timeout_s, python=python)
        status = run_status(run_dir) or FAILED
        for path, _ in previous:  # failed attempts of the same run, superseded by this one
            shutil.rmtree(path, ignore_errors=True)
        rows.append(_row(config, status, time.perf_counter() - start, run_dir, _error_line(run_dir)))
    bar.close()
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def run_single(
    config: RunConfig, out: Path, *, timeout_s: float | None = None, python: str = sys.executable
) -> Path:
    """Run ``config`` in a fresh subprocess; return its run folder (finished, or failed with error.txt)."""
    when = datetime.now()
    run_dir = config.run_dir(out, when)
    while run_dir.exists() or partial_dir(run_dir).exists():  # same config started within the same second
        time.sleep(0.25)
        when = datetime.now()
        run_dir = config.run_dir(out, when)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **CHILD_ENV}
    env.pop("KERAS_BACKEND", None)
    with tempfile.TemporaryDirectory(prefix="layerpower-run-") as tmp:
        config_path = Path(tmp) / "config.json"
        config_path.write_text(json.dumps(config.to_dict()), encoding="utf-8")
        log_path = Path(tmp) / "output.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [python, "-m", "layerpower.experiments.run_one", str(config_path), str(run_dir)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group: a timeout kills it and its helpers
            )
            try:
                rc = proc.wait(timeout=timeout_s)
                reason = None if rc in (0, 1) else f"the run's process exited with status {rc}"
            except subprocess.TimeoutExpired:
                _kill(proc)
                reason = f"the run exceeded the timeout of {timeout_s:g} s and was killed"
            except BaseException:  # interrupted: stop the run and leave nothing behind
                _kill(proc)
                shutil.rmtree(partial_dir(run_dir), ignore_errors=True)
                raise
        if reason is not None or run_status(run_dir) is None:
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-_STDERR_TAIL:]
            message = (
                f"{reason or 'the run ended without writing its results'}\n\n--- output (tail) ---\n{tail}"
            )
            write_failure(run_dir, config_document(config, run_dir.name, when), message)
    return run_dir


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _row(config: RunConfig, status: str, seconds: float, run_dir: Path, error: str) -> dict[str, object]:
    return {
        "backend": config.backend,
        "model": config.model,
        "complexity": config.complexity,
        "precision": config.precision,
        "seed": config.seed,
        "status": status,
        "wall_time_s": seconds,
        "run_dir": str(run_dir),
        "error": error,
    }


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b(:|$)")


def _error_line(run_dir: Path) -> str:
    """What a failed run's error.txt says in one line: the last exception line of the traceback, or the
    first line of a crash or timeout report; ``""`` when there is no error.txt."""
    path = run_dir / ERROR_FILE
    if not path.is_file():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace")
    marker = text.find("--- output (tail) ---")
    if marker > 0:  # a crash or timeout: the first line says what happened
        return text[:marker].strip().splitlines()[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    exceptions = [line for line in lines if _EXCEPTION_LINE.match(line)]
    return (exceptions or lines or [""])[-1]


__all__ = [
    "DONE",
    "FAILED",
    "RESULT_COLUMNS",
    "SKIPPED",
    "RunSettings",
    "SweepSpec",
    "plan_runs",
    "plan_sweep",
    "run_experiments",
    "run_single",
    "run_sweep",
]
