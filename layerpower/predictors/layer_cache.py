"""An on-disk cache of extracted layer rows, so a repeated ``predict-energy`` need not import torch.

Extracting a model's layers takes milliseconds, but importing torch and torchvision to do it takes seconds.
The feature rows of a zoo model at one batch size and dtype are cached as JSON under
``$LAYERPOWER_CACHE_DIR`` (default ``$XDG_CACHE_HOME/layerpower/layers`` or ``~/.cache/layerpower/layers``;
``LAYERPOWER_CACHE_DIR=off`` disables it). The file name carries a fingerprint of everything the rows depend
on: the versions of layerpower, torch and torchvision, the schema version and the source of
:mod:`layerpower.models`; any change there means a new file, never a stale row. User models
(``package.module:factory``) are never cached: their code may change under the same name.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from layerpower.config import SCHEMA_VERSION

ENV = "LAYERPOWER_CACHE_DIR"
_MODELS_SOURCE = Path(__file__).resolve().parents[1] / "models"


def cache_dir() -> Path | None:
    """The cache folder, or None when disabled."""
    value = os.environ.get(ENV)
    if value is not None:
        return None if value.strip().lower() in ("", "0", "off", "no", "false") else Path(value)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "layerpower" / "layers"


@functools.cache
def fingerprint() -> str:
    """A short hash of the library versions and the extraction source the rows depend on."""
    digest = hashlib.sha256(f"schema={SCHEMA_VERSION}".encode())
    for package in ("layerpower", "torch", "torchvision"):
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"{package}={version};".encode())
    for path in sorted(_MODELS_SOURCE.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _cache_path(model: str, batch_size: int, dtype: str) -> Path | None:
    root = cache_dir()
    if root is None or ":" in model or not re.fullmatch(r"[A-Za-z0-9_.\-]+", model):
        return None
    return root / f"{model}-b{batch_size}-{dtype}-{fingerprint()}.json"


def extract_frame(model: str, batch_size: int, dtype: str) -> pd.DataFrame:
    """Extract ``model``'s layers (torch, meta device) and return their feature rows with ``kind``."""
    from layerpower.models.layers import extract_layers
    from layerpower.predictors.energy import spec_frame

    return spec_frame(extract_layers(model, batch_size=batch_size, dtype=dtype))


def layer_frame(model: str, batch_size: int, dtype: str) -> pd.DataFrame:
    """The feature rows (and ``kind``) of every layer call of ``model``: from the cache, else extracted.

    ``dtype`` is a canonical name (``float32``). A cache that cannot be read or written is ignored.
    """
    path = _cache_path(model, batch_size, dtype)
    if path is not None and path.is_file():
        try:
            records: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["rows"]
            return pd.DataFrame.from_records(records)
        except (OSError, ValueError, KeyError, TypeError):
            pass
    frame = extract_frame(model, batch_size, dtype)
    if path is not None:
        try:
            from layerpower.io import write_json_atomic

            write_json_atomic(
                {
                    "model": model,
                    "batch_size": batch_size,
                    "dtype": dtype,
                    "fingerprint": fingerprint(),
                    "rows": frame.to_dict(orient="records"),
                },
                path,
            )
        except OSError:
            pass
    return frame
