"""``profile_layers``: draw ``n`` layers from the space, measure them alone in chunks, write ``_sampled/``.

The specs are cut into chunks of ``chunk_size``; each chunk (idle power, then every spec alone) is written
as soon as it is done (:mod:`~layerpower.profiling.sampled.store`), so Ctrl-C keeps every finished chunk and
``resume=True`` measures only the chunks not yet on disk (the same seed, n, kinds, batch sizes, dtype and
space give the same specs).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from layerpower.config.vocab import LAYER_KINDS
from layerpower.errors import LayerpowerError
from layerpower.profiling.sampled.space import LayerSpace, load_space
from layerpower.profiling.settings import ProfileSettings


@dataclass
class SampledReport:
    """What a :func:`profile_layers` run did (``duration_s`` in seconds; ``rows`` measured now, per kind)."""

    device_id: str
    folder: Path
    rows: dict[str, int] = field(default_factory=dict)
    chunks_done: int = 0
    chunks_skipped: int = 0
    chunks_total: int = 0
    chunks_failed: int = 0
    errors: list[str] = field(default_factory=list)
    rejected: int = 0
    duration_s: float = 0.0
    power_source: str = ""
    is_estimate: bool = False


def profile_layers(
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
) -> SampledReport:
    """Sample ``n`` layers, profile each alone on ``device`` and write ``out/<device-id>/_sampled/``.

    ``progress`` is a bool (a bar over specs on stderr) or a callback ``progress(done, total)`` over specs.
    ``space`` is a :class:`LayerSpace`, the path of a space file, or None for the packaged space.
    """
    from layerpower.profiling.progress import progress_bar
    from layerpower.profiling.sampled.measure import SampledSession, profile_chunk
    from layerpower.profiling.sampled.store import SampledFolder
    from layerpower.profiling.writer import check_output_root

    started = time.perf_counter()
    check_output_root(out)
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
    dtype, sample, chunks, settings = plan.dtype, plan.sample, plan.chunks, plan.settings
    specs = sample.specs

    with SampledSession(device, power_source, tdp_w=tdp_w, settings=settings) as session:
        folder = SampledFolder.at(out, session.device_id)
        identity = {**plan.identity, "power_source": session.source_name}
        facts = plan.facts
        meta = {**session.describe(), "window_s": session.window_s}
        done = folder.done_chunks(dtype, identity) if resume else set()
        if not resume or folder.set_of(dtype) is None:
            folder.start_set(dtype, identity, facts, meta)
        report = SampledReport(
            device_id=session.device_id,
            folder=folder.path,
            rows=dict.fromkeys(LAYER_KINDS, 0),
            chunks_total=len(chunks),
            rejected=sample.rejected,
            power_source=session.source_name,
            is_estimate=session.is_estimate,
        )
        callback = progress if callable(progress) else None
        bar = progress_bar(progress is True, f"sampled layers ({dtype})", len(specs), unit="layer")
        finished = sum(len(c) for i, c in enumerate(chunks) if i in done)
        bar.update(finished)

        def advance(count: int) -> None:
            nonlocal finished
            finished += count
            bar.update(count)
            if callback is not None:
                callback(finished, len(specs))

        try:
            for index, chunk in enumerate(chunks):
                if index in done:
                    report.chunks_skipped += 1
                    continue
                chunk_started = time.perf_counter()
                rows = profile_chunk(chunk, session=session, progress=advance)
                info = chunk_info(chunk, rows, chunk_started)
                folder.write_chunk(dtype, index, [s.name for s in chunk], rows, info, meta)
                report.chunks_done += 1
                for kind, kind_rows in rows.items():
                    report.rows[kind] += len(kind_rows)
        finally:
            bar.close()
            report.duration_s = time.perf_counter() - started
    return report


@dataclass
class SampledPlan:
    """What a run measures: the draws cut into chunks, the set's identity (less the power source) and facts."""

    dtype: str
    sample: Any
    chunks: list[list[Any]]
    identity: dict[str, Any]
    facts: dict[str, Any]
    settings: ProfileSettings


def plan_sampled(
    n: int,
    *,
    seed: int = 0,
    kinds: Sequence[str] | None = None,
    batch_sizes: Sequence[int] = (1, 8),
    dtype: str = "float32",
    space: LayerSpace | str | Path | None = None,
    chunk_size: int = 25,
    settings: ProfileSettings | None = None,
) -> SampledPlan:
    """Draw the specs and cut them into chunks, as every path (local or Ray) does before measuring."""
    from layerpower.models.dtypes import normalize_dtype
    from layerpower.profiling.sampled.draw import sample_space

    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise LayerpowerError(f"chunk size must be a positive integer, got {chunk_size!r}")
    space = space if isinstance(space, LayerSpace) else load_space(space)
    dtype = normalize_dtype(dtype)
    sample = sample_space(n, seed=seed, kinds=kinds, batch_sizes=batch_sizes, dtype=dtype, space=space)
    specs = sample.specs
    settings = settings or ProfileSettings()
    identity = {
        "seed": int(seed),
        "n": int(n),
        "kinds": [k for k in LAYER_KINDS if k in (kinds if kinds is not None else space.kinds())],
        "batch_sizes": sorted({int(b) for b in batch_sizes}),
        "space_sha256": space.sha256,
        "chunk_size": int(chunk_size),
    }
    facts = {
        "dtype": dtype,
        "space": space.source,
        "rejected": sample.rejected,
        "rejected_by_op": sample.rejected_by_op,
        "chunks_total": -(-len(specs) // chunk_size),
        "ops": dict(sorted(_count(s.extra["sampled"]["op"] for s in specs).items())),
        "settings": settings.to_dict(),
    }
    chunks = [specs[i : i + chunk_size] for i in range(0, len(specs), chunk_size)]
    return SampledPlan(dtype, sample, chunks, identity, facts, settings)


def _count(items: Any) -> dict[str, int]:
    from collections import Counter

    return dict(Counter(items))


def chunk_info(chunk: list[Any], rows: dict[str, list[dict[str, Any]]], started: float) -> dict[str, Any]:
    """The facts of one finished chunk for meta.json (idle power in W, duration in s)."""
    from layerpower.profiling.machine import load_average

    idle = next((r["idle_power_w"] for kind_rows in rows.values() for r in kind_rows), None)
    return {
        "specs": len(chunk),
        "first": chunk[0].name,
        "last": chunk[-1].name,
        "rows": sum(len(r) for r in rows.values()),
        "idle_power_w": idle,
        "duration_s": round(time.perf_counter() - started, 3),
        "load_average_1m": load_average(),
        "completed": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
