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
(:mod:`layerpower.profiling.whole_model`). The rows are built in :mod:`layerpower.profiling.rows`;
:func:`~layerpower.profiling.sweep.profile_models` drives several models and writes
``<out>/<device-id>/<model>/`` (:mod:`layerpower.profiling.writer`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from layerpower.config.vocab import LAYER_KINDS
from layerpower.errors import LayerpowerError
from layerpower.io import json_safe
from layerpower.profiling.machine import check_device, load_average, process_facts, set_threads
from layerpower.profiling.progress import progress_bar
from layerpower.profiling.rows import ConfigProfile, config_layer_rows, consistency, dedup_groups, model_row
from layerpower.profiling.settings import ProfileSettings
from layerpower.profiling.sweep import ModelOutcome, ProfileReport, profile_models

__all__ = [
    "THROWAWAY_MODEL",
    "ConfigProfile",
    "LayerProfiler",
    "ModelOutcome",
    "ProfileReport",
    "profile_models",
]

#: the model profiled (and thrown away) before the first real profile in a process
THROWAWAY_MODEL = "lenet"


@dataclass
class _ConfigRun:
    """One (model, batch size, dtype) being profiled: what the phases of :meth:`LayerProfiler._profile` share.

    ``window_s`` is the measurement window in seconds; ``specs`` every layer call in forward order,
    ``wanted`` those of the kinds asked for, ``groups`` the first index (into ``wanted``) of each distinct
    layer -> every index sharing its measurement.
    """

    entry: Any
    net: Any
    batch_size: int
    dtype: str
    settings: ProfileSettings
    window_s: float
    label: str
    sync: Callable[[], None]
    specs: list[Any]
    wanted: list[Any]
    groups: dict[int, list[int]]

    @property
    def unique(self) -> list[int]:
        """The index of each distinct layer, measured alone once."""
        return list(self.groups)


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
            set_threads(threads)
        self.device = str(device)
        self.settings = settings or ProfileSettings()
        self.progress = progress
        self.tdp_w = tdp_w
        check_device(self.device)
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
        return {
            "device": self.device,
            "device_id": self.device_id,
            "device_name": self.device_name,
            "power_source": self.source_name,
            "is_estimate": self.is_estimate,
            "power_source_info": self.meter.source.describe(),
            "update_period_s": self.meter.update_period_s,
            **process_facts(),
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

        from layerpower.models.dtypes import torch_dtype
        from layerpower.models.inputs import make_inputs
        from layerpower.profiling.context import traced_forward
        from layerpower.profiling.timing import sync_function

        net.to(torch_dtype(dtype))
        x = make_inputs(entry, batch_size, dtype, self.device, module=net)
        traced_forward(net, x, sync_function(self.device), label=label(entry.name, batch_size, dtype))

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
        self.warm_up(dtype)
        entry, net = self.prepare(model, device_model)
        return self._profile(entry, net, int(batch_size), dtype, whole=whole, settings=self.settings)

    def warm_up(self, dtype: str) -> None:
        """Run the throwaway profile now unless it has run (or ``settings.throwaway`` is off)."""
        if not self._warmed:
            self._throwaway(dtype)

    def measure_whole(
        self,
        model: str,
        configs: Sequence[tuple[int, str]],
        *,
        settings: ProfileSettings | None = None,
        idle_power_w: float | None = None,
        progress: bool = False,
    ) -> dict[tuple[int, str], Any]:
        """The whole model end to end at each (batch size, dtype), as ``settings`` (default: the profiler's)
        say: (batch size, dtype) -> :class:`~layerpower.profiling.whole_model.WholeModelResult`."""
        from layerpower.profiling.whole_model import measure_whole_model_configs

        settings = settings or self.settings
        return measure_whole_model_configs(
            model,
            configs,
            device=self.device,
            processes=settings.whole_processes,
            repeats=settings.whole_repeats,
            power_source=self.source_name,
            tdp_w=self.tdp_w,
            idle_power_w=idle_power_w,
            budget_s=settings.whole_budget_s,
            repeats_range=settings.whole_repeats_range,
            progress=progress,
        )

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
        """The phases in order: idle power, in context, layers alone (calibrate, then the shuffled trials),
        then the rows, the whole model (unless given) and the facts for meta.json."""
        from layerpower.profiling.isolated import summarize

        started = time.perf_counter()
        load_before = load_average()
        run = self._plan(entry, net, batch_size, dtype, settings, window_s)
        steps = 1 + len(run.unique) * (1 + settings.trials)
        bar = progress_bar(self.progress and not throwaway, run.label, steps)
        try:
            idle = float("nan") if throwaway else self._idle_power(run, bar)
            context = self._time_in_context(run, bar)
            layers, plans = self._calibrate_alone(run, bar)
            trials = self._run_trials(run, layers, plans, bar)
        finally:
            bar.close()
        if throwaway:
            return ConfigProfile(entry.name, batch_size, dtype, self.device_id, {}, {}, {})

        results = {i: summarize(trials[i], self.source_name, self.is_estimate) for i in run.unique}
        layer_rows = config_layer_rows(
            run.wanted, run.groups, results, context.runtimes_s, idle, self.device_id, entry.name
        )
        if whole is None:
            measured = self.measure_whole(
                entry.name, [(batch_size, dtype)], settings=settings, idle_power_w=idle
            )
            whole = next(iter(measured.values()))
        all_rows = [r for rows in layer_rows.values() for r in rows]
        row = model_row(whole, entry.name, self.device_id, idle, all_rows)
        info = _config_info(run, context, whole, idle, len(all_rows), started, load_before)
        info["consistency"] = consistency(row, whole.runtime_cv, [p.runtime_s for p in whole.per_process])
        return ConfigProfile(entry.name, batch_size, dtype, self.device_id, layer_rows, row, info)

    # -- the phases of one profile ---------------------------------------------------------------------
    def _plan(
        self,
        entry: Any,
        net: Any,
        batch_size: int,
        dtype: str,
        settings: ProfileSettings,
        window_s: float | None,
    ) -> _ConfigRun:
        """Cast the model to ``dtype`` and list its layer calls, and which of them are measured alone."""
        from layerpower.models.dtypes import torch_dtype
        from layerpower.models.layers import extract_layers
        from layerpower.profiling.timing import sync_function

        window = float(window_s or self.window_s)
        sync = sync_function(self.device)
        net.to(torch_dtype(dtype))
        specs = extract_layers(entry.name, batch_size, dtype)
        wanted = [s for s in specs if s.kind in settings.kinds]
        groups = dedup_groups(wanted, settings.dedup)
        text = label(entry.name, batch_size, dtype)
        return _ConfigRun(entry, net, batch_size, dtype, settings, window, text, sync, specs, wanted, groups)

    def _idle_power(self, run: _ConfigRun, bar: Any) -> float:
        """Phase 1: the average idle power in W over a quiet window, before the layers run."""
        bar.set_postfix_str("idle power", refresh=False)
        seconds = run.settings.idle_for(self.source_name)
        return float(self.meter.idle_power(seconds, sync=run.sync).avg_power_w)

    def _time_in_context(self, run: _ConfigRun, bar: Any) -> Any:
        """Phase 2: every layer call timed in back-to-back forwards of the whole model (as it runs in
        production); a warm-up forward sizes the count. The ``ContextTimes`` (runtimes in s)."""

        from layerpower.models.inputs import make_inputs
        from layerpower.profiling.context import time_in_context

        bar.set_postfix_str("in context", refresh=False)
        x = make_inputs(run.entry, run.batch_size, run.dtype, self.device, module=run.net)
        context = time_in_context(
            run.net, x, self.device, forwards=run.settings.forwards_for, label=run.label
        )
        del x
        bar.update(1)
        return context

    def _calibrate_alone(self, run: _ConfigRun, bar: Any) -> tuple[dict[int, Any], dict[int, Any]]:
        """Phase 3: build, warm up and calibrate every distinct layer alone: (layers, window plans) by index."""
        from layerpower.profiling.isolated import calibrate

        settings = run.settings
        layers: dict[int, Any] = {}
        plans: dict[int, Any] = {}
        for index in run.unique:
            spec = run.wanted[index]
            bar.set_postfix_str(spec.name, refresh=False)
            try:
                layer = _isolated_layer(spec, run.net, self.device)
                plans[index] = calibrate(
                    layer.run,
                    run.sync,
                    run.window_s,
                    warmup_calls=settings.warmup_calls,
                    warmup_s=settings.warmup_fraction * run.window_s,
                    device=self.device,
                )
            except LayerpowerError as exc:
                raise LayerpowerError(f"{run.label}, layer {spec.name!r}: {exc.message}", exc.hint) from exc
            except (RuntimeError, NotImplementedError, TypeError, ValueError) as exc:
                raise LayerpowerError(
                    f"{run.label}: layer {spec.name!r} ({spec.module_type}) failed alone: {_first_line(exc)}"
                ) from exc
            layers[index] = layer
            bar.update(1)
        return layers, plans

    def _run_trials(
        self, run: _ConfigRun, layers: dict[int, Any], plans: dict[int, Any], bar: Any
    ) -> dict[int, list[Any]]:
        """Phase 4: ``trials`` windows per distinct layer in a shuffled (layer, trial) schedule; the layers
        are released after. Index -> its window measurements (s, J, W)."""
        from layerpower.profiling.isolated import measure_window

        settings = run.settings
        schedule = [(index, trial) for index in run.unique for trial in range(settings.trials)]
        self._rng.shuffle(schedule)
        trials: dict[int, list[Any]] = {index: [] for index in run.unique}
        for index, _ in schedule:
            plan = plans[index]
            bar.set_postfix_str(run.wanted[index].name, refresh=False)
            prewarm = 1 if plan.per_call_s < 0.25 * run.window_s else 0
            trials[index].append(
                measure_window(
                    layers[index].run,
                    self.meter,
                    run.sync,
                    plan.iterations,
                    device=self.device,
                    prewarm=prewarm,
                    max_s=settings.max_window_factor * run.window_s,
                )
            )
            bar.update(1)
        layers.clear()
        return trials


# -- helpers ------------------------------------------------------------------------------------------


def _config_info(
    run: _ConfigRun,
    context: Any,
    whole: Any,
    idle_w: float,
    rows: int,
    started: float,
    load_before: float | None,
) -> dict[str, Any]:
    """The facts of one configuration for meta.json (``started``: its ``perf_counter`` start, in s)."""
    return {
        "kinds": list(run.settings.kinds),
        "completed": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - started, 3),
        "load_average_1m": {"start": load_before, "end": load_average()},
        "idle_power_w": idle_w,
        "window_s": run.window_s,
        "layer_calls": len(run.specs),
        "rows": rows,
        "layers_measured_alone": len(run.unique),
        "context_forwards": context.forwards,
        "context_forward_s": context.forward_s,
        "calls_missing_in_context": [
            s.name for s in run.wanted if (s.name, s.call_index) not in context.runtimes_s
        ],
        "whole_model": {
            "processes": whole.processes,
            "repeats": whole.repeats,
            "runtime_s_per_process": [p.runtime_s for p in whole.per_process],
            "page_faults_per_forward_per_process": json_safe(
                [p.page_faults_per_forward for p in whole.per_process]
            ),
        },
        "settings": run.settings.to_dict(),
    }


def label(model: str, batch_size: int, dtype: str) -> str:
    """``"resnet18 (batch 8, float16)"``: how messages and progress bars name one configuration."""
    return f"{model} (batch {batch_size}, {dtype})"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
