"""The sampled layer space: loading, deterministic draws, coverage, zoo-identical specs, rejection."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from layerpower.errors import LayerpowerError
from layerpower.models.layers import extract_layers
from layerpower.models.spec import feature_row
from layerpower.profiling.sampled import load_space, sample_specs
from layerpower.profiling.sampled.builders import spec_for
from layerpower.profiling.sampled.draw import sample_space

ZOO_DATA = Path(__file__).resolve().parents[2] / "training_data" / "cpu-intel-xeon-2c"


@pytest.fixture(scope="module")
def big_sample() -> list:
    return sample_specs(400, seed=0)


#: transformers whose extracted layer types the space may also use (attention, embeddings, norms, matmul)
TRANSFORMERS = ("bert_base_like@seq=32", "gpt2_small_like@seq=32", "vit_b_16", "swin_t")


class _TransformerOps(nn.Module):
    """The sampled ops no zoo model calls: RMSNorm, GroupNorm, bmm, functional SDPA."""

    input_shape = (4, 16, 16)

    def __init__(self) -> None:
        super().__init__()
        self.group = nn.GroupNorm(2, 4)
        self.rms = nn.RMSNorm(16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.rms(self.group(x))
        y = torch.bmm(x.flatten(0, 1), x.flatten(0, 1))
        return nn.functional.scaled_dot_product_attention(x, x, y.view_as(x))


@pytest.fixture(scope="module")
def transformer_specs() -> list:
    return [s for model in [*TRANSFORMERS, _TransformerOps()] for s in extract_layers(model)]


def _zoo_layer_types() -> set[str]:
    """Every layer_type the zoo extraction wrote into the committed dataset."""
    found: set[str] = set()
    for path in ZOO_DATA.glob("*/*.csv"):
        if path.name == "model.csv":
            continue
        with path.open() as handle:
            found |= {row["layer_type"] for row in csv.DictReader(handle)}
    return found


def test_packaged_space_loads_with_every_kind() -> None:
    space = load_space()
    assert space.kinds() == ("convolutional", "pooling", "dense", "attention", "other")
    assert len(space.sha256) == 64 and space.limits.max_flops == 2e10
    assert {"conv2d_depthwise", "linear_nhwc", "layer_norm_nhwc", "cat", "add"} <= {
        op.name for op in space.ops
    }


def test_ops_marked_off_the_probes_leave_the_probe_draws_as_they_were() -> None:
    space = load_space()
    block = space.op("conv2d_grouped_block")
    assert not block.probe and all(op.probe for op in space.ops if op is not block)
    probes = space.for_probes()
    assert [op.name for op in probes.ops] == [op.name for op in space.ops if op.probe]
    older = replace(space, ops=tuple(op for op in space.ops if op is not block))  # the space before it
    drawn = [s.config_key() for s in sample_specs(40, seed=3, space=probes)]
    assert drawn == [s.config_key() for s in sample_specs(40, seed=3, space=older)]
    grouped = [s for s in sample_specs(200, seed=3) if s.extra["sampled"]["op"] == "conv2d_grouped_block"]
    assert grouped and all(
        s.kernel == (3, 3) and s.input_shape[1] == s.output_shape[1] and 1 < s.groups < s.input_shape[1]
        for s in grouped
    )


def test_draws_are_deterministic_for_a_seed() -> None:
    first = sample_specs(30, seed=7)
    again = sample_specs(30, seed=7)
    other = sample_specs(30, seed=8)
    assert [(s.name, s.config_key()) for s in first] == [(s.name, s.config_key()) for s in again]
    assert [s.config_key() for s in first] != [s.config_key() for s in other]
    assert [s.name for s in first] == [f"sampled.{s.extra['sampled']['op']}_{i}" for i, s in enumerate(first)]


def test_large_sample_covers_every_operation_and_batch_size(big_sample: list) -> None:
    space = load_space()
    assert {s.extra["sampled"]["op"] for s in big_sample} == {op.name for op in space.ops}
    assert {s.batch_size for s in big_sample} == {1, 8}
    assert {s.kind for s in big_sample} == set(space.kinds())
    convs = [s for s in big_sample if s.module_type == "Conv2d"]
    assert {s.kernel for s in convs} >= {(1, 1), (3, 3), (5, 5), (7, 7)}
    assert {s.stride for s in convs} == {(1, 1), (2, 2)}
    assert any(s.groups == s.input_shape[1] > 1 for s in convs)  # depthwise
    assert any(1 < s.groups < s.input_shape[1] for s in convs)  # grouped
    assert max(s.input_shape[1] for s in convs) > 512
    dense_ranks = {len(s.input_shape) for s in big_sample if s.module_type == "Linear"}
    assert dense_ranks == {2, 3, 4}  # (batch, features), (batch, tokens, features), (batch, H, W, C)
    limits = space.limits
    assert all(limits.allows(s.flops, s.bytes_read + s.bytes_written) for s in big_sample)


def test_module_types_and_features_match_zoo_specs(big_sample: list, transformer_specs: list) -> None:
    zoo = extract_layers("resnet18", batch_size=1)
    # swin_v2_t is only traced here (never profiled): its masks, norms and clamps name the element-wise ops
    swin_v2 = extract_layers("swin_v2_t", batch_size=1, values=False)
    zoo_by_type = {s.module_type: s for s in [*swin_v2, *transformer_specs, *zoo]}
    assert {s.module_type for s in big_sample} <= _zoo_layer_types() | set(zoo_by_type)
    for spec in big_sample:
        assert spec.kind in {"convolutional", "pooling", "dense", "attention", "other"}
        assert feature_row(spec).keys() == feature_row(zoo[0]).keys()
        match = zoo_by_type.get(spec.module_type)
        if match is not None:
            assert spec.kind == match.kind
            assert spec.extra["flops_source"] == match.extra["flops_source"]
            assert set(spec.extra) >= set(match.extra) - {"model"}


def test_transformer_ops_are_covered_with_the_zoo_kind_and_type(
    big_sample: list, transformer_specs: list
) -> None:
    sampled = {s.extra["sampled"]["op"]: s for s in big_sample}
    zoo_kinds = {s.module_type: s.kind for s in transformer_specs}
    expected = {
        "attention": ("MultiheadAttention", "attention"),
        "scaled_dot_product_attention": ("scaled_dot_product_attention", "attention"),
        "softmax": ("softmax", "other"),
        "matmul": ("matmul", "dense"),
        "bmm": ("bmm", "dense"),
        "embedding": ("Embedding", "other"),
        "rms_norm_tokens": ("RMSNorm", "other"),
        "group_norm": ("GroupNorm", "other"),
        "gelu_tokens": ("GELU", "other"),
        "layer_norm_tokens": ("LayerNorm", "other"),
    }
    for op, (module_type, kind) in expected.items():
        spec = sampled[op]
        assert (spec.module_type, spec.kind) == (module_type, kind), op
        assert zoo_kinds[module_type] == kind, op
    attention = [s for s in big_sample if s.kind == "attention"]
    assert {s.attention[5] for s in attention} == {0, 1}  # causal and not
    assert {s.attention[7] for s in attention} == {0, 1}  # fused SDPA and explicit weights
    assert all(s.attention[4] % s.attention[2] == 0 for s in attention)  # heads divide the width
    assert sampled["embedding"].extra["arg_dtypes"] == ["int64"]


def test_a_sampled_conv_equals_the_same_zoo_layer() -> None:
    zoo = next(s for s in extract_layers("resnet18", batch_size=8) if s.name == "layer1.0.conv1")
    args = {"in_channels": 64, "out_channels": 64, "kernel_size": 3, "stride": 1, "padding": 1, "bias": False}
    recipe = {"builder": "module", "target": "torch.nn.Conv2d", "args": args, "pack_inputs": False}
    spec = spec_for("conv2d", "convolutional", recipe, [[8, 64, 56, 56]], 3, "float32")
    assert spec.config_key() == zoo.config_key()
    assert (spec.bytes_read, spec.bytes_written) == (zoo.bytes_read, zoo.bytes_written)
    assert spec.name == "sampled.conv2d_3" and spec.extra["module"] == "sampled.conv2d_3.layer"
    row, zoo_row = feature_row(spec), feature_row(zoo)
    assert {k: v for k, v in row.items() if k != "layer_name"} == {
        k: v for k, v in zoo_row.items() if k != "layer_name"
    }


def test_limits_reject_and_count() -> None:
    tight = load_space().with_limits(max_flops=1e7, max_tensor_bytes=2e7)
    sample = sample_space(40, seed=1, space=tight)
    assert sample.rejected > 0 and sum(sample.rejected_by_op.values()) == sample.rejected
    assert all(s.flops <= 1e7 and s.bytes_read + s.bytes_written <= 2e7 for s in sample.specs)
    impossible = load_space().with_limits(max_flops=1, max_attempts=3)
    with pytest.raises(LayerpowerError, match="no draw within the limits in 3 attempts"):
        sample_specs(5, kinds=["convolutional"], space=impossible)


def test_kinds_filter_and_bad_requests() -> None:
    specs = sample_specs(10, kinds=["dense"], batch_sizes=(4,))
    assert {s.kind for s in specs} == {"dense"} and {s.batch_size for s in specs} == {4}
    with pytest.raises(LayerpowerError, match="positive integer"):
        sample_specs(0)
    with pytest.raises(LayerpowerError, match="unknown layer kind"):
        sample_specs(3, kinds=["conv"])
    with pytest.raises(LayerpowerError, match="batch sizes must be positive"):
        sample_specs(3, batch_sizes=(0,))


def _space_with(tmp_path: Path, **op_changes: object) -> Path:
    raw = json.loads(
        json.dumps(
            {
                "format": "layerpower-layer-space",
                "version": 1,
                "ops": [
                    {
                        "name": "relu",
                        "kind": "other",
                        "builder": "module",
                        "target": "torch.nn.ReLU",
                        "dims": {"size": {"log_int": [7, 14]}},
                        "args": {},
                        "inputs": [["batch", 3, "size", "size"]],
                    }
                ],
            }
        )
    )
    raw["ops"][0].update(op_changes)
    path = tmp_path / "space.json"
    path.write_text(json.dumps(raw))
    return path


def test_a_user_space_file_and_its_errors(tmp_path: Path) -> None:
    space = load_space(_space_with(tmp_path))
    assert [s.module_type for s in sample_specs(3, space=space)] == ["ReLU"] * 3
    with pytest.raises(LayerpowerError, match="unknown builder 'lambda'"):
        load_space(_space_with(tmp_path, builder="lambda"))
    with pytest.raises(LayerpowerError, match="names 'width', not a dim declared before it"):
        load_space(_space_with(tmp_path, inputs=[["batch", "width"]]))
    with pytest.raises(LayerpowerError, match="unknown kind 'recurrent'"):
        load_space(_space_with(tmp_path, kind="recurrent"))
    with pytest.raises(LayerpowerError, match="probe must be true or false"):
        load_space(_space_with(tmp_path, probe="no"))
    (tmp_path / "foreign.json").write_text('{"ops": []}')
    with pytest.raises(LayerpowerError, match="not a layer space file"):
        load_space(tmp_path / "foreign.json")
    with pytest.raises(LayerpowerError, match="cannot read the layer space file"):
        load_space(tmp_path / "absent.json")


def test_sampled_attention_and_embedding_run_alone() -> None:
    from layerpower.models.isolate import isolated_layer
    from layerpower.profiling.sampled.builders import specs_model

    small = load_space().with_limits(max_flops=1e8)
    specs = sample_specs(60, kinds=["attention", "other"], seed=3, space=small)
    picks = [
        next(s for s in specs if s.module_type == "MultiheadAttention" and s.attention[5] == 1),
        next(s for s in specs if s.module_type == "Embedding"),
    ]
    for spec in picks:
        layer = isolated_layer(spec, specs_model([spec]))
        layer.run()
    ids = isolated_layer(picks[1], specs_model([picks[1]])).inputs[0]
    assert ids.dtype == torch.int64 and int(ids.max()) < picks[1].extra["sampled"]["args"]["num_embeddings"]
