"""Leave-one-model-out evaluation of one regressor family on one device's dataset.

For every model, routers are fitted on the other models' layers and predict the held-out model's layers, so
no model's layers sit on both sides. From those held-out predictions come:

- per kind and target (``runtime_s``, ``power_w``, and layer energy ``energy_j`` = runtime × power): RMSPE,
  MAPE, R², the share within ±10 %, the interval band and its held-out coverage;
- per model run (model × batch size × dtype): the predicted whole-model runtime and energy (sum over layers,
  and calibrated with a calibration fitted on the *other* models) against ``model.parquet``'s measured
  runtime_s and energy_j per forward;
- the calibration and the interval bands a bundle stores (fitted on all models' held-out predictions).

Layer calls the fold's trained predictors cannot price (an operation only the held-out model has) are priced
as prediction prices them (:func:`layerpower.predictors.fallback.apply_fallbacks`: eval-mode identities 0,
unseen operations the fold's device roofline or median rates), so a run's whole-model error is the one
``predict-energy`` would print. At prediction such a share gets its own ×/÷ 2 bounds in place of the
whole-model band, so the whole-model calibration and bands come only from the runs whose calls the trained
predictors priced in full (:mod:`layerpower.predictors.model_runs`, which holds the whole-model half); the
runs left out of them and why are in ``summary["model_band"]``, and every run's figures stay in the
per-model table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from layerpower.io import json_safe
from layerpower.predictors.calibration import Calibration, fit_calibration
from layerpower.predictors.data import RUN_KEY, TARGETS, TrainingSet
from layerpower.predictors.metrics import conformal_band, grouped_coverage, log_ratio, regression_metrics
from layerpower.predictors.model_runs import band_runs, model_level, model_summary
from layerpower.predictors.regressors import make_regressor
from layerpower.predictors.router import LayerKindRouter

#: per-layer quantities evaluated: the two targets and their product
LAYER_QUANTITIES: tuple[str, ...] = (*TARGETS, "energy_j")
DEFAULT_COVERAGE = 0.9


def make_router(
    family: str, params: dict[str, Any] | None = None, target: str = "runtime_s"
) -> LayerKindRouter:
    """A router of ``family`` for ``target`` whose per-kind regressors take ``params`` (e.g. ``n_estimators``).

    Runtime routers of the xgboost family start from the device roofline.
    """
    return LayerKindRouter(
        family=family,
        estimator=make_regressor(family, **(params or {})),
        roofline=target == "runtime_s" and family == "xgboost",
    )


def fit_routers(
    layers: pd.DataFrame, family: str, params: dict[str, Any] | None = None
) -> dict[str, LayerKindRouter]:
    """One fitted router per target (``runtime_s``, ``power_w``)."""
    routers: dict[str, LayerKindRouter] = {}
    for target in TARGETS:
        router = make_router(family, params, target)
        routers[target] = router.fit(layers, layers[target].to_numpy(dtype=np.float64))
    return routers


def training_rows(data: TrainingSet) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    """The sampled rows with their in-context runtime (context factor fitted on ``data.layers``) and the
    context factors; ``(empty, None)`` without sampled rows."""
    if data.sampled.empty:
        return data.sampled, None
    from layerpower.predictors.sampled import fit_context_factor, with_context_runtime

    context = fit_context_factor(data.layers)
    return with_context_runtime(data.sampled, context), context


def priced_layers(
    routers: dict[str, LayerKindRouter], frame: pd.DataFrame, runtime_s: np.ndarray, power_w: np.ndarray
) -> pd.DataFrame:
    """``frame``'s layers as prediction prices them from the routers' predictions (runtime s, power W):
    the rows they leave out go through :func:`~layerpower.predictors.fallback.apply_fallbacks` with these
    routers' roofline. Columns ``runtime_s``, ``power_w``, ``energy_j`` and ``predicted_by``, one row per
    row of ``frame`` in its order."""
    from types import SimpleNamespace

    from layerpower.predictors.fallback import apply_fallbacks

    frame = frame.reset_index(drop=True)
    runtime = np.asarray(runtime_s, dtype=np.float64)
    power = np.asarray(power_w, dtype=np.float64)
    missing = ~np.isfinite(runtime) | ~np.isfinite(power)  # as predict_layers_covered: both or neither
    reasons = routers["runtime_s"].left_out_reasons(frame)
    reasons = np.where(reasons == "", routers["power_w"].left_out_reasons(frame), reasons)
    layers = pd.DataFrame(
        {
            "layer_type": frame["layer_type"].astype(str).to_numpy(),
            "kind": frame["kind"].astype(str).to_numpy(),
            "runtime_s": np.where(missing, np.nan, runtime),
            "power_w": np.where(missing, np.nan, power),
            "left_out": [str(r) for r in reasons],
        }
    )
    for column in ("runtime_low_s", "runtime_high_s", "power_low_w", "power_high_w"):
        layers[column] = np.nan
    layers["energy_low_j"], layers["energy_high_j"] = np.nan, np.nan
    # no stored kind medians: a fold's bundle has none; apply_fallbacks then uses this frame's trained rows
    shell = SimpleNamespace(routers=routers, training={})
    priced, _ = apply_fallbacks(shell, frame, layers)
    return priced[["runtime_s", "power_w", "energy_j", "predicted_by"]]


def _fold(
    train: pd.DataFrame,
    test: pd.DataFrame,
    family: str,
    params: dict[str, Any] | None,
    extra: pd.DataFrame | None = None,
) -> dict[str, Any]:
    if extra is not None and not extra.empty:
        train = pd.concat([train, extra], ignore_index=True)
    routers = fit_routers(train, family, params)
    out: dict[str, Any] = {"index": test.index.to_numpy()}
    for target, router in routers.items():
        out[f"pred_{target}"] = router.predict(test)
        out[f"left_out_{target}"] = router.left_out_reasons(test)
    priced = priced_layers(routers, test, out["pred_runtime_s"], out["pred_power_w"])
    out["priced_runtime_s"] = priced["runtime_s"].to_numpy(dtype=np.float64)
    out["priced_power_w"] = priced["power_w"].to_numpy(dtype=np.float64)
    out["priced_by"] = priced["predicted_by"].astype(str).to_numpy()
    return out


def lomo_predictions(
    data: TrainingSet,
    family: str,
    params: dict[str, Any] | None = None,
    n_jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Held-out predictions of every layer row (``pred_runtime_s``, ``pred_power_w``, ``pred_energy_j``,
    ``left_out``: why a row was not predicted, ``""`` when it was), and the row as prediction prices it
    (``priced_runtime_s``, ``priced_power_w``, ``priced_energy_j``, ``priced_by``: ``trained``,
    ``identity``, ``roofline``, ``median_rates``, or ``""`` when even the fallback cannot price it).
    Sampled rows (``data.sampled``, with their context-factored runtime) join every fold's training side
    and are never held out."""
    from joblib import Parallel, delayed

    from layerpower.dataset.split import leave_one_model_out_indices

    layers = data.layers
    # the context factor comes from all zoo rows: a mild leak of the held-out model's context gap into the
    # sampled rows' targets, accepted (one factor per kind/op, fitted on thousands of rows)
    extra, _ = training_rows(data)
    folds = list(leave_one_model_out_indices(layers["model"].astype(str).to_numpy()))
    jobs = (
        delayed(_fold)(layers.iloc[train], layers.iloc[test], family, params, extra)
        for _, train, test in folds
    )
    held = layers[[*RUN_KEY, "kind", "layer_name", "layer_type", "call_index", *TARGETS]].copy()
    for target in TARGETS:
        held[f"pred_{target}"] = np.nan
        held[f"priced_{target}"] = np.nan
    held["left_out"] = ""
    held["priced_by"] = ""
    runner = Parallel(n_jobs=n_jobs, return_as="generator")
    for done, result in enumerate(runner(jobs), start=1):
        index = result["index"]
        for target in TARGETS:
            held.loc[index, f"pred_{target}"] = result[f"pred_{target}"]
            held.loc[index, f"priced_{target}"] = result[f"priced_{target}"]
        held.loc[index, "left_out"] = result["left_out_runtime_s"]
        held.loc[index, "priced_by"] = result["priced_by"]
        if progress is not None:
            progress(done, len(folds))
    held["energy_j"] = held["runtime_s"] * held["power_w"]
    held["pred_energy_j"] = held["pred_runtime_s"] * held["pred_power_w"]
    held["priced_energy_j"] = held["priced_runtime_s"] * held["priced_power_w"]
    return held


def layer_metrics(
    held: pd.DataFrame, coverage: float = DEFAULT_COVERAGE
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per kind and quantity: metrics on held-out rows plus the interval band and its held-out coverage."""
    rows: list[dict[str, Any]] = []
    bands: dict[str, dict[str, list[float]]] = {}
    for kind, part in held.groupby("kind", sort=True):
        bands[str(kind)] = {}
        for quantity in LAYER_QUANTITIES:
            measured = part[quantity].to_numpy(dtype=np.float64)
            predicted = part[f"pred_{quantity}"].to_numpy(dtype=np.float64)
            residual = log_ratio(predicted, measured)
            band = conformal_band(residual, coverage)
            bands[str(kind)][quantity] = [band[0], band[1]]
            rows.append(
                {
                    "kind": kind,
                    "target": quantity,
                    **regression_metrics(measured, predicted),
                    "left_out": int(part["left_out"].astype(bool).sum()),
                    "band_lo": band[0],
                    "band_hi": band[1],
                    "coverage": grouped_coverage(residual, part["model"].to_numpy(), coverage),
                }
            )
    return pd.DataFrame(rows), bands


@dataclass
class Evaluation:
    """The leave-one-model-out evaluation of one family (see the module docstring)."""

    family: str
    coverage: float
    layers: pd.DataFrame = field(repr=False)
    layer_metrics: pd.DataFrame = field(repr=False)
    models: pd.DataFrame = field(repr=False)
    summary: dict[str, Any]
    calibration: Calibration
    bands: dict[str, Any]

    @property
    def calibration_helps(self) -> bool:
        """Whether the calibration lowered the held-out whole-model runtime error.

        The error compared is the mean |log(pred/measured)| over model runs: what the calibration fits, and
        neither a median that ignores the worst models nor a mean that one outlier dominates.
        """
        raw = self.summary.get("runtime_s_raw", {}).get("mean_abs_log", math.nan)
        calibrated = self.summary.get("runtime_s_calibrated", {}).get("mean_abs_log", math.nan)
        if math.isnan(calibrated):
            return False
        return math.isnan(raw) or calibrated <= raw

    @property
    def mode(self) -> str:
        """``"calibrated"`` when the calibration helps (a bundle then applies it), else ``"raw"``."""
        return "calibrated" if self.calibration_helps else "raw"

    @property
    def score(self) -> float:
        """The selection score: median |relative error| of the whole-model runtime, as a bundle would predict
        it (calibrated or not, see :attr:`mode`)."""
        value = self.summary.get(f"runtime_s_{self.mode}", {}).get("median_ape", math.nan)
        return float(value) if value == value else math.inf

    def to_dict(self) -> dict[str, Any]:
        """JSON-able figures (no per-layer rows) for a bundle's manifest."""
        model_columns = [
            *RUN_KEY,
            "measured_runtime_s",
            "pred_runtime_s",
            "pred_runtime_cal_s",
            "measured_energy_j",
            "pred_energy_j",
            "pred_energy_cal_j",
            "layer_calls",
            "predicted_calls",
            "fallback_calls",
            "fallback_runtime_share",
            "unpriced_calls",
            "pred_runtime_trained_s",
            "pred_energy_trained_j",
            "in_band",
            "band_excluded_why",
        ]
        return {
            "method": "leave-one-model-out",
            "family": self.family,
            "coverage_nominal": self.coverage,
            "layer_metrics": _records(self.layer_metrics),
            "model_summary": self.summary,
            "models": _records(self.models[model_columns]),
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [json_safe(row) for row in frame.to_dict(orient="records")]


def evaluate_family(
    data: TrainingSet,
    family: str,
    params: dict[str, Any] | None = None,
    coverage: float = DEFAULT_COVERAGE,
    n_jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Leave-one-model-out evaluation of ``family`` on ``data`` (needs at least two models)."""
    held = lomo_predictions(data, family, params, n_jobs, progress)
    metrics, layer_bands = layer_metrics(held, coverage)
    table = model_level(held, data.models)
    summary, model_bands = model_summary(table, coverage)
    use = band_runs(table)
    calibration = fit_calibration(
        table.loc[use, "sum_runtime_s"].to_numpy(),
        table.loc[use, "layer_calls"].to_numpy(),
        table.loc[use, "measured_runtime_s"].to_numpy(),
    )
    bands = {"layer": layer_bands, "model": model_bands}
    return Evaluation(family, coverage, held, metrics, table, summary, calibration, bands)
