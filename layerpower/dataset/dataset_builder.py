"""``DatasetBuilder``: read, validate, convert and merge per-layer measurements into training data.

A face over the one reading path (:mod:`layerpower.dataset.merge`, also behind ``build_dataset``) that adds
the choice of targets and returns :class:`LayerData`.

Targets are SI: ``power`` in watts, ``runtime`` in seconds (per layer call). Every row says whether its power
was measured by a sensor or estimated (``source``), and a dataset mixing the two, or mixing devices, is
refused unless asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from layerpower.config import CONV_FEATURES
from layerpower.config.vocab import POWER_SOURCES
from layerpower.dataset.merge import check_units, load_tables, merged_frame
from layerpower.dataset.reader import load_table
from layerpower.dataset.sources import FILE_COLUMN, ROW_COLUMN, LoadedTable, ReadOptions
from layerpower.dataset.tables import SOURCE_COLUMN, TABLE_SPECS
from layerpower.errors import SchemaError

if TYPE_CHECKING:
    from layerpower.dataset.summary import LayerSummary

PathArg = str | PathLike[str]

#: which power the ``power`` target holds: total (``power_w``) or dynamic (``dynamic_power_w``, idle subtracted)
POWER_TARGETS = ("auto", "total", "dynamic")
#: which runtime the ``runtime`` target holds: in context (``runtime_s``) or alone (``runtime_isolated_s``)
RUNTIME_TARGETS = {"context": "runtime_s", "isolated": "runtime_isolated_s"}


@dataclass
class LayerData:
    """Merged rows of one layer kind, split into what a regressor needs.

    ``frame`` holds every merged column (the schema columns and ``source``); ``input_features`` the chosen
    features as float64; ``power`` watts (the column named by ``power_column``); ``runtime`` seconds per
    call; ``model`` which model each row came from (for grouped splits); ``source`` "measured" or
    "estimate". All share one RangeIndex.
    """

    kind: str
    features: list[str]
    frame: pd.DataFrame = field(repr=False)
    power_column: str = "power_w"
    runtime_column: str = "runtime_s"
    files: list[Path] = field(default_factory=list, repr=False)
    notes: list[str] = field(default_factory=list)  # rows left out while merging, and why

    @property
    def input_features(self) -> pd.DataFrame:
        return self.frame[self.features].astype(float)

    @property
    def power(self) -> pd.Series:
        """Power in W, a Series named ``power``: total power (``power_w``) or, for idle-subtracted data,
        dynamic power (``power_column`` says which file column it is)."""
        return self.frame[self.power_column].astype(float).rename("power")

    @property
    def runtime(self) -> pd.Series:
        """Runtime per call in s, a Series named ``runtime`` (``runtime_column`` says which file column)."""
        return self.frame[self.runtime_column].astype(float).rename("runtime")

    @property
    def model(self) -> pd.Series:
        return self.frame["model"]

    @property
    def source(self) -> pd.Series:
        """ "measured" or "estimate" per row."""
        return self.frame[SOURCE_COLUMN]

    @property
    def device_ids(self) -> list[str]:
        """The devices in the data, sorted ("" for a file that names none)."""
        return sorted(pd.unique(self.frame["device_id"]).tolist())

    @property
    def device_id(self) -> str | None:
        """The device every row comes from; None when rows come from several (only if allowed)."""
        ids = self.device_ids
        return ids[0] if len(ids) == 1 else None

    def __len__(self) -> int:
        return len(self.frame)

    def subset(self, rows: Sequence[int] | np.ndarray) -> LayerData:
        """The rows at positions ``rows``, re-indexed from 0."""
        frame = self.frame.iloc[np.asarray(rows, dtype=np.int64)].reset_index(drop=True)
        return LayerData(
            self.kind,
            list(self.features),
            frame,
            self.power_column,
            self.runtime_column,
            self.files,
            self.notes,
        )

    def summary(self) -> LayerSummary:
        """A first look: layers per model, ``describe()`` of features and targets, suspicious models."""
        from layerpower.dataset.summary import summarize

        return summarize(self)


class DatasetBuilder:
    """Reads layer CSVs (ours, or other tools' with their units named), validates and merges them.

    ``features`` are the columns returned as ``input_features`` (and required in other tools' files).
    ``power_unit``/``runtime_unit`` name the units of bare ``power``/``runtime`` columns in other tools'
    files (uW|mW|W, us|ms|s); ``idle_subtracted`` says their power has the idle power subtracted;
    ``power_source`` and ``device_id`` fill in what such files do not record.

    ``power_target`` picks the ``power`` target: "total" (``power_w``), "dynamic" (``dynamic_power_w``) or
    "auto" (dynamic when an idle-subtracted file without its idle power is merged, else total).
    ``runtime_target``: "context" (``runtime_s``, timed inside whole-model forwards) or "isolated"
    (``runtime_isolated_s``, the layer alone). :meth:`merge_feature_data` leaves out rows whose chosen
    targets are empty (a call not seen in context, a file that lacks the power kind) and says so in
    ``LayerData.notes``; it refuses when no row is left.
    """

    def __init__(
        self,
        features: Sequence[str] = CONV_FEATURES,
        power_unit: str | None = None,
        runtime_unit: str | None = None,
        allow_mixed_sources: bool = False,
        allow_mixed_devices: bool = False,
        *,
        idle_subtracted: bool | None = None,
        power_source: str | None = None,
        device_id: str | None = None,
        power_target: str = "auto",
        runtime_target: str = "context",
    ) -> None:
        check_units(power_unit, runtime_unit, ("power_unit", "runtime_unit"))
        if power_source is not None and power_source not in POWER_SOURCES:
            raise SchemaError(
                f"power_source {power_source!r} is not known", f"use one of {', '.join(POWER_SOURCES)}"
            )
        if runtime_target not in RUNTIME_TARGETS:
            raise SchemaError(
                f"runtime_target {runtime_target!r} is not known", f"use one of {', '.join(RUNTIME_TARGETS)}"
            )
        if power_target not in POWER_TARGETS:
            raise SchemaError(
                f"power_target {power_target!r} is not known", f"use one of {', '.join(POWER_TARGETS)}"
            )
        self.features = list(features)
        self.power_unit = power_unit
        self.runtime_unit = runtime_unit
        self.allow_mixed_sources = allow_mixed_sources
        self.allow_mixed_devices = allow_mixed_devices
        self.idle_subtracted = idle_subtracted
        self.power_source = power_source
        self.device_id = device_id
        self.power_target = power_target
        self.runtime_target = runtime_target

    @property
    def options(self) -> ReadOptions:
        return ReadOptions(
            features=tuple(self.features),
            power_unit=self.power_unit,
            runtime_unit=self.runtime_unit,
            idle_subtracted=self.idle_subtracted,
            power_source=self.power_source,
            device_id=self.device_id,
        )

    def load(
        self,
        files: Sequence[PathArg],
        kind: str | None = None,
        contents: dict[Path, bytes] | None = None,
        progress: Callable[[Path], None] | None = None,
    ) -> LoadedTable:
        """Read and validate ``files`` (one table) without the mixing checks; rows keep their file and row."""
        return load_table([Path(f) for f in files], self.options, kind, contents, progress)

    def read_csv_and_convert_power(self, path: PathArg, kind: str | None = None) -> pd.DataFrame:
        """Read one layer CSV, validate it, convert power to W and runtime to s.

        Returns the schema columns of its kind plus ``source``; columns another tool's file lacks are
        empty (NaN, or "" for text).
        """
        table = self.load([path], kind)
        self._check_features(table)
        return merged_frame([table], table.spec)

    def merge_feature_data(self, files: Sequence[PathArg], kind: str | None = None) -> LayerData:
        """Read, validate and merge layer files of one kind into :class:`LayerData`."""
        if not files:
            raise SchemaError("no files to merge", "pass the layer CSVs of one kind")
        return self.layer_data(self._load_checked(files, kind))

    def read_model_files(self, files: Sequence[PathArg]) -> pd.DataFrame:
        """Read and validate whole-model ``model.csv`` files: MODEL_COLUMNS plus ``source``."""
        table = self._load_checked(files, "model")
        return merged_frame([table], table.spec)

    def _load_checked(self, files: Sequence[PathArg], kind: str | None) -> LoadedTable:
        """Read and validate ``files`` (one table), refusing mixed sources or devices unless allowed."""
        jobs = [([Path(f) for f in files], self.options, kind)]
        (table,) = load_tables(jobs, self.allow_mixed_sources, self.allow_mixed_devices)
        return table

    def layer_data(self, table: LoadedTable) -> LayerData:
        """Turn a loaded table into :class:`LayerData`: choose the targets, leave out rows without them."""
        self._check_features(table)
        power_column = self._power_column(table)
        runtime_column = RUNTIME_TARGETS[self.runtime_target]
        frame = table.frame
        notes = list(table.notes)
        keep = np.ones(len(frame), dtype=bool)
        for column, why in (
            (runtime_column, "not timed" + (" in context" if runtime_column == "runtime_s" else " alone")),
            (power_column, "no " + ("total" if power_column == "power_w" else "dynamic") + " power"),
        ):
            empty = frame[column].isna().to_numpy() & keep
            if empty.any():
                first = int(np.flatnonzero(empty)[0])
                notes.append(
                    f"{int(empty.sum())} row(s) left out: column {column!r} empty ({why}), "
                    f"first {table.where(first)}"
                )
                keep &= ~empty
        if not keep.any():
            raise SchemaError(
                f"no {table.spec.name} rows left to merge: {'; '.join(notes)}",
                "choose another power_target or runtime_target",
            )
        frame = frame.loc[keep].drop(columns=[FILE_COLUMN, ROW_COLUMN]).reset_index(drop=True)
        return LayerData(
            table.spec.name,
            list(self.features),
            frame,
            power_column,
            runtime_column,
            [f.path for f in table.files],
            notes,
        )

    def _check_features(self, table: LoadedTable) -> None:
        if table.spec.name == "model":
            raise SchemaError(
                f"{table.files[0].path}: a whole-model file, not a layer file", "use read_model_files"
            )
        unknown = [f for f in self.features if f not in TABLE_SPECS[table.spec.name].columns]
        if unknown:
            raise SchemaError(
                f"feature(s) {', '.join(map(repr, unknown))} are not columns of {table.spec.name} files",
                "use the feature lists of layerpower.config for that kind",
            )

    def _power_column(self, table: LoadedTable) -> str:
        if self.power_target == "total":
            return "power_w"
        if self.power_target == "dynamic":
            return "dynamic_power_w"
        only_dynamic = any(
            f.foreign and "dynamic_power_w" in f.present and pd.isna(f.fill.get("idle_power_w", np.nan))
            for f in table.files
        )
        return "dynamic_power_w" if only_dynamic else "power_w"
