"""Which operations are layers: module kinds, functional ops worth recording, and their names.

A *layer call* is either a call of a leaf module (a module without children, or one of
:data:`OPAQUE_MODULES`) or a call of a torch function listed in :data:`COUNTED_OPS` made while no leaf module
is executing (residual adds, ``torch.cat``, ``F.relu``, functional pooling, ...). Functions are named by
:func:`canonical_op_name`: ``Tensor.__iadd__``, ``Tensor.add_`` and ``torch.add`` are all ``"add"``.
Pure shape, view and metadata operations (:data:`SHAPE_OPS`) are never layers; a function in neither set
is ignored too, and counted in ``Trace.ignored_ops`` so that gaps show.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

from layerpower.models.spec import (
    KIND_ATTENTION,
    KIND_CONVOLUTIONAL,
    KIND_DENSE,
    KIND_OTHER,
    KIND_POOLING,
)

#: functional pooling ops (kind ``pooling``)
POOLING_OPS: frozenset[str] = frozenset(
    {
        *(f"max_pool{d}d" for d in (1, 2, 3)),
        *(f"max_pool{d}d_with_indices" for d in (1, 2, 3)),
        *(f"avg_pool{d}d" for d in (1, 2, 3)),
        *(f"adaptive_avg_pool{d}d" for d in (1, 2, 3)),
        *(f"adaptive_max_pool{d}d" for d in (1, 2, 3)),
        *(f"adaptive_max_pool{d}d_with_indices" for d in (1, 2, 3)),
        *(f"lp_pool{d}d" for d in (1, 2, 3)),
    }
)
#: functional convolutions (kind ``convolutional``)
CONV_OPS: frozenset[str] = frozenset(
    {*(f"conv{d}d" for d in (1, 2, 3)), *(f"conv_transpose{d}d" for d in (1, 2, 3))}
)
#: functional matrix products (kind ``dense``)
DENSE_OPS: frozenset[str] = frozenset({"linear", "matmul", "mm", "bmm", "addmm", "baddbmm", "einsum"})

#: functional attention (kind ``attention``)
ATTENTION_OPS: frozenset[str] = frozenset({"scaled_dot_product_attention"})

#: ops that only move (or, in eval mode, pass through) data: no arithmetic, so no element-count FLOPs
DATA_MOVEMENT_OPS: frozenset[str] = frozenset(
    {
        "cat",
        "concat",
        "concatenate",
        "stack",
        "pad",
        "roll",
        "pixel_shuffle",
        "pixel_unshuffle",
        "channel_shuffle",
        "dropout",
        "dropout1d",
        "dropout2d",
        "dropout3d",
        "alpha_dropout",
        "embedding",
        "clone",
    }
)

#: element-wise arithmetic, activations, normalisation, reductions, data movement and lookups
#: (kind ``other``; ``multi_head_attention_forward`` called outside a module stays ``other``)
OTHER_OPS: frozenset[str] = frozenset(
    {
        # arithmetic
        "add",
        "sub",
        "rsub",
        "mul",
        "div",
        "true_divide",
        "floor_divide",
        "pow",
        "neg",
        "abs",
        "exp",
        "log",
        "sqrt",
        "rsqrt",
        "reciprocal",
        "clamp",
        "clip",
        "maximum",
        "minimum",
        "where",
        "addcmul",
        "addcdiv",
        "masked_fill",
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
        # activations
        "relu",
        "relu6",
        "gelu",
        "silu",
        "sigmoid",
        "tanh",
        "hardswish",
        "hardsigmoid",
        "hardtanh",
        "leaky_relu",
        "elu",
        "selu",
        "celu",
        "mish",
        "softplus",
        "prelu",
        "glu",
        "threshold",
        "softmax",
        "log_softmax",
        # normalisation
        "batch_norm",
        "layer_norm",
        "group_norm",
        "instance_norm",
        "local_response_norm",
        "normalize",
        "rms_norm",
        # reductions
        "mean",
        "sum",
        "amax",
        "amin",
        "max",
        "min",
        "std",
        "var",
        "norm",
        "logsumexp",
        "multi_head_attention_forward",
        # data movement and resampling
        *DATA_MOVEMENT_OPS,
        "interpolate",
        "upsample",
    }
)

#: every functional op recorded as a layer call when called outside a leaf module
COUNTED_OPS: frozenset[str] = POOLING_OPS | CONV_OPS | DENSE_OPS | ATTENTION_OPS | OTHER_OPS

#: pure shape, view and metadata operations, assertions, and tensor creation and filling: never layers
SHAPE_OPS: frozenset[str] = frozenset(
    {
        "view",
        "view_as",
        "reshape",
        "reshape_as",
        "flatten",
        "unflatten",
        "permute",
        "transpose",
        "t",
        "squeeze",
        "unsqueeze",
        "expand",
        "expand_as",
        "contiguous",
        "size",
        "dim",
        "numel",
        "getitem",
        "setitem",
        "len",
        "get",
        "chunk",
        "split",
        "unbind",
        "narrow",
        "select",
        "movedim",
        "swapaxes",
        "swapdims",
        "detach",
        "requires_grad",
        "to",
        "type",
        "type_as",
        "float",
        "half",
        "bfloat16",
        "is_floating_point",
        "is_complex",
        "element_size",
        "stride",
        "storage_offset",
        "data_ptr",
        "is_contiguous",
        "bool",
        "int",
        "item",
        "tolist",
        "format",
        "repr",
        "hash",
        "iter",
        "unfold",
        "_assert",
        "new_zeros",
        "new_ones",
        "new_empty",
        "new_full",
        "new_tensor",
        "zeros",
        "ones",
        "empty",
        "full",
        "zeros_like",
        "ones_like",
        "empty_like",
        "full_like",
        "zero",
        "fill",
        "arange",
        "tensor",
    }
)


#: functional dropouts: identities when called with ``training=False`` (every caller in eval mode)
DROPOUT_OPS: frozenset[str] = frozenset(
    {"dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"}
)

#: layer types that are identities in eval mode: never priced, never "unseen" (see :func:`is_identity_op`)
IDENTITY_TYPES: frozenset[str] = frozenset(
    {
        "Identity",
        "Dropout",
        "Dropout1d",
        "Dropout2d",
        "Dropout3d",
        "AlphaDropout",
        "FeatureAlphaDropout",
        "StochasticDepth",
        *DROPOUT_OPS,
    }
)


def is_identity_op(op: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """True for a functional dropout called with ``training=False`` (argument 2 or the keyword; torch's
    default is ``True``): it returns its input and is not a layer call."""
    if op not in DROPOUT_OPS:
        return False
    training = kwargs.get("training", args[2] if len(args) > 2 else True)
    return training is False


_DUNDER_ARITHMETIC = frozenset(
    {
        "add",
        "sub",
        "mul",
        "truediv",
        "floordiv",
        "matmul",
        "pow",
        "mod",
        "and",
        "or",
        "xor",
        "lshift",
        "rshift",
    }
)
_DUNDER_RENAMES = {
    "truediv": "div",
    "floordiv": "floor_divide",
    "and": "bitwise_and",
    "or": "bitwise_or",
    "xor": "bitwise_xor",
    "invert": "bitwise_not",
    "mod": "remainder",
}

_CONV_ARGS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_CONV_TRANSPOSE_ARGS = (
    "input",
    "weight",
    "bias",
    "stride",
    "padding",
    "output_padding",
    "groups",
    "dilation",
)
_MAX_POOL_ARGS = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
_AVG_POOL_ARGS = (
    "input",
    "kernel_size",
    "stride",
    "padding",
    "ceil_mode",
    "count_include_pad",
    "divisor_override",
)
_LP_POOL_ARGS = ("input", "norm_type", "kernel_size", "stride", "ceil_mode")

#: positional parameter names of functional convolution and pooling ops (argument 0 is the input)
OP_PARAMETERS: dict[str, tuple[str, ...]] = {}
for _d in (1, 2, 3):
    OP_PARAMETERS[f"conv{_d}d"] = _CONV_ARGS
    OP_PARAMETERS[f"conv_transpose{_d}d"] = _CONV_TRANSPOSE_ARGS
    OP_PARAMETERS[f"max_pool{_d}d"] = _MAX_POOL_ARGS
    OP_PARAMETERS[f"max_pool{_d}d_with_indices"] = _MAX_POOL_ARGS
    OP_PARAMETERS[f"avg_pool{_d}d"] = _AVG_POOL_ARGS
    OP_PARAMETERS[f"lp_pool{_d}d"] = _LP_POOL_ARGS


def canonical_op_name(func: Callable[..., Any]) -> str:
    """The op name of a torch function: dunders and in-place variants map to the plain op.

    ``Tensor.__add__``, ``Tensor.__radd__``, ``Tensor.__iadd__``, ``Tensor.add_`` and ``torch.add`` -> ``add``;
    ``Tensor.__truediv__`` -> ``div``; ``F.relu_`` -> ``relu``; property getters (``Tensor.shape``) -> ``get``.
    """
    name = getattr(func, "__name__", None) or type(func).__name__
    if name.startswith("__") and name.endswith("__") and len(name) > 4:
        core = name[2:-2]
        if core[:1] in ("i", "r") and core[1:] in _DUNDER_ARITHMETIC:
            core = core[1:]
        return _DUNDER_RENAMES.get(core, core)
    if name.endswith("_") and not name.startswith("_"):
        name = name[:-1]
    return name


def op_kind(op: str) -> str:
    """The layer kind of a functional op (``pooling``, ``convolutional``, ``dense``, ``attention`` or
    ``other``)."""
    if op in POOLING_OPS:
        return KIND_POOLING
    if op in CONV_OPS:
        return KIND_CONVOLUTIONAL
    if op in DENSE_OPS:
        return KIND_DENSE
    if op in ATTENTION_OPS:
        return KIND_ATTENTION
    return KIND_OTHER


_FUNCTION_HOMES = (
    "torch.Tensor",
    "torch.nn.functional",
    "torch",
    "torch.special",
    "torch.linalg",
    "torch.fft",
    "torch._C._nn",
    "torch._C._VariableFunctions",
)


def function_path(func: Callable[..., Any]) -> str | None:
    """A dotted path that :func:`resolve_function` turns back into ``func`` (``"torch.Tensor.__iadd__"``),
    or None where there is none."""
    try:
        return _cached_function_path(func)
    except TypeError:  # unhashable callable
        return _function_path(func)


@functools.lru_cache(maxsize=1024)
def _cached_function_path(func: Callable[..., Any]) -> str | None:
    return _function_path(func)


def _function_path(func: Callable[..., Any]) -> str | None:
    name = getattr(func, "__name__", None)
    if not name:
        return None
    for home in _FUNCTION_HOMES:
        try:
            owner = _import_path(home)
        except (ImportError, AttributeError):
            continue
        if getattr(owner, name, None) is func:
            return f"{home}.{name}"
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if module and qualname and "<" not in qualname:
        path = f"{module}.{qualname}"
        try:
            if resolve_function(path) is func:
                return path
        except (ImportError, AttributeError):
            return None
    return None


def resolve_function(path: str) -> Callable[..., Any]:
    """The function at a dotted path written by :func:`function_path`."""
    return _import_path(path)


def _import_path(path: str) -> Any:
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            target = getattr(target, attr)
        return target
    raise ImportError(f"cannot import {path!r}")
