"""The geometry and work of one attention call (kind ``attention``).

Two calls are attention layers: an ``nn.MultiheadAttention`` module (one leaf call: its input projection,
the attention and its ``out_proj`` Linear) and a functional ``F.scaled_dot_product_attention`` made outside
a leaf module. :func:`attention_geometry` reads, from the live call, the fields of
:data:`layerpower.config.features.ATTENTION_FIELDS`:

* ``seq_q``/``seq_k``: query and key lengths (tokens); ``heads``, ``head_dim``; ``embed_dim`` (the module's
  width; ``heads * head_dim`` for a functional call).
* ``causal`` (0/1): the call asks for causal attention (``is_causal=True``), or its ``attn_mask`` is a real
  (not meta) square tensor holding exactly the causal pattern (boolean ``True`` above the diagonal, or a
  float mask with ``-inf`` above the diagonal and 0 elsewhere). A mask on the meta device cannot be read, so
  a causal mask passed without ``is_causal`` counts as causal only when the values are there.
* ``masked`` (0/1): a mask tensor is passed (``attn_mask`` or ``key_padding_mask``).
* ``fused`` (0/1): the attention core runs torch's fused ``scaled_dot_product_attention``: always for the
  functional op; for ``nn.MultiheadAttention`` when it is called with ``need_weights=False`` (its default is
  ``True``). With ``need_weights=False`` torch runs either the native fast path (eval mode, self-attention,
  batch first, ...) or ``F.multi_head_attention_forward``, and both call SDPA; with ``need_weights=True`` it
  materialises the (S_q x S_k) weights with an explicit softmax.

FLOPs come from torch's flop counter (it counts the projections' matrix products and SDPA on the meta
device). Should it count nothing (a torch whose fast path hides the products), :func:`attention_flops`
gives ``2·B·S_q·E·E`` (query projection) + ``2·2·B·S_k·E·E`` (key and value) + ``2·B·S_q·E·E`` (output
projection, modules only) + ``2·2·B·H·S_q·S_k·D`` (scores and weighted sum), ``flops_source`` then being
``"attention_formula"``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from layerpower.config.features import ATTENTION_FIELDS

_MHA_ARGS = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask")
_SDPA_ARGS = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal")


def _bound(names: tuple[str, ...], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    values = dict(zip(names, args, strict=False))
    values.update(kwargs)
    return values


def is_causal_mask(mask: Any) -> bool:
    """True for a real square mask holding the causal pattern (bool: True above the diagonal; float: -inf
    above the diagonal, 0 elsewhere). False for meta tensors (no values) and anything else."""
    if not isinstance(mask, torch.Tensor) or mask.device.type == "meta" or mask.dim() != 2:
        return False
    rows, cols = mask.shape
    if rows != cols or rows == 0:
        return False
    above = torch.ones(rows, cols, dtype=torch.bool, device=mask.device).triu(1)
    if mask.dtype == torch.bool:
        return bool(torch.equal(mask, above))
    if not mask.is_floating_point():
        return False
    return bool(torch.equal(torch.isneginf(mask), above) and not mask[~above].any())


def attention_geometry(
    module: nn.Module | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[int, ...]:
    """The :data:`ATTENTION_FIELDS` values of one call of ``module`` (an ``nn.MultiheadAttention``) or, with
    ``module=None``, of ``F.scaled_dot_product_attention(*args, **kwargs)``; ``()`` if unreadable."""
    if isinstance(module, nn.MultiheadAttention):
        values = _bound(_MHA_ARGS, args, kwargs)
        query, key = values.get("query"), values.get("key")
        if not isinstance(query, torch.Tensor) or not isinstance(key, torch.Tensor):
            return ()
        batched = query.dim() == 3
        seq_axis = 1 if (batched and module.batch_first) else 0
        seq_q, seq_k = int(query.shape[seq_axis]), int(key.shape[seq_axis])
        heads, head_dim, embed = int(module.num_heads), int(module.head_dim), int(module.embed_dim)
        mask = values.get("attn_mask")
        masked = mask is not None or values.get("key_padding_mask") is not None
        causal = bool(values.get("is_causal", False)) or is_causal_mask(mask)
        fused = values.get("need_weights", True) is False
    else:
        values = _bound(_SDPA_ARGS, args, kwargs)
        query, key = values.get("query"), values.get("key")
        if not isinstance(query, torch.Tensor) or not isinstance(key, torch.Tensor) or query.dim() < 2:
            return ()
        seq_q, seq_k = int(query.shape[-2]), int(key.shape[-2])
        heads = int(query.shape[-3]) if query.dim() >= 3 else 1
        head_dim = int(query.shape[-1])
        embed = heads * head_dim
        mask = values.get("attn_mask")
        masked = mask is not None
        causal = bool(values.get("is_causal", False)) or is_causal_mask(mask)
        fused = True
    geometry = (seq_q, seq_k, heads, head_dim, embed, int(causal), int(masked), int(fused))
    assert len(geometry) == len(ATTENTION_FIELDS)
    return geometry


def attention_batch(module: nn.Module | None, query_shape: tuple[int, ...]) -> int:
    """The batch of an attention call: sequences (MHA; 1 unbatched) or everything before the heads (SDPA)."""
    if isinstance(module, nn.MultiheadAttention):
        if len(query_shape) != 3:
            return 1
        return int(query_shape[0] if module.batch_first else query_shape[1])
    return int(math.prod(query_shape[:-3])) if len(query_shape) > 3 else 1


def attention_flops(geometry: tuple[int, ...], batch: int, projections: bool) -> int:
    """FLOPs of an attention call by formula (see the module docstring); ``projections`` for a module."""
    if not geometry:
        return 0
    seq_q, seq_k, heads, head_dim, embed = geometry[:5]
    core = 2 * 2 * batch * heads * seq_q * seq_k * head_dim
    if not projections:
        return int(core)
    projected = 2 * batch * seq_q * embed * embed + 2 * 2 * batch * seq_k * embed * embed
    return int(core + projected + 2 * batch * seq_q * embed * embed)
