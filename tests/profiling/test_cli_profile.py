"""``profile-model`` end to end: lenet and a tiny user net, resume, file contents, bad input."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from layerpower.cli.profile import profile_model
from layerpower.config.schema import LAYER_COLUMNS, MODEL_COLUMNS, SCHEMA_VERSION
from layerpower.config.vocab import LAYER_KINDS
from layerpower.hardware import device_id

#: quick settings: short windows, one trial, one traced forward, whole model in this process
QUICK = [
    "--power-source",
    "estimate",
    "--window",
    "0.005",
    "--trials",
    "1",
    "--forwards",
    "1",
    "--processes",
    "0",
    "--repeats",
    "2",
    "--idle",
    "0.02",
    "--no-progress",
]

TINY_NETS = textwrap.dedent(
    """
    import torch
    from torch import nn


    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
            self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
            self.conv3 = nn.Conv2d(8, 8, 3, padding=1)
            self.act = nn.ReLU()
            self.pool = nn.MaxPool2d(2)
            self.fc = nn.Linear(8 * 8 * 8, 10)

        def forward(self, x):
            x = self.act(self.conv1(x))
            x = x + self.conv3(self.conv2(x))
            x = self.pool(self.act(x))
            return self.fc(torch.flatten(x, 1))


    def build():
        return Tiny()


    build.input_shape = (3, 16, 16)


    class Inverse(nn.Module):
        def forward(self, x):
            return torch.linalg.inv(x)


    def inverse():
        return nn.Sequential(nn.Linear(4, 4), Inverse())


    inverse.input_shape = (4, 4)
    """
)


@pytest.fixture
def user_nets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module of user factories on the import path; returns its name."""
    (tmp_path / "lp_tiny_nets.py").write_text(TINY_NETS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "lp_tiny_nets"


def run(*args: str) -> object:
    return CliRunner().invoke(profile_model, list(args), catch_exceptions=False)


def read_folder(folder: Path) -> dict[str, pd.DataFrame]:
    return {
        name: pd.read_csv(folder / f"{name}.csv", keep_default_na=False) for name in (*LAYER_KINDS, "model")
    }


def test_lenet_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "data"
    result = run("lenet", "--batch-size", "1,2", "--out", str(out), *QUICK)
    assert result.exit_code == 0, result.output
    assert "estimate (a model, not a sensor)" in result.output
    folder = out / device_id("cpu") / "lenet"
    files = read_folder(folder)
    for kind in LAYER_KINDS:
        assert list(files[kind].columns) == LAYER_COLUMNS[kind]
    assert list(files["model"].columns) == MODEL_COLUMNS
    assert len(files["convolutional"]) == 4 and len(files["pooling"]) == 4 and len(files["dense"]) == 6
    layers = pd.concat([files[k] for k in LAYER_KINDS])
    assert set(layers["schema_version"]) == {SCHEMA_VERSION}
    assert set(layers["power_source"]) == {"estimate"}
    assert set(layers["is_estimate"].astype(str)) == {"True"}
    assert set(layers["batch_size"]) == {1, 2}
    assert (layers["runtime_s"] > 0).all() and (layers["runtime_isolated_s"] > 0).all()
    assert (layers["energy_j"] > 0).all() and (layers["power_w"] > 0).all()
    assert (layers["trials"] == 1).all() and (layers["iterations"] >= 1).all()
    assert ((layers["power_w"] - layers["idle_power_w"] - layers["dynamic_power_w"]).abs() < 1e-9).all()
    model = files["model"].set_index("batch_size")
    assert sorted(model.index) == [1, 2]
    assert set(model["power_source"]) == {"estimate"} and set(model["is_estimate"].astype(str)) == {"True"}
    assert (model["repeats"] == 2).all() and (model["processes"] == 0).all()
    assert model.loc[1, "layer_calls"] == len(layers[layers["batch_size"] == 1])
    assert model.loc[1, "sum_runtime_s"] == pytest.approx(
        layers[layers["batch_size"] == 1]["runtime_s"].sum()
    )
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["schema_version"] == SCHEMA_VERSION
    assert meta["power_source"] == "estimate" and meta["is_estimate"] is True
    assert meta["device_id"] == device_id("cpu")
    assert set(meta["configs"]) == {"b1-float32", "b2-float32"}
    assert {"torch", "torchvision", "layerpower", "python"} <= set(meta["versions"])
    assert meta["torch_threads"] >= 1 and "update_period_s" in meta
    assert meta["configs"]["b1-float32"]["settings"]["trials"] == 1


def test_user_net_dedup_and_functional_ops(tmp_path: Path, user_nets: str) -> None:
    out = tmp_path / "data"
    result = run(f"{user_nets}:build", "--out", str(out), *QUICK)
    assert result.exit_code == 0, result.output
    files = read_folder(out / device_id("cpu") / f"{user_nets}_build")
    conv = files["convolutional"].set_index("layer_name")
    assert list(conv.index) == ["conv1", "conv2", "conv3"]
    assert conv.loc["conv3", "measured_as"] == "conv2"  # identical configuration, measured once
    assert conv.loc["conv2", "measured_as"] == ""
    assert conv.loc["conv3", "runtime_isolated_s"] == conv.loc["conv2", "runtime_isolated_s"]
    other = files["other"]
    assert "add" in set(other["layer_type"])  # the residual add is a layer call of its own
    relu = other[other["layer_name"] == "act"].sort_values("call_index")
    assert list(relu["call_index"]) == [0, 1]
    assert set(files["model"]["model"]) == {f"{user_nets}:build"}


def test_resume_completes_an_interrupted_model_and_skips_a_complete_one(tmp_path: Path) -> None:
    out = tmp_path / "data"
    assert run("lenet", "--out", str(out), *QUICK).exit_code == 0
    folder = out / device_id("cpu") / "lenet"
    stamp = (folder / "meta.json").stat().st_mtime_ns
    # a complete model is skipped
    result = run("lenet", "--out", str(out), "--resume", *QUICK)
    assert result.exit_code == 0 and "skipped" in result.output
    assert (folder / "meta.json").stat().st_mtime_ns == stamp
    # killed mid-way: batch 2 asked for, and a stray half-run left only some files -> completed
    (folder / "dense.csv").unlink()
    result = run("lenet", "--batch-size", "1,2", "--out", str(out), "--resume", *QUICK)
    assert result.exit_code == 0, result.output
    assert "b1-float32, b2-float32" in result.output  # batch 1 lost a file: redone; batch 2 was missing
    files = read_folder(folder)
    assert sorted(set(files["dense"]["batch_size"])) == [1, 2]
    assert len(files["model"]) == 2
    # without --resume the config is profiled again and its rows replaced, not duplicated
    assert run("lenet", "--out", str(out), *QUICK).exit_code == 0
    assert len(read_folder(folder)["convolutional"]) == 4


def test_unknown_model_exits_2(tmp_path: Path) -> None:
    result = run("resnet_eighteen", "--out", str(tmp_path), *QUICK)
    assert result.exit_code == 2
    assert "unknown model 'resnet_eighteen'" in result.output
    assert "Traceback" not in result.output


def test_unsupported_dtype_names_model_layer_and_dtype(tmp_path: Path, user_nets: str) -> None:
    result = run(f"{user_nets}:inverse", "--dtype", "fp16", "--out", str(tmp_path), *QUICK)
    assert result.exit_code == 2
    message = result.output
    assert f"{user_nets}:inverse" in message and "float16" in message and "layer '1'" in message
    assert "Traceback" not in message


def test_all_style_run_continues_after_a_failure(tmp_path: Path, user_nets: str) -> None:
    result = run("--models", f"{user_nets}:inverse,lenet", "--dtype", "fp16", "--out", str(tmp_path), *QUICK)
    assert result.exit_code == 2
    assert "1 of 2 models failed" in result.output
    assert (tmp_path / device_id("cpu") / "lenet" / "meta.json").is_file()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["lenet", "--dtype", "int8"], "unknown dtype 'int8'"),
        (["lenet", "--kinds", "conv"], "unknown layer kind"),
        (["lenet", "--power-source", "tachometer"], "unknown power source"),
    ],
)
def test_bad_options_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    result = run(*args, "--out", str(tmp_path))
    assert result.exit_code == 2
    assert expected in result.output


def test_output_folder_that_is_a_file_exits_2(tmp_path: Path) -> None:
    target = tmp_path / "data"
    target.write_text("not a folder")
    result = run("lenet", "--out", str(target), *QUICK)
    assert result.exit_code == 2
    assert "is a file" in result.output


def test_no_model_named_is_a_usage_error() -> None:
    result = run()
    assert result.exit_code == 2
    assert "--all" in result.output
