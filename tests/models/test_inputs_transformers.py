"""Inputs of any shape and dtype, the built-in transformer references, eval-mode identities, bad inputs."""

from __future__ import annotations

import textwrap
from collections import Counter

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from layerpower.cli import main
from layerpower.errors import LayerpowerError, UnknownModelError
from layerpower.models import extract_layers, resolve_model, summarize_layers
from layerpower.models.inputs import make_inputs, parse_input_dtype, parse_input_shape, split_model_name
from layerpower.models.transformers import Gpt2SmallLike
from layerpower.models.zoo import with_seq_len


@pytest.fixture
def token_package(tmp_path, monkeypatch):
    """User factories whose inputs are not images."""
    (tmp_path / "seq_nets.py").write_text(
        textwrap.dedent(
            """
            import torch
            from torch import nn

            class Tokens(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.input_shape = (128, 384)  # declared on the module, not the factory
                    self.proj = nn.Linear(384, 256)
                    self.act = nn.GELU()
                    self.drop = nn.Dropout(0.1)
                    self.norm = nn.LayerNorm(256)

                def forward(self, x):
                    x = self.drop(self.act(self.proj(x)))
                    return torch.nn.functional.dropout(self.norm(x), 0.1, training=self.training)

            def tokens():
                return Tokens()

            class TwoInputs(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.emb = nn.Embedding(10, 8)
                    self.fc = nn.Linear(8, 2)

                def example_inputs(self, batch_size):
                    ids = torch.randint(0, 10, (batch_size, 6))
                    return ids, torch.ones(batch_size, 6, 1)

                def forward(self, ids, weights):
                    return self.fc(self.emb(ids) * weights)

            def two():
                return TwoInputs()
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "seq_nets"


def test_a_factory_with_a_2d_input_shape_extracts(token_package):
    specs = extract_layers(f"{token_package}:tokens", batch_size=2, dtype="fp16")
    assert [s.module_type for s in specs] == ["Linear", "GELU", "LayerNorm"]  # dropouts: identities
    linear = specs[0]
    assert linear.input_shape == (2, 128, 384) and linear.flops == 2 * 2 * 128 * 384 * 256
    from layerpower.models.spec import feature_row

    row = feature_row(linear)
    assert (row["rows"], row["input_size"], row["output_size"]) == (256, 384, 256)
    assert (row["input_size_0"], row["input_size_1"], row["output_size_1"]) == (256, 384, 256)


def test_example_inputs_give_several_inputs_and_keep_integers(token_package):
    specs = extract_layers(f"{token_package}:two", batch_size=3, dtype="bf16")
    assert specs[0].module_type == "Embedding" and specs[0].extra["arg_dtypes"] == ["int64"]
    mul = next(s for s in specs if s.module_type == "mul")
    assert mul.extra["arg_dtypes"] == ["bfloat16", "bfloat16"]
    entry = resolve_model(f"{token_package}:two")
    from layerpower.models.zoo import build_model

    ids, weights = make_inputs(entry, 3, "fp32", "cpu", module=build_model(entry))
    assert ids.dtype == torch.int64 and weights.dtype == torch.float32 and ids.shape == (3, 6)


def test_bert_base_like_matches_a_hand_count():
    seq, width, ffn = 256, 768, 3072
    specs = extract_layers("bert_base_like@seq=256", dtype="fp16")
    assert specs[0].module_type == "Embedding" and specs[0].extra["arg_dtypes"] == ["int64"]
    assert specs[0].dtype == "float16" and specs[0].input_shape == (1, seq)
    types = Counter(s.module_type for s in specs)
    # 12 x (attention, 2 FFN linears, GELU, 2 LayerNorms, 2 adds) + 2 embeddings, their add, one LayerNorm
    assert types == {
        "Embedding": 2,
        "add": 25,
        "LayerNorm": 25,
        "MultiheadAttention": 12,
        "Linear": 24,
        "GELU": 12,
    }
    hand = 12 * (4 * width**2 + 2 * width * ffn) * 2 * seq + 12 * 2 * (2 * seq * seq * width)
    assert summarize_layers(specs)["flops"] == pytest.approx(hand, rel=0.01)


def test_gpt2_small_like_shape_and_causality():
    specs = extract_layers("gpt2_small_like")  # 128 tokens by default
    assert specs[-1].module_type == "Linear" and specs[-1].output_shape == (1, 128, 50257)
    assert Counter(s.module_type for s in specs)["MultiheadAttention"] == 12
    torch.manual_seed(0)
    tiny = Gpt2SmallLike(8, layers=2, width=16, heads=2, ffn=32, vocab_size=50).eval()
    ids = torch.randint(0, 50, (1, 8))
    changed = ids.clone()
    changed[0, 5] = (ids[0, 5] + 1) % 50
    with torch.no_grad():
        a, b = tiny(ids), tiny(changed)
    assert torch.allclose(a[:, :5], b[:, :5])  # earlier positions never see a later token
    assert not torch.allclose(a[:, 5:], b[:, 5:])


def test_token_ids_are_valid_on_a_real_device():
    entry = resolve_model("gpt2_small_like@seq=16")
    (ids,) = make_inputs(entry, 4, "fp16", "cpu")
    assert ids.dtype == torch.int64 and ids.shape == (4, 16)
    assert int(ids.min()) >= 0 and int(ids.max()) < 50257


def test_seq_len_in_names_and_options():
    assert split_model_name("bert_base_like@seq=512") == ("bert_base_like", {"seq": 512})
    assert resolve_model("bert_base_like@seq=512").input_shape == (512,)
    assert resolve_model("bert_base_like").input_shape == (128,)
    assert with_seq_len("gpt2_small_like", 64) == "gpt2_small_like@seq=64"
    with pytest.raises(UnknownModelError, match="takes no sequence length"):
        with_seq_len("resnet18", 64)
    with pytest.raises(UnknownModelError, match="disagree"):
        with_seq_len("bert_base_like@seq=32", 64)
    with pytest.raises(UnknownModelError, match="resnet18 takes no options"):
        resolve_model("resnet18@seq=5")
    with pytest.raises(LayerpowerError, match="key=positive integer"):
        resolve_model("bert_base_like@seq=0")


def test_input_parsing():
    assert parse_input_shape("3x224x224") == (3, 224, 224) == parse_input_shape("3,224,224")
    assert parse_input_shape("128") == (128,)
    assert parse_input_dtype("long") == "int64" and parse_input_dtype("fp16") is None


def test_eval_mode_identities_are_not_layers():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.drops = nn.ModuleList([nn.Dropout(), nn.Dropout1d(), nn.AlphaDropout(0.1), nn.Identity()])

        def forward(self, x):
            for drop in self.drops:
                x = drop(x)
            x = nn.functional.dropout(x, 0.5, training=False)
            return self.fc(x)

    specs = extract_layers(Net(), input_shape=(3, 4))
    assert [s.module_type for s in specs] == ["Linear"]


def layers(*args: str):
    return CliRunner().invoke(main, ["layers", *args])


def test_cli_seq_len_input_dtype_and_list():
    out = layers("bert_base_like", "--seq-len", "64", "--format", "json")
    assert out.exit_code == 0, out.output
    import json

    data = json.loads(out.output)
    assert data["model"] == "bert_base_like@seq=64" and data["input_shape"] == [1, 64]
    listed = layers("--list").output.split()
    assert "bert_base_like" in listed and "gpt2_small_like" in listed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--input-shape", "3x64"],
            "resnet18: input (1, 3, 64) failed: Conv2d 'conv1' expects 4-D input (N, 3, H, W)",
        ),
        (["--input-shape", "3x0x224"], "resnet18: input shape '3x0x224': every dimension must be a positive"),
        (["--input-shape", "-3"], "resnet18: input shape '-3': every dimension must be a positive integer"),
        (["--input-shape", "3xbx224"], "resnet18: input shape '3xbx224': 'b' is not an integer"),
        (["--input-dtype", "long"], "resnet18: input (1, 3, 224, 224) int64 failed: Conv2d 'conv1' expects"),
        (["--input-dtype", "complex7"], "resnet18: unknown input dtype 'complex7'"),
    ],
)
def test_cli_bad_inputs_are_one_line(args, message):
    out = layers("resnet18", *args)
    assert out.exit_code == 2
    assert out.output.strip().count("\n") == 0 and "Traceback" not in out.output
    assert message in out.output
