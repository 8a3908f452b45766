"""``analyze``, ``benchmark-repeated`` and ``validate-energy``: thin commands over :mod:`layerpower.stats`.

Only click and the standard library are imported here; pandas, matplotlib and torch load when a command
runs, so ``--help`` stays instant.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import click

from layerpower.cli._common import (
    CONTEXT,
    UsageFailure,
    comma_list,
    echo_json,
    power_source_option,
    progress_option,
    user_errors,
)
from layerpower.config.vocab import REPEATED_PRECISIONS


def _num(value: Any, digits: int = 4) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "-"
    return "-" if not math.isfinite(number) else f"{number:.{digits}g}"


def _echo_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Print each distinct warning once, as a plain line on stderr."""
    seen: set[str] = set()
    for item in caught:
        text = str(item.message)
        if text not in seen:
            seen.add(text)
            click.echo(f"warning: {text}", err=True)


# ---------------------------------------------------------------------------------------------- analyze


@click.command("analyze", context_settings=CONTEXT)
@click.argument("results", type=click.Path(file_okay=False, path_type=str))
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=str),
    default="report",
    show_default=True,
    help="Folder for the report (index.html, tables/, figures/).",
)
@click.option(
    "--ci",
    type=click.Choice(["t", "normal"]),
    default="t",
    show_default=True,
    help="Confidence interval: Student's t (right for few seeds) or 1.96 x SEM.",
)
@click.option(
    "--cv-threshold",
    type=float,
    default=0.05,
    show_default=True,
    help="A metric is consistent across seeds when its coefficient of variation is below this.",
)
@click.option(
    "--max-timelines",
    type=int,
    default=12,
    show_default=True,
    help="Plot power/utilisation/memory over time for at most this many runs.",
)
@click.option("--no-figures", is_flag=True, help="Write the tables only (fast).")
@click.option(
    "--name",
    "names",
    multiple=True,
    metavar="COLUMN=LABEL",
    help='Show a metric or attribute under another name, e.g. --name test_accuracy="Test accuracy" '
    "(repeatable).",
)
@click.option(
    "--direction",
    "directions",
    multiple=True,
    metavar="METRIC=min|max",
    help="Which way a metric is better, e.g. --direction test_accuracy=max (repeatable) "
    "[default: times, energy, power, memory, loss, MAE min; accuracy max].",
)
@click.option(
    "--aggregate-metric",
    default=None,
    metavar="NAME",
    help="Metric of the aggregate panel (median, IQM, mean, optimality gap) [default: test accuracy].",
)
@click.option(
    "--aggregate-by",
    default="backend,precision",
    show_default=True,
    help="Comma-separated attributes that form the groups of the aggregate panel.",
)
@click.option(
    "--ema",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.6,
    show_default=True,
    help="EMA smoothing factor of the training curves, in [0, 1); 0 draws the raw curves.",
)
@click.option(
    "--bootstrap-reps",
    type=click.IntRange(min=100),
    default=2000,
    show_default=True,
    help="Bootstrap resamples for the aggregate panel and the probability of improvement.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap resampling.")
@progress_option(help="Progress bars on stderr (--quiet: none).")
@user_errors
def analyze(
    results: str,
    out: str,
    ci: str,
    cv_threshold: float,
    max_timelines: int,
    no_figures: bool,
    names: tuple[str, ...],
    directions: tuple[str, ...],
    aggregate_metric: str | None,
    aggregate_by: str,
    ema: float,
    bootstrap_reps: int,
    seed: int,
    progress: bool,
) -> None:
    """Summarise the experiment results in RESULTS into tables, figures and one index.html.

    RESULTS is the --out folder of run-experiments (<seed>/<timestamp>_<backend>_<model>_<complexity>_
    <precision>_<seed>/ run folders). Failed and unreadable runs are listed, not fatal. The page opens
    with the best configuration per metric, the aggregate panel and the key plots.
    """
    name_map = _assignments(names, "--name")
    direction_map = _assignments(directions, "--direction")
    bad = sorted(f"{k}={v}" for k, v in direction_map.items() if v not in ("min", "max"))
    if bad:
        raise UsageFailure(f"--direction takes METRIC=min or METRIC=max, got {', '.join(bad)}")
    from layerpower.stats.report import build_report
    from layerpower.stats.results import read_results

    frame = read_results(results, progress=progress)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = build_report(
            frame,
            out,
            ci=ci,
            cv_threshold=cv_threshold,
            max_timelines=max_timelines,
            figures=not no_figures,
            progress=progress,
            names=name_map,
            directions=direction_map,
            aggregate_metric=aggregate_metric,
            aggregate_by=comma_list(aggregate_by),
            ema=ema,
            reps=bootstrap_reps,
            seed=seed,
        )
    click.echo(f"{frame.summary_line()}")
    if report.notes:
        click.echo("caveats:")
        for note in report.notes:
            click.echo(f"  - {note}")
    _echo_warnings([w for w in caught if "report written with caveats" not in str(w.message)])
    click.echo(f"{len(report.tables)} tables and {len(report.figures)} figures in {report.out_dir}")
    click.echo(f"open {report.index}")


def _assignments(values: tuple[str, ...], option: str) -> dict[str, str]:
    """``("a=b", 'c="D e"')`` -> ``{"a": "b", "c": "D e"}`` (surrounding quotes dropped)."""
    out: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip() or not text.strip():
            raise UsageFailure(f"{option} takes KEY=VALUE, got {value!r}")
        out[key.strip()] = text.strip().strip("\"'").strip()
    return out


# ---------------------------------------------------------------------------------------------- benchmark


@click.command("benchmark-repeated", context_settings=CONTEXT)
@click.option("--repeats", type=int, default=5, show_default=True, help="Runs per precision (seeds SEED+r).")
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of the first repeat.")
@click.option("--layers", default="64,32", show_default=True, help="Hidden layer sizes, comma-separated.")
@click.option(
    "--activations",
    default="relu,relu",
    show_default=True,
    help="One activation per hidden layer (relu, tanh, sigmoid, gelu, silu, elu, leaky_relu, linear).",
)
@click.option(
    "--precisions",
    default="float32,bfloat16,int8",
    show_default=True,
    help=f"Precision modes: {', '.join(REPEATED_PRECISIONS)}.",
)
@click.option("--epochs", type=int, default=2, show_default=True, help="Training epochs per run.")
@click.option(
    "--batch-size", type=int, default=32, show_default=True, help="Batch size (training and inference)."
)
@click.option("--samples", "n_samples", type=int, default=None, help="Use this many samples [default: all].")
@click.option(
    "--dataset",
    type=click.Choice(["digits", "synthetic"]),
    default="digits",
    show_default=True,
    help="sklearn digits, or synthetic 64-feature 10-class data.",
)
@power_source_option(help="Power source [default: the best found].")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=str),
    default="benchmark_repeated",
    show_default=True,
    help="Folder for raw_runs.csv, summary_stats.csv/.json and the figures.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summaries as JSON.")
@progress_option()
@user_errors
def benchmark_repeated(
    repeats: int,
    seed: int,
    layers: str,
    activations: str,
    precisions: str,
    epochs: int,
    batch_size: int,
    n_samples: int | None,
    dataset: str,
    power_source: str | None,
    out: str,
    as_json: bool,
    progress: bool,
) -> None:
    """Train a small MLP at several precisions, REPEATS times each, and summarise time, latency, memory,
    accuracy and energy (mean, std, 95% CI by Student's t)."""
    try:
        sizes = [int(v) for v in comma_list(layers)]
    except ValueError:
        raise UsageFailure(f"--layers must be comma-separated integers, got {layers!r}") from None
    from layerpower.experiments.repeated import run_repeated_benchmarks

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        summaries = run_repeated_benchmarks(
            sizes,
            comma_list(activations),
            comma_list(precisions),
            batch_size,
            n_samples,
            epochs,
            repeats,
            seed,
            out,
            dataset=dataset,
            power_source=power_source,
            progress=progress,
        )
    _echo_warnings([w for w in caught if issubclass(w.category, UserWarning)])
    if as_json:
        echo_json(summaries)
        return
    click.echo(format_benchmark(summaries))
    click.echo(
        f"files in {out}: raw_runs.csv, summary_stats.csv, summary_stats.json, accuracy_vs_latency.png, "
        "accuracy_vs_energy.png, accuracy_vs_memory.png, pareto_frontier.png"
    )


def format_benchmark(summaries: list[dict[str, Any]]) -> str:
    """The per-precision summaries as a plain-text table (mean ± 95% CI half-width)."""
    source = next((s["energy_source"] for s in summaries if s.get("energy_source")), "")
    estimate = any(s.get("energy_is_estimate") for s in summaries)
    energy_head = f"energy J/epoch ({'estimate' if estimate else source})"
    heads = ["precision", "n", "train s/epoch", "latency s/sample", "memory MB", "accuracy", energy_head]
    lines = []
    for s in summaries:
        if s["status"] != "ok":
            lines.append([s["precision_mode"], "0", f"failed: {s['error']}", "", "", "", ""])
            continue
        cells = [s["precision_mode"], str(s["repeats"])]
        for metric in ("train_time", "latency", "memory", "accuracy", "energy"):
            cells.append(f"{_num(s[f'{metric}_mean'], 3)} ± {_num(s[f'{metric}_ci95'], 2)}")
        lines.append(cells)
    widths = [max(len(h), *(len(row[i]) for row in lines)) for i, h in enumerate(heads)]
    text = ["  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))]
    text += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in lines]
    text.append("± is the 95% confidence half-width (Student's t, n-1 df)")
    return "\n".join(text)


# ---------------------------------------------------------------------------------------------- validate


@click.command("validate-energy", context_settings=CONTEXT)
@click.option("--model", "model", default=None, help="One model (zoo name or package.module:factory).")
@click.option("--models", "models", default=None, help="Several models, comma-separated.")
@click.option(
    "--repeats",
    type=int,
    default=5,
    show_default=True,
    help="Independent measurements per model (one fresh process each).",
)
@click.option("--batch-size", type=int, default=1, show_default=True)
@click.option("--dtype", default="fp32", show_default=True, help="fp32 | fp16 | bf16.")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:i].")
@click.option(
    "--in-process", is_flag=True, help="Measure in this process instead of fresh processes (faster)."
)
@click.option(
    "--forwards", type=int, default=None, help="Timed forward passes per measurement [default: auto]."
)
@click.option(
    "--predictors",
    type=click.Path(path_type=str),
    default=None,
    help="Predictor bundle folder [default: the bundled one for this machine].",
)
@click.option("--device-id", default=None, help="Use the bundled predictors of this device.")
@power_source_option(help="Power source [default: the best found].")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Write validation.csv, validation_summary.json and predicted_vs_measured.png here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the table and summary as JSON.")
@progress_option()
@user_errors
def validate_energy(
    model: str | None,
    models: str | None,
    repeats: int,
    batch_size: int,
    dtype: str,
    device: str,
    in_process: bool,
    forwards: int | None,
    predictors: str | None,
    device_id: str | None,
    power_source: str | None,
    out: str | None,
    as_json: bool,
    progress: bool,
) -> None:
    """Check predicted energy and runtime against repeated measured runs of whole models."""
    names = ([model] if model else []) + comma_list(models)
    if not names:
        raise UsageFailure("give --model NAME or --models a,b,c")
    from layerpower.stats.validation import validate, validation_summary, write_validation

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        frame = validate(
            names,
            repeats=repeats,
            batch_size=batch_size,
            dtype=dtype,
            device=device,
            in_process=in_process,
            forwards=forwards,
            predictors=predictors,
            device_id=device_id,
            power_source=power_source,
            progress=progress,
        )
    _echo_warnings([w for w in caught if issubclass(w.category, UserWarning)])
    summary = validation_summary(frame)
    if out:
        write_validation(frame, out)
    if as_json:
        echo_json({"models": frame.to_dict(orient="records"), "summary": summary})
    else:
        click.echo(format_validation(frame, summary))
        if out:
            click.echo(f"files in {out}: validation.csv, validation_summary.json, predicted_vs_measured.png")
    if summary["validated"] == 0:
        raise UsageFailure("no model could be validated: " + "; ".join(frame["error"].astype(str)))


def format_validation(frame: Any, summary: dict[str, Any]) -> str:
    """The validation table as plain text, one block per model, then the summary."""
    lines = []
    for row in frame.to_dict(orient="records"):
        head = f"{row['model']} (batch {row['batch_size']}, {row['dtype']})"
        if row["status"] != "ok":
            lines.append(f"{head}: failed: {row['error']}")
            continue
        source = row["measured_energy_source"]
        tag = " (estimate)" if row["measured_is_estimate"] else f" ({source})"
        ptag = " (estimate)" if row["predicted_is_estimate"] else f" ({row['predicted_energy_source']})"
        lines.append(f"{head}, {row['repeats']} measured repeats")
        for quantity, unit, name in (("energy", "j", "energy J"), ("runtime", "s", "runtime s")):
            lines.append(
                f"  {name}: measured{tag if quantity == 'energy' else ''} "
                f"{_num(row[f'measured_{quantity}_{unit}'])} "
                f"[95% CI {_num(row[f'measured_{quantity}_ci95_low_{unit}'])}, "
                f"{_num(row[f'measured_{quantity}_ci95_high_{unit}'])}]; "
                f"predicted{ptag if quantity == 'energy' else ''} {_num(row[f'predicted_{quantity}_{unit}'])} "
                f"[{_num(row[f'predicted_{quantity}_low_{unit}'])}, {_num(row[f'predicted_{quantity}_high_{unit}'])}]; "
                f"error {_num(row[f'{quantity}_error_pct'], 3)}%; "
                f"in measured CI: {'yes' if row[f'{quantity}_in_measured_ci'] else 'no'}; "
                f"interval coverage {_num(100 * row[f'{quantity}_interval_coverage'], 3)}%"
            )
    lines.append(
        f"{summary['validated']} of {summary['models']} model(s) validated; CIs by {summary['ci_method']}"
    )
    for quantity in ("energy", "runtime"):
        if quantity in summary:
            s = summary[quantity]
            lines.append(
                f"  {quantity}: mean |error| {_num(s['mean_abs_error_pct'], 3)}%, "
                f"prediction in measured CI for {_num(100 * s['share_in_measured_ci'], 3)}% of models, "
                f"pooled interval coverage {_num(100 * s['pooled_interval_coverage'], 3)}%"
                + (
                    f" (nominal {_num(100 * summary['nominal_coverage'], 3)}%)"
                    if "nominal_coverage" in summary
                    else ""
                )
            )
    return "\n".join(lines)
