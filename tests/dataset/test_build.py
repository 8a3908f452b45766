"""build_dataset and the build-dataset command: outputs, no-op re-runs, atomic replacement, peer files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from profiled_files import copy_peer

from layerpower.cli.dataset import build_dataset as build_dataset_command
from layerpower.config import LAYER_COLUMNS, LAYER_KINDS, MODEL_COLUMNS, SCHEMA_VERSION
from layerpower.dataset import build_dataset
from layerpower.errors import LayerpowerError, SchemaError


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_build_writes_every_kind(training_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "datasets" / "test-gpu"
    result = build_dataset(training_data, out=out, progress=False)
    assert not result.unchanged and result.out == out
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*(f"{k}.parquet" for k in LAYER_KINDS), "model.parquet", "summary.json"]
    )
    for kind in LAYER_KINDS:
        frame = pd.read_parquet(out / f"{kind}.parquet")
        assert list(frame.columns) == [*LAYER_COLUMNS[kind], "source"]
        if kind == "attention":  # these CNNs have none: an empty file with the attention columns
            assert frame.empty
            continue
        assert set(frame["source"]) == {"measured"}
        assert set(frame["model"]) == {"tinynet", "widenet", "deepnet"}
    conv = pd.read_parquet(out / "convolutional.parquet")
    assert len(conv) == 14 and str(conv["batch_size"].dtype) == "Int64"
    model = pd.read_parquet(out / "model.parquet")
    assert list(model.columns) == [*MODEL_COLUMNS, "source"] and len(model) == 6

    summary = json.loads((out / "summary.json").read_text())
    assert summary == result.summary
    assert summary["device_id"] == "test-gpu"
    assert summary["schema_version"] == SCHEMA_VERSION
    assert summary["power_sources"] == ["nvml"] and summary["source"] == "measured"
    assert summary["counts"]["deepnet"] == {
        "convolutional": 6,
        "pooling": 6,
        "dense": 4,
        "attention": 0,
        "other": 6,
        "configs": 2,
        "total": 22,
    }
    assert summary["rows"] == {
        "convolutional": 14,
        "pooling": 14,
        "dense": 12,
        "attention": 0,
        "other": 14,
        "model": 6,
    }
    assert summary["input_hash"].startswith("sha256:")
    assert "test-gpu/tinynet/convolutional.csv" in summary["files_read"]
    assert "test-gpu/tinynet/meta.json" in summary["files_read"]
    assert result.counts.loc["tinynet", "total"] == 16


def test_rerun_is_a_no_op_until_the_input_changes(training_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = build_dataset(training_data, out=out, progress=False)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    second = build_dataset(training_data, out=out, progress=False)
    assert second.unchanged and second.input_hash == first.input_hash
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    # a different format is a different output
    assert not build_dataset(training_data, out=out, fmt="csv", progress=False).unchanged
    assert (out / "convolutional.csv").is_file() and not (out / "convolutional.parquet").exists()
    # and a changed input is rebuilt
    path = training_data / "test-gpu" / "tinynet" / "convolutional.csv"
    frame = pd.read_csv(path)
    frame.loc[0, "runtime_s"] *= 2
    frame.to_csv(path, index=False)
    third = build_dataset(training_data, out=out, fmt="csv", progress=False)
    assert not third.unchanged and third.input_hash != first.input_hash


def test_failing_run_leaves_previous_output(training_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_dataset(training_data, out=out, progress=False)
    before = _snapshot(out)
    path = training_data / "test-gpu" / "widenet" / "pooling.csv"
    frame = pd.read_csv(path)
    frame.loc[1, "runtime_s"] = -1.0
    frame.to_csv(path, index=False)
    with pytest.raises(SchemaError, match=r"widenet/pooling.csv: data row 2, column 'runtime_s'"):
        build_dataset(training_data, out=out, progress=False)
    assert _snapshot(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["out", "training_data"]  # no temporary leftovers


def test_failure_while_writing_leaves_previous_output(
    training_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    build_dataset(training_data, out=out, fmt="csv", progress=False)
    before = _snapshot(out)

    def broken(self: pd.DataFrame, *args, **kwargs) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", broken)
    with pytest.raises(OSError, match="disk full"):
        build_dataset(training_data, out=out, fmt="parquet", progress=False)
    assert _snapshot(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["out", "training_data"]


def test_default_out_is_datasets_device(
    training_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = build_dataset(training_data, progress=False)
    assert result.out == Path("datasets") / "test-gpu"
    assert (tmp_path / "datasets" / "test-gpu" / "convolutional.parquet").is_file()


def test_root_may_be_one_device_folder(training_data: Path, tmp_path: Path) -> None:
    result = build_dataset(training_data / "test-gpu", out=tmp_path / "out", progress=False)
    assert result.device_id == "test-gpu"


def test_summary_lists_the_models_profiled_under_each_heap_regime(profile, tmp_path: Path) -> None:
    from layerpower.config.memory import STEADY_MALLOC_TUNABLES

    profile(model="plain")
    steady = profile(model="steady")
    meta = json.loads((steady / "meta.json").read_text(encoding="utf-8"))
    meta["glibc_tunables"] = STEADY_MALLOC_TUNABLES
    (steady / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    result = build_dataset(tmp_path / "training_data", out=tmp_path / "out", progress=False)
    assert result.summary["glibc_tunables"] == {"": ["plain"], STEADY_MALLOC_TUNABLES: ["steady"]}
    written = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert written["glibc_tunables"] == result.summary["glibc_tunables"]


def test_several_devices_need_a_choice(profile: Callable[..., Path], tmp_path: Path) -> None:
    profile(device_id="gpu-a")
    profile(device_id="gpu-b")
    root = tmp_path / "training_data"
    with pytest.raises(LayerpowerError, match=r"holds several devices: gpu-a, gpu-b.*--device-id"):
        build_dataset(root, out=tmp_path / "out", progress=False)
    assert build_dataset(root, device_id="gpu-b", out=tmp_path / "b", progress=False).device_id == "gpu-b"
    with pytest.raises(LayerpowerError, match=r"no device folder 'gpu-c'.*found: gpu-a, gpu-b"):
        build_dataset(root, device_id="gpu-c", out=tmp_path / "out", progress=False)
    both = build_dataset(root, out=tmp_path / "both", allow_mixed_devices=True, progress=False)
    assert both.summary["device_ids"] == ["gpu-a", "gpu-b"] and both.device_id is None


def test_mixed_sources_across_kinds_are_refused(profile: Callable[..., Path], tmp_path: Path) -> None:
    profile(model="a")
    profile(model="b", power_source="estimate")
    root = tmp_path / "training_data"
    with pytest.raises(SchemaError, match="mixes measured and estimated power"):
        build_dataset(root, out=tmp_path / "out", progress=False)
    result = build_dataset(root, out=tmp_path / "out", allow_mixed_sources=True, progress=False)
    assert result.summary["source"] == "mixed"
    assert pd.read_parquet(tmp_path / "out" / "dense.parquet")["source"].value_counts().to_dict() == {
        "measured": 4,
        "estimate": 4,
    }


def test_output_folder_with_other_files_is_refused(training_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(LayerpowerError, match="holds files build-dataset did not write"):
        build_dataset(training_data, out=out, progress=False)
    assert (out / "notes.txt").read_text() == "mine"


def test_peer_tree_with_units(tmp_path: Path) -> None:
    root = tmp_path / "peer"
    copy_peer(root / "jetson-agx-orin" / "mobilenet_v2")
    with pytest.raises(SchemaError, match="does not say its unit"):
        build_dataset(root, out=tmp_path / "out", progress=False)
    result = build_dataset(
        root, out=tmp_path / "out", power_unit="uW", runtime_unit="ms", idle_subtracted=True, progress=False
    )
    conv = pd.read_parquet(tmp_path / "out" / "convolutional.parquet")
    assert len(conv) == 53 and conv["dynamic_power_w"].between(2, 3).all() and conv["power_w"].isna().all()
    assert set(conv["device_id"]) == {"jetson-agx-orin"}  # the device folder names the device
    assert result.summary["rows_without_total_power"] == 54
    assert result.summary["counts"]["mobilenet_v2"]["pooling"] == 1


# --------------------------------------------------------------------------------------------- CLI


def test_cli_writes_then_is_unchanged(training_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    runner = CliRunner()
    args = [str(training_data), "--out", str(out), "--format", "csv", "--no-progress"]
    first = runner.invoke(build_dataset_command, args)
    assert first.exit_code == 0, first.output
    assert "deepnet" in first.output and "convolutional" in first.output
    assert "device: test-gpu" in first.output
    assert "source: measured (60 measured); power source: nvml" in first.output
    assert f"to {out}" in first.output
    assert pd.read_csv(out / "other.csv")["model"].nunique() == 3
    second = runner.invoke(build_dataset_command, args)
    assert second.exit_code == 0
    assert second.output.startswith(f"unchanged: {out}")


def test_cli_failure_is_one_line_and_keeps_output(training_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    runner = CliRunner()
    args = [str(training_data), "--out", str(out), "--no-progress"]
    assert runner.invoke(build_dataset_command, args).exit_code == 0
    before = _snapshot(out)
    path = training_data / "test-gpu" / "deepnet" / "dense.csv"
    path.write_text(path.read_text().replace("nvml", "estimate", 1))
    failed = runner.invoke(build_dataset_command, args)
    assert failed.exit_code == 2
    lines = failed.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "deepnet/dense.csv: data row 1, column 'is_estimate'" in lines[0]
    assert _snapshot(out) == before


def test_cli_peer_units(tmp_path: Path) -> None:
    root = tmp_path / "peer"
    copy_peer(root / "jetson-agx-orin" / "mobilenet_v2")
    result = CliRunner().invoke(
        build_dataset_command,
        [
            str(root),
            "--out",
            str(tmp_path / "out"),
            "--power-unit",
            "uW",
            "--runtime-unit",
            "ms",
            "--idle-subtracted",
            "--power-source",
            "jetson",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "mobilenet_v2" in result.output and "power source: jetson" in result.output
    assert "54 rows carry only dynamic power" in result.output


def test_cli_refuses_megawatts(tmp_path: Path) -> None:
    result = CliRunner().invoke(build_dataset_command, [str(tmp_path), "--power-unit", "MW"])
    assert result.exit_code == 2 and "Invalid value for '--power-unit'" in result.output


def test_incomplete_configuration_is_left_out_with_a_note(training_data: Path, tmp_path: Path) -> None:
    meta_path = training_data / "test-gpu" / "tinynet" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["configs"] = {"b1-float32": {"batch_size": 1, "dtype": "float32"}}  # batch 4 was interrupted
    meta_path.write_text(json.dumps(meta))
    result = build_dataset(training_data, out=tmp_path / "out", progress=False)
    assert result.counts.loc["tinynet"].to_dict() == {
        "convolutional": 2,
        "pooling": 2,
        "dense": 2,
        "attention": 0,
        "other": 2,
        "configs": 1,
        "total": 8,
    }
    assert len(result.notes) == 1 and "batch 4/float32 is not listed as complete" in result.notes[0]
    model = pd.read_parquet(tmp_path / "out" / "model.parquet")
    assert model[model["model"] == "tinynet"]["batch_size"].tolist() == [1]
