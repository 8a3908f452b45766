"""The rows the profiler writes: one per layer call (per kind) and one per model, and their checks.

Units as in :mod:`layerpower.config.schema`: seconds, watts, joules. ``dynamic_power_w`` is the measured
power less the idle power measured before the layers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from layerpower.config.schema import LAYER_COLUMNS, MODEL_COLUMNS, SCHEMA_VERSION
from layerpower.config.vocab import LAYER_KINDS

#: bounds beyond which a configuration's figures disagree so much that the machine was likely disturbed
CONSISTENCY_BOUNDS: dict[str, tuple[float, float]] = {
    "sum_runtime_over_whole": (0.5, 2.0),  # in-context layers vs the whole model
    "sum_isolated_over_sum_runtime": (1 / 3, 3.0),  # layers alone vs the same layers in context
    "whole_runtime_cv": (0.0, 0.35),  # the whole model across fresh processes (without their runtimes)
    # the median |deviation| from the median across fresh processes, over the median: small while most
    # processes agree, so one slow process of three (whose time the median ignores) is not a disturbance
    "whole_runtime_mad": (0.0, 0.15),
}


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


def consistency(
    model_row: dict[str, Any], whole_cv: float, process_runtimes: Sequence[float] = ()
) -> dict[str, Any]:
    """Ratios that should be near 1 (and a spread near 0) on a quiet machine, and which ones are far off.

    A neighbour taking a core slows a 2-thread CPU run tenfold for as long as it runs; these figures make
    such a disturbed configuration visible in meta.json (``problems`` lists what is out of bounds). With
    the whole model's per-process runtimes (s; two or more), its spread is judged by
    ``whole_runtime_mad``, which the reported median is robust to, and the CV is only reported.
    """
    whole = float(model_row["runtime_s"])
    context = float(model_row["sum_runtime_s"])
    isolated = float(model_row["sum_runtime_isolated_s"])
    figures = {
        "sum_runtime_over_whole": context / whole if whole > 0 else float("nan"),
        "sum_isolated_over_sum_runtime": isolated / context if context > 0 else float("nan"),
        "whole_runtime_cv": float(whole_cv),
    }
    judged = set(figures)
    runtimes = [float(t) for t in process_runtimes if math.isfinite(float(t))]
    if len(runtimes) >= 2:
        import statistics

        median = statistics.median(runtimes)
        mad = statistics.median(abs(t - median) for t in runtimes)
        figures["whole_runtime_mad"] = mad / median if median > 0 else float("nan")
        judged = (judged - {"whole_runtime_cv"}) | {"whole_runtime_mad"}
    problems = []
    for name, value in figures.items():
        if name not in judged:
            continue
        low, high = CONSISTENCY_BOUNDS[name]
        if value == value and not low <= value <= high:
            problems.append(f"{name} = {value:.2f}, expected {low:.2f}..{high:.2f}")
    return {**{k: round(v, 4) for k, v in figures.items()}, "problems": problems}


def layer_row(
    spec: Any, features: dict[str, Any], result: Any, idle_w: float, device_id: str, model: str
) -> dict[str, Any]:
    """One layer call's row (``LAYER_COLUMNS[spec.kind]``) from its features and its isolated ``result``
    (runtime in s, power in W, energy in J); ``runtime_s`` and ``measured_as`` are the caller's to fill."""
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


def config_layer_rows(
    wanted: Sequence[Any],
    groups: dict[int, list[int]],
    results: dict[int, Any],
    runtimes_s: dict[tuple[str, int], float],
    idle_w: float,
    device_id: str,
    model: str,
) -> dict[str, list[dict[str, Any]]]:
    """kind -> one row per call in ``wanted`` (in forward order). ``groups`` maps each measured layer's index
    to every index sharing its isolated ``results``; repeats name their leader in ``measured_as``.
    ``runtimes_s`` are the in-context runtimes (s) by (layer name, call index); idle power in W."""
    from layerpower.models.spec import feature_row

    rows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in LAYER_KINDS}
    for index, members in groups.items():
        result = results[index]
        for member in members:
            spec = wanted[member]
            row = layer_row(spec, feature_row(spec), result, idle_w, device_id, model)
            row["runtime_s"] = runtimes_s.get((spec.name, spec.call_index), float("nan"))
            row["measured_as"] = "" if member == index else wanted[index].name
            rows[spec.kind].append(row)
    position = {(s.name, s.call_index): i for i, s in enumerate(wanted)}
    for kind in LAYER_KINDS:
        rows[kind].sort(key=lambda r: position[(r["layer_name"], int(r["call_index"]))])
    return rows


def model_row(
    whole: Any, model: str, device_id: str, idle_w: float, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """The model's row (``MODEL_COLUMNS``): the whole-model result and the sums over its layer ``rows``."""
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


def _nansum(values: Iterable[float | None]) -> float:
    return float(sum(v for v in values if v is not None and not math.isnan(v)))


def dedup_groups(specs: Sequence[Any], dedup: bool) -> dict[int, list[int]]:
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
