"""Pareto frontier over objectives with directions (minimise latency or energy, maximise accuracy).

A point is on the frontier when no other point is at least as good in every objective and strictly
better in one. Identical points do not dominate each other, so duplicates on the frontier are all kept
(``keep_duplicates=False`` keeps the first). Rows with a NaN objective are never on the frontier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from layerpower.errors import LayerpowerError
from layerpower.stats._warn import warn

DIRECTIONS = ("min", "max")


def pareto_mask(points: np.ndarray | Sequence[Sequence[float]], directions: Sequence[str]) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``points`` (shape n × k) under ``directions`` (k of min/max)."""
    array = np.asarray(points, dtype=float)
    if array.ndim != 2:
        raise LayerpowerError(f"points must be a 2-D array (n × objectives), got shape {array.shape}")
    if array.shape[1] != len(directions):
        raise LayerpowerError(f"{array.shape[1]} objective column(s) but {len(directions)} direction(s)")
    bad = [d for d in directions if d not in DIRECTIONS]
    if bad:
        raise LayerpowerError(f"unknown direction(s) {bad}", "use 'min' or 'max'")
    signs = np.array([1.0 if d == "min" else -1.0 for d in directions])
    costs = array * signs  # every objective minimised
    finite = np.all(np.isfinite(costs), axis=1)
    mask = np.zeros(len(costs), dtype=bool)
    idx = np.flatnonzero(finite)
    sub = costs[idx]
    on_front = np.ones(len(sub), dtype=bool)
    chunk = max(1, 4_000_000 // max(len(sub) * sub.shape[1], 1))
    for start in range(0, len(sub), chunk):
        block = sub[start : start + chunk]  # candidates tested against all points
        no_worse = np.all(sub[None, :, :] <= block[:, None, :], axis=2)
        better = np.any(sub[None, :, :] < block[:, None, :], axis=2)
        on_front[start : start + chunk] = ~np.any(no_worse & better, axis=1)
    mask[idx] = on_front
    return mask


def mark_pareto(
    frame: pd.DataFrame,
    objectives: Mapping[str, str],
    *,
    column: str = "pareto",
    keep_duplicates: bool = True,
) -> pd.DataFrame:
    """A copy of ``frame`` with a boolean ``column`` that is True on the Pareto frontier.

    ``objectives`` maps column -> ``"min"`` or ``"max"``, e.g. ``{"latency_s": "min", "accuracy": "max"}``.
    """
    if len(objectives) < 1:
        raise LayerpowerError("a Pareto frontier needs at least one objective")
    missing = [c for c in objectives if c not in frame.columns]
    if missing:
        raise LayerpowerError(
            f"objective column(s) not found: {', '.join(missing)}",
            f"available: {', '.join(map(str, frame.columns))}",
        )
    if frame.empty:
        raise LayerpowerError(
            "cannot compute a Pareto frontier of no points", "are there any successful runs?"
        )
    values = frame[list(objectives)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    nan_rows = int((~np.all(np.isfinite(values), axis=1)).sum())
    if nan_rows == len(values):
        raise LayerpowerError(f"every point has a missing value in {', '.join(objectives)}")
    if nan_rows:
        warn(f"{nan_rows} point(s) with a missing {' or '.join(objectives)} left off the Pareto frontier")
    mask = pareto_mask(values, list(objectives.values()))
    if not keep_duplicates:
        front = pd.DataFrame(values[mask], index=np.flatnonzero(mask))
        duplicated = front.duplicated(keep="first")
        mask[front.index[duplicated.to_numpy()]] = False
    out = frame.copy()
    out[column] = mask
    return out


def pareto_front(
    frame: pd.DataFrame,
    objectives: Mapping[str, str],
    *,
    keep_duplicates: bool = True,
) -> pd.DataFrame:
    """The rows of ``frame`` on the Pareto frontier, sorted along the first objective (best first)."""
    marked = mark_pareto(frame, objectives, column="__pareto__", keep_duplicates=keep_duplicates)
    front = marked[marked["__pareto__"]].drop(columns="__pareto__")
    names = list(objectives)
    ascending = [objectives[n] == "min" for n in names]
    return front.sort_values(names, ascending=ascending, kind="stable")
