"""Fit what differs between this device and the reference bundle's, from the probes measured here.

0. Where the reference bundle holds its own measurements of the probes
   (:mod:`layerpower.calibrate.reference`), each probe is a pair and the correction below is fitted to the
   ratio of the two measurements (``figures["pairing"]``); otherwise to the ratio of the measurement here to
   the reference regressors' prediction, which carries their error on sampled layers too.
   Probes whose convolution weight is reordered above glibc's mmap threshold are left out
   (``figures["left_out_refaulting"]``): their page faults are priced apart, at the cost measured by
   :mod:`layerpower.profiling.fault_cost` (:mod:`layerpower.predictors.page_faults`).
1. The probe layers' target here is their isolated runtime times the reference's context factor
   (``training_data.context`` in its manifest: in-context / isolated per kind/op; 1 when absent, and then the
   whole-model calibration absorbs the gap).
2. The runtime correction (:class:`~layerpower.predictors.correction.DeviceCorrection`), one of
   :data:`VARIANTS`, simplest first:

   - ``none``: the identity (this device runs like the reference);
   - ``global shift``: one log-factor ``a`` (the median log-ratio of target to reference) for every layer;
   - ``per-group only``: the shrunk per-group shift and slope in log space;
   - ``with roofline ratio``: the same on top of the ratio of rooflines (c_f s/FLOP, c_b s/byte, t0 s)
     fitted to the probes' reference predictions and to their targets here.

   The probes are split (fit on :data:`FIT_SHARE`, error on the rest). The variant kept is the simplest whose
   held-out median |log(pred/measured)| is within :data:`SIMPLER_MARGIN` (about one per cent) of the best's:
   probes are noisy, and a fitted shift or slope that does not clearly lower the held-out error only adds its
   own error. It is refitted on all probes; its name is ``figures["variant"]``.
3. Power, only where the probes' power came from a sensor: a shrunk per-kind log-ratio.
4. The whole-model calibration keeps the reference's form ``runtime ≈ a_ref·Σ layers + b_ref·calls``
   (fitted on the reference's many whole-model runs; the identity when it has none) and fits one device
   factor ``s`` on the whole-model probes predicted through the corrected bundle:
   ``log s = median over probes of log(measured / (a_ref·Σ + b_ref·calls))`` (with two probes, the mean),
   written as ``a = s·a_ref``, ``b = s·b_ref``. Its error is the leave-one-probe-out error (``s`` from the
   other probes), whose rms log is the interval widening; with two probes the widening is the spread
   (sample standard deviation) of the two log-ratios; with one, ``calibrate`` takes the layer probes'
   held-out error instead.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from layerpower.predictors.bundle import PredictorBundle
from layerpower.predictors.calibration import IDENTITY, Calibration
from layerpower.predictors.correction import ALL, DeviceCorrection, fit_groups, fit_power
from layerpower.predictors.metrics import regression_metrics
from layerpower.predictors.page_faults import refault_pages

#: share of the probes the held-out check fits on (the rest measures its error)
FIT_SHARE = 0.7
SPLIT_SEED = 7
#: the runtime correction variants, simplest first
VARIANTS: tuple[str, ...] = ("none", "global shift", "per-group only", "with roofline ratio")
#: a simpler variant is kept when its held-out median |log(pred/measured)| is at most this much above the best
SIMPLER_MARGIN = 0.01
#: fewest probes with the reference's own measurement for a paired fit
MIN_PAIRS = 12


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
    variant: str,
) -> DeviceCorrection:
    """The correction of ``variant`` (one of :data:`VARIANTS`) fitted to ``target`` (s) over ``ref_t`` (s)."""
    n = int(len(frame))
    if variant == "none":
        return DeviceCorrection(reference.device_id, device_id, {ALL: [0.0, 0.0, n]})
    if variant == "global shift":
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.log(np.asarray(target, dtype=np.float64) / np.asarray(ref_t, dtype=np.float64))
        ratio = ratio[np.isfinite(ratio)]
        shift = float(np.median(ratio)) if len(ratio) else 0.0
        return DeviceCorrection(reference.device_id, device_id, {ALL: [shift, 0.0, int(len(ratio))]})
    if variant not in VARIANTS:
        raise ValueError(f"unknown correction variant {variant!r}")
    use_roofline = variant == "with roofline ratio"
    r_a, r_b = (_roofline(frame, ref_t), _roofline(frame, target)) if use_roofline else ((), ())
    shell = DeviceCorrection(reference.device_id, device_id, {}, 0.0, bool(r_a and r_b), r_a, r_b)
    groups, center = fit_groups(frame, shell.base(frame, ref_t), target)
    return DeviceCorrection(reference.device_id, device_id, groups, center, shell.use_roofline, r_a, r_b)


def _figures(measured: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    m = regression_metrics(measured, predicted)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.abs(
            np.log(np.asarray(predicted, dtype=np.float64) / np.asarray(measured, dtype=np.float64))
        )
    logs = logs[np.isfinite(logs)]
    return {
        "n": m["n"],
        "median_ape": m["median_ape"],
        "median_abs_log": float(np.median(logs)) if len(logs) else math.nan,
        "within_10": m["within_10"],
        "mape": m["mape"],
    }


def choose_variant(variants: dict[str, dict[str, float]], margin: float = SIMPLER_MARGIN) -> str:
    """The simplest of :data:`VARIANTS` whose held-out ``median_abs_log`` (median |log(pred/measured)|:
    symmetric, so a missed device factor shows as much as a fitted one's noise) is within ``margin`` of the
    lowest (``per-group only`` when none has a finite error)."""
    errors = {
        name: variants[name].get("median_abs_log", variants[name]["median_ape"])
        for name in VARIANTS
        if name in variants
    }
    finite = [e for e in errors.values() if e is not None and math.isfinite(e)]
    if not finite:
        return "per-group only"
    best = min(finite)
    return next(n for n, e in errors.items() if e is not None and math.isfinite(e) and e <= best + margin)


def fit_device(
    reference: PredictorBundle, probes: pd.DataFrame, device_id: str
) -> tuple[DeviceCorrection, dict[str, Any]]:
    """The correction of ``device_id`` over ``reference`` and its held-out figures (fractions); the variant
    kept is ``figures["variant"]`` (see the module docstring)."""
    from layerpower.calibrate.reference import paired_isolated

    frame = probes.reset_index(drop=True)
    ref_t = reference.routers["runtime_s"].predict(frame)
    target = probe_target(reference, frame)
    # the reference's own measurement of each probe, in context as the target is: pairs, when it has them
    isolated = pd.to_numeric(frame["runtime_isolated_s"], errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ref_measured = paired_isolated(reference, frame) * target / isolated
    paired = np.isfinite(ref_measured) & (ref_measured > 0)
    pairing = "against the reference regressors' predictions of the probes"
    if paired.sum() >= MIN_PAIRS:
        ref_t = np.where(paired, ref_measured, np.nan)
        pairing = f"paired: {int(paired.sum())} probes measured on the reference device too"
    ok = np.isfinite(ref_t) & (ref_t > 0) & np.isfinite(target) & (target > 0)
    # a probe whose weight reorder refaults carries a cost priced apart (layerpower.predictors.page_faults)
    refaulting = refault_pages(frame) > 0
    ok &= ~refaulting
    frame, ref_t, target = frame.loc[ok].reset_index(drop=True), ref_t[ok], target[ok]
    n = len(frame)
    if n < 3:
        raise ValueError(f"{n} probes with a reference prediction and a measurement; need at least 3")
    fit_mask = np.random.default_rng(SPLIT_SEED).random(n) < FIT_SHARE
    held = ~fit_mask
    variants: dict[str, dict[str, float]] = {}
    parts: dict[str, DeviceCorrection] = {}
    for name in VARIANTS:
        parts[name] = _fit(reference, frame.loc[fit_mask], ref_t[fit_mask], target[fit_mask], device_id, name)
        variants[name] = _figures(target[held], parts[name].runtime(frame.loc[held], ref_t[held]))
    chosen = choose_variant(variants)
    correction = _fit(reference, frame, ref_t, target, device_id, chosen)
    figures: dict[str, Any] = {
        "split": f"{int(fit_mask.sum())} probes fitted, {int(held.sum())} held out (seed {SPLIT_SEED})",
        "pairing": pairing,
        "left_out_refaulting": int(refaulting.sum()),
        "reference_uncorrected": _figures(target[held], ref_t[held]),
        "corrected": variants[chosen],
        "variant": chosen,
        "variant_rule": (
            f"the simplest of {', '.join(VARIANTS)} whose held-out median |log(pred/measured)| is within "
            f"{SIMPLER_MARGIN:g} of the best"
        ),
        "variants": variants,
        "per_kind": {},
    }
    kinds = frame["kind"].astype(str).to_numpy()
    pred_held = parts[chosen].runtime(frame.loc[held], ref_t[held])
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
    sums_s: np.ndarray,
    calls: np.ndarray,
    measured_s: np.ndarray,
    reference: Calibration | None = None,
) -> tuple[Calibration | None, dict[str, Any]]:
    """The reference's whole-model calibration scaled by this device's factor ``s`` (see the module
    docstring), and its figures.

    ``sums_s``: Σ corrected layer runtime (s) per whole-model probe; ``calls``: its layer calls;
    ``measured_s``: its measured runtime (s); ``reference``: the reference bundle's calibration (``None``:
    the identity). Without a usable probe the reference's calibration comes back unscaled. Figures:
    ``device_factor`` (``s``), ``leave_one_out_error`` (per probe, relative, ``s`` from the other probes),
    ``leave_one_out_rms_log`` and ``widening_log`` (the log-width to add to the intervals; NaN below two
    probes).
    """
    sums, calls, measured = (np.asarray(v, dtype=np.float64) for v in (sums_s, calls, measured_s))
    base = reference if reference is not None else IDENTITY
    with np.errstate(divide="ignore", invalid="ignore"):
        ref_pred = base.apply(sums, calls)
        log_ratio = np.log(measured / ref_pred)
        raw = sums / measured - 1.0
    ok = np.isfinite(log_ratio)
    r = log_ratio[ok]
    figures: dict[str, Any] = {
        "models": int(len(sums)),
        "form": "runtime = s * (a_ref * sum + b_ref * calls): the reference's calibration times a device "
        "factor s fitted here",
        "reference_calibration": reference.to_dict() if reference is not None else None,
        "sum_of_layers_error": [_finite(v) for v in raw],
        "reference_calibration_error": [_finite(v) for v in np.expm1(-log_ratio)],
        "device_factor": None,
        "leave_one_out_error": None,
        "leave_one_out_rms_log": math.nan,
        "widening_log": math.nan,
    }
    if len(r) == 0:
        figures["note"] = "no whole-model probe measured: the reference's calibration, unscaled"
        return reference, figures
    log_s = float(np.median(r))  # the mean of two
    scale = math.exp(log_s)
    calibration = Calibration(a=scale * base.a, b_s=scale * base.b_s, fitted_rows=int(len(r)))
    figures["device_factor"] = scale
    if len(r) == 1:
        figures["note"] = "one whole-model probe: its factor, no leave-one-out error"
        return calibration, figures
    loo_log = np.array([np.median(np.delete(r, i)) - r[i] for i in range(len(r))])  # log(pred/measured)
    loo = np.full(len(sums), np.nan)
    loo[ok] = np.expm1(loo_log)
    figures["leave_one_out_error"] = [_finite(v) for v in loo]
    figures["leave_one_out_rms_log"] = float(np.sqrt(np.mean(loo_log**2)))
    if len(r) == 2:
        figures["widening_log"] = float(np.std(r, ddof=1))
        figures["widening_rule"] = "spread (sample standard deviation) of the two probes' log-ratios"
    else:
        figures["widening_log"] = figures["leave_one_out_rms_log"]
        figures["widening_rule"] = "rms log of the leave-one-probe-out error"
    return calibration, figures


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
