"""One-line explanations of inputs a model cannot take: what was tried, and what its first layer expects.

Used by :func:`layerpower.models.layers.extract_layers`: the first layer call of a forward is checked against
the input's dtype (token ids into a convolution, floats into an embedding), and a forward that fails is
explained by the layer it failed in and by what the model's first layer expects, e.g.
``resnet18: input (1, 3, 64) failed: Conv2d 'conv1' expects 4-D input (N, 3, H, W)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from layerpower.errors import LayerpowerError

_SPATIAL = {1: "L", 2: "H, W", 3: "D, H, W"}
_HINT = "check --input-shape (per sample, without the batch dimension) and --input-dtype"


@dataclass(frozen=True)
class LayerInfo:
    """What an error message says about one layer: its type, name and expected input."""

    module_type: str
    name: str
    expects: str | None

    def text(self) -> str:
        where = f"{self.module_type} {self.name!r}"
        return f"{where} expects {self.expects}" if self.expects else where


def expected_input(module: nn.Module) -> str | None:
    """What ``module`` takes, in words (``"4-D input (N, 3, H, W)"``), or None when there is nothing to say."""
    if isinstance(module, nn.modules.conv._ConvNd):
        n = len(module.kernel_size)
        return f"{n + 2}-D input (N, {module.in_channels}, {_SPATIAL.get(n, '...')})"
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return f"integer token ids (N, T) in [0, {module.num_embeddings})"
    if isinstance(module, nn.Linear):
        return f"input (..., {module.in_features})"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        if isinstance(module, nn.BatchNorm1d):
            return f"2-D or 3-D input (N, {module.num_features}) or (N, {module.num_features}, L)"
        n = 3 if isinstance(module, nn.BatchNorm3d) else 2
        return f"{n + 2}-D input (N, {module.num_features}, {_SPATIAL[n]})"
    if isinstance(module, nn.LayerNorm):
        return f"input (..., {', '.join(str(d) for d in module.normalized_shape)})"
    if isinstance(module, nn.MultiheadAttention):
        order = "(N, T, {})" if module.batch_first else "(T, N, {})"
        return "3-D input " + order.format(module.embed_dim)
    return None


def layer_info(module_type: str, name: str, module: nn.Module | None) -> LayerInfo:
    return LayerInfo(module_type, name, expected_input(module) if module is not None else None)


def first_leaf(model: nn.Module) -> LayerInfo | None:
    """The first registered leaf module with parameters (when the forward failed before any layer ran)."""
    from layerpower.models.trace import is_leaf, is_passthrough

    for path, module in model.named_modules():
        if is_leaf(module) and not is_passthrough(module) and next(module.parameters(), None) is not None:
            return layer_info(type(module).__name__, path, module)
    return None


def check_first_call(
    module: nn.Module, args: tuple[Any, ...], label: str, inputs_text: str, name: str
) -> None:
    """Refuse an input dtype the model's first layer cannot take (checked on the meta device, where torch
    does not check every dtype itself)."""
    tensor = next((a for a in args if isinstance(a, torch.Tensor)), None)
    if tensor is None:
        return
    info = layer_info(type(module).__name__, name, module)
    integer = not (tensor.is_floating_point() or tensor.is_complex())
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        if not integer:
            raise LayerpowerError(
                f"{label}: input {inputs_text} failed: {info.text()}, got {_dtype(tensor)}",
                hint="token ids are integers: --input-dtype long",
            )
        return
    floating_weights = any(p.is_floating_point() for p in module.parameters())
    if integer and floating_weights:
        raise LayerpowerError(
            f"{label}: input {inputs_text} failed: {info.text()} of floating values, got {_dtype(tensor)}",
            hint="this model takes floating inputs: drop --input-dtype (or --input-dtype float)",
        )


def explain_failure(
    label: str,
    inputs_text: str,
    failed_in: LayerInfo | None,
    first: LayerInfo | None,
    exc: BaseException,
) -> LayerpowerError:
    """The one-line error for a forward that raised ``exc`` inside ``failed_in`` (None: outside a layer)."""
    lines = str(exc).strip().splitlines()
    reason = lines[0] if lines else type(exc).__name__
    head = f"{label}: input {inputs_text} failed"
    if failed_in is not None and first is not None and failed_in == first and first.expects:
        return LayerpowerError(f"{head}: {first.text()}", hint=_HINT)
    where = f" in {failed_in.module_type} {failed_in.name!r}" if failed_in is not None else ""
    message = f"{head}{where}: {reason}"
    if first is not None and first.expects and first != failed_in:
        message += f"; the first layer, {first.text()}"
    return LayerpowerError(message, hint=_HINT)


def _dtype(tensor: torch.Tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")
