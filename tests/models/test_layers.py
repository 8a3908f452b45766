"""Weight-free layer extraction, checked against counts, shapes and FLOPs derived by hand."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layerpower.config.vocab import LAYER_KINDS
from layerpower.errors import LayerpowerError
from layerpower.models.layers import extract_layers, layers_frame, summarize_layers
from layerpower.models.ops import COUNTED_OPS, SHAPE_OPS
from layerpower.models.spec import feature_row


def kinds(specs) -> Counter:
    return Counter(s.kind for s in specs)


def by_name(specs) -> dict:
    return {(s.name, s.call_index): s for s in specs}


@pytest.fixture(scope="module")
def resnet18():
    return extract_layers("resnet18")


def test_lenet_layers_shapes_and_flops() -> None:
    specs = extract_layers("lenet")
    assert kinds(specs) == {"convolutional": 2, "pooling": 2, "dense": 3, "other": 4}
    assert [s.output_shape for s in specs if s.kind != "other"] == [
        (1, 6, 28, 28),
        (1, 6, 14, 14),
        (1, 16, 10, 10),
        (1, 16, 5, 5),
        (1, 120),
        (1, 84),
        (1, 10),
    ]
    conv1, _, pool1, conv2 = specs[:4]
    assert (conv1.kernel, conv1.stride, conv1.padding, conv1.dilation, conv1.groups) == (
        (5, 5),
        (1, 1),
        (0, 0),
        (1, 1),
        1,
    )
    assert (pool1.kernel, pool1.stride) == ((2, 2), (2, 2))
    # multiply and add count as two: 2 * output elements * kernel elements * input channels
    assert conv1.flops == 2 * (6 * 28 * 28) * (5 * 5) * 1
    assert conv2.flops == 2 * (16 * 10 * 10) * (5 * 5) * 6
    assert specs[6].flops == 2 * 400 * 120
    assert summarize_layers(specs)["params"] == 61_706
    # fp32 bytes: conv1 reads its input and weights, writes its output
    assert conv1.bytes_read == 4 * (32 * 32 + 156) and conv1.bytes_written == 4 * 6 * 28 * 28


def _resnet18_conv_linear_macs() -> int:
    """Multiply-accumulates of resnet18's convolutions and classifier at 224x224, from the architecture."""
    macs = 3 * 64 * 7 * 7 * 112 * 112  # stem
    macs += 4 * (64 * 64 * 9 * 56 * 56)  # layer1: two blocks of two 3x3 convs
    for c_in, c_out, hw in [(64, 128, 28), (128, 256, 14), (256, 512, 7)]:
        macs += c_in * c_out * 9 * hw * hw  # first conv, stride 2
        macs += 3 * (c_out * c_out * 9 * hw * hw)  # the other three 3x3 convs
        macs += c_in * c_out * 1 * hw * hw  # 1x1 downsample
    return macs + 512 * 1000


def test_resnet18_counts(resnet18) -> None:
    assert kinds(resnet18) == {"convolutional": 20, "pooling": 2, "dense": 1, "other": 45}
    pools = [s for s in resnet18 if s.kind == "pooling"]
    assert [p.module_type for p in pools] == ["MaxPool2d", "AdaptiveAvgPool2d"]
    assert (pools[0].kernel, pools[0].stride, pools[0].padding) == ((3, 3), (2, 2), (1, 1))
    assert (pools[1].kernel, pools[1].stride, pools[1].output_shape) == ((7, 7), (7, 7), (1, 512, 1, 1))
    adds = [s for s in resnet18 if s.module_type == "add"]
    assert len(adds) == 8 and all(not s.is_module and s.kind == "other" for s in adds)
    assert adds[0].name == "layer1.0.add_0" and adds[-1].name == "layer4.1.add_0"
    assert adds[0].input_shape == adds[0].output_shape == (1, 64, 56, 56)
    assert summarize_layers(resnet18)["params"] == 11_689_512


def test_resnet18_reused_relu_is_recorded_per_call(resnet18) -> None:
    relus = [(s.name, s.call_index) for s in resnet18 if s.module_type == "ReLU"]
    assert len(relus) == 17  # stem + two per block
    assert ("layer1.0.relu", 0) in relus and ("layer1.0.relu", 1) in relus
    assert ("relu", 1) not in relus


def test_resnet18_flops_match_an_independent_count(resnet18) -> None:
    expected = 2 * _resnet18_conv_linear_macs()
    counted = sum(s.flops for s in resnet18 if s.kind in ("convolutional", "dense"))
    assert counted == expected
    total = summarize_layers(resnet18)["flops"]
    assert abs(total - expected) / expected < 0.01
    assert 3.6e9 < total < 3.7e9


def test_flops_equal_torch_flop_counter_on_the_counted_layers(resnet18) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    from layerpower.models.zoo import build_model

    model = build_model("resnet18", device="meta")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 3, 224, 224, device="meta"))
    ours = sum(s.flops for s in resnet18 if s.extra["flops_source"] == "flop_counter")
    assert ours == counter.get_total_flops()


def test_vgg16_counts_and_shapes() -> None:
    specs = extract_layers("vgg16")
    assert kinds(specs)["convolutional"] == 13
    assert kinds(specs)["dense"] == 3
    pools = Counter(s.module_type for s in specs if s.kind == "pooling")
    assert pools == {"MaxPool2d": 5, "AdaptiveAvgPool2d": 1}
    named = by_name(specs)
    assert named[("features.28", 0)].output_shape == (1, 512, 14, 14)  # last conv
    assert named[("avgpool", 0)].kernel == (1, 1)  # 7x7 -> 7x7
    assert named[("classifier.0", 0)].input_shape == (1, 25088)
    assert named[("classifier.0", 0)].params == 25088 * 4096 + 4096


def test_googlenet_nested_wrappers_yield_inner_convolutions() -> None:
    specs = extract_layers("googlenet")
    assert kinds(specs) == {
        "convolutional": 57,
        "pooling": 14,
        "dense": 1,
        "other": 123,
    }  # Dropout: an identity
    named = by_name(specs)
    assert named[("conv1.conv", 0)].output_shape == (1, 64, 112, 112)
    # BasicConv2d calls F.relu: captured with the wrapper as parent
    relu = named[("conv1.relu_0", 0)]
    assert (relu.module_type, relu.is_module, relu.extra["parent"]) == ("relu", False, "conv1")
    cat = named[("inception3a.cat_0", 0)]
    assert cat.output_shape == (1, 256, 28, 28) and cat.extra["arg_shapes"][0] == [1, 64, 28, 28]
    assert not any(name.startswith("aux") for name, _ in named)  # aux heads do not run in eval mode


def test_mobilenet_v3_small_counts() -> None:
    specs = extract_layers("mobilenet_v3_small")
    assert kinds(specs) == {
        "convolutional": 52,
        "pooling": 10,
        "dense": 2,
        "other": 91,
    }  # Dropout: an identity
    functional = Counter(s.module_type for s in specs if not s.is_module)
    assert functional == {"mul": 9, "add": 6}  # squeeze-excitation scales, residual adds
    depthwise = [s for s in specs if s.kind == "convolutional" and s.groups > 1]
    assert depthwise and all(s.groups == s.input_shape[1] for s in depthwise)
    assert specs[-1].output_shape == (1, 1000)


class Functional(nn.Module):
    """Convolutions of several dims, reused modules and functional ops outside leaf modules."""

    input_shape = (4, 8, 8)

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.up = nn.ConvTranspose2d(4, 2, 2, stride=2)
        self.block = nn.Sequential(nn.Conv3d(1, 2, 3, padding="same"), nn.AvgPool3d(2))
        self.pool1d = nn.AdaptiveMaxPool1d(5)
        self.head = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.conv(x))
        y = self.act(y + x)  # module reused; residual add
        y = torch.cat([y, x], dim=1).view(x.shape[0], 8, 8, 8)  # cat counted, view skipped
        y = F.max_pool2d(y, 2)  # functional pooling
        z = self.up(y)[:, :2]  # getitem skipped
        z = self.block(z.unsqueeze(1))
        z = F.adaptive_avg_pool2d(z.flatten(1, 2), 4)
        z = self.pool1d(torch.flatten(z, 2))
        return self.head(z.relu())


def test_module_kinds_reuse_and_functional_ops() -> None:
    specs = extract_layers(Functional())
    names = [(s.name, s.call_index, s.kind, s.is_module) for s in specs]
    assert names == [
        ("conv", 0, "convolutional", True),
        ("act", 0, "other", True),
        ("add_0", 0, "other", False),
        ("act", 1, "other", True),
        ("cat_0", 0, "other", False),
        ("max_pool2d_0", 0, "pooling", False),
        ("up", 0, "convolutional", True),
        ("block.0", 0, "convolutional", True),
        ("block.1", 0, "pooling", True),
        ("adaptive_avg_pool2d_0", 0, "pooling", False),
        ("pool1d", 0, "pooling", True),
        ("relu_0", 0, "other", False),
        ("head", 0, "dense", True),
    ]
    named = by_name(specs)
    assert named[("max_pool2d_0", 0)].kernel == (2, 2) and named[("max_pool2d_0", 0)].stride == (2, 2)
    assert named[("max_pool2d_0", 0)].output_shape == (1, 8, 4, 4)
    assert named[("up", 0)].output_shape == (1, 2, 8, 8) and named[("up", 0)].stride == (2, 2)
    conv3d = named[("block.0", 0)]
    assert (conv3d.kernel, conv3d.padding, conv3d.output_shape) == ((3, 3, 3), (1, 1, 1), (1, 2, 2, 8, 8))
    assert named[("block.1", 0)].kernel == (2, 2, 2)
    adaptive = named[("adaptive_avg_pool2d_0", 0)]
    assert (adaptive.input_shape, adaptive.output_shape, adaptive.kernel) == (
        (1, 2, 4, 4),
        (1, 2, 4, 4),
        (1, 1),
    )
    assert named[("pool1d", 0)].output_shape == (1, 2, 5)


def test_op_sets_do_not_overlap() -> None:
    assert not COUNTED_OPS & SHAPE_OPS
    assert {"add", "cat", "relu", "adaptive_avg_pool2d", "linear"} <= COUNTED_OPS
    assert {
        "view",
        "reshape",
        "flatten",
        "permute",
        "transpose",
        "size",
        "getitem",
        "contiguous",
    } <= SHAPE_OPS


def test_dtype_and_batch_size() -> None:
    specs = extract_layers("lenet", batch_size=8, dtype="bf16")
    assert {s.dtype for s in specs} == {"bfloat16"}
    assert specs[0].input_shape == (8, 1, 32, 32)
    assert specs[0].bytes_written == 2 * 8 * 6 * 28 * 28


def test_a_module_is_copied_not_modified() -> None:
    from layerpower.models.lenet import LeNet5

    model = LeNet5().train()
    specs = extract_layers(model, dtype="fp16")
    assert len(specs) == 11 and specs[0].dtype == "float16"
    assert model.training and model.features[0].weight.dtype == torch.float32
    assert model.features[0].weight.device.type == "cpu"


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(LayerpowerError, match="batch size"):
        extract_layers("lenet", batch_size=0)
    with pytest.raises(LayerpowerError, match="no input shape"):
        extract_layers(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(
        LayerpowerError, match=r"lenet: input \(1, 3, 32, 32\) failed: Conv2d 'features.0' expects"
    ):
        extract_layers("lenet", input_shape=(3, 32, 32))  # LeNet takes one channel


def test_layers_frame_and_summary(resnet18) -> None:
    frame = layers_frame(resnet18)
    assert len(frame) == len(resnet18)
    assert list(frame.columns[:6]) == [
        "layer_name",
        "layer_type",
        "kind",
        "is_module",
        "input_shape",
        "output_shape",
    ]
    assert set(feature_row(resnet18[0])) <= set(frame.columns)
    assert frame.loc[0, "input_shape"] == "1x3x224x224"
    summary = summarize_layers(resnet18)
    assert summary["layer_calls"] == 68 and summary["functional_calls"] == 8
    assert set(summary["counts"]) == set(LAYER_KINDS)
    assert summary["flops"] == frame["flops"].sum()
    assert layers_frame([]).empty
