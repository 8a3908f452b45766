"""DatasetBuilder on profiler-format files: reading, merging, LayerData and the summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from profiled_files import tiny_cnn, write_profile

from layerpower.config import (
    CONV_FEATURES,
    CONV_FEATURES_EXTENDED,
    DENSE_FEATURES,
    LAYER_COLUMNS,
    POOLING_FEATURES,
)
from layerpower.dataset import DatasetBuilder, LayerData, count_table, suspicious_models
from layerpower.errors import SchemaError


def test_read_csv_returns_schema_columns_in_si_units(training_data: Path) -> None:
    path = training_data / "test-gpu" / "tinynet" / "convolutional.csv"
    raw = pd.read_csv(path)
    frame = DatasetBuilder().read_csv_and_convert_power(path)
    assert list(frame.columns) == [*LAYER_COLUMNS["convolutional"], "source"]
    assert len(frame) == len(raw) == 4  # 2 convolutions x batch sizes 1 and 4
    np.testing.assert_allclose(frame["power_w"], raw["power_w"])
    np.testing.assert_allclose(frame["runtime_s"], raw["runtime_s"])
    assert set(frame["source"]) == {"measured"}
    assert frame["batch_size"].tolist() == raw["batch_size"].tolist()


def test_merge_three_models(training_data: Path) -> None:
    files = sorted((training_data / "test-gpu").glob("*/convolutional.csv"))
    data = DatasetBuilder(features=CONV_FEATURES).merge_feature_data(files)
    assert isinstance(data, LayerData)
    assert data.kind == "convolutional"
    assert len(data) == (2 + 2 + 3) * 2
    assert list(data.input_features.columns) == CONV_FEATURES
    assert data.input_features.dtypes.eq(float).all()
    assert data.power.name == "power" and (data.power > 0).all()  # W
    assert data.runtime.name == "runtime" and (data.runtime > 0).all()  # s
    assert (data.power_column, data.runtime_column) == ("power_w", "runtime_s")
    assert sorted(data.model.unique()) == ["deepnet", "tinynet", "widenet"]
    assert set(data.source) == {"measured"}
    assert data.device_id == "test-gpu"
    assert data.files == files
    # every series shares the frame's index
    for series in (data.power, data.runtime, data.model, data.source):
        assert series.index.equals(data.input_features.index)


def test_exploration_notebook_idiom(training_data: Path) -> None:
    # the layer-data exploration notebooks concatenate the three parts and index the targets by name
    files = sorted((training_data / "test-gpu").glob("*/convolutional.csv"))
    d = DatasetBuilder(features=CONV_FEATURES).merge_feature_data(files)
    df = pd.concat([d.input_features, d.power, d.runtime], axis=1)
    assert list(df.columns) == [*CONV_FEATURES, "power", "runtime"]
    assert df["power"].equals(d.frame["power_w"].astype(float).rename("power"))
    assert df["runtime"].equals(d.frame["runtime_s"].astype(float).rename("runtime"))


def test_extended_features_and_other_kinds(training_data: Path) -> None:
    device = training_data / "test-gpu"
    conv = DatasetBuilder(features=CONV_FEATURES_EXTENDED).merge_feature_data(
        sorted(device.glob("*/convolutional.csv"))
    )
    assert (conv.input_features["flops"] > 0).all()
    pool = DatasetBuilder(features=POOLING_FEATURES).merge_feature_data(sorted(device.glob("*/pooling.csv")))
    assert pool.kind == "pooling" and len(pool) == (2 + 2 + 3) * 2
    dense = DatasetBuilder(features=DENSE_FEATURES).merge_feature_data(sorted(device.glob("*/dense.csv")))
    assert dense.input_features["output_size"].isin([64, 10]).all()


def test_features_must_belong_to_the_kind(training_data: Path) -> None:
    path = training_data / "test-gpu" / "tinynet" / "dense.csv"
    with pytest.raises(SchemaError, match="'kernel_0'.*not columns of dense files"):
        DatasetBuilder(features=CONV_FEATURES).merge_feature_data([path])


def test_merging_several_kinds_at_once_is_refused(training_data: Path) -> None:
    folder = training_data / "test-gpu" / "tinynet"
    with pytest.raises(SchemaError, match="several tables"):
        DatasetBuilder().merge_feature_data([folder / "convolutional.csv", folder / "pooling.csv"])


def test_merge_needs_files() -> None:
    with pytest.raises(SchemaError, match="no files"):
        DatasetBuilder().merge_feature_data([])


def test_model_files(training_data: Path) -> None:
    files = sorted((training_data / "test-gpu").glob("*/model.csv"))
    frame = DatasetBuilder().read_model_files(files)
    assert len(frame) == 3 * 2
    assert set(frame["model"]) == {"tinynet", "widenet", "deepnet"}
    assert (frame["layer_calls"] > 0).all()


def test_summary_first_look(training_data: Path) -> None:
    files = sorted((training_data / "test-gpu").glob("*/convolutional.csv"))
    summary = DatasetBuilder().merge_feature_data(files).summary()
    assert summary.rows == 14
    assert summary.device_ids == ["test-gpu"]
    assert summary.sources == {"measured": 14}
    table = summary.layers_per_model
    assert table.index.tolist() == ["deepnet", "tinynet", "widenet"]  # most rows first, then by name
    assert table.loc["deepnet", "rows"] == 6 and table.loc["deepnet", "configs"] == 2
    assert table.loc["deepnet", "rows_per_config"] == 3
    assert "power [W] (power_w)" in summary.describe.index
    assert summary.describe.loc["batch_size", "max"] == 4
    assert summary.flags == []


def test_summary_flags_incomplete_profile(tmp_path: Path, training_data: Path) -> None:
    path = training_data / "test-gpu" / "tinynet" / "convolutional.csv"
    frame = pd.read_csv(path)
    frame.iloc[:-1].to_csv(path, index=False)  # batch size 4 lost its last convolution
    summary = DatasetBuilder().merge_feature_data([path]).summary()
    assert any("tinynet: convolutional rows differ between configurations" in f for f in summary.flags)


def _counts_frame(counts: dict[str, int]) -> pd.DataFrame:
    rows = [{"model": m, "batch_size": 1, "dtype": "float32"} for m, n in counts.items() for _ in range(n)]
    return pd.DataFrame(rows, columns=["model", "batch_size", "dtype"])


def test_suspicious_counts_robust_rule() -> None:
    conv = _counts_frame({"a": 20, "b": 22, "c": 18, "d": 21, "e": 19, "f": 800})
    dense = _counts_frame({"a": 1, "b": 1, "c": 1, "d": 1, "e": 0, "f": 1})
    flags = suspicious_models({"convolutional": conv, "dense": dense})
    assert any(f.startswith("f: 800 convolutional rows per configuration") for f in flags)
    assert any(f.startswith("e: no dense rows, while 5 of 5 other models have some") for f in flags)
    assert not any(f.startswith(("a:", "b:", "c:", "d:")) for f in flags)


def test_count_table_lists_every_model_and_kind(training_data: Path) -> None:
    device = training_data / "test-gpu"
    frames = {
        kind: DatasetBuilder(features=[]).merge_feature_data(sorted(device.glob(f"*/{kind}.csv"))).frame
        for kind in ("convolutional", "pooling", "dense", "other")
    }
    table = count_table(frames)
    assert table.loc["tinynet"].to_dict() == {
        "convolutional": 4,
        "pooling": 4,
        "dense": 4,
        "other": 4,
        "configs": 2,
        "total": 16,
    }


def test_estimate_rows_are_marked(tmp_path: Path) -> None:
    folder = write_profile(tmp_path, power_source="estimate", specs=tiny_cnn())
    data = DatasetBuilder().merge_feature_data([folder / "convolutional.csv"])
    assert set(data.source) == {"estimate"}
    assert set(data.frame["power_source"]) == {"estimate"}


def _rows(model: str, batch: int, names: list[str]) -> list[dict]:
    return [
        {"model": model, "batch_size": batch, "dtype": "float32", "layer_name": n, "call_index": 0}
        for n in names
    ]


def test_suspicious_counts_leave_sampled_rows_and_batch_independent_calls_alone() -> None:
    names = [f"l{i}" for i in range(40)]
    other = pd.DataFrame(
        _rows("bert", 1, [*names, "positions"])  # the position table's one row, at batch 1
        + _rows("bert", 8, names)
        + _rows("swin", 1, names)
        + _rows("swin", 8, names)
        + _rows("swin", 64, ["mask"])  # a window mask: (batch x windows) rows, no configuration
        + _rows("swin", 512, ["mask"])
        + _rows("_sampled", 1, names[:30])  # draws, not a model
        + _rows("_sampled", 8, names[:3])
        + _rows("cut", 1, names)
        + _rows("cut", 8, names[:36])  # four calls lost: flagged
    )
    conv = pd.DataFrame(_rows("swin", 1, ["c"]) + _rows("swin", 8, ["c"]) + _rows("cut", 1, ["c"]))
    flags = suspicious_models({"other": other, "convolutional": conv}, profiled={("bert", "convolutional")})
    assert {f.split(":")[0] for f in flags} == {"cut"}  # its other rows, and its convolution at batch 8
    assert flags[0].startswith("cut: other rows differ between configurations (batch 1/float32: 40")
    # without the file read, bert's missing convolutions are flagged, as a lost file would be
    flags = suspicious_models({"other": other, "convolutional": conv})
    assert "bert: no convolutional rows, while 2 of 2 other models have some" in flags


def test_the_committed_dataset_builds_without_notes_or_flags(tmp_path: Path) -> None:
    from layerpower.dataset import build_dataset

    root = Path(__file__).resolve().parents[2] / "training_data"
    result = build_dataset(root, device_id="cpu-intel-xeon-2c", out=tmp_path / "out", progress=False)
    assert result.summary["flags"] == [] and result.summary["notes"] == []
    assert result.summary["counts"]["_sampled"]["total"] == 3000
