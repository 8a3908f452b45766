"""Predict a model's energy, runtime and power from its layers, with intervals.

:func:`predict_energy` extracts the model's layers (on the meta device: no weights, no data), predicts each
layer's runtime (s) and power (W) with a :class:`~layerpower.predictors.bundle.PredictorBundle`, multiplies
them into energy (J), and sums. The whole-model runtime is calibrated per device
(``a·Σ runtime + b·calls``); the energy scales with it at the layers' average power. Intervals come from the
bundle's held-out errors: per layer, and for the totals from whole-model errors.

Layers the trained predictors cannot price are never silently missing (:mod:`layerpower.predictors.fallback`):
eval-mode identities cost nothing, and operations never seen in training (or kinds without training data)
get the device roofline's runtime (or median rates where the bundle has no roofline) and the kind's median power, marked
in ``predicted_by``/``power_by``, with widened intervals; ``EnergyPrediction.fallback`` says what share of
the runtime came from trained predictors. Rows that even the fallback cannot price are listed in
``left_out`` and excluded from the sums (their calls still count in the calibration's per-call term).
Convolutions whose weight is reordered above glibc's mmap threshold also pay their page faults
(:mod:`layerpower.predictors.page_faults`), at the bundle's measured cost per page, added after the
whole-model calibration.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerpower.errors import BundleError, LayerpowerError
from layerpower.predictors.bundle import PredictorBundle
from layerpower.predictors.bundle_choice import BUNDLED_ROOT, get_bundle, resolve_predictors
from layerpower.predictors.fallback import FALLBACK_FACTOR, FallbackSummary, apply_fallbacks, widen
from layerpower.predictors.metrics import apply_band

#: columns of the per-layer prediction table, in order
LAYER_OUTPUT_COLUMNS: list[str] = [
    "layer_name",
    "layer_type",
    "kind",
    "call_index",
    "flops",
    "runtime_s",
    "runtime_low_s",
    "runtime_high_s",
    "power_w",
    "power_low_w",
    "power_high_w",
    "energy_j",
    "energy_low_j",
    "energy_high_j",
    "unseen_op",
    "left_out",
    "predicted_by",
    "power_by",
    "page_faults",
    "page_fault_s",
]


@dataclass(frozen=True)
class EnergyTotal:
    """Whole-model prediction for one forward pass: energy (J), runtime (s), average power (W), with bounds.

    ``power_source``/``is_estimate`` say whether the training power came from a sensor or an estimate;
    ``calibrated`` whether the device calibration was applied; ``left_out`` the layers not predicted.
    """

    energy_j: float
    energy_low_j: float
    energy_high_j: float
    runtime_s: float
    runtime_low_s: float
    runtime_high_s: float
    avg_power_w: float
    power_source: str
    is_estimate: bool
    device_id: str
    family: str
    calibrated: bool
    left_out: list[str] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class EnergyPrediction:
    """A model's prediction: ``total`` (:class:`EnergyTotal`) and ``layers`` (one row per layer call)."""

    model: str
    batch_size: int
    dtype: str
    total: EnergyTotal
    layers: pd.DataFrame
    predictors: str  # where the bundle was loaded from
    bundled: bool  # a bundle shipped with the package
    coverage: float  # nominal coverage of the intervals
    notes: tuple[str, ...] = ()
    fallback: FallbackSummary = field(default_factory=FallbackSummary)  # the JSON "coverage" object

    def to_dict(self, per_layer: bool = False) -> dict[str, Any]:
        """JSON-able: the total, the provenance, the notes, and the layer rows on request."""
        from dataclasses import asdict

        total = {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in asdict(self.total).items()
        }
        out: dict[str, Any] = {
            "model": self.model,
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "total": total,
            "predictors": self.predictors,
            "bundled": self.bundled,
            "interval_coverage": self.coverage,
            "coverage": self.fallback.to_dict(),
            "notes": list(self.notes),
        }
        if per_layer:
            out["layers"] = [
                {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
                for row in self.layers.to_dict(orient="records")
            ]
        return out


# ---------------------------------------------------------------------------------------------- prediction


def spec_frame(specs: Sequence[Any]) -> pd.DataFrame:
    """The feature rows of ``specs`` (LayerSpecs) with their ``kind``, as the profiler writes them."""
    from layerpower.models.spec import feature_row

    rows = [{**feature_row(spec), "kind": spec.kind} for spec in specs]
    return pd.DataFrame(rows)


def predict_layers(bundle: PredictorBundle, frame: pd.DataFrame) -> pd.DataFrame:
    """Per-layer runtime (s), power (W), energy (J) with interval bounds, ``predicted_by`` and ``power_by``
    (``trained``, ``roofline``, ``median_rates``, ``identity``, ``kind_median``); NaN and a reason where
    left out even by the fallback."""
    return predict_layers_covered(bundle, frame)[0]


def predict_layers_covered(
    bundle: PredictorBundle, frame: pd.DataFrame
) -> tuple[pd.DataFrame, FallbackSummary]:
    """:func:`predict_layers` and the :class:`FallbackSummary` of its rows."""
    out = pd.DataFrame(index=frame.index)
    for column in ("layer_name", "layer_type", "kind", "call_index", "flops"):
        out[column] = frame[column] if column in frame.columns else None
    routers = bundle.routers
    runtime = routers["runtime_s"].predict(frame)
    power = routers["power_w"].predict(frame)
    if bundle.correction is not None:  # a calibrated bundle: the reference regressors, corrected
        runtime = bundle.correction.runtime(frame, runtime)
        power = bundle.correction.power_w(frame, power)
    reasons = routers["runtime_s"].left_out_reasons(frame)
    power_reasons = routers["power_w"].left_out_reasons(frame)
    reasons = np.where(reasons == "", power_reasons, reasons)
    missing = ~np.isfinite(runtime) | ~np.isfinite(power)
    runtime = np.where(missing, np.nan, runtime)
    power = np.where(missing, np.nan, power)
    energy = runtime * power
    kinds = out["kind"].astype(str).to_numpy()
    for name, values, unit in (("runtime", runtime, "s"), ("power", power, "w"), ("energy", energy, "j")):
        quantity = f"{name}_{unit}"
        low = np.full(len(frame), np.nan)
        high = np.full(len(frame), np.nan)
        for kind in set(kinds.tolist()):
            band = bundle.bands.get("layer", {}).get(kind, {}).get(quantity)
            if band is None:
                continue
            mask = kinds == kind
            low[mask], high[mask] = apply_band(values[mask], (band[0], band[1]))
        out[quantity] = values
        out[f"{name}_low_{unit}"] = low
        out[f"{name}_high_{unit}"] = high
    out["unseen_op"] = np.array(["not seen in training" in str(r) for r in reasons], dtype=bool)
    out["left_out"] = [str(r) for r in reasons]
    out, summary = apply_fallbacks(bundle, frame.reset_index(drop=True), out.reset_index(drop=True))
    out = add_page_faults(bundle, frame.reset_index(drop=True), out)
    return out[LAYER_OUTPUT_COLUMNS], summary


def add_page_faults(bundle: PredictorBundle, frame: pd.DataFrame, out: pd.DataFrame) -> pd.DataFrame:
    """``out`` with ``page_faults`` (pages refaulted per call, :mod:`layerpower.predictors.page_faults`) and
    ``page_fault_s`` (their cost, s; 0 where the bundle has no measured cost per page; both 0 for a GPU
    bundle), the cost added to the runtime and its bounds, and to the energy at the layer's power."""
    from layerpower.predictors.page_faults import bundle_pages, fault_cost_s

    pages = bundle_pages(bundle, frame)
    cost = fault_cost_s(bundle)
    seconds = pages * (cost or 0.0)
    out = out.assign(page_faults=pages, page_fault_s=seconds)
    if not seconds.any():
        return out
    priced = out["runtime_s"].notna().to_numpy() & (seconds > 0)
    for column in ("runtime_s", "runtime_low_s", "runtime_high_s"):
        out.loc[priced, column] = out.loc[priced, column] + seconds[priced]
    for energy, power in (
        ("energy_j", "power_w"),
        ("energy_low_j", "power_low_w"),
        ("energy_high_j", "power_high_w"),
    ):
        out.loc[priced, energy] = out.loc[priced, energy] + seconds[priced] * out.loc[priced, power]
    return out


def _model_band(bundle: PredictorBundle, quantity: str, calibrated: bool) -> tuple[float, float]:
    band = bundle.bands.get("model", {}).get(quantity, {}).get("calibrated" if calibrated else "raw")
    return (math.nan, math.nan) if not band else (float(band[0]), float(band[1]))


def total_from_layers(
    bundle: PredictorBundle,
    layers: pd.DataFrame,
    calibrate: bool = True,
    fallback: FallbackSummary | None = None,
) -> EnergyTotal:
    """Sum per-layer predictions into an :class:`EnergyTotal` (calibrated when the bundle has a calibration).

    With ``fallback``, the share of runtime (energy) from fallback layers gets bounds ×/÷ 2 (×/÷ 4) in place
    of the held-out whole-model band (:func:`layerpower.predictors.fallback.widen`)."""
    predicted = layers["runtime_s"].notna().to_numpy()
    sum_runtime = float(layers.loc[predicted, "runtime_s"].sum())
    sum_energy = float(layers.loc[predicted, "energy_j"].sum())
    faults = float(layers.loc[predicted, "page_fault_s"].sum()) if "page_fault_s" in layers else 0.0
    calibrated = calibrate and bundle.calibration is not None and sum_runtime > faults
    # the calibration scales what the regressors priced; the page faults are a measured cost, added as is
    runtime = (
        float(bundle.calibration.apply(sum_runtime - faults, len(layers))) + faults
        if calibrated
        else sum_runtime
    )
    energy = sum_energy * runtime / sum_runtime if sum_runtime > 0 else 0.0
    r_low, r_high = apply_band(runtime, _model_band(bundle, "runtime_s", calibrated))
    e_low, e_high = apply_band(energy, _model_band(bundle, "energy_j", calibrated))
    if fallback is not None:
        r_low, r_high = widen(r_low, runtime, r_high, 1.0 - fallback.trained_share, FALLBACK_FACTOR)
        e_low, e_high = widen(e_low, energy, e_high, 1.0 - fallback.energy_trained_share, FALLBACK_FACTOR**2)
    return EnergyTotal(
        energy_j=energy,
        energy_low_j=float(e_low),
        energy_high_j=float(e_high),
        runtime_s=runtime,
        runtime_low_s=float(r_low),
        runtime_high_s=float(r_high),
        avg_power_w=energy / runtime if runtime > 0 else math.nan,
        power_source=bundle.power_source,
        is_estimate=bundle.is_estimate,
        device_id=bundle.device_id,
        family=bundle.family,
        calibrated=calibrated,
        left_out=[str(n) for n in layers.loc[~predicted, "layer_name"]],
    )


def _notes(
    bundle: PredictorBundle, layers: pd.DataFrame, model: str, batch_size: int, dtype: str
) -> list[str]:
    notes: list[str] = []
    if model and model in (bundle.training.get("models") or []):
        notes.append(
            f"{model} is one of the models the predictors were trained on; the intervals are "
            "calibrated on models held out of training"
        )
    dtypes = bundle.training.get("dtypes") or []
    if dtypes and dtype not in dtypes:
        notes.append(f"the predictors were trained on {', '.join(dtypes)} only; {dtype} is an extrapolation")
    sizes = bundle.training.get("batch_sizes") or []
    if sizes and not min(sizes) <= batch_size <= max(sizes):
        notes.append(f"batch size {batch_size} lies outside the trained range {min(sizes)}-{max(sizes)}")
    left = layers[layers["left_out"] != ""]
    for reason, count in left.groupby("left_out").size().items():
        notes.append(f"left out {count} layer call(s): {reason}")
    from layerpower.predictors.page_faults import fault_cost_s, fault_note, heap_note

    if "page_faults" in layers:
        note = fault_note(layers["page_faults"].to_numpy(), fault_cost_s(bundle), bundle.device_id)
        notes += [note] if note else []
    heap = heap_note(bundle)
    notes += [heap] if heap else []
    return notes


def predict_frame(
    frame: pd.DataFrame,
    bundle: PredictorBundle,
    *,
    model: str = "",
    batch_size: int = 1,
    dtype: str = "float32",
    predictors: str = "",
    bundled: bool = False,
    calibrate: bool = True,
) -> EnergyPrediction:
    """Predict from layer rows (``feature_row`` columns plus ``kind``), see :func:`predict_energy`."""
    if frame.empty:
        raise LayerpowerError(f"model {model!r} has no layers to predict", "check the model definition")
    layers, summary = predict_layers_covered(bundle, frame)
    total = total_from_layers(bundle, layers, calibrate, summary)
    return EnergyPrediction(
        model,
        batch_size,
        dtype,
        total,
        layers,
        predictors,
        bundled,
        bundle.coverage,
        tuple(_notes(bundle, layers, model, batch_size, dtype)),
        summary,
    )


def predict_specs(specs: Sequence[Any], bundle: PredictorBundle, **kwargs: Any) -> EnergyPrediction:
    """Predict from LayerSpecs already extracted (keywords as :func:`predict_frame`)."""
    return predict_frame(spec_frame(specs), bundle, **kwargs)


def predict_energy(
    model: str,
    batch_size: int = 1,
    dtype: str = "fp32",
    device_id: str | None = None,
    predictors: str | PathLike[str] | PredictorBundle | None = None,
    calibrate: bool = True,
    input_shape: Sequence[int] | str | None = None,
    input_dtype: str | None = None,
    seq_len: int | None = None,
) -> EnergyPrediction:
    """Predict the energy (J), runtime (s) and average power (W) of one forward pass of ``model``.

    ``model`` is a zoo name (``"vgg16"``) or ``"package.module:factory"``; ``predictors`` a bundle folder, a
    folder of bundles, or a loaded bundle; by default the bundle shipped for ``device_id`` (or this machine).
    The layers are extracted on the meta device (no weights, no data); zoo models' rows are cached on disk
    (:mod:`layerpower.predictors.layer_cache`). ``input_shape`` (per sample; ``"3x224x224"`` or a sequence),
    ``input_dtype`` (``"long"``) and ``seq_len`` (``name@seq=N``) override the model's declared inputs
    (:mod:`layerpower.models.inputs`).
    """
    from layerpower.models.dtypes import normalize_dtype
    from layerpower.predictors.layer_cache import layer_frame

    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise LayerpowerError(
            f"batch size {batch_size!r} is not a positive integer", "use e.g. --batch-size 8"
        )
    canonical = normalize_dtype(dtype)
    if isinstance(predictors, PredictorBundle):
        bundle, where, bundled = predictors, str(predictors.path or "in memory"), False
    else:
        path, where = resolve_predictors(device_id, predictors)
        bundle = get_bundle(path)
        bundled = predictors is None and Path(path).resolve().is_relative_to(BUNDLED_ROOT)
    if device_id is not None and bundle.device_id != device_id:
        raise BundleError(
            f"the predictors in {where} are for {bundle.device_id!r}, not {device_id!r}",
            "drop --device-id or pass that device's predictors",
        )
    from layerpower.models.zoo import with_seq_len

    model = with_seq_len(model, seq_len)
    if input_shape is None and input_dtype is None:
        frame = layer_frame(model, int(batch_size), canonical)
    else:  # not cached: the cache is keyed by name, batch size and dtype only
        from layerpower.models.layers import extract_layers

        specs = extract_layers(model, int(batch_size), canonical, input_shape, input_dtype)
        frame = spec_frame(specs)
    return predict_frame(
        frame,
        bundle,
        model=model,
        batch_size=int(batch_size),
        dtype=canonical,
        predictors=where,
        bundled=bundled,
        calibrate=calibrate,
    )
