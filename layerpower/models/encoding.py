"""JSON-friendly records of a layer call's arguments, and fresh arguments rebuilt from them.

Tensors become ``{"tensor": i}`` placeholders whose shape and dtype are listed separately; tuples,
dtypes, devices, slices and ``...`` are tagged dicts; plain numbers, strings, bools and None stay as they
are. A value of any other type is recorded as ``{"unsupported": "<type name>"}`` and makes the call
impossible to replay (:class:`layerpower.errors.LayerpowerError` when rebuilt).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from layerpower.errors import LayerpowerError


@dataclass
class EncodedCall:
    """The arguments of one call with tensors replaced by placeholders."""

    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    arg_shapes: list[list[int]] = field(default_factory=list)  # shape of tensor placeholder i
    arg_dtypes: list[str] = field(default_factory=list)  # dtype of tensor placeholder i ("float32")
    replayable: bool = True

    def to_extra(self) -> dict[str, Any]:
        """The fields stored in ``LayerSpec.extra``."""
        return {
            "args": self.args,
            "kwargs": self.kwargs,
            "arg_shapes": self.arg_shapes,
            "arg_dtypes": self.arg_dtypes,
            "replayable": self.replayable,
        }


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float16`` -> ``"float16"``."""
    return str(dtype).removeprefix("torch.")


def encode_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> EncodedCall:
    """Record ``args``/``kwargs``; each distinct tensor object gets one placeholder."""
    encoded = EncodedCall()
    seen: dict[int, int] = {}

    def encode(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            key = id(value)
            if key not in seen:
                seen[key] = len(encoded.arg_shapes)
                encoded.arg_shapes.append([int(d) for d in value.shape])
                encoded.arg_dtypes.append(dtype_name(value.dtype))
            return {"tensor": seen[key]}
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {"float": repr(value)}
        if isinstance(value, torch.Size):
            return {"tuple": [int(d) for d in value]}
        if isinstance(value, tuple):
            return {"tuple": [encode(v) for v in value]}
        if isinstance(value, list):
            return [encode(v) for v in value]
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {"dict": {k: encode(v) for k, v in value.items()}}
        if isinstance(value, torch.dtype):
            return {"dtype": dtype_name(value)}
        if isinstance(value, torch.device):
            return {"device": str(value)}
        if isinstance(value, torch.memory_format):
            return {"memory_format": str(value).removeprefix("torch.")}
        if isinstance(value, slice):
            return {"slice": [encode(value.start), encode(value.stop), encode(value.step)]}
        if value is Ellipsis:
            return {"ellipsis": True}
        encoded.replayable = False
        return {"unsupported": type(value).__name__}

    encoded.args = [encode(a) for a in args]
    encoded.kwargs = {k: encode(v) for k, v in kwargs.items()}
    return encoded


def fresh_tensors(
    arg_shapes: list[list[int]], arg_dtypes: list[str], device: torch.device | str, generator: Any = None
) -> list[torch.Tensor]:
    """New tensors for the placeholders: standard normal for floating dtypes, zeros otherwise."""
    tensors = []
    for shape, name in zip(arg_shapes, arg_dtypes, strict=True):
        dtype = getattr(torch, name)
        if dtype.is_floating_point or dtype.is_complex:
            tensors.append(torch.randn(shape, dtype=dtype, device=device, generator=generator))
        else:
            tensors.append(torch.zeros(shape, dtype=dtype, device=device))
    return tensors


def decode_call(
    extra: dict[str, Any], tensors: list[torch.Tensor], device: torch.device | str
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Rebuild ``(args, kwargs)`` from a recorded call, substituting ``tensors`` for the placeholders.

    Recorded devices are replaced by ``device``.
    """

    def decode(value: Any) -> Any:
        if isinstance(value, list):
            return [decode(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "tensor" in value:
            return tensors[value["tensor"]]
        if "tuple" in value:
            return tuple(decode(v) for v in value["tuple"])
        if "dict" in value:
            return {k: decode(v) for k, v in value["dict"].items()}
        if "float" in value:
            return float(value["float"])
        if "dtype" in value:
            return getattr(torch, value["dtype"])
        if "device" in value:
            return torch.device(device)
        if "memory_format" in value:
            return getattr(torch, value["memory_format"])
        if "slice" in value:
            return slice(*(decode(v) for v in value["slice"]))
        if "ellipsis" in value:
            return Ellipsis
        raise LayerpowerError(f"cannot rebuild an argument of type {value.get('unsupported', value)!r}")

    args = tuple(decode(a) for a in extra.get("args", []))
    kwargs = {k: decode(v) for k, v in extra.get("kwargs", {}).items()}
    return args, kwargs
