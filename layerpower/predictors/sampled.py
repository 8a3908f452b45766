"""Sampled layers (measured alone, outside any model) as training rows, and the context factor they need.

Rows of ``training_data/<device-id>/_sampled/<kind>.csv`` (model ``_sampled``) cover the layer space instead
of the zoo, but carry only ``runtime_isolated_s``: a sampled layer has no model, so no in-context time. The
predictors' runtime target is in context (``runtime_s``), so a sampled row enters it as::

    runtime_s = runtime_isolated_s · k_g,    log k_g = shrunk median of log(runtime_s / runtime_isolated_s)

fitted on the zoo rows that have both columns, per ``kind/operation/variant`` (:func:`variant_of`: batch
size 1 or more, and for convolutions dense, grouped or depthwise), each level shrunk toward the coarser
one's median with a pseudo-count of :data:`CONTEXT_SHRINKAGE` rows (kind, then operation, then variant); a
group without zoo rows takes the coarser factor, a kind without any takes 1. The factors are recorded in
the bundle manifest (``training_data.context``). This assumes a layer's context gap depends on its
operation and variant, not on its size: an approximation, stated so.
Sampled rows always sit on the training side of the leave-one-model-out evaluation.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerpower.config import LAYER_KINDS

#: the model name of sampled rows
SAMPLED_MODEL = "_sampled"
#: pseudo-count (rows) pulling an operation's context factor toward its kind's
CONTEXT_SHRINKAGE = 20.0


def _num(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)


def read_sampled(folder: str | PathLike[str]) -> pd.DataFrame:
    """The rows of ``folder/<kind>.csv`` (or ``.parquet``) with a ``kind`` column; empty when none."""
    root = Path(folder)
    frames = []
    for kind in LAYER_KINDS:
        for suffix in (".parquet", ".csv"):
            path = root / f"{kind}{suffix}"
            if path.is_file():
                if suffix == ".csv":
                    frame = pd.read_csv(path, dtype={"layer_type": str, "measured_as": str})
                else:
                    frame = pd.read_parquet(path)
                frames.append(frame.assign(kind=kind, model=SAMPLED_MODEL))
                break
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    isolated = _num(out, "runtime_isolated_s")
    return out.loc[np.isfinite(isolated) & (isolated > 0)].reset_index(drop=True)


def variant_of(frame: pd.DataFrame) -> np.ndarray:
    """Per row its context variant: ``b1`` or ``bN`` (batch size), prefixed for convolutions by ``dense``,
    ``grouped`` or ``depthwise`` (``groups`` equal to the input channels)."""
    batch = _num(frame, "batch_size")
    batch_class = np.where(batch > 1, "bN", "b1")
    kinds = frame["kind"].astype(str).to_numpy() if "kind" in frame else np.full(len(frame), "")
    groups = np.nan_to_num(_num(frame, "groups"), nan=1.0)
    channels = _num(frame, "input_size_0")
    conv = np.where(groups <= 1, "dense", np.where(groups == channels, "depthwise", "grouped"))
    return np.array(
        [f"{c}-{b}" if k == "convolutional" else b for k, c, b in zip(kinds, conv, batch_class, strict=True)],
        dtype=object,
    )


def _keys(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(kind, kind/op, kind/op/variant) of every row."""
    kinds = frame["kind"].astype(str).to_numpy()
    ops = frame["layer_type"].astype(str).to_numpy() if "layer_type" in frame else kinds
    by_op = np.array([f"{k}/{o}" for k, o in zip(kinds, ops, strict=True)], dtype=object)
    variants = variant_of(frame)
    by_variant = np.array([f"{o}/{v}" for o, v in zip(by_op, variants, strict=True)], dtype=object)
    return kinds, by_op, by_variant


def fit_context_factor(layers: pd.DataFrame, shrinkage: float = CONTEXT_SHRINKAGE) -> dict[str, Any]:
    """Context factors ``k`` (in-context / isolated runtime, unitless) per kind, ``kind/op`` and
    ``kind/op/variant``."""
    t = _num(layers, "runtime_s")
    iso = _num(layers, "runtime_isolated_s")
    ok = np.isfinite(t) & np.isfinite(iso) & (t > 0) & (iso > 0)
    r = np.log(t[ok] / iso[ok])
    kinds, ops, variants = (keys[ok] for keys in _keys(layers))
    logs: dict[str, dict[str, float]] = {"kind": {}, "op": {}, "variant": {}}
    counts: dict[str, int] = {}

    def shrunk(part: np.ndarray, parent: float) -> float:
        weight = len(part) / (len(part) + shrinkage)
        return weight * float(np.median(part)) + (1 - weight) * parent

    for kind in sorted(set(kinds.tolist())):
        km = kinds == kind
        logs["kind"][kind] = float(np.median(r[km]))
        counts[kind] = int(km.sum())
        for op in sorted(set(ops[km].tolist())):
            om = ops == op
            logs["op"][op] = shrunk(r[om], logs["kind"][kind])
            counts[op] = int(om.sum())
            for variant in sorted(set(variants[om].tolist())):
                vm = variants == variant
                logs["variant"][variant] = shrunk(r[vm], logs["op"][op])
                counts[variant] = int(vm.sum())
    return {
        "method": "runtime_s = runtime_isolated_s * k; log k = median log(runtime_s/runtime_isolated_s) of "
        "zoo rows per kind/op/variant (variant: batch 1 or more; convolutions dense, grouped or depthwise), "
        f"each level shrunk to the coarser one (pseudo-count {shrinkage:g}); none: k = 1",
        **{level: {k: float(np.exp(v)) for k, v in values.items()} for level, values in logs.items()},
        "rows": counts,
    }


def context_factors(frame: pd.DataFrame, context: dict[str, Any]) -> np.ndarray:
    """Per row the factor ``k`` of its ``kind/op/variant`` (else ``kind/op``, else its kind, else 1)."""
    kinds, ops, variants = _keys(frame)
    by_variant, by_op, by_kind = context.get("variant", {}), context.get("op", {}), context.get("kind", {})
    return np.array(
        [
            by_variant.get(v, by_op.get(o, by_kind.get(k, 1.0)))
            for k, o, v in zip(kinds, ops, variants, strict=True)
        ],
        dtype=np.float64,
    )


def with_context_runtime(sampled: pd.DataFrame, context: dict[str, Any]) -> pd.DataFrame:
    """``sampled`` with ``runtime_s`` = ``runtime_isolated_s`` × its context factor (s)."""
    if sampled.empty:
        return sampled
    out = sampled.copy()
    out["runtime_s"] = _num(out, "runtime_isolated_s") * context_factors(out, context)
    return out
