"""Reading a built dataset (``datasets/<device-id>/``) into the frames the predictors train on.

The dataset folder holds ``convolutional.parquet``, ``pooling.parquet``, ``dense.parquet``, ``other.parquet``
(the schema columns of each kind plus ``source``) and ``model.parquet`` (whole-model rows), as written by
``build-dataset`` (the file names are :mod:`layerpower.dataset.layout`'s). Targets are SI: ``runtime_s``
seconds per call (in context), ``power_w`` watts (total).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from layerpower.config import FEATURES_EXTENDED_BY_KIND, LAYER_KINDS, SCHEMA_VERSION
from layerpower.dataset.layout import MODEL_TABLE, SUMMARY_NAME, find_table
from layerpower.errors import SchemaError

TARGETS: tuple[str, ...] = ("runtime_s", "power_w")

#: the columns a layer file must carry for training, besides its kind's extended features
LAYER_NEEDS: tuple[str, ...] = (
    "device_id",
    "model",
    "dtype",
    "layer_name",
    "layer_type",
    *TARGETS,
    "power_source",
)
#: the columns model.parquet must carry
MODEL_NEEDS: tuple[str, ...] = ("model", "dtype", "batch_size", "runtime_s", "energy_j", "layer_calls")

#: rows of one forward pass of one model: a model at one batch size and dtype
RUN_KEY: list[str] = ["model", "batch_size", "dtype"]


@dataclass
class TrainingSet:
    """The layers of every kind (one frame, ``kind`` column added) and the whole-model rows of one device.

    ``power_source`` is the sensor behind ``power_w`` (``nvml``, ``rapl``, ``jetson``) or ``estimate``;
    ``sha256`` identifies the dataset files; ``files`` maps each file name to its sha256.
    """

    layers: pd.DataFrame
    models: pd.DataFrame
    device_id: str
    power_source: str
    is_estimate: bool
    sha256: str
    files: dict[str, str] = field(default_factory=dict)
    root: Path | None = None
    input_hash: str | None = None  # build-dataset's hash of the profiled CSVs (summary.json), when known
    #: sampled layer rows (model ``_sampled``, :mod:`layerpower.predictors.sampled`): training side only
    sampled: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def model_names(self) -> list[str]:
        return sorted(pd.unique(self.layers["model"]).tolist())

    def describe(self) -> dict[str, object]:
        """A JSON-able summary: rows per kind, models, dtypes, batch sizes, operation types of ``other``."""
        other = self.layers[self.layers["kind"] == "other"]
        return {
            "sha256": self.sha256,
            "input_hash": self.input_hash,
            "files": dict(self.files),
            "rows": {k: int((self.layers["kind"] == k).sum()) for k in LAYER_KINDS},
            "models": self.model_names,
            "model_rows": int(len(self.models)),
            "dtypes": sorted(pd.unique(self.layers["dtype"].astype(str)).tolist()),
            "batch_sizes": sorted(int(b) for b in pd.unique(self.layers["batch_size"])),
            "other_layer_types": sorted(pd.unique(other["layer_type"].astype(str)).tolist()),
            "sampled_rows": {
                k: int((self.sampled["kind"] == k).sum()) for k in LAYER_KINDS if not self.sampled.empty
            },
        }


def file_sha256(path: str | PathLike[str]) -> str:
    """The sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _require(frame: pd.DataFrame, columns: list[str] | tuple[str, ...], path: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{path}: missing column(s) {', '.join(map(repr, missing))}",
            "rebuild the dataset with build-dataset from this version's training data",
        )


def _check_version(frame: pd.DataFrame, path: Path) -> None:
    if "schema_version" in frame.columns and len(frame):
        versions = sorted(set(pd.to_numeric(frame["schema_version"], errors="coerce").dropna().astype(int)))
        if versions and versions != [SCHEMA_VERSION]:
            raise SchemaError(
                f"{path}, column 'schema_version': {versions}, this version reads {SCHEMA_VERSION}",
                "re-profile or rebuild the dataset with this version",
            )


def load_training_set(root: str | PathLike[str], sampled: str | PathLike[str] | None = None) -> TrainingSet:
    """Read ``root`` (a ``build-dataset`` output folder) and check it is one device with one power source.

    Rows of model ``_sampled`` in the dataset, and the ``<kind>.csv`` files of the folder ``sampled``
    (``training_data/<device-id>/_sampled/``), become :attr:`TrainingSet.sampled`, not zoo layers.
    """
    from layerpower.predictors.sampled import SAMPLED_MODEL, read_sampled

    root = Path(root)
    if not root.is_dir():
        raise SchemaError(
            f"{root}: no such dataset folder", "build one with build-dataset training_data/<device-id>/"
        )
    frames: list[pd.DataFrame] = []
    files: dict[str, str] = {}
    for kind in LAYER_KINDS:
        path = find_table(root, kind)
        if path is None:
            continue
        frame = _read(path)
        _require(frame, [*LAYER_NEEDS, *FEATURES_EXTENDED_BY_KIND[kind]], path)
        _check_version(frame, path)
        files[path.name] = file_sha256(path)
        frames.append(frame.assign(kind=kind))
    model_path = find_table(root, MODEL_TABLE)
    if not frames or model_path is None:
        raise SchemaError(
            f"{root}: no layer files (<kind>.parquet) and model.parquet found",
            "build the dataset with build-dataset training_data/<device-id>/",
        )
    models = _read(model_path)
    _require(models, MODEL_NEEDS, model_path)
    _check_version(models, model_path)
    files[model_path.name] = file_sha256(model_path)
    layers = pd.concat(frames, ignore_index=True)
    is_sampled = layers["model"].astype(str).to_numpy() == SAMPLED_MODEL
    extra = [layers.loc[is_sampled]]
    if sampled is not None:
        extra.append(read_sampled(sampled))
        for path in sorted(Path(sampled).glob("*.*")):
            if path.suffix in (".csv", ".parquet"):
                files[f"{SAMPLED_MODEL}/{path.name}"] = file_sha256(path)
    sampled_rows = _one_row_per_layer(
        pd.concat([e for e in extra if not e.empty] or [pd.DataFrame()], ignore_index=True)
    )
    layers = _usable(layers.loc[~is_sampled])
    if not sampled_rows.empty:
        mixed = set(sampled_rows["device_id"].astype(str)) - set(layers["device_id"].astype(str))
        if mixed:
            raise SchemaError(
                f"{sampled}: sampled rows of other devices {sorted(mixed)}", "use this device's"
            )
        sources = set(sampled_rows["power_source"].astype(str)) - set(layers["power_source"].astype(str))
        if sources:
            raise SchemaError(
                f"{sampled}: sampled power from {sorted(sources)}, the zoo's from another source",
                "an estimate must never be mixed with a measurement",
            )
    devices = sorted(set(layers["device_id"].astype(str)))
    if len(devices) != 1:
        raise SchemaError(f"{root}: rows from several devices {devices}", "train one bundle per device")
    sources = sorted(set(layers["power_source"].astype(str)))
    if len(sources) != 1:
        raise SchemaError(
            f"{root}: power from several sources {sources}",
            "train on one power source; an estimate must never be mixed with a measurement",
        )
    is_estimate = sources[0] == "estimate"
    if "is_estimate" in layers.columns:
        is_estimate = is_estimate or bool(layers["is_estimate"].astype(bool).any())
    digest = hashlib.sha256("".join(f"{name}:{files[name]}\n" for name in sorted(files)).encode()).hexdigest()
    return TrainingSet(
        layers,
        models.reset_index(drop=True),
        devices[0],
        sources[0],
        is_estimate,
        digest,
        files,
        root,
        _input_hash(root),
        sampled_rows,
    )


#: the columns that name one sampled layer configuration
SAMPLED_KEY: tuple[str, ...] = ("device_id", "dtype", "batch_size", "layer_name")


def _one_row_per_layer(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with one row per :data:`SAMPLED_KEY`, the last one kept: a sampled folder passed besides a
    dataset that already holds its rows (``build-dataset`` merges ``_sampled/``) counts each layer once,
    and the folder's newer measurement wins."""
    if rows.empty or not all(c in rows.columns for c in SAMPLED_KEY):
        return rows
    key = rows[list(SAMPLED_KEY)].astype(str)
    key["batch_size"] = pd.to_numeric(rows["batch_size"], errors="coerce")  # 8 and 8.0 are one batch size
    return rows.loc[~key.duplicated(keep="last")].reset_index(drop=True)


def _input_hash(root: Path) -> str | None:
    try:
        value = json.loads((root / SUMMARY_NAME).read_text(encoding="utf-8")).get("input_hash")
    except (OSError, ValueError, AttributeError):
        return None
    return str(value) if value else None


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, keep_default_na=True, dtype={"layer_type": str, "measured_as": str})
    return pd.read_parquet(path)


def _usable(layers: pd.DataFrame) -> pd.DataFrame:
    """Drop rows without a positive finite runtime; power may be missing (NaN) on some rows."""
    runtime = pd.to_numeric(layers["runtime_s"], errors="coerce").to_numpy(dtype=np.float64)
    keep = np.isfinite(runtime) & (runtime > 0)
    return layers.loc[keep].reset_index(drop=True)
