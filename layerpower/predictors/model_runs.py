"""The whole-model half of the leave-one-model-out evaluation: per model run, the held-out layer predictions
summed as ``predict-energy`` sums them, against ``model.parquet``'s measured runtime (s) and energy (J) per
forward, and the summary, calibration runs and bands a bundle stores from them.

Runs with calls the fold's trained predictors could not price (fallback-priced or unpriced) stay in the
per-run table but are left out of the whole-model calibration and bands (:func:`band_runs`), unless fewer than
:data:`MIN_BAND_RUNS` runs are fully priced.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from layerpower.io import json_safe
from layerpower.predictors.calibration import fit_calibration
from layerpower.predictors.data import RUN_KEY
from layerpower.predictors.metrics import conformal_band, grouped_coverage, log_ratio, regression_metrics

#: fewest fully priced runs the whole-model calibration and bands are fitted on (else on all runs)
MIN_BAND_RUNS = 2


def model_level(held: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Per model run: the held-out layers summed as prediction prices them (fallbacks included), raw and
    calibrated (calibration from the other models' runs in :func:`band_runs`).

    Columns besides the measured and predicted figures: ``predicted_calls`` (priced by the trained
    predictors), ``fallback_calls`` and ``fallback_ops`` (priced by the fallback),
    ``fallback_runtime_share``/``fallback_energy_share`` (their share of the summed runtime/energy),
    ``unpriced_calls`` (not priced at all, or absent from the layer rows), ``pred_runtime_trained_s`` (s)
    and ``pred_energy_trained_j`` (J) (the trained predictions alone), ``in_band`` (every call priced by the
    trained predictors or an identity) and ``band_excluded_why`` (``""`` when in the band)."""
    from layerpower.predictors.fallback import MEDIAN_RATES, ROOFLINE

    fallback = held["priced_by"].isin([ROOFLINE, MEDIAN_RATES])
    work = held.assign(
        _fallback=fallback.astype(int),
        _fallback_runtime=held["priced_runtime_s"].where(fallback, 0.0),
        _fallback_energy=held["priced_energy_j"].where(fallback, 0.0),
        _op=held["layer_type"].astype(str).where(fallback, ""),
    )
    agg = work.groupby(RUN_KEY, sort=True).agg(
        sum_runtime_s=("priced_runtime_s", "sum"),
        sum_energy_j=("priced_energy_j", "sum"),
        pred_runtime_trained_s=("pred_runtime_s", "sum"),
        pred_energy_trained_j=("pred_energy_j", "sum"),
        predicted_calls=("pred_runtime_s", "count"),
        priced_calls=("priced_runtime_s", "count"),
        fallback_calls=("_fallback", "sum"),
        fallback_runtime_s=("_fallback_runtime", "sum"),
        fallback_energy_j=("_fallback_energy", "sum"),
        fallback_ops=("_op", lambda ops: ", ".join(sorted(set(ops.tolist()) - {""}))),
        rows=("pred_runtime_s", "size"),
    )
    agg = agg.reset_index()
    keep = [*RUN_KEY, "runtime_s", "energy_j", "layer_calls"]
    measured = models[keep].rename(
        columns={"runtime_s": "measured_runtime_s", "energy_j": "measured_energy_j"}
    )
    measured = measured.astype({"batch_size": int})
    agg = agg.astype({"batch_size": int})
    table = measured.merge(agg, on=RUN_KEY, how="inner").sort_values(RUN_KEY).reset_index(drop=True)
    table["layer_calls"] = table["layer_calls"].where(table["layer_calls"] > 0, table["rows"])
    table["unpriced_calls"] = (table["layer_calls"] - table["priced_calls"]).clip(lower=0).astype(int)
    with np.errstate(divide="ignore", invalid="ignore"):
        for quantity, total in (("runtime", "sum_runtime_s"), ("energy", "sum_energy_j")):
            column = "fallback_runtime_s" if quantity == "runtime" else "fallback_energy_j"
            share = table[column] / table[total]
            table[f"fallback_{quantity}_share"] = share.where(table[total] > 0, 0.0).fillna(0.0)
    table["in_band"] = (table["fallback_calls"] == 0) & (table["unpriced_calls"] == 0)
    table["band_excluded_why"] = [_excluded_why(row) for row in table.to_dict(orient="records")]
    cal_runtime = np.full(len(table), np.nan)
    names = table["model"].astype(str).to_numpy()
    usable = band_runs(table)
    for model in sorted(set(names)):
        mine = names == model
        pool = ~mine & usable if (~mine & usable).sum() >= MIN_BAND_RUNS else ~mine
        cal = fit_calibration(
            table.loc[pool, "sum_runtime_s"].to_numpy(),
            table.loc[pool, "layer_calls"].to_numpy(),
            table.loc[pool, "measured_runtime_s"].to_numpy(),
        )
        cal_runtime[mine] = cal.apply(
            table.loc[mine, "sum_runtime_s"].to_numpy(), table.loc[mine, "layer_calls"].to_numpy()
        )
    table["pred_runtime_s"] = table["sum_runtime_s"]
    table["pred_runtime_cal_s"] = cal_runtime
    table["pred_energy_j"] = table["sum_energy_j"]
    with np.errstate(divide="ignore", invalid="ignore"):
        table["pred_energy_cal_j"] = table["sum_energy_j"] * cal_runtime / table["sum_runtime_s"]
    for column, measured_column in (
        ("pred_runtime_s", "measured_runtime_s"),
        ("pred_runtime_cal_s", "measured_runtime_s"),
        ("pred_energy_j", "measured_energy_j"),
        ("pred_energy_cal_j", "measured_energy_j"),
        ("pred_runtime_trained_s", "measured_runtime_s"),
        ("pred_energy_trained_j", "measured_energy_j"),
    ):
        table[f"err_{column}"] = table[column] / table[measured_column] - 1.0
    return table


def _excluded_why(row: dict[str, Any]) -> str:
    calls = int(row["layer_calls"])
    parts = []
    if row["fallback_calls"]:
        parts.append(
            f"{int(row['fallback_calls'])} of {calls} calls priced by the fallback ({row['fallback_ops']})"
        )
    if row["unpriced_calls"]:
        parts.append(f"{int(row['unpriced_calls'])} of {calls} calls not priced")
    return "; ".join(parts)


def band_runs(table: pd.DataFrame) -> np.ndarray:
    """Mask of the runs the whole-model calibration and bands are fitted on: those whose every call the
    trained predictors priced (``in_band``), or all runs when fewer than :data:`MIN_BAND_RUNS` are."""
    in_band = table["in_band"].to_numpy(dtype=bool)
    return in_band if in_band.sum() >= MIN_BAND_RUNS else np.ones(len(table), dtype=bool)


def _fallback_coverage(
    residual: np.ndarray,
    groups: np.ndarray,
    use: np.ndarray,
    predicted: np.ndarray,
    measured: np.ndarray,
    share: np.ndarray,
    factor: float,
    coverage: float,
) -> float:
    """Share of the runs outside ``use`` whose measurement lies within the interval prediction would give
    them: the band of the other models' ``use`` runs, widened by their fallback share (×/÷ ``factor``)."""
    from layerpower.predictors.fallback import widen
    from layerpower.predictors.metrics import apply_band

    inside = counted = 0
    for i in np.flatnonzero(~use):
        if not (np.isfinite(predicted[i]) and np.isfinite(measured[i])):
            continue
        band = conformal_band(residual[use & (groups != groups[i])], coverage)
        if not all(math.isfinite(v) for v in band):
            continue
        low, high = apply_band(float(predicted[i]), band)
        low, high = widen(float(low), float(predicted[i]), float(high), float(share[i]), factor)
        inside += int(low <= measured[i] <= high)
        counted += 1
    return inside / counted if counted else math.nan


def model_summary(table: pd.DataFrame, coverage: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per quantity and label: the metrics over every run (as prediction prints them), and the band and
    its held-out coverage from :func:`band_runs` only; ``model_band`` says which runs were left out."""
    from layerpower.predictors.fallback import FALLBACK_FACTOR

    summary: dict[str, Any] = {"runs": int(len(table)), "models": int(table["model"].nunique())}
    bands: dict[str, Any] = {}
    groups = table["model"].astype(str).to_numpy()
    use = band_runs(table)
    for quantity, measured_column in (("runtime_s", "measured_runtime_s"), ("energy_j", "measured_energy_j")):
        stem = quantity.rsplit("_", 1)[0]
        unit = quantity.rsplit("_", 1)[1]
        share = table[f"fallback_{stem}_share"].to_numpy(dtype=np.float64)
        factor = FALLBACK_FACTOR if stem == "runtime" else FALLBACK_FACTOR**2
        bands[quantity] = {}
        for label, column in (("raw", f"pred_{stem}_{unit}"), ("calibrated", f"pred_{stem}_cal_{unit}")):
            measured = table[measured_column].to_numpy(dtype=np.float64)
            predicted = table[column].to_numpy(dtype=np.float64)
            metrics = regression_metrics(measured, predicted)
            residual = log_ratio(predicted, measured)
            band = conformal_band(residual[use], coverage)
            bands[quantity][label] = [band[0], band[1]]
            summary[f"{quantity}_{label}"] = {
                "median_ape": metrics["median_ape"],
                "mape": metrics["mape"],
                "rmspe": metrics["rmspe"],
                "within_10": metrics["within_10"],
                "mean_abs_log": metrics["mean_abs_log"],
                "r2": metrics["r2"],
                "band": [band[0], band[1]],
                "coverage": grouped_coverage(residual[use], groups[use], coverage),
                "fallback_runs_coverage": _fallback_coverage(
                    residual, groups, use, predicted, measured, share, factor, coverage
                ),
            }
    excluded = table.loc[~use, [*RUN_KEY, "band_excluded_why"]]
    summary["model_band"] = {
        "rule": (
            "whole-model calibration and bands from the runs whose every layer call the trained predictors "
            "priced; a run with fallback-priced or unpriced calls is left out (prediction gives its fallback "
            "share its own x/÷ 2 bounds), unless fewer than "
            f"{MIN_BAND_RUNS} runs are fully priced"
        ),
        "runs_used": int(use.sum()),
        "runs_excluded": int((~use).sum()),
        "excluded": [
            json_safe({**{k: row[k] for k in RUN_KEY}, "why": row["band_excluded_why"]})
            for row in excluded.to_dict(orient="records")
        ],
    }
    return summary, bands
