"""Layers the trained predictors cannot price: eval-mode identities, and operations never seen in training.

Nothing is silently missing from a prediction. Each layer row is ``predicted_by`` one of

* ``trained``: the bundle's per-kind regressors;
* ``identity``: an eval-mode identity (dropout of any variant, ``Identity``, stochastic depth): runtime,
  power and energy 0;
* ``roofline``: an operation unseen in training (or a kind without training data) priced by the bundle's
  device roofline from its FLOPs and bytes moved (``runtime_s = c_f·flops + c_b·bytes + t0``, the xgboost
  router's ``roofline_``);
* ``median_rates``: where the bundle has no roofline (random-forest and polynomial bundles), no new fit:
  ``max(bytes · median s/byte of the kind, flops · median s/FLOP of dense and convolutional layers)``, the
  medians stored in the bundle (``training_data.kind_medians[kind].runtime_per_byte_s`` and
  ``...runtime_per_flop_s``) or else taken over this prediction's layers priced by the trained predictors
  (``FallbackSummary.runtime_method`` says which). The FLOP term keeps a compute-bound operation
  (attention) from being priced as a memory-bound one.

A fallback layer's power (``power_by``: ``kind_median``) is the median power of its kind: the bundle's
(``training_data.kind_medians[kind].power_w``) where stored, else the median predicted power of this
prediction's trained layers of the kind (of all kinds when it has none).

Intervals do not pretend: a fallback layer's runtime and power bounds are its value ×/÷
:data:`FALLBACK_FACTOR` (2), so its energy bounds are ×/÷ 4; in the totals, the share of runtime (energy)
that comes from fallback layers gets those bounds instead of the held-out whole-model band.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from layerpower.models.ops import IDENTITY_TYPES

TRAINED = "trained"
ROOFLINE = "roofline"
MEDIAN_RATES = "median_rates"
IDENTITY = "identity"
KIND_MEDIAN = "kind_median"

#: a fallback layer's runtime and power bounds are its value ×/÷ this factor
FALLBACK_FACTOR = 2.0


@dataclass(frozen=True)
class FallbackSummary:
    """What share of a prediction comes from trained predictors, and what fell back to what.

    ``trained_share``: share of the summed layer runtime (s, before calibration) from trained predictors;
    ``energy_trained_share`` the same for energy; ``fallback``: ``{predicted_by: {op: calls}}`` for the
    ``roofline``/``median_rates`` rows; ``identity``: ``{op: calls}``; ``left_out_calls``: rows still
    unpriced; ``runtime_method``/``power_method``: how fallback runtimes and powers were obtained.
    """

    trained_share: float = 1.0
    energy_trained_share: float = 1.0
    fallback: dict[str, dict[str, int]] = field(default_factory=dict)
    identity: dict[str, int] = field(default_factory=dict)
    left_out_calls: int = 0
    runtime_method: str = ""
    power_method: str = ""

    def line(self) -> str:
        """``coverage: 97.8 % of runtime from trained predictors; roofline for softmax (12 calls), roll (4)``."""
        text = f"coverage: {100 * self.trained_share:.1f} % of runtime from trained predictors"
        for source, ops in self.fallback.items():
            name = "roofline" if source == ROOFLINE else "median rates"
            text += f"; {name} for " + _counts(ops)
        if self.fallback and self.power_method:
            text += f"; their power: {self.power_method}"
        if self.identity:
            text += "; identities (no cost): " + _counts(self.identity)
        if self.left_out_calls:
            text += f"; {self.left_out_calls} layer call(s) left out"
        return text

    def to_dict(self) -> dict[str, Any]:
        """The JSON ``coverage`` object."""
        return {
            "trained_runtime_share": self.trained_share,
            "trained_energy_share": self.energy_trained_share,
            "fallback": {source: dict(ops) for source, ops in self.fallback.items()},
            "identity": dict(self.identity),
            "left_out_calls": self.left_out_calls,
            "runtime_method": self.runtime_method or None,
            "power_method": self.power_method or None,
            "line": self.line(),
        }


def _counts(ops: dict[str, int]) -> str:
    items = sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{op} ({n} calls)" if i == 0 else f"{op} ({n})" for i, (op, n) in enumerate(items))


def _moved(frame: pd.DataFrame) -> np.ndarray:
    from layerpower.predictors.features import source_column

    return np.nan_to_num(source_column(frame, "bytes_moved"))


def _stored_median(bundle: Any, kind: str, key: str) -> float | None:
    value = ((bundle.training or {}).get("kind_medians") or {}).get(kind, {}).get(key)
    return float(value) if value is not None and np.isfinite(value) and value > 0 else None


def _median(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values) & (values > 0)]
    return float(np.median(values)) if len(values) else None


def apply_fallbacks(
    bundle: Any, frame: pd.DataFrame, layers: pd.DataFrame
) -> tuple[pd.DataFrame, FallbackSummary]:
    """Fill the rows the trained predictors left out (see the module docstring); ``layers`` is
    :func:`layerpower.predictors.energy.predict_layers`'s table, aligned with ``frame`` (feature rows)."""
    out = layers.copy()
    n = len(out)
    types = out["layer_type"].astype(str).to_numpy()
    kinds = out["kind"].astype(str).to_numpy()
    runtime = out["runtime_s"].to_numpy(dtype=np.float64).copy()
    power = out["power_w"].to_numpy(dtype=np.float64).copy()
    by = np.full(n, TRAINED, dtype=object)
    power_by = np.full(n, TRAINED, dtype=object)
    trained = np.isfinite(runtime) & np.isfinite(power)
    identity = np.isin(types, list(IDENTITY_TYPES))
    missing = ~trained & ~identity
    by[~trained] = ""
    power_by[~trained] = ""
    by[identity] = IDENTITY
    power_by[identity] = IDENTITY
    runtime[identity] = 0.0
    power[identity] = 0.0

    moved = _moved(frame.reset_index(drop=True))
    flops = np.nan_to_num(pd.to_numeric(frame["flops"], errors="coerce").to_numpy(dtype=np.float64))
    roofline = tuple(getattr(bundle.routers["runtime_s"], "roofline_", ()) or ())
    runtime_method = power_method = ""
    used = trained & ~identity
    if missing.any() and roofline:
        from layerpower.predictors.roofline import roofline_time

        runtime[missing] = roofline_time(flops[missing], moved[missing], roofline)  # type: ignore[arg-type]
        by[missing] = ROOFLINE
        runtime_method = "the bundle's device roofline (FLOPs and bytes moved)"
    elif missing.any():
        sources = set()
        compute = used & np.isin(kinds, ["dense", "convolutional"]) & (flops > 0)
        per_flop = _median(runtime[compute] / flops[compute]) if compute.any() else None
        for kind in sorted(set(kinds[missing].tolist())):
            rows = missing & (kinds == kind)
            per_byte = _stored_median(bundle, kind, "runtime_per_byte_s")
            kind_per_flop = _stored_median(bundle, kind, "runtime_per_flop_s") or per_flop
            if per_byte is not None:
                sources.add("the bundle's")
            else:
                ok = used & (moved > 0)
                same = ok & (kinds == kind)
                per_byte = _median(runtime[same] / moved[same]) if same.any() else None
                if per_byte is None:
                    per_byte = _median(runtime[ok] / moved[ok]) if ok.any() else None
                sources.add("this prediction's trained layers'")
            if per_byte is not None:
                runtime[rows] = np.maximum(per_byte * moved[rows], (kind_per_flop or 0.0) * flops[rows])
                by[rows] = MEDIAN_RATES
        runtime_method = (
            "max of the kind's median time per byte and the dense/convolutional median time per FLOP "
            f"({' and '.join(sorted(sources))}; no roofline in the bundle)"
        )
    filled = missing & np.isfinite(runtime)
    if filled.any():
        sources = set()
        for kind in sorted(set(kinds[filled].tolist())):
            rows = filled & (kinds == kind)
            value = _stored_median(bundle, kind, "power_w")
            if value is not None:
                sources.add("the bundle's")
            else:
                value = _median(power[used & (kinds == kind)]) or _median(power[used])
                sources.add("this prediction's trained layers'")
            if value is not None:
                power[rows] = value
                power_by[rows] = KIND_MEDIAN
        power_method = f"median power of the kind ({' and '.join(sorted(sources))})"
    filled = missing & np.isfinite(runtime) & np.isfinite(power)
    runtime[missing & ~filled] = np.nan
    power[missing & ~filled] = np.nan
    by[missing & ~filled] = ""
    power_by[missing & ~filled] = ""

    energy = runtime * power
    out["runtime_s"], out["power_w"], out["energy_j"] = runtime, power, energy
    for name, values, unit, factor in (
        ("runtime", runtime, "s", FALLBACK_FACTOR),
        ("power", power, "w", FALLBACK_FACTOR),
        ("energy", energy, "j", FALLBACK_FACTOR**2),
    ):
        low, high = (
            out[f"{name}_low_{unit}"].to_numpy(dtype=np.float64),
            out[f"{name}_high_{unit}"].to_numpy(dtype=np.float64),
        )
        low, high = low.copy(), high.copy()
        low[filled], high[filled] = values[filled] / factor, values[filled] * factor
        low[identity], high[identity] = 0.0, 0.0
        out[f"{name}_low_{unit}"], out[f"{name}_high_{unit}"] = low, high
    left = out["left_out"].astype(str).to_numpy().copy()
    left[filled | identity] = ""
    out["left_out"] = left
    out["predicted_by"] = by
    out["power_by"] = power_by

    total_runtime = float(np.nansum(runtime))
    total_energy = float(np.nansum(energy))
    fallback: dict[str, dict[str, int]] = {}
    for source in (ROOFLINE, MEDIAN_RATES):
        rows = by == source
        if rows.any():
            fallback[source] = dict(Counter(types[rows].tolist()))
    summary = FallbackSummary(
        trained_share=float(np.nansum(runtime[used])) / total_runtime if total_runtime > 0 else 1.0,
        energy_trained_share=float(np.nansum(energy[used])) / total_energy if total_energy > 0 else 1.0,
        fallback=fallback,
        identity=dict(Counter(types[identity].tolist())),
        left_out_calls=int((missing & ~filled).sum()),
        runtime_method=runtime_method if filled.any() else "",
        power_method=power_method if filled.any() else "",
    )
    return out, summary


def widen(low: float, value: float, high: float, fallback_share: float, factor: float) -> tuple[float, float]:
    """Total bounds where ``fallback_share`` of ``value`` comes from fallback layers: that part gets
    ``value·share ÷/× factor``, the rest keeps the band ``[low, high]`` scaled to its share."""
    share = min(max(fallback_share, 0.0), 1.0)
    if share == 0.0 or not np.isfinite(value):
        return low, high
    trained = 1.0 - share
    lo = (low * trained if np.isfinite(low) else value * trained) + value * share / factor
    hi = (high * trained if np.isfinite(high) else value * trained) + value * share * factor
    return float(lo), float(hi)
