"""``run-experiments``: training and inference runs across backends, tasks, precisions and seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from layerpower.cli._common import (
    CONTEXT,
    comma_list,
    power_source_option,
    progress_option,
    ray_options,
    tdp_option,
    user_errors,
)
from layerpower.config.vocab import BACKENDS, COMPLEXITIES, PRECISIONS, TASKS

_BACKENDS = ",".join(BACKENDS)
_PRECISIONS = ",".join(PRECISIONS)


def _seeds(values: tuple[str, ...]) -> list[int]:
    seeds: list[int] = []
    for value in values:
        for part in comma_list(value):
            try:
                seeds.append(int(part))
            except ValueError:
                raise click.BadParameter(f"{part!r} is not an integer seed", param_hint="--seeds") from None
    return seeds


@click.command("run-experiments", context_settings=CONTEXT)
@click.option("--backends", default=_BACKENDS, show_default=True, help="Comma list of backends.")
@click.option("--models", default=",".join(TASKS), show_default=True, help="Comma list of tasks.")
@click.option(
    "--complexity", default="simple", show_default=True, help=f"Comma list: {', '.join(COMPLEXITIES)}."
)
@click.option(
    "--precisions",
    default="fp32",
    show_default=True,
    help=f"Comma list of {_PRECISIONS} (mixed-fp16 and mixed-bf16 are accepted too).",
)
@click.option(
    "--seeds", "seed_option", default="42", show_default=True, help="Seeds: --seeds 42 43 44 or 42,43,44."
)
@click.argument("more_seeds", nargs=-1, metavar="")
@click.option("--epochs", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option(
    "--dataset",
    type=click.Choice(["auto", "digits", "mnist", "cifar10"]),
    default="auto",
    show_default=True,
    help="Images for mlp and cnn (lstm always uses the generated sequences). auto: detected in --data-dir, "
    "else scikit-learn's digits.",
)
@click.option(
    "--data-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Local MNIST (raw IDX files, optionally .gz) or CIFAR-10 (cifar-10-batches-bin) folder. "
    "Nothing is downloaded.",
)
@click.option("--limit", type=click.IntRange(min=1), help="Use at most this many training samples.")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True)
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"), show_default=True
)
@click.option(
    "--resume", is_flag=True, help="Skip runs that already have a finished folder with the same config."
)
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True), help="Seconds per run.")
@power_source_option(help="Power source of the background sampler (default: auto, the best found).")
@tdp_option(help="CPU TDP in W for the estimate.")
@click.option(
    "--sample-interval",
    "sample_interval_s",
    type=click.FloatRange(min=0, min_open=True),
    default=0.1,
    show_default=True,
    help="Seconds between power samples.",
)
@click.option(
    "--threads", type=click.IntRange(min=1), help="CPU threads per library (default: each library's own)."
)
@ray_options(
    "run",
    cpus_help="CPUs per run (default: 1 when the cluster has GPUs, a run then holding one GPU; else all of a "
    "node's, so two runs never share a machine's power reading).",
)
@progress_option(help="Progress bar on stderr (--quiet: none).")
@user_errors
def run_experiments(
    backends: str,
    models: str,
    complexity: str,
    precisions: str,
    seed_option: str,
    more_seeds: tuple[str, ...],
    out: Path,
    resume: bool,
    timeout_s: float | None,
    ray_address: str | None,
    ray_cpus: int | None,
    progress: bool,
    **settings: Any,
) -> None:
    """Train and test every backend x model x complexity x precision x seed, one subprocess per run.

    Each run writes OUT/<seed>/<timestamp>_<backend>_<model>_<complexity>_<precision>_<seed>/ with
    train.csv, test.csv, train_samples.csv, test_samples.csv, global_metrics.csv and config.json; a failed
    run leaves config.json and error.txt only, and the sweep goes on. Prints a summary at the end.
    """
    from layerpower.experiments.config import RunSettings, SweepSpec
    from layerpower.experiments.runner import run_sweep

    spec = SweepSpec(
        comma_list(backends),
        comma_list(models),
        comma_list(complexity),
        comma_list(precisions),
        _seeds((seed_option, *more_seeds)),
        settings=RunSettings(**settings),  # the remaining options are named as the RunSettings fields
    )
    if ray_address is None:
        frame = run_sweep(spec, out=out, resume=resume, timeout_s=timeout_s, progress=progress)
    else:  # the cluster extra, imported only here
        from layerpower.cluster.engine import connect
        from layerpower.cluster.experiments import run_sweep_ray

        with connect(ray_address):
            frame = run_sweep_ray(
                spec, out=out, resume=resume, timeout_s=timeout_s, progress=progress, cpus=ray_cpus
            )
    counts = frame["status"].value_counts()
    table = frame[["backend", "model", "complexity", "precision", "seed", "status", "wall_time_s"]].copy()
    table["wall_time_s"] = table["wall_time_s"].map(lambda s: f"{s:.1f}")
    click.echo(table.to_string(index=False))
    failed = frame[frame["status"] == "failed"]
    for _, row in failed.iterrows():
        click.echo(f"failed: {Path(row['run_dir']).name}: {row['error']}")
    click.echo(
        f"runs: {len(frame)}  done: {counts.get('done', 0)}  failed: {counts.get('failed', 0)}  "
        f"skipped: {counts.get('skipped', 0)}  results: {out}"
    )
