"""One layer alone: the module (or torch function) of a :class:`LayerSpec`, with fresh random inputs.

The profiler measures each layer this way: ``isolated_layer(spec, model, device).run()`` is one call of the
layer on inputs of the captured shapes and dtypes. Modules come from ``model.get_submodule(name)``;
functional ops (residual adds, ``torch.cat``, ...) are replayed from the call recorded in ``spec.extra``.
Fresh floating inputs are standard normal, integer ones zeros, except the ids of an embedding lookup
(``nn.Embedding``, ``nn.EmbeddingBag``, ``F.embedding``): uniform in ``[0, rows of the table)``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from layerpower.errors import LayerpowerError
from layerpower.models.dtypes import torch_dtype
from layerpower.models.encoding import decode_call, fresh_tensors
from layerpower.models.ops import resolve_function
from layerpower.models.spec import LayerSpec
from layerpower.models.zoo import meta_model


@dataclass
class IsolatedLayer:
    """A layer ready to run alone: ``target(*args, **kwargs)``."""

    spec: LayerSpec
    target: Callable[..., Any]  # the module (on ``device``, in the spec's dtype) or the torch function
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def inputs(self) -> list[torch.Tensor]:
        """The fresh input tensors, in argument order."""
        found: list[torch.Tensor] = []
        for value in [*self.args, *self.kwargs.values()]:
            items = value if isinstance(value, (list, tuple)) else [value]
            found.extend(v for v in items if isinstance(v, torch.Tensor) and all(v is not f for f in found))
        return found

    @property
    def module(self) -> nn.Module | None:
        """The module, for module layers."""
        return self.target if isinstance(self.target, nn.Module) else None

    def run(self) -> Any:
        """One call of the layer, under ``torch.inference_mode``. In-place layers (``add_``, ``ReLU(inplace)``)
        update their input, as they do in the model."""
        with torch.inference_mode():
            return self.target(*self.args, **self.kwargs)


def isolated_layer(
    spec: LayerSpec,
    model: nn.Module | str | None = None,
    device: str | torch.device = "cpu",
    generator: torch.Generator | None = None,
) -> IsolatedLayer:
    """Build ``spec``'s layer alone on ``device`` with random inputs of the captured shapes and dtypes.

    ``model`` is the model the spec came from (any device: a meta model's layer is materialised with random
    weights), a zoo name, or None for the zoo model named in ``spec.extra["model"]``. A layer of a real
    model is used as is when it already sits on ``device`` in the spec's dtype, and copied otherwise (the
    given model is never modified). ``generator`` seeds the random inputs.
    """
    device = torch.device(device)
    extra = spec.extra or {}
    if not extra.get("replayable", True):
        raise LayerpowerError(
            f"layer {spec.name!r} ({spec.module_type}) cannot be replayed alone",
            hint="one of its arguments is not a tensor, number, string or tuple of those",
        )
    if spec.is_module:
        target: Callable[..., Any] = _layer_module(spec, model, device)
    else:
        op = extra.get("op")
        if not op:
            raise LayerpowerError(f"functional layer {spec.name!r} has no recorded torch function")
        try:
            target = resolve_function(op)
        except (ImportError, AttributeError):
            raise LayerpowerError(f"cannot find torch function {op!r} of layer {spec.name!r}") from None
    if "arg_shapes" in extra:
        with torch.no_grad():
            tensors = fresh_tensors(extra["arg_shapes"], extra["arg_dtypes"], device, generator)
            _ids_in_range(spec, target, tensors, generator)
        args, kwargs = decode_call(extra, tensors, device)
    elif spec.is_module:  # a spec without a recorded call (e.g. read back from a CSV): one input tensor
        dtype = torch_dtype(spec.dtype)
        args, kwargs = (torch.randn(spec.input_shape, dtype=dtype, device=device, generator=generator),), {}
    else:
        raise LayerpowerError(f"functional layer {spec.name!r} has no recorded call in spec.extra")
    return IsolatedLayer(spec=spec, target=target, args=args, kwargs=kwargs, device=device)


def _ids_in_range(
    spec: LayerSpec, target: Any, tensors: list[torch.Tensor], generator: torch.Generator | None
) -> None:
    """Token ids of an embedding lookup drawn uniformly in ``[0, rows of the table)`` (in place), so the
    isolated lookup gathers spread rows as the model does (fresh integer tensors are zeros otherwise)."""
    if isinstance(target, (nn.Embedding, nn.EmbeddingBag)):
        rows = int(target.num_embeddings)
    elif spec.module_type == "embedding" and len(tensors) > 1 and tensors[1].dim() == 2:
        rows = int(tensors[1].shape[0])  # F.embedding(input, weight): the table is the second tensor
    else:
        return
    for i, tensor in enumerate(tensors):
        if not (tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool):
            drawn = torch.randint(0, rows, tuple(tensor.shape), generator=generator, device=tensor.device)
            tensors[i] = drawn.to(tensor.dtype)


def _layer_module(spec: LayerSpec, model: nn.Module | str | None, device: torch.device) -> nn.Module:
    if model is None:
        model = spec.extra.get("model")
        if model is None:
            raise LayerpowerError(
                f"layer {spec.name!r} comes from a model given as a module", hint="pass that model as model="
            )
    if isinstance(model, str):
        model = meta_model(model)
    path = spec.extra.get("module", spec.name)
    try:
        layer = model.get_submodule(path)
    except AttributeError:
        raise LayerpowerError(
            f"the model has no layer {path!r}", hint="is it the model the spec came from?"
        ) from None
    dtype = torch_dtype(spec.dtype)
    tensors = [*layer.parameters(), *layer.buffers()]
    if any(t.device.type == "meta" for t in tensors):
        return materialize(copy.deepcopy(layer), device).to(dtype=dtype).eval()
    floating = [t for t in tensors if t.is_floating_point()]
    if all(t.device == device for t in tensors) and all(t.dtype == dtype for t in floating):
        return layer
    return copy.deepcopy(layer).to(device=device, dtype=dtype).eval()


def materialize(module: nn.Module, device: torch.device | str) -> nn.Module:
    """Give a meta module real, randomly initialised storage on ``device`` (in place; returns it).

    Parameters start from N(0, 0.02) and floating buffers from 1 (non-floating from 0); then every
    submodule's own ``reset_parameters`` (or ``_reset_parameters``) runs, so standard layers get their
    usual initialisation (BatchNorm: running mean 0, variance 1).
    """
    module.to_empty(device=device)
    with torch.no_grad():
        for param in module.parameters():
            if param.is_floating_point():
                param.normal_(0.0, 0.02)
            else:
                param.zero_()
        for buffer in module.buffers():
            if buffer.is_floating_point():
                buffer.fill_(1.0)
            else:
                buffer.zero_()
        for sub in module.modules():
            reset = getattr(sub, "reset_parameters", None) or getattr(sub, "_reset_parameters", None)
            if callable(reset):
                reset()
    return module
