"""The layer profiler: every layer of a model measured alone and in context, plus the whole model.

For one model, batch size and dtype (:meth:`LayerProfiler.profile`):

1. idle power over a quiet window (``Meter.idle_power``);
2. in context: every layer call timed inside traced forwards of the whole model (median per call)
   -> ``runtime_s``. The forwards run back to back, warm, as the whole model runs in production and in
   :mod:`~layerpower.profiling.whole_model` (spreading them over the isolated trials was tried: each forward
   then starts cold, and a small model's layers summed to 3x its whole-model time);
3. alone: each distinct layer (``LayerSpec.config_key``; repeats reuse the measurement and name it in
   ``measured_as``) built with a random input of its captured shape and dtype, warmed up, its window
   calibrated, then ``trials`` windows per layer in a shuffled (layer, trial) schedule ->
   ``runtime_isolated_s``, ``power_w``, ``dynamic_power_w``, ``energy_j`` (medians) and their CVs.

The first profile in a process is slower (allocator, kernel selection): the profiler runs a throwaway
profile of LeNet before its first real one. The whole model is measured end to end in fresh processes
(:mod:`layerpower.profiling.whole_model`). :func:`profile_models` drives several models and writes
``<out>/<device-id>/<model>/`` (:mod:`layerpower.profiling.writer`).
"""

from __future__ import annotations

import math
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from layerpower.config.schema import LAYER_COLUMNS, MODEL_COLUMNS, SCHEMA_VERSION
from layerpower.config.vocab import LAYER_KINDS
from layerpower.errors import LayerpowerError
from layerpower.profiling.settings import ProfileSettings

#: the model profiled (and thrown away) before the first real profile in a process
THROWAWAY_MODEL = "lenet"


@dataclass
class ConfigProfile:
    """The rows of one model at one (batch size, dtype), ready for the writer."""

    model: str
    batch_size: int
    dtype: str
    device_id: str
    layer_rows: dict[str, list[dict[str, Any]]]  # kind -> rows with LAYER_COLUMNS[kind]
    model_row: dict[str, Any]  # MODEL_COLUMNS
    info: dict[str, Any]  # per-config facts for meta.json

    def frames(self) -> dict[str, Any]:
        """kind -> DataFrame with exactly that kind's columns (plus ``"model"`` -> the model row)."""
        import pandas as pd

        out = {
            kind: pd.DataFrame(self.layer_rows.get(kind, []), columns=LAYER_COLUMNS[kind])
            for kind in LAYER_KINDS
        }
        out["model"] = pd.DataFrame([self.model_row], columns=MODEL_COLUMNS)
        return out


@dataclass
class ModelOutcome:
    """What happened to one model in :func:`profile_models`."""

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
        return [o for o in self.outcomes if o.status == "failed"]


def _isolated_layer(spec: Any, model: Any, device: str) -> Any:
    from layerpower.models.isolate import isolated_layer

    return isolated_layer(spec, model, device)


class LayerProfiler:
    """Profiles models on one device with one power source (see the module docstring).

    ``progress`` shows a tqdm bar on stderr. ``power_source`` is a name (None: the best available),
    ``tdp_w`` the estimate's full-load power. ``threads`` sets torch's intra-op threads for this process and
    the whole-model workers (None: torch's default, one per core).
    """

    def __init__(
        self,
        device: str = "cpu",
        power_source: str | None = None,
        *,
        tdp_w: float | None = None,
        settings: ProfileSettings | None = None,
        progress: bool = False,
        threads: int | None = None,
    ) -> None:
        from layerpower.hardware import device_id, device_name
        from layerpower.profiling.meter import Meter

        if threads is not None:
            _set_threads(threads)
        self.device = str(device)
        self.settings = settings or ProfileSettings()
        self.progress = progress
        self.tdp_w = tdp_w
        _check_device(self.device)
        self.device_id = device_id(self.device)
        self.device_name = device_name(self.device)
        self.meter = Meter(power_source, tdp_w=tdp_w, warn_short=False)
        self.source_name = self.meter.source.name
        self.is_estimate = bool(self.meter.source.is_estimate)
        self.window_s = self.settings.window_for(self.source_name, self.meter.update_period_s)
        self._warmed = not self.settings.throwaway
        self._rng = random.Random(self.settings.seed)

    def close(self) -> None:
        self.meter.close()

    def __enter__(self) -> LayerProfiler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- facts for meta.json ---------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Device, power source and library versions, for meta.json."""
        import torch

        try:
            import torchvision

            tv = torchvision.__version__
        except ImportError:  # pragma: no cover - torchvision is a dependency
            tv = None
        from layerpower import __version__

        info = self.meter.source.describe()
        return {
            "device": self.device,
            "device_id": self.device_id,
            "device_name": self.device_name,
            "power_source": self.source_name,
            "is_estimate": self.is_estimate,
            "power_source_info": info,
            "update_period_s": self.meter.update_period_s,
            "versions": {
                "layerpower": __version__,
                "torch": torch.__version__,
                "torchvision": tv,
                "python": platform.python_version(),
            },
            "torch_threads": torch.get_num_threads(),
            "cpu_count": _cpu_count(),
            "platform": platform.platform(),
        }

    # -- one model at one configuration ----------------------------------------------------------------
    def prepare(self, model: str, device_model: Any | None = None) -> tuple[Any, Any]:
        """Resolve ``model`` and build it on the device (or reuse ``device_model``): (entry, module)."""
        from layerpower.models.zoo import build_model, resolve_model

        entry = resolve_model(model)
        net = device_model if device_model is not None else build_model(entry, device=self.device)
        return entry, net

    def check_forward(self, entry: Any, net: Any, batch_size: int, dtype: str) -> None:
        """One traced forward at (batch_size, dtype): a clear error naming the layer if it fails."""
        import torch

        from layerpower.models.dtypes import torch_dtype
        from layerpower.profiling.context import traced_forward
        from layerpower.profiling.timing import sync_function

        net.to(torch_dtype(dtype))
        x = torch.randn(batch_size, *entry.input_shape, dtype=torch_dtype(dtype), device=self.device)
        traced_forward(net, x, sync_function(self.device), label=_label(entry.name, batch_size, dtype))

    def profile(
        self,
        model: str,
        batch_size: int = 1,
        dtype: str = "float32",
        *,
        whole: Any | None = None,
        device_model: Any | None = None,
    ) -> ConfigProfile:
        """Profile ``model`` at one (batch size, dtype); ``whole`` is its WholeModelResult (None: measure it
        here in this process). ``device_model`` reuses a module already built on the device."""
        from layerpower.models.dtypes import normalize_dtype

        dtype = normalize_dtype(dtype)
        if not self._warmed:
            self._throwaway(dtype)
        entry, net = self.prepare(model, device_model)
        return self._profile(entry, net, int(batch_size), dtype, whole=whole, settings=self.settings)

    def _throwaway(self, dtype: str) -> None:
        """Profile a small model once and discard it: the first profile in a process runs slow."""
        self._warmed = True
        quick = self.settings.with_(trials=1, context_forwards=1, dedup=True, kinds=LAYER_KINDS)
        entry, net = self.prepare(THROWAWAY_MODEL)
        self._profile(
            entry,
            net,
            1,
            dtype,
            whole=None,
            settings=quick,
            window_s=min(self.window_s, 0.05),
            throwaway=True,
        )

    def _profile(
        self,
        entry: Any,
        net: Any,
        batch_size: int,
        dtype: str,
        *,
        whole: Any | None,
        settings: ProfileSettings,
        window_s: float | None = None,
        throwaway: bool = False,
    ) -> ConfigProfile:
        import torch

        from layerpower.models.dtypes import torch_dtype
        from layerpower.models.layers import extract_layers
        from layerpower.models.spec import feature_row
        from layerpower.profiling.context import time_in_context
        from layerpower.profiling.isolated import calibrate, measure_window, summarize
        from layerpower.profiling.timing import sync_function

        started = time.perf_counter()
        load_before = _load_average()
        window = float(window_s or self.window_s)
        label = _label(entry.name, batch_size, dtype)
        sync = sync_function(self.device)
        net.to(torch_dtype(dtype))
        specs = extract_layers(entry.name, batch_size, dtype)
        wanted = [s for s in specs if s.kind in settings.kinds]
        groups = _dedup_groups(wanted, settings.dedup)
        unique = list(groups)

        bar = _bar(self.progress and not throwaway, label, 1 + len(unique) * (1 + settings.trials))
        try:
            # idle power, before the layers
            idle = float("nan")
            if not throwaway:
                bar.set_postfix_str("idle power", refresh=False)
                idle = self.meter.idle_power(settings.idle_for(self.source_name), sync=sync).avg_power_w

            # in context: a warm-up forward sizes the count, then back-to-back forwards (as the whole model runs)
            bar.set_postfix_str("in context", refresh=False)
            x = torch.randn(batch_size, *entry.input_shape, dtype=torch_dtype(dtype), device=self.device)
            context = time_in_context(net, x, self.device, forwards=settings.forwards_for, label=label)
            del x
            bar.update(1)

            # alone: build, warm up and calibrate every distinct layer, then the shuffled trials
            layers: dict[int, Any] = {}
            plans: dict[int, Any] = {}
            for index in unique:
                spec = wanted[index]
                bar.set_postfix_str(spec.name, refresh=False)
                try:
                    layer = _isolated_layer(spec, net, self.device)
                    plans[index] = calibrate(
                        layer.run,
                        sync,
                        window,
                        warmup_calls=settings.warmup_calls,
                        warmup_s=settings.warmup_fraction * window,
                        device=self.device,
                    )
                except LayerpowerError as exc:
                    raise LayerpowerError(f"{label}, layer {spec.name!r}: {exc.message}", exc.hint) from exc
                except (RuntimeError, NotImplementedError, TypeError, ValueError) as exc:
                    raise LayerpowerError(
                        f"{label}: layer {spec.name!r} ({spec.module_type}) failed alone: {_first_line(exc)}"
                    ) from exc
                layers[index] = layer
                bar.update(1)
            schedule = [(index, trial) for index in unique for trial in range(settings.trials)]
            self._rng.shuffle(schedule)
            trials: dict[int, list[Any]] = {index: [] for index in unique}
            for index, _ in schedule:
                plan = plans[index]
                bar.set_postfix_str(wanted[index].name, refresh=False)
                prewarm = 1 if plan.per_call_s < 0.25 * window else 0
                trials[index].append(
                    measure_window(
                        layers[index].run,
                        self.meter,
                        sync,
                        plan.iterations,
                        device=self.device,
                        prewarm=prewarm,
                        max_s=settings.max_window_factor * window,
                    )
                )
                bar.update(1)
            layers.clear()
        finally:
            bar.close()
        if throwaway:
            return ConfigProfile(entry.name, batch_size, dtype, self.device_id, {}, {}, {})

        results = {index: summarize(trials[index], self.source_name, self.is_estimate) for index in unique}
        layer_rows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in LAYER_KINDS}
        for index, members in groups.items():
            result = results[index]
            for member in members:
                spec = wanted[member]
                row = _layer_row(spec, feature_row(spec), result, idle, self.device_id, entry.name)
                row["runtime_s"] = context.runtimes_s.get((spec.name, spec.call_index), float("nan"))
                row["measured_as"] = "" if member == index else wanted[index].name
                layer_rows[spec.kind].append(row)
        # rows in forward order within each kind
        position = {(s.name, s.call_index): i for i, s in enumerate(wanted)}
        for kind in LAYER_KINDS:
            layer_rows[kind].sort(key=lambda r: position[(r["layer_name"], int(r["call_index"]))])
        missing = [s.name for s in wanted if (s.name, s.call_index) not in context.runtimes_s]

        if whole is None:
            from layerpower.profiling.whole_model import measure_whole_model

            whole = measure_whole_model(
                entry.name,
                batch_size,
                dtype,
                self.device,
                processes=settings.whole_processes,
                repeats=settings.whole_repeats,
                power_source=self.source_name,
                tdp_w=self.tdp_w,
                idle_power_w=idle,
                budget_s=settings.whole_budget_s,
                repeats_range=settings.whole_repeats_range,
            )
        all_rows = [r for rows in layer_rows.values() for r in rows]
        model_row = _model_row(whole, entry.name, self.device_id, idle, all_rows)
        info = {
            "kinds": list(settings.kinds),
            "completed": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "duration_s": round(time.perf_counter() - started, 3),
            "load_average_1m": {"start": load_before, "end": _load_average()},
            "idle_power_w": idle,
            "window_s": window,
            "layer_calls": len(specs),
            "rows": len(all_rows),
            "layers_measured_alone": len(unique),
            "context_forwards": context.forwards,
            "context_forward_s": context.forward_s,
            "calls_missing_in_context": missing,
            "whole_model": {
                "processes": whole.processes,
                "repeats": whole.repeats,
                "runtime_s_per_process": [p.runtime_s for p in whole.per_process],
            },
            "settings": settings.to_dict(),
        }
        info["consistency"] = consistency(model_row, whole.runtime_cv)
        return ConfigProfile(entry.name, batch_size, dtype, self.device_id, layer_rows, model_row, info)


# -- several models, written to disk -------------------------------------------------------------------


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
    from layerpower.models.dtypes import normalize_dtype
    from layerpower.profiling.writer import ModelFolder, check_output_root

    root = check_output_root(out)
    dtype_names = list(dict.fromkeys(normalize_dtype(d) for d in dtypes))
    sizes = list(dict.fromkeys(int(b) for b in batch_sizes))
    if not sizes or any(b < 1 for b in sizes):
        raise LayerpowerError(f"batch sizes must be positive integers, got {list(batch_sizes)}")
    outcomes: list[ModelOutcome] = []
    with LayerProfiler(
        device, power_source, tdp_w=tdp_w, settings=settings, progress=progress, threads=threads
    ) as profiler:
        meta_common = profiler.describe()
        for name in models:
            started = time.perf_counter()
            outcome = ModelOutcome(model=name, status="done")
            try:
                from layerpower.models.zoo import resolve_model

                entry = resolve_model(name)
                outcome.model = entry.name
                folder = ModelFolder.at(root, profiler.device_id, entry.name)
                outcome.folder = folder.path
                configs = [(b, d) for d in dtype_names for b in sizes]
                pending = [
                    (b, d)
                    for b, d in configs
                    if not (resume and folder.is_complete(b, d, profiler.settings.kinds))
                ]
                if not pending:
                    outcome.status = "skipped"
                else:
                    _profile_pending(profiler, entry, folder, pending, meta_common, outcome)
            except LayerpowerError as exc:
                outcome.status = "failed"
                outcome.error = str(exc)
            outcome.duration_s = time.perf_counter() - started
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
    return ProfileReport(outcomes, profiler.device_id, profiler.source_name, profiler.is_estimate, root)


def _profile_pending(
    profiler: LayerProfiler,
    entry: Any,
    folder: Any,
    pending: list[tuple[int, str]],
    meta_common: dict[str, Any],
    outcome: ModelOutcome,
) -> None:
    from layerpower.profiling.whole_model import measure_whole_model_configs
    from layerpower.profiling.writer import config_key

    settings = profiler.settings
    entry, net = profiler.prepare(entry.name)
    for batch_size, dtype in pending:  # fail early, naming the layer, before anything long runs
        profiler.check_forward(entry, net, batch_size, dtype)
    if not profiler._warmed:
        profiler._throwaway(pending[0][1])
    wholes = (
        measure_whole_model_configs(
            entry.name,
            pending,
            device=profiler.device,
            processes=settings.whole_processes,
            repeats=settings.whole_repeats,
            power_source=profiler.source_name,
            tdp_w=profiler.tdp_w,
            budget_s=settings.whole_budget_s,
            repeats_range=settings.whole_repeats_range,
            progress=profiler.progress,
        )
        if settings.whole_processes > 0
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
                f"{_label(entry.name, batch_size, dtype)} looks disturbed ({'; '.join(problems)}; 1-minute load "
                f"average {result.info['load_average_1m']['start']}): re-profile it on a quiet machine"
            )
        outcome.configs.append(config_key(batch_size, dtype))
        outcome.rows += sum(len(rows) for rows in result.layer_rows.values())


# -- rows ---------------------------------------------------------------------------------------------

#: bounds beyond which a configuration's figures disagree so much that the machine was likely disturbed
CONSISTENCY_BOUNDS: dict[str, tuple[float, float]] = {
    "sum_runtime_over_whole": (0.5, 2.0),  # in-context layers vs the whole model
    "sum_isolated_over_sum_runtime": (1 / 3, 3.0),  # layers alone vs the same layers in context
    "whole_runtime_cv": (0.0, 0.35),  # the whole model across fresh processes
}


def consistency(model_row: dict[str, Any], whole_cv: float) -> dict[str, Any]:
    """Ratios that should be near 1 (and a CV near 0) on a quiet machine, and which ones are far off.

    A neighbour taking a core slows a 2-thread CPU run tenfold for as long as it runs; these figures make
    such a disturbed configuration visible in meta.json (``problems`` lists what is out of bounds).
    """
    whole = float(model_row["runtime_s"])
    context = float(model_row["sum_runtime_s"])
    isolated = float(model_row["sum_runtime_isolated_s"])
    figures = {
        "sum_runtime_over_whole": context / whole if whole > 0 else float("nan"),
        "sum_isolated_over_sum_runtime": isolated / context if context > 0 else float("nan"),
        "whole_runtime_cv": float(whole_cv),
    }
    problems = []
    for name, value in figures.items():
        low, high = CONSISTENCY_BOUNDS[name]
        if value == value and not low <= value <= high:
            problems.append(f"{name} = {value:.2f}, expected {low:.2f}..{high:.2f}")
    return {**{k: round(v, 4) for k, v in figures.items()}, "problems": problems}


def _layer_row(
    spec: Any, features: dict[str, Any], result: Any, idle_w: float, device_id: str, model: str
) -> dict[str, Any]:
    row = dict(features)
    row.update(
        {
            "schema_version": SCHEMA_VERSION,
            "device_id": device_id,
            "model": model,
            "runtime_isolated_s": result.runtime_s,
            "power_w": result.power_w,
            "dynamic_power_w": result.power_w - idle_w,
            "idle_power_w": idle_w,
            "energy_j": result.energy_j,
            "trials": result.trials,
            "iterations": result.iterations,
            "runtime_cv": result.runtime_cv,
            "power_cv": result.power_cv,
            "power_source": result.source,
            "is_estimate": result.is_estimate,
        }
    )
    return {column: row.get(column) for column in LAYER_COLUMNS[spec.kind]}


def _model_row(
    whole: Any, model: str, device_id: str, idle_w: float, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "device_id": device_id,
        "model": model,
        "dtype": whole.dtype,
        "batch_size": whole.batch_size,
        "runtime_s": whole.runtime_s,
        "runtime_min_s": whole.runtime_min_s,
        "runtime_max_s": whole.runtime_max_s,
        "runtime_cv": whole.runtime_cv,
        "processes": whole.processes,
        "repeats": whole.repeats,
        "statistic": whole.statistic,
        "power_w": whole.power_w,
        "dynamic_power_w": whole.power_w - idle_w,
        "energy_j": whole.energy_j,
        "power_source": whole.power_source,
        "is_estimate": whole.is_estimate,
        "layer_calls": len(rows),
        "sum_runtime_s": _nansum(r["runtime_s"] for r in rows),
        "sum_runtime_isolated_s": _nansum(r["runtime_isolated_s"] for r in rows),
    }


def _nansum(values: Any) -> float:
    return float(sum(v for v in values if v is not None and not math.isnan(v)))


def _dedup_groups(specs: Sequence[Any], dedup: bool) -> dict[int, list[int]]:
    """First index of each distinct configuration -> every index sharing it (in order)."""
    groups: dict[int, list[int]] = {}
    first: dict[Any, int] = {}
    for index, spec in enumerate(specs):
        key = (spec.config_key(), _operand_key(spec)) if dedup else index
        leader = first.setdefault(key, index)
        groups.setdefault(leader, []).append(index)
    return groups


def _operand_key(spec: Any) -> Any:
    """The shapes of every tensor argument (a residual add's second operand, a concat's inputs)."""
    shapes = spec.extra.get("arg_shapes")
    return tuple(tuple(s) for s in shapes) if shapes else None


def _label(model: str, batch_size: int, dtype: str) -> str:
    return f"{model} (batch {batch_size}, {dtype})"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_device(device: str) -> None:
    import torch

    from layerpower.profiling.timing import is_cuda

    if is_cuda(device) and not torch.cuda.is_available():
        raise LayerpowerError(
            f"device {device!r} asked for, but torch sees no CUDA device", hint="use --device cpu"
        )


def _set_threads(threads: int) -> None:
    """Use ``threads`` intra-op threads here and in whole-model workers (they read the environment)."""
    import os

    import torch

    if threads < 1:
        raise LayerpowerError(f"threads must be at least 1, got {threads}")
    torch.set_num_threads(int(threads))
    os.environ["LAYERPOWER_TORCH_THREADS"] = str(int(threads))


def _load_average() -> float | None:
    """The machine's 1-minute load average (None where the OS has none): how busy the machine was."""
    import os

    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _bar(enabled: bool, label: str, total: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=label,
        unit="step",
        disable=not enabled,
        file=sys.stderr,
        leave=False,
        dynamic_ncols=True,
    )
