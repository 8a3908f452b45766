"""A first look at a dataset: layers per model, ``describe()`` of features and targets, suspicious models.

Suspicious layer counts are flagged by three rules (flags are warnings, never errors). Rows of the sampled
layer space (model ``_sampled``) are draws, not a model's layers, and are never flagged. A model's
*configurations* are the (batch size, dtype) pairs holding at least half as many rows (all kinds together)
as its largest: a row's ``batch_size`` is its layer's leading size, which for a few calls is not the model's
(a position table, a window mask), and those few rows make no configuration of their own.

1. **Uneven configurations**: a model whose number of rows of a kind differs between its configurations
   (every configuration profiles the same layers, so the profile looks incomplete), beyond its calls with a
   single row, up to 5 % of its count: a call whose input is the same in every configuration (a position
   table) has one row, in one of them.
2. **Missing kind**: a model with no rows of a kind that more than half of the other models have (needs at
   least 3 models), unless its file of that kind was read and is empty: the profiler looked, and the model
   has no such layer (a transformer's convolutions, squeezenet's dense layers).
3. **Outlying count**: among models with rows of a kind, the robust modified z-score of
   log(rows per configuration), ``0.6745 * (x - median) / MAD``, exceeds 3.5 (Iglewicz and Hoaglin). When
   the MAD is 0 the mean absolute deviation stands in (``(x - median) / (1.253314 * meanAD)``). The log
   scale fits counts that span orders of magnitude (lenet has 2 convolutions, resnet152 155). Needs at
   least 4 models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from layerpower.config.vocab import SAMPLED_MODEL
from layerpower.dataset.tables import SOURCE_COLUMN

if TYPE_CHECKING:
    from layerpower.dataset.dataset_builder import LayerData

OUTLIER_Z = 3.5
_MIN_MODELS_MISSING = 3
_MIN_MODELS_OUTLIER = 4


@dataclass
class LayerSummary:
    """Summary of one kind's :class:`~layerpower.dataset.dataset_builder.LayerData`."""

    kind: str
    rows: int
    device_ids: list[str]
    sources: dict[str, int]  # rows per source ("measured", "estimate")
    power_column: str
    layers_per_model: pd.DataFrame  # index model; rows, configs, rows_per_config; most rows first
    describe: pd.DataFrame  # one row per feature and target: count, mean, std, min, quartiles, max
    flags: list[str]


def _configs(frame: pd.DataFrame) -> pd.Series:
    """Distinct (batch_size, dtype) configurations per model."""
    if frame.empty:
        return pd.Series(dtype="int64")
    return frame[["model", "batch_size", "dtype"]].drop_duplicates().groupby("model", sort=True).size()


def layers_per_model(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows per model, configurations per model and rows per configuration; most rows first, then by name."""
    rows = frame.groupby("model", sort=True).size()
    configs = _configs(frame)
    table = pd.DataFrame({"rows": rows, "configs": configs.reindex(rows.index)})
    table["rows_per_config"] = table["rows"] / table["configs"]
    table.index.name = "model"
    return table.reset_index().sort_values(["rows", "model"], ascending=[False, True]).set_index("model")


def count_table(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Rows per model (index) and layer kind (columns), with ``configs`` and ``total``; most rows first."""
    counts = {kind: frame.groupby("model").size() for kind, frame in frames.items() if not frame.empty}
    models = sorted(set().union(*[set(c.index) for c in counts.values()])) if counts else []
    table = pd.DataFrame(index=pd.Index(models, name="model"))
    for kind in frames:
        table[kind] = counts[kind].reindex(models).fillna(0).astype(int) if kind in counts else 0
    all_rows = (
        pd.concat([f[["model", "batch_size", "dtype"]] for f in frames.values() if not f.empty])
        if counts
        else None
    )
    table["configs"] = _configs(all_rows).reindex(models).fillna(0).astype(int) if all_rows is not None else 0
    table["total"] = table[list(frames)].sum(axis=1).astype(int)
    table = table.reset_index().sort_values(["total", "model"], ascending=[False, True])
    return table.set_index("model")


def _robust_z(values: np.ndarray) -> np.ndarray:
    median = np.median(values)
    deviation = np.abs(values - median)
    mad = np.median(deviation)
    if mad > 0:
        return 0.6745 * (values - median) / mad
    mean_ad = deviation.mean()
    if mean_ad > 0:
        return (values - median) / (1.253314 * mean_ad)
    return np.zeros_like(values)


def _main_configs(frames: Mapping[str, pd.DataFrame]) -> pd.MultiIndex:
    """(model, batch_size, dtype) of every model's configurations (see the module docstring)."""
    parts = [f[["model", "batch_size", "dtype"]] for f in frames.values() if not f.empty]
    sizes = pd.concat(parts).groupby(["model", "batch_size", "dtype"], dropna=False).size()
    largest = sizes.groupby(level="model").transform("max")
    return sizes.index[(2 * sizes >= largest).to_numpy()]


def _tolerance(frame: pd.DataFrame, main: pd.MultiIndex, high: pd.Series) -> pd.Series:
    """Rows a model's configurations may differ by: its calls with a single row (one call, same input in
    every configuration, written once), at most 5 % of its largest count; 0 without layer names."""
    if "layer_name" not in frame.columns or "call_index" not in frame.columns:
        return pd.Series(0, index=high.index)
    keys = ["model", "batch_size", "dtype"]
    rows = frame[frame.set_index(keys).index.isin(main)]
    calls = rows.groupby(["model", "layer_name", "call_index", "dtype"], dropna=False).size()
    singles = (calls == 1).groupby(level="model").sum().reindex(high.index, fill_value=0)
    return np.minimum(singles, np.floor(0.05 * high))


def suspicious_models(
    frames: Mapping[str, pd.DataFrame], profiled: set[tuple[str, str]] | None = None
) -> list[str]:
    """Warnings about models with suspicious layer counts (rules in the module docstring).

    ``profiled``: (model, kind) pairs whose file was read, rows or not (rule 2 leaves them alone)."""
    flags: list[str] = []
    frames = {k: f[f["model"] != SAMPLED_MODEL] for k, f in frames.items() if not f.empty}
    frames = {k: f for k, f in frames.items() if not f.empty}
    if not frames:
        return flags
    models = sorted(set().union(*[set(f["model"].unique().tolist()) for f in frames.values()]))
    main = _main_configs(frames)
    for kind, frame in frames.items():
        per_config = frame.groupby(["model", "batch_size", "dtype"], dropna=False).size()
        per_config = per_config[per_config.index.isin(main)]
        # a configuration without rows of this kind counts 0 when the model has the kind elsewhere
        with_kind_models = set(per_config.index.get_level_values("model"))
        full = main[main.get_level_values("model").isin(with_kind_models)]
        per_config = per_config.reindex(full, fill_value=0)
        low = per_config.groupby(level="model").min()
        high = per_config.groupby(level="model").max()
        flagged = high.index[((high - low) > _tolerance(frame, main, high)).to_numpy()]
        shown: dict[str, list[str]] = {}
        for (model, batch, dtype), n in per_config[per_config.index.isin(flagged, level="model")].items():
            shown.setdefault(model, []).append(f"batch {batch}/{dtype or '?'}: {n}")
        for model, parts in shown.items():
            listed = ", ".join(parts[:4]) + (", ..." if len(parts) > 4 else "")
            flags.append(
                f"{model}: {kind} rows differ between configurations ({listed}); the profile looks incomplete"
            )
        typical = per_config[per_config > 0].groupby(level="model").median()
        with_kind = set(typical.index)
        if len(models) >= _MIN_MODELS_MISSING:
            for model in models:
                others = len(models) - 1
                looked = profiled is not None and (model, kind) in profiled
                if model not in with_kind and 2 * len(with_kind) > others and not looked:
                    flags.append(
                        f"{model}: no {kind} rows, while {len(with_kind)} of {others} other models have some"
                    )
        if len(typical) >= _MIN_MODELS_OUTLIER:
            z = _robust_z(np.log(typical.to_numpy(dtype=float)))
            median = float(np.median(typical))
            for model, count, score in zip(typical.index, typical.to_numpy(), z, strict=True):
                if abs(score) > OUTLIER_Z:
                    flags.append(
                        f"{model}: {count:g} {kind} rows per configuration, far from the median {median:g} "
                        f"(robust z = {score:.1f})"
                    )
    return flags


def summarize(data: LayerData) -> LayerSummary:
    """The summary of one kind's merged data."""
    frame = data.frame
    targets = pd.concat(
        [
            data.input_features,
            data.power.rename(f"power [W] ({data.power_column})"),
            data.runtime.rename("runtime [s]"),
        ],
        axis=1,
    )
    return LayerSummary(
        kind=data.kind,
        rows=len(frame),
        device_ids=data.device_ids,
        sources={str(k): int(v) for k, v in frame[SOURCE_COLUMN].value_counts().sort_index().items()},
        power_column=data.power_column,
        layers_per_model=layers_per_model(frame),
        describe=targets.describe().T,
        flags=suspicious_models({data.kind: frame}),
    )


__all__ = ["LayerSummary", "count_table", "layers_per_model", "summarize", "suspicious_models"]
