"""The analysis report of an experiment sweep: tables (CSV, Markdown, LaTeX), figures (PNG) and one
``index.html`` that shows them all, readable from disk without a server (images by relative path).

:func:`build_report` reads a results tree (:func:`~layerpower.stats.results.read_results`) and writes::

    <out>/index.html
    <out>/tables/headline.{csv,md}               best configuration per main metric, P(beats runner-up)
    <out>/tables/aggregate.{csv,md}              median, IQM, mean, optimality gap per group, bootstrap CIs
    <out>/tables/summary.{csv,md,tex}            mean, std, CI (Student's t by default), CV per configuration
    <out>/tables/seed_variability.{csv,md}       per configuration and metric: seeds, mean, std, CV, consistent
    <out>/tables/consistency.{csv,md}            share of consistent metrics, overall and per backend/model/...
    <out>/tables/correlations.csv                training energy against the other metrics
    <out>/tables/pareto.csv                      configurations on the Pareto frontier per task
    <out>/tables/failed_runs.csv, skipped.csv    what could not be used, and why
    <out>/figures/*.png                          see :data:`FIGURE_KINDS`

The page opens with the headline (:mod:`.report_headline`): the best configuration per main metric,
the aggregate panel and the key plots; the long tables follow, folded (``<details>``). ``names`` renames
metrics and attributes on the page, ``directions`` says which way each metric is better.

Every energy figure carries its source; an estimate says "(estimate)". The page is rendered from
``templates/index.html.j2`` (jinja2, autoescaped); the figures are drawn by :mod:`.report_figures`.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from layerpower.errors import LayerpowerError
from layerpower.io import atomic_open, write_csv_atomic
from layerpower.stats import plots, tables
from layerpower.stats._warn import StatsWarning, warn
from layerpower.stats.correlation import correlation_table
from layerpower.stats.names import display, resolve_directions, sort_configurations
from layerpower.stats.report_figures import PARETO_COSTS, PLOT_METRICS, add_figures  # noqa: F401 (re-exported)
from layerpower.stats.report_headline import (
    HEADLINE_INTRO,
    ReportOptions,
    add_aggregate,
    add_curves,
    add_headline,
    lift_key_figures,
)
from layerpower.stats.results import ResultsFrame, read_results
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

FIGURE_KINDS = {
    "numeric": "metrics against each numeric configuration attribute (mean line, CI band)",
    "category": "metrics by each categorical attribute (violins)",
    "timeline": "power, utilisation and memory over time, per run",
    "bars": "energy and time per backend and precision, with confidence intervals",
    "pareto": "quality against energy or time, Pareto frontier",
    "aggregate": "median, IQM, mean and optimality gap per group with stratified bootstrap CIs",
    "curves": "training curves per run (EMA-smoothed over the faint raw curve), one figure per task",
}

#: tables with more rows than this are folded into a <details> element on the page
FOLD_ROWS = 10

#: figures that span the page's width in the headline grid (file-name prefixes)
WIDE_FIGURES: tuple[str, ...] = ("aggregate_", "curves_")

#: the figures shown in the headline, when drawn (file-name prefixes, in order)
KEY_FIGURES: tuple[str, ...] = ("curves_", "pareto_", "bars_training_energy_j")


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
    names: Mapping[str, str] | None = None,
    directions: Mapping[str, str] | None = None,
    aggregate_metric: str | None = None,
    aggregate_by: Sequence[str] = ("backend", "precision"),
    ema: float = 0.6,
    reps: int = 2000,
    seed: int | None = 0,
) -> Report:
    """Write the report of ``results`` (a :class:`ResultsFrame` or a results folder) into ``out_dir``.

    Raises :class:`LayerpowerError` when there is no successful run. Caveats (single seeds, NaN metrics)
    are listed on the page and raised once as a :class:`StatsWarning`. ``figures=False`` writes the tables
    only (much faster).

    ``names`` maps a metric or attribute to the name shown in tables, plots and the headline
    (``{"test_accuracy": "Test accuracy"}``); ``directions`` maps a metric to ``"min"`` or ``"max"``
    (defaults: times, energy, power, memory, loss, MAE minimised; accuracy maximised), used for the best
    configuration, the probability of improvement, the Pareto frontiers and the optimality gap.
    ``aggregate_metric`` (default: the accuracy metric) is summarised per ``aggregate_by`` group with
    ``reps`` stratified bootstrap resamples (``seed``); ``ema`` in [0, 1) smooths the training curves.
    """
    if ci not in CI_METHODS:
        raise LayerpowerError(f"unknown confidence-interval method {ci!r}", "use 't' or 'normal'")
    options = ReportOptions(
        names={str(k): str(v) for k, v in (names or {}).items()},
        directions=resolve_directions([], directions),
        chosen=tuple(directions or {}),
        aggregate_metric=aggregate_metric,
        aggregate_by=tuple(aggregate_by),
        ema=float(ema),
        reps=int(reps),
        seed=seed,
    )
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
        sections = _build(results, report, ci, cv_threshold, max_timelines, figures, progress, options)
    caveats: list[str] = []
    for item in caught:
        if issubclass(item.category, StatsWarning):
            if str(item.message) not in caveats:
                caveats.append(str(item.message))
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    report.notes = caveats + report.notes
    _write_index(report, results, sections, options.names)
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
    lead: bool = False  # shown before the caveats (the headline)


def _build(
    results: ResultsFrame,
    report: Report,
    ci: str,
    cv_threshold: float,
    max_timelines: int,
    with_figures: bool,
    progress: bool,
    options: ReportOptions,
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
    names = options.names
    headers = {m: display(m, names, plots.label_for(m, sources)) for m in metrics}
    options.directions = resolve_directions(metrics, options.directions)
    headline = _Section("Headline", HEADLINE_INTRO.format(cv=cv_threshold), lead=True)
    aggregate = _Section("Aggregate panel")
    curves = _Section("Training curves")
    sections: list[_Section] = [headline, aggregate, curves]
    ci_text = CI_METHODS[ci]

    # summary
    summary = summarize_frame(runs, metrics, by=keys, ci=ci, cv_threshold=cv_threshold, layout="wide")
    summary = sort_configurations(summary, keys)
    report.tables["summary"] = write_csv_atomic(summary, report.out_dir / "tables" / "summary.csv")
    mean_std = tables.mean_std_table(summary, keys, metrics, headers=headers)
    latex = tables.mean_std_table(summary, keys, metrics, headers=headers, latex=True)
    note = (
        f"mean ± std over seeds; n = seeds per configuration; 95% confidence intervals ({ci_text}) "
        f"in summary.csv"
    )
    _write_text(report.out_dir / "tables" / "summary.md", tables.to_markdown(mean_std) + f"\n{note}\n")
    _write_text(
        report.out_dir / "tables" / "summary.tex",
        tables.to_latex(latex, caption=f"Results per configuration: {note}.", label="tab:summary"),
    )
    sec = _Section("Summary per configuration", note + f". Energy source: {', '.join(sources) or 'unknown'}.")
    sec.tables.append(("mean ± std", mean_std, "summary.csv / summary.md / summary.tex"))
    ci_view = _ci_view(summary, keys, metrics, headers)
    sec.tables.append((f"95% confidence intervals of the mean ({ci_text})", ci_view, "summary.csv"))
    sections.append(sec)

    # seed variability
    variability = None
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

    add_headline(runs, summary, variability, keys, metrics, headers, report, headline, options)
    key_figures = add_aggregate(runs, metrics, headers, report, aggregate, options, with_figures)
    if with_figures:
        add_curves(runs, results.history, keys, report, curves, options)
    else:
        curves.intro = "Figures were not requested (figures=False / --no-figures)."

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
        add_figures(
            runs,
            results,
            summary,
            keys,
            metrics,
            headers,
            report,
            figures,
            ci,
            max_timelines,
            progress,
            directions=options.directions,
            names=names,
        )
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
    lift_key_figures(headline, key_figures, KEY_FIGURES, curves, figures)

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


# -- writing -------------------------------------------------------------------------------------------


def _write_text(path: Path, text: str) -> Path:
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def _write_index(
    report: Report, results: ResultsFrame, sections: list[_Section], names: Mapping[str, str]
) -> None:
    """Render ``index.html`` from ``templates/index.html.j2`` (autoescaped; tables are prebuilt HTML).

    Column headers are renamed by ``names``; tables of more than :data:`FOLD_ROWS` rows are folded.
    """
    from markupsafe import Markup

    def html(frame: pd.DataFrame) -> Markup:
        renamed = frame.rename(columns={c: names[c] for c in frame.columns if c in names})
        return Markup(tables.to_html(renamed))

    page = _template().render(
        root=str(results.root),
        summary_line=results.summary_line(),
        notes=report.notes,
        sections=[
            {
                "title": section.title,
                "intro": section.intro,
                "lead": section.lead,
                "tables": [
                    {
                        "caption": caption,
                        "source": source,
                        "html": html(frame),
                        "rows": len(frame),
                        "fold": len(frame) > FOLD_ROWS,
                    }
                    for caption, frame, source in section.tables
                ],
                "figures": [
                    {
                        "caption": caption,
                        "src": path.relative_to(report.out_dir).as_posix(),
                        "wide": path.name.startswith(WIDE_FIGURES),
                    }
                    for caption, path in section.figures
                ],
            }
            for section in sections
            if section.intro or section.tables or section.figures
        ],
    )
    _write_text(report.index, page)


@functools.cache
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("layerpower.stats", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    return environment.get_template("index.html.j2")
