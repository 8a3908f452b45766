"""Every validation error, each from a crafted file, naming the file, the data row and the column."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from layerpower.dataset import DatasetBuilder
from layerpower.errors import SchemaError


@pytest.fixture
def conv_file(profile: Callable[..., Path]) -> Path:
    return profile() / "convolutional.csv"


def _edit(path: Path, change: Callable[[pd.DataFrame], pd.DataFrame | None]) -> Path:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    result = change(frame)
    (frame if result is None else result).to_csv(path, index=False)
    return path


def _set(path: Path, row: int, column: str, value: str) -> Path:
    """Set data row ``row`` (1-based) of ``column`` to the text ``value``."""

    def change(frame: pd.DataFrame) -> None:
        frame.loc[row - 1, column] = value

    return _edit(path, change)


def _error(path_or_paths: Path | list[Path], **builder_kwargs) -> str:
    paths = path_or_paths if isinstance(path_or_paths, list) else [path_or_paths]
    with pytest.raises(SchemaError) as info:
        DatasetBuilder(**builder_kwargs).merge_feature_data(paths)
    return str(info.value)


def test_missing_column(conv_file: Path) -> None:
    _edit(conv_file, lambda f: f.drop(columns=["power_cv"]))
    message = _error(conv_file)
    assert str(conv_file) in message
    assert "header (line 1): missing column(s) 'power_cv'" in message


def test_extra_column(conv_file: Path) -> None:
    _edit(conv_file, lambda f: f.assign(comment="hello"))
    message = _error(conv_file)
    assert f"{conv_file}: header (line 1): extra column(s) 'comment'" in message


def test_non_numeric_value(conv_file: Path) -> None:
    _set(conv_file, 3, "runtime_s", "fast")
    assert _error(conv_file) == f"{conv_file}: data row 3, column 'runtime_s': not a number (got 'fast')"


def test_empty_value(conv_file: Path) -> None:
    _set(conv_file, 2, "power_w", "")
    message = _error(conv_file)
    assert message.startswith(f"{conv_file}: data row 2, column 'power_w': empty or NaN value")


def test_nan_value(conv_file: Path) -> None:
    _set(conv_file, 4, "flops", "nan")
    assert f"{conv_file}: data row 4, column 'flops': empty or NaN value" in _error(conv_file)


def test_infinite_value(conv_file: Path) -> None:
    _set(conv_file, 1, "energy_j", "inf")
    assert f"{conv_file}: data row 1, column 'energy_j': infinite value (got inf)" in _error(conv_file)


@pytest.mark.parametrize("value", ["0", "-0.001"])
def test_runtime_not_positive(conv_file: Path, value: str) -> None:
    _set(conv_file, 2, "runtime_s", value)
    message = _error(conv_file)
    assert (
        f"{conv_file}: data row 2, column 'runtime_s': runtime must be > 0 (got {float(value)!r})" in message
    )


def test_negative_total_power(conv_file: Path) -> None:
    _set(conv_file, 3, "power_w", "-1.5")
    assert f"{conv_file}: data row 3, column 'power_w': power must be >= 0 (got -1.5)" in _error(conv_file)


def test_negative_dynamic_power_is_accepted(conv_file: Path) -> None:
    _set(conv_file, 3, "dynamic_power_w", "-0.2")
    data = DatasetBuilder().merge_feature_data([conv_file])
    assert data.frame.loc[2, "dynamic_power_w"] == pytest.approx(-0.2)


def test_several_bad_rows_are_counted(conv_file: Path) -> None:
    def change(frame: pd.DataFrame) -> None:
        frame["runtime_s"] = "-1"

    _edit(conv_file, change)
    message = _error(conv_file)
    assert "data rows 1, 2, 3, column 'runtime_s'" in message
    assert "1 more row(s) like this" in message


def test_duplicate_row(conv_file: Path) -> None:
    _edit(conv_file, lambda f: pd.concat([f, f.iloc[[0]]], ignore_index=True))
    message = _error(conv_file)
    assert re.search(
        rf"{re.escape(str(conv_file))}: data row 5: duplicate row: equals {re.escape(str(conv_file))}: data row 1",
        message,
    )
    assert "layer_name" in message


def test_duplicate_across_files(profile: Callable[..., Path], tmp_path: Path) -> None:
    folder = profile()
    copy = tmp_path / "copy" / "convolutional.csv"
    copy.parent.mkdir()
    copy.write_bytes((folder / "convolutional.csv").read_bytes())
    message = _error([folder / "convolutional.csv", copy])
    assert f"{copy}: data row 1: duplicate row: equals {folder / 'convolutional.csv'}: data row 1" in message


def test_unknown_schema_version_in_rows(conv_file: Path) -> None:
    _edit(conv_file, lambda f: f.assign(schema_version="2"))
    message = _error(conv_file)
    assert f"{conv_file}: data row 1, column 'schema_version': schema version 2 is not known" in message


def test_unknown_schema_version_in_a_later_row(conv_file: Path) -> None:
    _set(conv_file, 3, "schema_version", "7")
    message = _error(conv_file)
    assert f"{conv_file}: data row 3, column 'schema_version': schema version not known" in message


def test_unknown_schema_version_in_meta(conv_file: Path) -> None:
    meta_path = conv_file.parent / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["schema_version"] = 99
    meta_path.write_text(json.dumps(meta))
    message = _error(conv_file)
    assert f"{meta_path}: key 'schema_version': schema version 99 is not known" in message


def test_meta_disagrees_with_rows(conv_file: Path) -> None:
    _edit(conv_file, lambda f: f.assign(device_id="other-gpu"))
    message = _error(conv_file)
    assert f"{conv_file}: data row 1, column 'device_id': 'other-gpu' disagrees with" in message
    assert "meta.json" in message


def test_non_integer_size(conv_file: Path) -> None:
    _set(conv_file, 2, "batch_size", "1.5")
    assert f"{conv_file}: data row 2, column 'batch_size': not an integer (got 1.5)" in _error(conv_file)


def test_unknown_power_source(conv_file: Path) -> None:
    _set(conv_file, 1, "power_source", "multimeter")
    message = _error(conv_file)
    assert f"{conv_file}: data row 1, column 'power_source': unknown power source" in message


def test_is_estimate_must_match_power_source(conv_file: Path) -> None:
    _set(conv_file, 2, "is_estimate", "True")
    message = _error(conv_file)
    assert f"{conv_file}: data row 2, column 'is_estimate': disagrees with power_source" in message


def test_is_estimate_must_be_a_flag(conv_file: Path) -> None:
    _set(conv_file, 2, "is_estimate", "maybe")
    assert f"{conv_file}: data row 2, column 'is_estimate': not True or False (got 'maybe')" in _error(
        conv_file
    )


def test_ragged_line(conv_file: Path) -> None:
    with conv_file.open("a") as handle:
        handle.write("1,2,3" + ",4" * 60 + "\n")
    message = _error(conv_file)
    assert message.startswith(f"{conv_file}: not a readable CSV")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "convolutional.csv"
    path.write_text("")
    assert _error(path).startswith(f"{path}: empty file")


def test_mixing_measured_and_estimated_power(profile: Callable[..., Path]) -> None:
    measured = profile(model="a") / "convolutional.csv"
    estimated = profile(model="b", power_source="estimate") / "convolutional.csv"
    message = _error([measured, estimated])
    assert "mixes measured and estimated power" in message
    assert f"'measured' first in {measured}: data row 1" in message
    assert f"'estimate' first in {estimated}: data row 1" in message
    assert "--allow-mixed-sources" in message
    data = DatasetBuilder(allow_mixed_sources=True).merge_feature_data([measured, estimated])
    assert data.source.value_counts().to_dict() == {"measured": 4, "estimate": 4}


def test_mixing_devices(profile: Callable[..., Path]) -> None:
    first = profile(device_id="gpu-a") / "convolutional.csv"
    second = profile(device_id="gpu-b") / "convolutional.csv"
    message = _error([first, second])
    assert "mixes devices" in message and "'gpu-a'" in message and "'gpu-b'" in message
    data = DatasetBuilder(allow_mixed_devices=True).merge_feature_data([first, second])
    assert data.device_id is None and data.device_ids == ["gpu-a", "gpu-b"]


def test_blank_line_falls_back_to_file_by_file(conv_file: Path) -> None:
    """A blank line makes line counts disagree; the file-by-file fallback still numbers data rows."""
    _set(conv_file, 3, "runtime_s", "-1")
    lines = conv_file.read_text().splitlines()
    conv_file.write_text("\n".join([lines[0], lines[1], "", *lines[2:]]) + "\n")
    assert f"{conv_file}: data row 3, column 'runtime_s': runtime must be > 0" in _error(conv_file)
    _set(conv_file, 3, "runtime_s", "0.5")
    lines = conv_file.read_text().splitlines()
    conv_file.write_text("\n".join([lines[0], "", *lines[1:]]) + "\n")
    frame = DatasetBuilder().read_csv_and_convert_power(conv_file)
    assert len(frame) == 4 and frame.loc[2, "runtime_s"] == 0.5


def test_runtime_in_context_may_be_empty(conv_file: Path) -> None:
    """The profiler leaves runtime_s empty for a call not seen in context; such rows are left out, noted."""
    _set(conv_file, 2, "runtime_s", "")
    data = DatasetBuilder().merge_feature_data([conv_file])
    assert len(data) == 3
    assert data.notes == [
        f"1 row(s) left out: column 'runtime_s' empty (not timed in context), first {conv_file}: data row 2"
    ]
    isolated = DatasetBuilder(runtime_target="isolated").merge_feature_data([conv_file])
    assert len(isolated) == 4 and isolated.runtime_column == "runtime_isolated_s"
    assert isolated.runtime.name == "runtime"
    _set(conv_file, 2, "runtime_isolated_s", "")
    message = _error(conv_file)
    assert f"{conv_file}: data row 2, columns 'runtime_s' and 'runtime_isolated_s': both empty" in message


def test_layer_named_like_a_missing_value(conv_file: Path) -> None:
    _set(conv_file, 1, "layer_name", "NA")
    frame = DatasetBuilder().read_csv_and_convert_power(conv_file)
    assert frame.loc[0, "layer_name"] == "NA"


def test_profiler_meta_layout(conv_file: Path) -> None:
    """meta.json as the profiler writes it: device_id at the top level, configs listing complete ones."""
    meta_path = conv_file.parent / "meta.json"
    meta = {
        "schema_version": 1,
        "device": "cpu",
        "device_id": "test-gpu",
        "device_name": "Test",
        "power_source": "nvml",
        "is_estimate": False,
        "configs": {"b1-float32": {"batch_size": 1, "dtype": "float32"}},
    }
    meta_path.write_text(json.dumps(meta))
    data = DatasetBuilder().merge_feature_data([conv_file])
    # batch size 4 is not listed as complete (an interrupted profile): its rows are left out, with a note
    assert data.frame["batch_size"].tolist() == [1, 1]
    assert len(data.notes) == 1 and "batch 4/float32 is not listed as complete" in data.notes[0]
    meta["device_id"] = "another-gpu"
    meta_path.write_text(json.dumps(meta))
    assert "'test-gpu' disagrees with" in _error(conv_file)


def test_rows_of_a_layer_whose_leading_dim_is_not_the_batch(conv_file: Path) -> None:
    """A windowed layer's rows carry (batch x windows) as batch_size: kept when every configuration is complete."""
    frame = pd.read_csv(conv_file, dtype=str, keep_default_na=False)
    configs = sorted({int(b) for b in frame["batch_size"]})
    meta_path = conv_file.parent / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {"schema_version": 1}
    meta["configs"] = {f"b{b}-float32": {"batch_size": b, "dtype": "float32"} for b in configs}
    meta_path.write_text(json.dumps(meta))
    first = frame["layer_name"].iloc[0]
    windows = frame["layer_name"] == first
    assert windows.sum() == len(configs)  # one row of this call per configuration
    frame.loc[windows, "batch_size"] = [str(64 * b) for b in configs]
    frame.to_csv(conv_file, index=False)
    data = DatasetBuilder().merge_feature_data([conv_file])
    assert len(data.frame) == len(frame) and not data.notes
    # with one configuration missing from meta.json, that call's rows cannot be attributed: left out
    meta["configs"] = {f"b{configs[0]}-float32": {"batch_size": configs[0], "dtype": "float32"}}
    meta_path.write_text(json.dumps(meta))
    kept = DatasetBuilder().merge_feature_data([conv_file]).frame
    assert first not in set(kept["layer_name"]) and set(kept["batch_size"]) == {configs[0]}


def test_the_one_row_of_a_batch_independent_call_is_kept(conv_file: Path) -> None:
    """A layer-scale product has input batch 96 at every model batch size: one row, kept while the
    configurations are complete, left out once one is not."""
    frame = pd.read_csv(conv_file, dtype=str, keep_default_na=False)
    configs = sorted({int(b) for b in frame["batch_size"]})
    assert len(configs) >= 2
    meta_path = conv_file.parent / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {"schema_version": 1}
    meta["configs"] = {f"b{b}-float32": {"batch_size": b, "dtype": "float32"} for b in configs}
    meta_path.write_text(json.dumps(meta))
    first = frame["layer_name"].iloc[0]
    calls = frame.index[frame["layer_name"] == first]
    frame = frame.drop(calls[1:])  # one row for the call, as the profiler writes it
    frame.loc[calls[0], "batch_size"] = "96"
    frame.to_csv(conv_file, index=False)
    data = DatasetBuilder().merge_feature_data([conv_file])
    assert len(data.frame) == len(frame) and not data.notes
    assert data.frame.loc[data.frame["layer_name"] == first, "batch_size"].tolist() == [96]
