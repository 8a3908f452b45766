"""The shared capture machinery (trace_layer_calls) and single layers run alone (isolated_layer)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.utils._pytree import tree_leaves

from layerpower.errors import LayerpowerError
from layerpower.models.isolate import isolated_layer
from layerpower.models.layers import extract_layers
from layerpower.models.trace import trace_layer_calls
from layerpower.models.zoo import build_model


def first_tensor(output):
    return next(t for t in tree_leaves(output) if isinstance(t, torch.Tensor))


@pytest.mark.parametrize("name", ["lenet", "resnet18"])
def test_trace_on_a_real_model_matches_extract_layers(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, device="cpu")
    events: list[tuple[str, str, int]] = []
    shape = (1, 1, 32, 32) if name == "lenet" else (1, 3, 224, 224)
    trace = trace_layer_calls(
        model,
        torch.randn(shape),
        on_enter=lambda call: events.append(("enter", call.name, call.call_index)),
        on_exit=lambda call, output: events.append(("exit", call.name, call.call_index)),
    )
    specs = extract_layers(name)
    expected = [(s.name, s.call_index) for s in specs]
    assert [(c.name, c.call_index) for c in trace.calls] == expected
    # each call is entered then exited before the next one starts, in forward order
    assert events[0::2] == [("enter", *key) for key in expected]
    assert events[1::2] == [("exit", *key) for key in expected]
    assert [c.index for c in trace.calls] == list(range(len(specs)))
    assert trace.output.shape == (1, 10 if name == "lenet" else 1000)
    assert all(c.args == () and c.module is None for c in trace.calls)  # nothing held after the trace
    assert not trace.ignored_ops


def test_trace_restores_training_mode_and_removes_hooks() -> None:
    model = build_model("lenet", device="cpu").train()
    trace_layer_calls(model, torch.randn(2, 1, 32, 32))
    assert model.training
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_callbacks_see_live_arguments_and_outputs() -> None:
    model = build_model("lenet", device="cpu")
    seen = []

    def on_exit(call, output):
        seen.append(
            (call.module_type, tuple(call.args[0].shape), tuple(output.shape), call.module is not None)
        )

    trace_layer_calls(model, torch.randn(1, 1, 32, 32), on_exit=on_exit)
    assert seen[0] == ("Conv2d", (1, 1, 32, 32), (1, 6, 28, 28), True)
    assert seen[-1] == ("Linear", (1, 84), (1, 10), True)


@pytest.mark.parametrize(
    ("model", "layers"),
    [
        ("lenet", None),  # every layer
        ("resnet18", ["conv1", "bn1", "maxpool", "layer1.0.add_0", "layer2.0.downsample.0", "avgpool", "fc"]),
        ("googlenet", ["conv1.relu_0", "inception3a.branch4.0", "inception3a.cat_0", "fc"]),
        (
            "mobilenet_v3_small",
            ["features.1.block.0.0", "features.1.block.1.avgpool", "features.1.block.1.mul_0"],
        ),
    ],
)
def test_isolated_layers_run_and_match_the_spec(model: str, layers: list[str] | None) -> None:
    specs = extract_layers(model)
    chosen = [s for s in specs if layers is None or s.name in layers]
    assert layers is None or {s.name for s in chosen} == set(layers)
    for spec in chosen:
        layer = isolated_layer(spec)  # model built from the zoo name in spec.extra
        assert [tuple(t.shape) for t in layer.inputs][0] == spec.input_shape
        output = first_tensor(layer.run())
        assert tuple(output.shape) == spec.output_shape, spec.name
        assert output.dtype == torch.float32 and torch.isfinite(output).all()
        assert (layer.module is not None) == spec.is_module


def test_isolated_layer_of_a_reused_module_and_its_second_call() -> None:
    specs = extract_layers("resnet18")
    second = next(s for s in specs if s.name == "layer1.0.relu" and s.call_index == 1)
    assert tuple(first_tensor(isolated_layer(second).run()).shape) == second.output_shape


def test_isolated_layer_reuses_a_real_model_in_place_when_it_fits() -> None:
    model = build_model("lenet", device="cpu")
    spec = extract_layers("lenet")[0]
    layer = isolated_layer(spec, model)
    assert layer.module is model.features[0]
    # another dtype: a converted copy, the model untouched
    half_spec = extract_layers("lenet", dtype="bf16")[0]
    half = isolated_layer(half_spec, model)
    assert half.module is not model.features[0] and half.module.weight.dtype == torch.bfloat16
    assert model.features[0].weight.dtype == torch.float32
    out = half.run()
    assert out.dtype == torch.bfloat16 and tuple(out.shape) == half_spec.output_shape


def test_isolated_layer_from_a_meta_model_gets_random_weights() -> None:
    meta = build_model("resnet18", device="meta")
    spec = next(s for s in extract_layers("resnet18") if s.name == "layer1.0.bn1")
    layer = isolated_layer(spec, meta)
    assert layer.module.weight.device.type == "cpu"
    assert torch.equal(layer.module.running_var, torch.ones(64))  # reset_parameters ran
    assert meta.layer1[0].bn1.weight.device.type == "meta"


def test_recorded_calls_are_json_friendly() -> None:
    specs = extract_layers("googlenet")
    text = json.dumps([s.to_dict() for s in specs])
    cat = next(s for s in json.loads(text) if s["name"] == "inception3a.cat_0")
    assert cat["extra"]["op"] == "torch.cat"
    assert cat["extra"]["args"][0] == [{"tensor": i} for i in range(4)]
    assert cat["extra"]["args"][1] == 1  # dim


def test_spec_without_model_name_needs_the_model() -> None:
    spec = extract_layers(build_model("lenet", device="cpu"), input_shape=(1, 32, 32))[0]
    with pytest.raises(LayerpowerError, match="pass that model"):
        isolated_layer(spec)
    assert isolated_layer(spec, build_model("lenet", device="meta")).run().shape == (1, 6, 28, 28)


def test_non_replayable_call_is_a_clear_error() -> None:
    class Odd(nn.Module):
        def forward(self, x: torch.Tensor, how: object) -> torch.Tensor:
            return x + 1

    class Outer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.odd = Odd()
            self.lin = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.odd(self.lin(x), object())

    model = Outer()
    spec = next(s for s in extract_layers(model, input_shape=(4,)) if s.name == "odd")
    assert spec.extra["replayable"] is False
    with pytest.raises(LayerpowerError, match="cannot be replayed"):
        isolated_layer(spec, model)


class Boom(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")


@pytest.mark.parametrize("fail_in", ["leaf", "callback"])
def test_a_failing_forward_leaves_no_mode_or_hooks_behind(fail_in: str) -> None:
    model = nn.Sequential(nn.Linear(3, 3), Boom() if fail_in == "leaf" else nn.ReLU())
    depth = torch._C._len_torch_function_stack()

    def on_enter(call):
        if fail_in == "callback" and call.module_type == "ReLU":
            raise ValueError("callback failed")

    with pytest.raises((RuntimeError, ValueError)):
        trace_layer_calls(model, torch.randn(1, 3), on_enter=on_enter)
    assert torch._C._len_torch_function_stack() == depth
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    ok = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    assert [c.name for c in trace_layer_calls(ok, torch.randn(1, 3)).calls] == ["0", "1"]


def test_call_encoding_round_trip() -> None:
    from layerpower.models.encoding import decode_call, encode_call

    x = torch.randn(2, 3)
    encoded = encode_call(
        ([x, x], (1, 2), slice(0, None, 2), ...), {"dtype": torch.float16, "size": torch.Size([4]), "p": 0.5}
    )
    extra = json.loads(json.dumps(encoded.to_extra()))
    assert extra["arg_shapes"] == [[2, 3]] and extra["replayable"] is True  # one placeholder per tensor
    fresh = torch.zeros(2, 3)
    args, kwargs = decode_call(extra, [fresh], "cpu")
    assert args[0][0] is fresh and args[0][1] is fresh
    assert args[1:] == ((1, 2), slice(0, None, 2), Ellipsis)
    assert kwargs == {"dtype": torch.float16, "size": (4,), "p": 0.5}
