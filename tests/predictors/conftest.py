"""Fixtures of the predictor tests: a synthetic dataset in the real schema and a bundle trained on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from synthetic_layers import DEVICE, FAST_PARAMS, write_synthetic_dataset


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset folder of 6 synthetic models × batch sizes 1 and 4 (one model also uses GELU)."""
    root = tmp_path_factory.mktemp("datasets") / DEVICE
    return write_synthetic_dataset(root, extra_ops={5: ("BatchNorm2d", "GELU", "add")})


@pytest.fixture(scope="session")
def synthetic_bundle(synthetic_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An xgboost bundle trained on :func:`synthetic_dataset` with small regressors."""
    from layerpower.predictors.training import train_predictors

    out = tmp_path_factory.mktemp("predictors") / DEVICE
    train_predictors(synthetic_dataset, family="xgboost", out=out, params=FAST_PARAMS["xgboost"])
    return out


@pytest.fixture(scope="session", autouse=True)
def layer_cache_in_tmp(tmp_path_factory: pytest.TempPathFactory):
    """Keep the layer cache of these tests out of the user's ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAYERPOWER_CACHE_DIR", str(tmp_path_factory.mktemp("layer-cache")))
        yield


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test sees an empty user data dir (no calibrated bundle of this machine)."""
    monkeypatch.setenv("LAYERPOWER_DATA_DIR", str(tmp_path_factory.mktemp("data")))
