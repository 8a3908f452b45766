"""``build_dataset``: merge ``training_data/<device-id>/<model>/*.csv`` into one file per layer kind.

Output (default ``datasets/<device-id>/``): ``<kind>.<fmt>`` for each layer kind with every schema column
plus ``source``, ``model.<fmt>`` (the merged ``model.csv`` rows plus ``source``) and ``summary.json``. A
re-run on unchanged input (same content hash, same options) is a no-op. Everything is written into a
temporary sibling folder first and swapped in at the end, so a failing run leaves the previous output intact.
The names of the output files are :mod:`layerpower.dataset.layout`'s; reading and merging is
:mod:`layerpower.dataset.merge`'s (shared with :class:`~layerpower.dataset.dataset_builder.DatasetBuilder`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from layerpower.config import FEATURES_BY_KIND, LAYER_KINDS, SCHEMA_VERSION
from layerpower.dataset.layout import FORMATS, OUTPUT_NAMES, SUMMARY_NAME, TABLES, table_name, table_path
from layerpower.dataset.merge import ReadJob, check_units, load_tables, merged_frame
from layerpower.dataset.meta import META_NAME
from layerpower.dataset.sources import LoadedTable, ReadOptions
from layerpower.dataset.summary import count_table, suspicious_models
from layerpower.dataset.tables import SOURCE_COLUMN, SOURCE_ESTIMATE, SOURCE_MEASURED, TABLE_SPECS
from layerpower.dataset.units import SIDECAR_NAME
from layerpower.errors import LayerpowerError, SchemaError

#: bump when the output for the same input changes, so old outputs are rebuilt
BUILDER_VERSION = 1


@dataclass
class BuildResult:
    """What ``build_dataset`` did: ``unchanged`` when the output was already up to date."""

    out: Path
    unchanged: bool
    summary: dict[str, Any]

    @property
    def device_id(self) -> str | None:
        return self.summary.get("device_id")

    @property
    def input_hash(self) -> str:
        return str(self.summary["input_hash"])

    @property
    def flags(self) -> list[str]:
        """Warnings about suspicious layer counts (see :mod:`layerpower.dataset.summary`)."""
        return list(self.summary.get("flags", []))

    @property
    def notes(self) -> list[str]:
        """Rows left out and why (configurations that meta.json does not list as complete)."""
        return list(self.summary.get("notes", []))

    @property
    def counts(self) -> pd.DataFrame:
        """Rows per model (index) and layer kind, with ``configs`` and ``total``; most rows first."""
        columns = [*LAYER_KINDS, "configs", "total"]
        table = pd.DataFrame.from_dict(self.summary.get("counts", {}), orient="index", columns=columns)
        table.index.name = "model"
        return table.astype(int)


# --------------------------------------------------------------------------------------------- discovery


def _has_tables(folder: Path) -> bool:
    return any((folder / f"{t}.csv").is_file() for t in TABLES)


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _model_folders(device: Path) -> list[Path]:
    return [p for p in _subfolders(device) if _has_tables(p)]


def find_devices(root: Path) -> dict[str, Path]:
    """Device id -> folder. ``root`` either holds device folders or is itself one (holding model folders)."""
    if _model_folders(root):
        return {root.resolve().name: root}
    return {p.name: p for p in _subfolders(root) if _model_folders(p)}


def _select_devices(root: Path, device_id: str | None, allow_mixed_devices: bool) -> dict[str, Path]:
    if not root.is_dir():
        raise LayerpowerError(
            f"{root}: not a folder", "pass the training_data folder written by profile-model"
        )
    devices = find_devices(root)
    if not devices:
        raise LayerpowerError(
            f"{root}: no profiled data found",
            "expected <root>/<device-id>/<model>/{convolutional,pooling,dense,attention,other,model}.csv",
        )
    if device_id is not None:
        if device_id not in devices:
            raise LayerpowerError(
                f"{root}: no device folder {device_id!r}", f"found: {', '.join(sorted(devices))}"
            )
        return {device_id: devices[device_id]}
    if len(devices) > 1 and not allow_mixed_devices:
        raise LayerpowerError(
            f"{root} holds several devices: {', '.join(sorted(devices))}",
            "pick one with --device-id (or merge them all with --allow-mixed-devices)",
        )
    return devices


def _input_files(devices: dict[str, Path]) -> list[tuple[str, str, Path]]:
    """(device id, table or sidecar name, path) of every input file, in a stable order."""
    found = []
    for device, folder in sorted(devices.items()):
        for model in _model_folders(folder):
            for name in (*TABLES, META_NAME, SIDECAR_NAME):
                path = model / (f"{name}.csv" if name in TABLES else name)
                if path.is_file():
                    found.append((device, name, path))
    return found


def _content_hash(root: Path, contents: dict[Path, bytes]) -> str:
    digest = hashlib.sha256()
    for path in sorted(contents, key=lambda p: p.relative_to(root).as_posix()):
        data = contents[path]
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(data).digest())
    return "sha256:" + digest.hexdigest()


# --------------------------------------------------------------------------------------------- output folder


def _check_out(out: Path, devices: dict[str, Path]) -> None:
    resolved = out.resolve()
    for folder in devices.values():
        if resolved == folder.resolve() or resolved.is_relative_to(folder.resolve()):
            raise LayerpowerError(
                f"{out}: the output folder lies inside the input folder {folder}", "pick another --out"
            )
    if out.exists():
        if not out.is_dir():
            raise LayerpowerError(f"{out}: exists and is not a folder", "pick another --out")
        foreign = sorted(p.name for p in out.iterdir() if p.name not in OUTPUT_NAMES)
        if foreign:
            raise LayerpowerError(
                f"{out}: holds files build-dataset did not write ({', '.join(foreign[:5])})",
                "pick another --out or move them; the folder is replaced as a whole",
            )


def _unchanged(out: Path, input_hash: str, options: dict[str, Any]) -> dict[str, Any] | None:
    path = out / SUMMARY_NAME
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        not isinstance(summary, dict)
        or summary.get("input_hash") != input_hash
        or summary.get("options") != options
    ):
        return None
    if not all((out / name).is_file() for name in summary.get("outputs", [])):
        return None
    return summary


def _swap_in(tmp: Path, out: Path) -> None:
    """Replace ``out`` by ``tmp`` with renames (the old folder is restored if the second rename fails)."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _write_frame(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


# --------------------------------------------------------------------------------------------- build


def _progress(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total, desc="reading", unit="file", file=sys.stderr, disable=not enabled, leave=False, delay=1.0
    )


def build_dataset(
    root: str | PathLike[str],
    device_id: str | None = None,
    out: str | PathLike[str] | None = None,
    fmt: str = "parquet",
    power_unit: str | None = None,
    runtime_unit: str | None = None,
    allow_mixed_sources: bool = False,
    allow_mixed_devices: bool = False,
    progress: bool = True,
    *,
    idle_subtracted: bool | None = None,
    power_source: str | None = None,
) -> BuildResult:
    """Merge the profiled files under ``root`` into ``out`` (default ``datasets/<device-id>/``).

    ``power_unit``/``runtime_unit``/``idle_subtracted``/``power_source`` describe other tools' files whose
    columns do not say so (see :mod:`layerpower.dataset.units`). Raises
    :class:`~layerpower.errors.SchemaError` on invalid input, leaving any previous output untouched.
    """
    if fmt not in FORMATS:
        raise LayerpowerError(f"unknown format {fmt!r}", f"use one of {', '.join(FORMATS)}")
    check_units(power_unit, runtime_unit, ("--power-unit", "--runtime-unit"))
    root = Path(root)
    devices = _select_devices(root, device_id, allow_mixed_devices)
    out_path = (
        Path(out)
        if out is not None
        else Path("datasets") / (next(iter(devices)) if len(devices) == 1 else "mixed-devices")
    )
    _check_out(out_path, devices)

    inputs = _input_files(devices)
    contents: dict[Path, bytes] = {}
    with _progress(len(inputs), progress) as bar:
        for _, _, path in inputs:
            try:
                contents[path] = path.read_bytes()
            except OSError as exc:
                raise SchemaError(f"{path}: cannot read ({exc.strerror or exc})") from None
            bar.update()
    input_hash = _content_hash(root, contents)
    options = {
        "format": fmt,
        "devices": sorted(devices),
        "power_unit": power_unit,
        "runtime_unit": runtime_unit,
        "idle_subtracted": idle_subtracted,
        "power_source": power_source,
        "allow_mixed_sources": allow_mixed_sources,
        "allow_mixed_devices": allow_mixed_devices,
        "builder_version": BUILDER_VERSION,
        "schema_version": SCHEMA_VERSION,
    }
    previous = _unchanged(out_path, input_hash, options)
    if previous is not None:
        return BuildResult(out_path, True, previous)

    jobs: list[ReadJob] = []
    for device, _folder in sorted(devices.items()):
        for table in TABLES:
            paths = [p for d, name, p in inputs if d == device and name == table]
            if not paths:
                continue
            read = ReadOptions(
                features=tuple(FEATURES_BY_KIND[table]) if table in FEATURES_BY_KIND else None,
                power_unit=power_unit,
                runtime_unit=runtime_unit,
                idle_subtracted=idle_subtracted,
                power_source=power_source,
                device_id=device,
            )
            jobs.append((paths, read, table))
    loaded = load_tables(jobs, allow_mixed_sources, allow_mixed_devices, contents)
    tables: dict[str, list[LoadedTable]] = {t: [lt for lt in loaded if lt.spec.name == t] for t in TABLES}
    frames = {table: merged_frame(group, TABLE_SPECS[table]) for table, group in tables.items()}

    layer_frames = {k: frames[k] for k in LAYER_KINDS}
    notes = list(dict.fromkeys(note for group in tables.values() for t in group for note in t.notes))
    summary = _summary(
        root, out_path, fmt, inputs, input_hash, options, frames, layer_frames, notes, _profiled(tables)
    )
    summary["glibc_tunables"] = _tunables(tables)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent))
    try:
        for table, frame in frames.items():
            _write_frame(frame, table_path(tmp, table, fmt), fmt)
        (tmp / SUMMARY_NAME).write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
        _swap_in(tmp, out_path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return BuildResult(out_path, False, summary)


def _model_metas(tables: dict[str, list[LoadedTable]]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(table, model, meta) of every file read whose folder's meta.json names its model, rows or not."""
    for table, group in tables.items():
        for loaded in group:
            for source in loaded.files:
                meta = source.meta or {}
                if isinstance(meta.get("model"), str):
                    yield table, meta["model"], meta


def _profiled(tables: dict[str, list[LoadedTable]]) -> set[tuple[str, str]]:
    """(model, kind) of every layer file read whose folder's meta.json names its model, rows or not."""
    return {(model, table) for table, model, _ in _model_metas(tables) if table in LAYER_KINDS}


def _tunables(tables: dict[str, list[LoadedTable]]) -> dict[str, list[str]]:
    """The models profiled under each ``GLIBC_TUNABLES`` value their meta.json records (``""``: glibc's
    defaults), so a dataset says which heap regime its runtimes were measured in."""
    found: dict[str, set[str]] = {}
    for _, model, meta in _model_metas(tables):
        found.setdefault(str(meta.get("glibc_tunables") or ""), set()).add(model)
    return {value: sorted(models) for value, models in sorted(found.items())}


def _summary(
    root: Path,
    out: Path,
    fmt: str,
    inputs: list[tuple[str, str, Path]],
    input_hash: str,
    options: dict[str, Any],
    frames: dict[str, pd.DataFrame],
    layer_frames: dict[str, pd.DataFrame],
    notes: list[str],
    profiled: set[tuple[str, str]],
) -> dict[str, Any]:
    every = pd.concat(
        [f[["device_id", "power_source", SOURCE_COLUMN]] for f in frames.values()], ignore_index=True
    )
    device_ids = sorted(pd.unique(every["device_id"]).tolist())
    sources = {str(k): int(v) for k, v in every[SOURCE_COLUMN].value_counts().sort_index().items()}
    if len(sources) > 1:
        source = "mixed"
    else:
        source = next(iter(sources), SOURCE_MEASURED)
        source = source if source in (SOURCE_MEASURED, SOURCE_ESTIMATE) else SOURCE_MEASURED
    counts = count_table(layer_frames)
    without_total = sum(int(f["power_w"].isna().sum()) for f in layer_frames.values())
    return {
        "schema_version": SCHEMA_VERSION,
        "builder_version": BUILDER_VERSION,
        "device_id": device_ids[0] if len(device_ids) == 1 else None,
        "device_ids": device_ids,
        "power_sources": sorted(pd.unique(every["power_source"]).tolist()),
        "source": source if sources else None,
        "rows_by_source": sources,
        "rows": {table: len(frame) for table, frame in frames.items()},
        "rows_without_total_power": without_total,
        "models": counts.index.tolist(),
        "counts": {str(m): {k: int(v) for k, v in row.items()} for m, row in counts.iterrows()},
        "flags": suspicious_models(layer_frames, profiled),
        "notes": notes,
        "format": fmt,
        "outputs": [table_name(table, fmt) for table in TABLES],
        "input_hash": input_hash,
        "files_read": [p.relative_to(root).as_posix() for _, _, p in inputs],
        "root": str(root.resolve()),
        "out": str(out),
        "options": options,
    }
