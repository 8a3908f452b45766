"""``run-experiments --ray``: every run is one Ray task; the driver writes its folder.

A task runs :func:`layerpower.experiments.runner.run_single` (the same subprocess the local path starts)
into a temporary folder on its node and returns the run folder's files; the driver writes them into
``<out>/<seed>/<run name>/`` through a hidden partial folder renamed into place, so a run folder is
always complete and nodes need not share a filesystem. A failed run keeps its ``config.json`` +
``error.txt`` layout; a task whose node died, after its retries, is written the same way.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from layerpower.cluster.engine import DEFAULT_RETRIES, TaskResult, node_facts, run_tasks
from layerpower.errors import LayerpowerError
from layerpower.experiments.config import RunConfig, SweepSpec
from layerpower.experiments.run_one import config_document
from layerpower.experiments.rundir import (
    DONE,
    FAILED,
    SKIPPED,
    find_runs,
    partial_dir,
    run_status,
    write_failure,
)
from layerpower.experiments.runner import RESULT_COLUMNS, _error_line, _row, plan_sweep, run_single
from layerpower.io import atomic_open


def _experiment_task(job: dict[str, Any]) -> dict[str, Any]:
    """One run on this node, in a temporary folder; returns its folder name, files (bytes) and node."""
    config = RunConfig.from_dict(job["config"])
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="layerpower-ray-run-") as tmp:
        run_dir = run_single(config, Path(tmp), timeout_s=job["timeout_s"], python=sys.executable)
        files = {
            str(path.relative_to(run_dir)): path.read_bytes()
            for path in sorted(run_dir.rglob("*"))
            if path.is_file()
        }
    return {
        "run_name": run_dir.name,
        "files": files,
        "seconds": time.perf_counter() - started,
        "node": node_facts(),
    }


def install_run(
    out: Path, seed: int, run_name: str, files: dict[str, bytes], replaceable: Sequence[Path] = ()
) -> Path:
    """Write a run's files into ``out/<seed>/<run_name>/`` atomically (a partial folder renamed into place).

    A folder already there is replaced only when it is in ``replaceable`` (a superseded failed attempt).
    """
    run_dir = Path(out) / str(seed) / run_name
    if run_dir.exists() and run_dir not in replaceable:
        raise LayerpowerError(f"{run_dir} already exists: the same run started twice within one second")
    staging = partial_dir(run_dir)
    shutil.rmtree(staging, ignore_errors=True)
    for name, content in files.items():
        with atomic_open(staging / name, "wb") as handle:
            handle.write(content)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    os.replace(staging, run_dir)
    return run_dir


def run_sweep_ray(
    spec: SweepSpec,
    *,
    out: str | os.PathLike[str] = "results",
    resume: bool = False,
    timeout_s: float | None = None,
    progress: bool = True,
    cpus: int | None = None,
    gpus: int | None = None,
    retries: int = DEFAULT_RETRIES,
) -> pd.DataFrame:
    """:func:`~layerpower.experiments.runner.run_sweep` with one Ray task per run (same rows, same tree).

    Ray must be connected (:func:`layerpower.cluster.connect`). A run asks for ``gpus`` GPUs (default: 1
    when the cluster has GPUs, else 0) and ``cpus`` CPUs (default: 1 with a GPU, else all of the largest
    node's, so two runs never share a machine's power sensor). ``frame.attrs["nodes"]`` maps each run
    folder name to the node that ran it.
    """
    from layerpower.cluster.engine import cluster_gpus, largest_node_cpus

    configs = plan_sweep(spec)
    if timeout_s is not None and timeout_s <= 0:
        raise LayerpowerError(f"timeout must be positive, got {timeout_s}")
    out_path = Path(out)
    gpus = (1 if cluster_gpus() > 0 else 0) if gpus is None else gpus
    num_cpus = cpus or (1 if gpus else largest_node_cpus())
    rows: dict[int, dict[str, object]] = {}
    previous: dict[int, list[Path]] = {}
    jobs = []
    for i, config in enumerate(configs):
        found = find_runs(out_path, config) if resume else []
        finished = [path for path, status in found if status == DONE]
        if finished:
            rows[i] = _row(config, SKIPPED, 0.0, finished[-1], "")
            continue
        previous[i] = [path for path, _ in found]
        jobs.append({"index": i, "config": config.to_dict(), "timeout_s": timeout_s})
    nodes: dict[str, dict[str, Any]] = {}

    def on_result(result: TaskResult) -> None:
        i = result.item["index"]
        config = configs[i]
        if result.ok:
            value = result.value
            run_dir = install_run(
                out_path, config.seed, value["run_name"], value["files"], previous.get(i, [])
            )
            nodes[run_dir.name] = value["node"]
            seconds = float(value["seconds"])
        else:
            run_dir = _write_lost(out_path, config, retries, result.error)
            seconds = 0.0
        for path in previous.get(i, []):  # failed attempts of the same run, superseded by this one
            if path != run_dir:
                shutil.rmtree(path, ignore_errors=True)
        status = run_status(run_dir) or FAILED
        rows[i] = _row(config, status, seconds, run_dir, _error_line(run_dir))

    run_tasks(
        _experiment_task,
        jobs,
        num_cpus=num_cpus,
        num_gpus=gpus,
        retries=retries,
        progress=progress,
        desc="runs",
        on_result=on_result,
    )
    frame = pd.DataFrame([rows[i] for i in sorted(rows)], columns=list(RESULT_COLUMNS))
    frame.attrs["nodes"] = nodes
    return frame


def _write_lost(out: Path, config: RunConfig, retries: int, error: str) -> Path:
    """A run whose task never came back (its node died, or the task itself raised): config + error.txt."""
    when = datetime.now()
    run_dir = config.run_dir(out, when)
    while run_dir.exists():
        time.sleep(0.25)
        when = datetime.now()
        run_dir = config.run_dir(out, when)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    message = f"the run's Ray task failed after {retries} retries: {error}"
    return write_failure(run_dir, config_document(config, run_dir.name, when), message)
