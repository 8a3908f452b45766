"""Fit what differs between this device and the reference bundle's, from the probes measured here.

1. The probe layers' target here is their isolated runtime times the reference's context factor
   (``training_data.context`` in its manifest: in-context / isolated per kind/op; 1 when absent, and then the
   whole-model calibration absorbs the gap).
2. Rooflines (c_f s/FLOP, c_b s/byte, t0 s) fitted to the reference predictions of the probes and to the
   probes' targets here; the per-group log-space correction of
   :class:`~layerpower.predictors.correction.DeviceCorrection` on top, with and without the roofline ratio.
   The probes are split (fit on :data:`FIT_SHARE`, error on the rest); the variant with the lower held-out
   error is kept and refitted on all probes.
3. Power, only where the probes' power came from a sensor: a shrunk per-kind log-ratio.
4. The whole-model calibration ``runtime ≈ a·Σ layers + b·calls`` from the whole-model probes, predicted
   through the corrected bundle (leave-one-out error when there are three or more).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from layerpower.predictors.bundle import PredictorBundle
from layerpower.predictors.calibration import Calibration, fit_calibration
from layerpower.predictors.correction import DeviceCorrection, fit_groups, fit_power
from layerpower.predictors.metrics import regression_metrics

#: share of the probes the held-out check fits on (the rest measures its error)
FIT_SHARE = 0.7
SPLIT_SEED = 7


def probe_target(reference: PredictorBundle, probes: pd.DataFrame) -> np.ndarray:
    """In-context runtime (s) of the probes here: isolated runtime × the reference's context factor."""
    from layerpower.predictors.sampled import context_factors

    isolated = pd.to_numeric(probes["runtime_isolated_s"], errors="coerce").to_numpy(dtype=np.float64)
    context = reference.training.get("context")
    return isolated * context_factors(probes, context) if context else isolated


def _roofline(frame: pd.DataFrame, runtime: np.ndarray) -> tuple[float, ...]:
    from layerpower.predictors.features import source_column
    from layerpower.predictors.roofline import fit_roofline

    try:
        return fit_roofline(source_column(frame, "flops"), source_column(frame, "bytes_moved"), runtime)
    except ValueError:
        return ()


def _fit(
    reference: PredictorBundle,
    frame: pd.DataFrame,
    ref_t: np.ndarray,
    target: np.ndarray,
    device_id: str,
    use_roofline: bool,
) -> DeviceCorrection:
    r_a, r_b = (_roofline(frame, ref_t), _roofline(frame, target)) if use_roofline else ((), ())
    shell = DeviceCorrection(reference.device_id, device_id, {}, 0.0, bool(r_a and r_b), r_a, r_b)
    groups, center = fit_groups(frame, shell.base(frame, ref_t), target)
    return DeviceCorrection(reference.device_id, device_id, groups, center, shell.use_roofline, r_a, r_b)


def _figures(measured: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    m = regression_metrics(measured, predicted)
    return {"n": m["n"], "median_ape": m["median_ape"], "within_10": m["within_10"], "mape": m["mape"]}


def fit_device(
    reference: PredictorBundle, probes: pd.DataFrame, device_id: str
) -> tuple[DeviceCorrection, dict[str, Any]]:
    """The correction of ``device_id`` over ``reference`` and its held-out figures (fractions)."""
    frame = probes.reset_index(drop=True)
    ref_t = reference.routers["runtime_s"].predict(frame)
    target = probe_target(reference, frame)
    ok = np.isfinite(ref_t) & (ref_t > 0) & np.isfinite(target) & (target > 0)
    frame, ref_t, target = frame.loc[ok].reset_index(drop=True), ref_t[ok], target[ok]
    n = len(frame)
    if n < 3:
        raise ValueError(f"{n} probes with a reference prediction and a measurement; need at least 3")
    fit_mask = np.random.default_rng(SPLIT_SEED).random(n) < FIT_SHARE
    held = ~fit_mask
    variants: dict[str, dict[str, float]] = {}
    for use in (False, True):
        part = _fit(reference, frame.loc[fit_mask], ref_t[fit_mask], target[fit_mask], device_id, use)
        pred = part.runtime(frame.loc[held], ref_t[held])
        variants["with roofline ratio" if use else "per-group only"] = _figures(target[held], pred)
    use_roofline = variants["with roofline ratio"]["median_ape"] < variants["per-group only"]["median_ape"]
    correction = _fit(reference, frame, ref_t, target, device_id, use_roofline)
    figures: dict[str, Any] = {
        "split": f"{int(fit_mask.sum())} probes fitted, {int(held.sum())} held out (seed {SPLIT_SEED})",
        "reference_uncorrected": _figures(target[held], ref_t[held]),
        "corrected": variants["with roofline ratio" if correction.use_roofline else "per-group only"],
        "variants": variants,
        "per_kind": {},
    }
    kinds = frame["kind"].astype(str).to_numpy()
    full = _fit(reference, frame.loc[fit_mask], ref_t[fit_mask], target[fit_mask], device_id, use_roofline)
    pred_held = full.runtime(frame.loc[held], ref_t[held])
    for kind in sorted(set(kinds[held].tolist())):
        mask = kinds[held] == kind
        figures["per_kind"][kind] = _figures(target[held][mask], pred_held[mask])
    return correction, figures


def fit_power_correction(
    reference: PredictorBundle, probes: pd.DataFrame
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Per-kind power correction from sensor-measured probes, and its held-out figures."""
    frame = probes.reset_index(drop=True)
    ref_p = reference.routers["power_w"].predict(frame)
    measured = pd.to_numeric(frame["power_w"], errors="coerce").to_numpy(dtype=np.float64)
    fit_mask = np.random.default_rng(SPLIT_SEED + 1).random(len(frame)) < FIT_SHARE
    part = fit_power(frame.loc[fit_mask], ref_p[fit_mask], measured[fit_mask])
    held = ~fit_mask
    shell = DeviceCorrection("", "", {}, power=part)
    figures = {
        "reference_uncorrected": _figures(measured[held], ref_p[held]),
        "corrected": _figures(measured[held], shell.power_w(frame.loc[held], ref_p[held])),
    }
    return fit_power(frame, ref_p, measured), figures


def fit_whole(
    sums_s: np.ndarray, calls: np.ndarray, measured_s: np.ndarray
) -> tuple[Calibration | None, dict[str, Any]]:
    """The whole-model calibration (None below two models) and its leave-one-out error where possible."""
    sums, calls, measured = (np.asarray(v, dtype=np.float64) for v in (sums_s, calls, measured_s))
    if len(sums) < 2:
        return None, {"models": int(len(sums)), "note": "fewer than 2 whole-model probes: not calibrated"}
    calibration = fit_calibration(sums, calls, measured)
    figures: dict[str, Any] = {"models": int(len(sums))}
    raw = sums / measured - 1.0
    figures["sum_of_layers_error"] = [float(v) for v in raw]
    if len(sums) >= 3:
        loo = []
        for i in range(len(sums)):
            keep = np.arange(len(sums)) != i
            cal = fit_calibration(sums[keep], calls[keep], measured[keep])
            loo.append(float(cal.apply(sums[i], calls[i]) / measured[i] - 1.0))
        figures["leave_one_out_error"] = loo
        figures["leave_one_out_rms_log"] = float(np.sqrt(np.mean(np.log1p(np.array(loo)) ** 2)))
    else:
        figures["leave_one_out_error"] = None
        figures["leave_one_out_rms_log"] = math.nan
    return calibration, figures
