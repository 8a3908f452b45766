"""Bundles round-trip exactly and refuse anything that does not match their manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import skops.io
from synthetic_layers import DEVICE, FAST_PARAMS

from layerpower.errors import BundleError
from layerpower.predictors.bundle import MANIFEST, SKOPS_TRUSTED, load_bundle
from layerpower.predictors.data import file_sha256, load_training_set
from layerpower.predictors.training import train_predictors


@pytest.fixture(scope="module")
def training(synthetic_dataset):
    return load_training_set(synthetic_dataset)


@pytest.mark.parametrize("family", ["xgboost", "random-forest", "polynomial"])
def test_round_trip_gives_identical_predictions(family, training, tmp_path):
    result = train_predictors(training, family=family, out=tmp_path / "b", params=FAST_PARAMS[family])
    loaded = load_bundle(tmp_path / "b")
    for target, router in result.bundle.routers.items():
        np.testing.assert_array_equal(
            router.predict(training.layers), loaded.routers[target].predict(training.layers)
        )
    assert loaded.calibration == result.bundle.calibration
    assert loaded.family == family and loaded.device_id == DEVICE
    manifest = json.loads((tmp_path / "b" / MANIFEST).read_text())
    assert manifest["power_source"] == "estimate" and manifest["is_estimate"] is True
    assert manifest["training_data"]["sha256"] == training.sha256
    assert {"xgboost", "scikit-learn", "skops", "numpy"} <= set(manifest["libraries"])
    assert manifest["evaluation"]["method"] == "leave-one-model-out"
    for name, digest in manifest["files"].items():
        assert file_sha256(tmp_path / "b" / name) == digest
    suffix = {"xgboost": ".xgb.json", "random-forest": ".forest.npz", "polynomial": ".skops"}[family]
    assert all(name.endswith((suffix, ".json")) for name in manifest["files"])
    assert not list((tmp_path / "b").rglob("*.pkl"))


@pytest.fixture()
def bundle_copy(synthetic_bundle, tmp_path) -> Path:
    target = tmp_path / DEVICE
    shutil.copytree(synthetic_bundle, target)
    return target


def _edit_manifest(root: Path, **changes) -> None:
    manifest = json.loads((root / MANIFEST).read_text())
    for key, value in changes.items():
        manifest[key] = value
    (root / MANIFEST).write_text(json.dumps(manifest))


def test_tampered_model_file_is_refused(bundle_copy):
    model_file = bundle_copy / "runtime_s" / "convolutional.xgb.json"
    model_file.write_text(model_file.read_text().replace('"', "'", 1))
    with pytest.raises(BundleError, match=r"convolutional\.xgb\.json: sha256 does not match"):
        load_bundle(bundle_copy)


def test_missing_model_file_is_refused(bundle_copy):
    (bundle_copy / "power_w" / "other.json").unlink()
    with pytest.raises(BundleError, match="missing from the bundle"):
        load_bundle(bundle_copy)


def test_missing_manifest_is_refused(bundle_copy):
    (bundle_copy / MANIFEST).unlink()
    with pytest.raises(BundleError, match="manifest.json missing"):
        load_bundle(bundle_copy)


def test_other_feature_lists_are_refused(bundle_copy):
    manifest = json.loads((bundle_copy / MANIFEST).read_text())
    manifest["feature_lists"]["seed"]["dense"] = ["batch_size", "input_size"]
    (bundle_copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="other feature lists"):
        load_bundle(bundle_copy)


def test_other_schema_version_is_refused(bundle_copy):
    _edit_manifest(bundle_copy, schema_version=999)
    with pytest.raises(BundleError, match="schema version 999"):
        load_bundle(bundle_copy)


def test_incompatible_major_library_version_is_refused(bundle_copy):
    manifest = json.loads((bundle_copy / MANIFEST).read_text())
    manifest["libraries"]["xgboost"] = "1.7.6"
    (bundle_copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="xgboost 1.7.6.*major version differs"):
        load_bundle(bundle_copy)


def test_skops_file_with_untrusted_type_is_refused(training, tmp_path):
    root = tmp_path / "poly"
    train_predictors(training, family="polynomial", out=root, params=FAST_PARAMS["polynomial"])
    target = root / "runtime_s" / "dense.skops"
    skops.io.dump({"payload": Path("/")}, target)  # a type outside the allow-list, with a "valid" hash
    manifest = json.loads((root / MANIFEST).read_text())
    manifest["files"]["runtime_s/dense.skops"] = file_sha256(target)
    (root / MANIFEST).write_text(json.dumps(manifest))
    assert set(skops.io.get_untrusted_types(file=target)) - set(SKOPS_TRUSTED)
    with pytest.raises(BundleError, match="does not trust"):
        load_bundle(root)


def test_forest_arrays_predict_exactly_like_scikit_learn(tmp_path):
    from sklearn.ensemble import RandomForestRegressor

    from layerpower.predictors.forest import ForestArrays

    rng = np.random.default_rng(0)
    scale = np.array([1, 10, 1e3, 1e6, 1e9])
    X, Xt = rng.random((400, 5)) * scale, rng.random((100, 5)) * scale
    y = np.log1p(X[:, 2]) + rng.random(400)
    forest = RandomForestRegressor(n_estimators=7, max_depth=6, random_state=0).fit(X, y)
    arrays = ForestArrays.from_forest(forest)
    arrays.save(tmp_path / "f.npz")
    loaded = ForestArrays.load(tmp_path / "f.npz")
    np.testing.assert_array_equal(loaded.predict(Xt), forest.predict(Xt))
    with pytest.raises(ValueError, match="expected"):
        loaded.predict(Xt[:, :3])
