"""Fixtures of the calibrate tests: a synthetic reference bundle and the fake sampled-layer measurer."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "predictors"))

from cal_fakes import FakeFaultCost, FakeSampled, fake_whole  # noqa: E402
from synthetic_layers import DEVICE, FAST_PARAMS, write_synthetic_dataset  # noqa: E402


@pytest.fixture(scope="session")
def reference_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from layerpower.predictors.training import train_predictors

    data = write_synthetic_dataset(tmp_path_factory.mktemp("cal-data") / DEVICE)
    out = tmp_path_factory.mktemp("cal-ref") / DEVICE
    train_predictors(data, family="xgboost", out=out, params=FAST_PARAMS["xgboost"])
    return out


@pytest.fixture(autouse=True)
def _private_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAYERPOWER_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.setenv("LAYERPOWER_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def fake_sampled(monkeypatch: pytest.MonkeyPatch) -> FakeSampled:
    from layerpower.calibrate import probes
    from layerpower.profiling import fault_cost, whole_model

    fake = FakeSampled()
    fake.fault_cost = FakeFaultCost()
    monkeypatch.setattr(fault_cost, "measure_fault_cost", fake.fault_cost)
    monkeypatch.setattr(probes, "sampled_api", lambda: fake)
    monkeypatch.setattr(probes, "LAYER_PROBES", 120)
    monkeypatch.setattr(probes, "CHUNK", 16)
    monkeypatch.setattr(whole_model, "measure_whole_model", fake_whole)
    return fake
