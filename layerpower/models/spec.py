"""``LayerSpec``: one layer call of a model, described without weights or data.

This record is the contract between layer extraction, the profiler and the predictors:
:func:`feature_row` turns it into the feature columns of :mod:`layerpower.config.schema`, the same way
for a profiled layer and for a layer whose energy is predicted.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from layerpower.config.features import ATTENTION_FIELDS

KIND_CONVOLUTIONAL = "convolutional"
KIND_POOLING = "pooling"
KIND_DENSE = "dense"
KIND_ATTENTION = "attention"
KIND_OTHER = "other"


@dataclass(frozen=True)
class LayerSpec:
    """One call of one layer (a leaf module, or a functional op such as a residual add).

    Shapes include the batch dimension. ``flops`` counts multiply and add as two operations
    (``torch.utils.flop_counter``); ``bytes_read`` covers the input and the parameters, ``bytes_written``
    the output, both for ``dtype``.
    """

    name: str  # qualified module name ("layer1.0.conv1"); functional ops: "<parent>.<op>_<n>"
    module_type: str  # "Conv2d", "MaxPool2d", "Linear", "BatchNorm2d", "add", ...
    kind: str  # convolutional | pooling | dense | attention | other
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    dtype: str = "float32"
    kernel: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    padding: tuple[int, ...] = ()
    dilation: tuple[int, ...] = ()
    groups: int = 1
    #: attention geometry (kind ``attention`` only), in :data:`ATTENTION_FIELDS` order
    attention: tuple[int, ...] = ()
    params: int = 0
    flops: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    call_index: int = 0  # 0 for the first call of this module in one forward, 1 for the second, ...
    is_module: bool = True  # False for functional ops captured outside leaf modules
    #: share (0 to 1) of subnormal elements in the call's floating inputs (:mod:`layerpower.models.values`);
    #: not in :meth:`config_key`, since a measurement of the layer alone runs on random inputs
    subnormal_share: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def batch_size(self) -> int:
        """The leading dimension of the input."""
        return int(self.input_shape[0]) if self.input_shape else 1

    @property
    def arithmetic_intensity(self) -> float:
        """FLOPs per byte moved (0 when nothing is moved)."""
        moved = self.bytes_read + self.bytes_written
        return float(self.flops) / moved if moved else 0.0

    def config_key(self) -> tuple[Any, ...]:
        """Everything that determines the layer's cost: identical keys may share one measurement."""
        return (
            self.module_type,
            self.kind,
            self.input_shape,
            self.output_shape,
            self.dtype,
            self.kernel,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            self.attention,
            self.params,
            self.flops,
        )

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (tuples as lists), for JSON output."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        out["batch_size"] = self.batch_size
        out["arithmetic_intensity"] = self.arithmetic_intensity
        return out


def _three(dims: tuple[int, ...]) -> tuple[int, int, int]:
    """Fold the non-batch dims into (C, H, W): pad with 1s, fold extra middle dims into H."""
    dims = tuple(int(d) for d in dims)
    if not dims:
        return (1, 1, 1)
    if len(dims) == 1:
        return (dims[0], 1, 1)
    if len(dims) == 2:
        return (dims[0], dims[1], 1)
    return (dims[0], math.prod(dims[1:-1]), dims[-1])


def _two(values: tuple[int, ...], fill: int) -> tuple[int, int]:
    """Fold a 1-3 element kernel/stride/padding tuple into two: (k,) -> (k, fill); (d, h, w) -> (d*h, w)."""
    values = tuple(int(v) for v in values)
    if not values:
        return (fill, fill)
    if len(values) == 1:
        return (values[0], fill)
    if len(values) == 2:
        return (values[0], values[1])
    return (math.prod(values[:-1]), values[-1])


def feature_row(spec: LayerSpec) -> dict[str, Any]:
    """The feature columns of ``spec`` (superset of every kind's extended features), one CSV row's worth.

    Dense layers (Linear and matrix products, on inputs of any rank): ``rows`` is the number of vectors the
    layer really multiplies, ``prod(input_shape[:-1])`` (batch × tokens, or batch × H × W for a Linear on
    an image-shaped (N, H, W, C) tensor), ``input_size``/``output_size`` the in/out features; the sizes
    follow the same view: ``input_size_0 = output_size_0 = rows``, ``input_size_1 = in features``,
    ``output_size_1 = out features``, ``*_2 = 1``. Other kinds: sizes are (C, H, W) of the non-batch dims,
    with 1s for missing dims and extra middle dims folded into H. Attention: the :data:`ATTENTION_FIELDS`
    columns from ``spec.attention`` (0 for every other kind).
    """
    in3 = _three(spec.input_shape[1:])
    out3 = _three(spec.output_shape[1:])
    kernel = _two(spec.kernel, 1)
    stride = _two(spec.stride, 1)
    padding = _two(spec.padding, 0)
    dilation = _two(spec.dilation, 1)
    rows = math.prod(spec.input_shape[:-1]) if len(spec.input_shape) > 1 else 1
    if spec.kind == KIND_DENSE:
        in_features = int(spec.input_shape[-1]) if spec.input_shape else 1
        out_features = int(spec.output_shape[-1]) if spec.output_shape else 1
        in3, out3 = (int(rows), in_features, 1), (int(rows), out_features, 1)
    attention = dict.fromkeys(ATTENTION_FIELDS, 0)
    attention.update(zip(ATTENTION_FIELDS, (int(v) for v in spec.attention), strict=False))
    return {
        "layer_name": spec.name,
        "layer_type": spec.module_type,
        "call_index": spec.call_index,
        "dtype": spec.dtype,
        "batch_size": spec.batch_size,
        "input_size_0": in3[0],
        "input_size_1": in3[1],
        "input_size_2": in3[2],
        "output_size_0": out3[0],
        "output_size_1": out3[1],
        "output_size_2": out3[2],
        "input_size": int(spec.input_shape[-1]) if spec.input_shape else 1,
        "output_size": int(spec.output_shape[-1]) if spec.output_shape else 1,
        "rows": int(rows),
        "kernel_0": kernel[0],
        "kernel_1": kernel[1],
        "padding_0": padding[0],
        "padding_1": padding[1],
        "stride_0": stride[0],
        "stride_1": stride[1],
        "dilation_0": dilation[0],
        "dilation_1": dilation[1],
        "groups": spec.groups,
        **attention,
        "flops": spec.flops,
        "params": spec.params,
        "bytes_read": spec.bytes_read,
        "bytes_written": spec.bytes_written,
        "arithmetic_intensity": spec.arithmetic_intensity,
        "subnormal_share": float(spec.subnormal_share),
    }
