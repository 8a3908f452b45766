"""``predict_energy`` and the ``predict-energy`` / ``train-predictors`` commands."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from synthetic_layers import DEVICE

from layerpower.cli.predict import predict_energy as predict_cmd
from layerpower.cli.predict import train_predictors as train_cmd
from layerpower.errors import BundleError, LayerpowerError, UnknownModelError
from layerpower.predictors.bundle import load_bundle
from layerpower.predictors.bundle_choice import bundled_devices
from layerpower.predictors.energy import predict_energy


def test_prediction_for_a_model_not_in_the_training_data(synthetic_bundle):
    result = predict_energy("resnet18", batch_size=2, predictors=synthetic_bundle)
    total, layers = result.total, result.layers
    assert total.device_id == DEVICE and total.family == "xgboost"
    assert total.power_source == "estimate" and total.is_estimate
    assert total.calibrated and total.left_out == []
    assert len(layers) == 68 and (layers["runtime_s"] > 0).all() and (layers["power_w"] > 0).all()
    np.testing.assert_allclose(layers["energy_j"], layers["runtime_s"] * layers["power_w"])
    cal = load_bundle(synthetic_bundle).calibration
    assert total.runtime_s == pytest.approx(cal.apply(layers["runtime_s"].sum(), len(layers)))
    assert total.energy_j == pytest.approx(
        layers["energy_j"].sum() * total.runtime_s / layers["runtime_s"].sum()
    )
    assert total.avg_power_w == pytest.approx(total.energy_j / total.runtime_s)
    assert total.runtime_low_s <= total.runtime_s <= total.runtime_high_s
    assert total.energy_low_j <= total.energy_j <= total.energy_high_j
    assert (layers["runtime_low_s"] <= layers["runtime_high_s"]).all()


def test_uncalibrated_total_is_the_sum_over_layers(synthetic_bundle):
    result = predict_energy("resnet18", predictors=synthetic_bundle, calibrate=False)
    assert not result.total.calibrated
    assert result.total.runtime_s == pytest.approx(result.layers["runtime_s"].sum())
    assert result.total.energy_j == pytest.approx(result.layers["energy_j"].sum())


def test_unseen_operations_fall_back_to_the_roofline_and_are_said(synthetic_bundle):
    result = predict_energy("lenet", predictors=synthetic_bundle)  # Tanh never occurs in the training data
    layers = result.layers
    tanh = layers["layer_type"] == "Tanh"
    assert tanh.sum() == 4
    assert layers.loc[tanh, "unseen_op"].all() and (layers.loc[tanh, "runtime_s"] > 0).all()
    assert (layers.loc[tanh, "predicted_by"] == "roofline").all()
    assert (layers.loc[~tanh, "predicted_by"] == "trained").all()
    assert not layers.loc[~tanh, "unseen_op"].any()
    assert result.total.left_out == []
    assert result.fallback.fallback == {"roofline": {"Tanh": 4}}
    assert result.fallback.line().endswith(
        "roofline for Tanh (4 calls); their power: "
        "median power of the kind (this prediction's trained layers')"
    )
    assert math.isfinite(result.total.energy_j) and result.total.energy_j > 0


def test_library_errors(synthetic_bundle, tmp_path):
    with pytest.raises(UnknownModelError):
        predict_energy("no_such_model", predictors=synthetic_bundle)
    with pytest.raises(LayerpowerError, match="batch size 0"):
        predict_energy("lenet", batch_size=0, predictors=synthetic_bundle)
    with pytest.raises(BundleError, match="no such predictor folder"):
        predict_energy("lenet", predictors=tmp_path / "missing")
    with pytest.raises(BundleError, match="no predictors for device 'gpu-x'"):
        predict_energy("lenet", device_id="gpu-x", predictors=synthetic_bundle.parent)


def test_folder_of_bundles_picks_the_device(synthetic_bundle):
    result = predict_energy("lenet", device_id=DEVICE, predictors=synthetic_bundle.parent)
    assert result.total.device_id == DEVICE


def _run(command, args):
    return CliRunner().invoke(command, args, catch_exceptions=False)


def test_cli_table_says_where_power_comes_from(synthetic_bundle):
    out = _run(
        predict_cmd, ["--model", "resnet18", "--batch-size", "2", "--predictors", str(synthetic_bundle)]
    )
    assert out.exit_code == 0, out.output
    assert "power: estimate (no sensor on the profiling machine)" in out.output
    assert f"predictors: {DEVICE}, family xgboost, calibrated" in out.output
    for label in ("energy", "runtime", "average power", "90% interval"):
        assert label in out.output
    assert "layer1.0.conv1" not in out.output


def test_cli_per_layer_json_and_csv(synthetic_bundle):
    out = _run(
        predict_cmd,
        ["--model", "lenet", "--predictors", str(synthetic_bundle), "--format", "json", "--per-layer"],
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["total"]["is_estimate"] is True and len(data["layers"]) == 11
    assert data["layers"][1]["unseen_op"] is True and data["layers"][1]["predicted_by"] == "roofline"
    assert data["coverage"]["fallback"] == {"roofline": {"Tanh": 4}}
    out = _run(predict_cmd, ["--model", "lenet", "--predictors", str(synthetic_bundle), "--format", "csv"])
    header, row = out.output.strip().splitlines()
    assert header.split(",")[:4] == ["model", "batch_size", "dtype", "energy_j"]
    assert row.startswith("lenet,1,float32,")
    out = _run(predict_cmd, ["--model", "lenet", "--predictors", str(synthetic_bundle), "--per-layer"])
    assert "features.0" in out.output and "roofline for Tanh (4 calls)" in out.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "no_such_model"], "unknown model 'no_such_model'"),
        (["--model", "lenet", "--batch-size", "0"], "batch size 0 is not a positive integer"),
        (["--model", "lenet", "--dtype", "int3"], "unknown dtype 'int3'"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(synthetic_bundle, args, message):
    out = CliRunner().invoke(predict_cmd, [*args, "--predictors", str(synthetic_bundle)])
    assert out.exit_code == 2
    assert out.output.strip().count("\n") == 0 and message in out.output


def test_cli_missing_bundle_is_one_line_exit_2(tmp_path):
    out = CliRunner().invoke(predict_cmd, ["--model", "lenet", "--predictors", str(tmp_path / "none")])
    assert out.exit_code == 2 and out.output.startswith("Error: ") and out.output.strip().count("\n") == 0


def test_cli_trains_a_bundle(synthetic_dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(
        "layerpower.predictors.training.BUNDLE_PARAMS",
        {
            "xgboost": {"n_estimators": 20, "learning_rate": 0.3},
            "random-forest": {"n_estimators": 10},
            "polynomial": {"degree": 2, "alphas": 10},
        },
    )  # the default family is "best": all three are evaluated
    out = _run(train_cmd, [str(synthetic_dataset), "--out", str(tmp_path / "b"), "--quiet"])
    assert out.exit_code == 0, out.output
    assert "power: estimate (no sensor on the profiling machine)" in out.output
    assert "calibrated" in out.output and "bundle written to" in out.output
    assert load_bundle(tmp_path / "b").family in ("xgboost", "polynomial")  # best: never random-forest
    bad = CliRunner().invoke(train_cmd, [str(tmp_path / "nothing")])
    assert bad.exit_code == 2 and "no such dataset folder" in bad.output


@pytest.mark.skipif(not bundled_devices(), reason="no predictors bundled with the package yet")
def test_bundled_predictors_predict_without_training():
    devices = bundled_devices()
    out = _run(predict_cmd, ["--model", "resnet18"])
    assert out.exit_code == 0, out.output
    assert any(f"predictors: {d}," in out.output for d in devices)
    assert "bundled with the package" in out.output
    bundle = load_bundle(
        __import__("layerpower.predictors.bundle_choice", fromlist=["x"]).BUNDLED_ROOT / devices[0]
    )
    expected = "estimate (no sensor on the profiling machine)" if bundle.is_estimate else "measured ("
    assert f"power: {expected}" in out.output


def test_a_training_model_is_said_to_be_in_sample(synthetic_bundle):
    from synthetic_layers import synthetic_model

    from layerpower.predictors.energy import predict_specs

    bundle = load_bundle(synthetic_bundle)
    seen = predict_specs(synthetic_model(0, 1), bundle, model="net0")
    assert any("net0 is one of the models the predictors were trained on" in n for n in seen.notes)
    unseen = predict_specs(synthetic_model(0, 1), bundle, model="other_net")
    assert not any("trained on" in n for n in unseen.notes)


def test_layer_rows_are_cached_and_give_identical_predictions(synthetic_bundle, tmp_path, monkeypatch):
    from layerpower.predictors import layer_cache

    monkeypatch.setenv("LAYERPOWER_CACHE_DIR", str(tmp_path / "cache"))
    first = predict_energy("resnet18", batch_size=2, predictors=synthetic_bundle)
    assert len(list((tmp_path / "cache").glob("resnet18-b2-float32-*.json"))) == 1

    def no_extraction(*args, **kwargs):
        raise AssertionError("extracted again despite the cache")

    monkeypatch.setattr(layer_cache, "extract_frame", no_extraction)
    second = predict_energy("resnet18", batch_size=2, predictors=synthetic_bundle)
    assert second.total == first.total
    assert second.layers.equals(first.layers)
    with pytest.raises(AssertionError, match="extracted again"):
        predict_energy("resnet18", batch_size=4, predictors=synthetic_bundle)  # another batch size: a miss


def test_layer_cache_can_be_disabled(synthetic_bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERPOWER_CACHE_DIR", "off")
    from layerpower.predictors.layer_cache import _cache_path, cache_dir

    assert cache_dir() is None
    monkeypatch.setenv("LAYERPOWER_CACHE_DIR", str(tmp_path))
    assert _cache_path("pkg.nets:build", 1, "float32") is None  # user models are never cached
    assert _cache_path("vgg16", 1, "float32").parent == tmp_path


def test_without_this_machines_bundle_the_nearest_device_is_chosen(tmp_path, monkeypatch):
    from layerpower.predictors import bundle_choice as choice

    for device in ("cpu-amd-epyc-2c", "cpu-intel-xeon-2c", "cuda-nvidia-h200"):
        (tmp_path / device).mkdir()
        (tmp_path / device / "manifest.json").write_text("{}")
    monkeypatch.setattr(choice, "this_machine_ids", lambda gpu=True: ["cpu-intel-xeon-4c"])
    path, why = choice.resolve_predictors(predictors=tmp_path)
    assert path == tmp_path / "cpu-intel-xeon-2c"
    assert "cpu-intel-xeon-2c, the nearest of 3 bundles" in why and "layerpower calibrate" in why
    assert choice.nearest_device(["cpu-intel-xeon-2c", "cpu-amd-epyc-2c"], ["cpu-amd-epyc-7b13-2c"]) == (
        "cpu-amd-epyc-2c"
    )
    assert choice.nearest_device(["b-x", "a-x"], ["c-x"]) == "a-x"  # nothing shared: the first sorted
