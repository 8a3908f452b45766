"""Builders: a drawn configuration -> a small probe module whose forward is exactly one layer call.

A builder is a function ``recipe -> Probe`` registered by name in :data:`BUILDERS`; the space file names it
per operation. The recipe is plain JSON (``{"builder", "target", "args", "pack_inputs"}``), stored in
``spec.extra["sampled"]``, so a spec can be rebuilt anywhere (a Ray worker included) without the space file.
The probe is traced like a model (:func:`spec_for`), so a sampled spec has the fields, FLOPs and bytes that
layer extraction gives the same layer in a zoo model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from layerpower.config.vocab import SAMPLED_MODEL as SAMPLED_MODEL  # re-exported: sampled rows' model name
from layerpower.errors import LayerpowerError
from layerpower.models.dtypes import torch_dtype
from layerpower.models.layers import FlopCounter, spec_from_call
from layerpower.models.ops import resolve_function
from layerpower.models.spec import LayerSpec
from layerpower.models.trace import LayerCall, trace_layer_calls

#: spec names are ``sampled.<op>_<index>``
NAME_PREFIX = "sampled"

Builder = Callable[[dict[str, Any]], "Probe"]
BUILDERS: dict[str, Builder] = {}


def register_builder(name: str) -> Callable[[Builder], Builder]:
    """Register a builder under ``name`` (the ``builder`` field of a space entry)."""

    def register(func: Builder) -> Builder:
        BUILDERS[name] = func
        return func

    return register


class Probe(nn.Module):
    """One layer call on its inputs: ``layer(*inputs)`` for a module, else ``fn(*inputs, **kwargs)``
    (``fn(list(inputs), **kwargs)`` when ``pack``). A functional probe holds an unused child, so that the
    trace sees its root as a parent and records the function call."""

    def __init__(
        self,
        layer: nn.Module | None = None,
        fn: Callable[..., Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        pack: bool = False,
    ) -> None:
        super().__init__()
        if layer is not None:
            self.layer = layer
        else:
            self.hold = nn.Identity()
        self.fn, self.fn_kwargs, self.pack = fn, dict(kwargs or {}), pack

    def forward(self, *inputs: torch.Tensor) -> Any:
        if self.fn is None:
            return self.layer(*inputs)
        if self.pack:
            return self.fn(list(inputs), **self.fn_kwargs)
        return self.fn(*inputs, **self.fn_kwargs)


def _target(recipe: dict[str, Any]) -> Any:
    try:
        return resolve_function(recipe["target"])
    except (ImportError, AttributeError):
        raise LayerpowerError(f"cannot import {recipe['target']!r} named in the layer space") from None


@register_builder("module")
def module_builder(recipe: dict[str, Any]) -> Probe:
    """``target(**args)``: an ``nn.Module`` class and its constructor arguments."""
    cls = _target(recipe)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise LayerpowerError(f"{recipe['target']!r} is not an nn.Module class (builder 'module')")
    return Probe(layer=cls(**recipe["args"]))


@register_builder("function")
def function_builder(recipe: dict[str, Any]) -> Probe:
    """``target(*inputs, **args)`` (or ``target([inputs], **args)``): a torch function."""
    return Probe(fn=_target(recipe), kwargs=recipe["args"], pack=bool(recipe.get("pack_inputs")))


class AttentionProbe(nn.Module):
    """Self-attention ``layer(x, x, x, need_weights=..., attn_mask=..., is_causal=...)``, returning the output
    alone; the causal mask (``True`` above the diagonal, as in a GPT-style decoder) is a buffer."""

    def __init__(self, layer: nn.MultiheadAttention, seq: int, causal: bool, need_weights: bool) -> None:
        super().__init__()
        self.layer = layer
        self.causal, self.need_weights = bool(causal), bool(need_weights)
        mask = torch.ones(seq, seq, dtype=torch.bool).triu(1) if causal else None
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(
            x, x, x, need_weights=self.need_weights, attn_mask=self.mask, is_causal=self.causal
        )[0]


@register_builder("attention")
def attention_builder(recipe: dict[str, Any]) -> AttentionProbe:
    """``nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)`` called as self-attention on a
    ``(batch, seq, embed_dim)`` input; args ``embed_dim``, ``num_heads``, ``seq`` (tokens), ``causal`` (a
    causal mask with ``is_causal=True``) and ``need_weights`` (False: the fused SDPA path)."""
    args = dict(recipe["args"])
    layer = nn.MultiheadAttention(int(args["embed_dim"]), int(args["num_heads"]), batch_first=True)
    return AttentionProbe(layer, int(args["seq"]), bool(args.get("causal")), bool(args.get("need_weights")))


class IdsProbe(nn.Module):
    """``layer(ids)`` for an embedding: the floating input only carries the shape; the layer gets int64 ids
    (the isolated run draws them in ``[0, num_embeddings)``)."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(torch.zeros_like(x, dtype=torch.long))


@register_builder("embedding")
def embedding_builder(recipe: dict[str, Any]) -> IdsProbe:
    """``nn.Embedding(**args)`` looked up with integer ids of the input's shape (``(batch, tokens)``)."""
    return IdsProbe(nn.Embedding(**recipe["args"]))


class MaskedFillProbe(nn.Module):
    """``x.masked_fill(mask, value)`` with a boolean ``(rows, cols)`` mask (``True`` above the diagonal)
    broadcast over the leading dims, as attention masks are."""

    def __init__(self, rows: int, cols: int, value: float) -> None:
        super().__init__()
        self.hold = nn.Identity()  # a parent, so that the trace records the function call
        self.value = float(value)
        self.register_buffer("mask", torch.ones(rows, cols, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.masked_fill(self.mask, self.value)


@register_builder("masked_fill")
def masked_fill_builder(recipe: dict[str, Any]) -> MaskedFillProbe:
    """``x.masked_fill(mask, value)``; args ``rows`` and ``cols`` (the last two dims of the input), ``value``."""
    args = recipe["args"]
    return MaskedFillProbe(int(args["rows"]), int(args["cols"]), float(args.get("value", -100.0)))


def build_probe(recipe: dict[str, Any], device: str | torch.device = "meta") -> nn.Module:
    """The probe of a recipe, built on ``device`` (meta: no memory)."""
    builder = BUILDERS.get(recipe.get("builder", ""))
    if builder is None:
        raise LayerpowerError(
            f"unknown builder {recipe.get('builder')!r}", hint=f"registered: {sorted(BUILDERS)}"
        )
    try:
        with torch.device(device):
            return builder(recipe)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise LayerpowerError(f"cannot build {recipe['target']} with {recipe['args']}: {exc}") from None


def spec_for(
    op_name: str,
    kind: str,
    recipe: dict[str, Any],
    shapes: list[list[int]],
    index: int,
    dtype: str,
    values: dict[str, Any] | None = None,
) -> LayerSpec:
    """Trace the recipe's probe on the meta device and return its one layer call as ``sampled.<op>_<index>``.

    ``spec.extra["module"]`` is the layer's path in :func:`specs_model`'s module; ``extra["sampled"]`` holds
    the op, the recipe and the drawn ``values``.
    """
    probe = build_probe(recipe).to(torch_dtype(dtype)).eval()
    inputs = tuple(torch.empty(s, dtype=torch_dtype(dtype), device="meta") for s in shapes)
    found: list[tuple[LayerCall, LayerSpec]] = []
    before: dict[int, int] = {}
    with FlopCounter() as counter:

        def on_enter(call: LayerCall) -> None:
            before[call.index] = counter.total

        def on_exit(call: LayerCall, output: Any) -> None:
            spec = spec_from_call(call, output, counter.total - before.pop(call.index), dtype)
            found.append((call, spec))

        try:
            trace_layer_calls(probe, inputs, on_enter, on_exit)
        except (RuntimeError, TypeError, ValueError, NotImplementedError) as exc:
            raise LayerpowerError(f"{op_name}: {recipe['target']} fails on inputs {shapes}: {exc}") from None
    if len(found) != 1:
        raise LayerpowerError(
            f"{op_name}: the probe made {len(found)} layer calls; a sampled operation is exactly one",
            hint="check the builder and target in the layer space",
        )
    call, spec = found[0]
    if spec.kind != kind:
        raise LayerpowerError(f"{op_name}: declared kind {kind!r}, but {spec.module_type} is {spec.kind!r}")
    name = f"{NAME_PREFIX}.{op_name}_{index}"
    extra = dict(spec.extra)
    extra.pop("parent", None)
    extra["parent"] = NAME_PREFIX
    if spec.is_module:
        extra["module"] = f"{name}.{call.module_path}"
    extra["sampled"] = {"op": op_name, "index": int(index), **recipe, "values": dict(values or {})}
    return replace(spec, name=name, extra=extra)


def specs_model(specs: list[LayerSpec]) -> nn.Module:
    """One meta-device module holding the probe of every module spec at its name (``sampled.conv2d_3``), so
    that :func:`layerpower.models.isolate.isolated_layer` finds each layer at ``spec.extra["module"]``."""
    root = nn.Module()
    root.add_module(NAME_PREFIX, nn.Module())
    holder = root.get_submodule(NAME_PREFIX)
    for spec in specs:
        recipe = (spec.extra or {}).get("sampled")
        if spec.is_module and recipe:
            holder.add_module(spec.name.split(".", 1)[1], build_probe(recipe))
    return root
