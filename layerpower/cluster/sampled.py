"""``profile-layers --ray``: every chunk of sampled layers is one Ray task; the driver writes ``_sampled/``.

A task gets no torch objects: it rebuilds its chunk's specs from the draw's recipe (seed, n, kinds, batch
sizes, dtype and the parsed space, plain data whose sha256 it checks), measures them with
:func:`~layerpower.profiling.sampled.measure.profile_chunk`, the code the local path runs, and returns the
rows with the node's facts. The driver writes each finished chunk with
:class:`~layerpower.profiling.sampled.store.SampledFolder` (atomic, the local layout) into
``<out>/<device-id of the measuring node>/_sampled/``; the chunk's ``meta.json`` entry names its node.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from layerpower.cluster.engine import DEFAULT_RETRIES, TaskResult, node_facts, run_tasks
from layerpower.config.vocab import LAYER_KINDS
from layerpower.errors import LayerpowerError
from layerpower.profiling.sampled.run import SampledReport, chunk_info, plan_sampled
from layerpower.profiling.sampled.space import LayerSpace, load_space
from layerpower.profiling.sampled.store import IDENTITY_KEYS, SampledFolder
from layerpower.profiling.settings import ProfileSettings


def _chunk_task(job: dict[str, Any]) -> dict[str, Any]:
    """Rebuild one chunk's specs on this node, measure them alone and return the rows, device and node."""
    from layerpower.profiling.sampled.measure import SampledSession, profile_chunk

    node = node_facts()
    # Ray shows a task only the GPU it granted, as cuda:0
    device = "cuda:0" if str(job["device"]).startswith("cuda") else str(job["device"])
    plan = plan_sampled(job["n"], space=job["space"], settings=job["settings"], **job["recipe"])
    if plan.identity["space_sha256"] != job["space_sha256"]:
        raise LayerpowerError("the layer space reached this node changed on the way (sha256 differs)")
    chunk = plan.chunks[job["index"]]
    if [s.name for s in chunk] != job["names"]:
        raise LayerpowerError(f"chunk {job['index']} drawn on this node differs from the driver's")
    with SampledSession(device, job["power_source"], tdp_w=job["tdp_w"], settings=plan.settings) as session:
        value: dict[str, Any] = {
            "node": node,
            "device_id": session.device_id,
            "power_source": session.source_name,
            "is_estimate": session.is_estimate,
            "meta": {**session.describe(), "window_s": session.window_s},
            "rows": None,
        }
        if job["index"] in job["done"].get(session.device_id, {}).get(session.source_name, ()):
            return value  # finished on disk already (--resume)
        started = time.perf_counter()
        rows = profile_chunk(chunk, session=session)
    return {**value, "rows": rows, "info": {**chunk_info(chunk, rows, started), "node": node}}


def done_chunks_on_disk(root: Path, dtype: str, identity: dict[str, Any]) -> dict[str, dict[str, list[int]]]:
    """device id -> power source -> the finished chunks of a matching ``dtype`` set (for ``--resume``)."""
    found: dict[str, dict[str, list[int]]] = {}
    if not root.is_dir():
        return found
    keys = [k for k in IDENTITY_KEYS if k != "power_source"]
    for device_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        folder = SampledFolder.at(root, device_dir.name)
        entry = folder.set_of(dtype)
        if entry is None or any(entry.get(k) != identity.get(k) for k in keys):
            continue
        chunks = entry.get("chunks")
        if isinstance(chunks, dict):
            found.setdefault(device_dir.name, {})[str(entry.get("power_source"))] = sorted(
                int(k) for k in chunks
            )
    return found


def profile_layers_ray(
    n: int,
    *,
    seed: int = 0,
    kinds: Sequence[str] | None = None,
    batch_sizes: Sequence[int] = (1, 8),
    dtype: str = "float32",
    device: str = "cpu",
    out: str | Path = "training_data",
    resume: bool = False,
    power_source: str | None = None,
    tdp_w: float | None = None,
    settings: ProfileSettings | None = None,
    progress: bool | Callable[[int, int], None] = False,
    chunk_size: int = 25,
    space: LayerSpace | str | Path | None = None,
    cpus: int | None = None,
    retries: int = DEFAULT_RETRIES,
) -> SampledReport:
    """:func:`~layerpower.profiling.sampled.run.profile_layers` with one Ray task per chunk.

    Ray must be connected (:func:`layerpower.cluster.connect`). On CUDA a task asks for one GPU (and
    ``cpus`` or 1 CPU); on CPU for ``cpus`` CPUs, by default all of the largest node's, so two measurements
    never share a machine. A chunk that fails after ``retries`` retries is counted in ``chunks_failed`` with
    its error in ``errors``; the others are written. ``progress(done, total)`` counts specs per chunk.
    """
    from layerpower.cluster.engine import largest_node_cpus
    from layerpower.profiling.writer import check_output_root

    started = time.perf_counter()
    root = check_output_root(out)
    space = space if isinstance(space, LayerSpace) else load_space(space)
    plan = plan_sampled(
        n,
        seed=seed,
        kinds=kinds,
        batch_sizes=batch_sizes,
        dtype=dtype,
        space=space,
        chunk_size=chunk_size,
        settings=settings,
    )
    recipe = {"seed": seed, "kinds": kinds, "batch_sizes": list(batch_sizes), "dtype": plan.dtype}
    recipe["chunk_size"] = chunk_size
    done = done_chunks_on_disk(root, plan.dtype, plan.identity) if resume else {}
    jobs = [
        {
            "index": index,
            "names": [s.name for s in chunk],
            "n": n,
            "recipe": recipe,
            "space": space,
            "space_sha256": space.sha256,
            "settings": plan.settings,
            "device": device,
            "power_source": power_source,
            "tdp_w": tdp_w,
            "done": done,
        }
        for index, chunk in enumerate(plan.chunks)
    ]
    report = SampledReport(
        device_id="",
        folder=root,
        rows=dict.fromkeys(LAYER_KINDS, 0),
        chunks_total=len(plan.chunks),
        rejected=plan.sample.rejected,
    )
    folders: dict[str, SampledFolder] = {}
    total = len(plan.sample.specs)
    finished = 0

    def folder_for(value: dict[str, Any]) -> SampledFolder:
        """The measuring device's folder, its set checked (resume) or started the first time it reports."""
        dev = value["device_id"]
        if dev not in folders:
            folder = SampledFolder.at(root, dev)
            identity = {**plan.identity, "power_source": value["power_source"]}
            if resume:
                folder.done_chunks(plan.dtype, identity)  # another set there: the local path's error
            if not resume or folder.set_of(plan.dtype) is None:
                folder.start_set(plan.dtype, identity, plan.facts, value["meta"])
            folders[dev] = folder
        return folders[dev]

    def on_result(result: TaskResult) -> None:
        nonlocal finished
        index = result.item["index"]
        if not result.ok:
            report.chunks_failed += 1
            report.errors.append(f"chunk {index}: {result.error}")
        else:
            value = result.value
            folder = folder_for(value)
            report.device_id = ", ".join(sorted({*report.device_id.split(", "), value["device_id"]} - {""}))
            report.power_source, report.is_estimate = value["power_source"], value["is_estimate"]
            report.folder = folder.path if len(folders) == 1 else root
            if value["rows"] is None:
                report.chunks_skipped += 1
            else:
                folder.write_chunk(
                    plan.dtype, index, result.item["names"], value["rows"], value["info"], value["meta"]
                )
                report.chunks_done += 1
                for kind, kind_rows in value["rows"].items():
                    report.rows[kind] += len(kind_rows)
        finished += len(result.item["names"])
        if callable(progress):
            progress(finished, total)

    gpu = str(device).startswith("cuda")
    try:
        run_tasks(
            _chunk_task,
            jobs,
            num_cpus=cpus or (1 if gpu else largest_node_cpus()),
            num_gpus=1 if gpu else 0,
            retries=retries,
            progress=progress is True,
            desc=f"sampled chunks ({plan.dtype})",
            on_result=on_result,
        )
    finally:
        report.duration_s = time.perf_counter() - started
    return report
