"""The profiler's files: ``<out>/<device-id>/<model>/{convolutional,pooling,dense,attention,other,model}.csv, meta.json``.

Rows of several (batch size, dtype) configurations share the files. Writing a configuration replaces its
rows (if any) and keeps the others; every file is written atomically, and ``meta.json`` is written last,
listing the configurations whose files are complete (``meta["configs"]``). A configuration absent from
``meta.json`` is incomplete (an interrupted run) and is profiled again by ``--resume``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from layerpower.config.schema import LAYER_COLUMNS, LAYER_KEY, MODEL_COLUMNS, SCHEMA_VERSION
from layerpower.config.vocab import LAYER_KINDS
from layerpower.errors import LayerpowerError, SchemaError
from layerpower.io import write_csv_atomic, write_json_atomic

META_FILE = "meta.json"
MODEL_FILE = "model.csv"


def _key_frame(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """One string per row of ``frame`` joining its ``keys`` columns (numbers as floats: ``8`` and ``8.0`` are one)."""
    parts = []
    for key in keys:
        column = frame[key]
        numbers = pd.to_numeric(column, errors="coerce")
        text = column.astype(str).where(numbers.isna(), numbers.map(lambda v: repr(float(v))))
        parts.append(text.reset_index(drop=True))
    return pd.Series(["\x1f".join(row) for row in zip(*parts, strict=True)], dtype=object)


def config_key(batch_size: int, dtype: str) -> str:
    """The key of one configuration in ``meta.json``: ``"b8-float32"``."""
    return f"b{int(batch_size)}-{dtype}"


def model_folder_name(model: str) -> str:
    """A folder name for a model name: ``"resnet18"``; ``"pkg.nets:build"`` -> ``"pkg.nets_build"``."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", model.strip()).strip("._")
    return name or "model"


def check_output_root(out: str | Path) -> Path:
    """``out`` as a path, refusing one that exists and is not a folder."""
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise LayerpowerError(f"output folder {str(root)!r} is a file", hint="give a folder with --out")
    for parent in root.parents:
        if parent.exists():
            if not parent.is_dir():
                raise LayerpowerError(f"output folder {str(root)!r} lies under a file ({parent})")
            break
    return root


@dataclass
class ModelFolder:
    """One model's folder of profiled data on one device."""

    path: Path

    @classmethod
    def at(cls, out: str | Path, device_id: str, model: str) -> ModelFolder:
        return cls(check_output_root(out) / device_id / model_folder_name(model))

    # -- reading ---------------------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        """The folder's meta.json ({} when absent or unreadable)."""
        path = self.path / META_FILE
        if not path.is_file():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def completed(self) -> dict[str, dict[str, Any]]:
        """Completed configurations: key -> their meta entry (batch_size, dtype, kinds, ...)."""
        meta = self.meta()
        if meta.get("schema_version") != SCHEMA_VERSION:
            return {}
        configs = meta.get("configs")
        return configs if isinstance(configs, dict) else {}

    def is_complete(self, batch_size: int, dtype: str, kinds: Iterable[str] = LAYER_KINDS) -> bool:
        """True when ``meta.json`` lists (batch_size, dtype) with at least ``kinds`` and every file exists."""
        entry = self.completed().get(config_key(batch_size, dtype))
        if not entry:
            return False
        if not set(kinds) <= set(entry.get("kinds", [])):
            return False
        files = [f"{kind}.csv" for kind in LAYER_KINDS] + [MODEL_FILE]
        return all((self.path / name).is_file() for name in files)

    def read(self, name: str, columns: list[str]) -> pd.DataFrame:
        """Read ``name`` (a CSV here) checking its header; an empty frame when the file is absent."""
        path = self.path / name
        if not path.is_file():
            return pd.DataFrame(columns=columns)
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
        if list(frame.columns) != columns:
            missing = [c for c in columns if c not in frame.columns]
            extra = [c for c in frame.columns if c not in columns]
            detail = (
                f"missing {missing}"
                if missing
                else (f"unexpected {extra}" if extra else "columns out of order")
            )
            raise SchemaError(
                f"{path}: header does not match schema version {SCHEMA_VERSION} ({detail})",
                hint="move the folder aside or profile into another --out",
            )
        versions = set(pd.to_numeric(frame["schema_version"], errors="coerce").dropna().astype(int))
        if versions - {SCHEMA_VERSION}:
            raise SchemaError(
                f"{path}: column 'schema_version' holds {sorted(versions)}, this build writes {SCHEMA_VERSION}"
            )
        return frame

    # -- writing ---------------------------------------------------------------------------------------
    def write_config(
        self,
        batch_size: int,
        dtype: str,
        layer_rows: dict[str, list[dict[str, Any]]],
        model_row: dict[str, Any],
        meta_update: dict[str, Any],
        config_entry: dict[str, Any],
    ) -> None:
        """Replace the rows of (batch_size, dtype) in every file, then record the config in meta.json.

        ``layer_rows`` maps kind -> rows (dicts with at least that kind's columns); ``model_row`` has the
        MODEL_COLUMNS; ``meta_update`` holds the folder-level facts (device, source, versions, ...);
        ``config_entry`` what is specific to this configuration (settings, idle power, timings).
        """
        self.path.mkdir(parents=True, exist_ok=True)
        # drop the config from meta first: while its files are being replaced it is incomplete
        meta = self.meta()
        key = config_key(batch_size, dtype)
        configs = meta.get("configs") if meta.get("schema_version") == SCHEMA_VERSION else None
        configs = dict(configs) if isinstance(configs, dict) else {}
        if key in configs:
            configs.pop(key)
            write_json_atomic({**meta, "configs": configs}, self.path / META_FILE)
        for kind in LAYER_KINDS:
            columns = LAYER_COLUMNS[kind]
            new = pd.DataFrame(layer_rows.get(kind, []), columns=columns)
            self._replace(f"{kind}.csv", columns, new, batch_size, dtype)
        self._replace(
            MODEL_FILE, MODEL_COLUMNS, pd.DataFrame([model_row], columns=MODEL_COLUMNS), batch_size, dtype
        )
        configs[key] = {"batch_size": int(batch_size), "dtype": dtype, **config_entry}
        meta = {
            **meta,
            **meta_update,
            "schema_version": SCHEMA_VERSION,
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "configs": dict(sorted(configs.items(), key=lambda kv: (kv[1]["dtype"], kv[1]["batch_size"]))),
        }
        write_json_atomic(meta, self.path / META_FILE)

    def _replace(self, name: str, columns: list[str], new: pd.DataFrame, batch_size: int, dtype: str) -> None:
        """Write ``name`` with the rows of (batch_size, dtype) replaced by ``new``.

        A layer row's ``batch_size`` is the leading size of its input, which for a few calls is not the
        model's (a position table, a window mask, a layer-scale product: the same at every model batch size), so
        an old row with the key of a new one (:data:`~layerpower.config.schema.LAYER_KEY`) is replaced as well: one row per layer call
        and input, measured by the latest configuration."""
        old = self.read(name, columns)
        if len(old):
            same = (pd.to_numeric(old["batch_size"], errors="coerce") == int(batch_size)) & (
                old["dtype"].astype(str) == dtype
            )
            keys = [k for k in LAYER_KEY if k in columns]
            if len(new) and "layer_name" in keys:
                same |= _key_frame(old, keys).isin(set(_key_frame(new, keys))).to_numpy()
            old = old[~same]
        frames = [f for f in (old, new) if len(f)]
        merged = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
        write_csv_atomic(merged[columns], self.path / name)
