"""Numeric precisions by name: ``fp32``/``fp16``/``bf16`` and their aliases.

Importing this module does not import torch; only :func:`torch_dtype` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from layerpower.config.vocab import DTYPE_SHORT_NAMES, LAYER_DTYPES
from layerpower.errors import LayerpowerError

if TYPE_CHECKING:
    import torch

#: accepted spelling (lower case) -> canonical name
DTYPE_ALIASES: dict[str, str] = {
    "fp32": "float32",
    "float32": "float32",
    "float": "float32",
    "single": "float32",
    "fp16": "float16",
    "float16": "float16",
    "half": "float16",
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
}

#: canonical name -> bytes per element
DTYPE_BYTES: dict[str, int] = dict(zip(LAYER_DTYPES, (4, 2, 2), strict=True))

#: canonical name -> short name used in the CLI and in file names
SHORT_NAMES: dict[str, str] = dict(DTYPE_SHORT_NAMES)


def normalize_dtype(name: str | Any) -> str:
    """The canonical name (``"float32"``, ``"float16"``, ``"bfloat16"``) of ``name``.

    ``name`` is one of :data:`DTYPE_ALIASES` (any case) or a ``torch.dtype``
    (``torch.float16`` -> ``"float16"``). Anything else raises :class:`LayerpowerError`.
    """
    text = str(name).strip().lower()
    text = text.removeprefix("torch.")
    canonical = DTYPE_ALIASES.get(text)
    if canonical is None:
        accepted = ", ".join(sorted({*DTYPE_SHORT_NAMES.values(), *LAYER_DTYPES}))
        raise LayerpowerError(f"unknown dtype {name!r}", hint=f"use one of: {accepted}")
    return canonical


def torch_dtype(name: str | Any) -> torch.dtype:
    """The ``torch.dtype`` for ``name`` (any spelling :func:`normalize_dtype` accepts)."""
    import torch

    return getattr(torch, normalize_dtype(name))


def dtype_bytes(name: str | Any) -> int:
    """Bytes per element of ``name``."""
    return DTYPE_BYTES[normalize_dtype(name)]
