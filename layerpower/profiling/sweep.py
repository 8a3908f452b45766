"""Several models at several (batch size, dtype), each written to ``<out>/<device-id>/<model>/``.

:func:`profile_models` drives one :class:`~layerpower.profiling.profiler.LayerProfiler` over the models:
it checks every configuration's forward first, measures the whole model for all pending configurations
in shared fresh processes, then profiles the layers of each and writes it (:mod:`layerpower.profiling.writer`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerpower.errors import LayerpowerError
from layerpower.profiling.settings import ProfileSettings

if TYPE_CHECKING:
    from layerpower.profiling.profiler import LayerProfiler
    from layerpower.profiling.writer import ModelFolder


@dataclass
class ModelOutcome:
    """What happened to one model in :func:`profile_models` (``duration_s`` in seconds)."""

    model: str
    status: str  # "done" | "skipped" | "failed"
    folder: Path | None = None
    configs: list[str] = field(default_factory=list)  # configs profiled now ("b1-float32", ...)
    rows: int = 0  # layer rows written now
    duration_s: float = 0.0
    error: str = ""
    warnings: list[str] = field(default_factory=list)  # configurations whose measurements look disturbed


@dataclass
class ProfileReport:
    """The outcome of every model in a :func:`profile_models` run."""

    outcomes: list[ModelOutcome]
    device_id: str
    power_source: str
    is_estimate: bool
    out: Path

    @property
    def failures(self) -> list[ModelOutcome]:
        """The outcomes of the models that failed."""
        return [o for o in self.outcomes if o.status == "failed"]


def profile_models(
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
) -> ProfileReport:
    """Profile each model at every (batch size, dtype) and write its folder under ``out/<device-id>/``.

    A model that fails (unknown name, a dtype its layers do not support on ``device``, ...) is recorded as
    failed and the next one runs. With ``resume``, configurations already complete on disk are skipped.
    Each configuration is written (atomically) as soon as it is done, so an interruption loses at most
    the configuration in progress. ``on_outcome`` is called after each model.
    """
    from layerpower.profiling.profiler import LayerProfiler
    from layerpower.profiling.writer import check_output_root

    root = check_output_root(out)
    configs = plan_configs(batch_sizes, dtypes)
    outcomes: list[ModelOutcome] = []
    with LayerProfiler(
        device, power_source, tdp_w=tdp_w, settings=settings, progress=progress, threads=threads
    ) as profiler:
        meta_common = profiler.describe()
        for name in models:
            outcome = _profile_one(profiler, name, configs, root, meta_common, resume)
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
    return ProfileReport(outcomes, profiler.device_id, profiler.source_name, profiler.is_estimate, root)


def plan_configs(batch_sizes: Sequence[int], dtypes: Sequence[str]) -> list[tuple[int, str]]:
    """Every (batch size, dtype) to profile, dtype-major, duplicates dropped; refuses a size below 1."""
    from layerpower.models.dtypes import normalize_dtype

    dtype_names = list(dict.fromkeys(normalize_dtype(d) for d in dtypes))
    sizes = list(dict.fromkeys(int(b) for b in batch_sizes))
    if not sizes or any(b < 1 for b in sizes):
        raise LayerpowerError(f"batch sizes must be positive integers, got {list(batch_sizes)}")
    return [(b, d) for d in dtype_names for b in sizes]


def _profile_one(
    profiler: LayerProfiler,
    name: str,
    configs: list[tuple[int, str]],
    root: Path,
    meta_common: dict[str, Any],
    resume: bool,
    folder_at: Callable[[Path, str, str], Any] | None = None,
) -> ModelOutcome:
    """Profile one model's configurations not yet on disk (all of them without ``resume``).

    ``folder_at(root, device_id, model)`` gives the folder written to (default :meth:`ModelFolder.at`; a
    cluster task passes one that keeps the rows, to be written by the driver).
    """
    from layerpower.models.zoo import resolve_model
    from layerpower.profiling.writer import ModelFolder

    started = time.perf_counter()
    outcome = ModelOutcome(model=name, status="done")
    try:
        entry = resolve_model(name)
        outcome.model = entry.name
        folder = (folder_at or ModelFolder.at)(root, profiler.device_id, entry.name)
        outcome.folder = folder.path
        pending = [
            (b, d) for b, d in configs if not (resume and folder.is_complete(b, d, profiler.settings.kinds))
        ]
        if not pending:
            outcome.status = "skipped"
        else:
            _profile_pending(profiler, entry, folder, pending, meta_common, outcome)
    except LayerpowerError as exc:
        outcome.status = "failed"
        outcome.error = str(exc)
    outcome.duration_s = time.perf_counter() - started
    return outcome


def _profile_pending(
    profiler: LayerProfiler,
    entry: Any,
    folder: ModelFolder,
    pending: list[tuple[int, str]],
    meta_common: dict[str, Any],
    outcome: ModelOutcome,
) -> None:
    """Check, whole-model measure, layer-profile and write each pending (batch size, dtype)."""
    from layerpower.profiling.profiler import label
    from layerpower.profiling.writer import config_key

    entry, net = profiler.prepare(entry.name)
    for batch_size, dtype in pending:  # fail early, naming the layer, before anything long runs
        profiler.check_forward(entry, net, batch_size, dtype)
    profiler.warm_up(pending[0][1])
    wholes = (
        profiler.measure_whole(entry.name, pending, progress=profiler.progress)
        if profiler.settings.whole_processes > 0
        else {}
    )
    meta = {
        "model": entry.name,
        "model_source": entry.source,
        "input_shape": list(entry.input_shape),
        **meta_common,
    }
    for batch_size, dtype in pending:
        whole = wholes.get((batch_size, dtype))
        result = profiler.profile(entry.name, batch_size, dtype, whole=whole, device_model=net)
        folder.write_config(batch_size, dtype, result.layer_rows, result.model_row, meta, result.info)
        problems = result.info["consistency"]["problems"]
        if problems:
            outcome.warnings.append(
                f"{label(entry.name, batch_size, dtype)} looks disturbed ({'; '.join(problems)}; 1-minute load "
                f"average {result.info['load_average_1m']['start']}): re-profile it on a quiet machine"
            )
        outcome.configs.append(config_key(batch_size, dtype))
        outcome.rows += sum(len(rows) for rows in result.layer_rows.values())
