"""The model zoo: names, natural input shapes, user factories, meta builds, errors; and dtype names."""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch

from layerpower.errors import LayerpowerError, UnknownModelError
from layerpower.models.dtypes import DTYPE_ALIASES, normalize_dtype, torch_dtype
from layerpower.models.zoo import available_models, build_model, resolve_model


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("lenet", (1, 32, 32)),
        ("resnet18", (3, 224, 224)),
        ("inception_v3", (3, 299, 299)),
        ("vit_b_16", (3, 224, 224)),
        ("vit_h_14", (3, 224, 224)),  # the 518 crop belongs to a differently configured vit_h_14
        ("efficientnet_b3", (3, 300, 300)),
        ("swin_v2_t", (3, 256, 256)),
    ],
)
def test_natural_input_shapes(name: str, shape: tuple[int, ...]) -> None:
    assert resolve_model(name).input_shape == shape


def test_every_torchvision_classification_model_is_available() -> None:
    import torchvision.models

    names = set(available_models())
    assert set(torchvision.models.list_models(module=torchvision.models)) <= names
    assert "lenet" in names
    entry = resolve_model("ResNet18")  # case does not matter
    assert (entry.name, entry.source) == ("resnet18", "torchvision")


def test_unknown_name_lists_close_matches() -> None:
    with pytest.raises(UnknownModelError) as info:
        resolve_model("resnet19")
    message = str(info.value)
    assert "unknown model 'resnet19'" in message
    assert "did you mean" in message and "resnet18" in message


def test_unknown_name_without_close_match_points_to_the_list() -> None:
    with pytest.raises(UnknownModelError, match="--list"):
        resolve_model("zzzzzzzz")


def test_build_on_meta_allocates_no_weights() -> None:
    model = build_model("resnet18", device="meta")
    assert {p.device.type for p in model.parameters()} == {"meta"}
    assert not model.training
    assert sum(p.numel() for p in model.parameters()) == 11_689_512


def test_regnet_builds_on_meta_through_the_fallback() -> None:
    # RegNet computes its block widths with tensors, which plain meta construction cannot do
    model = build_model("regnet_x_400mf", device="meta")
    assert {t.device.type for t in [*model.parameters(), *model.buffers()]} == {"meta"}
    assert sum(p.numel() for p in model.parameters()) == 5_495_976


def test_builds_on_cpu_with_real_weights() -> None:
    model = build_model("lenet", device="cpu")
    weight = model.features[0].weight
    assert weight.device.type == "cpu" and torch.isfinite(weight).all() and weight.abs().sum() > 0


@pytest.fixture
def user_package(tmp_path, monkeypatch):
    """A tiny importable module with model factories, on sys.path."""
    (tmp_path / "tiny_nets.py").write_text(
        textwrap.dedent(
            """
            from torch import nn

            def build():
                return nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU(), nn.MaxPool1d(2), nn.Flatten(), nn.Linear(28, 5))

            build.input_shape = (2, 16)

            def plain():
                return nn.Sequential(nn.Linear(8, 8))

            def not_a_module():
                return 42

            class Nets:
                @staticmethod
                def small():
                    return nn.Linear(3, 2)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "tiny_nets"
    sys.modules.pop("tiny_nets", None)


def test_user_factory(user_package: str) -> None:
    entry = resolve_model(f"{user_package}:build")
    assert entry.source == "user" and entry.input_shape == (2, 16)
    assert resolve_model(f"{user_package}:plain").input_shape == (3, 224, 224)  # default
    assert isinstance(build_model(f"{user_package}:Nets.small", device="meta"), torch.nn.Linear)


def test_user_factory_errors(user_package: str) -> None:
    with pytest.raises(UnknownModelError, match="cannot import module 'no_such_pkg.nets'"):
        resolve_model("no_such_pkg.nets:build")
    with pytest.raises(UnknownModelError, match="did you mean build"):
        resolve_model(f"{user_package}:buidl")
    with pytest.raises(UnknownModelError, match="not of the form"):
        resolve_model(f"{user_package}:")
    with pytest.raises(UnknownModelError, match="not a torch.nn.Module"):
        build_model(f"{user_package}:not_a_module", device="meta")


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("fp32", "float32"),
        ("FP32", "float32"),
        ("float32", "float32"),
        ("fp16", "float16"),
        ("half", "float16"),
        ("float16", "float16"),
        ("bf16", "bfloat16"),
        ("bfloat16", "bfloat16"),
        (torch.float16, "float16"),
        (torch.bfloat16, "bfloat16"),
    ],
)
def test_normalize_dtype(spelling: object, canonical: str) -> None:
    assert normalize_dtype(spelling) == canonical
    assert torch_dtype(spelling) == getattr(torch, canonical)


def test_dtype_aliases_are_all_accepted() -> None:
    assert {normalize_dtype(alias) for alias in DTYPE_ALIASES} == {"float32", "float16", "bfloat16"}


@pytest.mark.parametrize("bad", ["fp8", "int8", "", torch.int64])
def test_unknown_dtype_is_a_clear_error(bad: object) -> None:
    with pytest.raises(LayerpowerError, match="unknown dtype") as info:
        normalize_dtype(bad)
    assert "fp16" in str(info.value)


def test_user_factory_layers(user_package: str) -> None:
    from layerpower.models.layers import extract_layers

    specs = extract_layers(f"{user_package}:build", batch_size=2)
    assert [(s.module_type, s.kind) for s in specs] == [
        ("Conv1d", "convolutional"),
        ("ReLU", "other"),
        ("MaxPool1d", "pooling"),
        ("Linear", "dense"),
    ]  # Flatten is a pure reshape: not a layer call
    conv, _, pool, dense = specs
    assert (conv.input_shape, conv.output_shape, conv.kernel) == ((2, 2, 16), (2, 4, 14), (3,))
    assert (pool.kernel, pool.stride, pool.output_shape) == ((2,), (2,), (2, 4, 7))
    assert dense.input_shape == (2, 28) and conv.extra["model"] == f"{user_package}:build"
