"""Leave-one-model-out evaluation and training: grouped folds, model-level figures, calibration, intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic_layers import FAST_PARAMS, write_synthetic_dataset

from layerpower.errors import LayerpowerError, SchemaError
from layerpower.predictors.data import load_training_set
from layerpower.predictors.evaluation import evaluate_family, lomo_predictions
from layerpower.predictors.training import train_predictors


@pytest.fixture(scope="module")
def training(synthetic_dataset):
    return load_training_set(synthetic_dataset)


def test_training_set_reads_every_kind_and_the_power_source(training):
    assert training.device_id == "cpu-synthetic-test-2c"
    assert training.power_source == "estimate" and training.is_estimate
    assert set(training.layers["kind"]) == {"convolutional", "pooling", "dense", "other"}
    assert training.model_names == [f"net{i}" for i in range(6)]
    assert len(training.sha256) == 64


def test_held_out_model_is_never_in_its_own_training_fold(training):
    held = lomo_predictions(training, "xgboost", FAST_PARAMS["xgboost"])
    # net5 is the only model with GELU: when it is held out, GELU has never been seen, so it is not predicted
    gelu = held["layer_type"] == "GELU"
    assert gelu.any()
    assert held.loc[gelu, "pred_runtime_s"].isna().all()
    assert (held.loc[gelu, "left_out"] == "operation 'GELU' not seen in training").all()
    others = held[~gelu]
    assert others["pred_runtime_s"].notna().all() and others["pred_power_w"].notna().all()
    np.testing.assert_allclose(others["pred_energy_j"], others["pred_runtime_s"] * others["pred_power_w"])


def test_evaluation_reports_layer_and_model_figures(training):
    ev = evaluate_family(training, "xgboost", FAST_PARAMS["xgboost"])
    metrics = ev.layer_metrics
    assert set(metrics["kind"]) == {"convolutional", "pooling", "dense", "other"}
    assert set(metrics["target"]) == {"runtime_s", "power_w", "energy_j"}
    assert {"rmspe", "mape", "r2", "within_10", "coverage"} <= set(metrics.columns)
    assert metrics["coverage"].between(0, 1).all()
    runs = training.models[["model", "batch_size"]].drop_duplicates()
    assert len(ev.models) == len(runs)
    row = ev.models.iloc[0]
    assert row["pred_runtime_s"] == pytest.approx(row["sum_runtime_s"])
    assert np.isfinite(ev.models["pred_runtime_cal_s"]).all()
    # the synthetic whole model costs ~1.08x the layers plus 8 us per call: the calibration finds it
    assert 0.9 < ev.calibration.a < 1.3 and ev.calibration.b_s >= 0
    assert ev.summary["runtime_s_calibrated"]["median_ape"] < ev.summary["runtime_s_raw"]["median_ape"]
    lo, hi = ev.bands["model"]["runtime_s"]["calibrated"]
    assert lo <= hi


def test_best_family_is_the_one_with_the_lowest_model_runtime_error(training):
    result = train_predictors(training, family="best", params=FAST_PARAMS)
    scores = {family: ev.score for family, ev in result.evaluations.items()}
    assert set(scores) == {"xgboost", "random-forest", "polynomial"}
    assert result.bundle.family == min(scores, key=scores.get)
    assert result.bundle.path is None  # nothing written without ``out``


def test_bad_inputs_are_refused(tmp_path, training):
    with pytest.raises(LayerpowerError, match="unknown family"):
        train_predictors(training, family="svm")
    with pytest.raises(SchemaError, match="no such dataset folder"):
        train_predictors(tmp_path / "nothing")
    one = write_synthetic_dataset(tmp_path / "one", n_models=1)
    with pytest.raises(LayerpowerError, match="at least 2"):
        train_predictors(one)
    broken = write_synthetic_dataset(tmp_path / "broken", n_models=2)
    frame = pd.read_parquet(broken / "dense.parquet").drop(columns=["rows"])
    frame.to_parquet(broken / "dense.parquet")
    with pytest.raises(SchemaError, match=r"dense\.parquet: missing column\(s\) 'rows'"):
        load_training_set(broken)


def test_calibration_is_dropped_when_it_does_not_help(training):
    from layerpower.predictors.training import calibration_helps

    ev = evaluate_family(training, "xgboost", FAST_PARAMS["xgboost"])
    ev.summary["runtime_s_raw"]["mean_abs_log"] = 0.01
    ev.summary["runtime_s_calibrated"]["mean_abs_log"] = 0.02
    assert not calibration_helps(ev)
    ev.summary["runtime_s_calibrated"]["mean_abs_log"] = 0.005
    assert calibration_helps(ev)
