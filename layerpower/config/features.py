"""Feature lists per layer kind.

The seed lists are the NeuralPower columns (sizes, kernel, padding, stride); the extended lists add the
quantities that carry the physics of a layer: FLOPs, parameters, bytes moved and arithmetic intensity.
"""

from __future__ import annotations

_SIZES = ["input_size_0", "input_size_1", "input_size_2", "output_size_0", "output_size_1", "output_size_2"]
_WORK = ["flops", "params", "bytes_read", "bytes_written", "arithmetic_intensity"]

CONV_FEATURES: list[str] = [
    "batch_size",
    *_SIZES,
    "kernel_0",
    "kernel_1",
    "padding_0",
    "padding_1",
    "stride_0",
    "stride_1",
]
POOLING_FEATURES: list[str] = ["batch_size", *_SIZES, "kernel_0", "kernel_1", "stride_0", "stride_1"]
DENSE_FEATURES: list[str] = ["batch_size", "input_size", "output_size"]
#: the geometry of one attention call (``LayerSpec.attention``, in this order): query and key lengths (tokens),
#: heads, head width, embedding width (heads x head width for a functional call), and 0/1 flags: causal, any
#: mask, the fused SDPA kernel
ATTENTION_FIELDS: tuple[str, ...] = (
    "seq_q",
    "seq_k",
    "heads",
    "head_dim",
    "embed_dim",
    "causal",
    "masked",
    "fused",
)
#: attention (``nn.MultiheadAttention``, ``F.scaled_dot_product_attention``): batch and the geometry
ATTENTION_FEATURES: list[str] = ["batch_size", *ATTENTION_FIELDS]
#: ``other`` layers (norms, activations, adds, ...): sizes only; ``layer_type`` is added as a categorical.
OTHER_FEATURES: list[str] = ["batch_size", *_SIZES]

CONV_FEATURES_EXTENDED: list[str] = [*CONV_FEATURES, "groups", "dilation_0", "dilation_1", *_WORK]
POOLING_FEATURES_EXTENDED: list[str] = [*POOLING_FEATURES, "padding_0", "padding_1", *_WORK]
DENSE_FEATURES_EXTENDED: list[str] = [*DENSE_FEATURES, "rows", *_WORK]
ATTENTION_FEATURES_EXTENDED: list[str] = [*ATTENTION_FEATURES, *_WORK]
OTHER_FEATURES_EXTENDED: list[str] = [*OTHER_FEATURES, *_WORK]

#: features of the values a layer sees rather than of its shapes (:mod:`layerpower.models.values`): the
#: share of subnormal inputs. Optional in every file: a row without it (older data, layers measured alone
#: on random inputs) reads as the default here.
OPTIONAL_FEATURES: dict[str, float] = {"subnormal_share": 0.0}
VALUE_FEATURES: list[str] = list(OPTIONAL_FEATURES)

FEATURES_BY_KIND: dict[str, list[str]] = {
    "convolutional": CONV_FEATURES,
    "pooling": POOLING_FEATURES,
    "dense": DENSE_FEATURES,
    "attention": ATTENTION_FEATURES,
    "other": OTHER_FEATURES,
}
FEATURES_EXTENDED_BY_KIND: dict[str, list[str]] = {
    "convolutional": CONV_FEATURES_EXTENDED,
    "pooling": POOLING_FEATURES_EXTENDED,
    "dense": DENSE_FEATURES_EXTENDED,
    "attention": ATTENTION_FEATURES_EXTENDED,
    "other": OTHER_FEATURES_EXTENDED,
}
