"""The fixed probe set of ``calibrate`` and its measurement within a budget, resumable.

The probe set is the same on every machine: :data:`LAYER_PROBES` layers drawn by
``profiling.sampled.sample_specs`` with the fixed seed :data:`PROBE_SEED` (spanning kinds, sizes and
operations), plus the small whole models :data:`WHOLE_PROBES` measured end to end. Measured probes are
appended to ``probes.partial.csv`` / ``whole.partial.json`` in the output folder after every chunk, so an
interrupted run keeps what finished and a re-run measures only what is missing (probes are matched by a
hash of their place in the set and their feature row, so a changed sampler never reuses a stale row).

The budget left after the first pass goes to further passes (at most :data:`MAX_PASSES`, each only when a
whole pass and a round of the whole models still fit): a shared machine's speed moves over minutes, and a
calibration measured in one slow or fast minute carries that state into every prediction. A probe's
measurement is then the median over its passes (:func:`combine_passes`), a whole model's the median over
its rounds; rows keep their pass in ``probe_pass``.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from layerpower.errors import LayerpowerError

#: seed of the probe set: fixed, so every machine measures the same layers
PROBE_SEED = 1414
#: layer probes in the set
LAYER_PROBES = 300
#: small whole models measured end to end (the whole-model calibration a·Σ + b·calls)
WHOLE_PROBES: tuple[str, ...] = ("lenet", "resnet18", "mobilenet_v3_small")
#: layer probes measured per call of measure_specs (the partial file is rewritten after each; each call
#: also measures idle power once, so a chunk trades resumability against that fixed cost)
CHUNK = 64
#: seconds to import torch and run a first operator when torch is not yet loaded (measured on 2 cores)
TORCH_WARMUP_S = 4.0
#: whole model: seconds of timed forwards per probe model and round
WHOLE_BUDGET_S = 1.0
#: whole model: seconds to start a fresh process, build a small model and run the warm-up forwards, besides
#: the budget (measured on 2 cores: 2 to 4 s with the budget)
WHOLE_OVERHEAD_S = 3.0
#: fresh processes per whole-model probe and round: the calibrating process itself runs a model up to 45 %
#: slower once it has measured the layer probes (mobilenet_v3_small 4.4 ms against 3.0 ms in a fresh
#: process on a 2-core AMD EPYC), while a user's model and the reference's whole-model runs start fresh
WHOLE_PROCESSES = 1

#: most passes over the layer probes and rounds of the whole models, budget permitting
MAX_PASSES = 3
#: the column naming a layer probe row's pass (0 first)
PASS_COLUMN = "probe_pass"
#: measured columns of a layer probe row, combined over passes by their median
MEASURED_COLUMNS = (
    "runtime_s",
    "runtime_isolated_s",
    "power_w",
    "dynamic_power_w",
    "idle_power_w",
    "energy_j",
)

#: seconds of the page-fault cost probe (a worker process: torch import, then about 0.4 s of calls)
FAULT_PROBE_S = 4.0

LAYERS_PARTIAL = "probes.partial.csv"
WHOLE_PARTIAL = "whole.partial.json"
FAULTS_PARTIAL = "page_faults.partial.json"

Progress = Callable[[str, int, int], None]


def sampled_api() -> Any:
    """``layerpower.profiling.sampled`` (its ``sample_specs`` and ``measure_specs``)."""
    try:
        from layerpower.profiling import sampled
    except ImportError as exc:  # the sampler ships with the profiling area
        raise LayerpowerError(
            f"layer sampling is not available in this build ({exc})", "update layerpower"
        ) from None
    return sampled


def probe_key(spec: Any, index: int) -> str:
    """A short stable id of the ``index``-th probe layer: sha256 of its place, kind and feature row."""
    from layerpower.models.spec import feature_row

    row = {k: v for k, v in feature_row(spec).items() if k not in ("layer_name",)}
    text = json.dumps([index, spec.kind, row], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def probe_specs(n: int | None = None, seed: int = PROBE_SEED, dtype: str = "float32") -> list[Any]:
    """The fixed probe layers (LayerSpecs): :data:`LAYER_PROBES` unless ``n`` is given, drawn from the
    packaged space's probe ops (:meth:`~layerpower.profiling.sampled.space.LayerSpace.for_probes`)."""
    api = sampled_api()
    space = api.load_space().for_probes()
    return list(api.sample_specs(LAYER_PROBES if n is None else n, seed=seed, dtype=dtype, space=space))


@dataclass(frozen=True)
class Overhead:
    """The fixed cost of a calibration before the first probe is measured, in seconds."""

    torch_warmup_s: float
    idle_s: float
    one_probe_s: float
    fit_s: float = 3.0

    @property
    def minimum_s(self) -> float:
        return self.torch_warmup_s + self.idle_s + self.one_probe_s + self.fit_s

    def describe(self) -> str:
        return (
            f"torch warm-up {self.torch_warmup_s:.1f} s + idle power {self.idle_s:.1f} s + one probe "
            f"{self.one_probe_s:.2f} s + fit {self.fit_s:.1f} s"
        )


def estimate_overhead(source_name: str, settings: Any = None) -> Overhead:
    """The fixed overhead on this machine for a power source (``settings``: a ProfileSettings)."""
    from layerpower.profiling.settings import ProfileSettings

    settings = settings or ProfileSettings()
    window = settings.window_for(source_name, float("nan"))
    one = window * (settings.trials + settings.warmup_fraction) + 0.1
    warm = 0.0 if "torch" in sys.modules else TORCH_WARMUP_S
    return Overhead(warm, settings.idle_for(source_name), one)


class ProbeStore:
    """The partial results in ``folder``: layer probe rows (with ``probe_key``) and whole-model results."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.layers_path = self.folder / LAYERS_PARTIAL
        self.whole_path = self.folder / WHOLE_PARTIAL
        self.faults_path = self.folder / FAULTS_PARTIAL

    def layers(self) -> pd.DataFrame:
        """Every measured layer probe row, of every pass (``probe_pass``; 0 where a file predates passes)."""
        if not self.layers_path.is_file():
            return pd.DataFrame()
        try:
            frame = pd.read_csv(self.layers_path, dtype={"layer_type": str, "probe_key": str})
        except (OSError, ValueError, pd.errors.EmptyDataError):
            return pd.DataFrame()  # a damaged partial file: measure again
        if PASS_COLUMN not in frame.columns:
            frame[PASS_COLUMN] = 0
        return frame

    def add_layers(self, rows: pd.DataFrame) -> pd.DataFrame:
        from layerpower.io import write_csv_atomic

        merged = pd.concat([self.layers(), rows], ignore_index=True)
        merged[PASS_COLUMN] = pd.to_numeric(merged[PASS_COLUMN], errors="coerce").fillna(0).astype(int)
        merged = merged.drop_duplicates(["probe_key", PASS_COLUMN], keep="last").reset_index(drop=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        write_csv_atomic(merged, self.layers_path, index=False)
        return merged

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _write(self, data: dict[str, Any], path: Path) -> None:
        from layerpower.io import json_safe, write_json_atomic

        self.folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(json_safe(data), path)

    def whole(self) -> dict[str, dict[str, Any]]:
        return self._read(self.whole_path)

    def add_whole(self, model: str, result: dict[str, Any]) -> None:
        """Add one round of ``model``: its entry keeps every round (``rounds``) and their medians."""
        entry = self.whole().get(model) or {}
        rounds = [r for r in entry.get("rounds", [entry] if entry else []) if isinstance(r, dict)]
        rounds.append(result)
        medians = {key: _median([r.get(key) for r in rounds]) for key in ("runtime_s", "energy_j", "power_w")}
        self._write({**self.whole(), model: {**result, **medians, "rounds": rounds}}, self.whole_path)

    def page_faults(self) -> dict[str, Any]:
        """The page-fault cost probe's result (:mod:`layerpower.profiling.fault_cost`); ``{}`` until run."""
        return self._read(self.faults_path)

    def add_page_faults(self, result: dict[str, Any]) -> None:
        self._write(result, self.faults_path)

    def finish(self) -> None:
        """Keep the measured probes as ``probes.csv``/``whole.json``/``page_faults.json`` beside the
        bundle; drop the partials."""
        for path, final in (
            (self.layers_path, "probes.csv"),
            (self.whole_path, "whole.json"),
            (self.faults_path, "page_faults.json"),
        ):
            if path.is_file():
                path.replace(self.folder / final)


def _median(values: list[Any]) -> float:
    """The median of the finite numbers among ``values`` (NaN when there are none)."""
    finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return statistics.median(finite) if finite else math.nan


def combine_passes(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per probe (first pass's features) with :data:`MEASURED_COLUMNS` the median over its passes,
    and ``passes``, the number of them."""
    if frame.empty or "probe_key" not in frame.columns:
        return frame
    keys = frame["probe_key"].astype(str)
    first = frame.sort_values(PASS_COLUMN, kind="stable").drop_duplicates("probe_key").set_index("probe_key")
    first = first.drop(columns=[PASS_COLUMN])
    measured = [c for c in MEASURED_COLUMNS if c in frame.columns]
    numbers = frame[measured].apply(pd.to_numeric, errors="coerce").groupby(keys.to_numpy())
    first[measured] = numbers.median().reindex(first.index)
    first["passes"] = keys.value_counts().reindex(first.index).astype(int)
    order = pd.unique(keys)  # the order probes were first measured in
    return first.loc[order].reset_index()


def pass_todo(specs: list[Any], store: ProbeStore, pass_index: int = 0) -> list[tuple[str, Any]]:
    """(key, spec) of the probes ``store`` holds no row of pass ``pass_index`` for."""
    done = store.layers()
    have = set()
    if "probe_key" in done.columns:
        have = set(done.loc[done[PASS_COLUMN] == pass_index, "probe_key"].astype(str))
    keys = [probe_key(s, i) for i, s in enumerate(specs)]
    return [(k, s) for k, s in zip(keys, specs, strict=True) if k not in have]


def measure_layer_probes(
    specs: list[Any],
    store: ProbeStore,
    *,
    device: str,
    deadline: float,
    power_source: str | None = None,
    progress: Progress | None = None,
    pass_index: int = 0,
) -> pd.DataFrame:
    """Measure the probes of pass ``pass_index`` not yet in ``store`` until ``deadline``
    (``time.monotonic()``); every probe measured so far, one row each (:func:`combine_passes`)."""
    api = sampled_api()
    todo = pass_todo(specs, store, pass_index)
    total = len(specs)
    label = "layer probes" if pass_index == 0 else f"layer probes, pass {pass_index + 1}"
    measured = total - len(todo)
    if progress is not None:
        progress(label, measured, total)
    for start in range(0, len(todo), CHUNK):
        if time.monotonic() >= deadline:
            break
        chunk = todo[start : start + CHUNK]

        def step(count: int, _total: int, base: int = measured) -> None:
            if progress is not None:
                progress(label, base + count, total)

        frame = api.measure_specs(
            [s for _, s in chunk], device=device, power_source=power_source, deadline=deadline, progress=step
        )
        if frame is None or frame.empty:
            break
        frame = frame.copy()
        by_name = {s.name: k for k, s in chunk}
        if "layer_name" in frame.columns and len(by_name) == len(chunk):
            frame["probe_key"] = frame["layer_name"].astype(str).map(by_name)
            frame = frame.dropna(subset=["probe_key"])
        else:  # measure_specs keeps the order of the specs it reached; those past the deadline are absent
            frame["probe_key"] = [k for k, _ in chunk][: len(frame)]
        frame[PASS_COLUMN] = pass_index
        store.add_layers(frame)
        measured += len(frame)
        if progress is not None:
            progress(label, measured, total)
        if len(frame) < len(chunk):
            break
    return combine_passes(store.layers())


def measure_fault_probe(
    store: ProbeStore, *, device: str, deadline: float, progress: Progress | None = None
) -> dict[str, Any]:
    """The cost per refaulted page on this CPU (:func:`~layerpower.profiling.fault_cost.measure_fault_cost`),
    from ``store`` when measured before; ``{}`` on a GPU, ``{"skipped": why}`` when :data:`FAULT_PROBE_S`
    does not fit before ``deadline`` or the probe failed (the faults then stay unpriced)."""
    if not str(device).startswith("cpu"):
        return {}
    found = store.page_faults()
    if found:
        return found
    if time.monotonic() + FAULT_PROBE_S > deadline:
        return {"skipped": "the cost probe did not fit in the budget"}
    from layerpower.profiling.fault_cost import measure_fault_cost

    try:
        found = measure_fault_cost(device)
    except LayerpowerError as exc:
        return {"skipped": f"the cost probe failed: {exc}"}
    store.add_page_faults(found)
    if progress is not None:
        progress("page-fault cost", 1, 1)
    return found


def whole_cost_s(predicted_runtime_s: float) -> float:
    """Seconds one whole-model probe takes: build + warm-up + its timed forwards (at least five)."""
    return WHOLE_OVERHEAD_S + max(WHOLE_BUDGET_S, 7 * max(predicted_runtime_s, 0.0))


def measure_whole_probes(
    models: dict[str, float],
    store: ProbeStore,
    *,
    device: str,
    deadline: float,
    power_source: str | None = None,
    progress: Progress | None = None,
    rounds: int = 1,
) -> dict[str, dict[str, Any]]:
    """Measure each of ``models`` (name -> predicted runtime in s) with fewer than ``rounds`` rounds in
    ``store`` once more, in a fresh process (:data:`WHOLE_PROCESSES`), while time remains; each model's
    entry holds the medians over its rounds."""
    from layerpower.profiling.whole_model import measure_whole_model

    have = store.whole()
    total = len(models)
    for name, predicted in models.items():
        if whole_rounds(have.get(name)) >= rounds:
            continue
        if time.monotonic() + whole_cost_s(predicted) > deadline:
            continue
        result = measure_whole_model(
            name,
            device=device,
            processes=WHOLE_PROCESSES,
            power_source=power_source,
            budget_s=WHOLE_BUDGET_S,
        )
        store.add_whole(
            name,
            {
                "runtime_s": result.runtime_s,
                "energy_j": result.energy_j,
                "power_w": result.power_w,
                "power_source": result.power_source,
                "is_estimate": result.is_estimate,
                "statistic": result.statistic,
            },
        )
        have = store.whole()
        if progress is not None:
            done = len([m for m in models if whole_rounds(have.get(m)) >= rounds])
            progress("whole models" if rounds == 1 else f"whole models, round {rounds}", done, total)
    return {m: have[m] for m in models if m in have}


def whole_rounds(entry: dict[str, Any] | None) -> int:
    """How many rounds a whole-model entry of the store holds (1 for an entry from before rounds)."""
    if not entry:
        return 0
    return len(entry.get("rounds") or [entry])
