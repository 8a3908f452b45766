"""The top of the analysis report (:mod:`layerpower.stats.report`): the headline table, the aggregate panel
(median, IQM, mean, optimality gap with stratified bootstrap CIs) and the smoothed training curves.

Writes ``tables/headline.{csv,md}``, ``tables/aggregate.{csv,md}``, ``figures/aggregate_<metric>.png`` and
``figures/curves_<task>.png``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from layerpower.errors import LayerpowerError
from layerpower.io import write_csv_atomic
from layerpower.stats import panel_plots, plots, tables
from layerpower.stats.aggregate import aggregate_panel
from layerpower.stats.headline import HEADLINE_METRICS, headline_display, headline_table
from layerpower.stats.names import configuration_label, display
from layerpower.stats.report_figures import _slug

if TYPE_CHECKING:
    from layerpower.stats.report import Report, _Section

#: quality metrics, in the order the aggregate panel picks its default from
QUALITY_METRICS: tuple[str, ...] = ("test_accuracy", "test_mae", "final_val_accuracy", "test_loss")

#: the first paragraph of the headline (``cv``: the consistency threshold, a fraction)
HEADLINE_INTRO = (
    "The best configuration per metric (mean over seeds, 95% CI), the probability that a run of it beats "
    "a run of the runner-up (bootstrap), and the share of configurations whose metric is consistent "
    "across seeds (CV < {cv:.0%}). Long tables follow below, folded."
)

#: most training-curve figures drawn (one per task)
MAX_CURVE_FIGURES = 6


@dataclass
class ReportOptions:
    """What the reader chose: display names, directions, the aggregate panel and the curve smoothing."""

    names: dict[str, str] = field(default_factory=dict)
    directions: dict[str, str] = field(default_factory=dict)
    chosen: tuple[str, ...] = ()  # metrics the reader gave a direction for: shown in the headline too
    aggregate_metric: str | None = None
    aggregate_by: tuple[str, ...] = ("backend", "precision")
    ema: float = 0.6
    reps: int = 2000
    seed: int | None = 0

    def __post_init__(self) -> None:
        if not 0 <= self.ema < 1:
            raise LayerpowerError(f"the EMA smoothing factor must lie in [0, 1), got {self.ema}", "e.g. 0.6")
        if self.reps < 100:
            raise LayerpowerError(f"at least 100 bootstrap resamples are needed, got {self.reps}")


def add_headline(
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    variability: pd.DataFrame | None,
    keys: list[str],
    metrics: list[str],
    headers: Mapping[str, str],
    report: Report,
    section: _Section,
    options: ReportOptions,
) -> pd.DataFrame:
    """Fill the headline ``section`` with the best configuration per main metric; returns the raw table."""
    task_keys = _task_keys(summary)
    shown = [m for m in HEADLINE_METRICS if m in metrics]
    shown += [m for m in options.chosen if m in metrics and m not in shown]
    table = headline_table(
        runs,
        summary,
        shown,
        keys,
        options.directions,
        task_keys=task_keys,
        variability=variability,
        names=options.names,
        reps=options.reps,
        seed=options.seed,
    )
    if table.empty:
        return table
    report.tables["headline"] = write_csv_atomic(table, report.out_dir / "tables" / "headline.csv")
    several = [k for k in task_keys if table[k].nunique() > 1]
    view = headline_display(table, headers, task_keys=several, names=options.names)
    if task_keys and not several:
        section.intro += f" All runs are of one task: {configuration_label(table.iloc[0], task_keys)}."
    (report.out_dir / "tables" / "headline.md").write_text(tables.to_markdown(view), encoding="utf-8")
    section.tables.append(("best configuration per metric", view, "headline.csv"))
    return table


def add_aggregate(
    runs: pd.DataFrame,
    metrics: list[str],
    headers: Mapping[str, str],
    report: Report,
    section: _Section,
    options: ReportOptions,
    with_figures: bool,
) -> list[tuple[str, Path]]:
    """Fill ``section`` with the aggregate panel of the chosen metric; returns its (caption, path) figures."""
    metric = options.aggregate_metric or next((m for m in QUALITY_METRICS if m in metrics), None)
    if metric is None:
        section.intro = "No quality metric to aggregate (pass --aggregate-metric NAME)."
        return []
    if metric not in runs:
        raise LayerpowerError(
            f"--aggregate-metric {metric}: no such column in the runs",
            f"available: {', '.join(m for m in metrics)}",
        )
    by = [k for k in options.aggregate_by if k in runs]
    panel = aggregate_panel(
        runs,
        metric,
        by=by,
        task_columns=_task_keys(runs),
        direction=options.directions.get(metric),
        reps=options.reps,
        seed=options.seed,
    )
    report.tables["aggregate"] = write_csv_atomic(panel, report.out_dir / "tables" / "aggregate.csv")
    label = headers.get(metric, display(metric, options.names, plots.label_for(metric)))
    view = panel[[*by, "aggregate", "estimate", "low", "high", "runs", "tasks"]].copy()
    (report.out_dir / "tables" / "aggregate.md").write_text(tables.to_markdown(view), encoding="utf-8")
    gap = "1" if panel["direction"].iloc[0] == "max" else "the best group's mean on each task"
    section.intro = (
        f"{label} per {' × '.join(display(k, options.names) for k in by) or 'run'}, as RL-style studies "
        f"report it (rliable): median and mean over tasks of the per-task mean, interquartile mean (IQM) "
        f"of all runs, and the optimality gap (mean shortfall from {gap}); 95% intervals from "
        f"{options.reps} stratified bootstrap resamples of the runs within each task."
    )
    section.tables.append((f"aggregates of {label}", view, "aggregate.csv"))
    if not with_figures:
        return []
    group_label = " / ".join(display(k, options.names) for k in by)
    figure = panel_plots.interval_plot(panel, by, metric_label=label, group_label=group_label)
    path = plots.save_figure(figure, report.out_dir / "figures" / f"aggregate_{_slug(metric)}.png")
    report.figures.append(path)
    return [(f"aggregate panel of {label} per {group_label or 'run'}", path)]


def add_curves(
    runs: pd.DataFrame,
    history: pd.DataFrame,
    keys: list[str],
    report: Report,
    section: _Section,
    options: ReportOptions,
) -> None:
    """One figure of EMA-smoothed training curves per task (model × complexity) into ``section``."""
    if history.empty or "run_id" not in history or not panel_plots.curve_columns(history):
        section.intro = "The runs hold no training curves (train.csv)."
        return
    task_keys = _task_keys(runs)
    config_keys = [k for k in keys if k not in (*task_keys, "energy_source")]
    tasks = list(runs.groupby(task_keys, sort=True, observed=True)) if task_keys else [((), runs)]
    labels = {c: display(c, options.names, plots.label_for(c)) for c in history.columns}
    for _, part in tasks[:MAX_CURVE_FIGURES]:
        name = configuration_label(part.iloc[0], task_keys, options.names) if task_keys else "all runs"
        figure = panel_plots.training_curves(
            history[history["run_id"].isin(part["run_id"])],
            part,
            config_keys,
            smoothing=options.ema,
            labels=labels,
            names=options.names,
            title=f"training curves of {name}",
        )
        path = plots.save_figure(figure, report.out_dir / "figures" / f"curves_{_slug(name)}.png")
        report.figures.append(path)
        section.figures.append((f"training curves of {name} (EMA {options.ema:g})", path))
    if len(tasks) > MAX_CURVE_FIGURES:
        report.notes.append(f"training curves drawn for the first {MAX_CURVE_FIGURES} of {len(tasks)} tasks")


def _task_keys(frame: pd.DataFrame) -> list[str]:
    return [k for k in ("model", "complexity") if k in frame and frame[k].notna().any()]


def lift_key_figures(
    headline: _Section,
    first: Sequence[tuple[str, Path]],
    prefixes: Sequence[str],
    *sources: _Section,
) -> None:
    """Put ``first`` and the first figure of ``sources`` named by each of ``prefixes`` into the headline
    (moved, so each figure shows once)."""
    headline.figures.extend(first)
    for prefix in prefixes:
        for section in sources:
            found = next((f for f in section.figures if f[1].name.startswith(prefix)), None)
            if found is not None:
                section.figures.remove(found)
                headline.figures.append(found)
                break
