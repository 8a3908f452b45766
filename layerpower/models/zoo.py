"""The model zoo: a name -> a randomly initialised ``nn.Module`` and its natural input shape.

Names are every torchvision classification model (``torchvision.models.list_models(module=torchvision.models)``),
``lenet`` (LeNet-5, defined here), and user models given as ``"package.module:factory"`` (a callable that
returns an ``nn.Module``). Models are always built with ``weights=None``: nothing is ever downloaded.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from layerpower.errors import UnknownModelError

if TYPE_CHECKING:
    from torch import nn

#: per-sample input shape used when nothing better is known (user factories without ``input_shape``)
DEFAULT_INPUT_SHAPE: tuple[int, int, int] = (3, 224, 224)

#: extra keyword arguments for torchvision builders (choose the init explicitly: no FutureWarning)
_TORCHVISION_KWARGS: dict[str, dict[str, Any]] = {
    "googlenet": {"init_weights": False},
    "inception_v3": {"init_weights": False},
}


@dataclass(frozen=True)
class ModelEntry:
    """A resolved model name: where it comes from, its natural per-sample input shape, how to build it."""

    name: str
    source: str  # "torchvision" | "builtin" | "user"
    input_shape: tuple[int, ...]  # per sample, without the batch dimension: (C, H, W)
    factory: Callable[[], nn.Module] = field(compare=False, repr=False)


def builtin_models() -> dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]]:
    """Models defined in this package: name -> (factory, input shape)."""
    from layerpower.models import lenet

    return {"lenet": (lenet.lenet, lenet.INPUT_SHAPE)}


@functools.cache
def torchvision_models() -> tuple[str, ...]:
    """Every torchvision classification model name."""
    import torchvision.models

    return tuple(torchvision.models.list_models(module=torchvision.models))


def available_models() -> list[str]:
    """Every name :func:`resolve_model` accepts (besides ``package.module:factory``), sorted."""
    return sorted({*builtin_models(), *torchvision_models()})


@functools.cache
def torchvision_input_shape(name: str) -> tuple[int, int, int]:
    """The natural input shape of a torchvision classification model: (3, S, S).

    S is the smallest evaluation crop among the model's published weights (224 for most, 299 for
    inception_v3, 240-600 for efficientnet_b1-b7, 256 for swin_v2, 384/480 for efficientnet_v2). Reading it
    touches only the weights' metadata, never the weights. The smallest crop is the one that fits the
    architecture built with ``weights=None`` (vit_h_14 and regnet_y_128gf also publish 518/384 crops for
    differently configured models).
    """
    import torchvision.models

    crops: list[int] = []
    for weights in torchvision.models.get_model_weights(name):
        crop = getattr(weights.transforms, "keywords", {}).get("crop_size")
        if isinstance(crop, int):
            crops.append(crop)
        elif isinstance(crop, (list, tuple)) and crop:
            crops.append(int(crop[0]))
    size = min(crops) if crops else DEFAULT_INPUT_SHAPE[-1]
    return (3, size, size)


def resolve_model(name: str) -> ModelEntry:
    """Resolve ``name`` to a :class:`ModelEntry` without building the model.

    Raises :class:`UnknownModelError` for an unknown name (listing close matches) or a
    ``package.module:factory`` that cannot be imported.
    """
    if not isinstance(name, str) or not name.strip():
        raise UnknownModelError(f"model name must be a non-empty string, got {name!r}")
    name = name.strip()
    if ":" in name:
        return _resolve_factory(name)
    key = name.lower()
    builtins = builtin_models()
    if key in builtins:
        factory, shape = builtins[key]
        return ModelEntry(key, "builtin", tuple(shape), factory)
    if key in torchvision_models():
        import torchvision.models

        factory = functools.partial(
            torchvision.models.get_model, key, weights=None, **_TORCHVISION_KWARGS.get(key, {})
        )
        return ModelEntry(key, "torchvision", torchvision_input_shape(key), factory)
    close = difflib.get_close_matches(key, available_models(), n=5, cutoff=0.6)
    if close:
        hint = "did you mean " + ", ".join(close) + "?"
    else:
        hint = "`layerpower layers --list` shows every name; a model of your own is given as package.module:factory"
    raise UnknownModelError(f"unknown model {name!r}", hint=hint)


def _resolve_factory(name: str) -> ModelEntry:
    """``"package.module:factory"`` (``factory`` may be dotted: ``Class.method``)."""
    module_name, _, attr_path = name.partition(":")
    if not module_name or not attr_path:
        raise UnknownModelError(
            f"model {name!r} is not of the form package.module:factory", hint="e.g. mypackage.nets:build_net"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownModelError(
            f"cannot import module {module_name!r} for model {name!r}: {exc}",
            hint="is the package installed or on PYTHONPATH?",
        ) from None
    target: Any = module
    for part in attr_path.split("."):
        if not hasattr(target, part):
            public = [n for n in dir(target) if not n.startswith("_")]
            close = difflib.get_close_matches(part, public, n=5, cutoff=0.6)
            hint = ("did you mean " + ", ".join(close) + "?") if close else None
            raise UnknownModelError(
                f"{module_name!r} has no attribute {attr_path!r} (model {name!r})", hint=hint
            )
        target = getattr(target, part)
    if not callable(target):
        raise UnknownModelError(f"{name!r} is not callable: a factory must return an nn.Module")
    shape = tuple(int(d) for d in getattr(target, "input_shape", DEFAULT_INPUT_SHAPE))
    return ModelEntry(name, "user", shape, target)


def build_model(model: str | ModelEntry, device: str | Any = "cpu") -> nn.Module:
    """Build ``model`` (a name or a resolved entry) on ``device``, randomly initialised, in eval mode.

    ``device="meta"`` builds without allocating any weight memory; models whose constructors compute
    with tensors (RegNet) are built with their parameters and buffers sent to meta as they are
    registered, and as a last resort on the CPU and then moved to meta.
    """
    import torch
    from torch import nn

    entry = model if isinstance(model, ModelEntry) else resolve_model(model)
    if torch.device(device).type == "meta":
        module = _build_on_meta(entry.factory)
    else:
        with torch.device(device):
            module = entry.factory()
    if not isinstance(module, nn.Module):
        raise UnknownModelError(
            f"model {entry.name!r}: the factory returned {type(module).__name__}, not a torch.nn.Module"
        )
    return module.eval()


def _build_on_meta(factory: Callable[[], Any]) -> Any:
    import torch

    with skip_weight_init():
        with contextlib.suppress(Exception), torch.device("meta"):
            return factory()
        with contextlib.suppress(Exception), parameters_on_meta():
            return factory()
        module = factory()
    return module.to("meta") if hasattr(module, "to") else module


@contextlib.contextmanager
def skip_weight_init() -> Iterator[None]:
    """While active, the in-place initialisers of ``torch.nn.init`` (``kaiming_normal_``, ``normal_``, ...)
    return their tensor untouched.

    Used only for meta builds, where there is no data to initialise; on the meta device torch still runs
    each initialiser's shape logic in Python (half the build time of a large model). Patches module
    attributes for the duration: not thread-safe.
    """
    import torch.nn.init as init

    names = [
        n for n in vars(init) if n.endswith("_") and not n.startswith("_") and callable(getattr(init, n))
    ]
    originals = {n: getattr(init, n) for n in names}

    def untouched(tensor: Any, *args: Any, **kwargs: Any) -> Any:
        return tensor

    for name in names:
        setattr(init, name, untouched)
    try:
        yield
    finally:
        for name, func in originals.items():
            setattr(init, name, func)


@contextlib.contextmanager
def parameters_on_meta() -> Iterator[None]:
    """While active, every parameter and buffer registered on any module moves to the meta device.

    Plain tensor computations in constructors still run on the CPU (RegNet computes its block widths with
    tensors). Patches ``nn.Module.register_parameter``/``register_buffer`` for the duration: not thread-safe.
    """
    from torch import nn

    original_parameter = nn.Module.register_parameter
    original_buffer = nn.Module.register_buffer

    def register_parameter(self: nn.Module, name: str, param: Any) -> None:
        original_parameter(self, name, param)
        if param is not None and param.device.type != "meta":
            self._parameters[name] = nn.Parameter(
                param.detach().to("meta"), requires_grad=param.requires_grad
            )

    def register_buffer(self: nn.Module, name: str, tensor: Any, persistent: bool = True) -> None:
        original_buffer(self, name, tensor, persistent)
        if tensor is not None and tensor.device.type != "meta":
            self._buffers[name] = tensor.to("meta")

    nn.Module.register_parameter = register_parameter  # type: ignore[method-assign]
    nn.Module.register_buffer = register_buffer  # type: ignore[method-assign]
    try:
        yield
    finally:
        nn.Module.register_parameter = original_parameter  # type: ignore[method-assign]
        nn.Module.register_buffer = original_buffer  # type: ignore[method-assign]


@functools.lru_cache(maxsize=8)
def meta_model(name: str) -> nn.Module:
    """A cached meta-device build of ``name`` (cheap: no weights). Do not modify it; copy it first."""
    return build_model(name, device="meta")
