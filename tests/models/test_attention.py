"""Attention as a layer kind: extraction from the transformers, features, FLOPs, dedup and isolated runs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from layerpower.config.features import ATTENTION_FEATURES, FEATURES_EXTENDED_BY_KIND
from layerpower.config.schema import LAYER_COLUMNS
from layerpower.config.vocab import LAYER_KINDS
from layerpower.models.attention import attention_flops, is_causal_mask
from layerpower.models.isolate import isolated_layer
from layerpower.models.layers import extract_layers
from layerpower.models.spec import ATTENTION_FIELDS, feature_row


def _attention(model: str) -> list:
    return [s for s in extract_layers(model) if s.kind == "attention"]


def test_attention_is_a_kind_with_its_features_and_columns() -> None:
    assert "attention" in LAYER_KINDS
    assert set(ATTENTION_FIELDS) <= set(ATTENTION_FEATURES)
    assert FEATURES_EXTENDED_BY_KIND["attention"][-5:] == [
        "flops",
        "params",
        "bytes_read",
        "bytes_written",
        "arithmetic_intensity",
    ]
    assert set(ATTENTION_FEATURES) <= set(LAYER_COLUMNS["attention"])


def test_bert_attention_calls() -> None:
    specs = _attention("bert_base_like@seq=128")
    assert len(specs) == 12 and {s.module_type for s in specs} == {"MultiheadAttention"}
    row = feature_row(specs[0])
    assert {k: row[k] for k in ATTENTION_FEATURES} == {
        "batch_size": 1,
        "seq_q": 128,
        "seq_k": 128,
        "heads": 12,
        "head_dim": 64,
        "embed_dim": 768,
        "causal": 0,
        "masked": 0,
        "fused": 1,  # need_weights=False: the SDPA path
    }
    assert specs[0].params == 4 * 768 * 768 + 4 * 768  # in_proj and out_proj, one layer call
    assert specs[0].extra["flops_source"] == "flop_counter"
    assert specs[0].flops == attention_flops(specs[0].attention, 1, projections=True)
    assert len({s.config_key() for s in specs}) == 1  # twelve identical calls share one measurement
    assert not any(s.module_type == "Linear" and ".attn." in s.name for s in extract_layers("bert_base_like"))


def test_gpt2_attention_is_causal_and_masked() -> None:
    specs = _attention("gpt2_small_like@seq=128")
    assert len(specs) == 12
    assert {s.attention for s in specs} == {(128, 128, 12, 64, 768, 1, 1, 1)}
    bert = _attention("bert_base_like@seq=128")[0]
    assert specs[0].config_key() != bert.config_key()  # same shapes, causal and masked: not the same cost


def test_vit_attention_calls() -> None:
    specs = _attention("vit_b_16")
    assert len(specs) == 12
    assert {s.attention[:5] for s in specs} == {(197, 197, 12, 64, 768)}
    assert {feature_row(s)["causal"] for s in specs} == {0}


def test_functional_sdpa_outside_a_leaf_is_attention() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(32, 96)
            self.input_shape = (10, 32)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            q, k, v = self.qkv(x).view(x.shape[0], 10, 3, 4, 8).permute(2, 0, 3, 1, 4)
            return nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)

    specs = extract_layers(Net(), batch_size=2)
    sdpa = [s for s in specs if s.kind == "attention"]
    assert len(sdpa) == 1 and sdpa[0].module_type == "scaled_dot_product_attention"
    assert sdpa[0].attention == (10, 10, 4, 8, 32, 1, 0, 1)
    assert sdpa[0].batch_size == 2 and sdpa[0].flops == 2 * 2 * 2 * 4 * 10 * 10 * 8


def test_need_weights_and_a_real_causal_mask() -> None:
    class Net(nn.Module):
        def __init__(self, need_weights: bool) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
            self.input_shape = (6, 16)
            self.need_weights = need_weights

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.attn(x, x, x, need_weights=self.need_weights)[0]

    assert [s.attention[7] for s in extract_layers(Net(True)) if s.kind == "attention"] == [0]
    assert [s.attention[7] for s in extract_layers(Net(False)) if s.kind == "attention"] == [1]
    assert is_causal_mask(torch.ones(4, 4, dtype=torch.bool).triu(1))
    assert is_causal_mask(torch.full((4, 4), float("-inf")).triu(1))
    assert not is_causal_mask(torch.zeros(4, 4, dtype=torch.bool))
    assert not is_causal_mask(torch.ones(4, 4, dtype=torch.bool, device="meta").triu(1))


def test_isolated_bert_attention_and_embedding_run() -> None:
    specs = extract_layers("bert_base_like@seq=32", batch_size=1)
    attention = next(s for s in specs if s.kind == "attention")
    out = isolated_layer(attention, "bert_base_like@seq=32").run()
    assert tuple(out[0].shape) == (1, 32, 768)
    tokens = next(s for s in specs if s.module_type == "Embedding" and s.name == "tokens")
    layer = isolated_layer(tokens, "bert_base_like@seq=32", generator=torch.Generator().manual_seed(0))
    ids = layer.inputs[0]
    assert ids.dtype == torch.int64 and int(ids.min()) >= 0 and int(ids.max()) < 30522 and ids.any()
    assert tuple(layer.run().shape) == (1, 32, 768)


@pytest.mark.parametrize("model", ["vit_b_16", "gpt2_small_like@seq=32"])
def test_isolated_attention_runs(model: str) -> None:
    spec = _attention(model)[0]
    out = isolated_layer(spec, model).run()
    assert tuple(out[0].shape) == spec.output_shape
