"""The figures of the analysis report (:mod:`layerpower.stats.report`): metrics against numeric and
categorical attributes, bars per backend and precision, Pareto frontiers and telemetry timelines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pandas as pd

from layerpower.stats import plots
from layerpower.stats.names import default_direction, display
from layerpower.stats.pareto import mark_pareto
from layerpower.stats.results import ResultsFrame

if TYPE_CHECKING:
    from layerpower.stats.report import Report, _Section

#: the metrics drawn in the per-attribute figures (a subset, so that the panels stay readable)
PLOT_METRICS: tuple[str, ...] = (
    "training_time",
    "training_energy_j",
    "testing_time",
    "testing_energy_j",
    "peak_memory_mb",
    "test_accuracy",
    "test_mae",
)

_CI_SHORT = {"t": "Student's t", "normal": "1.96 × SEM"}

#: x-objectives of the Pareto figures (minimised unless a direction says otherwise)
PARETO_COSTS: tuple[str, ...] = ("training_energy_j", "training_time", "testing_time")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", str(text)).strip("_") or "x"


def add_figures(
    runs: pd.DataFrame,
    results: ResultsFrame,
    summary: pd.DataFrame,
    keys: list[str],
    metrics: list[str],
    headers: dict[str, str],
    report: Report,
    section: _Section,
    ci: str,
    max_timelines: int,
    progress: bool,
    *,
    directions: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
) -> None:
    """Draw the report's figures into ``section``; ``directions`` orient the Pareto frontiers and
    ``names`` rename attributes on the axes (metrics arrive renamed in ``headers``)."""
    directions = dict(directions or {})
    labels = {**{str(k): str(v) for k, v in (names or {}).items()}, **headers}
    fig_dir = report.out_dir / "figures"

    def save(figure, name: str, caption: str) -> None:
        path = plots.save_figure(figure, fig_dir / f"{name}.png")
        report.figures.append(path)
        section.figures.append((caption, path))

    config_cols = results.config_columns
    numeric_attrs = [
        c
        for c in config_cols
        if c != "seed" and c in runs and pd.api.types.is_numeric_dtype(runs[c]) and runs[c].nunique() > 1
    ]
    categorical_attrs = [
        c
        for c in [*[k for k in keys if k != "energy_source"], *config_cols]
        if c in runs and c != "seed" and not pd.api.types.is_numeric_dtype(runs[c]) and runs[c].nunique() > 1
    ]
    categorical_attrs = list(dict.fromkeys(categorical_attrs))
    hue = next((k for k in ("backend", "precision") if k in runs and runs[k].nunique() > 1), None)
    shown = [m for m in PLOT_METRICS if m in metrics] or metrics[:6]
    for attr in numeric_attrs:
        save(
            plots.metric_vs_numeric(runs, attr, shown, hue=hue, labels=labels),
            f"numeric_{_slug(attr)}",
            f"metrics against {display(attr, names)}",
        )
    if not numeric_attrs:
        report.notes.append(
            "no numeric configuration attribute (batch size, epochs, ...) varies: "
            "no line plots against numeric attributes"
        )
    for attr in categorical_attrs:
        save(
            plots.metric_by_category(runs, attr, shown, labels=labels),
            f"category_{_slug(attr)}",
            f"metrics by {display(attr, names)}",
        )
    if not categorical_attrs:
        report.notes.append("no categorical attribute varies: no violin plots")

    bar_panel = [k for k in ("model", "complexity") if k in summary]
    bar_hue = [k for k in keys if k not in ("backend", *bar_panel, "energy_source")]
    if "backend" in summary:
        for metric in [
            m
            for m in ("training_energy_j", "testing_energy_j", "training_time", "testing_time")
            if m in metrics
        ]:
            figure = plots.grouped_bars(
                summary,
                metric,
                x="backend",
                hue=bar_hue,
                panel=bar_panel,
                ylabel=headers[metric],
                ci_label=f"95% CI ({_CI_SHORT[ci]})",
                labels=labels,
            )
            save(figure, f"bars_{metric}", f"{headers[metric]} per backend and precision")

    quality = next((q for q in ("test_accuracy", "test_mae") if q in metrics), None)
    if quality is not None:
        task_keys = [k for k in ("model", "complexity") if k in summary]
        for cost in [c for c in PARETO_COSTS if c in metrics]:
            directions_of = (
                directions.get(cost, default_direction(cost)),
                directions.get(quality, default_direction(quality)),
            )
            _pareto_figure(summary, keys, task_keys, cost, quality, directions_of, headers, save, section)

    if not results.samples.empty:
        run_ids = list(runs.sort_values([k for k in [*keys, "seed"] if k in runs])["run_id"])
        shown = run_ids[:max_timelines]
        iterator = shown
        if progress:
            from tqdm import tqdm

            iterator = tqdm(shown, desc="timeline plots", unit="run", leave=False)
        grouped = dict(tuple(results.samples.groupby("run_id", sort=False)))
        for run_id in iterator:
            samples = grouped.get(run_id)
            if samples is None or samples.empty:
                continue
            save(plots.timeline(samples, run_id), f"timeline_{_slug(run_id)}", f"telemetry of run {run_id}")
        if len(run_ids) > len(shown):
            report.notes.append(
                f"telemetry plotted for the first {len(shown)} of {len(run_ids)} runs "
                f"(raise max_timelines for more)"
            )


def _pareto_figure(summary, keys, task_keys, cost, quality, directions, headers, save, section) -> None:
    cost_direction, direction = directions
    points = summary.copy()
    points["configuration"] = (
        points[[k for k in keys if k not in (*task_keys, "energy_source")]].astype(str).agg("/".join, axis=1)
        if any(k not in (*task_keys, "energy_source") for k in keys)
        else "all"
    )
    tasks = list(points.groupby(task_keys, sort=True, observed=True)) if task_keys else [("all", points)]
    figure, axes = plots._grid(len(tasks), ncols=2, size=(5.6, 4.2))
    fronts = []
    for ax, (task, part) in zip(axes, tasks, strict=True):
        name = " / ".join(map(str, task)) if isinstance(task, tuple) else str(task)
        plots.pareto_plot(
            part,
            f"{cost}_mean",
            f"{quality}_mean",
            (cost_direction, direction),
            label="configuration",
            xerr=f"{cost}_std",
            yerr=f"{quality}_std",
            xlabel=headers[cost],
            ylabel=headers[quality],
            title=name,
            ax=ax,
        )
        finite = part[[f"{cost}_mean", f"{quality}_mean"]].notna().all(axis=1)
        if finite.any():
            marked = mark_pareto(part[finite], {f"{cost}_mean": cost_direction, f"{quality}_mean": direction})
            fronts.append(marked[marked["pareto"]])
    plots._title(
        figure, f"{headers[quality]} against {headers[cost]} (means over seeds; error bars: ± 1 std)"
    )
    save(figure, f"pareto_{cost}_{quality}", f"Pareto frontier: {headers[quality]} against {headers[cost]}")
    if fronts:
        front = pd.concat(fronts, ignore_index=True)
        out = front[[*task_keys, "configuration"]].copy()
        out["cost"] = cost
        out["cost_mean"] = front[f"{cost}_mean"].to_numpy()
        out["cost_ci95_half"] = front[f"{cost}_ci95_half"].to_numpy()
        out["quality"] = quality
        out["quality_mean"] = front[f"{quality}_mean"].to_numpy()
        out["quality_ci95_half"] = front[f"{quality}_ci95_half"].to_numpy()
        section.tables.append((f"on the frontier of {quality} against {cost}", out, "pareto.csv"))
