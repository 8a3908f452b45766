"""Seed variability: how much each metric of each configuration moves between seeds.

:func:`seed_variability` gives, for every configuration and metric, the number of seeds, mean, std, CV
and whether the metric is consistent (CV below the threshold, 5% by default). :func:`consistency_share`
turns that into the share of consistent metrics, overall or per group (backend, model, precision, ...),
sorted from most to least consistent. Pairs with fewer than two seeds have no spread: they are counted
as ``undetermined`` and left out of the share.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from layerpower.errors import LayerpowerError
from layerpower.stats.summary import CV_THRESHOLD, summarize_frame


def seed_variability(
    frame: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    config: Sequence[str] | None = None,
    *,
    seed_col: str = "seed",
    cv_threshold: float = CV_THRESHOLD,
) -> pd.DataFrame:
    """Per configuration and metric: ``n_seeds, mean, std, cv, consistent`` (one row each, long layout).

    ``config`` defaults to the non-numeric columns other than ``seed_col``; ``metrics`` to the numeric
    columns other than ``seed_col`` and ``config``.
    """
    if frame.empty:
        raise LayerpowerError("no runs to compare across seeds", "are there any successful runs?")
    if config is None:
        config = [c for c in frame.columns if c != seed_col and not _is_numeric(frame[c])]
    config = list(config)
    if metrics is None:
        metrics = [c for c in frame.columns if c not in (seed_col, *config) and _is_numeric(frame[c])]
    metrics = list(metrics)
    if not metrics:
        raise LayerpowerError("no numeric metric columns to compare across seeds")
    long = summarize_frame(frame, metrics, by=config or None, cv_threshold=cv_threshold)
    out = long[[*config, "metric", "n", "mean", "std", "cv", "consistent"]].rename(columns={"n": "n_seeds"})
    out["cv_threshold"] = cv_threshold
    return out.reset_index(drop=True)


def consistency_share(variability: pd.DataFrame, by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Share of consistent metrics, overall (``by=None``) or per group, sorted from highest share.

    Columns: ``<by...>, metrics, consistent, undetermined, share_consistent`` where ``metrics`` counts the
    configuration/metric pairs with at least two seeds and ``share_consistent = consistent / metrics``.
    """
    keys = [by] if isinstance(by, str) else list(by or [])
    missing = [k for k in keys if k not in variability.columns]
    if missing:
        raise LayerpowerError(f"cannot group by {', '.join(missing)}: no such column")
    data = variability.assign(
        _determined=variability["n_seeds"] >= 2,
        _consistent=variability["consistent"].astype(bool) & (variability["n_seeds"] >= 2),
    )
    if keys:
        grouped = data.groupby(keys, dropna=False, observed=True)
        out = pd.DataFrame(
            {
                "metrics": grouped["_determined"].sum(),
                "consistent": grouped["_consistent"].sum(),
                "undetermined": grouped["_determined"].apply(lambda s: int((~s).sum())),
            }
        ).reset_index()
    else:
        out = pd.DataFrame(
            {
                "metrics": [int(data["_determined"].sum())],
                "consistent": [int(data["_consistent"].sum())],
                "undetermined": [int((~data["_determined"]).sum())],
            }
        )
    out["metrics"] = out["metrics"].astype(int)
    out["consistent"] = out["consistent"].astype(int)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["share_consistent"] = np.where(
            out["metrics"] > 0, out["consistent"] / out["metrics"].clip(lower=1), np.nan
        )
    return out.sort_values(
        ["share_consistent", *keys], ascending=[False] + [True] * len(keys), na_position="last"
    ).reset_index(drop=True)


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
