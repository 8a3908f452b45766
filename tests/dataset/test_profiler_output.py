"""The real profiler's output merges: lenet profiled with the estimate source and a very short window."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from layerpower.config import LAYER_COLUMNS, LAYER_KINDS
from layerpower.dataset import DatasetBuilder, build_dataset


@pytest.fixture(scope="module")
def lenet_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from layerpower.profiling.settings import ProfileSettings
    from layerpower.profiling.sweep import profile_models

    root = tmp_path_factory.mktemp("profiled") / "training_data"
    settings = ProfileSettings(
        window_s=0.005,
        trials=1,
        warmup_calls=1,
        idle_s=0.02,
        context_forwards=1,
        whole_processes=0,  # whole model measured in this process: no fresh interpreters in a unit test
        whole_repeats=1,
        throwaway=False,
    )
    report = profile_models(
        ["lenet"], batch_sizes=(1, 2), out=root, power_source="estimate", settings=settings
    )
    assert not report.failures, report.failures[0].error
    return root


def test_profiler_output_merges(lenet_profile: Path, tmp_path: Path) -> None:
    result = build_dataset(lenet_profile, out=tmp_path / "out", fmt="csv", progress=False)
    summary = result.summary
    assert summary["source"] == "estimate" and summary["power_sources"] == ["estimate"]
    assert summary["counts"]["lenet"]["configs"] == 2
    assert summary["rows"]["model"] == 2
    for kind in LAYER_KINDS:
        frame = pd.read_csv(tmp_path / "out" / f"{kind}.csv")
        assert list(frame.columns) == [*LAYER_COLUMNS[kind], "source"]
        assert (frame["source"] == "estimate").all()
    conv = pd.read_csv(tmp_path / "out" / "convolutional.csv")
    assert len(conv) == 2 * 2  # lenet has two convolutions, at batch sizes 1 and 2
    assert build_dataset(lenet_profile, out=tmp_path / "out", fmt="csv", progress=False).unchanged


def test_profiler_output_as_layer_data(lenet_profile: Path) -> None:
    files = sorted(lenet_profile.glob("*/lenet/convolutional.csv"))
    data = DatasetBuilder().merge_feature_data(files)
    assert set(data.source) == {"estimate"}
    assert (data.runtime > 0).all() and (data.power >= 0).all()
    assert data.model.unique().tolist() == ["lenet"]
