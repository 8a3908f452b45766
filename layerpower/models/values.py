"""What the values flowing through a model do to its layers' speed: the share of subnormal inputs.

A float whose magnitude is below the smallest normal number of its dtype (a *subnormal*, such as
``exp(-100)`` after a softmax over logits masked with ``-100``) sends x86 CPU kernels down a slow
microcode path: in swin_t's shifted-window attention, the product of the masked attention weights with the
values runs about 15x slower than the same product in an unshifted block (3 ms against 0.2 ms on a 2-core
Xeon). Shapes cannot show this, so one real forward pass at batch size 1 on the CPU (the model as built:
the zoo's random initialisation, seed :data:`SEED`; standard-normal inputs) measures, per layer call, the
share of subnormal elements among its floating-point tensor inputs. That share is a layer feature
(``subnormal_share``, 0 to 1). Calls measured alone on random inputs (the sampled layer space, isolated
replays) have none, and rows written before the feature existed read as 0
(:data:`layerpower.config.features.OPTIONAL_FEATURES`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from layerpower.models.trace import LayerCall, tensors_in, trace_layer_calls

#: the seed of the value pass's weights and inputs
SEED = 0
#: batch size of the value pass (the share is a property of the data path, not of the batch)
VALUE_BATCH = 1

logger = logging.getLogger(__name__)


def subnormal_share(tensors: Sequence[Any]) -> float:
    """The share (0 to 1) of subnormal elements among the floating-point tensors in ``tensors``."""
    subnormal = total = 0
    for tensor in tensors:
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point() or tensor.is_meta:
            continue
        tiny = torch.finfo(tensor.dtype).tiny
        magnitude = tensor.detach().abs()
        subnormal += int(torch.count_nonzero((magnitude > 0) & (magnitude < tiny)))
        total += tensor.numel()
    return subnormal / total if total else 0.0


def call_subnormal_shares(model: nn.Module, inputs: Any) -> dict[tuple[str, int], float]:
    """Per layer call ``(name, call_index)`` of one forward of ``model`` on ``inputs``: its subnormal share.

    Only calls with a share above 0 are listed.
    """
    shares: dict[tuple[str, int], float] = {}

    def on_enter(call: LayerCall) -> None:
        share = subnormal_share(tensors_in((call.args, call.kwargs)))
        if share > 0:
            shares[(call.name, call.call_index)] = share

    trace_layer_calls(model, inputs, on_enter)
    return shares


def model_subnormal_shares(
    model_or_name: str | nn.Module,
    dtype: str = "float32",
    input_shape: Sequence[int] | None = None,
    input_dtype: str | None = None,
) -> dict[tuple[str, int], float]:
    """:func:`call_subnormal_shares` of a zoo model (built on the CPU, seed :data:`SEED`) or a CPU module.

    A module is used as it is when its parameters have ``dtype`` (else a copy is converted); a module on
    another device is not run. A model that cannot run this pass (memory, a dtype the CPU lacks, an input
    it rejects) gives no shares, with a warning: its calls then read as 0. A zoo name's shares are
    measured once per process for each dtype and input (the profiler extracts every batch size).
    """
    if isinstance(model_or_name, str):
        shape = tuple(int(d) for d in input_shape) if input_shape is not None else None
        return dict(_zoo_shares(model_or_name, dtype, shape, input_dtype))
    return _measure(model_or_name, dtype, input_shape, input_dtype)


@functools.lru_cache(maxsize=16)
def _zoo_shares(
    name: str, dtype: str, input_shape: tuple[int, ...] | None, input_dtype: str | None
) -> dict[tuple[str, int], float]:
    return _measure(name, dtype, input_shape, input_dtype)


def _measure(
    model_or_name: str | nn.Module,
    dtype: str,
    input_shape: Sequence[int] | None,
    input_dtype: str | None,
) -> dict[tuple[str, int], float]:
    """The value pass itself (see :func:`model_subnormal_shares`)."""
    import copy

    from layerpower.models.dtypes import torch_dtype
    from layerpower.models.inputs import make_inputs
    from layerpower.models.zoo import ModelEntry, build_model, resolve_model

    label = model_or_name if isinstance(model_or_name, str) else type(model_or_name).__name__
    target = torch_dtype(dtype)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            if isinstance(model_or_name, str):
                entry = resolve_model(model_or_name)
                model = build_model(entry, device="cpu").to(target)
            else:
                tensors = [*model_or_name.parameters(), *model_or_name.buffers()]
                if any(t.device.type != "cpu" for t in tensors):
                    logger.info("subnormal shares of %s not measured: not on the CPU", label)
                    return {}
                floats = [t for t in tensors if t.is_floating_point()]
                model = model_or_name
                if any(t.dtype != target for t in floats):
                    model = copy.deepcopy(model_or_name).to(target)
                entry = ModelEntry(label, "module", (), lambda: model, inputs_declared=())
            inputs = make_inputs(
                entry,
                VALUE_BATCH,
                dtype,
                "cpu",
                module=model,
                input_shape=input_shape,
                input_dtype=input_dtype,
                generator=torch.Generator(device="cpu").manual_seed(SEED),
            )
            return call_subnormal_shares(model, inputs)
    except Exception as exc:  # noqa: BLE001 - any failure of an optional pass: no shares, said so
        logger.warning("subnormal shares of %s not measured (%s); its calls read as 0", label, exc)
        return {}
