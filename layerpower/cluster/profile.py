"""``profile-model --ray``: every model x (batch size, dtype) is one Ray task; the driver writes the files.

A task runs on whichever node Ray gives it, measures with the same code the local path runs
(:class:`~layerpower.profiling.profiler.LayerProfiler` and :func:`layerpower.profiling.sweep._profile_one`)
and returns the rows instead of writing them: nodes need not share a filesystem with the driver. The
driver writes them with :meth:`ModelFolder.write_config` (atomic, the same layout as a local run) into
``<out>/<device-id of the measuring node>/<model>/``, so two GPU models land in two folders, never mixed.
Each configuration's ``meta.json`` entry names the node (hostname, Ray node id) it was measured on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerpower.cluster.engine import DEFAULT_RETRIES, TaskResult, node_facts, run_tasks
from layerpower.errors import LayerpowerError
from layerpower.profiling.settings import ProfileSettings
from layerpower.profiling.sweep import ModelOutcome, ProfileReport, _profile_one, plan_configs
from layerpower.profiling.writer import ModelFolder, check_output_root, config_key, model_folder_name


@dataclass
class _Captured:
    """A stand-in for :class:`ModelFolder` inside a task: keeps each ``write_config`` call's arguments."""

    path: Path
    node: dict[str, Any]
    writes: list[tuple[Any, ...]] = field(default_factory=list)

    def is_complete(self, *args: Any, **kwargs: Any) -> bool:
        return False  # resume is decided before the task measures (see _profile_task)

    def write_config(
        self, batch_size: int, dtype: str, layer_rows: Any, model_row: Any, meta: Any, info: Any
    ):
        self.writes.append((batch_size, dtype, layer_rows, model_row, meta, {**info, "node": self.node}))


def _profile_task(job: dict[str, Any]) -> dict[str, Any]:
    """One model at one configuration on this node; returns the outcome, the device and the rows."""
    from layerpower.hardware import device_id
    from layerpower.models.zoo import resolve_model
    from layerpower.profiling.profiler import LayerProfiler

    node = node_facts()
    # Ray shows a task only the GPU it granted, as cuda:0
    device = "cuda:0" if str(job["device"]).startswith("cuda") else str(job["device"])
    name, batch_size, dtype = job["model"], job["batch_size"], job["dtype"]
    base = {"node": node, "device_id": "", "power_source": "", "is_estimate": False, "writes": []}
    try:
        dev_id = device_id(device)
        entry = resolve_model(name)
        done = job["complete"].get(dev_id, {}).get(model_folder_name(entry.name), ())
        if config_key(batch_size, dtype) in done:
            return {**base, "device_id": dev_id, "outcome": ModelOutcome(entry.name, "skipped")}
        with LayerProfiler(
            device, job["power_source"], tdp_w=job["tdp_w"], settings=job["settings"], threads=job["threads"]
        ) as profiler:
            meta_common = {**profiler.describe(), "node": node}
            captured: list[_Captured] = []

            def folder_at(root: Path, dev: str, model: str) -> _Captured:
                captured.append(_Captured(Path(dev) / model_folder_name(model), node))
                return captured[-1]

            outcome = _profile_one(
                profiler, name, [(batch_size, dtype)], Path("."), meta_common, False, folder_at
            )
            return {
                **base,
                "device_id": profiler.device_id,
                "power_source": profiler.source_name,
                "is_estimate": profiler.is_estimate,
                "outcome": outcome,
                "writes": [w for c in captured for w in c.writes],
            }
    except LayerpowerError as exc:  # a bad name, device or power source: the same on every retry
        return {**base, "outcome": ModelOutcome(name, "failed", error=str(exc))}


def complete_configs(root: Path, kinds: Sequence[str]) -> dict[str, dict[str, list[str]]]:
    """device id -> model folder -> the configuration keys complete on disk (for ``--resume``)."""
    found: dict[str, dict[str, list[str]]] = {}
    if not root.is_dir():
        return found
    for device_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for model_dir in sorted(p for p in device_dir.iterdir() if p.is_dir()):
            folder = ModelFolder(model_dir)
            keys = [
                key
                for key, entry in folder.completed().items()
                if folder.is_complete(entry.get("batch_size", 0), entry.get("dtype", ""), kinds)
            ]
            if keys:
                found.setdefault(device_dir.name, {})[model_dir.name] = keys
    return found


def profile_models_ray(
    models: Sequence[str],
    batch_sizes: Sequence[int] = (1,),
    dtypes: Sequence[str] = ("float32",),
    *,
    device: str = "cpu",
    out: str | Path = "training_data",
    power_source: str | None = None,
    tdp_w: float | None = None,
    settings: ProfileSettings | None = None,
    resume: bool = False,
    progress: bool = False,
    threads: int | None = None,
    on_outcome: Callable[[ModelOutcome], None] | None = None,
    cpus: int | None = None,
    retries: int = DEFAULT_RETRIES,
) -> ProfileReport:
    """:func:`~layerpower.profiling.sweep.profile_models` with one Ray task per model x configuration.

    Ray must be connected (:func:`layerpower.cluster.connect`). On CUDA a task asks for one GPU (and
    ``cpus`` or 1 CPU); on CPU for ``cpus`` CPUs, by default all of the largest node's, so two measurements
    never share a machine. ``on_outcome`` is called once per model, when its last configuration is back.
    """
    from layerpower.cluster.engine import largest_node_cpus

    root = check_output_root(out)
    configs = plan_configs(batch_sizes, dtypes)
    settings = settings or ProfileSettings()
    complete = complete_configs(root, settings.kinds) if resume else {}
    jobs = [
        {
            "model": name,
            "batch_size": b,
            "dtype": d,
            "device": device,
            "power_source": power_source,
            "tdp_w": tdp_w,
            "settings": settings,
            "threads": threads,
            "complete": complete,
        }
        for name in models
        for b, d in configs
    ]
    gpu = str(device).startswith("cuda")
    num_cpus = cpus or (1 if gpu else largest_node_cpus())
    merged: dict[str, ModelOutcome] = {}
    left = {name: len(configs) for name in models}
    devices: dict[str, tuple[str, bool]] = {}
    started = time.perf_counter()

    def on_result(result: TaskResult) -> None:
        name = result.item["model"]
        outcome = _write(root, result, devices)
        total = merged.setdefault(name, ModelOutcome(model=outcome.model, status="skipped"))
        _merge(total, outcome)
        left[name] -= 1
        if left[name] == 0:
            total.duration_s = time.perf_counter() - started
            if on_outcome is not None:
                on_outcome(total)

    run_tasks(
        _profile_task,
        jobs,
        num_cpus=num_cpus,
        num_gpus=1 if gpu else 0,
        retries=retries,
        progress=progress,
        desc="profiling",
        on_result=on_result,
    )
    ids = sorted(devices) or ["(none)"]
    sources = sorted({source for source, _ in devices.values()}) or ["(none)"]
    estimate = any(est for _, est in devices.values())
    outcomes = [merged[name] for name in models if name in merged]
    return ProfileReport(outcomes, ", ".join(ids), ", ".join(sources), estimate, root)


def _write(root: Path, result: TaskResult, devices: dict[str, tuple[str, bool]]) -> ModelOutcome:
    """Write one task's configuration on the driver; the task's outcome with the driver's folder."""
    if not result.ok:
        return ModelOutcome(result.item["model"], "failed", error=result.error)
    value = result.value
    outcome: ModelOutcome = value["outcome"]
    if value["device_id"]:
        outcome.folder = ModelFolder.at(root, value["device_id"], outcome.model).path
    if value["power_source"]:
        devices[value["device_id"]] = (value["power_source"], bool(value["is_estimate"]))
    for batch_size, dtype, layer_rows, model_row, meta, info in value["writes"]:
        ModelFolder.at(root, value["device_id"], outcome.model).write_config(
            batch_size, dtype, layer_rows, model_row, meta, info
        )
    return outcome


_RANK = {"skipped": 0, "done": 1, "failed": 2}


def _merge(total: ModelOutcome, part: ModelOutcome) -> None:
    """Fold one configuration's outcome into its model's: failed beats done beats skipped."""
    if _RANK[part.status] > _RANK[total.status]:
        total.status = part.status
    total.model = part.model or total.model
    total.folder = part.folder or total.folder
    total.configs += part.configs
    total.rows += part.rows
    total.warnings += part.warnings
    if part.error:
        total.error = "; ".join(e for e in (total.error, part.error) if e)
