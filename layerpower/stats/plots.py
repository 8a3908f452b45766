"""Figures of the statistics module, drawn with matplotlib's object API (no pyplot state, thread-safe).

Every function returns a :class:`matplotlib.figure.Figure`; :func:`save_figure` writes it atomically as PNG
at :data:`DPI`. Energy axes carry their source, and an estimate says "(estimate)" on the axis
(:func:`energy_label`).
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from layerpower.io import atomic_path
from layerpower.stats.pareto import pareto_mask
from layerpower.stats.summary import critical_value

DPI = 140
#: a colour cycle that stays readable in print (matplotlib's tab10)
COLORS = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]

#: axis labels of well-known columns (units in brackets)
LABELS: dict[str, str] = {
    "training_time": "training time [s]",
    "testing_time": "testing time [s]",
    "training_energy_j": "training energy [J]",
    "testing_energy_j": "testing energy [J]",
    "training_power_w": "training power [W]",
    "testing_power_w": "testing power [W]",
    "peak_memory_bytes": "peak memory [bytes]",
    "peak_memory_mb": "peak memory [MB]",
    "mean_epoch_time": "mean epoch time [s]",
    "test_accuracy": "test accuracy",
    "test_mae": "test MAE",
    "test_loss": "test loss",
    "final_val_accuracy": "validation accuracy (last epoch)",
    "final_val_mae": "validation MAE (last epoch)",
    "train_time": "training time per epoch [s]",
    "latency": "latency per sample [s]",
    "memory": "peak memory [MB]",
    "accuracy": "test accuracy",
    "energy": "energy per epoch [J]",
}


def energy_label(base: str, sources: Sequence[str] = (), is_estimate: bool | None = None) -> str:
    """An axis label naming the energy's source: ``"training energy [J] (estimate)"`` or ``"... (rapl)"``."""
    names = sorted({str(s) for s in sources if isinstance(s, str) and s})
    if is_estimate or names == ["estimate"]:
        return f"{base} (estimate)"
    if names:
        return f"{base} ({', '.join(names)})"
    return base


def label_for(column: str, sources: Sequence[str] = (), is_estimate: bool | None = None) -> str:
    """The axis label of ``column``; energy and power columns name their source."""
    base = LABELS.get(column, column.replace("_", " "))
    if "energy" in column or column.endswith("_power_w") or column == "energy":
        return energy_label(base, sources, is_estimate)
    return base


def save_figure(figure: Figure, path: str | os.PathLike[str]) -> Path:
    """Write ``figure`` as PNG at :data:`DPI`, atomically, and return the path."""
    with atomic_path(path) as tmp:
        figure.savefig(
            tmp, format="png", dpi=DPI
        )  # figures use the constrained layout: no second "tight" pass
    return Path(path)


def _title(figure: Figure, text: str) -> None:
    """A figure title wrapped to the figure's width."""
    width_in = figure.get_size_inches()[0]
    figure.suptitle(textwrap.fill(text, max(30, int(width_in * 12))), fontsize=10)


def _grid(n_panels: int, ncols: int = 3, size: tuple[float, float] = (4.2, 3.2)) -> tuple[Figure, list]:
    ncols = max(1, min(ncols, n_panels))
    nrows = int(np.ceil(n_panels / ncols))
    figure = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return figure, axes[:n_panels]


def metric_vs_numeric(
    runs: pd.DataFrame,
    attribute: str,
    metrics: Sequence[str],
    *,
    hue: str | None = None,
    labels: Mapping[str, str] | None = None,
    band: str = "std",
    confidence: float = 0.95,
) -> Figure:
    """One panel per metric: mean over runs against ``attribute`` (a line per ``hue`` value), a band of the
    spread (``band="std"``: ± one standard deviation; ``"ci"``: the Student-t confidence interval of the
    mean at ``confidence``) and the single runs as dots."""
    labels = dict(labels or {})
    figure, axes = _grid(len(metrics))
    groups = (
        [(None, runs)]
        if hue is None or hue not in runs
        else list(runs.groupby(hue, sort=True, observed=True))
    )
    for ax, metric in zip(axes, metrics, strict=True):
        for i, (name, part) in enumerate(groups):
            color = COLORS[i % len(COLORS)]
            data = part[[attribute, metric]].apply(pd.to_numeric, errors="coerce").dropna()
            if data.empty:
                continue
            stats = data.groupby(attribute)[metric].agg(["mean", "std", "count"]).reset_index()
            half = stats["std"].to_numpy(dtype=float)
            if band == "ci":
                half = (
                    critical_value(stats["count"].to_numpy(), confidence, "t")
                    * half
                    / np.sqrt(stats["count"].to_numpy())
                )
            ax.plot(
                stats[attribute],
                stats["mean"],
                marker="o",
                color=color,
                label=None if name is None else str(name),
            )
            ax.fill_between(
                stats[attribute], stats["mean"] - half, stats["mean"] + half, color=color, alpha=0.2, lw=0
            )
            ax.scatter(data[attribute], data[metric], s=10, color=color, alpha=0.5)
        ax.set_xlabel(labels.get(attribute, attribute.replace("_", " ")))
        ax.set_ylabel(labels.get(metric, label_for(metric)))
        ax.grid(alpha=0.3)
        if hue is not None and len(groups) > 1:
            ax.legend(title=hue, fontsize=7, title_fontsize=7)
    what = "± 1 std" if band == "std" else f"{int(confidence * 100)}% CI of the mean (Student's t)"
    _title(figure, f"metrics against {attribute} (line: mean over runs; band: {what}; dots: runs)")
    return figure


def metric_by_category(
    runs: pd.DataFrame,
    attribute: str,
    metrics: Sequence[str],
    *,
    labels: Mapping[str, str] | None = None,
) -> Figure:
    """One panel per metric: a violin per value of ``attribute`` with every run as a jittered dot.

    Groups with fewer than two distinct values show their dots only (a violin needs a spread).
    """
    labels = dict(labels or {})
    figure, axes = _grid(len(metrics))
    categories = sorted(runs[attribute].dropna().astype(str).unique())
    rng = np.random.default_rng(0)
    for ax, metric in zip(axes, metrics, strict=True):
        values = pd.to_numeric(runs[metric], errors="coerce")
        keys = runs[attribute].astype(str)
        datasets = [values[keys == c].dropna().to_numpy() for c in categories]
        positions = np.arange(1, len(categories) + 1)
        spread = [i for i, d in enumerate(datasets) if np.unique(d).size >= 2]
        if spread:
            parts = ax.violinplot(
                [datasets[i] for i in spread],
                positions=positions[spread],
                showmedians=True,
                showextrema=False,
                widths=0.8,
            )
            for body in parts["bodies"]:
                body.set_facecolor(COLORS[0])
                body.set_alpha(0.35)
        for pos, data in zip(positions, datasets, strict=True):
            if data.size:
                ax.scatter(pos + rng.uniform(-0.08, 0.08, data.size), data, s=12, color=COLORS[1], zorder=3)
        ax.set_xticks(
            positions,
            categories,
            rotation=30 if len(categories) > 4 else 0,
            ha="right" if len(categories) > 4 else "center",
        )
        ax.set_xlim(0.4, len(categories) + 0.6)
        ax.set_xlabel(labels.get(attribute, attribute))
        ax.set_ylabel(labels.get(metric, label_for(metric)))
        ax.grid(axis="y", alpha=0.3)
    _title(figure, f"metrics by {attribute} (violin: distribution over runs; line: median; dots: runs)")
    return figure


def timeline(samples: pd.DataFrame, title: str) -> Figure:
    """Power, utilisation and memory over time of one run's telemetry (train and test phases in colour)."""
    figure = Figure(figsize=(8, 6.4), layout="constrained")
    axes = figure.subplots(3, 1, sharex=True)
    power_cols = [
        c
        for c in samples.columns
        if c == "cpu_power" or (c.startswith("gpu_") and c.endswith("_power") and c[4:-6].isdigit())
    ]
    util_cols = [c for c in samples.columns if c.endswith("_utilization")]
    mem_cols = [c for c in samples.columns if c.endswith("memory_used")]
    offset = 0.0
    phases = [p for p in ("train", "test") if "phase" in samples and (samples["phase"] == p).any()] or [None]
    for phase_index, phase in enumerate(phases):
        part = samples if phase is None else samples[samples["phase"] == phase]
        x = pd.to_numeric(
            part.get("elapsed_s", pd.Series(np.arange(len(part)), index=part.index)), errors="coerce"
        )
        x = x + offset
        style = "-" if phase_index == 0 else "--"
        for ax, columns, scale in (
            (axes[0], power_cols, 1.0),
            (axes[1], util_cols, 1.0),
            (axes[2], mem_cols, 1e-6),
        ):
            for i, column in enumerate(columns):
                y = pd.to_numeric(part[column], errors="coerce") * scale
                label = f"{column} ({phase})" if phase else column
                ax.plot(x, y, style, color=COLORS[i % len(COLORS)], label=label, lw=1.2)
        if len(x):
            offset = float(np.nanmax(x)) + 0.0
            if phase_index < len(phases) - 1:
                for ax in axes:
                    ax.axvline(offset, color="grey", lw=0.8, ls=":")
    sources = _power_sources(samples)
    axes[0].set_ylabel(energy_label("power [W]", sources))
    axes[1].set_ylabel("utilisation [%]")
    axes[2].set_ylabel("memory used [MB]")
    axes[2].set_xlabel("time since phase start [s] (train, then test)")
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
    _title(figure, title)
    return figure


def _power_sources(samples: pd.DataFrame) -> list[str]:
    names: list[str] = []
    for column in ("cpu_power_source", "gpu_power_source", "source"):
        if column in samples:
            names += [str(v) for v in samples[column].dropna().unique() if str(v) and str(v) != "nan"]
    if "cpu_power_source" in samples or "gpu_power_source" in samples:
        names = [n for n in names if n]
    return sorted(set(names))


def grouped_bars(
    summary: pd.DataFrame,
    metric: str,
    *,
    x: str,
    hue: Sequence[str],
    panel: Sequence[str] | None = None,
    ylabel: str | None = None,
    ci_label: str = "95% CI, Student's t",
    labels: Mapping[str, str] | None = None,
) -> Figure:
    """Bars of ``<metric>_mean`` per value of ``x``, one bar per combination of the ``hue`` columns, one panel
    per combination of the ``panel`` columns, with error bars from ``<metric>_ci95_low``/``_high`` of a wide
    :func:`~layerpower.stats.summary.summarize_frame` table. ``labels`` renames ``x`` and ``hue`` on the axes."""
    labels = dict(labels or {})
    data = summary.copy()
    hue = list(hue)
    data["_hue"] = data[hue].astype(str).agg("/".join, axis=1) if hue else "all"
    data["_x"] = data[x].astype(str)
    panel = list(panel or [])
    panels = list(data.groupby(panel, sort=True, observed=True)) if panel else [(None, data)]
    figure, axes = _grid(len(panels), ncols=2, size=(5.2, 3.4))
    for ax, (name, part) in zip(axes, panels, strict=True):
        xs = sorted(part["_x"].unique())
        hues = sorted(part["_hue"].unique())
        width = 0.8 / max(len(hues), 1)
        for j, h in enumerate(hues):
            rows = part[part["_hue"] == h].drop_duplicates("_x").set_index("_x")
            means = rows[f"{metric}_mean"].reindex(xs).to_numpy(dtype=float)
            lows = rows[f"{metric}_ci95_low"].reindex(xs).to_numpy(dtype=float)
            highs = rows[f"{metric}_ci95_high"].reindex(xs).to_numpy(dtype=float)
            err = np.vstack([np.nan_to_num(means - lows), np.nan_to_num(highs - means)])
            pos = np.arange(len(xs)) - 0.4 + width * (j + 0.5)
            ax.bar(pos, means, width, yerr=err, capsize=3, color=COLORS[j % len(COLORS)], label=h)
        ax.set_xticks(np.arange(len(xs)), xs)
        ax.set_xlabel(labels.get(x, x))
        ax.set_ylabel(ylabel or label_for(metric))
        ax.grid(axis="y", alpha=0.3)
        ax.legend(title="/".join(labels.get(h, h) for h in hue) or None, fontsize=7, title_fontsize=7)
        if name is not None:
            ax.set_title(" / ".join(map(str, name)) if isinstance(name, tuple) else str(name), fontsize=9)
    _title(figure, f"{ylabel or label_for(metric)}: mean with {ci_label} error bars")
    return figure


def pareto_plot(
    points: pd.DataFrame,
    x: str,
    y: str,
    directions: tuple[str, str],
    *,
    label: str | None = None,
    xerr: str | None = None,
    yerr: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str = "",
    ax=None,
) -> Figure:
    """Scatter ``points`` in the (``x``, ``y``) plane, the Pareto-optimal ones joined by a step line.

    ``directions`` gives "min"/"max" for x and y; ``label`` names a column to annotate each point;
    ``xerr``/``yerr`` name columns of error-bar half-widths.
    """
    own = ax is None
    figure = Figure(figsize=(6, 4.4), layout="constrained") if own else ax.figure
    ax = figure.subplots() if own else ax
    data = points.copy()
    xs = pd.to_numeric(data[x], errors="coerce").to_numpy(dtype=float)
    ys = pd.to_numeric(data[y], errors="coerce").to_numpy(dtype=float)
    mask = pareto_mask(np.column_stack([xs, ys]), list(directions))
    ax.errorbar(
        xs,
        ys,
        xerr=None
        if xerr is None
        else np.nan_to_num(pd.to_numeric(data[xerr], errors="coerce").to_numpy(dtype=float)),
        yerr=None
        if yerr is None
        else np.nan_to_num(pd.to_numeric(data[yerr], errors="coerce").to_numpy(dtype=float)),
        fmt="o",
        color=COLORS[7],
        ecolor="#bbbbbb",
        ms=5,
        label="dominated",
        zorder=2,
    )
    if mask.any():
        order = np.argsort(xs[mask] if directions[0] == "min" else -xs[mask], kind="stable")
        fx, fy = xs[mask][order], ys[mask][order]
        ax.step(fx, fy, where="post", color=COLORS[3], lw=1.5, zorder=3)
        ax.scatter(fx, fy, color=COLORS[3], s=40, zorder=4, label="Pareto frontier")
    if label is not None:
        few = len(data) <= 8
        for xi, yi, text, front in zip(xs, ys, data[label].astype(str), mask, strict=True):
            if np.isfinite(xi) and np.isfinite(yi) and (front or few):
                ax.annotate(text, (xi, yi), fontsize=6, xytext=(3, 3), textcoords="offset points")
    arrow = {"min": "lower is better", "max": "higher is better"}
    ax.set_xlabel(f"{xlabel or label_for(x)} ({arrow[directions[0]]})")
    ax.set_ylabel(f"{ylabel or label_for(y)} ({arrow[directions[1]]})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return figure
