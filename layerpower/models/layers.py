"""Weight-free layer extraction: a model name (or module) -> one :class:`LayerSpec` per layer call.

The model is built on the meta device (no weights, no data), traced once with
:func:`layerpower.models.trace.trace_layer_calls`, and every layer call becomes a spec with its shapes,
geometry, parameters, FLOPs and bytes moved.

FLOPs: ``torch.utils.flop_counter``'s formulas (convolution, matrix products, attention; multiply and
add count as two) where it has one; attention it counts nothing for gets a formula
(:mod:`layerpower.models.attention`, ``"attention_formula"``). For layers it counts nothing for, an element count is used instead
(``extra["flops_source"] == "element_count"``): pooling counts one operation per window element per output
element; element-wise ops, activations, normalisations and reductions one per element of their larger
operand; data movement (``cat``, ``pad``, ``roll``, ...) and dropout (an identity in eval mode) count zero
(``"none"``).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from layerpower.config.vocab import LAYER_KINDS
from layerpower.errors import LayerpowerError
from layerpower.models.attention import attention_batch, attention_flops, attention_geometry
from layerpower.models.dtypes import normalize_dtype, torch_dtype
from layerpower.models.encoding import encode_call
from layerpower.models.input_check import (
    LayerInfo,
    check_first_call,
    explain_failure,
    first_leaf,
    layer_info,
)
from layerpower.models.inputs import declared_inputs, describe_inputs, make_inputs, parse_input_shape
from layerpower.models.ops import CONV_OPS, DATA_MOVEMENT_OPS, OP_PARAMETERS, POOLING_OPS
from layerpower.models.spec import (
    KIND_ATTENTION,
    KIND_CONVOLUTIONAL,
    KIND_DENSE,
    KIND_POOLING,
    LayerSpec,
    feature_row,
)
from layerpower.models.trace import LayerCall, tensors_in, trace_layer_calls
from layerpower.models.zoo import ModelEntry, build_model, resolve_model

_ZERO_FLOP_MODULES = ("StochasticDepth",)


def extract_layers(
    model_or_name: str | nn.Module,
    batch_size: int = 1,
    dtype: str | torch.dtype = "float32",
    input_shape: Sequence[int] | str | None = None,
    input_dtype: str | None = None,
    values: bool = True,
) -> list[LayerSpec]:
    """Every layer call of one forward pass of a model, without weights and without data.

    ``model_or_name`` is a zoo name (``"resnet18"``, ``"bert_base_like@seq=256"``,
    ``"package.module:factory"``) or an ``nn.Module`` (copied to the meta device; the original is not
    touched). The inputs are the model's declared ones (:mod:`layerpower.models.inputs`: ``input_shape`` of
    any rank, ``input_dtype``, ``example_inputs``); ``input_shape`` (per sample, no batch dimension; a
    sequence or text such as ``"3x224x224"``) and ``input_dtype`` (``"long"``) override them. Floating inputs
    take ``dtype`` (any spelling :func:`normalize_dtype` accepts), integer inputs stay integer. An input the
    model cannot take raises a one-line :class:`LayerpowerError` naming the model, the input tried and what
    its first layer expects. Each spec's ``extra`` holds ``model`` (the name, when given one), ``module`` or
    ``op`` (what to run it with), ``parent``, ``flops_source`` and the recorded call (``args``, ``kwargs``,
    ``arg_shapes``, ``arg_dtypes``, ``replayable``) that :func:`layerpower.models.isolate.isolated_layer`
    replays; all JSON-friendly.

    With ``values`` (the default), one real forward pass at batch size 1 on the CPU sets each spec's
    ``subnormal_share`` (:func:`layerpower.models.values.model_subnormal_shares`); without it, 0.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise LayerpowerError(f"batch size must be a positive integer, got {batch_size!r}")
    dtype_name = normalize_dtype(dtype)
    model, entry, model_name = _meta_model(model_or_name)
    label = entry.name
    shape = parse_input_shape(input_shape, label) if input_shape is not None else None
    model = model.to(torch_dtype(dtype_name)).eval()
    declared = declared_inputs(entry, model)
    if shape is None and declared["example_inputs"] is None and not declared["input_shape"]:
        raise LayerpowerError(
            f"no input shape for the {label} module",
            hint="pass input_shape=(C, H, W), or give the module an input_shape attribute",
        )
    inputs = make_inputs(
        entry, batch_size, dtype_name, "meta", module=model, input_shape=shape, input_dtype=input_dtype
    )
    inputs_text = describe_inputs(inputs)

    specs: list[LayerSpec] = []
    flops_before: dict[int, int] = {}
    inflight: list[LayerInfo] = []
    first: list[LayerInfo] = []
    with FlopCounter() as counter:

        def on_enter(call: LayerCall) -> None:
            info = layer_info(call.module_type, call.name, call.module)
            if call.is_module and not first:
                first.append(info)
                assert call.module is not None
                check_first_call(call.module, call.args, label, inputs_text, call.name)
            inflight.append(info)
            flops_before[call.index] = counter.total

        def on_exit(call: LayerCall, output: Any) -> None:
            inflight.pop()
            counted = counter.total - flops_before.pop(call.index)
            specs.append(spec_from_call(call, output, counted, dtype_name, model_name))

        try:
            trace_layer_calls(model, inputs, on_enter, on_exit)
        except LayerpowerError:
            raise
        except (RuntimeError, NotImplementedError, TypeError, ValueError, IndexError, AssertionError) as exc:
            known_first = first[0] if first else first_leaf(model)
            raise explain_failure(
                label, inputs_text, inflight[-1] if inflight else None, known_first, exc
            ) from exc
    if values:
        from layerpower.models.values import model_subnormal_shares

        shares = model_subnormal_shares(model_or_name, dtype_name, shape, input_dtype)
        if shares:
            specs = [
                dataclasses.replace(spec, subnormal_share=shares.get((spec.name, spec.call_index), 0.0))
                for spec in specs
            ]
    return specs


class FlopCounter(TorchDispatchMode):
    """Counts FLOPs with ``torch.utils.flop_counter``'s formulas (``flop_registry``) into ``total``.

    The same formulas as ``FlopCounterMode``, without its per-module bookkeeping and its attempt to
    decompose every op it has no formula for (which costs seconds on a large model, on the meta device
    too). Ops are counted as dispatched: composite ops (``linear``, ``einsum``, ``matmul``) arrive already
    decomposed into the matrix products the registry knows.
    """

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        output = func(*args, **kwargs)
        formula = flop_registry.get(getattr(func, "_overloadpacket", None))
        if formula is not None:
            self.total += int(formula(*args, **kwargs, out_val=output))
        return output


def _meta_model(model_or_name: str | nn.Module) -> tuple[nn.Module, ModelEntry, str | None]:
    """(meta model, its entry, the zoo name or None for a module given as such)."""
    if isinstance(model_or_name, str):
        entry = resolve_model(model_or_name)
        return build_model(entry, device="meta"), entry, entry.name
    if isinstance(model_or_name, nn.Module):
        model = meta_copy(model_or_name)
        entry = ModelEntry(type(model_or_name).__name__, "module", (), lambda: model, inputs_declared=())
        return model, entry, None
    raise LayerpowerError(f"expected a model name or an nn.Module, got {type(model_or_name).__name__}")


def meta_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose parameters and buffers are on the meta device (no weight memory)."""
    memo: dict[int, Any] = {}
    for tensor in [*model.parameters(), *model.buffers()]:
        meta = tensor.detach().to("meta")
        if isinstance(tensor, nn.Parameter):
            meta = nn.Parameter(meta, requires_grad=tensor.requires_grad)
        memo[id(tensor)] = meta
    try:
        return copy.deepcopy(model, memo)
    except Exception as exc:  # a module holding something that cannot be copied
        raise LayerpowerError(
            f"cannot copy the {type(model).__name__} module to the meta device: {exc}",
            hint="pass the model by name (package.module:factory) instead",
        ) from exc


# -- one spec per call -----------------------------------------------------------------------------------


def _nbytes(tensors: Sequence[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _expand(value: Any, n: int, default: int) -> tuple[int, ...]:
    """``3`` -> ``(3, 3)``; ``(3,)`` -> ``(3, 3)``; ``None`` -> ``(default, ...)``."""
    if value is None:
        return (default,) * n
    if isinstance(value, (int, float)):
        return (int(value),) * n
    values = tuple(int(v) for v in value)
    if len(values) == 1 and n > 1:
        return values * n
    return values


def _adaptive_geometry(in_shape: tuple[int, ...], out_shape: tuple[int, ...], n: int) -> dict[str, Any]:
    """Kernel and stride of an adaptive pooling: stride = in // out, kernel = in - (out - 1) * stride."""
    ins, outs = in_shape[-n:], out_shape[-n:]
    stride = tuple(max(i // max(o, 1), 1) for i, o in zip(ins, outs, strict=True))
    kernel = tuple(i - (o - 1) * s for i, o, s in zip(ins, outs, stride, strict=True))
    return {"kernel": kernel, "stride": stride, "padding": (0,) * n, "dilation": (1,) * n}


def _conv_padding(padding: Any, kernel: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[int, ...]:
    if padding == "valid":
        return (0,) * len(kernel)
    if padding == "same":
        return tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation, strict=True))
    return _expand(padding, len(kernel), 0)


def _module_geometry(
    module: nn.Module, kind: str, in_shape: tuple[int, ...], out_shape: tuple[int, ...]
) -> dict:
    if kind == KIND_CONVOLUTIONAL:
        kernel = tuple(module.kernel_size)
        dilation = _expand(module.dilation, len(kernel), 1)
        return {
            "kernel": kernel,
            "stride": _expand(module.stride, len(kernel), 1),
            "padding": _conv_padding(module.padding, kernel, dilation),
            "dilation": dilation,
            "groups": int(module.groups),
        }
    if kind == KIND_POOLING:
        n = max(len(in_shape) - 2, 1)
        if not hasattr(module, "kernel_size"):  # adaptive pooling
            return _adaptive_geometry(in_shape, out_shape, n)
        kernel = _expand(module.kernel_size, n, 1)
        stride = getattr(module, "stride", None)
        return {
            "kernel": kernel,
            "stride": kernel if stride is None else _expand(stride, n, 1),
            "padding": _expand(getattr(module, "padding", 0), n, 0),
            "dilation": _expand(getattr(module, "dilation", 1), n, 1),
        }
    return {}


def _op_geometry(call: LayerCall, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> dict:
    op = call.module_type
    names = OP_PARAMETERS.get(op)
    if op in POOLING_OPS and names is None:  # adaptive pooling
        return _adaptive_geometry(in_shape, out_shape, int(op.split("_pool")[1][0]))
    if names is None:
        return {}
    values = dict(zip(names, call.args, strict=False))
    values.update(call.kwargs)
    if op in CONV_OPS:
        weight = values.get("weight")
        if not isinstance(weight, torch.Tensor):
            return {}
        kernel = tuple(int(d) for d in weight.shape[2:])
        n = len(kernel)
        dilation = _expand(values.get("dilation", 1), n, 1)
        return {
            "kernel": kernel,
            "stride": _expand(values.get("stride", 1), n, 1),
            "padding": _conv_padding(values.get("padding", 0), kernel, dilation),
            "dilation": dilation,
            "groups": int(values.get("groups", 1) or 1),
        }
    n = int(op.split("_pool")[1][0])
    kernel = _expand(values.get("kernel_size"), n, 1)
    stride = values.get("stride")
    return {
        "kernel": kernel,
        "stride": kernel if stride is None or stride == [] else _expand(stride, n, 1),
        "padding": _expand(values.get("padding", 0), n, 0),
        "dilation": _expand(values.get("dilation", 1), n, 1),
    }


def _element_flops(
    call: LayerCall,
    kind: str,
    inputs: list[torch.Tensor],
    outputs: list[torch.Tensor],
    kernel: tuple[int, ...],
) -> tuple[int, str]:
    """The element count used when the flop counter has no formula (see the module docstring)."""
    out_numel = outputs[0].numel() if outputs else 0
    if kind == KIND_POOLING:
        return out_numel * math.prod(kernel or (1,)), "element_count"
    no_arithmetic = (
        call.module_type in DATA_MOVEMENT_OPS
        if not call.is_module
        else isinstance(call.module, nn.modules.dropout._DropoutNd) or call.module_type in _ZERO_FLOP_MODULES
    )
    if no_arithmetic:
        return 0, "none"
    in_numel = max((t.numel() for t in inputs), default=0)
    return max(in_numel, out_numel), "element_count"


def spec_from_call(
    call: LayerCall, output: Any, counted_flops: int, dtype: str, model_name: str | None = None
) -> LayerSpec:
    """The :class:`LayerSpec` of one traced call (inside an ``on_exit`` callback, while ``call`` is live)."""
    inputs = tensors_in((call.args, call.kwargs))
    outputs = tensors_in(output)
    in_shape = tuple(int(d) for d in inputs[0].shape) if inputs else ()
    out_shape = tuple(int(d) for d in outputs[0].shape) if outputs else ()
    extra: dict[str, Any] = {"parent": call.parent}
    if model_name is not None:
        extra["model"] = model_name
    if call.is_module:
        module = call.module
        assert module is not None
        weights = [*module.parameters(), *module.buffers()]
        params = sum(p.numel() for p in module.parameters())
        bytes_read = _nbytes(inputs) + _nbytes(weights)
        if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):  # reads the rows it gathers, not the table
            bytes_read = _nbytes(inputs) + _nbytes(outputs)
        geometry = _module_geometry(module, call.kind, in_shape, out_shape)
        extra["module"] = call.module_path
    else:
        params = sum(t.numel() for t in inputs if isinstance(t, nn.Parameter))
        bytes_read = _nbytes(inputs)
        geometry = _op_geometry(call, in_shape, out_shape)
        extra["op"] = call.op
    if call.kind == KIND_ATTENTION:
        geometry["attention"] = attention_geometry(call.module, call.args, call.kwargs)
    if counted_flops > 0 or call.kind in (KIND_CONVOLUTIONAL, KIND_DENSE):
        flops, source = int(counted_flops), "flop_counter"
    elif call.kind == KIND_ATTENTION:
        batch = attention_batch(call.module, in_shape)
        flops = attention_flops(geometry["attention"], batch, projections=call.is_module)
        source = "attention_formula"
    else:
        flops, source = _element_flops(call, call.kind, inputs, outputs, geometry.get("kernel", ()))
    extra["flops_source"] = source
    encoded = encode_call(call.args, call.kwargs)
    extra.update(encoded.to_extra())
    if extra.get("op") is None and not call.is_module:
        extra["replayable"] = False
    return LayerSpec(
        name=call.name,
        module_type=call.module_type,
        kind=call.kind,
        input_shape=in_shape,
        output_shape=out_shape,
        dtype=dtype,
        params=int(params),
        flops=flops,
        bytes_read=int(bytes_read),
        bytes_written=_nbytes(outputs),
        call_index=call.call_index,
        is_module=call.is_module,
        extra=extra,
        **geometry,
    )


# -- tables and totals -----------------------------------------------------------------------------------


def shape_text(shape: Sequence[int]) -> str:
    """``(1, 3, 224, 224)`` -> ``"1x3x224x224"``."""
    return "x".join(str(int(d)) for d in shape)


def layers_frame(specs: Sequence[LayerSpec]) -> pd.DataFrame:
    """One row per spec: name, type, kind, is_module, shapes as text, then every :func:`feature_row` column."""
    rows = []
    for spec in specs:
        features = feature_row(spec)
        rows.append(
            {
                "layer_name": features.pop("layer_name"),
                "layer_type": features.pop("layer_type"),
                "kind": spec.kind,
                "is_module": spec.is_module,
                "input_shape": shape_text(spec.input_shape),
                "output_shape": shape_text(spec.output_shape),
                **features,
            }
        )
    if rows:
        return pd.DataFrame(rows)
    columns = ["layer_name", "layer_type", "kind", "is_module", "input_shape", "output_shape"]
    dummy = feature_row(LayerSpec("", "", "other", (1,), (1,)))
    return pd.DataFrame(columns=columns + [c for c in dummy if c not in columns])


def summarize_layers(specs: Sequence[LayerSpec]) -> dict[str, Any]:
    """Totals over a layer list.

    ``layer_calls``; ``counts`` per kind (every kind present, 0 when absent); ``flops``, ``bytes_read`` and
    ``bytes_written`` summed over calls; ``params`` summed over distinct layers (a module called twice
    counts once), so it covers the parameters that run, not ones that never do (aux heads).
    """
    counts = dict.fromkeys(LAYER_KINDS, 0)
    params: dict[str, int] = {}
    for spec in specs:
        counts[spec.kind] = counts.get(spec.kind, 0) + 1
        params.setdefault(spec.name, spec.params)
    return {
        "layer_calls": len(specs),
        "counts": counts,
        "flops": sum(s.flops for s in specs),
        "params": sum(params.values()),
        "bytes_read": sum(s.bytes_read for s in specs),
        "bytes_written": sum(s.bytes_written for s in specs),
        "module_calls": sum(1 for s in specs if s.is_module),
        "functional_calls": sum(1 for s in specs if not s.is_module),
    }
