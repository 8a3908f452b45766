"""The model zoo: a name -> a randomly initialised ``nn.Module`` and its natural input shape.

Names are every torchvision classification model (``torchvision.models.list_models(module=torchvision.models)``),
``lenet`` (LeNet-5, defined here), the transformer references ``bert_base_like`` and ``gpt2_small_like``
(:mod:`layerpower.models.transformers`; ``name@seq=512`` sets their sequence length), and user models given
as ``"package.module:factory"`` (a callable that returns an ``nn.Module``). Models are always built with
``weights=None``: nothing is ever downloaded. How a model declares its inputs: :mod:`layerpower.models.inputs`.
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

#: the attributes by which a model declares its inputs (see :mod:`layerpower.models.inputs`)
INPUT_ATTRIBUTES: tuple[str, ...] = ("input_shape", "input_dtype", "example_inputs", "vocab_size")

#: extra keyword arguments for torchvision builders (choose the init explicitly: no FutureWarning)
_TORCHVISION_KWARGS: dict[str, dict[str, Any]] = {
    "googlenet": {"init_weights": False},
    "inception_v3": {"init_weights": False},
}


@dataclass(frozen=True)
class ModelEntry:
    """A resolved model name: where it comes from, its natural inputs, how to build it.

    ``input_shape`` is per sample, without the batch dimension, of any rank ((C, H, W) for images, (T,) for
    token ids, (T, C) for embeddings). ``input_dtype`` is None for a floating input (it takes the layer
    dtype) or an integer dtype name (``"int64"`` for token ids). ``example_inputs(batch_size)``, when given,
    returns the input tensor or a tuple of them and takes precedence over the shape. ``vocab_size`` bounds
    random token ids. ``seq_len`` is the sequence length of a model that takes one (``name@seq=N``), else
    None. ``inputs_declared`` names the input attributes the entry itself declares; a user factory that
    lacks some of them leaves them to the module it returns (:func:`layerpower.models.inputs.declared_inputs`).
    """

    name: str
    source: str  # "torchvision" | "builtin" | "user"
    input_shape: tuple[int, ...]
    factory: Callable[[], nn.Module] = field(compare=False, repr=False)
    input_dtype: str | None = None
    example_inputs: Callable[[int], Any] | None = field(default=None, compare=False, repr=False)
    vocab_size: int | None = None
    seq_len: int | None = None
    inputs_declared: tuple[str, ...] = INPUT_ATTRIBUTES


@dataclass(frozen=True)
class _Builtin:
    """A model defined in this package: ``build(seq_len)`` for sequence models, ``build()`` otherwise."""

    build: Callable[..., nn.Module]
    input_shape: Callable[[int], tuple[int, ...]] | tuple[int, ...]
    input_dtype: str | None = None
    vocab_size: int | None = None

    @property
    def takes_seq(self) -> bool:
        return callable(self.input_shape)


def builtin_models() -> dict[str, _Builtin]:
    """Models defined in this package: name -> how to build it and its inputs."""
    from layerpower.models import lenet, transformers

    def tokens(seq: int) -> tuple[int, ...]:
        return (seq,)

    return {
        "lenet": _Builtin(lenet.lenet, lenet.INPUT_SHAPE),
        "bert_base_like": _Builtin(transformers.bert_base_like, tokens, "int64", transformers.BERT_VOCAB),
        "gpt2_small_like": _Builtin(transformers.gpt2_small_like, tokens, "int64", transformers.GPT2_VOCAB),
    }


def takes_seq_len(name: str) -> bool:
    """True for a zoo name whose model takes a sequence length (``name@seq=N``)."""
    from layerpower.models.inputs import split_model_name

    base, _ = split_model_name(name)
    builtin = builtin_models().get(base.lower())
    return builtin is not None and builtin.takes_seq


def with_seq_len(name: str, seq_len: int | None) -> str:
    """``name`` with its sequence length set to ``seq_len`` (``"bert_base_like@seq=256"``).

    ``None`` leaves the name as it is. A name that already carries a different ``@seq=`` and a model that
    takes no sequence length raise :class:`UnknownModelError`.
    """
    from layerpower.models.inputs import split_model_name

    if seq_len is None:
        return name
    base, options = split_model_name(name)
    if not takes_seq_len(base):
        raise UnknownModelError(
            f"model {base!r} takes no sequence length (--seq-len {seq_len})",
            hint="sequence models: " + ", ".join(n for n, b in builtin_models().items() if b.takes_seq),
        )
    if "seq" in options and options["seq"] != seq_len:
        raise UnknownModelError(f"model {name!r} and --seq-len {seq_len} disagree", hint="give one of them")
    return f"{base}@seq={int(seq_len)}"


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
    from layerpower.models.inputs import split_model_name

    name = name.strip()
    if ":" in name:
        return _resolve_factory(name)
    base, options = split_model_name(name)
    key = base.lower()
    builtins = builtin_models()
    if options and (key not in builtins or not builtins[key].takes_seq or set(options) - {"seq"}):
        known = key in builtins or key in torchvision_models()
        raise UnknownModelError(
            f"model {name!r}: "
            + (
                f"{key} takes no options"
                if known and not set(options) - {"seq"}
                else "unknown option or model"
            ),
            hint="only sequence models take @seq=N: "
            + ", ".join(n for n, b in builtins.items() if b.takes_seq),
        )
    if key in builtins:
        builtin = builtins[key]
        if builtin.takes_seq:
            from layerpower.models.transformers import DEFAULT_SEQ_LEN

            seq = options.get("seq", DEFAULT_SEQ_LEN)
            shape = builtin.input_shape(seq)  # type: ignore[operator]
            label = f"{key}@seq={seq}" if "seq" in options else key
            return ModelEntry(
                label,
                "builtin",
                tuple(shape),
                functools.partial(builtin.build, seq),
                input_dtype=builtin.input_dtype,
                vocab_size=builtin.vocab_size,
                seq_len=seq,
            )
        return ModelEntry(key, "builtin", tuple(builtin.input_shape), builtin.build)  # type: ignore[arg-type]
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
    from layerpower.models.inputs import parse_input_dtype

    # a class's example_inputs is a method: leave it to the instance
    attributes = [a for a in INPUT_ATTRIBUTES if not (isinstance(target, type) and a == "example_inputs")]
    declared = tuple(a for a in attributes if getattr(target, a, None) is not None)
    shape = tuple(int(d) for d in getattr(target, "input_shape", DEFAULT_INPUT_SHAPE))
    dtype = getattr(target, "input_dtype", None)
    example = getattr(target, "example_inputs", None) if "example_inputs" in declared else None
    vocab = getattr(target, "vocab_size", None)
    return ModelEntry(
        name,
        "user",
        shape,
        target,
        input_dtype=parse_input_dtype(str(dtype), name) if dtype is not None else None,
        example_inputs=example if callable(example) else None,
        vocab_size=vocab if isinstance(vocab, int) else None,
        inputs_declared=declared,
    )


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
