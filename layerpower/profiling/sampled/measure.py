"""Sampled specs measured alone, under the profiler's protocol and with its code.

A :class:`SampledSession` holds one :class:`~layerpower.profiling.profiler.LayerProfiler` (meter, power
source, window, the throwaway warm-up profile) and runs its isolated-measurement phases on groups of specs:
build, warm up and calibrate each layer, then ``trials`` windows per layer in a shuffled schedule. Idle
power is measured first (once per :func:`measure_specs` call, once per chunk in :func:`profile_chunk`).
Rows have the layer schema of their kind; ``runtime_s`` (in context) stays empty: a sampled layer never
runs inside a model, and ``runtime_isolated_s`` is its runtime. Units: s, W, J.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from layerpower.config.vocab import LAYER_KINDS
from layerpower.models.spec import LayerSpec
from layerpower.profiling.settings import ProfileSettings

#: specs calibrated and measured together (their trials shuffled among them); the deadline and the
#: progress callback are checked between groups
GROUP_SIZE = 4

Progress = Callable[[int, int], None]


class _NullBar:
    """The profiler's phases report to a bar; here progress is counted per group of specs instead."""

    def set_postfix_str(self, *args: Any, **kwargs: Any) -> None:
        pass

    def update(self, *args: Any) -> None:
        pass


class SampledSession:
    """One device, one power source and one profiler, shared by the groups and chunks of a run."""

    def __init__(
        self,
        device: str = "cpu",
        power_source: str | None = None,
        *,
        tdp_w: float | None = None,
        settings: ProfileSettings | None = None,
    ) -> None:
        from layerpower.profiling.profiler import LayerProfiler
        from layerpower.profiling.timing import sync_function

        self.settings = settings or ProfileSettings()
        self.profiler = LayerProfiler(device, power_source, tdp_w=tdp_w, settings=self.settings)
        self.device = self.profiler.device
        self.device_id = self.profiler.device_id
        self.source_name = self.profiler.source_name
        self.is_estimate = self.profiler.is_estimate
        self.window_s = self.profiler.window_s
        self.sync = sync_function(self.device)

    def close(self) -> None:
        self.profiler.close()

    def __enter__(self) -> SampledSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> dict[str, Any]:
        """Device, power source and versions, as the profiler writes them into meta.json."""
        return self.profiler.describe()

    def idle_power(self) -> float:
        """Average idle power in W over the settings' idle window."""
        seconds = self.settings.idle_for(self.source_name)
        return float(self.profiler.meter.idle_power(seconds, sync=self.sync).avg_power_w)

    def measure(
        self,
        specs: Sequence[LayerSpec],
        idle_w: float,
        *,
        deadline: float | None = None,
        on_group: Callable[[int], None] | None = None,
    ) -> list[dict[str, Any]]:
        """One row per spec measured (in order), each with its kind's columns and ``kind``; stops between
        groups once ``time.monotonic()`` passes ``deadline``. ``on_group(specs_done_in_group)``."""
        rows: list[dict[str, Any]] = []
        if specs:
            self.profiler.warm_up(specs[0].dtype)
        for start in range(0, len(specs), GROUP_SIZE):
            if deadline is not None and time.monotonic() >= deadline:
                break
            group = list(specs[start : start + GROUP_SIZE])
            rows.extend(self._measure_group(group, idle_w))
            if on_group is not None:
                on_group(len(group))
        return rows

    def _config_run(self, group: list[LayerSpec]) -> Any:
        """The profiler's per-configuration record for a group: its layers live in one meta module."""
        from layerpower.profiling.profiler import _ConfigRun
        from layerpower.profiling.rows import dedup_groups
        from layerpower.profiling.sampled.builders import specs_model

        return _ConfigRun(
            entry=None,
            net=specs_model(group),
            batch_size=group[0].batch_size,
            dtype=group[0].dtype,
            settings=self.settings,
            window_s=self.window_s,
            label="sampled layers",
            sync=self.sync,
            specs=group,
            wanted=group,
            groups=dedup_groups(group, self.settings.dedup),
        )

    def _measure_group(self, group: list[LayerSpec], idle_w: float) -> list[dict[str, Any]]:
        from layerpower.models.spec import feature_row
        from layerpower.profiling.isolated import summarize
        from layerpower.profiling.rows import layer_row
        from layerpower.profiling.sampled.builders import SAMPLED_MODEL

        run = self._config_run(group)
        bar = _NullBar()
        layers, plans = self.profiler._calibrate_alone(run, bar)
        trials = self.profiler._run_trials(run, layers, plans, bar)
        out = []
        for leader, members in run.groups.items():
            result = summarize(trials[leader], self.source_name, self.is_estimate)
            for member in members:
                spec = group[member]
                row = layer_row(spec, feature_row(spec), result, idle_w, self.device_id, SAMPLED_MODEL)
                row["runtime_s"] = None  # not timed in context: a sampled layer runs alone
                row["measured_as"] = "" if member == leader else group[leader].name
                out.append({**row, "kind": spec.kind, "_position": member})
        out.sort(key=lambda r: r.pop("_position"))
        return out


def measure_specs(
    specs: Sequence[LayerSpec],
    *,
    device: str = "cpu",
    power_source: str | None = None,
    tdp_w: float | None = None,
    settings: ProfileSettings | None = None,
    deadline: float | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Measure ``specs`` alone in this process: idle power once, then the specs in groups.

    One row per measured spec: the layer-schema columns of its kind plus ``kind``. Specs not reached
    before ``deadline`` (a ``time.monotonic()`` value, checked between groups of :data:`GROUP_SIZE`) are
    absent. ``progress(done, total)`` is called after each group.
    """
    total = len(specs)
    done = 0

    def on_group(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, total)

    with SampledSession(device, power_source, tdp_w=tdp_w, settings=settings) as session:
        idle = session.idle_power()
        rows = session.measure(specs, idle, deadline=deadline, on_group=on_group)
    columns = list(dict.fromkeys(c for kind in LAYER_KINDS for c in _columns(kind))) + ["kind"]
    return pd.DataFrame(rows, columns=columns)


def profile_chunk(
    specs: Sequence[LayerSpec],
    *,
    device: str = "cpu",
    power_source: str | None = None,
    tdp_w: float | None = None,
    settings: ProfileSettings | None = None,
    session: SampledSession | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Rows per kind (``LAYER_COLUMNS[kind]``) for one chunk of specs: idle power, then every spec alone.

    The unit of work a remote task runs: give it the specs (plain, picklable records) and the device; the
    driver writes the rows. ``session`` reuses an open :class:`SampledSession`; ``progress(count)`` is called
    after each group of specs.
    """
    own = session is None
    session = session or SampledSession(device, power_source, tdp_w=tdp_w, settings=settings)
    try:
        idle = session.idle_power()
        rows = session.measure(specs, idle, on_group=progress)
    finally:
        if own:
            session.close()
    out: dict[str, list[dict[str, Any]]] = {kind: [] for kind in LAYER_KINDS}
    for row in rows:
        kind = row.pop("kind")
        out[kind].append({c: row.get(c) for c in _columns(kind)})
    return out


def _columns(kind: str) -> list[str]:
    from layerpower.config.schema import LAYER_COLUMNS

    return LAYER_COLUMNS[kind]
