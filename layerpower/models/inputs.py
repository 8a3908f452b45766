"""A model's inputs: shapes of any rank, integer token ids, example tensors; and their spelling on the CLI.

A model declares its inputs in one of three ways (on the zoo entry, on a ``package.module:factory`` callable,
or on the module it returns):

* ``input_shape``: the per-sample shape, without the batch dimension, of any rank (``(3, 224, 224)``,
  ``(128, 384)``, ``(128,)``);
* ``input_dtype``: ``None`` (the default) for a floating input, which takes the layer dtype (fp32/fp16/bf16),
  or an integer dtype name (``"int64"``; ``"long"`` is accepted) for token ids, which stay integer whatever
  the layer dtype; random ids are drawn in ``[0, vocab_size)`` on real devices;
* ``example_inputs(batch_size)``: a callable returning the tensor, or a tuple of tensors for several inputs;
  floating tensors are cast to the layer dtype, integer ones kept, all moved to the device.

:func:`make_inputs` is the one place that builds the inputs of a forward pass: layer extraction (meta
device) and the profiler's whole-model and in-context runs (real devices) all call it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from layerpower.errors import LayerpowerError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from layerpower.models.zoo import ModelEntry

#: accepted spellings (lower case) of integer and boolean input dtypes -> torch dtype name
INTEGER_DTYPES: dict[str, str] = {
    "long": "int64",
    "int64": "int64",
    "int": "int32",
    "int32": "int32",
    "int16": "int16",
    "short": "int16",
    "int8": "int8",
    "uint8": "uint8",
    "bool": "bool",
}
#: spellings meaning "a floating input, in the layer dtype"
FLOAT_SPELLINGS = frozenset(
    {"float", "floating", "fp32", "float32", "fp16", "float16", "half", "bf16", "bfloat16"}
)

#: vocabulary assumed for random token ids when neither the entry nor the model gives one (an ``nn.Embedding``)
DEFAULT_VOCAB = 2

_MODEL_OPTION = re.compile(r"^(?P<base>[^@]+)@(?P<options>.+)$")


def parse_input_dtype(text: str | None, model: str = "") -> str | None:
    """``None``/``"float"``/``"fp16"`` -> ``None`` (floating, in the layer dtype); ``"long"`` -> ``"int64"``.

    Raises :class:`LayerpowerError` naming the model and the spelling tried.
    """
    if text is None:
        return None
    key = str(text).strip().lower().removeprefix("torch.")
    if key in FLOAT_SPELLINGS:
        return None
    if key in INTEGER_DTYPES:
        return INTEGER_DTYPES[key]
    where = f"{model}: " if model else ""
    raise LayerpowerError(
        f"{where}unknown input dtype {text!r}",
        hint="use float (the layer dtype), long/int64, int32, int16, int8, uint8 or bool",
    )


def parse_input_shape(text: str | Sequence[int] | None, model: str = "") -> tuple[int, ...] | None:
    """``"128"`` -> ``(128,)``; ``"3x224x224"`` or ``"3,224,224"`` -> ``(3, 224, 224)``; ``None`` -> ``None``.

    Per sample, without the batch dimension. Zero, negative or non-numeric entries raise
    :class:`LayerpowerError` naming the model and the text tried.
    """
    if text is None:
        return None
    where = f"{model}: " if model else ""
    parts = re.split(r"[x,\s]+", text.strip().lower()) if isinstance(text, str) else list(text)
    parts = [p for p in parts if not (isinstance(p, str) and not p)]
    shape: list[int] = []
    for part in parts:
        text_part = str(part).strip()
        if isinstance(part, bool) or not re.fullmatch(r"-?\d+", text_part):
            raise LayerpowerError(
                f"{where}input shape {text!r}: {part!r} is not an integer",
                hint="give the per-sample shape without the batch dimension, e.g. 128 or 3x224x224",
            )
        number = int(text_part)
        if number < 1:
            raise LayerpowerError(
                f"{where}input shape {text!r}: every dimension must be a positive integer, got {number}",
                hint="give the per-sample shape without the batch dimension, e.g. 128 or 3x224x224",
            )
        shape.append(number)
    if not shape:
        raise LayerpowerError(f"{where}input shape {text!r} is empty", hint="e.g. 128 or 3x224x224")
    return tuple(shape)


def split_model_name(name: str) -> tuple[str, dict[str, int]]:
    """``"bert_base_like@seq=512"`` -> ``("bert_base_like", {"seq": 512})``; no ``@``: no options.

    Options are ``key=positive integer`` pairs separated by ``,`` (only ``seq`` is understood today; the zoo
    refuses the others and models that take none).
    """
    match = _MODEL_OPTION.match(name.strip())
    if match is None:
        return name.strip(), {}
    options: dict[str, int] = {}
    for item in match["options"].split(","):
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq or not key or not value.strip().isdigit() or int(value) < 1:
            raise LayerpowerError(
                f"model {name!r}: option {item!r} is not of the form key=positive integer",
                hint="e.g. bert_base_like@seq=512",
            )
        options[key] = int(value)
    return match["base"].strip(), options


def declared_inputs(entry: ModelEntry, module: nn.Module | None = None) -> dict[str, Any]:
    """The inputs a model declares: ``input_shape``, ``input_dtype``, ``example_inputs``, ``vocab_size``.

    The entry's declarations win; what it does not declare (a user factory without some of the attributes)
    comes from the module the factory returned, if it has them.
    """
    out: dict[str, Any] = {
        "input_shape": tuple(entry.input_shape),
        "input_dtype": entry.input_dtype,
        "example_inputs": entry.example_inputs,
        "vocab_size": entry.vocab_size,
    }
    if module is not None:
        undeclared = [a for a in out if a not in entry.inputs_declared]
        shape = getattr(module, "input_shape", None)
        if "input_shape" in undeclared and shape is not None:
            out["input_shape"] = tuple(int(d) for d in shape)
        dtype = getattr(module, "input_dtype", None)
        if "input_dtype" in undeclared and dtype is not None:
            out["input_dtype"] = parse_input_dtype(str(dtype), entry.name)
        example = getattr(module, "example_inputs", None)
        if "example_inputs" in undeclared and callable(example):
            out["example_inputs"] = example
        vocab = getattr(module, "vocab_size", None)
        if "vocab_size" in undeclared and isinstance(vocab, int):
            out["vocab_size"] = vocab
    return out


def _vocab(module: nn.Module | None, declared: int | None) -> int:
    if declared:
        return int(declared)
    if module is not None:
        from torch import nn

        for sub in module.modules():
            if isinstance(sub, (nn.Embedding, nn.EmbeddingBag)):
                return int(sub.num_embeddings)
    return DEFAULT_VOCAB


def make_inputs(
    entry: ModelEntry,
    batch_size: int,
    dtype: str | torch.dtype,
    device: str | torch.device = "cpu",
    *,
    module: nn.Module | None = None,
    input_shape: Sequence[int] | None = None,
    input_dtype: str | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, ...]:
    """The positional inputs of one forward pass of ``entry`` at ``batch_size``, on ``device``.

    ``dtype`` is the layer dtype (any spelling :func:`layerpower.models.dtypes.normalize_dtype` accepts):
    floating inputs take it, integer inputs keep theirs. ``input_shape``/``input_dtype`` (per sample; a
    spelling :func:`parse_input_dtype` accepts) override what the model declares and then make random
    inputs even for a model with ``example_inputs``. ``module`` (the built model) supplies declarations a
    factory did not make and the vocabulary of token ids (its first ``nn.Embedding``). On the meta device
    the tensors are empty (no values); elsewhere floating inputs are standard normal and token ids uniform
    in ``[0, vocab)``. Always a tuple (one tensor for a single-input model).
    """
    import torch

    from layerpower.models.dtypes import torch_dtype

    layer_dtype = torch_dtype(dtype)
    device = torch.device(device)
    declared = declared_inputs(entry, module)
    overridden = input_shape is not None or input_dtype is not None
    if declared["example_inputs"] is not None and not overridden:
        produced = declared["example_inputs"](int(batch_size))
        tensors = produced if isinstance(produced, tuple) else (produced,)
        out = []
        for tensor in tensors:
            if not isinstance(tensor, torch.Tensor):
                raise LayerpowerError(
                    f"{entry.name}: example_inputs({batch_size}) returned a {type(tensor).__name__}, "
                    "not a tensor or a tuple of tensors"
                )
            target = layer_dtype if tensor.is_floating_point() else tensor.dtype
            out.append(tensor.to(device=device, dtype=target))
        return tuple(out)
    shape = (int(batch_size), *(input_shape if input_shape is not None else declared["input_shape"]))
    kind = parse_input_dtype(input_dtype, entry.name) if input_dtype is not None else declared["input_dtype"]
    if kind is None:
        if device.type == "meta":
            return (torch.empty(shape, dtype=layer_dtype, device=device),)
        return (torch.randn(shape, dtype=layer_dtype, device=device, generator=generator),)
    int_dtype = getattr(torch, kind)
    if device.type == "meta":
        return (torch.empty(shape, dtype=int_dtype, device=device),)
    if int_dtype == torch.bool:
        return (torch.randint(0, 2, shape, device=device, generator=generator).bool(),)
    high = _vocab(module, declared["vocab_size"])
    if int_dtype != torch.int64:
        high = min(high, int(torch.iinfo(int_dtype).max) + 1)
    return (torch.randint(0, max(high, 1), shape, dtype=int_dtype, device=device, generator=generator),)


def describe_inputs(inputs: Sequence[torch.Tensor]) -> str:
    """``(1, 3, 224, 224)``; several inputs: ``(1, 128) int64, (1, 128) bool``; integer dtypes named."""
    texts = []
    for tensor in inputs:
        text = str(tuple(int(d) for d in tensor.shape))
        if not tensor.is_floating_point() or len(inputs) > 1:
            text += f" {str(tensor.dtype).removeprefix('torch.')}"
        texts.append(text)
    return ", ".join(texts)
