"""The profiler's library API: one model at one configuration, and several models written to disk."""

from __future__ import annotations

import math

import pytest

from layerpower.config.schema import LAYER_COLUMNS, MODEL_COLUMNS
from layerpower.config.vocab import LAYER_KINDS
from layerpower.errors import LayerpowerError
from layerpower.profiling.profiler import LayerProfiler
from layerpower.profiling.settings import ProfileSettings
from layerpower.profiling.sweep import profile_models

QUICK = ProfileSettings(
    window_s=0.005, trials=2, context_forwards=2, whole_processes=0, whole_repeats=2, idle_s=0.02
)


@pytest.fixture(scope="module")
def lenet_profile():
    with LayerProfiler("cpu", "estimate", settings=QUICK) as profiler:
        assert not profiler._warmed
        result = profiler.profile("lenet", batch_size=3, dtype="fp32")
        assert profiler._warmed  # the throwaway profile ran once, before the first real one
    return result


def test_profile_returns_rows_in_the_schema(lenet_profile) -> None:
    frames = lenet_profile.frames()
    for kind in LAYER_KINDS:
        assert list(frames[kind].columns) == LAYER_COLUMNS[kind]
    assert list(frames["model"].columns) == MODEL_COLUMNS
    conv = frames["convolutional"]
    assert list(conv["layer_name"]) == ["features.0", "features.3"]
    assert (conv["batch_size"] == 3).all() and (conv["dtype"] == "float32").all()
    assert (conv["trials"] == 2).all()
    assert (conv["model"] == "lenet").all()
    assert (conv["device_id"] == lenet_profile.device_id).all()


def test_power_and_energy_are_consistent_per_layer(lenet_profile) -> None:
    for rows in lenet_profile.layer_rows.values():
        for row in rows:
            assert row["power_source"] == "estimate" and row["is_estimate"] is True
            assert row["runtime_s"] > 0 and row["runtime_isolated_s"] > 0
            assert row["energy_j"] > 0 and row["power_w"] > 0
            assert row["dynamic_power_w"] == pytest.approx(row["power_w"] - row["idle_power_w"])
            assert row["runtime_cv"] >= 0 and row["power_cv"] >= 0


def test_model_row_sums_the_layers(lenet_profile) -> None:
    row = lenet_profile.model_row
    rows = [r for rs in lenet_profile.layer_rows.values() for r in rs]
    assert row["layer_calls"] == len(rows) == 11
    assert row["sum_runtime_s"] == pytest.approx(sum(r["runtime_s"] for r in rows))
    assert row["sum_runtime_isolated_s"] == pytest.approx(sum(r["runtime_isolated_s"] for r in rows))
    assert row["processes"] == 0 and row["repeats"] == 2
    assert row["power_source"] == "estimate"
    info = lenet_profile.info
    assert info["context_forwards"] == 2 and info["layers_measured_alone"] == 11
    assert info["calls_missing_in_context"] == []
    assert not math.isnan(info["idle_power_w"])


def test_kinds_limit_the_rows(tmp_path) -> None:
    settings = QUICK.with_(kinds=("dense",), throwaway=False)
    report = profile_models(
        ["lenet"], [1], ["fp32"], out=tmp_path, power_source="estimate", settings=settings
    )
    (outcome,) = report.outcomes
    assert outcome.status == "done" and outcome.rows == 3
    assert report.power_source == "estimate" and report.is_estimate


def test_failures_are_recorded_and_the_run_goes_on(tmp_path) -> None:
    report = profile_models(
        ["not_a_model", "lenet"], [1], ["fp32"], out=tmp_path, power_source="estimate", settings=QUICK
    )
    first, second = report.outcomes
    assert first.status == "failed" and "unknown model" in first.error
    assert second.status == "done"
    assert [o.model for o in report.failures] == ["not_a_model"]


def test_missing_cuda_is_a_clear_error() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(LayerpowerError, match="no CUDA device"):
        LayerProfiler("cuda:0", "estimate")
