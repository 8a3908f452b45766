"""The analysis report of an experiment sweep: tables (CSV, Markdown, LaTeX), figures (PNG) and one
``index.html`` that shows them all, readable from disk without a server (images by relative path).

:func:`build_report` reads a results tree (:func:`~layerpower.stats.results.read_results`) and writes::

    <out>/index.html
    <out>/tables/summary.{csv,md,tex}            mean, std, CI (Student's t by default), CV per configuration
    <out>/tables/seed_variability.{csv,md}       per configuration and metric: seeds, mean, std, CV, consistent
    <out>/tables/consistency.{csv,md}            share of consistent metrics, overall and per backend/model/...
    <out>/tables/correlations.csv                training energy against the other metrics
    <out>/tables/pareto.csv                      configurations on the Pareto frontier per task
    <out>/tables/failed_runs.csv, skipped.csv    what could not be used, and why
    <out>/figures/*.png                          see :data:`FIGURE_KINDS`

Every energy figure carries its source; an estimate says "(estimate)".
"""

from __future__ import annotations

import html
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from layerpower.errors import LayerpowerError
from layerpower.io import atomic_open, write_csv_atomic
from layerpower.stats import plots, tables
from layerpower.stats._warn import StatsWarning, warn
from layerpower.stats.correlation import correlation_table
from layerpower.stats.pareto import mark_pareto
from layerpower.stats.results import QUALITY_DIRECTIONS, ResultsFrame, read_results
from layerpower.stats.summary import CI_METHODS, CV_THRESHOLD, summarize_frame
from layerpower.stats.variability import consistency_share, seed_variability

#: the metrics the report summarises, when present in the runs
REPORT_METRICS: tuple[str, ...] = (
    "training_time",
    "testing_time",
    "training_energy_j",
    "testing_energy_j",
    "training_power_w",
    "testing_power_w",
    "mean_epoch_time",
    "peak_memory_mb",
    "test_accuracy",
    "test_mae",
    "test_loss",
)

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

FIGURE_KINDS = {
    "numeric": "metrics against each numeric configuration attribute (mean line, CI band)",
    "category": "metrics by each categorical attribute (violins)",
    "timeline": "power, utilisation and memory over time, per run",
    "bars": "energy and time per backend and precision, with confidence intervals",
    "pareto": "quality against energy or time, Pareto frontier",
}

_CI_SHORT = {"t": "Student's t", "normal": "1.96 × SEM"}

#: x-objectives of the Pareto figures (all minimised)
PARETO_COSTS: tuple[str, ...] = ("training_energy_j", "training_time", "testing_time")


@dataclass
class Report:
    """Where the report was written, and what it holds."""

    out_dir: Path
    index: Path
    tables: dict[str, Path] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    runs: int = 0
    failed: int = 0
    skipped: int = 0


def build_report(
    results: ResultsFrame | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    ci: str = "t",
    cv_threshold: float = CV_THRESHOLD,
    max_timelines: int = 12,
    figures: bool = True,
    progress: bool = False,
) -> Report:
    """Write the report of ``results`` (a :class:`ResultsFrame` or a results folder) into ``out_dir``.

    Raises :class:`LayerpowerError` when there is no successful run. Caveats (single seeds, NaN metrics)
    are listed on the page and raised once as a :class:`StatsWarning`. ``figures=False`` writes the tables
    only (much faster).
    """
    if ci not in CI_METHODS:
        raise LayerpowerError(f"unknown confidence-interval method {ci!r}", "use 't' or 'normal'")
    if not isinstance(results, ResultsFrame):
        results = read_results(results, progress=progress)
    if results.runs.empty:
        reasons = "; ".join(results.failed["reason"].astype(str).head(3)) if not results.failed.empty else ""
        raise LayerpowerError(
            f"no successful runs under {results.root} ({len(results.failed)} failed, {len(results.skipped)} skipped)",
            f"first failures: {reasons}" if reasons else "run `layerpower run-experiments` first",
        )
    out = Path(out_dir)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    report = Report(
        out,
        out / "index.html",
        runs=len(results.runs),
        failed=len(results.failed),
        skipped=len(results.skipped),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StatsWarning)
        sections = _build(results, report, ci, cv_threshold, max_timelines, figures, progress)
    caveats: list[str] = []
    for item in caught:
        if issubclass(item.category, StatsWarning):
            if str(item.message) not in caveats:
                caveats.append(str(item.message))
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    report.notes = caveats + report.notes
    _write_index(report, results, sections)
    if caveats:  # one warning for all data caveats (single seeds, NaN metrics, ...)
        more = f" (and {len(caveats) - 1} more)" if len(caveats) > 1 else ""
        warn(f"report written with caveats, listed in {report.index}: {caveats[0]}{more}", stacklevel=2)
    return report


# -- building ------------------------------------------------------------------------------------------


@dataclass
class _Section:
    title: str
    intro: str = ""
    tables: list[tuple[str, pd.DataFrame, str]] = field(default_factory=list)  # (caption, frame, csv name)
    figures: list[tuple[str, Path]] = field(default_factory=list)  # (caption, path)


def _build(
    results: ResultsFrame,
    report: Report,
    ci: str,
    cv_threshold: float,
    max_timelines: int,
    with_figures: bool,
    progress: bool,
) -> list[_Section]:
    runs = results.runs.copy()
    if "peak_memory_bytes" in runs:
        runs["peak_memory_mb"] = pd.to_numeric(runs["peak_memory_bytes"], errors="coerce") / 1e6
    metrics = [
        m for m in REPORT_METRICS if m in runs and pd.to_numeric(runs[m], errors="coerce").notna().any()
    ]
    if not metrics:
        raise LayerpowerError(
            "the runs hold none of the report's metrics", f"expected some of {', '.join(REPORT_METRICS)}"
        )
    keys = [k for k in ("backend", "model", "complexity", "precision") if k in runs and runs[k].notna().any()]
    # other configuration attributes that vary (batch size, epochs, ...) are part of a configuration too
    keys += [
        c for c in results.config_columns if c not in (*keys, "seed") and c in runs and runs[c].nunique() > 1
    ]
    if "energy_source" in runs:
        runs["energy_source"] = runs["energy_source"].fillna("unknown").astype(str)
        keys.append("energy_source")
    sources = sorted(runs["energy_source"].unique()) if "energy_source" in runs else []
    headers = {m: plots.label_for(m, sources) for m in metrics}
    sections: list[_Section] = []
    ci_text = CI_METHODS[ci]

    # summary
    summary = summarize_frame(runs, metrics, by=keys, ci=ci, cv_threshold=cv_threshold, layout="wide")
    report.tables["summary"] = write_csv_atomic(summary, report.out_dir / "tables" / "summary.csv")
    display = tables.mean_std_table(summary, keys, metrics, headers=headers)
    latex = tables.mean_std_table(summary, keys, metrics, headers=headers, latex=True)
    note = (
        f"mean ± std over seeds; n = seeds per configuration; 95% confidence intervals ({ci_text}) "
        f"in summary.csv"
    )
    _write_text(report.out_dir / "tables" / "summary.md", tables.to_markdown(display) + f"\n{note}\n")
    _write_text(
        report.out_dir / "tables" / "summary.tex",
        tables.to_latex(latex, caption=f"Results per configuration: {note}.", label="tab:summary"),
    )
    sec = _Section("Summary per configuration", note + f". Energy source: {', '.join(sources) or 'unknown'}.")
    sec.tables.append(("mean ± std", display, "summary.csv / summary.md / summary.tex"))
    ci_view = _ci_view(summary, keys, metrics, headers)
    sec.tables.append((f"95% confidence intervals of the mean ({ci_text})", ci_view, "summary.csv"))
    sections.append(sec)

    # seed variability
    if "seed" in runs:
        variability = seed_variability(runs, metrics, config=keys, cv_threshold=cv_threshold)
        report.tables["seed_variability"] = write_csv_atomic(
            variability, report.out_dir / "tables" / "seed_variability.csv"
        )
        _write_text(report.out_dir / "tables" / "seed_variability.md", tables.to_markdown(variability))
        shares = [consistency_share(variability).assign(grouped_by="all", group="all")]
        for key in [k for k in keys if k != "energy_source"] + ["metric"]:
            part = consistency_share(variability, key).rename(columns={key: "group"}).assign(grouped_by=key)
            part["group"] = part["group"].astype(str)
            shares.append(part)
        consistency = pd.concat(shares, ignore_index=True)[
            ["grouped_by", "group", "metrics", "consistent", "undetermined", "share_consistent"]
        ]
        report.tables["consistency"] = write_csv_atomic(
            consistency, report.out_dir / "tables" / "consistency.csv"
        )
        _write_text(report.out_dir / "tables" / "consistency.md", tables.to_markdown(consistency))
        sec = _Section(
            "Seed variability",
            f"A metric is consistent when its coefficient of variation across seeds is below "
            f"{cv_threshold:.0%}. Pairs with a single seed are undetermined and left out of the share.",
        )
        sec.tables.append(
            ("share of consistent metrics (sorted within each grouping)", consistency, "consistency.csv")
        )
        sec.tables.append(("per configuration and metric", variability, "seed_variability.csv"))
        sections.append(sec)

    # correlations
    if "training_energy_j" in runs and len(runs) >= 3:
        numeric = [m for m in metrics if m != "training_energy_j"]
        numeric += [c for c in ("parameter_count", "epochs_run") if c in runs]
        corr = correlation_table(runs, "training_energy_j", numeric)
        if not corr.empty:
            report.tables["correlations"] = write_csv_atomic(
                corr, report.out_dir / "tables" / "correlations.csv"
            )
            sec = _Section(
                "Correlation with training energy",
                f"Pearson r and Spearman ρ over all {len(runs)} runs, with p-values; strength in words "
                f"from |r|. Energy source: {', '.join(sources) or 'unknown'}.",
            )
            sec.tables.append(("training energy against each metric", corr, "correlations.csv"))
            sections.append(sec)

    # figures
    figures = _Section("Figures")
    if with_figures:
        _figures(runs, results, summary, keys, metrics, headers, report, figures, ci, max_timelines, progress)
    else:
        figures.intro = "Figures were not requested (figures=False / --no-figures)."
    pareto_tables = figures.tables
    figures.tables = []
    if pareto_tables:
        report.tables["pareto"] = write_csv_atomic(
            pd.concat([frame for _, frame, _ in pareto_tables], ignore_index=True),
            report.out_dir / "tables" / "pareto.csv",
        )
        sec = _Section(
            "Pareto frontiers",
            "Configurations (means over seeds) that no other configuration of the "
            "same task beats in both quality and cost.",
        )
        sec.tables.extend(pareto_tables)
        sections.append(sec)
    sections.append(figures)

    # failures
    if not results.failed.empty or not results.skipped.empty:
        sec = _Section("Failed and skipped runs")
        if not results.failed.empty:
            failed = results.failed.drop(columns=["error"])
            report.tables["failed_runs"] = write_csv_atomic(
                results.failed, report.out_dir / "tables" / "failed_runs.csv"
            )
            sec.tables.append(("failed runs (reason: last line of error.txt)", failed, "failed_runs.csv"))
        if not results.skipped.empty:
            report.tables["skipped"] = write_csv_atomic(
                results.skipped, report.out_dir / "tables" / "skipped.csv"
            )
            sec.tables.append(("folders that could not be read", results.skipped, "skipped.csv"))
        sections.append(sec)
    return sections


def _ci_view(
    summary: pd.DataFrame, keys: Sequence[str], metrics: Sequence[str], headers: dict[str, str]
) -> pd.DataFrame:
    view = summary[list(keys)].copy()
    for metric in metrics:
        low, high = summary[f"{metric}_ci95_low"], summary[f"{metric}_ci95_high"]
        view[headers[metric]] = [
            "" if not (np.isfinite(lo) and np.isfinite(hi)) else f"[{lo:.4g}, {hi:.4g}]"
            for lo, hi in zip(low, high, strict=True)
        ]
    return view


def _figures(
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
) -> None:
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
            plots.metric_vs_numeric(runs, attr, shown, hue=hue, labels=headers),
            f"numeric_{_slug(attr)}",
            f"metrics against {attr}",
        )
    if not numeric_attrs:
        report.notes.append(
            "no numeric configuration attribute (batch size, epochs, ...) varies: "
            "no line plots against numeric attributes"
        )
    for attr in categorical_attrs:
        save(
            plots.metric_by_category(runs, attr, shown, labels=headers),
            f"category_{_slug(attr)}",
            f"metrics by {attr}",
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
            )
            save(figure, f"bars_{metric}", f"{headers[metric]} per backend and precision")

    quality = next((q for q in ("test_accuracy", "test_mae") if q in metrics), None)
    if quality is not None:
        task_keys = [k for k in ("model", "complexity") if k in summary]
        for cost in [c for c in PARETO_COSTS if c in metrics]:
            _pareto_figure(summary, keys, task_keys, cost, quality, headers, save, section)

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


def _pareto_figure(summary, keys, task_keys, cost, quality, headers, save, section) -> None:
    direction = QUALITY_DIRECTIONS[quality]
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
            ("min", direction),
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
            marked = mark_pareto(part[finite], {f"{cost}_mean": "min", f"{quality}_mean": direction})
            fronts.append(marked[marked["pareto"]])
    plots._title(
        figure, f"{headers[quality]} against {headers[cost]} (means over seeds; error bars: ± 1 std)"
    )
    save(figure, f"pareto_{cost}_{quality}", f"Pareto frontier: {quality} against {cost}")
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


# -- writing -------------------------------------------------------------------------------------------


def _write_text(path: Path, text: str) -> Path:
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", str(text)).strip("_") or "x"


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1250px;color:#222;padding:0 1em}
h1{font-size:1.6em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table.data{border-collapse:collapse;font-size:.82em;margin:.5em 0 1.2em;display:block;overflow-x:auto}
table.data th,table.data td{border:1px solid #ddd;padding:.25em .5em;text-align:right;white-space:nowrap}
table.data th{background:#f3f3f3} table.data tr:nth-child(even){background:#fafafa}
figure{margin:1em 0 2em} figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.9em;color:#555} .note{color:#8a5a00} .meta{color:#555;font-size:.9em}
"""


def _write_index(report: Report, results: ResultsFrame, sections: list[_Section]) -> None:
    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<title>layerpower analysis report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>layerpower analysis report</h1>",
        f"<p class='meta'>Results: {html.escape(str(results.root))} &mdash; {results.summary_line()}. "
        f"Tables are in <a href='tables/'>tables/</a>, figures in <a href='figures/'>figures/</a>.</p>",
    ]
    if report.notes:
        parts.append("<h2>Caveats</h2><ul>")
        parts += [f"<li class='note'>{html.escape(n)}</li>" for n in report.notes]
        parts.append("</ul>")
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.intro:
            parts.append(f"<p>{html.escape(section.intro)}</p>")
        for caption, frame, source in section.tables:
            parts.append(f"<h3>{html.escape(caption)}</h3>")
            parts.append(f"<p class='meta'>file: {html.escape(source)}</p>")
            parts.append(tables.to_html(frame))
        for caption, path in section.figures:
            rel = path.relative_to(report.out_dir).as_posix()
            parts.append(
                f"<figure><img src='{html.escape(rel)}' alt='{html.escape(caption)}' loading='eager'>"
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    _write_text(report.index, "\n".join(parts) + "\n")
