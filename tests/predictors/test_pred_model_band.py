"""The whole-model band of the leave-one-model-out evaluation: runs with unseen operations are priced as
prediction prices them, and kept out of the band."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic_layers import FAST_PARAMS, write_synthetic_dataset

from layerpower.predictors.data import load_training_set
from layerpower.predictors.evaluation import evaluate_family
from layerpower.predictors.metrics import conformal_band, log_ratio

UNSEEN = ("GELU", "Hardswish")  # net5's norm and activation: no other model has them
SLOW = 8.0  # net5's unseen calls run this much slower than the synthetic cost (like swin's masked attention)


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory: pytest.TempPathFactory):
    """xgboost's evaluation on 6 synthetic models where net5's unseen calls take most of its runtime."""
    root = write_synthetic_dataset(tmp_path_factory.mktemp("band") / "d", extra_ops={5: (*UNSEEN, "add")})
    other = pd.read_parquet(root / "other.parquet")
    slow = (other["model"] == "net5") & other["layer_type"].isin(UNSEEN)
    added = (other.loc[slow, "runtime_s"] * (SLOW - 1)).groupby(other.loc[slow, "batch_size"]).sum()
    other.loc[slow, "runtime_s"] *= SLOW
    other.to_parquet(root / "other.parquet")
    models = pd.read_parquet(root / "model.parquet")
    for batch, extra in added.items():
        rows = (models["model"] == "net5") & (models["batch_size"] == batch)
        models.loc[rows, "runtime_s"] += 1.08 * extra  # the whole model pays for the slow calls too
    models.to_parquet(root / "model.parquet")
    return evaluate_family(load_training_set(root), "xgboost", FAST_PARAMS["xgboost"])


def test_unseen_calls_are_priced_by_the_fold_roofline(evaluation):
    held = evaluation.layers
    unseen = held["model"].eq("net5") & held["layer_type"].isin(UNSEEN)
    assert held.loc[unseen, "pred_runtime_s"].isna().all()  # the trained predictors leave them out
    assert (held.loc[unseen, "priced_by"] == "roofline").all()
    assert (held.loc[unseen, "priced_runtime_s"] > 0).all() and (held.loc[unseen, "priced_power_w"] > 0).all()
    assert (held.loc[~unseen, "priced_by"] == "trained").all()
    np.testing.assert_allclose(held.loc[~unseen, "priced_runtime_s"], held.loc[~unseen, "pred_runtime_s"])
    runs = evaluation.models.set_index("model")
    net5 = runs.loc["net5"]
    assert (net5["fallback_calls"] == unseen.sum() / 2).all() and (net5["unpriced_calls"] == 0).all()
    # the whole-model sum now holds the unseen calls, so it is closer to the measurement
    assert (net5["pred_runtime_s"] > net5["pred_runtime_trained_s"]).all()
    assert (net5["err_pred_runtime_s"].abs() < net5["err_pred_runtime_trained_s"].abs()).all()
    assert (net5["fallback_runtime_share"] > 0).all()


def test_a_run_with_an_unseen_op_does_not_drag_the_model_band(evaluation):
    table = evaluation.models
    net5 = table["model"].eq("net5").to_numpy()
    assert not table.loc[net5, "in_band"].any() and table.loc[~net5, "in_band"].all()
    assert all(
        "priced by the fallback (GELU, Hardswish)" in why for why in table.loc[net5, "band_excluded_why"]
    )
    measured = table["measured_runtime_s"].to_numpy()
    for label, column in (("raw", "pred_runtime_s"), ("calibrated", "pred_runtime_cal_s")):
        residual = log_ratio(table[column].to_numpy(), measured)
        band = evaluation.bands["model"]["runtime_s"][label]
        assert band == pytest.approx(list(conformal_band(residual[~net5], evaluation.coverage)))
    # what used to set the band: net5's sum of the trained predictions alone, about half its runtime
    trained_only = log_ratio(table["pred_runtime_trained_s"].to_numpy(), measured)
    old_lo = conformal_band(trained_only, evaluation.coverage)[0]
    assert old_lo == pytest.approx(trained_only[net5].min()) and old_lo < -0.4
    lo, hi = evaluation.bands["model"]["runtime_s"]["raw"]
    assert lo > trained_only[net5].max() and lo > old_lo + 0.15
    band_info = evaluation.summary["model_band"]
    assert band_info["runs_used"] == 10 and band_info["runs_excluded"] == 2
    assert {(e["model"], e["batch_size"]) for e in band_info["excluded"]} == {("net5", 1), ("net5", 4)}
    assert evaluation.to_dict()["model_summary"]["model_band"] == band_info
    # every run is still reported, excluded ones included
    assert len(evaluation.to_dict()["models"]) == len(table) == 12


def test_the_band_uses_every_run_when_too_few_are_fully_priced(evaluation):
    from layerpower.predictors.model_runs import model_summary as _summary

    table = evaluation.models.assign(in_band=False)  # no run fully priced
    summary, bands = _summary(table, evaluation.coverage)
    residual = log_ratio(table["pred_runtime_s"].to_numpy(), table["measured_runtime_s"].to_numpy())
    assert bands["runtime_s"]["raw"] == pytest.approx(list(conformal_band(residual, evaluation.coverage)))
    assert summary["model_band"]["runs_used"] == 12 and summary["model_band"]["runs_excluded"] == 0
