"""Repeated benchmarks of a small MLP across numeric precisions, with summaries and figures.

:func:`run_repeated_benchmarks` trains a torch MLP (the given hidden sizes and activations) on sklearn's
``digits`` (1,797 8x8 images, 10 classes) or on synthetic data (``sklearn.datasets.make_classification``),
``repeats`` times per precision with seeds ``seed + r``, and measures per run:

* ``train_time`` -- seconds per training epoch;
* ``latency`` -- seconds per test sample at inference (batched, after one warm-up pass, timed over
  passes filling at least 0.1 s);
* ``memory`` -- peak resident memory increase during the run in MB: the process's RSS sampled by psutil
  every 5 ms, peak minus the value before the run (``memory_method`` says so). Allocator caching makes
  repeats after the first smaller; compare precisions on the same repeat index;
* ``accuracy`` -- accuracy on the held-out 20% test split;
* ``energy`` -- joules per training epoch, measured over the training loop by the
  :class:`~layerpower.profiling.meter.Meter`; ``energy_source`` and ``energy_is_estimate`` say where it
  came from (``estimate`` on a machine without a power sensor).

Precision modes (``precision_note`` in every row says what was done):

* ``float32`` -- everything in float32;
* ``float16`` / ``bfloat16`` -- mixed precision: ``torch.autocast`` runs the linear layers in the half
  type while the parameters and the optimiser stay float32 (float16 adds a gradient scaler against
  underflow); inference under the same autocast;
* ``int8`` -- trained in float32, then inference with dynamic int8 quantisation of the linear layers
  (``torch.ao.quantization.quantize_dynamic``); where this torch build cannot quantise, the row records the
  failure.

A precision that fails (e.g. an op without a half kernel on this CPU) is recorded with ``status =
"failed"`` and its error, and the other precisions go on.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerpower.config.vocab import REPEATED_PRECISIONS
from layerpower.errors import LayerpowerError
from layerpower.experiments.repeated_mlp import ACTIVATIONS, MEMORY_METHOD, PRECISION_NOTES, one_run
from layerpower.io import json_safe, write_csv_atomic, write_json_atomic
from layerpower.stats.summary import CI_METHODS, summarize_frame

PRECISION_MODES: tuple[str, ...] = REPEATED_PRECISIONS
#: the metrics summarised per precision, with their units
METRICS: dict[str, str] = {
    "train_time": "s per epoch",
    "latency": "s per sample",
    "memory": "MB",
    "accuracy": "fraction",
    "energy": "J per epoch",
}


def run_repeated_benchmarks(
    layers: Sequence[int] = (64, 32),
    activations: Sequence[str] = ("relu", "relu"),
    precisions: Sequence[str] = ("float32", "bfloat16", "int8"),
    batch_size: int = 32,
    n_samples: int | None = None,
    epochs: int = 2,
    repeats: int = 5,
    seed: int = 42,
    output_dir: str | os.PathLike[str] | None = None,
    *,
    dataset: str = "digits",
    learning_rate: float = 1e-3,
    power_source: str | None = None,
    warmup: bool = True,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Run the benchmark and return one summary dict per precision (see the module docstring).

    Each dict holds ``precision_mode``, ``repeats`` (successful runs), ``failed_repeats``, ``status``,
    ``error``, ``<metric>_mean``, ``<metric>_std``, ``<metric>_ci95`` (half-width), ``<metric>_ci95_low``,
    ``<metric>_ci95_high`` for every metric of :data:`METRICS`, ``ci_method``, ``energy_source``,
    ``energy_is_estimate``, ``memory_method`` and ``precision_note``. ``warmup`` first runs every precision
    once on a few batches and discards it. With ``output_dir`` it also writes
    ``raw_runs.csv``, ``summary_stats.csv``, ``summary_stats.json`` and four figures there.
    """
    layers, activations, precisions = _check_arguments(
        layers, activations, precisions, batch_size, epochs, repeats, n_samples, dataset
    )
    import torch

    from layerpower.profiling.meter import Meter

    data = _load_data(dataset, n_samples, seed)
    rows: list[dict[str, Any]] = []
    jobs = [
        (p, r) for r in range(repeats) for p in precisions
    ]  # interleaved: drift hits every precision alike
    iterator: Any = jobs
    if progress:
        from tqdm import tqdm

        iterator = tqdm(jobs, desc="repeated benchmarks", unit="run", leave=False)
    threads = torch.get_num_threads()
    with Meter(power_source, warn_short=False) as meter:
        if (
            warmup
        ):  # the first runs in a process pay allocator and kernel-selection costs: run and discard them
            x_train, y_train, x_test, y_test, n_classes = data
            small = (
                x_train[: batch_size * 4],
                y_train[: batch_size * 4],
                x_test[:batch_size],
                y_test[:batch_size],
                n_classes,
            )
            for precision in precisions:
                with contextlib.suppress(Exception):  # the measured runs record any failure
                    one_run(
                        small,
                        layers,
                        activations,
                        precision,
                        batch_size,
                        1,
                        seed,
                        learning_rate,
                        meter,
                        min_inference_s=0.0,
                    )
        for precision, r in iterator:
            base = {
                "precision_mode": precision,
                "repeat": r,
                "seed": seed + r,
                "batch_size": batch_size,
                "epochs": epochs,
                "layers": ",".join(map(str, layers)),
                "activations": ",".join(activations),
                "dataset": dataset,
                "n_train": len(data[1]),
                "n_test": len(data[3]),
                "torch_threads": threads,
            }
            try:
                measured = one_run(
                    data, layers, activations, precision, batch_size, epochs, seed + r, learning_rate, meter
                )
                rows.append({**base, "status": "ok", "error": "", **measured})
            except Exception as exc:  # one precision failing must not stop the others
                rows.append({**base, "status": "failed", "error": f"{type(exc).__name__}: {exc}".strip()})
    raw = _raw_frame(rows)
    summaries = summarize_runs(raw, precisions)
    if output_dir is not None:
        write_outputs(raw, summaries, Path(output_dir))
    return summaries


def summarize_runs(raw: pd.DataFrame, precisions: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One summary dict per precision from ``raw_runs.csv`` rows (Student-t 95% CIs)."""
    precisions = list(precisions or dict.fromkeys(raw["precision_mode"]))
    out = []
    ok = raw[raw["status"] == "ok"]
    for precision in precisions:
        mine = raw[raw["precision_mode"] == precision]
        done = ok[ok["precision_mode"] == precision]
        summary: dict[str, Any] = {
            "precision_mode": precision,
            "repeats": len(done),
            "failed_repeats": int(len(mine) - len(done)),
            "status": "ok" if len(done) else "failed",
            "error": "" if len(done) else _first(mine.get("error"), "no run"),
        }
        if len(done):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # single repeats: NaN spread, said in the CSV by repeats = 1
                wide = summarize_frame(done, list(METRICS), ci="t", layout="wide")
            row = wide.iloc[0]
            for metric in METRICS:
                summary[f"{metric}_mean"] = float(row[f"{metric}_mean"])
                summary[f"{metric}_std"] = float(row[f"{metric}_std"])
                summary[f"{metric}_ci95"] = float(row[f"{metric}_ci95_half"])
                summary[f"{metric}_ci95_low"] = float(row[f"{metric}_ci95_low"])
                summary[f"{metric}_ci95_high"] = float(row[f"{metric}_ci95_high"])
        else:
            for metric in METRICS:
                for suffix in ("mean", "std", "ci95", "ci95_low", "ci95_high"):
                    summary[f"{metric}_{suffix}"] = float("nan")
        summary["ci_method"] = CI_METHODS["t"]
        summary["energy_source"] = _first(done.get("energy_source"), "")
        summary["energy_is_estimate"] = bool(done["energy_is_estimate"].any()) if len(done) else None
        summary["memory_method"] = MEMORY_METHOD
        summary["precision_note"] = PRECISION_NOTES.get(precision, "")
        out.append(summary)
    return out


def write_outputs(raw: pd.DataFrame, summaries: list[dict[str, Any]], out: Path) -> dict[str, Path]:
    """Write ``raw_runs.csv``, ``summary_stats.csv``, ``summary_stats.json`` and the four figures into ``out``."""
    from layerpower.stats import plots

    out.mkdir(parents=True, exist_ok=True)
    files = {
        "raw_runs": write_csv_atomic(raw, out / "raw_runs.csv"),
        "summary_csv": write_csv_atomic(pd.DataFrame(summaries), out / "summary_stats.csv"),
        "summary_json": write_json_atomic(json_safe(summaries), out / "summary_stats.json"),
    }
    table = pd.DataFrame(summaries)
    table = table[table["status"] == "ok"]
    sources = [s for s in table.get("energy_source", []) if s]
    estimate = bool(table["energy_is_estimate"].any()) if "energy_is_estimate" in table else False
    labels = {
        "latency": "latency per sample [s]",
        "energy": plots.energy_label("energy per training epoch [J]", sources, estimate),
        "memory": "peak memory increase [MB]",
        "accuracy": "test accuracy",
    }
    for metric in ("latency", "energy", "memory"):
        figure = _accuracy_figure(table, metric, labels)
        files[f"accuracy_vs_{metric}"] = plots.save_figure(figure, out / f"accuracy_vs_{metric}.png")
    files["pareto_frontier"] = plots.save_figure(_pareto_figure(table, labels), out / "pareto_frontier.png")
    return files


# -- data and arguments ---------------------------------------------------------------------------------


def _load_data(
    dataset: str, n_samples: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    from sklearn.model_selection import train_test_split

    if dataset == "digits":
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        x = x / 16.0
        if n_samples is not None and n_samples < len(x):
            x, _, y, _ = train_test_split(x, y, train_size=n_samples, random_state=seed, stratify=y)
    else:
        from sklearn.datasets import make_classification

        x, y = make_classification(
            n_samples=n_samples or 2000,
            n_features=64,
            n_informative=24,
            n_classes=10,
            n_clusters_per_class=1,
            random_state=seed,
        )
    n_classes = int(np.max(y)) + 1
    stratify = y if np.min(np.bincount(y)) >= 2 else None
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=seed, stratify=stratify
    )
    return (
        x_train.astype(np.float32),
        y_train.astype(np.int64),
        x_test.astype(np.float32),
        y_test.astype(np.int64),
        n_classes,
    )


def _check_arguments(layers, activations, precisions, batch_size, epochs, repeats, n_samples, dataset):
    layers = [int(v) for v in layers]
    if not layers or any(v <= 0 for v in layers):
        raise LayerpowerError(f"layer sizes must be positive integers, got {layers}", "e.g. --layers 64,32")
    activations = [a.strip().lower() for a in activations]
    if len(activations) == 1 and len(layers) > 1:
        activations = activations * len(layers)
    if len(activations) != len(layers):
        raise LayerpowerError(
            f"{len(layers)} layer size(s) but {len(activations)} activation(s)",
            "give one activation per layer",
        )
    unknown = [a for a in activations if a not in ACTIVATIONS]
    if unknown:
        raise LayerpowerError(
            f"unknown activation(s) {', '.join(unknown)}", f"choose from {', '.join(ACTIVATIONS)}"
        )
    aliases = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "half": "float16", "qint8": "int8"}
    precisions = [aliases.get(p.strip().lower(), p.strip().lower()) for p in precisions]
    unknown = [p for p in precisions if p not in PRECISION_MODES]
    if unknown or not precisions:
        raise LayerpowerError(
            f"unknown precision mode(s) {', '.join(unknown) or '(none)'}",
            f"choose from {', '.join(PRECISION_MODES)}",
        )
    precisions = list(dict.fromkeys(precisions))
    for name, value in (("batch size", batch_size), ("epochs", epochs), ("repeats", repeats)):
        if int(value) <= 0:
            raise LayerpowerError(f"{name} must be a positive integer, got {value}")
    if n_samples is not None and n_samples < 20:
        raise LayerpowerError(f"n_samples must be at least 20 (train/test split), got {n_samples}")
    if dataset not in ("digits", "synthetic"):
        raise LayerpowerError(f"unknown dataset {dataset!r}", "use 'digits' or 'synthetic'")
    if repeats == 1:
        warnings.warn(
            "a single repeat gives no spread: std and CI will be NaN (use --repeats 3 or more)",
            UserWarning,
            stacklevel=3,
        )
    return layers, activations, precisions


def _raw_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for metric in METRICS:
        if metric not in frame:
            frame[metric] = np.nan
    for column in (
        "energy_source",
        "energy_is_estimate",
        "energy_short_window",
        "memory_method",
        "precision_note",
    ):
        if column not in frame:
            frame[column] = None
    return frame


def _first(values: Any, default: Any) -> Any:
    if values is None:
        return default
    values = [v for v in values if isinstance(v, str) and v]
    return values[0] if values else default


# -- figures --------------------------------------------------------------------------------------------


def _accuracy_figure(table: pd.DataFrame, metric: str, labels: dict[str, str]) -> Any:
    from matplotlib.figure import Figure

    from layerpower.stats.plots import COLORS

    figure = Figure(figsize=(6, 4.4), layout="constrained")
    ax = figure.subplots()
    for i, (_, row) in enumerate(table.iterrows()):
        ax.errorbar(
            row[f"{metric}_mean"],
            row["accuracy_mean"],
            xerr=np.nan_to_num(row[f"{metric}_ci95"]),
            yerr=np.nan_to_num(row["accuracy_ci95"]),
            fmt="o",
            capsize=4,
            color=COLORS[i % len(COLORS)],
            label=f"{row['precision_mode']} (n={row['repeats']})",
        )
    ax.set_xlabel(labels[metric])
    ax.set_ylabel(labels["accuracy"])
    ax.grid(alpha=0.3)
    if len(table):
        ax.legend(fontsize=8, title="precision", title_fontsize=8)
    ax.set_title(
        f"accuracy against {metric.replace('_', ' ')} (means; error bars: 95% CI, Student's t)", fontsize=9
    )
    return figure


def _pareto_figure(table: pd.DataFrame, labels: dict[str, str]) -> Any:
    from matplotlib.figure import Figure

    from layerpower.stats.plots import pareto_plot

    figure = Figure(figsize=(11, 4.4), layout="constrained")
    axes = figure.subplots(1, 2)
    for ax, metric in zip(axes, ("latency", "energy"), strict=True):
        if table.empty:
            ax.text(0.5, 0.5, "no successful runs", ha="center", transform=ax.transAxes)
            continue
        pareto_plot(
            table,
            f"{metric}_mean",
            "accuracy_mean",
            ("min", "max"),
            label="precision_mode",
            xerr=f"{metric}_ci95",
            yerr="accuracy_ci95",
            xlabel=labels[metric],
            ylabel=labels["accuracy"],
            title=f"accuracy against {metric}",
            ax=ax,
        )
    figure.suptitle("Pareto frontier over precisions (means; error bars: 95% CI, Student's t)", fontsize=10)
    return figure
