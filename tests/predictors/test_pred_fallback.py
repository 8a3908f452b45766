"""Nothing silently missing: roofline / time-per-byte fallbacks, identities, coverage, inputs in predict."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from layerpower.cli.predict import predict_energy as predict_cmd
from layerpower.predictors.bundle import load_bundle
from layerpower.predictors.energy import predict_energy, predict_frame, spec_frame
from layerpower.predictors.fallback import FALLBACK_FACTOR


@pytest.fixture
def resnet_frame():
    from layerpower.models import extract_layers

    return spec_frame(extract_layers("resnet18"))


def _force_unseen(frame, op: str = "softmax", count: int = 6):
    frame = frame.copy()
    relus = frame.index[frame["layer_type"] == "ReLU"][:count]
    frame.loc[relus, "layer_type"] = op
    return frame, relus


def test_an_unseen_op_gets_the_roofline_and_is_in_the_coverage(synthetic_bundle, resnet_frame):
    bundle = load_bundle(synthetic_bundle)
    assert bundle.routers["runtime_s"].roofline_  # xgboost bundles carry a device roofline
    frame, rows = _force_unseen(resnet_frame)
    result = predict_frame(frame, bundle, model="resnet18")
    layers = result.layers
    forced = layers.loc[rows]
    assert (forced["predicted_by"] == "roofline").all() and (forced["runtime_s"] > 0).all()
    assert (forced["power_by"] == "kind_median").all() and (forced["power_w"] > 0).all()
    assert forced["unseen_op"].all() and (forced["left_out"] == "").all()
    np.testing.assert_allclose(forced["runtime_low_s"], forced["runtime_s"] / FALLBACK_FACTOR)
    np.testing.assert_allclose(forced["runtime_high_s"], forced["runtime_s"] * FALLBACK_FACTOR)
    assert result.total.left_out == []
    cov = result.fallback
    assert 0 < cov.trained_share < 1 and cov.fallback == {"roofline": {"softmax": 6}}
    line = cov.line()
    assert line.startswith(f"coverage: {100 * cov.trained_share:.1f} % of runtime from trained predictors")
    assert "roofline for softmax (6 calls)" in line
    data = result.to_dict(per_layer=True)
    assert data["coverage"]["fallback"] == {"roofline": {"softmax": 6}}
    assert data["coverage"]["trained_runtime_share"] == pytest.approx(cov.trained_share)
    assert {row["predicted_by"] for row in data["layers"]} == {"trained", "roofline"}
    assert not any("not seen in training" in note for note in result.notes)
    t = result.total
    assert t.runtime_low_s < t.runtime_s < t.runtime_high_s


def test_without_a_roofline_median_rates_are_used(synthetic_bundle, resnet_frame):
    bundle = load_bundle(synthetic_bundle)
    bundle.routers["runtime_s"].roofline_ = ()  # as a random-forest or polynomial bundle
    frame, rows = _force_unseen(resnet_frame, "roll", 4)
    result = predict_frame(frame, bundle, model="resnet18")
    forced = result.layers.loc[rows]
    assert (forced["predicted_by"] == "median_rates").all() and (forced["runtime_s"] > 0).all()
    assert "median rates for roll (4 calls)" in result.fallback.line()
    assert "no roofline in the bundle" in result.fallback.runtime_method


def test_identities_cost_nothing_and_are_never_unseen(synthetic_bundle, resnet_frame):
    frame, rows = _force_unseen(resnet_frame, "Dropout", 3)
    result = predict_frame(frame, load_bundle(synthetic_bundle), model="resnet18")
    forced = result.layers.loc[rows]
    assert (forced["predicted_by"] == "identity").all() and (forced["runtime_s"] == 0).all()
    assert (forced["energy_j"] == 0).all() and (forced["left_out"] == "").all()
    assert result.fallback.identity == {"Dropout": 3}
    assert result.fallback.trained_share == pytest.approx(1.0)
    assert not any("Dropout" in note for note in result.notes)


@pytest.fixture
def seq_package(tmp_path, monkeypatch):
    (tmp_path / "seq_pred_nets.py").write_text(
        textwrap.dedent(
            """
            from torch import nn

            class Encoder(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.input_shape = (128, 384)
                    self.fc1 = nn.Linear(384, 512)
                    self.act = nn.GELU()
                    self.drop = nn.Dropout(0.1)
                    self.fc2 = nn.Linear(512, 384)

                def forward(self, x):
                    return self.fc2(self.drop(self.act(self.fc1(x))))

            def encoder():
                return Encoder()
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "seq_pred_nets"


def test_a_factory_with_a_2d_input_predicts(synthetic_bundle, seq_package):
    result = predict_energy(f"{seq_package}:encoder", batch_size=2, predictors=synthetic_bundle)
    layers = result.layers
    assert list(layers["layer_type"]) == ["Linear", "GELU", "Linear"]  # Dropout: an identity, dropped
    assert (layers["runtime_s"] > 0).all() and result.total.energy_j > 0


def test_transformers_predict_with_full_coverage_said(synthetic_bundle):
    result = predict_energy("bert_base_like", seq_len=32, predictors=synthetic_bundle)
    assert result.model == "bert_base_like@seq=32"
    assert result.total.left_out == [] and (result.layers["runtime_s"] > 0).all()
    fallback = result.fallback.fallback["roofline"]
    assert fallback["MultiheadAttention"] == 12 and fallback["Embedding"] == 2


def _cli(*args: str):
    return CliRunner().invoke(predict_cmd, list(args))


def test_cli_prints_the_coverage_line_and_json(synthetic_bundle):
    out = _cli("--model", "gpt2_small_like@seq=16", "--predictors", str(synthetic_bundle), "--per-layer")
    assert out.exit_code == 0, out.output
    assert "coverage: " in out.output and "% of runtime from trained predictors; roofline for " in out.output
    assert "MultiheadAttention (12)" in out.output or "MultiheadAttention (12 calls)" in out.output
    out = _cli("--model", "lenet", "--predictors", str(synthetic_bundle), "--format", "json")
    data = json.loads(out.output)
    assert data["coverage"]["line"].startswith("coverage: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input-shape", "3x64"], "resnet18: input (1, 3, 64) failed: Conv2d 'conv1' expects 4-D input"),
        (["--input-shape", "0"], "resnet18: input shape '0': every dimension must be a positive integer"),
        (["--input-shape", "x"], "resnet18: input shape 'x'"),
        (["--input-dtype", "long"], "Conv2d 'conv1' expects 4-D input (N, 3, H, W) of floating values"),
        (["--seq-len", "64"], "model 'resnet18' takes no sequence length"),
    ],
)
def test_cli_bad_inputs_are_one_line_exit_2(synthetic_bundle, args, message):
    out = _cli("--model", "resnet18", *args, "--predictors", str(synthetic_bundle))
    assert out.exit_code == 2
    assert out.output.strip().count("\n") == 0 and "Traceback" not in out.output
    assert message in out.output
