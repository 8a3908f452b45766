"""``calibrate``: measure the probe set here within a budget, fit the correction, write this device's bundle.

The bundle written keeps the reference bundle's regressors and adds the device correction
(:mod:`layerpower.predictors.correction`) and the reference's whole-model calibration scaled by a device
factor fitted here (:func:`layerpower.calibrate.fit.fit_whole`); its whole-model bands are the reference's
widened in quadrature by the leave-one-probe-out error of that factor (:func:`widen_band`); its manifest's
``calibrated`` entry holds the provenance, and on a CPU the measured cost per refaulted page
(``page_faults``: :mod:`layerpower.profiling.fault_cost`, priced by :mod:`layerpower.predictors.page_faults`).
It goes to ``<user data dir>/predictors/<device-id>/`` (:mod:`layerpower.predictors.locations`) unless
``out`` says otherwise, never into the package's folder.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from layerpower.calibrate import probes as P
from layerpower.errors import BundleError, LayerpowerError
from layerpower.predictors.bundle import MANIFEST, PredictorBundle, load_bundle, read_manifest, save_bundle
from layerpower.predictors.calibration import IDENTITY

#: fewest layer probes a correction is fitted on
MIN_LAYER_PROBES = 12
DEFAULT_BUDGET_S = 180.0
PACKAGE_DIR = Path(__file__).resolve().parents[1]


@dataclass
class CalibrationResult:
    """The calibrated bundle (written to ``path``), the time spent (s) and what is worth saying."""

    bundle: PredictorBundle
    path: Path
    wall_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def provenance(self) -> dict[str, Any]:
        return self.bundle.calibrated


def reference_path(reference: str | PathLike[str] | None, device_id: str) -> Path:
    """The reference bundle: ``reference``, else the package's bundle (this device's, else the nearest:
    :func:`~layerpower.predictors.bundle_choice.nearest_device`)."""
    from layerpower.predictors.bundle_choice import BUNDLED_ROOT, bundled_devices, nearest_device

    if reference is not None:
        return Path(reference)
    devices = bundled_devices()
    if not devices:
        raise BundleError(f"no bundle ships in {BUNDLED_ROOT}", "pass --reference PATH")
    return BUNDLED_ROOT / (device_id if device_id in devices else nearest_device(devices, [device_id]))


def check_output(out: Path, device_id: str) -> None:
    """Refuse an output folder in the package, or holding a corrupt or another device's bundle."""
    if out.resolve().is_relative_to(PACKAGE_DIR):
        raise LayerpowerError(f"{out}: inside the installed package", "write elsewhere (--out DIR)")
    if (out / MANIFEST).exists():
        manifest = read_manifest(out)  # a corrupt manifest is refused with its path
        if manifest.get("device_id") != device_id or not manifest.get("calibrated"):
            raise BundleError(
                f"{out}: holds a bundle for {manifest.get('device_id')!r}"
                + ("" if manifest.get("calibrated") else " that calibrate did not write"),
                "choose another --out, or remove that folder",
            )


def _source_name(power_source: str | None) -> str:
    from layerpower.profiling.power import get_source

    return str(get_source(power_source).name)


def _whole_predictions(bundle: PredictorBundle) -> dict[str, tuple[float, int, Any]]:
    """Per whole probe: (Σ predicted layer runtime s, layer calls, frame) under ``bundle``."""
    from layerpower.predictors.energy import predict_layers
    from layerpower.predictors.layer_cache import layer_frame

    out = {}
    for name in P.WHOLE_PROBES:
        frame = layer_frame(name, 1, "float32")
        layers = predict_layers(bundle, frame)
        out[name] = (float(layers["runtime_s"].sum(skipna=True)), len(frame), frame)
    return out


def widen_band(band: tuple[float, float], width: float) -> tuple[float, float]:
    """A log-ratio band ``(lo, hi)`` widened by an independent log error ``width``, in quadrature.

    Each side's distance from a pivot grows to ``sqrt(distance² + width²)``. The pivot is 0 when the band
    holds it (``lo' = −sqrt(lo² + w²)``, ``hi' = sqrt(hi² + w²)``); for a band on one side of 0 it is the
    band's end nearest 0, which then moves by ``width`` (``lo > 0``: ``lo' = lo − w``,
    ``hi' = lo + sqrt((hi − lo)² + w²)``), so the result is continuous as an end crosses 0.
    """
    lo, hi = band
    if not (math.isfinite(width) and width > 0):
        return lo, hi
    pivot = min(max(0.0, lo), hi)
    return (
        pivot - math.sqrt((pivot - lo) ** 2 + width**2),
        pivot + math.sqrt((hi - pivot) ** 2 + width**2),
    )


def _widen(bands: dict[str, Any], width: float) -> dict[str, Any]:
    """``bands`` with every finite whole-model band widened by ``width`` (log) (:func:`widen_band`)."""
    out = copy.deepcopy(bands)
    for quantity in (out.get("model") or {}).values():
        for key, band in quantity.items():
            if band and all(isinstance(v, float) and math.isfinite(v) for v in band):
                quantity[key] = list(widen_band((band[0], band[1]), width))
    return out


def calibrate(
    device: str = "cpu",
    budget_s: float = DEFAULT_BUDGET_S,
    out: str | PathLike[str] | None = None,
    reference: str | PathLike[str] | None = None,
    *,
    power_source: str | None = None,
    progress: P.Progress | None = None,
) -> CalibrationResult:
    """Measure the fixed probe set within ``budget_s`` seconds and write this device's calibrated bundle.

    Resumes from the partial probes in the output folder. Raises :class:`LayerpowerError` when the budget
    is below the fixed overhead (naming the minimum), or when fewer than :data:`MIN_LAYER_PROBES` probes
    were measured (the ones measured are kept for the next run).
    """
    from layerpower.hardware import cpu_model_name, device_id
    from layerpower.predictors.data import file_sha256
    from layerpower.predictors.locations import user_bundle_dir

    start = time.monotonic()
    dev_id = device_id(device)
    ref_path = reference_path(reference, dev_id)
    ref = load_bundle(ref_path)
    if ref.correction is not None:
        raise BundleError(f"{ref_path}: a calibrated bundle", "calibrate from a trained (reference) bundle")
    target = Path(out) if out is not None else user_bundle_dir(dev_id)
    check_output(target, dev_id)
    source = _source_name(power_source)
    overhead = P.estimate_overhead(source)
    if budget_s < overhead.minimum_s:
        raise LayerpowerError(
            f"a budget of {budget_s:g} s is below the minimum of {math.ceil(overhead.minimum_s)} s "
            f"({overhead.describe()})",
            f"use --budget {math.ceil(overhead.minimum_s)} or more (180 s measures the whole probe set)",
        )
    deadline = start + budget_s - overhead.fit_s
    store = P.ProbeStore(target)
    whole_pred = {name: v[0] for name, v in _whole_predictions(ref).items()}
    pending = [m for m in whole_pred if m not in store.whole()]
    reserve = sum(P.whole_cost_s(whole_pred[m]) for m in pending)
    fault_reserve = P.FAULT_PROBE_S if str(device).startswith("cpu") and not store.page_faults() else 0.0
    specs = P.probe_specs()
    begun, pending_probes = time.monotonic(), len(P.pass_todo(specs, store))
    layers = P.measure_layer_probes(
        specs,
        store,
        device=device,
        deadline=deadline - reserve - fault_reserve,
        power_source=power_source,
        progress=progress,
    )
    measured_here = pending_probes - len(P.pass_todo(specs, store))
    per_probe_s = (time.monotonic() - begun) / measured_here if measured_here else overhead.one_probe_s
    faults = P.measure_fault_probe(store, device=device, deadline=deadline - reserve, progress=progress)
    whole = P.measure_whole_probes(
        whole_pred, store, device=device, deadline=deadline, power_source=power_source, progress=progress
    )
    passes = 1
    round_s = sum(P.whole_cost_s(whole_pred[m]) for m in whole_pred)
    while passes < P.MAX_PASSES and len(layers) == len(specs) and len(whole) == len(whole_pred):
        # a further pass only when all of it and a round of the whole models fit before the fit
        todo = len(P.pass_todo(specs, store, passes))
        if time.monotonic() + todo * per_probe_s + round_s > deadline:
            break
        layers = P.measure_layer_probes(
            specs,
            store,
            device=device,
            deadline=deadline - round_s,
            power_source=power_source,
            progress=progress,
            pass_index=passes,
        )
        whole = P.measure_whole_probes(
            whole_pred,
            store,
            device=device,
            deadline=deadline,
            power_source=power_source,
            progress=progress,
            rounds=passes + 1,
        )
        passes += 1
    # the complete passes (the first counts when cut short: "layers" says how far it got)
    passes = max(1, sum(1 for n in range(passes) if not P.pass_todo(specs, store, n)))
    if len(layers) < MIN_LAYER_PROBES:
        raise LayerpowerError(
            f"measured {len(layers)} of {len(specs)} probes within {budget_s:g} s; at least "
            f"{MIN_LAYER_PROBES} are needed for a fit",
            f"run calibrate again (the {len(layers)} measured are kept in {store.layers_path}) or raise --budget",
        )
    from layerpower.calibrate.fit import fit_device, fit_power_correction, fit_whole

    correction, held = fit_device(ref, layers, dev_id)
    estimate = "is_estimate" in layers and bool(layers["is_estimate"].astype(bool).any())
    sensor = not estimate and source != "estimate"
    notes: list[str] = []
    power_note = "power stays an estimate: no sensor here, and estimates are not used to correct power"
    power_figures: dict[str, Any] = {}
    if sensor:
        coef, power_figures = fit_power_correction(ref, layers)
        correction = replace(correction, power=coef)
        power_note = f"power corrected per kind from probes measured with {source}"
    notes.append(power_note)
    bundle = PredictorBundle(
        family=ref.family,
        device_id=dev_id,
        power_source=source if sensor else ref.power_source,
        is_estimate=not sensor and ref.is_estimate,
        routers=ref.routers,
        calibration=None,
        bands=ref.bands,
        coverage=ref.coverage,
        training=ref.training,
        evaluation=ref.evaluation,
        correction=correction,
    )
    corrected = _whole_predictions(bundle)
    names = list(whole)
    measured = np.array([whole[m]["runtime_s"] for m in names], dtype=np.float64)
    calls = np.array([corrected[m][1] for m in names], dtype=np.float64)
    # paired with the reference's own measurement of each probe model: take the reference's error on that
    # model out, so that only the device difference the layer correction missed is fitted
    from layerpower.calibrate.reference import paired_whole

    there = paired_whole(ref, names)
    if len(names) and np.isfinite(there).all():
        ref_sums = np.array([whole_pred[m] for m in names], dtype=np.float64)
        ref_pred = (ref.calibration or IDENTITY).apply(ref_sums, calls)
        fitted_on = measured * ref_pred / there
        whole_pairing = "paired: measured here x (reference prediction / reference measurement) per probe"
    else:
        fitted_on = measured
        whole_pairing = "against the reference's predictions of the probe models"
    calibration, whole_figures = fit_whole(
        np.array([corrected[m][0] for m in names]), calls, fitted_on, ref.calibration
    )
    whole_figures["pairing"] = whole_pairing
    whole_figures["measured_runtime_s"] = {m: whole[m]["runtime_s"] for m in names}
    whole_figures["reference_measured_runtime_s"] = {
        m: float(t) for m, t in zip(names, there, strict=True) if math.isfinite(t)
    }
    bundle.calibration = calibration
    width = whole_figures.get("widening_log", math.nan)
    if not math.isfinite(width):  # below two whole-model probes: the held-out layer-probe error
        width = abs(math.log1p(held["corrected"]["median_ape"] or 0.0))
        whole_figures["widening_rule"] = (
            "held-out median |error| of the layer probes (below two whole probes)"
        )
    bundle.bands = _widen(ref.bands, width)
    probed_ops = set(layers["kind"].astype(str) + "/" + layers["layer_type"].astype(str))
    unprobed = sorted(f"other/{op}" for op in ref.layer_types if f"other/{op}" not in probed_ops)
    uncalibrated = [
        power_note if not sensor else "power: the reference's per-layer shape, shifted per kind",
        "in-context/isolated gap: the reference's context factor"
        if ref.training.get("context")
        else "in-context/isolated gap: not in the reference; absorbed by the whole-model calibration",
        "layer interval bands: the reference's leave-one-model-out bands",
    ]
    if unprobed:
        uncalibrated.append(f"operations without probes take their kind's correction: {', '.join(unprobed)}")
    if "skipped" in faults:
        uncalibrated.append(
            f"page faults of convolution weights reordered above 32 MiB: not priced ({faults['skipped']})"
        )
    if calibration is None:
        uncalibrated.append(
            "whole-model calibration: none (no whole-model probe measured, none in the reference)"
        )
    elif calibration is ref.calibration:
        uncalibrated.append(
            "whole-model calibration: no whole-model probe measured; the reference's, without a device factor"
        )
    elif len(names) == 1:
        uncalibrated.append(
            "whole-model calibration: the device factor from one whole-model probe; the interval widening "
            "from the held-out layer probes"
        )
    bundle.calibrated = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": device,
        "cpu_model": cpu_model_name(),
        "reference_device": ref.device_id,
        "reference_family": ref.family,
        "reference_bundle": str(ref_path),
        "reference_bundle_sha256": file_sha256(Path(ref_path) / MANIFEST),
        "probes": {
            "layers": int(len(layers)),
            "layers_planned": len(specs),
            "passes": passes,
            "passes_rule": (
                f"up to {P.MAX_PASSES} passes over the layer probes and rounds of the whole models while the "
                "budget holds a whole one; each probe's measurement is the median over its passes"
            ),
            "seed": P.PROBE_SEED,
            "by_kind": {str(k): int(v) for k, v in layers["kind"].value_counts().items()},
            "whole_models": names,
        },
        "budget_s": float(budget_s),
        "time_spent_s": round(time.monotonic() - start, 2),
        "held_out_probe_error": held,
        "whole_model": whole_figures,
        "power": power_figures or power_note,
        "interval_widening_log": width,
        "page_faults": faults or None,
        "uncalibrated": uncalibrated,
    }
    save_bundle(bundle, target)
    store.finish()
    return CalibrationResult(bundle, target, time.monotonic() - start, notes)
