"""Numeric precisions of an experiment run, and what each means for every backend.

=============  ===========  =============  ============  ===================================================
name           parameters   computation    loss scaling  backend mechanism
=============  ===========  =============  ============  ===================================================
``fp32``       float32      float32        no            the default everywhere
``fp16``       float16      float16        no            torch ``model.half()``; Keras policy ``float16``;
                                                         JAX params and inputs cast to float16
``bf16``       bfloat16     bfloat16       no            as ``fp16`` with bfloat16
``mixed_fp16`` float32      float16        dynamic       torch autocast + ``GradScaler``; Keras policy
                                                         ``mixed_float16`` + ``LossScaleOptimizer``; Flax
                                                         ``dtype=float16, param_dtype=float32`` + a dynamic
                                                         loss scale
``mixed_bf16`` float32      bfloat16       no            torch autocast; Keras ``mixed_bfloat16``; Flax
                                                         ``dtype=bfloat16, param_dtype=float32``
=============  ===========  =============  ============  ===================================================

In every backend the loss is computed in float32 (logits are cast up before the loss).

The canonical names are the backend x precision study's (``mixed_fp16``, ``mixed_bf16``), so run folders
and every ``precision`` column read the same as the study's; the hyphenated ``mixed-fp16`` and
``mixed-bf16`` (this package's older spelling) are accepted as input and normalised.
"""

from __future__ import annotations

from dataclasses import dataclass

from layerpower.config import vocab
from layerpower.config.vocab import PrecisionName
from layerpower.errors import LayerpowerError


@dataclass(frozen=True)
class Precision:
    """One precision: the dtype of the parameters, the dtype of the computation, loss scaling."""

    name: str
    param_dtype: str  # "float32" | "float16" | "bfloat16"
    compute_dtype: str
    loss_scaling: bool

    @property
    def is_mixed(self) -> bool:
        """True when parameters stay float32 while the computation runs in a half type."""
        return self.param_dtype != self.compute_dtype


#: every precision of :data:`layerpower.config.vocab.PRECISIONS`, in its order
PRECISIONS: dict[PrecisionName, Precision] = {
    "fp32": Precision("fp32", "float32", "float32", False),
    "fp16": Precision("fp16", "float16", "float16", False),
    "bf16": Precision("bf16", "bfloat16", "bfloat16", False),
    "mixed_fp16": Precision("mixed_fp16", "float32", "float16", True),
    "mixed_bf16": Precision("mixed_bf16", "float32", "bfloat16", False),
}
if tuple(PRECISIONS) != vocab.PRECISIONS:  # pragma: no cover - a new precision is declared in both places
    raise RuntimeError(f"experiment precisions {tuple(PRECISIONS)} differ from {vocab.PRECISIONS}")


def normalise_precision(name: str) -> str:
    """``name`` in the canonical spelling (``Mixed-FP16`` -> ``mixed_fp16``), unknown names lower-cased only."""
    return name.strip().lower().replace("-", "_")


def canonical_precision(name: str) -> str:
    """Normalise a precision name (``mixed-fp16`` -> ``mixed_fp16``); refuse unknown names."""
    key = normalise_precision(name)
    if key not in PRECISIONS:
        raise LayerpowerError(
            f"unknown precision {name!r}", f"choose from {', '.join(PRECISIONS)} (mixed-fp16 is accepted too)"
        )
    return key


def get_precision(name: str) -> Precision:
    """The :class:`Precision` called ``name`` (aliases accepted)."""
    return PRECISIONS[canonical_precision(name)]
