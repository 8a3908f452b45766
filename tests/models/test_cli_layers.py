"""``layerpower layers``: table, csv and json output; errors as one line with exit status 2."""

from __future__ import annotations

import io
import json

import pandas as pd
from click.testing import CliRunner

from layerpower.cli import main


def run(*args: str):
    return CliRunner().invoke(main, ["layers", *args])


def test_table_lists_layers_and_totals() -> None:
    result = run("resnet18")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["layer", "type", "kind", "input"]
    assert any(line.split()[:3] == ["layer1.0.add_0", "add", "other"] for line in lines)
    assert "68 layer calls: 20 convolutional, 2 pooling, 1 dense, 0 attention, 45 other" in result.output
    assert "11,689,512 parameters" in result.output
    assert "total 3.6" in result.output and "GFLOPs" in result.output


def test_csv_has_one_row_per_layer_call() -> None:
    result = run("lenet", "--format", "csv", "--batch-size", "4", "--dtype", "fp16")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.output))
    assert len(frame) == 11
    assert set(frame["dtype"]) == {"float16"} and set(frame["batch_size"]) == {4}
    assert list(frame["kind"]).count("convolutional") == 2


def test_json_has_layers_and_summary() -> None:
    result = run("vgg16", "--format", "json", "--dtype", "bf16")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["model"] == "vgg16" and data["dtype"] == "bfloat16"
    assert data["input_shape"] == [1, 3, 224, 224]
    assert data["summary"]["counts"] == {
        "convolutional": 13,
        "pooling": 6,
        "dense": 3,
        "attention": 0,
        "other": 15,
    }  # 2 Dropouts: identities
    assert len(data["layers"]) == data["summary"]["layer_calls"]
    assert data["layers"][0]["kernel"] == [3, 3]


def test_input_shape_option() -> None:
    result = run("resnet18", "--input-shape", "3,64,64", "--format", "json")
    assert json.loads(result.output)["layers"][0]["output_shape"] == [1, 64, 32, 32]


def test_unknown_model_is_one_line_with_a_suggestion() -> None:
    result = run("resnet19")
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "unknown model 'resnet19'" in result.output and "resnet18" in result.output
    assert "Traceback" not in result.output


def test_bad_dtype_and_missing_model() -> None:
    assert run("lenet", "--dtype", "fp8").exit_code == 2
    result = run()
    assert result.exit_code == 2 and "no model given" in result.output


def test_list_models() -> None:
    result = run("--list")
    assert result.exit_code == 0
    names = result.output.split()
    assert "lenet" in names and "inception_v3" in names and len(names) > 80
