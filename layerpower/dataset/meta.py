"""``meta.json``, the profiler's record of one model folder: reading it, and checking rows against it.

A model folder's ``meta.json`` names the schema version, the device and power source of the run, and the
(batch size, dtype) configurations it completed; rows of configurations it does not list are left out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerpower.dataset.sources import FILE_COLUMN, LoadedTable
from layerpower.dataset.tables import KNOWN_SCHEMA_VERSIONS
from layerpower.errors import SchemaError

META_NAME = "meta.json"


def read_meta(folder: Path, cache: dict[Path, dict[str, Any] | None]) -> dict[str, Any] | None:
    """Read and check ``folder/meta.json`` (schema version, device id); None when absent."""
    if folder in cache:
        return cache[folder]
    path = folder / META_NAME
    meta: dict[str, Any] | None = None
    if path.is_file():
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SchemaError(f"{path}: not readable JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise SchemaError(f"{path}: expected a JSON object")
        if "schema_version" not in meta:
            raise SchemaError(f"{path}: key 'schema_version' is missing")
        version = meta["schema_version"]
        if not isinstance(version, int) or version not in KNOWN_SCHEMA_VERSIONS:
            raise SchemaError(
                f"{path}: key 'schema_version': schema version {version!r} is not known to this reader "
                f"(it reads {', '.join(map(str, sorted(KNOWN_SCHEMA_VERSIONS)))})",
                "re-profile with this layerpower version, or upgrade layerpower",
            )
        configs = meta.get("configs")
        if configs is not None and not isinstance(configs, dict):
            raise SchemaError(f"{path}: key 'configs' must be an object (configuration -> its facts)")
    cache[folder] = meta
    return meta


def meta_device_id(meta: dict[str, Any]) -> str | None:
    """The device id in a meta.json: ``device.id`` or ``device_id`` (None when it names none)."""
    device = meta.get("device")
    if isinstance(device, dict) and device.get("id"):
        return str(device["id"])
    return str(meta["device_id"]) if meta.get("device_id") else None


def meta_configs(meta: dict[str, Any] | None) -> set[tuple[int, str]] | None:
    """The complete (batch_size, dtype) configurations a meta.json lists; None when it does not list them."""
    if not meta or not isinstance(meta.get("configs"), dict):
        return None
    complete = set()
    for entry in meta["configs"].values():
        if isinstance(entry, dict) and "batch_size" in entry and "dtype" in entry:
            complete.add((int(entry["batch_size"]), str(entry["dtype"])))
    return complete


def _attributed(frame: pd.DataFrame, listed: dict[int, set[tuple[int, str]]]) -> np.ndarray:
    """Rows whose ``batch_size`` is no configuration's but whose layer call belongs to complete ones.

    A row's ``batch_size`` is its layer's leading dimension, which need not be the configuration's: the
    attention of a windowed transformer multiplies (batch × windows) rows, a position embedding has batch 1
    in every configuration. Each configuration profiles every layer call once, so a call (``layer_name``,
    ``call_index``, ``dtype``) with as many rows in a file as that file lists complete configurations of
    the dtype was profiled in complete configurations only: its rows are kept. So is a call with a single
    such row where the file lists several complete configurations: its input batch is the same in all of
    them (a position table, a window mask, a layer-scale product), and the profiler keeps one row for it,
    from the latest configuration."""
    if "layer_name" not in frame.columns or "call_index" not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    complete = {
        (i, dtype): sum(1 for _, d in configs if d == dtype)
        for i, configs in listed.items()
        for dtype in {d for _, d in configs}
    }
    group = [FILE_COLUMN, "layer_name", "call_index", "dtype"]
    counts = frame.groupby(group, sort=False, dropna=False)["batch_size"].transform("size").to_numpy()
    expected = np.array(
        [complete.get((int(f), str(d)), -1) for f, d in zip(frame[FILE_COLUMN], frame["dtype"], strict=True)]
    )
    named = frame["layer_name"].astype(str).to_numpy() != ""
    return named & ((counts == expected) | ((counts == 1) & (expected >= 2)))


def drop_incomplete_configs(table: LoadedTable) -> None:
    """Leave out rows of configurations that meta.json does not list as complete (an interrupted profile)."""
    listed = {i: meta_configs(source.meta) for i, source in enumerate(table.files)}
    listed = {i: configs for i, configs in listed.items() if configs is not None}
    frame = table.frame
    if not listed or frame.empty:
        return
    keys = [FILE_COLUMN, "batch_size", "dtype"]
    allowed = pd.DataFrame(
        [(i, b, d) for i, configs in listed.items() for b, d in configs] or None, columns=keys
    ).astype({FILE_COLUMN: "int64", "batch_size": "Int64", "dtype": str})
    rows = frame[keys].astype({"batch_size": "Int64", "dtype": str})
    found = rows.merge(allowed.assign(_complete=True), how="left", on=keys)["_complete"].notna().to_numpy()
    found = found | _attributed(frame, listed)
    drop = np.isin(frame[FILE_COLUMN].to_numpy(), list(listed)) & ~found
    if not drop.any():
        return
    dropped = frame.loc[drop, keys].drop_duplicates()
    for file_index, batch, dtype in dropped.itertuples(index=False):
        source = table.files[int(file_index)]
        table.notes.append(
            f"{source.path.parent}: configuration batch {batch}/{dtype} is not listed as complete in "
            f"{META_NAME} (an interrupted profile); its rows are left out (profile-model --resume completes it)"
        )
    table.frame = frame.loc[~drop].reset_index(drop=True)


def check_meta(table: LoadedTable) -> None:
    """Rows of our files must agree with their folder's meta.json on device id and power source."""
    frame = table.frame
    if frame.empty:
        return
    for key, column in (("device id", "device_id"), ("power_source", "power_source")):
        expected = []
        for source in table.files:
            meta = source.meta or {}
            expected.append(meta_device_id(meta) if column == "device_id" else meta.get(key))
        expected_rows = np.asarray(expected, dtype=object)[frame[FILE_COLUMN].to_numpy()]
        known = np.asarray([e is not None for e in expected_rows], dtype=bool)
        bad = known & (frame[column].to_numpy(dtype=object) != expected_rows)
        if bad.any():
            position = int(np.flatnonzero(bad)[0])
            source = table.files[int(frame[FILE_COLUMN].iat[position])]
            raise SchemaError(
                f"{table.where(position)}, column {column!r}: {frame[column].iat[position]!r} disagrees with "
                f"{source.meta_path} ({key}: {expected_rows[position]!r})",
                "the files of one model folder come from one profiling run; re-profile the model",
            )
