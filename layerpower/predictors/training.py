"""``train_predictors``: evaluate a family leave-one-model-out, fit it on every model, write a bundle.

The held-out (leave-one-model-out) predictions serve three purposes: the evaluation figures, the interval
bands (their log-ratio errors) and the model-level calibration (fitted on their per-model sums, because that
is how the predictors meet a model they have not seen). The bundle's routers are then fitted on all models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from layerpower.errors import LayerpowerError
from layerpower.predictors.bundle import PredictorBundle, save_bundle
from layerpower.predictors.data import TrainingSet, load_training_set
from layerpower.predictors.evaluation import (
    DEFAULT_COVERAGE,
    Evaluation,
    evaluate_family,
    fit_routers,
    training_rows,
)
from layerpower.predictors.features import FAMILIES

#: ``family`` value that evaluates every family and keeps the best extrapolating one (held-out whole-model
#: runtime error)
BEST = "best"

#: families whose runtime grows with a layer's work beyond the training range (a conv layer 2x and 4x the
#: largest FLOPs seen gets about 2x and 4x the time: tests/predictors/test_pred_extrapolation.py); ``best``
#: chooses among these only
EXTRAPOLATING: tuple[str, ...] = ("xgboost", "polynomial")
#: families left out of ``best``, and why
SATURATING: dict[str, str] = {
    "random-forest": "trees predict at most the largest runtime seen in training: a layer 2x or 4x larger "
    "than any seen gets the same runtime (tests/predictors/test_pred_extrapolation.py)",
}

#: regressor settings of the bundles we ship: small enough to keep a bundle to a few MB
BUNDLE_PARAMS: dict[str, dict[str, Any]] = {
    "xgboost": {"n_estimators": 300, "max_depth": 4, "learning_rate": 0.05},
    "random-forest": {"n_estimators": 50, "max_depth": 12, "min_samples_leaf": 2},
    "polynomial": {"degree": 3},
}

Progress = Callable[[str, int, int], None]


@dataclass
class TrainResult:
    """The trained bundle (written to ``bundle.path`` when ``out`` was given) and every family's evaluation."""

    bundle: PredictorBundle
    evaluations: dict[str, Evaluation] = field(default_factory=dict)

    @property
    def evaluation(self) -> Evaluation:
        """The evaluation of the bundle's family."""
        return self.evaluations[self.bundle.family]


def calibration_helps(evaluation: Evaluation) -> bool:
    """Whether the calibration lowered the held-out whole-model runtime error (else the bundle goes without)."""
    return evaluation.calibration_helps


def _params(family: str, params: dict[str, Any] | None) -> dict[str, Any]:
    return {**BUNDLE_PARAMS[family], **(params or {})}


def evaluate_families(
    data: TrainingSet,
    families: list[str] | tuple[str, ...] = FAMILIES,
    params: dict[str, dict[str, Any]] | None = None,
    coverage: float = DEFAULT_COVERAGE,
    n_jobs: int = 1,
    progress: Progress | None = None,
) -> dict[str, Evaluation]:
    """Leave-one-model-out evaluation of each family (``params``: per-family regressor settings)."""
    out: dict[str, Evaluation] = {}
    for family in families:

        def step(done: int, total: int, family: str = family) -> None:
            if progress is not None:
                progress(family, done, total)

        out[family] = evaluate_family(
            data, family, _params(family, (params or {}).get(family)), coverage, n_jobs, step
        )
    return out


def train_predictors(
    dataset: str | PathLike[str] | TrainingSet,
    family: str = "xgboost",
    out: str | PathLike[str] | None = None,
    params: dict[str, Any] | None = None,
    coverage: float = DEFAULT_COVERAGE,
    n_jobs: int = 1,
    progress: Progress | None = None,
    *,
    sampled: str | PathLike[str] | None = None,
) -> TrainResult:
    """Train ``family`` (or ``"best"`` of all three) on a built dataset folder; write the bundle to ``out``.

    ``params`` override the family's regressor settings (:data:`BUNDLE_PARAMS`); with ``"best"`` they are
    per family (``{"xgboost": {...}}``). Needs at least two models (the evaluation holds one out).
    ``sampled``: a folder of sampled layer rows (``training_data/<device-id>/_sampled/``), training side only.
    """
    if family != BEST and family not in FAMILIES:
        raise LayerpowerError(f"unknown family {family!r}", f"use one of {', '.join([*FAMILIES, BEST])}")
    if not 0 < coverage < 1:
        raise LayerpowerError(f"coverage {coverage} is not between 0 and 1", "use e.g. 0.9")
    data = dataset if isinstance(dataset, TrainingSet) else load_training_set(dataset, sampled)
    if len(data.model_names) < 2:
        raise LayerpowerError(
            f"the dataset holds {len(data.model_names)} model(s); leave-one-model-out needs at least 2",
            "profile more models",
        )
    if family == BEST:
        evaluations = evaluate_families(data, FAMILIES, params, coverage, n_jobs, progress)
        chosen = min(EXTRAPOLATING, key=lambda f: evaluations[f].score)
        chosen_params = _params(chosen, (params or {}).get(chosen))
        rule = (
            "lowest leave-one-model-out median |error| of the whole-model runtime, as the bundle predicts it, "
            f"among the families that extrapolate in size ({', '.join(EXTRAPOLATING)})"
        )
    else:
        chosen_params = _params(family, params)
        evaluations = evaluate_families(data, [family], {family: params or {}}, coverage, n_jobs, progress)
        chosen = family
        rule = "asked for" + (f"; note: {SATURATING[family]}" if family in SATURATING else "")
    family_choice = {
        "chosen": chosen,
        "rule": rule,
        "held_out_median_ape": {f: e.score for f, e in evaluations.items()},
        "held_out_within_10": {
            f: e.summary.get(f"runtime_s_{e.mode}", {}).get("within_10") for f, e in evaluations.items()
        },
        "excluded_from_best": SATURATING,
    }
    evaluation = evaluations[chosen]
    extra, context = training_rows(data)
    rows = data.layers if extra.empty else pd.concat([data.layers, extra], ignore_index=True)
    routers = fit_routers(rows, chosen, chosen_params)
    training = {
        **data.describe(),
        "context": context,
        "family_choice": family_choice,
        "regressor_params": chosen_params,
        "families_compared": {f: e.score for f, e in evaluations.items()},
    }
    calibration = evaluation.calibration if calibration_helps(evaluation) else None
    training["calibration_fitted"] = evaluation.calibration.to_dict()
    training["calibration_used"] = calibration is not None
    bundle = PredictorBundle(
        family=chosen,
        device_id=data.device_id,
        power_source=data.power_source,
        is_estimate=data.is_estimate,
        routers=routers,
        calibration=calibration,
        bands=evaluation.bands,
        coverage=coverage,
        training=training,
        evaluation=evaluation.to_dict(),
    )
    if out is not None:
        save_bundle(bundle, Path(out))
    return TrainResult(bundle, evaluations)
