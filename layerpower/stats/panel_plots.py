"""Figures of the report's headline: the aggregate interval plot and smoothed training curves.

* :func:`interval_plot` -- rliable's panel: one column per aggregate (median, IQM, mean, optimality
  gap), one row per group, a point at the estimate and a bar over its confidence interval.
* :func:`ema` / :func:`training_curves` -- per run curves of ``train.csv`` (loss, accuracy, ... per
  epoch), smoothed with an exponential moving average ``s_t = a·s_{t-1} + (1-a)·x_t`` (``s_0 = x_0``,
  as TensorBoard's slider without debiasing); the raw curve is drawn faint behind the smoothed one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from layerpower.errors import LayerpowerError
from layerpower.stats.aggregate import AGGREGATES
from layerpower.stats.names import configuration_label
from layerpower.stats.plots import COLORS, _grid, _title, label_for

#: columns of train.csv that are not curves
_NOT_CURVES = frozenset({"run_id", "epoch", "epoch_time"})


def ema(values: Sequence[float] | np.ndarray, smoothing: float) -> np.ndarray:
    """Exponential moving average with smoothing factor ``smoothing`` in [0, 1) (0 returns the values).

    NaN values are skipped: they stay NaN and do not reset the average.
    """
    if not 0 <= smoothing < 1:
        raise LayerpowerError(f"the EMA smoothing factor must lie in [0, 1), got {smoothing}")
    array = np.asarray(values, dtype=float)
    out = np.full(array.shape, np.nan)
    state = np.nan
    for i, value in enumerate(array):
        if np.isnan(value):
            continue
        state = value if np.isnan(state) else smoothing * state + (1 - smoothing) * value
        out[i] = state
    return out


def interval_plot(
    panel: pd.DataFrame,
    by: Sequence[str],
    *,
    metric_label: str,
    group_label: str | None = None,
) -> Figure:
    """The aggregate panel of :func:`~layerpower.stats.aggregate.aggregate_panel`: a column per aggregate,
    a row per group (first group on top), point = estimate, bar = confidence interval."""
    data = panel.copy()
    data["_group"] = [configuration_label(row, list(by)) for row in data.to_dict(orient="records")]
    groups = list(dict.fromkeys(data["_group"]))
    aggregates = [a for a in AGGREGATES if (data["aggregate"] == a).any()]
    height = max(1.8, 0.45 * len(groups) + 1.1)
    figure = Figure(figsize=(2.9 * len(aggregates) + 1.2, height), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(aggregates), sharey=True)).tolist()
    ypos = {g: len(groups) - 1 - i for i, g in enumerate(groups)}
    for ax, aggregate in zip(axes, aggregates, strict=True):
        part = data[data["aggregate"] == aggregate]
        for row in part.to_dict(orient="records"):
            i, y = groups.index(row["_group"]), ypos[row["_group"]]
            color = COLORS[i % len(COLORS)]
            ax.plot([row["low"], row["high"]], [y, y], color=color, lw=6, alpha=0.45, solid_capstyle="butt")
            ax.plot([row["estimate"]], [y], "|", color="k", ms=14, mew=2)
        ax.set_title(aggregate, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.set_ylim(-0.6, len(groups) - 0.4)
        ax.tick_params(axis="x", labelsize=8)
    axes[0].set_yticks([ypos[g] for g in groups], groups, fontsize=8)
    if group_label:
        axes[0].set_ylabel(group_label, fontsize=8)
    confidence = float(data["confidence"].iloc[0]) if "confidence" in data and len(data) else 0.95
    direction = data["direction"].iloc[0] if "direction" in data and len(data) else "max"
    better = "lower is better" if direction == "min" else "higher is better; gap: lower is better"
    _title(
        figure,
        f"{metric_label}: aggregates over runs and tasks ({better}); "
        f"bars: {confidence:.0%} stratified bootstrap CIs",
    )
    return figure


def curve_columns(history: pd.DataFrame) -> list[str]:
    """The numeric per-epoch curve columns of ``history`` (loss, accuracy, val_loss, ...)."""
    return [
        c
        for c in history.columns
        if c not in _NOT_CURVES and pd.to_numeric(history[c], errors="coerce").notna().any()
    ]


def training_curves(
    history: pd.DataFrame,
    runs: pd.DataFrame,
    config_keys: Sequence[str],
    *,
    smoothing: float = 0.6,
    labels: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
    title: str = "training curves",
) -> Figure:
    """One panel per curve column of ``history``; one line per run, coloured by its configuration
    (``config_keys`` of ``runs``), EMA-smoothed with ``smoothing`` over the faint raw curve."""
    labels = dict(labels or {})
    columns = curve_columns(history)
    if not columns:
        raise LayerpowerError("train.csv holds no curve columns (loss, accuracy, ...)")
    configs = runs.set_index("run_id")
    label_of = {
        run_id: configuration_label(row, list(config_keys), names)
        for run_id, row in zip(configs.index, configs.to_dict(orient="records"), strict=True)
    }
    order = list(dict.fromkeys(label_of[r] for r in runs["run_id"] if r in label_of))
    figure, axes = _grid(len(columns), ncols=min(4, len(columns)), size=(3.9, 3.0))
    for ax, column in zip(axes, columns, strict=True):
        for run_id, part in history.groupby("run_id", sort=False):
            if run_id not in label_of:
                continue
            color = COLORS[order.index(label_of[run_id]) % len(COLORS)]
            x = pd.to_numeric(part.get("epoch", pd.Series(np.arange(1, len(part) + 1))), errors="coerce")
            y = pd.to_numeric(part[column], errors="coerce").to_numpy(dtype=float)
            marker = "o" if len(part) <= 3 else None
            if smoothing > 0:
                ax.plot(x, y, color=color, alpha=0.25, lw=1, marker=marker, ms=3)
            ax.plot(x, ema(y, smoothing), color=color, lw=1.6, marker=marker, ms=3)
        ax.set_xlabel(labels.get("epoch", "epoch"))
        ax.set_ylabel(labels.get(column, label_for(column)))
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=COLORS[i % len(COLORS)], lw=2) for i in range(len(order))]
    if handles:
        figure.legend(handles, order, loc="outside lower center", ncols=min(4, len(order)), fontsize=8)
    what = f"EMA smoothing {smoothing:g} over the faint raw curve" if smoothing > 0 else "raw, no smoothing"
    _title(figure, f"{title}: one line per run ({what})")
    return figure
